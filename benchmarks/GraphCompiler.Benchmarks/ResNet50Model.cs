using System.Runtime.InteropServices;
using Google.Protobuf;
using GraphCompiler.Frontend.Proto.Onnx;
using static GraphCompiler.Tests.OnnxBuilder;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// ResNet-50 v1 (He et al. 2015; the stride sits on the first 1×1 convolution of a block, as in the
/// ONNX model zoo's resnet50-v1) for compile-time measurements: input [1,3,224,224] → Conv 7×7/2 (64)
/// + BatchNormalization + Relu → MaxPool 3×3/2 → 16 bottleneck blocks [3,4,6,3] (1×1, 3×3, 1×1
/// convolutions without bias, each followed by BatchNormalization, projection shortcuts on the first
/// block of each stage, Add, Relu) → GlobalAveragePool → Flatten → Gemm 2048 → 1000 (transB, as
/// exporters write it). 25.6 M parameters, ~100 MB: generated on demand (fixed seed, so byte for byte
/// reproducible), never committed. Weights are He-uniform; the last BatchNormalization of each
/// residual branch scales by 0.1–0.3 so that the sum over 16 blocks stays well inside f32.
/// </summary>
public static class ResNet50Model
{
    public const string FileName = "resnet50.onnx";

    private static readonly int[] Blocks = [3, 4, 6, 3];
    private static readonly int[] Widths = [64, 128, 256, 512];

    public static byte[] Build()
    {
        var b = new Builder(new Random(50));
        var g = b.Graph;
        g.Input.Add(ValueInfo("input", 1, 3, 224, 224));
        g.Output.Add(ValueInfo("logits", 1, 1000));

        var x = b.ConvBn("conv1", "input", 3, 64, 7, 2, 3, relu: true);
        g.Node.Add(Node("MaxPool", "pool1", [x], ["pool1"], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1)));
        x = "pool1";
        int channels = 64;
        for (int stage = 0; stage < Blocks.Length; stage++)
            for (int block = 0; block < Blocks[stage]; block++)
            {
                var name = $"res{stage + 2}{(char)('a' + block)}";
                int width = Widths[stage], outChannels = 4 * width, stride = stage > 0 && block == 0 ? 2 : 1;
                var shortcut = block == 0 ? b.ConvBn($"{name}_proj", x, channels, outChannels, 1, stride, 0, relu: false) : x;
                var y = b.ConvBn($"{name}_a", x, channels, width, 1, stride, 0, relu: true);
                y = b.ConvBn($"{name}_b", y, width, width, 3, 1, 1, relu: true);
                y = b.ConvBn($"{name}_c", y, width, outChannels, 1, 1, 0, relu: false, residualGain: true);
                g.Node.Add(Node("Add", $"{name}_add", [y, shortcut], [$"{name}_sum"]));
                g.Node.Add(Node("Relu", $"{name}_relu", [$"{name}_sum"], [name]));
                x = name;
                channels = outChannels;
            }
        g.Node.Add(Node("GlobalAveragePool", "gap", [x], ["gap"]));
        g.Node.Add(Node("Flatten", "flatten", ["gap"], ["flat"], Int("axis", 1)));
        g.Initializer.Add(Raw("fc_w", [1000, 2048], b.Uniform(1000 * 2048, MathF.Sqrt(1f / 2048))));
        g.Initializer.Add(Raw("fc_b", [1000], b.Uniform(1000, 0.01f)));
        g.Node.Add(Node("Gemm", "fc", ["flat", "fc_w", "fc_b"], ["logits"], Int("transB", 1)));

        var m = new ModelProto { IrVersion = 8, ProducerName = "GraphCompiler benchmarks", Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return m.ToByteArray();
    }

    /// <summary>Writes the model to <paramref name="path"/> (default benchmarks/models/resnet50.onnx); returns the path.</summary>
    public static string Write(string? path = null)
    {
        path = Path.GetFullPath(path ?? Repo.BenchmarkModel(FileName));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, Build());
        return path;
    }

    /// <summary>The number of parameters (initializer elements) of <see cref="Build"/>'s model.</summary>
    public static long CountParameters(byte[] model) =>
        ModelProto.Parser.ParseFrom(model).Graph.Initializer.Sum(t => t.Dims.Aggregate(1L, (a, d) => a * d));

    // Exporters store initializers as raw little-endian bytes, not as repeated floats.
    private static TensorProto Raw(string name, long[] dims, float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    private sealed class Builder(Random random)
    {
        public GraphProto Graph { get; } = new() { Name = "resnet50_v1" };

        public float[] Uniform(int count, float limit)
        {
            var a = new float[count];
            for (int i = 0; i < a.Length; i++) a[i] = (random.NextSingle() * 2 - 1) * limit;
            return a;
        }

        private float[] Between(int count, float lo, float hi)
        {
            var a = new float[count];
            for (int i = 0; i < a.Length; i++) a[i] = lo + random.NextSingle() * (hi - lo);
            return a;
        }

        /// <summary>Conv (no bias) + BatchNormalization (+ Relu); returns the output's name.</summary>
        public string ConvBn(string name, string input, int inChannels, int outChannels, int kernel, int stride, int pad, bool relu, bool residualGain = false)
        {
            int fanIn = inChannels * kernel * kernel;
            // He-uniform: variance 2 / fan-in keeps a Relu network's activations at a steady scale.
            Graph.Initializer.Add(Raw($"{name}_w", [outChannels, inChannels, kernel, kernel], Uniform(outChannels * fanIn, MathF.Sqrt(6f / fanIn))));
            Graph.Node.Add(Node("Conv", $"{name}_conv", [input, $"{name}_w"], [$"{name}_conv"],
                Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride), Ints("pads", pad, pad, pad, pad)));
            var (lo, hi) = residualGain ? (0.1f, 0.3f) : (0.8f, 1.2f);
            Graph.Initializer.Add(Raw($"{name}_bn_scale", [outChannels], Between(outChannels, lo, hi)));
            Graph.Initializer.Add(Raw($"{name}_bn_bias", [outChannels], Uniform(outChannels, 0.1f)));
            Graph.Initializer.Add(Raw($"{name}_bn_mean", [outChannels], Uniform(outChannels, 0.1f)));
            Graph.Initializer.Add(Raw($"{name}_bn_var", [outChannels], Between(outChannels, 0.5f, 1.5f)));
            var bn = relu ? $"{name}_bn" : name;
            Graph.Node.Add(Node("BatchNormalization", $"{name}_bn", [$"{name}_conv", $"{name}_bn_scale", $"{name}_bn_bias", $"{name}_bn_mean", $"{name}_bn_var"], [bn]));
            if (!relu) return bn;
            Graph.Node.Add(Node("Relu", $"{name}_relu", [bn], [name]));
            return name;
        }
    }
}
