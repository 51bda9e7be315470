using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// Forms the fusion groups of one region (the <c>fuse</c> pass's planning half). The region's ops
/// become graph nodes; a node is one op or a group of ops that will be one kernel. Phase 1 walks
/// consumers last to first and pulls producers into them (XLA's instruction fusion): a producer whose
/// every user is in the group moves in; one with outside users is copied in only when the cost model
/// says the duplicated compute is worth the traffic. Copies read the producer's own inputs, so phase 1
/// cannot create cycles. Phase 2 merges sibling groups that read the same input into one multi-output
/// kernel when they share an iteration space and no path leads from one to the other.
/// </summary>
internal sealed class FusionPlanner
{
    internal sealed class Node(int index)
    {
        /// <summary>Op indices in the region, ascending (a topological order); copies included.</summary>
        public SortedSet<int> Members { get; } = [index];
        public bool Removed { get; set; }
        public bool Visited { get; set; }
        public HashSet<Value> Inputs { get; } = new(ReferenceEqualityComparer.Instance);
        public int Root => Members.Max;
    }

    private readonly FusionCostModel _model;
    private readonly ImmutableArray<Operation> _ops;
    private readonly Node[] _home;
    private readonly Dictionary<Value, Node> _provider = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Value, int> _definer = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Value, HashSet<Node>> _consumers = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Value> _returned = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Value> _originallyUsed = new(ReferenceEqualityComparer.Instance);
    private readonly int[] _copies;

    public FusionPlanner(Region region, FusionCostModel model)
    {
        _model = model;
        _ops = region.Terminator is null ? region.Operations : region.Operations[..^1];
        foreach (var v in region.Yielded) _returned.Add(v);
        _home = new Node[_ops.Length];
        _copies = new int[_ops.Length];
        _inPlace = new(ConcatInPlace.Groups(region).SelectMany(g => g.Concats), ReferenceEqualityComparer.Instance);
        for (int i = 0; i < _ops.Length; i++)
        {
            var n = _home[i] = new Node(i);
            foreach (var r in _ops[i].Results)
            {
                _provider[r] = n;
                _definer[r] = i;
            }
            Recompute(n);
            foreach (var v in n.Inputs) _originallyUsed.Add(v);
        }
    }

    public IReadOnlyList<Node> Nodes => _home.Where(n => !n.Removed).Distinct().ToList();
    public Operation Op(int i) => _ops[i];
    public bool IsProvider(Node n, Value v) => _provider.TryGetValue(v, out var p) && p == n;
    public bool UsedOutside(Node n, Value v) =>
        _returned.Contains(v) || (_consumers.TryGetValue(v, out var c) && c.Any(x => x != n && !x.Removed));

    /// <summary>A node whose results were all used before fusion and are used by nothing now: every user got a copy.</summary>
    public bool IsFullyDuplicated(Node n) =>
        n.Members.Count == 1 && _ops[n.Root].Results.All(r => _originallyUsed.Contains(r) && !UsedOutside(n, r));

    public Node? ProviderOf(Value v) => _provider.TryGetValue(v, out var p) && !p.Removed ? p : null;

    public void Run()
    {
        for (int i = _ops.Length - 1; i >= 0; i--)
        {
            var n = _home[i];
            if (n.Removed || n.Visited) continue;
            n.Visited = true;
            if (IsFusible(_ops[i]) && _ops[i].Def is not ConstantOp && _ops[i].Results.Any(r => UsedOutside(n, r))) Grow(n);
        }
        MergeSiblings();
    }

    /// <summary>Concatenations that share one buffer with their chain (<see cref="ConcatInPlace"/>): they stay out of kernels.</summary>
    private readonly HashSet<Operation> _inPlace;

    private bool IsFusible(Operation op) =>
        op.Regions.IsEmpty && (FusionKinds.IsLoopOp(op) || op.Def is ReduceOp || FusionKinds.IsContraction(op)) && !_inPlace.Contains(op);

    /// <summary>Values a node reads from outside itself (operands, and captures inside nested regions).</summary>
    private void Recompute(Node n)
    {
        foreach (var v in n.Inputs)
            if (_consumers.TryGetValue(v, out var s)) s.Remove(n);
        n.Inputs.Clear();
        var defined = new HashSet<Value>(n.Members.SelectMany(m => _ops[m].Results), ReferenceEqualityComparer.Instance);
        foreach (var m in n.Members)
            foreach (var v in Reads(_ops[m]))
                if (!defined.Contains(v)) n.Inputs.Add(v);
        foreach (var v in n.Inputs)
        {
            if (!_consumers.TryGetValue(v, out var s)) _consumers[v] = s = [];
            s.Add(n);
        }
    }

