using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>schedule</c>: reorders the ops of every region (a topological order: each op after the ops
/// whose results it or its nested regions read; the terminator stays last) to minimise the peak
/// live memory, the arena that <see cref="BufferAssignment"/> then lays out. Nested regions are
/// scheduled recursively, each on its own.
/// <para>
/// Cost model (<see cref="ScheduleProblem"/>, shared with <see cref="ArenaModel"/>): a value is live
/// from the op that defines it to its last use, inclusive; at each op the live bytes are the values
/// already live plus the op's results plus the values of its nested regions (held for the whole op,
/// see <see cref="BufferAssignment"/>). Sizes are rounded up to the arena alignment. Function
/// arguments belong to the caller and constants are read-only data, so neither counts. Values the
/// terminator returns are written to the caller's buffers after the last op, so they are arena values
/// live to the end. In-place reuse is not modelled here (it only lowers the real arena).
/// </para>
/// <para>
/// Candidates: the original order, XLA's list scheduler (greedy on bytes freed minus bytes allocated,
/// ties by original order), a DFS post-order (operands with the larger subtree first, as XLA's DFS
/// scheduler), and for regions of at most <see cref="ExactLimit"/> ops the optimum by dynamic
/// programming over the sets of scheduled ops. The first candidate with the smallest peak wins, so the
/// original order is kept unless something is strictly better: deterministic and stable.
/// </para>
/// </summary>
public sealed class MemoryScheduling : FunctionPass
{
    /// <summary>Regions with at most this many ops (terminator excluded) are also scheduled exactly.</summary>
    public const int ExactLimit = 12;

    public override string Name => "schedule";
    public override string Description => "reorder ops to minimise peak live memory";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options) => Schedule(f);

    /// <summary><paramref name="f"/> with its body scheduled as the pass schedules it (variable updates after their variable's readers).</summary>
    public static Function Schedule(Function f) => f.WithBody(Schedule(f.Body, updates: Updates(f)));

    /// <summary>The (argument, new value) pairs of the variable updates <paramref name="f"/> returns.</summary>
    private static List<(Value Argument, Value Update)> Updates(Function f)
    {
        var yielded = f.Body.Yielded;
        var list = new List<(Value, Value)>();
        for (int i = 0; i < f.ResultInfos.Length && i < yielded.Length; i++)
            if (f.ResultInfos[i].Updates is { } arg) list.Add((f.Arguments[arg], yielded[i]));
        return list;
    }

    /// <summary>
    /// Schedules <paramref name="region"/> and, first, the regions nested in it. With <paramref name="updates"/>
    /// (the function's variable updates), the op computing each new value comes after every other reader of
    /// the variable where the graph allows, so code generation can write the new value over the old in place.
    /// </summary>
    public static Region Schedule(Region region, bool exact = true, IReadOnlyList<(Value Argument, Value Update)>? updates = null)
    {
        var ops = region.Operations.Select(op =>
            op.Regions.IsEmpty ? op : op.With(regions: [.. op.Regions.Select(r => Schedule(r, exact))])).ToImmutableArray();
        var problem = new ScheduleProblem(ops, ArenaModel.DefaultAlignment);
        foreach (var (argument, update) in updates ?? [])
        {
            int writer = problem.Count - 1;
            while (writer >= 0 && !ops[writer].Results.Contains(update)) writer--;
            if (writer < 0) continue;
            for (int reader = 0; reader < problem.Count; reader++)
                if (reader != writer && ArenaModel.Uses(ops[reader], argument)) problem.AddOrdering(reader, writer);
        }
        var order = problem.Best(exact);
        return region.WithOperations([.. order.Select(i => ops[i]), .. ops.Skip(problem.Count)]);
    }
}

/// <summary>
/// One region's scheduling problem: the nodes are the region's ops except the terminator (index =
/// original position), with their dependencies and the arena cost of their results. Public so that
/// tests can compare heuristics with the exact optimum.
/// </summary>
public sealed class ScheduleProblem
{
    private readonly int[][] _preds;       // distinct nodes each node depends on (or must follow)
    private readonly int[][] _uses;        // distinct region values each node reads (indices into _size)
    private readonly int[][] _defs;        // values each node defines
    private readonly int[] _userCount;     // per value: distinct nodes that read it
    private readonly bool[] _toEnd;        // per value: read by the terminator (live to the end)
    private readonly long[] _size;         // per value: aligned arena bytes (0 for constants)
    private readonly long[] _temp;         // per node: bytes of its nested regions' values

