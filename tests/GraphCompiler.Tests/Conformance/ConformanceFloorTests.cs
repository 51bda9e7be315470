using GraphCompiler.Conformance;

namespace GraphCompiler.Tests.Conformance;

/// <summary>
/// Runs <c>gcc-cli check</c>'s runner over <c>../shared/</c> for every backend, and fails when a case
/// recorded as passing in <c>tests/conformance/&lt;suite&gt;.&lt;backend&gt;.txt</c> no longer passes. The
/// floor only rises: <c>UPDATE_FLOOR=1</c> adds newly passing cases and never removes one.
/// </summary>
public sealed class ConformanceFloorTests
{
    public static string SharedRoot => Path.GetFullPath(Path.Combine(GoldenFile.RepoRoot(), "..", "shared"));

    /// <summary>Suite, backend, pass pipeline run before the backend ("none" for the raw import), folders.</summary>
    public static IEnumerable<object[]> Suites() =>
    [
        ["onnx", "interpreter", "none", new[] { "conformance/onnx/node", "conformance/onnx/simple" }],
        ["onnx", "interpreter", "default", new[] { "conformance/onnx/node", "conformance/onnx/simple" }],
        ["tf", "interpreter", "none", new[] { "graphs/tf/cases" }],
        ["tf", "interpreter", "default", new[] { "graphs/tf/cases" }],
        ["onnx", "cpu", "none", new[] { "conformance/onnx/node", "conformance/onnx/simple" }],
        ["tf", "cpu", "none", new[] { "graphs/tf/cases" }],
    ];

    [SkippableSharedTheory]
    [MemberData(nameof(Suites))]
    public void PassingCasesNeverRegress(string suite, string backend, string pipeline, string[] folders)
    {
        var runner = ConformanceRunner.For(backend, pipeline == "none" ? null : pipeline).Unwrap();
        var summary = runner.Run(folders.Select(f => Path.Combine(SharedRoot, f)));
        var passing = summary.Cases.Where(c => c.Status == CaseStatus.Pass).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var variant = pipeline == "none" ? backend : $"{backend}.{pipeline}";
        var floorFile = Path.Combine(GoldenFile.RepoRoot(), "tests", "conformance", $"{suite}.{variant}.txt");
        var floor = File.Exists(floorFile)
            ? File.ReadAllLines(floorFile).Where(l => l.Length > 0 && !l.StartsWith('#')).ToHashSet(StringComparer.Ordinal)
            : [];

        if (Environment.GetEnvironmentVariable("UPDATE_FLOOR") == "1")
        {
            var union = floor.Union(passing).Order(StringComparer.Ordinal);
            File.WriteAllLines(floorFile, [$"# {suite} conformance cases that pass on the {backend} backend{(pipeline == "none" ? "" : $" after the {pipeline} pipeline")}; a case listed here must keep passing.", .. union]);
            floor = [.. union];
        }

        var regressed = floor.Where(n => !passing.Contains(n)).Order(StringComparer.Ordinal).ToList();
        var reasons = summary.Cases.Where(c => regressed.Contains(c.Name)).Select(c => c.Line);
        Assert.True(regressed.Count == 0,
            $"{regressed.Count} {suite} case(s) that passed on {backend} no longer pass:\n" + string.Join("\n", reasons));
        Assert.True(summary.Cases.Count > 0, "no cases found under " + string.Join(", ", folders));
        // Every failure is a known divergence, listed with its reason (src/GraphCompiler/Conformance/expected-failures.txt).
        var unexpected = summary.Cases.Where(c => c.Status == CaseStatus.Fail).Select(c => c.Line).ToList();
        Assert.True(unexpected.Count == 0, $"{unexpected.Count} unexpected failure(s) on {backend}:\n" + string.Join("\n", unexpected));
    }
}

