using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>hoist-constants</c>: computes constant subgraphs once, at compile time, whatever their size. A value is
/// constant when its op is <see cref="OpTraits.Foldable"/>, has no side effects, and reads only constants
/// (operands and region captures) — so <c>constant</c> and operand-less ops such as <c>iota</c> start such
/// subgraphs. The constant values read by non-constant ops (or returned) are the roots; the chosen roots of a
/// function are extracted, with everything they depend on, into one function without arguments, which
/// <see cref="PassOptions.ConstantEvaluator"/> runs once (the driver supplies the CPU JIT; the default is the
/// reference interpreter with small limits). Each root's op becomes a <c>constant</c> labelled
/// <c>loc("… hoisted: N ops")</c>, and the ops only it needed go.
/// <para>
/// The policy, per root, from the ops' <see cref="OpDef.Cost"/>: store the result when it is small
/// (<see cref="PassOptions.MaxFoldElements"/>), or not much larger than the constants it is computed from
/// (at most <see cref="MaxGrowth"/> times their elements), or expensive to recompute (at least
/// <see cref="MinWeightedFlopsPerElement"/> weighted flops per stored element: a transcendental, a division,
/// a contraction, a chain of several ops). Otherwise storing costs far more memory and bandwidth than
/// computing — an iota, a broadcast of a scalar, a convert of an iota — and the root stays an op that fuses
/// into its consumers; its constant operands become candidate roots instead, so the expensive part under a
/// cheap broadcast is still computed once. Only a function's top-level ops are roots; an evaluation that
/// fails (an elided constant, an op the evaluator lacks) is retried root by root, and what still fails stays.
/// </para>
/// </summary>
public sealed class HoistConstants : FunctionPass
{
    public override string Name => "hoist-constants";
    public override string Description => "compute constant subgraphs of any size once, at compile time";

    /// <summary>A result at most this many times the elements of the constants it reads is stored.</summary>
    public const double MaxGrowth = 4;

    /// <summary>A result costing at least this many weighted flops per element to compute is stored, whatever its size.</summary>
    public const double MinWeightedFlopsPerElement = 4;