    /// <summary>The number of schedulable ops (the region's ops less the terminator).</summary>
    public int Count { get; }

    public ScheduleProblem(IReadOnlyList<Operation> ops, long alignment = ArenaModel.DefaultAlignment)
    {
        Count = ops.Count > 0 && ops[^1].Def.IsTerminator ? ops.Count - 1 : ops.Count;
        var index = new Dictionary<Value, int>(ReferenceEqualityComparer.Instance);
        var owner = new List<int>();
        var sizes = new List<long>();
        _defs = new int[Count][];
        _temp = new long[Count];
        for (int i = 0; i < Count; i++)
        {
            var defs = new int[ops[i].Results.Length];
            for (int k = 0; k < defs.Length; k++)
            {
                defs[k] = index.Count;
                index[ops[i].Results[k]] = defs[k];
                owner.Add(i);
                sizes.Add(ArenaModel.IsReadOnly(ops[i]) ? 0 : ArenaModel.Align(ops[i].Results[k].Type.ByteSize, alignment));
            }
            _defs[i] = defs;
            _temp[i] = ArenaModel.NestedBytes(ops[i], alignment);
        }
        _size = [.. sizes];
        _userCount = new int[_size.Length];
        _toEnd = new bool[_size.Length];
        _uses = new int[Count][];
        _preds = new int[Count][];
        for (int i = 0; i < Count; i++)
        {
            var used = new SortedSet<int>();
            ArenaModel.ForEachUse(ops[i], v => { if (index.TryGetValue(v, out var x)) used.Add(x); });
            _uses[i] = [.. used];
            foreach (var x in used) _userCount[x]++;
            _preds[i] = [.. used.Select(x => owner[x]).Distinct().Order()];
        }
        for (int i = Count; i < ops.Count; i++)
            ArenaModel.ForEachUse(ops[i], v => { if (index.TryGetValue(v, out var x)) _toEnd[x] = true; });
    }

    /// <summary>The peak live bytes of running the nodes in <paramref name="order"/>.</summary>
    public long Peak(IReadOnlyList<int> order) => Cost(order).Peak;

    /// <summary>The peak, and the sum over the steps of the live bytes (a tie-breaker that rewards freeing early).</summary>
    public (long Peak, long Total) Cost(IReadOnlyList<int> order)
    {
        var remaining = (int[])_userCount.Clone();
        long live = 0, peak = 0, total = 0;
        foreach (var x in order)
        {
            long outBytes = 0;
            foreach (var v in _defs[x]) outBytes += _size[v];
            long step = live + outBytes + _temp[x];
            peak = Math.Max(peak, step);
            total += step;
            foreach (var v in _defs[x])
                if (remaining[v] > 0 || _toEnd[v]) live += _size[v];
            foreach (var v in _uses[x])
                if (--remaining[v] == 0 && !_toEnd[v]) live -= _size[v];
        }
        return (peak, total);
    }

    public ImmutableArray<int> Original => [.. Enumerable.Range(0, Count)];

    /// <summary>
    /// Makes <paramref name="after"/> follow <paramref name="before"/> although it reads nothing of it (an
    /// anti-dependence: <paramref name="after"/> overwrites what <paramref name="before"/> reads), unless
    /// <paramref name="before"/> depends on <paramref name="after"/>; returns whether the edge was added.
    /// </summary>
    public bool AddOrdering(int before, int after)
    {
        if (before == after || _preds[after].Contains(before) || Reaches(after, before)) return false;
        _preds[after] = [.. _preds[after].Append(before).Order()];
        return true;
    }

    /// <summary>Whether <paramref name="to"/> depends on <paramref name="from"/>: a walk up <paramref name="to"/>'s predecessors.</summary>
    private bool Reaches(int from, int to)
    {
        var seen = new bool[Count];
        var work = new Stack<int>([to]);
        while (work.Count > 0)
            foreach (var p in _preds[work.Pop()])
            {
                if (p == from) return true;
                if (!seen[p]) { seen[p] = true; work.Push(p); }
            }
        return false;
    }

    /// <summary>The first of the candidate orders with the smallest peak (the original order first, when it respects every ordering).</summary>
    public ImmutableArray<int> Best(bool exact = true)
    {
        var best = IsTopological(Original) ? Original : ListOrder();
        long bestPeak = Peak(best), floor = LowerBound();
        var makers = new List<Func<ImmutableArray<int>>> { ListOrder, DfsOrder, HeuristicOrder };
        if (exact && Count <= MemoryScheduling.ExactLimit) makers.Add(ExactOrder);
        foreach (var make in makers)
        {
            if (bestPeak <= floor) break; // provably optimal already: skip the costlier candidates
            var c = make();
            long p = Peak(c);
            if (p < bestPeak) (best, bestPeak) = (c, p);
        }
        return best;
    }

