using System.Runtime.InteropServices;
using System.Text.Json;
using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Onnx;
using GraphCompiler.Frontend.Proto.Onnx;
using GraphCompiler.IR;
using GraphCompiler.Tests.IR;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// tools/gpu-check runs the CNNs on a GPU machine with their weights as arguments (<c>generate-cnns
/// --weights-as-inputs</c>: the libraries travel without 5–575 MB of weights, which are drawn there), and bench.py's
/// torch and JAX baselines walk the same graphs from plain data. Checked here: that form is the same network as the
/// benchmarks' initializer form, and bench.py's walk (over NumPy ops) computes what the interpreter computes.
/// Small images (64×64) keep the interpreter quick; every layer kind of the nets is still there.
/// </summary>
public sealed class GpuCheckCnnTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static Module Import(byte[] onnx) =>
        OnnxImporter.Import(ModelProto.Parser.ParseFrom(onnx), null, new ImportOptions()).Unwrap();

    private static double Scale(Tensor t) => Enumerable.Range(0, (int)t.ElementCount).Max(i => Math.Abs(t.GetDouble(i)));

    [Theory]
    [InlineData("shufflenet")]
    [InlineData("mobilenet_v2")]
    public void WeightsAsInputsAreTheSameNetworkAsInitializers(string name)
    {
        var build = ImageNetNets.GpuCheck[name];
        var withWeights = build(new NetOptions(Batch: 2, ImageSize: 64));
        var asInputs = build(new NetOptions(Batch: 2, WeightsAsInputs: true, ImageSize: 64));

        // The second file holds the graph alone: every float initializer of rank ≥ 1 became an input, in order.
        var graph = ModelProto.Parser.ParseFrom(asInputs.Onnx).Graph;
        Assert.DoesNotContain(graph.Initializer, t => t.DataType == (int)TensorProto.Types.DataType.Float && t.Dims.Count > 0);
        Assert.Equal(["input", .. asInputs.WeightInputs.Select(w => w.Name)], graph.Input.Select(i => i.Name));
        var initializers = ModelProto.Parser.ParseFrom(withWeights.Onnx).Graph.Initializer.ToDictionary(t => t.Name);
        Assert.Equal(initializers.Values.Count(t => t.DataType == (int)TensorProto.Types.DataType.Float && t.Dims.Count > 0), asInputs.WeightInputs.Count);

        var image = Uniform(new TensorType(ElementType.F32, 2, 3, 64, 64), -1.7, 1.7, new Random(3));
        var expected = new Interpreter(Import(withWeights.Onnx)).Run(null, [image]).Unwrap().Results[0];
        var weights = asInputs.WeightInputs.Select(w =>
        {
            var t = initializers[w.Name];
            Assert.Equal(w.Shape, t.Dims);
            var values = MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();
            Assert.All(values, v => Assert.InRange(v, w.Low, w.High));  // the recorded range is the one drawn from
            return Tensor.FromArray(values, w.Shape);
        });
        var actual = new Interpreter(Import(asInputs.Onnx)).Run(null, [image, .. weights]).Unwrap().Results[0];
        Assert.True(Scale(expected) > 1e-3, $"the network's output vanished ({Scale(expected)})");
        IrTest.AssertTensor(expected, actual);
    }

    [SkippableNumPyTheory]
    [InlineData("inception_v1", 1)]  // ceil-mode max pooling, concatenation
    [InlineData("shufflenet", 2)]    // groups, depthwise, channel shuffle, average pooling
    [InlineData("mobilenet_v2", 1)]  // Clip (Relu6), residual adds
    public void BenchWalksTheCnnGraphsAsTheInterpreterRunsThem(string name, int batch)
    {
        var net = ImageNetNets.GpuCheck[name](new NetOptions(batch, WeightsAsInputs: true, ImageSize: 64));
        var module = Import(net.Onnx);
        var rng = new Random(11);
        Tensor[] inputs = [Uniform(module.Entry.Arguments[0].Type, -1.7, 1.7, rng),
            .. net.WeightInputs.Select((w, i) => Uniform(module.Entry.Arguments[i + 1].Type, w.Low, w.High, rng))];
        var expected = new Interpreter(module).Run(null, inputs).Unwrap().Results[0];

        var dir = _temp.Directory("gc-bench-cnn");
        for (int i = 0; i < inputs.Length; i++) Npy.WriteFile(Path.Combine(dir, $"in{i}.npy"), inputs[i]);
        File.WriteAllText(Path.Combine(dir, "graph.json"), JsonSerializer.Serialize(ImageNetNets.GraphJson(net.Onnx)));
        var bench = Path.Combine(GoldenFile.RepoRoot(), "tools", "gpu-check", "bench.py");
        NumPy.Run(
            "import importlib.util, json, numpy as np; " +
            $"spec = importlib.util.spec_from_file_location('bench', '{bench}'); bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench); " +
            $"net = bench.graph_walk(json.load(open('{dir}/graph.json')), bench.cnn_ops('numpy')); " +
            $"args = [np.load('{dir}/in%d.npy' % i).astype(np.float64) for i in range({inputs.Length})]; " +
            $"np.save('{dir}/out.npy', net(*args).astype(np.float32)); " +
            $"assert net.flops > 0");
        var actual = Npy.ReadFile(Path.Combine(dir, "out.npy")).Unwrap();
        Assert.Equal(expected.Type, actual.Type);
        double scale = Scale(expected);
        Assert.True(scale > 1e-3, $"the network's output vanished ({scale})");
        for (int i = 0; i < expected.ElementCount; i++)
            Assert.True(Math.Abs(expected.GetDouble(i) - actual.GetDouble(i)) <= 1e-4 * scale, $"logit {i}: bench.py {actual.GetDouble(i)}, interpreter {expected.GetDouble(i)}");
    }

    private static Tensor Uniform(TensorType type, double low, double high, Random rng) =>
        Tensor.FromDoubles(type, [.. Enumerable.Range(0, (int)type.ElementCount).Select(_ => low + rng.NextDouble() * (high - low))]);
}