    private static IEnumerable<Value> Reads(Operation op)
    {
        foreach (var v in op.Operands) yield return v;
        foreach (var r in op.Regions)
            foreach (var inner in r.Operations)
                foreach (var v in Reads(inner)) yield return v;
    }

    private Operation? Hero(Node n) => n.Members.Select(m => _ops[m]).FirstOrDefault(FusionKinds.IsContraction);
    private bool HasReduce(Node n) => n.Members.Any(m => _ops[m].Def is ReduceOp);

    private bool IsConstantExpansion(Operation op) =>
        op.Def is IotaOp || op.Def is BroadcastInDimOp && _definer.TryGetValue(op.Operands[0], out var d) && _ops[d].Def is ConstantOp;

    private bool IsFreeInput(Value v) => _definer.TryGetValue(v, out var d) && _model.IsInlinableConstant(_ops[d]);

    // ---- phase 1: producers into consumers -------------------------------------------------------

    private void Grow(Node f)
    {
        var rejected = new HashSet<int>();
        while (f.Members.Count < _model.MaxFusionOps)
        {
            int best = -1;
            foreach (var v in f.Inputs)
            {
                if (!_definer.TryGetValue(v, out var d) || rejected.Contains(d) || f.Members.Contains(d)) continue;
                if (d > best) best = d;
            }
            if (best < 0) return;
            rejected.Add(best);
            TryPull(f, best);
        }
    }

    private void TryPull(Node f, int p)
    {
        var op = _ops[p];
        var home = _home[p];
        if (home.Removed || home.Members.Count != 1 || !IsFusible(op)) return;
        if (op.Def is ConstantOp && !_model.IsInlinableConstant(op)) return; // big constants are buffers
        var hero = Hero(f);
        // A contraction's operands are the kernel's GEMM/conv inputs, never computed inside it, but for a pointwise
        // convolution's channels-last input (ComputedConvolutionInputs).
        if (hero is not null && op.Results.Any(hero.Operands.Contains) && !IsComputedConvolutionInput(hero, op)) return;
        bool others = op.Results.Any(r => UsedOutside(f, r));
        if (op.Def is ReduceOp)
        {
            if (others || hero is not null || !RowRuleHolds(f, p)) return; // never duplicate a reduce
        }
        else if (FusionKinds.IsContraction(op))
        {
            if (others || hero is not null || HasReduce(f) || !EpilogueIsElementwise(f, op)) return;
            if (op.Operands.Any(v => _definer.TryGetValue(v, out var d) && f.Members.Contains(d))) return;
        }
        else if (others && OnlyReturnedOutside(f, op) && IsPureLoop(f, op))
        {
            // Its only use outside f is the function's result: move it in and make it one more output
            // of f, so f reads it from registers instead of memory (Adam's new m and v feed the new
            // weight and are variables themselves: one kernel instead of two, no m and v read back).
            f.Members.Add(p);
            home.Removed = true;
            foreach (var r in op.Results) _provider[r] = f;
            foreach (var v in home.Inputs) _consumers[v].Remove(home);
            Recompute(f);
        }
        else if (others)
        {
            // Small constants cost nothing to rematerialise: every kernel gets its own, beyond MaxCopies.
            // So do broadcasts of constants and iotas (bias and scale vectors that CSE shared between
            // layers): a copy reads only a small constant, where a shared kernel's result is a whole
            // activation-sized buffer kept live across every consumer.
            if (op.Def is not ConstantOp && !IsConstantExpansion(op) && !_model.ShouldDuplicate(op, f.Inputs, _copies[p], IsFreeInput)) return;
            _copies[p]++;
            f.Members.Add(p);
            Recompute(f);
            return;
        }
        // Every user is in f: move the producer in.
        f.Members.Add(p);
        home.Removed = true;
        foreach (var r in op.Results) _provider[r] = f;
        foreach (var v in home.Inputs) _consumers[v].Remove(home);
        Recompute(f);
    }

    /// <summary>
    /// Whether <paramref name="op"/> is the NCHW → NHWC transpose that gives <paramref name="hero"/>, a pointwise
    /// convolution of one image, its input (and only that), as the cost model lets such inputs be computed in the kernel.
    /// </summary>
    private bool IsComputedConvolutionInput(Operation hero, Operation op) =>
        _model.ComputedConvolutionInputs && TransposeOp.IsChannelsLast(op) && ConvolutionOp.IsPointwise(hero)
        && hero.Attr.Int("feature_group_count") == 1
        && ReferenceEquals(hero.Operands[0], op.Result) && !ReferenceEquals(hero.Operands[1], op.Result)
        && op.Result.Type.Shape[0] == 1
        && hero.Attr.String("dims") == "b01f_01io->b01f";

