using System.Diagnostics;

namespace GraphCompiler.IR.Targets;

/// <summary>
/// One finished phase of a compilation: its name, nesting depth (0: a driver phase), wall time, the CPU time of the
/// whole process meanwhile (LLVM runs in-process; a child such as the linker is not counted), and the process's peak
/// memory when it ended. On a busy machine the CPU time is the steadier of the two.
/// </summary>
public sealed record PhaseTiming(string Name, int Depth, TimeSpan Wall, long PeakBytes, TimeSpan Cpu = default);

/// <summary>
/// Records the phases of one compilation as they run (the driver's, and the backend's sub-phases nested under
/// them), for <c>--timings</c> and <c>CompileTimings.Phases</c>. A phase still running after
/// <see cref="ProgressAfter"/> is announced through the progress callback, so that only slow phases of big models
/// print a "compiling: …" line and fast compilations stay quiet. Safe to use from several threads.
/// </summary>
public sealed class PhaseRecorder
{
    private readonly object _gate = new();
    private readonly List<PhaseTiming> _done = [];
    private readonly Action<string>? _progress;
    private int _depth;

    /// <param name="progress">Receives a line when a phase has run longer than <see cref="ProgressAfter"/>; null: no progress lines.</param>
    public PhaseRecorder(Action<string>? progress = null) => _progress = progress;

    /// <summary>How long a phase runs before it is announced (default 2 s).</summary>
    public TimeSpan ProgressAfter { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The finished phases in the order they started.</summary>
    public IReadOnlyList<PhaseTiming> Phases
    {
        get
        {
            lock (_gate) return [.. _done];
        }
    }

    /// <summary>Free-form facts about the compilation (<c>cache</c> → <c>hit</c>, <c>kernels</c> → <c>312</c>), printed after the phases.</summary>
    public IReadOnlyDictionary<string, string> Notes
    {
        get
        {
            lock (_gate) return new Dictionary<string, string>(_notes);
        }
    }

    private readonly Dictionary<string, string> _notes = [];

    public void Note(string key, string value)
    {
        lock (_gate) _notes[key] = value;
    }

    /// <summary>Starts a phase; disposing the result ends it. <paramref name="detail"/> only goes into the progress line.</summary>
    public Scope Phase(string name, string? detail = null)
    {
        int depth;
        int index;
        lock (_gate)
        {
            depth = _depth++;
            // The slot keeps phases in start order although nested ones end first.
            index = _done.Count;
            _done.Add(new PhaseTiming(name, depth, TimeSpan.Zero, 0));
        }
        Timer? timer = null;
        if (_progress is { } progress)
        {
            var line = $"compiling: {name}{(detail is null ? "" : $" ({detail})")}…";
            timer = new Timer(_ => progress(line), null, ProgressAfter, Timeout.InfiniteTimeSpan);
        }
        return new Scope(this, index, name, depth, timer);
    }

    /// <summary>Records a phase that was timed elsewhere (a pass, between two callbacks), nested under the running phase.</summary>
    public void Add(string name, TimeSpan wall, TimeSpan cpu = default)
    {
        var peak = PeakMemory.Bytes();
        lock (_gate) _done.Add(new PhaseTiming(name, _depth, wall, peak, cpu));
    }

    /// <summary>Times <paramref name="action"/> as a phase of a possibly absent recorder.</summary>
    public static T Time<T>(PhaseRecorder? recorder, string name, Func<T> action, string? detail = null)
    {
        if (recorder is null) return action();
        using var _ = recorder.Phase(name, detail);
        return action();
    }

    private void End(int index, string name, int depth, TimeSpan wall, TimeSpan cpu)
    {
        var peak = PeakMemory.Bytes();
        lock (_gate)
        {
            _done[index] = new PhaseTiming(name, depth, wall, peak, cpu);
            _depth = Math.Max(0, _depth - 1);
        }
    }

    /// <summary>A running phase; ends when disposed.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly PhaseRecorder? _owner;
        private readonly int _index, _depth;
        private readonly string _name;
        private readonly long _start;
        private readonly TimeSpan _cpuStart;
        private readonly Timer? _timer;

        internal Scope(PhaseRecorder owner, int index, string name, int depth, Timer? timer)
        {
            _owner = owner;
            _index = index;
            _name = name;
            _depth = depth;
            _timer = timer;
            _start = Stopwatch.GetTimestamp();
            _cpuStart = PeakMemory.CpuTime();
        }

        public void Dispose()
        {
            _timer?.Dispose();
            _owner?.End(_index, _name, _depth, Stopwatch.GetElapsedTime(_start), PeakMemory.CpuTime() - _cpuStart);
        }
    }
}

/// <summary>The process's peak resident memory and CPU time so far.</summary>
public static class PeakMemory
{
    /// <summary>User plus system time of every thread of the process.</summary>
    public static TimeSpan CpuTime()
    {
        using var p = Process.GetCurrentProcess();
        return p.TotalProcessorTime;
    }

    /// <summary>VmHWM from /proc/self/status on Linux (what <c>/usr/bin/time</c> reports as max RSS); elsewhere the peak working set.</summary>
    public static long Bytes()
    {
        try
        {
            if (OperatingSystem.IsLinux())
                foreach (var line in File.ReadLines("/proc/self/status"))
                    if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                        return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim()) * 1024;
        }
        catch (IOException)
        {
            // Fall through to the portable (less exact) figure.
        }
        using var p = Process.GetCurrentProcess();
        return p.PeakWorkingSet64;
    }
}
