using System.Text.RegularExpressions;
using GraphCompiler.Tests.Conformance;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// Which ops have no GPU kernel, measured on real models: every case of the shared ONNX suite, imported and compiled for
/// cuda with <c>--place '.*=gpu'</c> (placement keeps on the CPU only what <c>CudaCapabilities</c> refuses). The ops left
/// on the CPU must be exactly the documented CPU-only ones (docs/cuda-backend.md, "What stays on the CPU"): <c>if</c>, whose
/// branch the host picks. A new op without a kernel fails here until it gets one or is documented.
/// </summary>
public sealed partial class CudaCoverageTests
{
    private static readonly string[] CpuOnly = ["if"];

    [SkippableSharedFact]
    public void EveryOpOfTheOnnxSuiteRunsOnTheGpuButControlFlow()
    {
        var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions { Target = "cuda", Place = [".*=gpu"] }).Unwrap();
        var onCpu = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        int placed = 0;
        foreach (var dir in Directory.GetDirectories(Path.Combine(ConformanceFloorTests.SharedRoot, "conformance", "onnx", "node")).Order(StringComparer.Ordinal))
        {
            var model = Path.Combine(dir, "model.onnx");
            if (!File.Exists(model) || driver.Load(model) is not { Ok: true } loaded) continue;
            if (driver.Optimize(loaded.Value!) is not { Ok: true } optimized) continue;
            placed++;
            foreach (Match m in OpOnCpu().Matches(GraphCompiler.IR.Text.Printer.Print(optimized.Value!)))
            {
                var op = m.Groups[1].Value;
                if (!onCpu.TryGetValue(op, out var cases)) onCpu[op] = cases = new SortedSet<string>(StringComparer.Ordinal);
                cases.Add(Path.GetFileName(dir));
            }
        }
        Assert.True(placed > 500, $"only {placed} suite models compiled for cuda");
        var undocumented = onCpu.Where(kv => !CpuOnly.Contains(kv.Key)).Select(kv => $"{kv.Key} ({string.Join(", ", kv.Value.Take(5))})").ToList();
        Assert.True(undocumented.Count == 0, $"ops left on the CPU without a documented reason: {string.Join("; ", undocumented)}");
        Assert.Equal(CpuOnly, onCpu.Keys.ToArray()); // the list shrinks when one gets a kernel
    }

    /// <summary>A printed op placed on the CPU: its name (send/recv carry from/to, not device).</summary>
    [GeneratedRegex(@"= ([a-z_0-9]+) [^\n]*\{[^\n]*device = cpu")]
    private static partial Regex OpOnCpu();
}