    /// <summary>Whether every user of <paramref name="op"/>'s results outside <paramref name="f"/> is the region's terminator.</summary>
    private bool OnlyReturnedOutside(Node f, Operation op) =>
        op.Results.All(r => !_consumers.TryGetValue(r, out var c) || c.All(x => x == f || x.Removed));

    /// <summary>
    /// Whether <paramref name="op"/> can join <paramref name="f"/> as one more output: both are plain loops
    /// over the same iteration space (no contraction or reduction in f), within the output limit.
    /// </summary>
    private bool IsPureLoop(Node f, Operation op)
    {
        if (!FusionKinds.IsLoopOp(op) || op.Def is ConstantOp || Hero(f) is not null || HasReduce(f)) return false;
        var space = _ops[f.Root].ResultType().Shape;
        if (!op.Results.All(r => r.Type.Shape.SequenceEqual(space))) return false;
        int outputs = f.Members.SelectMany(m => _ops[m].Results).Count(r => IsProvider(f, r) && UsedOutside(f, r));
        return outputs + op.Results.Length <= _model.MaxOutputs;
    }

    private static bool IsElementwise(Operation op) => op.Def.Has(OpTraits.Elementwise);

    /// <summary>The ops of <paramref name="f"/> that (transitively) read <paramref name="start"/>'s results.</summary>
    private List<Operation> Downstream(Node f, Operation start)
    {
        var reached = new HashSet<Value>(start.Results, ReferenceEqualityComparer.Instance);
        var list = new List<Operation>();
        foreach (var m in f.Members)
        {
            var op = _ops[m];
            if (!op.Operands.Any(reached.Contains)) continue;
            list.Add(op);
            foreach (var r in op.Results) reached.Add(r);
        }
        return list;
    }

    /// <summary>
    /// An output fusion's epilogue: elementwise ops over the contraction's result shape; with
    /// <see cref="FusionCostModel.ReshapingEpilogues"/>, a dot_general's may also reshape (row-major order kept, so each
    /// element's linear index stays) and go on elementwise over the new shape.
    /// </summary>
    private bool EpilogueIsElementwise(Node f, Operation contraction)
    {
        var shapes = new List<ImmutableArray<long>> { contraction.ResultType().Shape };
        bool reshapes = _model.ReshapingEpilogues && contraction.Def is DotGeneralOp;
        foreach (var o in Downstream(f, contraction))
        {
            bool known = shapes.Any(s => s.SequenceEqual(o.ResultType().Shape));
            if (reshapes && o.Def is ReshapeOp) shapes.Add(o.ResultType().Shape);
            else if (!IsElementwise(o) || !known) return false;
        }
        return true;
    }

    /// <summary>
    /// A reduce may feed later ops of its kernel only as a row kernel: it reduces trailing dimensions,
    /// every op downstream of it is elementwise over a row shape or a per-row shape, broadcasts a per-row
    /// value back over the row, or is another reduce of the same rows; and the number of passes over a
    /// row stays within the cost model's limit.
    /// </summary>
    private bool RowRuleHolds(Node f, int p)
    {
        var reduce = _ops[p];
        var reduces = f.Members.Select(m => _ops[m]).Where(o => o.Def is ReduceOp).Append(reduce).ToList();
        var rows = reduce.ResultType().Shape;
        var shapes = new List<ImmutableArray<long>> { rows };
        foreach (var r in reduces)
        {
            if (!IsRowReduce(r, rows)) return false;
            shapes.Add(r.Operands[0].Type.Shape);
        }
        bool Allowed(ImmutableArray<long> s) => shapes.Any(x => x.SequenceEqual(s));
        foreach (var o in Downstream(f, reduce))
        {
            bool ok = o.Def switch
            {
                ReduceOp => IsRowReduce(o, rows),
                BroadcastInDimOp => o.Operands[0].Type.Shape.SequenceEqual(rows) && Allowed(o.ResultType().Shape) &&
                                      o.Attr.Ints("dims").SequenceEqual(Enumerable.Range(0, rows.Length).Select(i => (long)i)),
                _ => IsElementwise(o) && Allowed(o.ResultType().Shape),
            };
            if (!ok) return false;
        }
        // Passes over a row: one more after each reduce whose result is read inside the kernel.
        var level = new Dictionary<Value, int>(ReferenceEqualityComparer.Instance);
        int passes = 1;
        foreach (var m in f.Members.Append(p).Order())
        {
            var op = _ops[m];
            int l = 0;
            foreach (var v in op.Operands)
                if (level.TryGetValue(v, out var lv)) l = Math.Max(l, lv + (_ops[_definer[v]].Def is ReduceOp ? 1 : 0));
            foreach (var r in op.Results) level[r] = l;
            passes = Math.Max(passes, l + 1);
        }
        long rowBytes = reduces.Max(r => r.Operands[0].Type.ByteSize / Math.Max(1, r.ResultType().ElementCount));
        return passes <= _model.MaxRowPasses(rowBytes);
    }

