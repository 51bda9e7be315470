using System.Collections.Immutable;

namespace GraphCompiler.IR;

/// <summary>
/// Which replica an interpreter runs as, and how its collectives meet the other replicas'. A plain run is
/// <see cref="Single"/>: replica 0 of a world of one, where every collective's group is the replica alone
/// (all_reduce of one operand is that operand, replica_id is 0).
/// </summary>
public sealed class ReplicaContext
{
    public static readonly ReplicaContext Single = new(0, 1, null);

    private readonly Rendezvous? _rendezvous;

    /// <summary>How often this replica has reached each collective op: the k-th time on one replica meets the k-th time on the others (loops, repeated calls).</summary>
    private readonly Dictionary<Operation, long> _reached = new(ReferenceEqualityComparer.Instance);

    internal ReplicaContext(int index, int count, Rendezvous? rendezvous)
    {
        Index = index;
        Count = count;
        _rendezvous = rendezvous;
    }

    /// <summary>This replica's index in the world.</summary>
    public int Index { get; }

    /// <summary>The world size: how many replicas run.</summary>
    public int Count { get; }

    /// <summary>
    /// Hands <paramref name="x"/> to the collective <paramref name="op"/> of group <paramref name="group"/>
    /// (whose members, in rank order, are <paramref name="members"/>, this replica at <paramref name="position"/>)
    /// and waits for the others' operands: returns them all, in rank order.
    /// </summary>
    internal IReadOnlyList<Tensor> Exchange(Operation op, int group, int[] members, int position, Tensor x)
    {
        if (members.Length == 1) return [x];
        long occurrence = _reached.TryGetValue(op, out var n) ? n : 0;
        _reached[op] = occurrence + 1;
        return _rendezvous!.Exchange(new Rendezvous.Key(op, occurrence, group), members, position, x);
    }
}

/// <summary>
/// Where the replicas of <see cref="Interpreter.RunReplicated"/> (one thread each) meet: one slot per
/// (collective op, occurrence, group), filled by each member in turn and returned to all when full. A replica
/// that finishes or fails without reaching a collective its group waits in makes the waiters fail, naming it,
/// instead of hanging.
/// </summary>
internal sealed class Rendezvous(int world)
{
    internal readonly record struct Key(Operation Op, long Occurrence, int Group);

    private sealed class Slot(int size)
    {
        public readonly Tensor?[] Values = new Tensor?[size];
        public int Arrived, Left;
    }

    private readonly object _gate = new();
    private readonly Dictionary<Key, Slot> _slots = [];

    /// <summary>Why each replica stopped ("finished", "failed"), or null while it runs.</summary>
    private readonly string?[] _gone = new string?[world];

    public IReadOnlyList<Tensor> Exchange(Key key, int[] members, int position, Tensor x)
    {
        lock (_gate)
        {
            if (!_slots.TryGetValue(key, out var slot)) _slots[key] = slot = new Slot(members.Length);
            slot.Values[position] = x;
            if (++slot.Arrived == members.Length) Monitor.PulseAll(_gate);
            while (slot.Arrived < members.Length)
            {
                for (int p = 0; p < members.Length; p++)
                    if (slot.Values[p] is null && _gone[members[p]] is { } why)
                        throw new IrException($"'{key.Op.Name}' waits for replica {members[p]}, which {why} without reaching it (replicas must run the same collectives in the same order)",
                            key.Op.Location);
                Monitor.Wait(_gate);
            }
            if (++slot.Left == members.Length) _slots.Remove(key);
            return slot.Values!;
        }
    }

    /// <summary>Replica <paramref name="replica"/> has stopped running; <paramref name="why"/> says how.</summary>
    public void Leave(int replica, string why)
    {
        lock (_gate)
        {
            _gone[replica] = why;
            Monitor.PulseAll(_gate);
        }
    }
}

public sealed partial class Interpreter
{
    /// <summary>Stack of each replica's thread: the interpreter recurses per call and region, as deep as the main thread allows.</summary>
    private const int ReplicaStackBytes = 16 << 20;

    /// <summary>
    /// Runs function <paramref name="functionName"/> (the entry when null) as N replicas, N =
    /// <paramref name="perReplicaInputs"/>.Count, replica r on inputs r, each on a thread of its own; their
    /// collectives meet (<see cref="Ops.CollectiveOp"/>) and compute exactly as the op defines: reductions in
    /// f64 in rank order, rounded once, so every replica gets the same bits on every run. Returns each
    /// replica's output, in replica order; when one fails, the diagnostics of each failed replica, prefixed
    /// with its index (an exception that is not an IR error, a bug, is rethrown here, as <see cref="Run"/> throws it).
    /// </summary>
    public Result<IReadOnlyList<InterpreterOutput>> RunReplicated(string? functionName, IReadOnlyList<IReadOnlyList<Tensor>> perReplicaInputs)
    {
        int n = perReplicaInputs.Count;
        if (n == 0) return Result<IReadOnlyList<InterpreterOutput>>.Failure(new Diagnostic("RunReplicated needs at least one replica's inputs"));
        var rendezvous = new Rendezvous(n);
        var results = new Result<InterpreterOutput>[n];
        var crashes = new System.Runtime.ExceptionServices.ExceptionDispatchInfo?[n];
        var threads = new Thread[n];
        for (int r = 0; r < n; r++)
        {
            int replica = r;
            threads[r] = new Thread(() =>
            {
                try
                {
                    results[replica] = new Interpreter(_module, Options, new ReplicaContext(replica, n, rendezvous)).Run(functionName, perReplicaInputs[replica]);
                }
                catch (Exception e)
                {
                    // Not an IR error (those are diagnostics): a bug, rethrown on the caller's thread below, as Run would throw it.
                    crashes[replica] = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
                    results[replica] = Result<InterpreterOutput>.Failure(new Diagnostic(e.Message));
                }
                finally
                {
                    rendezvous.Leave(replica, results[replica] is { Ok: true } ? "finished" : "failed");
                }
            }, ReplicaStackBytes) { IsBackground = true, Name = $"replica {r}" };
        }
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        crashes.FirstOrDefault(c => c is not null)?.Throw();
        var failures = results.SelectMany((res, r) => res.Ok ? [] : res.Diagnostics.Select(d => d with { Message = $"replica {r}: {d.Message}" })).ToList();
        if (failures.Count > 0) return Result<IReadOnlyList<InterpreterOutput>>.Failure(failures);
        return Result<IReadOnlyList<InterpreterOutput>>.Success(results.Select(res => res.Value!).ToImmutableArray());
    }
}