public sealed class ExpectedFailuresTests
{
    [Fact]
    public void ReasonsAreLookedUpByTargetThenForEveryTarget()
    {
        var list = ExpectedFailures.Parse("# comment\n* test_a: broken everywhere\ncpu test_b: broken on the CPU\n\n");
        Assert.Equal("broken everywhere", list.Reason("cuda", "test_a"));
        Assert.Equal("broken on the CPU", list.Reason("cpu", "test_b"));
        Assert.Null(list.Reason("interpreter", "test_b"));
        Assert.Throws<FormatException>(() => ExpectedFailures.Parse("test_c without a target"));
    }

    [Fact]
    public void TheShippedListNamesCasesThatExist()
    {
        var node = Path.Combine(ConformanceFloorTests.SharedRoot, "conformance", "onnx", "node");
        if (!Directory.Exists(node)) return;
        foreach (var name in new[] { "test_cast_FLOAT_to_BFLOAT16", "test_castlike_BFLOAT16_to_FLOAT_expanded" })
        {
            Assert.NotNull(ExpectedFailures.Shipped.Reason("cpu", name));
            Assert.True(Directory.Exists(Path.Combine(node, name)), name);
        }
    }

    [Fact]
    public void AKnownDivergenceIsAnXfailAndTheRunSucceeds()
    {
        var node = Path.Combine(ConformanceFloorTests.SharedRoot, "conformance", "onnx", "node");
        if (!Directory.Exists(node)) return;
        var (code, stdout, stderr) = GraphCompiler.Tests.Cli.CliTests.Run("check", node, "--backend", "interpreter", "--filter", "^test_cast_FLOAT_to_BFLOAT16$");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("XFAIL test_cast_FLOAT_to_BFLOAT16: the expected data truncates float32 to bfloat16", stdout);
        Assert.EndsWith("0 passed, 0 failed, 0 skipped, 1 expected failures\n", stdout);
    }
}

/// <summary>
/// <c>check --backend cuda</c> runs the same cases through the same runner. CI has no GPU: there every case must be a
/// SKIP that names the missing driver (never a FAIL, never silently nothing); on a GPU machine the cases run.
/// </summary>
[Collection(GraphCompiler.Tests.Backends.Cuda.CudaDriverCollection.Name)]
public sealed class CudaConformanceTests
{
    [SkippableSharedFact]
    public void CudaCasesSkipWithTheReasonWhereThereIsNoDriver()
    {
        var runner = ConformanceRunner.For("cuda").Unwrap();
        var summary = runner.Run([Path.Combine(ConformanceFloorTests.SharedRoot, "conformance/onnx/node")], new System.Text.RegularExpressions.Regex("^test_(add|matmul_2d|softmax_axis_1)$"));
        Assert.Equal(3, summary.Cases.Count);
        if (System.Runtime.InteropServices.NativeLibrary.TryLoad("libcuda.so.1", out var driver))
        {
            System.Runtime.InteropServices.NativeLibrary.Free(driver);
            Assert.Equal(0, summary.Failed);
            return;
        }
        Assert.All(summary.Cases, c =>
        {
            Assert.Equal(CaseStatus.Skip, c.Status);
            Assert.Equal("cuda: no NVIDIA driver on this machine (libcuda.so.1 cannot be loaded)", c.Reason);
        });
    }
}

/// <summary>A fact skipped, visibly, when <c>../shared/</c> is not beside the repository.</summary>
public sealed class SkippableSharedFactAttribute : FactAttribute
{
    public SkippableSharedFactAttribute()
    {
        if (!Directory.Exists(ConformanceFloorTests.SharedRoot)) Skip = $"{ConformanceFloorTests.SharedRoot} is absent (CI has it beside the clone)";
    }
}

/// <summary>A theory skipped, visibly, when <c>../shared/</c> is not beside the repository.</summary>
public sealed class SkippableSharedTheoryAttribute : TheoryAttribute
{
    public SkippableSharedTheoryAttribute()
    {
        if (!Directory.Exists(ConformanceFloorTests.SharedRoot)) Skip = $"{ConformanceFloorTests.SharedRoot} is absent (CI has it beside the clone)";
    }
}