    private static bool IsRowReduce(Operation r, ImmutableArray<long> rows)
    {
        var dims = r.Attr.Ints("dims").Order().ToList();
        int rank = r.Operands[0].Type.Rank;
        return r.ResultType().Shape.SequenceEqual(rows) &&
               dims.SequenceEqual(Enumerable.Range(rank - dims.Count, dims.Count).Select(i => (long)i));
    }

    // ---- phase 2: siblings reading the same input ------------------------------------------------

    private void MergeSiblings()
    {
        var values = _consumers.Keys.Where(v => v.Type.ElementCount > 1)
            .OrderBy(v => _definer.TryGetValue(v, out var d) ? d : -1).ToList();
        foreach (var v in values)
        {
            bool merged = true;
            while (merged)
            {
                merged = false;
                var sibs = _consumers[v].Where(n => !n.Removed && n.Members.All(m => IsFusible(_ops[m])) && Hero(n) is null && IsLive(n))
                    .OrderBy(n => n.Root).ToList();
                for (int a = 0; a < sibs.Count && !merged; a++)
                    for (int b = a + 1; b < sibs.Count && !merged; b++)
                        if (CanMergeSiblings(sibs[a], sibs[b]))
                        {
                            Merge(sibs[a], sibs[b]);
                            merged = true;
                        }
            }
        }
    }

    private bool IsLive(Node n) => n.Members.Any(m => _ops[m].Results.Any(r => IsProvider(n, r) && UsedOutside(n, r)));

    /// <summary>The iteration space of a kernel: (input shape, dims) of its reduces, else its root's result shape.</summary>
    private string Space(Node n)
    {
        var reduces = n.Members.Select(m => _ops[m]).Where(o => o.Def is ReduceOp)
            .Select(o => $"r{o.Operands[0].Type.ShapeString}/{string.Join(",", o.Attr.Ints("dims").Order())}").Distinct().ToList();
        if (reduces.Count > 1) return "mixed" + n.Root; // a row kernel with several reductions merges with nothing
        return reduces.Count == 1 ? reduces[0] : "l" + _ops[n.Root].ResultType().ShapeString;
    }

    private bool CanMergeSiblings(Node a, Node b)
    {
        if (Space(a) != Space(b)) return false;
        if (a.Members.Union(b.Members).Count() > _model.MaxFusionOps) return false;
        int outputs = a.Members.Union(b.Members).SelectMany(m => _ops[m].Results)
            .Count(r => (IsProvider(a, r) || IsProvider(b, r)) && (_returned.Contains(r) || _consumers.TryGetValue(r, out var c) && c.Any(x => x != a && x != b && !x.Removed)));
        if (outputs > _model.MaxOutputs) return false;
        // Merging nodes joined by a path through a third node would make a cycle.
        return !Reaches(a, b) && !Reaches(b, a);
    }

    private bool Reaches(Node from, Node to)
    {
        var seen = new HashSet<Node> { from };
        var work = new Stack<Node>([from]);
        while (work.Count > 0)
        {
            var n = work.Pop();
            foreach (var m in n.Members)
                foreach (var r in _ops[m].Results)
                {
                    if (!IsProvider(n, r) || !_consumers.TryGetValue(r, out var users)) continue;
                    foreach (var u in users)
                    {
                        if (u.Removed || u == n) continue;
                        if (u == to) return true;
                        if (seen.Add(u)) work.Push(u);
                    }
                }
        }
        return false;
    }

    private void Merge(Node a, Node b)
    {
        foreach (var m in b.Members)
        {
            a.Members.Add(m);
            foreach (var r in _ops[m].Results)
                if (IsProvider(b, r)) _provider[r] = a;
            if (_home[m] == b) _home[m] = a;
        }
        b.Removed = true;
        foreach (var v in b.Inputs) _consumers[v].Remove(b);
        Recompute(a);
    }
}
