using System.Diagnostics;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// A quick same-run comparison: per model and thread count, both sides set up as in <see cref="OnnxBenchmarks"/>
/// (outputs checked to agree), then timed in alternating blocks so that load on a shared machine hits both alike;
/// the ratio of the medians is printed as a markdown table row. Blocks, not single calls, with a pause between:
/// both thread pools spin for a while after a call, and on a 2-core machine a pool still spinning would take a
/// core from the other side's next call.
/// </summary>
public static class Compare
{
    private const int Warmup = 2, CallsPerBlock = 5;

    /// <summary>Longer than either pool spins before it parks (ONNX Runtime's and ours are well under a millisecond of spinning; 50 ms is ample).</summary>
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(50);

    public static void Run(IEnumerable<string> models)
    {
        Console.WriteLine("| model | threads | GraphCompiler ms | ONNX Runtime ms | ours / ORT |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var model in models)
            foreach (var threads in new[] { 1, 2 })
            {
                var bench = new OnnxBenchmarks { Model = model, Threads = threads };
                try
                {
                    bench.Setup();
                    var (mo, mt) = Measure(bench);
                    Console.WriteLine($"| {model} | {threads} | {Ms(mo)} | {Ms(mt)} | {mo / mt:F2} |");
                }
                finally { bench.Cleanup(); }
            }
    }

    /// <summary>Both sides of a set-up benchmark in alternating blocks: the median call of each, in milliseconds.</summary>
    public static (double Ours, double Theirs) Measure(OnnxBenchmarks bench)
    {
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("GC_COMPARE_ROUNDS"), out var r) && r > 0 ? r : 6;
        var (ours, theirs) = (new List<double>(), new List<double>());
        int blocks = rounds * (IsShort(bench) ? ShortModelRounds : 1);
        for (int i = 0; i < Warmup + blocks; i++)
        {
            Block(bench.GraphCompiler, i < Warmup ? null : ours);
            Block(bench.OnnxRuntime, i < Warmup ? null : theirs);
        }
        return (Median(ours), Median(theirs));
    }

    /// <summary>
    /// Rounds per requested round for a model whose call takes under <see cref="ShortCall"/>: a 30 µs call (the batch-1
    /// MLP) moved its ratio by 0.2 between runs on 30 samples a side, and 300 cost a few milliseconds more.
    /// </summary>
    private const int ShortModelRounds = 10;

    private static readonly TimeSpan ShortCall = TimeSpan.FromMilliseconds(1);

    private static bool IsShort(OnnxBenchmarks bench)
    {
        bench.GraphCompiler();
        var sw = Stopwatch.StartNew();
        bench.GraphCompiler();
        return sw.Elapsed < ShortCall;
    }

    /// <summary>A pause, one untimed call (caches and the pool woken), then <see cref="CallsPerBlock"/> timed calls.</summary>
    private static void Block(Action run, List<double>? times)
    {
        Thread.Sleep(Pause);
        run();
        for (int i = 0; i < CallsPerBlock; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            times?.Add(sw.Elapsed.TotalMilliseconds);
        }
    }

    /// <summary>Three significant digits at least: the batch-1 MLP takes 0.03 ms, where two decimals hide a 15 % change.</summary>
    public static string Ms(double ms) => ms.ToString(ms < 1 ? "F3" : "F2", System.Globalization.CultureInfo.InvariantCulture);

    private static double Median(List<double> xs)
    {
        xs.Sort();
        return xs.Count % 2 == 1 ? xs[xs.Count / 2] : (xs[xs.Count / 2 - 1] + xs[xs.Count / 2]) / 2;
    }
}
