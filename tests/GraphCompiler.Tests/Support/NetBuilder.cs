using System.Runtime.InteropServices;
using Google.Protobuf;
using GraphCompiler.Frontend.Proto.Onnx;
using static GraphCompiler.Tests.OnnxBuilder;

namespace GraphCompiler.Tests;

/// <summary>A tensor while a network is built: its name, channels and (square) spatial size, NCHW.</summary>
public readonly record struct Feature(string Name, int Channels, int Size);

/// <summary>
/// How a network is written: its batch, whether its float weights are graph inputs (the caller supplies them; the
/// file holds the graph alone) instead of initializers, and its image size (224; the tests use smaller). The GPU check
/// uses weights as inputs: a GPU library without 5–575 MB of weights travels to the GPU machine, which draws them there.
/// </summary>
public sealed record NetOptions(int Batch = 1, bool WeightsAsInputs = false, int ImageSize = 224)
{
    public static readonly NetOptions Default = new();
}

/// <summary>A float weight written as a graph input: its shape and the uniform range [Low, High] its values come from.</summary>
public sealed record WeightSpec(string Name, long[] Shape, float Low, float High);

/// <summary>A built network: the ONNX model, and its weight inputs when <see cref="NetOptions.WeightsAsInputs"/> is set.</summary>
public sealed record BuiltNet(byte[] Onnx, IReadOnlyList<WeightSpec> WeightInputs);

/// <summary>
/// Builds an ImageNet-style CNN as an ONNX graph (opset 13) the way exporters write one: random
/// (He-uniform, fixed seed) weights as raw-byte initializers, BatchNormalization kept as its own node, Relu6
/// as Clip with min/max inputs. Shapes are tracked here so that each layer knows its input channels. With
/// <see cref="NetOptions.WeightsAsInputs"/> every float weight of rank ≥ 1 is a graph input instead, in the
/// order the initializers would have been written, and the same random numbers are drawn either way.
/// </summary>
public sealed class NetBuilder
{
    private readonly Random _random;
    private readonly GraphProto _graph;
    private readonly NetOptions _options;
    private readonly HashSet<string> _names = [];
    private readonly List<WeightSpec> _weightInputs = [];
    private string? _clipMin, _clipMax;

    public NetBuilder(string name, int seed, NetOptions? options = null)
    {
        _random = new Random(seed);
        _options = options ?? NetOptions.Default;
        _graph = new GraphProto { Name = name };
        _graph.Input.Add(ValueInfo("input", _options.Batch, 3, _options.ImageSize, _options.ImageSize));
        Input = new Feature("input", 3, _options.ImageSize);
    }

    public Feature Input { get; }

    private string Unique(string name)
    {
        var n = name;
        for (int i = 2; !_names.Add(n); i++) n = $"{name}_{i}";
        return n;
    }

    private void Node(string op, string name, string[] inputs, string output, params AttributeProto[] attrs) =>
        _graph.Node.Add(GraphCompiler.Tests.OnnxBuilder.Node(op, name, inputs, [output], attrs));

    private string Constant(string name, long[] dims, float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>A weight uniform in [-limit, limit]: an initializer, or a graph input.</summary>
    private string Uniform(string name, long[] dims, float limit)
    {
        if (_options.WeightsAsInputs) return WeightInput(name, dims, -limit, limit);
        var a = new float[dims.Aggregate(1L, (x, d) => x * d)];
        for (long i = 0; i < a.Length; i++) a[i] = (_random.NextSingle() * 2 - 1) * limit;
        return Constant(name, dims, a);
    }

    /// <summary>A weight uniform in [lo, hi]: an initializer, or a graph input.</summary>
    private string Between(string name, long[] dims, float lo, float hi)
    {
        if (_options.WeightsAsInputs) return WeightInput(name, dims, lo, hi);
        var a = new float[dims.Aggregate(1L, (x, d) => x * d)];
        for (int i = 0; i < a.Length; i++) a[i] = lo + _random.NextSingle() * (hi - lo);
        return Constant(name, dims, a);
    }

    private string WeightInput(string name, long[] dims, float lo, float hi)
    {
        _graph.Input.Add(ValueInfo(name, dims));
        _weightInputs.Add(new WeightSpec(name, dims, lo, hi));
        return name;
    }

    private static int Out(int size, int kernel, int stride, int pad, bool ceil = false) =>
        (ceil ? (size + 2 * pad - kernel + stride - 1) : (size + 2 * pad - kernel)) / stride + 1;

    /// <summary>A convolution (with a bias unless a BatchNormalization follows); <paramref name="groups"/> = channels for depthwise.</summary>
    public Feature Conv(string name, Feature x, int channels, int kernel, int stride = 1, int pad = 0, int groups = 1, bool bias = true)
    {
        name = Unique(name);
        int fanIn = x.Channels / groups * kernel * kernel;
        // He-uniform: variance 2 / fan-in keeps a Relu network's activations at a steady scale.
        var inputs = new List<string> { x.Name, Uniform($"{name}_w", [channels, x.Channels / groups, kernel, kernel], MathF.Sqrt(6f / fanIn)) };
        if (bias) inputs.Add(Uniform($"{name}_b", [channels], 0.05f));
        Node("Conv", name, [.. inputs], name, Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride),
            Ints("pads", pad, pad, pad, pad), Int("group", groups));
        return new Feature(name, channels, Out(x.Size, kernel, stride, pad));
    }

