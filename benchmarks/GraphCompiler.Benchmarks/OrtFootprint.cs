using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// ONNX Runtime's side of the cold-start and memory comparison (`ort-footprint MODEL [THREADS]`): in this fresh
/// process, the time to create the session and run it once minus a warm run (what `benchmarks/native/coldstart.c`
/// measures for an AOT library: load + first call − warm call), and the process's peak resident set before the
/// session (the .NET runtime alone) and after. Inputs are random f32 tensors of the model's declared shapes.
/// </summary>
public static class OrtFootprint
{
    public static int Run(string model, int threads)
    {
        var path = Repo.Require(OnnxBenchmarks.Files[model]());
        long before = PeakRss();
        var sw = Stopwatch.StartNew();
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        using var session = new InferenceSession(path, options);
        double created = sw.Elapsed.TotalMilliseconds;
        var random = new Random(7);
        var inputs = session.InputMetadata.Select(kv =>
        {
            var shape = kv.Value.Dimensions.Select(d => (long)Math.Max(d, 1)).ToArray();
            var data = new float[shape.Aggregate(1L, (p, d) => p * d)];
            for (long i = 0; i < data.Length; i++) data[i] = random.NextSingle() * 2 - 1;
            return (kv.Key, Value: OrtValue.CreateTensorValueFromMemory(data, shape));
        }).ToList();
        var names = inputs.Select(i => i.Key).ToArray();
        var values = inputs.Select(i => i.Value).ToArray();
        using var runOptions = new RunOptions();
        using (var first = session.Run(runOptions, names, values, session.OutputNames)) { }
        double firstDone = sw.Elapsed.TotalMilliseconds;
        double warm = double.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            var t = Stopwatch.StartNew();
            using (var r = session.Run(runOptions, names, values, session.OutputNames)) { }
            warm = Math.Min(warm, t.Elapsed.TotalMilliseconds);
        }
        long after = PeakRss();
        Console.WriteLine($"{model}: session {created:F1} ms, first run done at {firstDone:F1} ms, warm run {warm:F1} ms, " +
            $"cold start (session + first − warm) {firstDone - warm:F1} ms; peak RSS {after / 1048576.0:F0} MB " +
            $"({before / 1048576.0:F0} MB before the session: the .NET runtime)");
        foreach (var v in values) v.Dispose();
        return 0;
    }

    /// <summary>VmHWM from /proc/self/status, in bytes.</summary>
    private static long PeakRss() =>
        File.ReadLines("/proc/self/status").Where(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024).First();
}
