using System.Globalization;
using System.Text;
using GraphCompiler.IR.Targets;

namespace GraphCompiler;

/// <summary>
/// How long each phase of a compilation took (<see cref="CompiledModel.Timings"/>, <see cref="JitCompilation.Timings"/>):
/// the three driver phases, every recorded phase and sub-phase with the process's peak memory when it ended, and
/// whether the code came from the compilation cache (then load and optimise are zero and code generation is the
/// cache lookup).
/// </summary>
public sealed record CompileTimings(TimeSpan Load, TimeSpan Optimize, TimeSpan CodeGen)
{
    public TimeSpan Total => Load + Optimize + CodeGen;

    /// <summary>Every phase in the order it started; <see cref="PhaseTiming.Depth"/> nests backend phases under the driver's.</summary>
    public IReadOnlyList<PhaseTiming> Phases { get; init; } = [];

    /// <summary>The executable was loaded from the compilation cache: nothing was imported, optimised or generated.</summary>
    public bool CacheHit { get; init; }

    /// <summary>The process's peak resident memory when the compilation ended (VmHWM on Linux).</summary>
    public long PeakBytes { get; init; }

    /// <summary>
    /// A report like MLIR's <c>--mlir-timing</c>: one line per phase (indented by depth) with wall time, process CPU time and
    /// peak memory, then the notes (cache hit or miss), then the total and the peak.
    /// </summary>
    public static string Format(IReadOnlyList<PhaseTiming> phases, IReadOnlyDictionary<string, string> notes, TimeSpan total)
    {
        var sb = new StringBuilder();
        sb.AppendLine("===- compilation timings -===");
        sb.AppendLine("   wall (s)    cpu (s)   peak RSS (MiB)   phase");
        static string Line(TimeSpan wall, TimeSpan cpu, long peak, string name) =>
            string.Create(CultureInfo.InvariantCulture, $"  {wall.TotalSeconds,9:F4}  {cpu.TotalSeconds,9:F4}   {peak / 1048576.0,14:F1}   {name}");
        foreach (var p in phases) sb.AppendLine(Line(p.Wall, p.Cpu, p.PeakBytes, new string(' ', 2 * p.Depth) + p.Name));
        sb.AppendLine(Line(total, PeakMemory.CpuTime(), PeakMemory.Bytes(), "total"));
        foreach (var (key, value) in notes.OrderBy(n => n.Key, StringComparer.Ordinal)) sb.AppendLine($"  {key}: {value}");
        return sb.ToString();
    }
}