    /// <summary>BatchNormalization in inference form; <paramref name="gain"/> scales it (a residual branch's last one small).</summary>
    public Feature BatchNorm(Feature x, float gainLo = 0.8f, float gainHi = 1.2f)
    {
        var name = Unique($"{x.Name}_bn");
        int c = x.Channels;
        Node("BatchNormalization", name,
            [x.Name, Between($"{name}_scale", [c], gainLo, gainHi), Uniform($"{name}_bias", [c], 0.1f),
             Uniform($"{name}_mean", [c], 0.1f), Between($"{name}_var", [c], 0.5f, 1.5f)], name);
        return x with { Name = name };
    }

    public Feature Relu(Feature x)
    {
        var name = Unique($"{x.Name}_relu");
        Node("Relu", name, [x.Name], name);
        return x with { Name = name };
    }

    /// <summary>Relu6 as exporters write it: Clip(x, 0, 6) with the bounds as initializers.</summary>
    public Feature Relu6(Feature x)
    {
        _clipMin ??= Constant("relu6_min", [], [0f]);
        _clipMax ??= Constant("relu6_max", [], [6f]);
        var name = Unique($"{x.Name}_relu6");
        Node("Clip", name, [x.Name, _clipMin, _clipMax], name);
        return x with { Name = name };
    }

    /// <summary>Conv + BatchNormalization (+ Relu).</summary>
    public Feature ConvBn(string name, Feature x, int channels, int kernel, int stride = 1, int pad = 0, int groups = 1, bool relu = true) =>
        ConvBnAct(name, x, channels, kernel, stride, pad, groups, relu ? Relu : null);

    public Feature ConvBnAct(string name, Feature x, int channels, int kernel, int stride, int pad, int groups, Func<Feature, Feature>? act)
    {
        var y = BatchNorm(Conv(name, x, channels, kernel, stride, pad, groups, bias: false));
        return act is null ? y : act(y);
    }

    public Feature MaxPool(Feature x, int kernel, int stride, int pad = 0, bool ceil = false)
    {
        var name = Unique($"{x.Name}_maxpool");
        Node("MaxPool", name, [x.Name], name, Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride),
            Ints("pads", pad, pad, pad, pad), Int("ceil_mode", ceil ? 1 : 0));
        return new Feature(name, x.Channels, Out(x.Size, kernel, stride, pad, ceil));
    }

    public Feature AvgPool(Feature x, int kernel, int stride, int pad = 0, bool ceil = false)
    {
        var name = Unique($"{x.Name}_avgpool");
        Node("AveragePool", name, [x.Name], name, Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride),
            Ints("pads", pad, pad, pad, pad), Int("ceil_mode", ceil ? 1 : 0));
        return new Feature(name, x.Channels, Out(x.Size, kernel, stride, pad, ceil));
    }

    public Feature Concat(string name, params Feature[] parts)
    {
        name = Unique(name);
        Node("Concat", name, [.. parts.Select(p => p.Name)], name, Int("axis", 1));
        return new Feature(name, parts.Sum(p => p.Channels), parts[0].Size);
    }

    public Feature Add(Feature a, Feature b)
    {
        var name = Unique($"{a.Name}_add");
        Node("Add", name, [a.Name, b.Name], name);
        return a with { Name = name };
    }

    /// <summary>ShuffleNet's channel shuffle: Reshape [1, g, C/g, H, W] → Transpose (0 2 1 3 4) → Reshape back.</summary>
    public Feature ChannelShuffle(Feature x, int groups)
    {
        var name = Unique($"{x.Name}_shuffle");
        var split = Shape($"{name}_split", _options.Batch, groups, x.Channels / groups, x.Size, x.Size);
        var back = Shape($"{name}_back", _options.Batch, x.Channels, x.Size, x.Size);
        Node("Reshape", $"{name}_r1", [x.Name, split], $"{name}_r1");
        Node("Transpose", $"{name}_t", [$"{name}_r1"], $"{name}_t", Ints("perm", 0, 2, 1, 3, 4));
        Node("Reshape", name, [$"{name}_t", back], name);
        return x with { Name = name };
    }

    private string Shape(string name, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.Add(dims.Length);
        t.Int64Data.AddRange(dims);
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>GlobalAveragePool → Flatten: [batch, C].</summary>
    public Feature GlobalPoolFlatten(Feature x)
    {
        var pool = Unique("global_pool");
        Node("GlobalAveragePool", pool, [x.Name], pool);
        var flat = Unique("flatten");
        Node("Flatten", flat, [pool], flat, Int("axis", 1));
        return new Feature(flat, x.Channels, 1);
    }

    /// <summary>Flatten [batch, C, H, W] → [batch, C·H·W] (AlexNet, VGG before their classifiers).</summary>
    public Feature Flatten(Feature x)
    {
        var flat = Unique("flatten");
        Node("Flatten", flat, [x.Name], flat, Int("axis", 1));
        return new Feature(flat, x.Channels * x.Size * x.Size, 1);
    }

    /// <summary>A fully connected layer as exporters write it: Gemm with transB = 1.</summary>
    public Feature Dense(string name, Feature x, int units)
    {
        name = Unique(name);
        Node("Gemm", name, [x.Name, Uniform($"{name}_w", [units, x.Channels], MathF.Sqrt(3f / x.Channels)),
            Uniform($"{name}_b", [units], 0.01f)], name, Int("transB", 1));
        return new Feature(name, units, 1);
    }

    /// <summary>The model: <paramref name="output"/> renamed "logits" by an Identity, shape [batch, classes].</summary>
    public BuiltNet Finish(Feature output)
    {
        Node("Identity", "logits", [output.Name], "logits");
        _graph.Output.Add(ValueInfo("logits", _options.Batch, output.Channels));
        var m = new ModelProto { IrVersion = 8, ProducerName = "GraphCompiler benchmarks", Graph = _graph };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return new BuiltNet(m.ToByteArray(), _weightInputs);
    }
}