/// <summary>
/// tools/gpu-check's CNNs (weights as arguments, so batch norm stays per-channel arithmetic and every weight is laid
/// out at run time) with every op on the emulated GPU, against the interpreter, at 64×64: all ten take about two and a
/// half minutes on two cores, most of it the interpreter's (VGG-19's 40 s).
/// </summary>
[Collection(CudaDriverCollection.Name)]
public sealed class GpuCheckCnnEmulatorTests
{
    public static IEnumerable<object[]> Nets() => ImageNetNets.GpuCheck.Keys.Select(k => new object[] { k });

    /// <summary>The TF32 runs' bound, in units of TF32's rounding (2^-11) of the output's scale.</summary>
    private const double TfUnits = 8;

    [CudaEmulatorTheory]
    [MemberData(nameof(Nets))]
    public void EveryGpuCheckCnnRunsEntirelyOnTheEmulatedGpu(string name) => RunOnTheEmulatedGpu(name);

    /// <summary>
    /// As tools/gpu-check times them, on TF32 tensor cores (<c>--precision tf32</c>): ResNet-50 at batch 1, whose 64×64
    /// image leaves its last stages a few output positions, so their convolutions split K (split-K, and 128×128 tiles
    /// nowhere: 4-stage rings in static shared memory), and ShuffleNet, whose grouped 1×1 convolutions run as a GEMM per
    /// group, and DenseNet-121, whose 1×1 convolutions read their batch-normed, NCHW → NHWC input from a buffer (the
    /// CPU's fusion computes it inside the convolution's kernel; on the GPU that was the pointwise fallback). Within
    /// TF32's error of the f32 interpreter: a few units of 2^-11 of the output's scale.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("resnet50")]
    [InlineData("shufflenet")]
    [InlineData("densenet121")]
    public void GpuCheckCnnsRunOnTf32TensorCores(string name) => RunOnTheEmulatedGpu(name, "tf32");

    private static void RunOnTheEmulatedGpu(string name, string? precision = null)
    {
        var net = ImageNetNets.GpuCheck[name](new NetOptions(WeightsAsInputs: true, ImageSize: 64));
        using var temp = new TestTemp();
        var path = Path.Combine(temp.Directory("gc-gpucheck-cnn"), name + ".onnx");
        File.WriteAllBytes(path, net.Onnx);
        var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions { Target = "cuda", Place = [".*=gpu"], Precision = precision }).Unwrap();
        var model = driver.Load(path).Unwrap();
        var optimised = driver.Optimize(model).Unwrap();
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(optimised));
        var rng = new Random(5);
        Tensor Uniform(TensorType t, double lo, double hi) =>
            Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => lo + rng.NextDouble() * (hi - lo))]);
        var args = model.Entry.Arguments;
        Tensor[] inputs = [Uniform(args[0].Type, -1.7, 1.7), .. net.WeightInputs.Select((w, i) => Uniform(args[i + 1].Type, w.Low, w.High))];
        var expected = new Interpreter(model).Run(null, inputs).Unwrap().Results[0];
        long before = CudaEmulator.Launches;
        var (actual, ptx) = CudaTensorCoreTests.RunThroughDriver(driver, optimised, inputs);
        Assert.True(CudaEmulator.Launches > before, $"{name}: nothing ran on the (emulated) GPU");
        // Logits can reach 10⁴; small ones are sums that cancel, so the error is measured against the output's scale.
        double scale = Enumerable.Range(0, (int)expected.ElementCount).Max(i => Math.Abs(expected.GetDouble(i)));
        if (precision is null)
        {
            IrTest.AssertTensor(expected, actual, 1e-4, 1e-5 * scale);
            return;
        }
        double worst = Enumerable.Range(0, (int)expected.ElementCount).Max(i => Math.Abs(expected.GetDouble(i) - actual.GetDouble(i))) / scale;
        Assert.True(worst < TfUnits * Math.Pow(2, -11), $"{name} on TF32: error {worst:G3} of the output's scale ({worst / Math.Pow(2, -11):F2} units of 2^-11)");
        Assert.True(worst > 0, $"{name}: bit-identical to the f32 interpreter, so TF32 did not run");
        // Every convolution of one group or of ShuffleNet's 3 wide groups on tensor cores (depthwise ones stay direct).
        var convolutions = optimised.Entry.Body.Operations.SelectMany(o => o.Regions.SelectMany(r => r.Operations).Prepend(o))
            .Where(o => o.Def is GraphCompiler.IR.Ops.ConvolutionOp).ToList();
        Assert.Equal(convolutions.Count(c => c.Attr.Int("feature_group_count") is 1 or 3), System.Text.RegularExpressions.Regex.Matches(ptx, @"\.entry gc_mma_tf32_").Count);
        if (name == "resnet50") Assert.Contains(".entry gc_splitk_combine", ptx);
    }
}
