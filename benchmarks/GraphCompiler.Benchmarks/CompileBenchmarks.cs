using BenchmarkDotNet.Attributes;
using GraphCompiler.IR;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// Compile speed through the public API (<see cref="Compiler.LoadAndJit"/>): a cold compilation with the cache off
/// (import, passes, LLVM IR generation, optimisation, emission, JIT load), and a cached one, which finds the
/// executable of an identical earlier compilation in the on-disk cache (a private directory, filled in the setup)
/// and only links it into a fresh JIT; and <c>Codegen</c>, code generation alone (the issue's measure: LLVM IR
/// generation, optimisation, emission, JIT load) of the model imported and optimised in the setup, with the
/// target's kernel library compiled once before (KernelLibrary), as after the first compilation on a
/// machine. Each iteration disposes what it compiled. ResNet-50 joins when
/// benchmarks/models/resnet50.onnx has been generated (<c>generate-resnet50</c>).
/// </summary>
public class CompileBenchmarks
{
    public static IReadOnlyDictionary<string, Func<string>> Files { get; } = new Dictionary<string, Func<string>>
    {
        ["softmax_regression"] = () => Path.Combine(Repo.Root, "examples", "softmax_regression.ir"),
        ["mlp_b64"] = () => Repo.SharedModel("mlp_784_512_512_10_b64.onnx"),
        ["resnet50"] = () => Repo.BenchmarkModel(ResNet50Model.FileName),
    };

    public static IEnumerable<string> Models() =>
        Environment.GetEnvironmentVariable("GC_BENCH_MODELS") is { Length: > 0 } only
            ? only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : Files.Keys.Where(k => k != "resnet50" || File.Exists(Files[k]()));

    [ParamsSource(nameof(Models))]
    public string Model { get; set; } = "softmax_regression";

    private string _path = "";
    private string _cacheDir = "";
    private CompileOptions _cold = new(), _cached = new();
    private Compiler _codegen = null!;
    private Module _optimized = null!;

    [GlobalSetup]
    public void Setup()
    {
        _path = Repo.Require(Files[Model]());
        _cacheDir = Directory.CreateTempSubdirectory("gc-bench-cache").FullName;
        _cold = new CompileOptions { Threads = 1 };
        _cached = new CompileOptions { Threads = 1, Cache = true, CacheDirectory = _cacheDir };
        // Fill the cache once, so that every measured cached compilation is a hit.
        var first = Compiler.Create(_cached).Unwrap().LoadAndJit(_path).Unwrap();
        first.Executable.Dispose();
        _codegen = Compiler.Create(_cold).Unwrap();
        _optimized = _codegen.Optimize(_codegen.Load(_path).Unwrap()).Unwrap();
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_cacheDir, recursive: true);

    [Benchmark(Baseline = true)]
    public void Cold() => Compile(_cold, expectHit: false);

    [Benchmark]
    public void Cached() => Compile(_cached, expectHit: true);

    [Benchmark]
    public void Codegen() => _codegen.Jit(_optimized).Unwrap().Dispose();

    /// <summary>A new driver each time, as a new process would have: the model is hashed for the key every time.</summary>
    private void Compile(CompileOptions options, bool expectHit)
    {
        var compiled = Compiler.Create(options).Unwrap().LoadAndJit(_path).Unwrap();
        compiled.Executable.Dispose();
        if (compiled.Timings.CacheHit != expectHit)
            throw new InvalidOperationException($"{Model}: expected a cache {(expectHit ? "hit" : "miss")}");
    }
}