    private const string ScratchName = "__hoisted_constants";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options)
    {
        var ops = f.Body.Operations;
        var defs = new Dictionary<Value, Operation>(ReferenceEqualityComparer.Instance);
        var constant = new HashSet<Operation>(ReferenceEqualityComparer.Instance); // constant ops and ops computable from them
        foreach (var op in ops)
        {
            foreach (var r in op.Results) defs[r] = op;
            if (op.Def == StructureOps.Constant || IsConstantComputation(op, defs, constant)) constant.Add(op);
        }

        var roots = Roots(ops, defs, constant);
        var chosen = Choose(roots, defs, constant, options);
        if (chosen.Count == 0) return f;

        var values = Evaluate(chosen, ops, defs, constant, module, options);
        if (values.Count == 0) return f;
        return f.WithBody(f.Body.WithOperations(Rewrite(ops, values, defs, constant)));
    }

    private static bool IsConstantComputation(Operation op, Dictionary<Value, Operation> defs, HashSet<Operation> constant)
    {
        if (!op.Def.Has(OpTraits.Foldable) || op.Def.IsTerminator || op.Results.IsEmpty || op.HasSideEffects) return false;
        return op.Operands.All(v => IsConstant(v, defs, constant)) && Captures(op).All(v => IsConstant(v, defs, constant));
    }

    private static bool IsConstant(Value v, Dictionary<Value, Operation> defs, HashSet<Operation> constant) =>
        defs.TryGetValue(v, out var d) && constant.Contains(d);

    /// <summary>Constant values computed by an op (not a <c>constant</c>) that a non-constant op reads or the function returns.</summary>
    private static List<Value> Roots(ImmutableArray<Operation> ops, Dictionary<Value, Operation> defs, HashSet<Operation> constant)
    {
        var roots = new List<Value>();
        var seen = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        foreach (var op in ops)
        {
            if (constant.Contains(op)) continue;
            foreach (var v in op.Operands.Concat(Captures(op)))
                if (defs.TryGetValue(v, out var d) && constant.Contains(d) && d.Def != StructureOps.Constant && seen.Add(v)) roots.Add(v);
        }
        return roots;
    }

    /// <summary>The roots worth storing (see the class comment); a rejected root offers its own constant operands instead.</summary>
    private static List<Value> Choose(List<Value> roots, Dictionary<Value, Operation> defs, HashSet<Operation> constant, PassOptions options)
    {
        var chosen = new List<Value>();
        var seen = new HashSet<Value>(roots, ReferenceEqualityComparer.Instance);
        var work = new Queue<Value>(roots);
        while (work.Count > 0)
        {
            var root = work.Dequeue();
            var op = defs[root];
            var (flops, leafElements) = ConeCost(op, defs, constant);
            double elements = root.Type.ElementCount;
            // A growing broadcast stays an op even when small, as in constant-fold: it fuses into its readers for free.
            bool growingBroadcast = op.Def is BroadcastInDimOp && elements > op.Operands[0].Type.ElementCount;
            bool small = !growingBroadcast && (elements <= options.MaxFoldElements || elements <= MaxGrowth * leafElements);
            // A result no tensor can hold is never stored: it stays an op, computed per call like any large activation.
            bool fits = root.Type.ByteSize <= Tensor.MaxBytes;
            bool store = op.Results.Length == 1 && fits && (small || flops >= MinWeightedFlopsPerElement * elements);
            if (store)
            {
                chosen.Add(root);
                continue;
            }
            foreach (var v in op.Operands.Concat(Captures(op)))
                if (defs[v].Def != StructureOps.Constant && seen.Add(v)) work.Enqueue(v);
        }
        return chosen;
    }

    /// <summary>Weighted flops of computing <paramref name="op"/> and the constant ops under it, and the elements of the constants they read.</summary>
    private static (double Flops, double LeafElements) ConeCost(Operation op, Dictionary<Value, Operation> defs, HashSet<Operation> constant)
    {
        double flops = 0, leaves = 0;
        foreach (var o in Cone([op], defs, constant))
        {
            if (o.Def == StructureOps.Constant) leaves += o.Result.Type.ElementCount;
            else flops += o.Def.Cost(o).WeightedFlops;
        }
        return (flops, leaves);
    }

    /// <summary>The ops <paramref name="tops"/> need, themselves included (constants too), in no particular order.</summary>
    private static HashSet<Operation> Cone(IEnumerable<Operation> tops, Dictionary<Value, Operation> defs, HashSet<Operation> constant)
    {
        var cone = new HashSet<Operation>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Operation>(tops);
        while (stack.Count > 0)
        {
            var o = stack.Pop();
            if (!cone.Add(o)) continue;
            foreach (var v in o.Operands.Concat(Captures(o)))
                if (defs.TryGetValue(v, out var d) && constant.Contains(d)) stack.Push(d);
        }
        return cone;
    }

    /// <summary>The chosen roots' values: all in one evaluation, or root by root when that fails.</summary>
    private static Dictionary<Value, Tensor> Evaluate(List<Value> chosen, ImmutableArray<Operation> ops, Dictionary<Value, Operation> defs,
        HashSet<Operation> constant, Module module, PassOptions options)
    {
        var values = new Dictionary<Value, Tensor>(ReferenceEqualityComparer.Instance);
        if (EvaluateTogether(chosen, ops, defs, constant, module, options) is { } all)
        {
            for (int i = 0; i < chosen.Count; i++) values[chosen[i]] = all[i];
            return values;
        }
        if (chosen.Count == 1) return values;
        foreach (var root in chosen)
            if (EvaluateTogether([root], ops, defs, constant, module, options) is { } one) values[root] = one[0];
        return values;
    }

    private static IReadOnlyList<Tensor>? EvaluateTogether(List<Value> roots, ImmutableArray<Operation> ops, Dictionary<Value, Operation> defs,
        HashSet<Operation> constant, Module module, PassOptions options)
    {
        var cone = Cone(roots.Select(r => defs[r]), defs, constant);
        var body = ops.Where(cone.Contains).ToList();
        body.Add(new Operation(OpRegistry.Get("return"), [.. roots], AttrMap.Empty, []));
        var scratch = new Function(ScratchName, new Region([], [.. body]), [.. roots.Select(r => r.Type)]);
        var results = options.ConstantEvaluator.Evaluate(module, scratch);
        if (results is null || results.Count != roots.Count) return null;
        for (int i = 0; i < roots.Count; i++)
            if (!results[i].Type.Equals(roots[i].Type)) return null;
        return results;
    }

    /// <summary>Each evaluated root's op becomes a labelled <c>constant</c>; constant ops nothing reads any more go.</summary>
    private static ImmutableArray<Operation> Rewrite(ImmutableArray<Operation> ops, Dictionary<Value, Tensor> values,
        Dictionary<Value, Operation> defs, HashSet<Operation> constant)
    {
        var replaced = new Operation[ops.Length];
        for (int i = 0; i < ops.Length; i++)
        {
            var op = ops[i];
            replaced[i] = op.Results.Length == 1 && values.TryGetValue(op.Result, out var t)
                ? new Operation(StructureOps.Constant, [], AttrMap.Of(("value", new TensorAttr(t))), [op.Result], default, op.Location,
                    Label(op, Cone([op], defs, constant).Count(o => o.Def != StructureOps.Constant)))
                : op;
        }
        // Backwards: a constant op whose results no kept op reads is dead (it only fed what was evaluated).
        var used = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        var keep = new bool[ops.Length];
        for (int i = ops.Length - 1; i >= 0; i--)
        {
            var op = replaced[i];
            keep[i] = !constant.Contains(ops[i]) || op.Results.Any(used.Contains);
            if (!keep[i]) continue;
            foreach (var v in op.Operands.Concat(Captures(op))) used.Add(v);
        }
        return [.. replaced.Where((_, i) => keep[i])];
    }

    private static string Label(Operation op, int count)
    {
        var what = $"hoisted: {count} op{(count == 1 ? "" : "s")}";
        return op.SourceName is { } s ? $"{s}; {what}" : what;
    }

    /// <summary>The values an op's regions read but do not define.</summary>
    private static List<Value> Captures(Operation op)
    {
        var captures = new List<Value>();
        if (op.Regions.IsEmpty) return captures;
        var defined = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        foreach (var r in op.Regions) CollectCaptures(r, defined, captures);
        return captures;
    }

    private static void CollectCaptures(Region region, HashSet<Value> defined, List<Value> captures)
    {
        foreach (var a in region.Arguments) defined.Add(a);
        foreach (var op in region.Operations)
        {
            foreach (var v in op.Operands)
                if (!defined.Contains(v)) captures.Add(v);
            foreach (var r in op.Regions) CollectCaptures(r, defined, captures);
            foreach (var v in op.Results) defined.Add(v);
        }
    }
}
