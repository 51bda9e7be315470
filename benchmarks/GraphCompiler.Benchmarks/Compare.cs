using System.Diagnostics;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// A quick same-run comparison: per model and thread count, both sides set up as in <see cref="OnnxBenchmarks"/>
/// (outputs checked to agree), then timed call by call in alternation so that load on a shared machine hits both
/// alike; the ratio of the medians is printed as a markdown table row.
/// </summary>
public static class Compare
{
    private const int Warmup = 3;

    public static void Run(IEnumerable<string> models)
    {
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("GC_COMPARE_ROUNDS"), out var r) && r > 0 ? r : 15;
        Console.WriteLine("| model | threads | GraphCompiler ms | ONNX Runtime ms | ours / ORT |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var model in models)
            foreach (var threads in new[] { 1, 2 })
            {
                var bench = new OnnxBenchmarks { Model = model, Threads = threads };
                try
                {
                    bench.Setup();
                    var (ours, theirs) = (new List<double>(), new List<double>());
                    for (int i = 0; i < Warmup + rounds; i++)
                    {
                        var a = Time(bench.GraphCompiler);
                        var b = Time(bench.OnnxRuntime);
                        if (i < Warmup) continue;
                        ours.Add(a);
                        theirs.Add(b);
                    }
                    double mo = Median(ours), mt = Median(theirs);
                    Console.WriteLine($"| {model} | {threads} | {mo:F2} | {mt:F2} | {mo / mt:F2} |");
                }
                finally { bench.Cleanup(); }
            }
    }

    private static double Time(Action run)
    {
        var sw = Stopwatch.StartNew();
        run();
        return sw.Elapsed.TotalMilliseconds;
    }

    private static double Median(List<double> xs)
    {
        xs.Sort();
        return xs.Count % 2 == 1 ? xs[xs.Count / 2] : (xs[xs.Count / 2 - 1] + xs[xs.Count / 2]) / 2;
    }
}