    /// <summary>
    /// A bound no order beats: each op needs its operands, results and nested values at once, and the
    /// values read by the terminator are all live at the end.
    /// </summary>
    public long LowerBound()
    {
        long bound = 0, atEnd = 0;
        for (int x = 0; x < Count; x++)
        {
            long step = _temp[x];
            foreach (var v in _defs[x]) step += _size[v];
            foreach (var v in _uses[x]) step += _size[v];
            bound = Math.Max(bound, step);
        }
        for (int v = 0; v < _size.Length; v++)
            if (_toEnd[v]) atEnd += _size[v];
        return Math.Max(bound, atEnd);
    }

    /// <summary>
    /// The heuristics alone, ignoring the original order: the better of the list and DFS orders, each
    /// improved by <see cref="Improve"/>.
    /// </summary>
    public ImmutableArray<int> HeuristicOrder()
    {
        var (a, b) = (Improve(ListOrder()), Improve(DfsOrder()));
        return Cost(b).CompareTo(Cost(a)) < 0 ? b : a;
    }

    /// <summary>Above this many ops <see cref="Improve"/> (cubic) is skipped.</summary>
    public const int ImproveLimit = 250;

    /// <summary>
    /// Local search: moves single ops to other places their dependencies allow while that lowers the
    /// (peak, total) cost, at most a few sweeps. Greedy orders often have one op placed too early
    /// (allocating before a big buffer is freed); one move fixes that.
    /// </summary>
    public ImmutableArray<int> Improve(ImmutableArray<int> start, int sweeps = 4)
    {
        if (Count > ImproveLimit || Count < 2) return start;
        var order = start.ToList();
        var best = Cost(order);
        var succs = Successors();
        for (int sweep = 0; sweep < sweeps; sweep++)
        {
            bool improved = false;
            for (int i = 0; i < order.Count; i++)
            {
                int x = order[i];
                var pos = new int[Count];
                for (int k = 0; k < order.Count; k++) pos[order[k]] = k;
                int lo = _preds[x].Select(p => pos[p] + 1).DefaultIfEmpty(0).Max();
                int hi = succs[x].Select(s => pos[s] - 1).DefaultIfEmpty(order.Count - 1).Min();
                for (int j = lo; j <= hi; j++)
                {
                    if (j == i) continue;
                    order.RemoveAt(i);
                    order.Insert(j, x);
                    var c = Cost(order);
                    if (c.CompareTo(best) < 0)
                    {
                        best = c;
                        improved = true;
                        break;
                    }
                    order.RemoveAt(j);
                    order.Insert(i, x);
                }
            }
            if (!improved) break;
        }
        return [.. order];
    }

    /// <summary>
    /// XLA's list scheduler: among the ready nodes take the one with the most bytes freed (operands it
    /// reads last) minus bytes allocated (its results), ties by original position.
    /// </summary>
    public ImmutableArray<int> ListOrder()
    {
        var remaining = (int[])_userCount.Clone();
        var waiting = _preds.Select(p => p.Length).ToArray();
        var succs = Successors();
        var ready = new SortedSet<int>(Enumerable.Range(0, Count).Where(i => waiting[i] == 0));
        var order = ImmutableArray.CreateBuilder<int>(Count);
        while (ready.Count > 0)
        {
            int pick = -1;
            long bestGain = long.MinValue;
            foreach (var x in ready)
            {
                long gain = 0;
                foreach (var v in _defs[x]) gain -= _size[v];
                foreach (var v in _uses[x])
                    if (remaining[v] == 1 && !_toEnd[v]) gain += _size[v];
                if (gain > bestGain) (pick, bestGain) = (x, gain);
            }
            ready.Remove(pick);
            order.Add(pick);
            foreach (var v in _uses[pick]) remaining[v]--;
            foreach (var s in succs[pick])
                if (--waiting[s] == 0) ready.Add(s);
        }
        return order.MoveToImmutable();
    }

