using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>remat</c>: fits each function into <see cref="PassOptions.MemoryBudget"/> bytes of arena by recomputing
/// values late instead of keeping them live — after <c>differentiate</c>, the forward activations the backward
/// ops read. Without a budget the pass does nothing.
/// <para>
/// It runs on the kernels: in the default pipeline after <c>fuse</c>, so a candidate is a fused kernel (a relu
/// loop, a GEMM with its epilogue) or a plain op, and its estimate is the compiled arena — the function ordered
/// as <c>schedule</c> orders it (<see cref="MemoryScheduling.Schedule(Function)"/>), then <see cref="BufferAssignment"/>'s
/// arena planned with the target's options (<see cref="PassOptions.MemoryPlan"/>): exactly what
/// <c>gcc-cli ir --memory-report</c> prints after the pipeline (<see cref="Estimate"/>, <see cref="Outcome"/>).
/// </para>
/// <para>
/// Policy — greedy, fewest extra weighted flops per byte: in the scheduled order, find the step with the most live
/// bytes (the peak step; liveness as <see cref="ScheduleProblem"/> counts it, variable updates written into their
/// variables counting nothing). Every single-result pure op (or fusion of pure ops) whose result is defined before
/// that step, is not read at it and is read after it is a candidate: a fresh copy of its op is placed right before
/// the first reader after the peak, and the readers after the peak read the copy, so the original dies at its last
/// reader before the peak. An operand of a copy that is not live there anyway (an argument, a constant, or a value
/// read at or after that point) is recomputed as well (at most <see cref="MaxChain"/> ops per candidate), else kept
/// live longer, which the saving accounts for. A candidate's saving is the drop of the bytes live at the peak step
/// in the new order; its price the copies' <see cref="OpCost.WeightedFlops"/> (<see cref="OpDef.Cost"/>, a fusion's
/// is its body's). Candidates are tried cheapest per byte first: the first whose new order keeps every step at or
/// below the old peak wins; one whose copies raise another step is judged by rescheduling it and planning its arena
/// (at most <see cref="MaxRescheduled"/> such per step). Candidates that recompute a contraction (a
/// <see cref="OpTraits.Contraction"/> op or a kernel holding one) are only tried when no other one helps: a matmul
/// or a convolution costs far more per byte than the elementwise kernels around it. The chosen function is
/// rescheduled, its arena planned, and the loop repeats until the arena is within the budget, no candidate helps,
/// or <see cref="MaxSteps"/> values were recomputed. The function with the smallest arena is kept — best effort
/// when the budget cannot be met (a budget below what the ops need at once is no error); when nothing lowers the
/// arena the function is returned unchanged. Copies carry <c>loc("rematerialized")</c> (after the original's
/// source name, if it has one).
/// </para>
/// <para>
/// The gap to the references: PyTorch's AOTAutograd partitions forward and backward by a min-cut over the whole
/// graph (choosing what to save and what to recompute at once, optimal for its cost model) and Checkmate solves
/// the schedule and recomputation jointly as an integer program; this greedy one-value-at-a-time heuristic can
/// miss combinations that only help together (two values crossing a peak that only drops when both go), does not
/// reorder beyond what <c>schedule</c> finds, and clones only single-result ops of a function body (not in nested
/// regions). The pass must run after the last <c>canonicalize</c>/<c>cse</c>, which would merge each copy back
/// into its original.
/// </para>
/// </summary>
public sealed class Rematerialization : FunctionPass
{
    public override string Name => "remat";
    public override string Description => "recompute cheap values late instead of keeping them live, to fit the memory budget";

    /// <summary>At most this many ops are cloned for one recomputed value (the value's op and the cheap chain under it).</summary>
    public const int MaxChain = 8;

    /// <summary>
    /// Per step and kind, at most this many candidates whose clones would raise the peak of the current order are
    /// judged by rescheduling (which usually places the clones better) and planning the arena.
    /// </summary>
    public const int MaxRescheduled = 6;

