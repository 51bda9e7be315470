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
/// <para>
/// <see cref="WeightSource"/> picks how the weights are given: random initializers (the default), or the
/// numbers of a closed formula, either stored as initializers or computed in the graph from a handful of
/// scalars, as some exporters write them (Range → Mul/Add/Mod → Cast → Mul → Sin → Mul/Add → Reshape): the
/// two formula models compute the same function, so their outputs agree within float rounding.
/// </para>
/// </summary>
public static class ResNet50Model
{
    public const string FileName = "resnet50.onnx";

    /// <summary>How weights are written: random initializers, formula initializers, or the formula as graph nodes.</summary>
    public enum WeightSource { Random, Formula, InGraph }

    /// <summary>The formula's modulus (a prime): h = (i·(i·a + b) + c) mod M is a pseudo-random phase index.</summary>
    private const long Modulus = 10007;

    /// <summary>2π / M in f32, the phase step; both formula models multiply by exactly this number.</summary>
    private static readonly float Frequency = (float)(2 * Math.PI / Modulus);

    private static readonly int[] Blocks = [3, 4, 6, 3];
    private static readonly int[] Widths = [64, 128, 256, 512];

    public static byte[] Build(WeightSource weights = WeightSource.Random)
    {
        var b = new Builder(new Random(50), weights);
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
        b.Uniform("fc_w", [1000, 2048], MathF.Sqrt(1f / 2048));
        b.Uniform("fc_b", [1000], 0.01f);
        g.Node.Add(Node("Gemm", "fc", ["flat", "fc_w", "fc_b"], ["logits"], Int("transB", 1)));

        var m = new ModelProto { IrVersion = 8, ProducerName = "GraphCompiler benchmarks", Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return m.ToByteArray();
    }

    /// <summary>Writes the model to <paramref name="path"/> (default benchmarks/models/resnet50.onnx); returns the path.</summary>
    public static string Write(string? path = null, WeightSource weights = WeightSource.Random)
    {
        path = Path.GetFullPath(path ?? Repo.BenchmarkModel(FileName));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, Build(weights));
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

    private static TensorProto RawInt64(string name, long[] dims, long[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    /// <summary>
    /// Element i of weight number k: c0 + c1·sin(h·2π/M), h = (i·(i·a + b) + c) mod M with a, b, c from k. The
    /// quadratic keeps neighbouring elements unrelated (a linear h would make each weight a pure sinusoid);
    /// integer arithmetic (in i64, no overflow below 2.9 M elements) keeps h exact in both models.
    /// </summary>
    private static (long A, long B, long C) Coefficients(int k) => (101 + 37 * k % 797, 13 + 211 * k % 9001, 7 * k % Modulus);

    private static float[] FormulaValues(int k, long count, float c0, float c1)
    {
        var (a, b, c) = Coefficients(k);
        var w = new float[count];
        for (long i = 0; i < count; i++) w[i] = c0 + c1 * MathF.Sin((i * (i * a + b) + c) % Modulus * Frequency);
        return w;
    }

    private sealed class Builder(Random random, WeightSource source)
    {
        public GraphProto Graph { get; } = new() { Name = "resnet50_v1" };

        private int _weights;

        /// <summary>A weight uniform in [-limit, limit] (the formula's sine is scaled to the same variance, limit²/3).</summary>
        public void Uniform(string name, long[] dims, float limit)
        {
            int count = (int)dims.Aggregate(1L, (x, d) => x * d);
            if (source == WeightSource.Random)
            {
                var a = new float[count];
                for (int i = 0; i < a.Length; i++) a[i] = (random.NextSingle() * 2 - 1) * limit;
                Graph.Initializer.Add(Raw(name, dims, a));
            }
            else Formula(name, dims, 0, limit * MathF.Sqrt(2f / 3));
        }

        private void Between(string name, long[] dims, float lo, float hi)
        {
            int count = (int)dims.Aggregate(1L, (x, d) => x * d);
            if (source == WeightSource.Random)
            {
                var a = new float[count];
                for (int i = 0; i < a.Length; i++) a[i] = lo + random.NextSingle() * (hi - lo);
                Graph.Initializer.Add(Raw(name, dims, a));
            }
            else Formula(name, dims, (lo + hi) / 2, (hi - lo) / 2);
        }

        /// <summary>The formula's weight, as an initializer or as the nodes that compute it from scalars.</summary>
        private void Formula(string name, long[] dims, float c0, float c1)
        {
            int k = _weights++;
            long count = dims.Aggregate(1L, (x, d) => x * d);
            if (source == WeightSource.Formula)
            {
                Graph.Initializer.Add(Raw(name, dims, FormulaValues(k, count, c0, c1)));
                return;
            }
            var (a, b, c) = Coefficients(k);
            string I(string what, long v) { Graph.Initializer.Add(RawInt64($"{name}_{what}", [], [v])); return $"{name}_{what}"; }
            string F(string what, float v) { Graph.Initializer.Add(Raw($"{name}_{what}", [], [v])); return $"{name}_{what}"; }
            string Op(string op, string what, params string[] inputs)
            {
                Graph.Node.Add(Node(op, $"{name}_{what}", inputs, [$"{name}_{what}"]));
                return $"{name}_{what}";
            }
            var i = Op("Range", "i", I("start", 0), I("limit", count), I("delta", 1));
            var h = Op("Add", "ia_b", Op("Mul", "ia", i, I("a", a)), I("b", b));
            h = Op("Add", "h_raw", Op("Mul", "iiab", h, i), I("c", c));
            h = Op("Mod", "h", h, I("m", Modulus));
            Graph.Node.Add(Node("Cast", $"{name}_hf", [h], [$"{name}_hf"], Int("to", (long)TensorProto.Types.DataType.Float)));
            var phase = Op("Mul", "phase", $"{name}_hf", F("freq", Frequency));
            var w = Op("Add", "flat", Op("Mul", "scaled", Op("Sin", "sin", phase), F("c1", c1)), F("c0", c0));
            Graph.Initializer.Add(RawInt64($"{name}_shape", [dims.Length], dims));
            Graph.Node.Add(Node("Reshape", $"{name}_reshape", [w, $"{name}_shape"], [name]));
        }

        /// <summary>Conv (no bias) + BatchNormalization (+ Relu); returns the output's name.</summary>
        public string ConvBn(string name, string input, int inChannels, int outChannels, int kernel, int stride, int pad, bool relu, bool residualGain = false)
        {
            int fanIn = inChannels * kernel * kernel;
            // He-uniform: variance 2 / fan-in keeps a Relu network's activations at a steady scale.
            Uniform($"{name}_w", [outChannels, inChannels, kernel, kernel], MathF.Sqrt(6f / fanIn));
            Graph.Node.Add(Node("Conv", $"{name}_conv", [input, $"{name}_w"], [$"{name}_conv"],
                Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride), Ints("pads", pad, pad, pad, pad)));
            var (lo, hi) = residualGain ? (0.1f, 0.3f) : (0.8f, 1.2f);
            Between($"{name}_bn_scale", [outChannels], lo, hi);
            Uniform($"{name}_bn_bias", [outChannels], 0.1f);
            Uniform($"{name}_bn_mean", [outChannels], 0.1f);
            Between($"{name}_bn_var", [outChannels], 0.5f, 1.5f);
            var bn = relu ? $"{name}_bn" : name;
            Graph.Node.Add(Node("BatchNormalization", $"{name}_bn", [$"{name}_conv", $"{name}_bn_scale", $"{name}_bn_bias", $"{name}_bn_mean", $"{name}_bn_var"], [bn]));
            if (!relu) return bn;
            Graph.Node.Add(Node("Relu", $"{name}_relu", [bn], [name]));
            return name;
        }
    }
}
