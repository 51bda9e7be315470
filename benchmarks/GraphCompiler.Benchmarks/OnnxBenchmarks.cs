using BenchmarkDotNet.Attributes;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// Whole ONNX models: GraphCompiler (compiled through the public API, arrays bound once with
/// <see cref="IoBinding"/>) against ONNX Runtime (the baseline: sequential execution, all graph
/// optimisations, <c>IntraOpNumThreads = Threads</c>, inputs and outputs pre-bound as <see cref="OrtValue"/>s
/// through an <see cref="OrtIoBinding"/>). Neither side allocates per call; both read the same inputs.
/// </summary>
public class OnnxBenchmarks
{
    /// <summary>Benchmark name → model file.</summary>
    public static readonly IReadOnlyDictionary<string, Func<string>> Files = ImageNetFiles(new Dictionary<string, Func<string>>
    {
        ["mlp_b1"] = () => Repo.SharedModel("mlp_784_512_512_10_b1.onnx"),
        ["mlp_b64"] = () => Repo.SharedModel("mlp_784_512_512_10_b64.onnx"),
        ["eltwise_chain10"] = () => Repo.SharedModel("eltwise_chain10_16M.onnx"),
        ["eltwise_cheap10"] = () => Repo.SharedModel("eltwise_cheap10_16M.onnx"),
        ["cnn"] = () => Repo.BenchmarkModel(CnnModel.FileName),
        ["math_chain"] = () => Repo.BenchmarkModel(MathModel.FileName),
        // Not committed (102 MB): `generate-resnet50` writes it; benchmarked when it is there.
        ["resnet50"] = () => Repo.BenchmarkModel(ResNet50Model.FileName),
        // The same formula weights stored and computed in the graph (`generate-resnet50 PATH --weights formula|in-graph`).
        ["resnet50_formula"] = () => Repo.BenchmarkModel("resnet50_formula.onnx"),
        ["resnet50_ingraph"] = () => Repo.BenchmarkModel("resnet50_ingraph.onnx"),
    });

    // Not committed either (`generate-cnns`): benchmarked when they are there.
    private static Dictionary<string, Func<string>> ImageNetFiles(Dictionary<string, Func<string>> files)
    {
        foreach (var name in global::GraphCompiler.Tests.ImageNetNets.All.Keys) files[name] = () => Architectures.ImageNetModels.PathOf(name);
        return files;
    }

    private static readonly HashSet<string> Generated = ["resnet50", "resnet50_formula", "resnet50_ingraph", .. global::GraphCompiler.Tests.ImageNetNets.All.Keys];

    public static IEnumerable<string> Models() =>
        Environment.GetEnvironmentVariable("GC_BENCH_MODELS") is { Length: > 0 } only
            ? only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : Files.Keys.Where(k => !Generated.Contains(k) || File.Exists(Files[k]()));

    [ParamsSource(nameof(Models))]
    public string Model { get; set; } = "mlp_b1";

    [Params(1, 2)]
    public int Threads { get; set; }

    private CompiledModel? _ours;
    private IoBinding? _oursBinding;
    private InferenceSession? _ort;
    private SessionOptions? _ortOptions;
    private RunOptions? _runOptions;
    private OrtIoBinding? _ortBinding;
    private readonly List<OrtValue> _ortValues = [];

    [GlobalSetup]
    public void Setup()
    {
        var path = Repo.Require(Files[Model]());
        // The cache (keyed without Threads) spares the second compile of each model at the other thread count.
        _ours = CompiledModel.Compile(path, new CompileOptions { Threads = Threads, Cache = true });
        _oursBinding = _ours.Bind();
        _ortOptions = new SessionOptions
        {
            IntraOpNumThreads = Threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        _ort = new InferenceSession(path, _ortOptions);
        _runOptions = new RunOptions();
        _ortBinding = _ort.CreateIoBinding();

        var random = new Random(7);
        for (int i = 0; i < _ours.Inputs.Count; i++)
        {
            var d = RequireF32(_ours.Inputs[i]);
            var data = new float[d.ElementCount];
            for (long j = 0; j < data.Length; j++) data[j] = random.NextSingle() * 2 - 1;
            _oursBinding.BindInput(i, data);
            _ortBinding.BindInput(d.Name, Value(data, d));
        }
        var ours = new List<float[]>();
        var theirs = new List<float[]>();
        for (int i = 0; i < _ours.Outputs.Count; i++)
        {
            var d = RequireF32(_ours.Outputs[i]);
            ours.Add(new float[d.ElementCount]);
            theirs.Add(new float[d.ElementCount]);
            _oursBinding.BindOutput(i, ours[^1]);
            _ortBinding.BindOutput(d.Name, Value(theirs[^1], d));
        }
        // A timing of wrong results means nothing: both must compute the same outputs first.
        GraphCompiler();
        OnnxRuntime();
        for (int i = 0; i < ours.Count; i++) Agreement.Check($"{Model} output {_ours.Outputs[i].Name}", ours[i], theirs[i]);
    }

    private static TensorDescriptor RequireF32(TensorDescriptor d) =>
        d.DType == DType.F32 ? d : throw new NotSupportedException($"{d}: the ONNX benchmarks bind f32 tensors only");

    private OrtValue Value(float[] data, TensorDescriptor d)
    {
        var v = OrtValue.CreateTensorValueFromMemory(data, [.. d.Shape]);
        _ortValues.Add(v);
        return v;
    }

    [Benchmark(Baseline = true)]
    public void OnnxRuntime() => _ort!.RunWithBinding(_runOptions!, _ortBinding!);

    [Benchmark]
    public void GraphCompiler() => _oursBinding!.Run();

    [GlobalCleanup]
    public void Cleanup()
    {
        _oursBinding?.Dispose();
        _ours?.Dispose();
        _ortBinding?.Dispose();
        foreach (var v in _ortValues) v.Dispose();
        _runOptions?.Dispose();
        _ort?.Dispose();
        _ortOptions?.Dispose();
    }
}
