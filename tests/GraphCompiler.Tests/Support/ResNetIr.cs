using System.Text;
using GraphCompiler.IR;

namespace GraphCompiler.Tests;

/// <summary>
/// A bottleneck ResNet (ResNet-50's architecture: torchvision's v1.5, the stride on the 3×3 convolution) as IR in NHWC with
/// its weights as arguments and batch norm folded into each convolution's bias, as an inference export leaves it:
/// a 7×7/2 stem, 3×3/2 max pooling, stages of bottleneck blocks (1×1, 3×3, 1×1 ×4, with a strided 1×1 projection
/// where the shape changes), global average pooling and a dense layer. Arguments, in order: <c>x</c>, then each
/// convolution's <c>NAME_w</c> (HWIO) and <c>NAME_b</c> as the network uses them, then <c>fc_w</c>, <c>fc_b</c> —
/// tools/gpu-check's bench.py walks the same order. The tests run small ones; <c>benchmarks/gpu/resnet50_b32_tf32.ir</c>
/// (batch 32, 224×224, widths 64–512, blocks 3-4-6-3) is this generator's output, checked by a test.
/// </summary>
public static class ResNetIr
{
    public static readonly int[] ResNet50Blocks = [3, 4, 6, 3];

    public static string Ir(int batch, int image, int width, int[] blocks, int classes, string header = "")
    {
        var args = new List<(string Name, string Type)>();
        var body = new StringBuilder();
        string T(params int[] dims) => $"tensor<{string.Join("x", dims)}xf32>";
        void L(string line) => body.Append("  ").Append(line).Append('\n');
        args.Add(("x", T(batch, image, image, 3)));

        // NAME = [relu](conv(input) + bias): a k×k convolution with stride s and "same" padding (k / 2 each side).
        (string Value, int Size, int Channels) Conv(string name, (string Value, int Size, int Channels) input, int k, int s, int cout, bool relu)
        {
            int pad = k / 2, size = (input.Size + 2 * pad - k) / s + 1;
            args.Add(($"{name}_w", T(k, k, input.Channels, cout)));
            args.Add(($"{name}_b", T(cout)));
            var t = T(batch, size, size, cout);
            L($"%{name}_c = convolution %{input.Value}, %{name}_w {{dims = \"b01f_01io->b01f\", padding_high = [{pad}, {pad}], padding_low = [{pad}, {pad}], window_strides = [{s}, {s}]}} : {t}");
            L($"%{name}_bb = broadcast_in_dim %{name}_b {{dims = [3]}} : {t}");
            L($"%{name}{(relu ? "_a" : "")} = add %{name}_c, %{name}_bb : {t}");
            if (relu) Relu(name, $"{name}_a", t);
            return (name, size, cout);
        }
        void Relu(string y, string x, string t)
        {
            L($"%{y}_zb = broadcast_in_dim %zero {{dims = []}} : {t}");
            L($"%{y} = max %{x}, %{y}_zb : {t}");
        }

        L("%zero = constant {value = dense<0.0>} : tensor<f32>");
        var h = Conv("stem", ("x", image, 3), 7, 2, width, relu: true);
        int pooled = (h.Size + 2 - 3) / 2 + 1;
        L($"%pool = reduce_window %stem {{kind = max, padding_high = [0, 1, 1, 0], padding_low = [0, 1, 1, 0], strides = [1, 2, 2, 1], window = [1, 3, 3, 1]}} : {T(batch, pooled, pooled, width)}");
        h = ("pool", pooled, width);
        for (int stage = 0; stage < blocks.Length; stage++)
        {
            int inner = width << stage, outer = 4 * inner;
            for (int block = 0; block < blocks[stage]; block++)
            {
                string name = $"s{stage + 1}b{block + 1}";
                int stride = stage > 0 && block == 0 ? 2 : 1;
                var c1 = Conv($"{name}c1", h, 1, 1, inner, relu: true);
                var c2 = Conv($"{name}c2", c1, 3, stride, inner, relu: true);
                var c3 = Conv($"{name}c3", c2, 1, 1, outer, relu: false);
                var shortcut = block == 0 ? Conv($"{name}p", h, 1, stride, outer, relu: false).Value : h.Value;
                var t = T(batch, c3.Size, c3.Size, outer);
                L($"%{name}_sum = add %{c3.Value}, %{shortcut} : {t}");
                Relu(name, $"{name}_sum", t);
                h = (name, c3.Size, outer);
            }
        }
        L($"%gap_s = reduce %{h.Value} {{dims = [1, 2], kind = sum}} : {T(batch, h.Channels)}");
        L($"%gap_n = constant {{value = dense<{(1.0 / (h.Size * h.Size)).ToString("0.0################", System.Globalization.CultureInfo.InvariantCulture)}>}} : tensor<f32>");
        L($"%gap_nb = broadcast_in_dim %gap_n {{dims = []}} : {T(batch, h.Channels)}");
        L($"%gap = mul %gap_s, %gap_nb : {T(batch, h.Channels)}");
        args.Add(("fc_w", T(h.Channels, classes)));
        args.Add(("fc_b", T(classes)));
        L($"%fc_mm = dot_general %gap, %fc_w {{lhs_contract = [1], rhs_contract = [0]}} : {T(batch, classes)}");
        L($"%fc_bb = broadcast_in_dim %fc_b {{dims = [1]}} : {T(batch, classes)}");
        L($"%logits = add %fc_mm, %fc_bb : {T(batch, classes)}");
        L("return %logits");

        var sb = new StringBuilder(header);
        sb.Append("func @main(").Append(string.Join(", ", args.Select(a => $"%{a.Name}: {a.Type} {{name = \"{a.Name}\"}}")))
            .Append($") -> ({T(batch, classes)} {{name = \"logits\"}}) {{\n").Append(body).Append("}\n");
        return sb.ToString();
    }

    /// <summary>
    /// Seeded inputs as tools/gpu-check's bench.py draws them (arg_scale): normal(0, 1) images, He-scaled weights
    /// (sqrt(2 / fan-in)), biases of scale 0.01, so that activations neither vanish nor blow up over the layers.
    /// </summary>
    public static Tensor[] Inputs(Function f, int seed)
    {
        var rng = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        return [.. f.Arguments.Select((a, i) =>
        {
            var name = f.ArgumentName(i);
            var shape = a.Type.Shape;
            double scale = name.EndsWith("_w", StringComparison.Ordinal) ? Math.Sqrt(2.0 / shape.Take(shape.Length - 1).Aggregate(1L, (x, d) => x * d))
                : name.EndsWith("_b", StringComparison.Ordinal) ? 0.01 : 1.0;
            return Tensor.FromDoubles(a.Type, [.. Enumerable.Range(0, (int)a.Type.ElementCount).Select(_ => scale * Normal())]);
        })];
    }

    /// <summary>tools/gpu-check's ResNet-50: batch 32, 224×224, f32 with TF32 tensor cores (what XLA and cuDNN use for f32 by default).</summary>
    public static string ResNet50B32 => Ir(32, 224, 64, ResNet50Blocks, 1000,
        "// ResNet-50 (torchvision v1.5, batch norm folded), batch 32, 224x224, NHWC, weights as arguments: tools/gpu-check.\n" +
        "// Generated by ResNetIr (tests/GraphCompiler.Tests/Support); TF32 tensor cores, as XLA's default for f32:\n" +
        "// gcc-cli: --precision tf32\n");

    /// <summary><see cref="ResNet50B32"/> compiled for sm_90a: its convolutions on Hopper's warpgroup tensor cores (wgmma) in TF32.</summary>
    public static string ResNet50B32Sm90a => Ir(32, 224, 64, ResNet50Blocks, 1000,
        "// ResNet-50 (torchvision v1.5, batch norm folded), batch 32, 224x224, NHWC, weights as arguments: tools/gpu-check.\n" +
        "// Generated by ResNetIr (tests/GraphCompiler.Tests/Support); TF32 on Hopper's warpgroup tensor cores (sm_90a: H100, H200):\n" +
        "// gcc-cli: --precision tf32 --gpu-arch sm_90a\n");
}
