using BenchmarkDotNet.Attributes;
using GraphCompiler.IR;
using GraphCompiler.IR.Training;
using GraphCompiler.Training;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// A compiled training step (forward, backward through the <c>differentiate</c> pass, Adam update of every
/// parameter) against the same model's compiled inference on the same batch, one thread each: a backward
/// pass is about twice a forward pass, so the step should cost at most ~3.5× inference. The ratio column is
/// the figure. Models: the digits examples (batch 32) and the shared 784-512-512-10 MLP at batch 64.
/// </summary>
public class TrainingBenchmarks
{
    public static IReadOnlyDictionary<string, Func<string>> Files { get; } = new Dictionary<string, Func<string>>
    {
        ["digits_mlp"] = () => Path.Combine(Repo.Root, "examples", "training", "digits_mlp.ir"),
        ["digits_cnn"] = () => Path.Combine(Repo.Root, "examples", "training", "digits_cnn.ir"),
        ["mlp_b64"] = () => Repo.SharedModel("mlp_784_512_512_10_b64.onnx"),
    };

    public static IEnumerable<string> Models() =>
        Environment.GetEnvironmentVariable("GC_BENCH_MODELS") is { Length: > 0 } only
            ? only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : Files.Keys;

    [ParamsSource(nameof(Models))]
    public string Model { get; set; } = "digits_mlp";

    private CompiledModel? _inference;
    private Trainer? _trainer;
    private Tensor[] _inputs = [], _batch = [];

    [GlobalSetup]
    public void Setup()
    {
        var options = new CompileOptions { Threads = 1 };
        var module = Compiler.Create(options).Unwrap().Load(Repo.Require(Files[Model]())).Unwrap();
        _inference = CompiledModel.Compile(module, options);
        _trainer = Trainer.Create(module, new TrainingOptions
        {
            Loss = new LossSpec(LossSpec.SoftmaxCrossEntropy, Labels: "labels"),
            Optimizer = Optimizer.Create("adam", 1e-3)!,
        }, options);
        var random = new Random(0);
        var input = module.Entry.Arguments[0].Type;
        _inputs = [Tensor.FromDoubles(input, [.. Enumerable.Range(0, (int)input.ElementCount).Select(_ => random.NextDouble())])];
        long batch = input.Shape[0], classes = module.Entry.ResultTypes[0].Shape[^1];
        var labels = Tensor.FromInt64s(new TensorType(ElementType.I64, batch), [.. Enumerable.Range(0, (int)batch).Select(_ => (long)random.Next((int)classes))]);
        _batch = [_inputs[0], labels];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _inference?.Dispose();
        _trainer?.Dispose();
    }

    [Benchmark(Baseline = true)]
    public IReadOnlyList<Tensor> Inference() => _inference!.Run(_inputs);

    [Benchmark]
    public double TrainingStep() => _trainer!.Step(_batch).Loss;
}