    /// <summary>At most this many values are recomputed per function.</summary>
    public const int MaxSteps = 256;

    public const string Marker = "rematerialized";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options) =>
        options.MemoryBudget is { } budget ? Apply(f, budget, options.MemoryPlan?.Invoke(f)).Function : f;

    /// <summary>The outcome for one function: the arena estimate before and after, and the extra work.</summary>
    public sealed record Outcome(Function Function, long PeakBefore, long PeakAfter, double ExtraWeightedFlops, int Recomputed);

    /// <summary>The arena <paramref name="f"/> gets once scheduled: what the memory report says after <c>schedule</c>.</summary>
    public static long Estimate(Function f, BufferOptions? options = null) =>
        BufferAssignment.Compute(MemoryScheduling.Schedule(f), options).ArenaBytes;

    /// <summary>Rematerializes in <paramref name="f"/> (arenas planned with <paramref name="plan"/>) until its arena estimate is at most <paramref name="budget"/> bytes or nothing helps.</summary>
    public static Outcome Apply(Function f, long budget, BufferOptions? plan = null)
    {
        var current = MemoryScheduling.Schedule(f);
        var layout = BufferAssignment.Compute(current, plan);
        long before = layout.ArenaBytes;
        var best = new Outcome(f, before, before, 0, 0);
        if (before <= budget) return best;
        double extra = 0;
        for (int step = 1; step <= MaxSteps; step++)
        {
            var choice = Choose(current, plan, layout);
            if (choice is null) break;
            extra += choice.Value.Flops;
            current = MemoryScheduling.Schedule(current.WithBody(current.Body.WithOperations(choice.Value.Ops)));
            layout = BufferAssignment.Compute(current, plan);
            long arena = layout.ArenaBytes;
            if (arena < best.PeakAfter) best = new Outcome(current, before, arena, extra, step);
            if (arena <= budget) break;
        }
        return best;
    }

    private readonly record struct Choice(ImmutableArray<Operation> Ops, double Flops, long Saved);

    /// <summary>The chosen candidate at the current peak step of <paramref name="f"/> (scheduled, laid out as <paramref name="layout"/>), or null when none helps.</summary>
    private static Choice? Choose(Function f, BufferOptions? plan, FunctionBuffers layout)
    {
        var ops = f.Body.Operations;
        long arena = layout.ArenaBytes;
        // Variable updates written into their variables take no arena: they do not count towards a step's bytes.
        var free = layout.Values.Where(v => v.Kind == BufferKind.VariableAlias).Select(v => v.Value)
            .ToHashSet<Value>(ReferenceEqualityComparer.Instance);
        var live = new Liveness(ops, free);
        var steps = live.Steps(ops);
        if (steps.Length == 0) return null;
        long peak = steps.Max();
        int at = Array.IndexOf(steps, peak);

        // First without recomputing any contraction; only when that finds nothing, with them.
        foreach (var contractions in new[] { false, true })
        {
            var found = new List<(Choice Choice, bool RaisesPeak)>();
            for (int d = 0; d < at; d++)
            {
                var op = ops[d];
                if (!Clonable(op) || (!contractions && HasContraction(op))) continue;
                var v = op.Result;
                if (live.Size(v) == 0 || live.ToEnd(v) || live.LastUse(v) <= at || live.ReadAt(v, at)) continue;
                var late = live.Readers(v).Where(i => i > at).ToList();
                // Readers after the peak must read it as an operand (not from a nested region) to be redirected.
                if (late.Any(i => ReadInRegions(ops[i], v))) continue;
                var candidate = Rewrite(ops, live, d, late, contractions);
                if (candidate is null) continue;
                var (newOps, flops) = candidate.Value;
                var newSteps = new Liveness(newOps, free).Steps(newOps);
                long saved = steps[at] - newSteps[at]; // clones go after the peak step, so its index is unchanged
                if (saved > 0) found.Add((new Choice(newOps, flops, saved), newSteps.Max() > peak));
            }
            // Cheapest per byte first; the first that lowers the peak of this order wins, else the first of the
            // few rescheduled ones whose arena is smaller.
            int rescheduled = 0;
            foreach (var (choice, raises) in found.OrderBy(x => x.Choice, Comparer<Choice>.Create(Compare)))
            {
                if (!raises) return choice;
                if (rescheduled++ >= MaxRescheduled) continue;
                var g = MemoryScheduling.Schedule(f.WithBody(f.Body.WithOperations(choice.Ops)));
                if (BufferAssignment.Compute(g, plan).ArenaBytes < arena) return choice;
            }
        }
        return null;

        // Fewest flops per byte (cross-multiplied to stay exact), then the larger saving; else the earlier.
        static int Compare(Choice x, Choice y)
        {
            int c = (x.Flops * y.Saved).CompareTo(y.Flops * x.Saved);
            return c != 0 ? c : y.Saved.CompareTo(x.Saved);
        }
    }

    /// <summary>
    /// <paramref name="ops"/> with the op at <paramref name="d"/> (and the cheap chain it needs) cloned right before
    /// the first of <paramref name="late"/>, whose readers then read the clone; null when that is impossible.
    /// </summary>
    private static (ImmutableArray<Operation> Ops, double Flops)? Rewrite(
        ImmutableArray<Operation> ops, Liveness live, int d, List<int> late, bool contractions)
    {
        int first = late[0];
        var clones = new List<Operation>();
        int reserved = 0; // ops committed to the chain, clones included once finished
        var cloned = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
        double flops = 0;

        Value? Recompute(int index)
        {
            var op = ops[index];
            if (reserved >= MaxChain) return null;
            reserved++;
            var operands = ImmutableArray.CreateBuilder<Value>(op.Operands.Length);
            foreach (var w in op.Operands)
            {
                if (cloned.TryGetValue(w, out var c)) { operands.Add(c); continue; }
                if (live.Def(w) is not { } wd || live.Size(w) == 0 || live.LastUse(w) >= first || live.ToEnd(w)
                    || !Clonable(ops[wd]) || (!contractions && HasContraction(ops[wd])))
                {
                    operands.Add(w); // free (argument, constant, live there anyway) or kept live longer
                    continue;
                }
                operands.Add(Recompute(wd) ?? w);
            }
            // A fresh copy (a fusion's body too: every value is defined once), reading the recomputed operands.
            var copy = Cloning.Clone([op], new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance))[0];
            var clone = new Operation(op.Def, operands.MoveToImmutable(), op.Attributes, copy.Results, copy.Regions, op.Location,
                op.SourceName is { } s && !s.EndsWith(Marker, StringComparison.Ordinal) ? $"{s} {Marker}" : op.SourceName ?? Marker);
            clones.Add(clone);
            cloned[op.Result] = clone.Result;
            var cost = op.Def.Cost(op);
            flops += cost.WeightedFlops;
            return clone.Result;
        }

        var root = Recompute(d);
        if (root is null) return null;
        var v = ops[d].Result;
        var lateSet = late.ToHashSet();
        var result = ImmutableArray.CreateBuilder<Operation>(ops.Length + clones.Count);
        for (int i = 0; i < ops.Length; i++)
        {
            if (i == first) result.AddRange(clones);
            var op = ops[i];
            if (lateSet.Contains(i))
                op = op.With(operands: [.. op.Operands.Select(o => ReferenceEquals(o, v) ? root : o)]);
            result.Add(op);
        }
        return (result.MoveToImmutable(), flops);
    }

    /// <summary>Ops that can be cloned: one result, not a constant (constants take no arena), and pure: foldable without regions, or a fusion of such ops (a kernel).</summary>
    private static bool Clonable(Operation op) =>
        op.Results.Length == 1 && !op.Def.IsTerminator && !ArenaModel.IsReadOnly(op) && Pure(op);

    private static bool Pure(Operation op) => op.Def is FusionOp
        ? op.Regions[0].Operations.All(o => o.Def.IsTerminator || o.Def is ConstantOp || Pure(o))
        : op.Regions.IsEmpty && op.Def.Has(OpTraits.Foldable) && !op.HasSideEffects;

    /// <summary>A contraction, or a kernel with one (an output fusion).</summary>
    private static bool HasContraction(Operation op) =>
        op.Def.Has(OpTraits.Contraction) || op.Def is FusionOp && op.Regions[0].Operations.Any(o => o.Def.Has(OpTraits.Contraction));

    private static bool ReadInRegions(Operation op, Value v)
    {
        bool found = false;
        foreach (var r in op.Regions)
            foreach (var inner in r.Operations)
                ArenaModel.ForEachUse(inner, u => found |= ReferenceEquals(u, v));
        return found;
    }

    /// <summary>
    /// The liveness of the top-level values of an op order, by <see cref="ScheduleProblem"/>'s rules: a value is
    /// live from its op to its last reader; values the terminator reads live to the end; constants, arguments and
    /// the given free values (variable updates computed into their variables) take nothing.
    /// </summary>
    private sealed class Liveness
    {
        private readonly Dictionary<Value, int> _def = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<Value, List<int>> _readers = new(ReferenceEqualityComparer.Instance);
        private readonly HashSet<Value> _toEnd = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<Value, long> _size = new(ReferenceEqualityComparer.Instance);
        private readonly int _count;

        public Liveness(ImmutableArray<Operation> ops, IReadOnlySet<Value> free)
        {
            _count = ops.Length > 0 && ops[^1].Def.IsTerminator ? ops.Length - 1 : ops.Length;
            for (int i = 0; i < ops.Length; i++)
            {
                if (i < _count)
                    foreach (var r in ops[i].Results)
                    {
                        _def[r] = i;
                        _size[r] = ArenaModel.IsReadOnly(ops[i]) || free.Contains(r) ? 0 : ArenaModel.Align(r.Type.ByteSize, ArenaModel.DefaultAlignment);
                    }
                int at = i;
                ArenaModel.ForEachUse(ops[i], u =>
                {
                    if (!_def.ContainsKey(u)) return;
                    if (at >= _count) { _toEnd.Add(u); return; }
                    var list = _readers.TryGetValue(u, out var l) ? l : _readers[u] = [];
                    if (list.Count == 0 || list[^1] != at) list.Add(at);
                });
            }
        }

        public int? Def(Value v) => _def.TryGetValue(v, out var d) ? d : null;
        public long Size(Value v) => _size.GetValueOrDefault(v);
        public bool ToEnd(Value v) => _toEnd.Contains(v);
        public IReadOnlyList<int> Readers(Value v) => _readers.TryGetValue(v, out var l) ? l : [];
        public int LastUse(Value v) => _readers.TryGetValue(v, out var l) && l.Count > 0 ? l[^1] : -1;
        public bool ReadAt(Value v, int at) => _readers.TryGetValue(v, out var l) && l.BinarySearch(at) >= 0;

        /// <summary>The bytes live at each op: what was live before it, its results and its nested regions' values.</summary>
        public long[] Steps(ImmutableArray<Operation> ops)
        {
            var steps = new long[_count];
            var dies = new long[_count + 1];
            foreach (var (v, readers) in _readers)
                if (!_toEnd.Contains(v) && readers.Count > 0) dies[readers[^1]] += _size[v];
            long liveBytes = 0;
            for (int i = 0; i < _count; i++)
            {
                long outBytes = 0, kept = 0;
                foreach (var r in ops[i].Results)
                {
                    outBytes += _size[r];
                    if (_toEnd.Contains(r) || _readers.ContainsKey(r)) kept += _size[r];
                }
                steps[i] = liveBytes + outBytes + ArenaModel.NestedBytes(ops[i], ArenaModel.DefaultAlignment);
                liveBytes += kept - dies[i];
            }
            return steps;
        }
    }
}
