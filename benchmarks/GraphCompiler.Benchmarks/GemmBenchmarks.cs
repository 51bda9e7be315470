using System.Globalization;
using BenchmarkDotNet.Attributes;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// f32 GEMM, C[M,N] = A[M,K]·B[K,N]: one <c>dot_general</c> compiled through the public API, against
/// OpenBLAS <c>cblas_sgemm</c> (the baseline). Shapes: square N = 256…2048 and the MLP's layers
/// (<c>MxKxN</c>). <c>GC_BENCH_SHAPES=256,512</c> limits the shapes (for quick checks).
/// </summary>
[Config(typeof(GflopsConfig))]
public class GemmBenchmarks
{
    public static IEnumerable<string> Shapes() =>
        Environment.GetEnvironmentVariable("GC_BENCH_SHAPES") is { Length: > 0 } only
            ? only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : ["256", "512", "1024", "2048", "64x784x512", "1x784x512"];

    [ParamsSource(nameof(Shapes))]
    public string Shape { get; set; } = "256";

    [Params(1, 2)]
    public int Threads { get; set; }

    private int _m, _k, _n;
    private float[] _a = [], _b = [], _c = [];
    private CompiledModel? _model;
    private IoBinding? _binding;

    /// <summary><c>N</c> (square) or <c>MxKxN</c>.</summary>
    public static (int M, int K, int N) Parse(string shape)
    {
        var d = shape.Split('x').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        return d.Length == 1 ? (d[0], d[0], d[0]) : (d[0], d[1], d[2]);
    }

    [GlobalSetup]
    public void Setup()
    {
        (_m, _k, _n) = Parse(Shape);
        var random = new Random(42);
        _a = [.. Enumerable.Range(0, _m * _k).Select(_ => random.NextSingle() * 2 - 1)];
        _b = [.. Enumerable.Range(0, _k * _n).Select(_ => random.NextSingle() * 2 - 1)];
        _c = new float[_m * _n];
        var module = Parser.ParseModule($$"""
            func @main(%a: tensor<{{_m}}x{{_k}}xf32> {name = "a"}, %b: tensor<{{_k}}x{{_n}}xf32> {name = "b"}) -> (tensor<{{_m}}x{{_n}}xf32> {name = "c"}) {
              %c = dot_general %a, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<{{_m}}x{{_n}}xf32>
              return %c
            }
            """).Unwrap();
        _model = CompiledModel.Compile(module, new CompileOptions { Threads = Threads });
        _binding = _model.Bind().BindInput(0, _a).BindInput(1, _b).BindOutput(0, _c);
        OpenBlas.openblas_set_num_threads(Threads);
    }

    [Benchmark(Baseline = true)]
    public void OpenBLAS() => OpenBlas.Sgemm(_m, _n, _k, _a, _b, _c);

    [Benchmark]
    public void GraphCompiler() => _binding!.Run();

    [GlobalCleanup]
    public void Cleanup()
    {
        _binding?.Dispose();
        _model?.Dispose();
    }

    /// <summary>Floating-point operations of one GEMM of this shape (2·M·N·K).</summary>
    public static double Flops(string shape)
    {
        var (m, k, n) = Parse(shape);
        return 2.0 * m * n * k;
    }
}
