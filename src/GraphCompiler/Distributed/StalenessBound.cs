namespace GraphCompiler.Distributed;

/// <summary>
/// The parameter server's scheduling policy, apart from any transport so that it can be checked alone: which
/// worker's request for the variables may be answered now, so that no gradient is ever applied more than
/// <see cref="MaxStaleness"/> updates after the version of the variables it was computed on.
/// <para>
/// The server applies every pushed gradient at once, in arrival order, and answers requests for the variables in
/// arrival order (first in, first out). A worker that was answered at version v "holds" v until it pushes the
/// gradient it computes there (or leaves). Each holder can push at most once before it must ask again, so while
/// w holds v at most <c>(V − v) + (holders − 1)</c> updates can precede w's push, V being the current version.
/// A request is answered only when <c>(V − v_oldest) + holders ≤ S</c> — that is, when the answer (one more holder)
/// keeps that quantity ≤ S for every holder. It stays ≤ S afterwards: a push raises V by one and removes one
/// holder, a leaving worker only removes one. So a gradient computed at v is applied at version ≤ v + S: its
/// staleness is at most S, for any number of workers. No request waits forever: when nobody holds, any request is
/// answered, and every holder eventually pushes or leaves.
/// </para>
/// </summary>
public sealed class StalenessBound
{
    private readonly Dictionary<int, long> _holding = []; // worker → the version it was answered at
    private readonly Queue<int> _waiting = new();
    private readonly long[] _counts;

    public StalenessBound(int maxStaleness)
    {
        if (maxStaleness < 0) throw new ArgumentOutOfRangeException(nameof(maxStaleness), $"the staleness bound must be >= 0, got {maxStaleness}");
        MaxStaleness = maxStaleness;
        _counts = new long[maxStaleness + 1];
    }

    /// <summary>S: the most updates a gradient may be applied after the version it was computed on.</summary>
    public int MaxStaleness { get; }

    /// <summary>V: the number of gradients applied so far.</summary>
    public long Version { get; private set; }

    /// <summary>The largest staleness of an applied gradient so far (−1 before the first).</summary>
    public int ObservedMaxStaleness { get; private set; } = -1;

    /// <summary>How many applied gradients had each staleness 0..S.</summary>
    public IReadOnlyList<long> StalenessCounts => _counts;

    /// <summary>Requests that could not be answered when they arrived (the bound, or a request before them it held, made their worker wait).</summary>
    public long HeldRequests { get; private set; }

    /// <summary>Workers waiting for the variables, oldest first.</summary>
    public IReadOnlyCollection<int> Waiting => _waiting;

    /// <summary><paramref name="worker"/> asks for the variables; answered by <see cref="TryAnswer"/>, in arrival order.</summary>
    /// <exception cref="InvalidOperationException">It holds the variables already or is waiting already (a protocol error).</exception>
    public void Request(int worker)
    {
        if (_holding.ContainsKey(worker) || _waiting.Contains(worker))
            throw new InvalidOperationException($"worker {worker} asked for the variables while it {(_holding.ContainsKey(worker) ? "holds them" : "waits for them")}");
        // Answerable requests are all answered after every message, so one still queued means the bound holds the head.
        if (_waiting.Count > 0 || !CanAnswer) HeldRequests++;
        _waiting.Enqueue(worker);
    }

    /// <summary>Whether a request may be answered now: no holder, or (V − oldest holder's version) + holders ≤ S.</summary>
    private bool CanAnswer => _holding.Count == 0 || Version - _holding.Values.Min() + _holding.Count <= MaxStaleness;

    /// <summary>The oldest waiting worker when the bound lets it be answered now; it then holds the current version.</summary>
    public bool TryAnswer(out int worker, out long version)
    {
        (worker, version) = (-1, Version);
        if (_waiting.Count == 0 || !CanAnswer) return false;
        worker = _waiting.Dequeue();
        _holding[worker] = Version;
        return true;
    }

    /// <summary>
    /// <paramref name="worker"/>'s gradient, computed at the version it holds, is applied as update V + 1; its
    /// staleness (V − that version). The worker holds nothing afterwards.
    /// </summary>
    /// <exception cref="InvalidOperationException">The worker holds no variables (a protocol error).</exception>
    public int Push(int worker)
    {
        if (!_holding.Remove(worker, out var version))
            throw new InvalidOperationException($"worker {worker} pushed a gradient without holding variables");
        int staleness = checked((int)(Version - version));
        if (staleness > MaxStaleness) // the invariant above makes this impossible
            throw new System.Diagnostics.UnreachableException($"staleness {staleness} exceeds the bound {MaxStaleness}: the scheduling invariant is broken");
        _counts[staleness]++;
        ObservedMaxStaleness = Math.Max(ObservedMaxStaleness, staleness);
        Version++;
        return staleness;
    }

    /// <summary><paramref name="worker"/> leaves: it no longer holds variables nor waits for them.</summary>
    public void Leave(int worker)
    {
        _holding.Remove(worker);
        if (_waiting.Contains(worker))
        {
            var rest = _waiting.Where(w => w != worker).ToList();
            _waiting.Clear();
            foreach (var w in rest) _waiting.Enqueue(w);
        }
    }
}