    /// <summary>
    /// A DFS post-order from the sinks (in original order): before a node, its predecessors, those
    /// with more other readers first and then those with the larger subtree (bytes of everything they
    /// need, counted with repeats and saturating), so that big subcomputations finish and free before
    /// the next begins.
    /// </summary>
    public ImmutableArray<int> DfsOrder()
    {
        var succs = Successors();
        var subtree = new long[Count];
        var extraUsers = new int[Count];
        for (int i = 0; i < Count; i++)
        {
            long s = _temp[i];
            foreach (var v in _defs[i]) s = SatAdd(s, _size[v]);
            foreach (var p in _preds[i]) s = SatAdd(s, subtree[p]);
            subtree[i] = s;
            foreach (var v in _defs[i]) extraUsers[i] += Math.Max(0, _userCount[v] + (_toEnd[v] ? 1 : 0) - 1);
        }
        var done = new bool[Count];
        var order = ImmutableArray.CreateBuilder<int>(Count);
        var stack = new Stack<(int Node, int Next, int[] Preds)>();
        for (int root = 0; root < Count; root++)
        {
            if (succs[root].Count > 0 || done[root]) continue;
            Push(root);
            while (stack.Count > 0)
            {
                var (node, next, preds) = stack.Pop();
                while (next < preds.Length && done[preds[next]]) next++;
                if (next < preds.Length)
                {
                    stack.Push((node, next + 1, preds));
                    Push(preds[next]);
                    continue;
                }
                done[node] = true;
                order.Add(node);
            }
        }
        return order.MoveToImmutable();

        void Push(int n) => stack.Push((n, 0, [.. _preds[n]
            .OrderByDescending(p => extraUsers[p]).ThenByDescending(p => subtree[p]).ThenBy(p => p)]));
    }

    private static long SatAdd(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    /// <summary>
    /// The optimum by dynamic programming over the sets of scheduled nodes: the live bytes after a set
    /// depend only on the set, so the best peak of a prefix set is the minimum over its last node.
    /// Exponential: only for <see cref="MemoryScheduling.ExactLimit"/> nodes or so (at most 20).
    /// </summary>
    public ImmutableArray<int> ExactOrder()
    {
        if (Count > 20) throw new InvalidOperationException($"exact scheduling of {Count} ops is too expensive");
        int n = Count, full = (1 << n) - 1;
        var predMask = _preds.Select(p => p.Aggregate(0, (m, x) => m | (1 << x))).ToArray();
        var best = new long[full + 1];
        var last = new int[full + 1];
        Array.Fill(best, long.MaxValue);
        best[0] = 0;
        for (int s = 0; s <= full; s++)
        {
            if (best[s] == long.MaxValue) continue;
            long live = LiveAfter(s);
            for (int x = 0; x < n; x++)
            {
                if ((s & (1 << x)) != 0 || (predMask[x] & ~s) != 0) continue;
                long step = live + _temp[x];
                foreach (var v in _defs[x]) step += _size[v];
                long cost = Math.Max(best[s], step);
                int t = s | (1 << x);
                if (cost < best[t]) (best[t], last[t]) = (cost, x);
            }
        }
        var order = new int[n];
        for (int s = full, k = n - 1; k >= 0; k--)
        {
            order[k] = last[s];
            s &= ~(1 << last[s]);
        }
        return [.. order];
    }

    /// <summary>Bytes live after running exactly the nodes in <paramref name="set"/> (a bit mask).</summary>
    private long LiveAfter(int set)
    {
        long live = 0;
        for (int x = 0; x < Count; x++)
        {
            if ((set & (1 << x)) == 0) continue;
            foreach (var v in _defs[x])
            {
                if (_toEnd[v]) { live += _size[v]; continue; }
                int readers = 0;
                for (int y = 0; y < Count; y++)
                    if ((set & (1 << y)) != 0 && Array.BinarySearch(_uses[y], v) >= 0) readers++;
                if (readers < _userCount[v]) live += _size[v];
            }
        }
        return live;
    }

    /// <summary>Whether <paramref name="order"/> is a permutation of the nodes with each after its predecessors.</summary>
    public bool IsTopological(IReadOnlyList<int> order)
    {
        if (order.Count != Count) return false;
        var pos = new int[Count];
        Array.Fill(pos, -1);
        for (int k = 0; k < order.Count; k++)
        {
            if (order[k] < 0 || order[k] >= Count || pos[order[k]] >= 0) return false;
            pos[order[k]] = k;
        }
        for (int i = 0; i < Count; i++)
            foreach (var p in _preds[i])
                if (pos[p] > pos[i]) return false;
        return true;
    }

    private List<int>[] Successors()
    {
        var succs = Enumerable.Range(0, Count).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < Count; i++)
            foreach (var p in _preds[i]) succs[p].Add(i);
        return succs;
    }
}
