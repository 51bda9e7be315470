using GraphCompiler.IR.Targets;

namespace GraphCompiler.Tests.Caching;

/// <summary>The phase recorder behind <c>--timings</c> and <c>CompileTimings.Phases</c>.</summary>
public sealed class PhaseRecorderTests
{
    [Fact]
    public void NestedPhasesKeepStartOrderAndDepth()
    {
        var r = new PhaseRecorder();
        using (r.Phase("outer"))
        {
            using (r.Phase("inner")) { }
            r.Add("pass", TimeSpan.FromMilliseconds(3));
        }
        using (r.Phase("next")) { }
        Assert.Equal([("outer", 0), ("inner", 1), ("pass", 1), ("next", 0)], r.Phases.Select(p => (p.Name, p.Depth)));
        Assert.Equal(TimeSpan.FromMilliseconds(3), r.Phases[2].Wall);
        Assert.All(r.Phases, p => Assert.True(p.PeakBytes > 0));
        // The outer phase lasted at least as long as what ran inside it.
        Assert.True(r.Phases[0].Wall >= r.Phases[1].Wall);
    }

    [Fact]
    public void SlowPhaseIsAnnouncedWhileItRuns()
    {
        using var announced = new ManualResetEventSlim();
        string? line = null;
        var r = new PhaseRecorder(l =>
        {
            line = l;
            announced.Set();
        }) { ProgressAfter = TimeSpan.FromMilliseconds(1) };
        using (r.Phase("LLVM optimise", "312 kernels"))
            Assert.True(announced.Wait(TimeSpan.FromSeconds(30)), "no progress line");
        Assert.Equal("compiling: LLVM optimise (312 kernels)…", line);
    }

    [Fact]
    public void QuickPhaseIsNotAnnounced()
    {
        var lines = new List<string>();
        var r = new PhaseRecorder(lines.Add) { ProgressAfter = TimeSpan.FromHours(1) };
        using (r.Phase("import")) { }
        Assert.Empty(lines);
        Assert.Single(r.Phases);
    }

    [Fact]
    public void ReportListsPhasesNotesAndTotal()
    {
        var text = CompileTimings.Format([new PhaseTiming("import", 0, TimeSpan.FromMilliseconds(1500), 3 << 20), new PhaseTiming("canonicalize", 1, TimeSpan.FromMilliseconds(2), 0)],
            new Dictionary<string, string> { ["cache"] = "miss" }, TimeSpan.FromSeconds(2));
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.Contains("1.5000") && l.Contains("3.0") && l.EndsWith("   import", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith("     canonicalize", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("2.0000") && l.EndsWith("total", StringComparison.Ordinal));
        Assert.Contains("  cache: miss", lines);
    }
}
