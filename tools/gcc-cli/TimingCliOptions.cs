using System.CommandLine;
using System.Diagnostics;
using GraphCompiler.IR.Targets;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>--timings</c> (a per-phase report of wall time and peak memory on stderr, after the command) and, for commands
/// that compile, <c>--no-cache</c> (bypass the on-disk compilation cache, which the command line uses by default).
/// Slow phases (over 2 s) announce themselves on stderr while they run, but only with <c>--timings</c> or when
/// stderr is a terminal, so that redirected output (tests, scripts) stays the same.
/// </summary>
internal sealed class TimingCliOptions
{
    public Option<bool> Timings { get; } = new("--timings") { Description = "After the command, print each compilation phase with its wall time and the peak memory (stderr)." };

    public Option<bool> NoCache { get; } = new("--no-cache") { Description = "Compile from scratch: neither read nor write the compilation cache ($GC_CACHE_DIR, else ~/.cache/graphcompiler)." };

    private readonly long _start = Stopwatch.GetTimestamp();

    public Command AddTo(Command command, bool cache = true)
    {
        command.Options.Add(Timings);
        if (cache) command.Options.Add(NoCache);
        return command;
    }

    /// <summary>The options with the cache on unless <c>--no-cache</c> was given.</summary>
    public CompileOptions Apply(ParseResult r, CompileOptions options) => options with { Cache = !r.GetValue(NoCache) };

    /// <summary>A recorder for this command: progress lines go to stderr when asked for (<c>--timings</c>) or when a person watches it.</summary>
    public PhaseRecorder Recorder(ParseResult r) =>
        new(r.GetValue(Timings) || !Console.IsErrorRedirected ? line => Console.Error.WriteLine(line) : null);

    /// <summary>With <c>--timings</c>, the report of <paramref name="phases"/> on stderr; the total is the command's time so far.</summary>
    public void Report(ParseResult r, PhaseRecorder phases) => Report(r, phases.Phases, phases.Notes);

    public void Report(ParseResult r, IReadOnlyList<PhaseTiming> phases, IReadOnlyDictionary<string, string> notes)
    {
        if (r.GetValue(Timings)) Console.Error.Write(CompileTimings.Format(phases, notes, Stopwatch.GetElapsedTime(_start)));
    }
}
