using System.Collections.Immutable;
using GraphCompiler.IR.Autodiff;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// The vector-Jacobian products of the control-flow ops. Their bodies are differentiated by the driver
/// (<see cref="Gradients.Backprop"/>) on copies re-emitted inside new regions of the backward code
/// (<see cref="Gradients.Recompute"/>): a region's intermediate values are not visible outside it, so the
/// backward code recomputes them where it needs them. Captured float values get their cotangents through
/// <see cref="VjpContext.Contribute"/>.
/// </summary>
internal static class ControlFlowGradients
{
    private static Dictionary<Value, Value> NewMap() => new(ReferenceEqualityComparer.Instance);

    private static Value Mapped(Dictionary<Value, Value> map, Value v) => map.GetValueOrDefault(v) ?? v;

    private static void Seed(IrBuilder b, Dictionary<Value, Value> cts, Value v, Value ct) =>
        cts[v] = cts.TryGetValue(v, out var old) ? b.Emit("add", old, ct) : ct;

    /// <summary>The float values the op's regions read from outside that need a cotangent.</summary>
    private static List<Value> ActiveCaptures(VjpContext c) =>
        [.. c.Driver.Captures(c.Op).Where(v => v.Type.Element.IsFloat() && c.NeedsValue(v))];

    /// <summary>
    /// if and case: a new if/case on the same predicate (index), whose every branch recomputes the
    /// forward branch and backpropagates the result cotangents through it, yielding the cotangents of the
    /// captured values (zero for those the branch does not read). The predicate gets none.
    /// </summary>
    public static readonly VjpRule Branches = c =>
    {
        var none = new Value?[c.Op.Operands.Length];
        var captures = ActiveCaptures(c);
        if (captures.Count == 0) return none;
        var zeros = captures.Select(v => c.Zeros(v.Type)).ToList();
        var regions = c.Op.Regions.Select(branch => c.B.Region([], (inner, _) =>
        {
            var map = NewMap();
            var ops = c.Driver.Recompute(inner, branch.Operations, map);
            var cts = NewMap();
            for (int i = 0; i < c.Op.Results.Length; i++)
                if (c.Cotangent(i) is { } dy) Seed(inner, cts, Mapped(map, branch.Yielded[i]), dy);
            c.Driver.Backprop(inner, ops, cts);
            return captures.Select((v, k) => cts.GetValueOrDefault(v) ?? zeros[k]).ToList();
        })).ToList();
        var grads = c.B.EmitMulti(c.Op.Name, [c.X(0)], null, null, regions);
        for (int k = 0; k < captures.Count; k++) c.Contribute(captures[k], grads[k]);
        return none;
    };

    /// <summary>
    /// while with a static trip count T (see <see cref="TripCount"/>). Two loops: the first reruns the
    /// forward loop and stores the state at the start of every iteration into a stacked [T, ...] tensor
    /// per carried value (dynamic_update_slice); the second runs t = T-1 .. 0, reads state t back
    /// (dynamic_slice), recomputes the body from it and backpropagates through it, carrying the carried
    /// values' cotangents and accumulating those of the captured float values.
    /// <para>
    /// Cost: memory T × (the size of all carried values), live from the store loop to the end of the
    /// reverse loop; compute about three forward loops (the original, the store loop, the recomputation
    /// in the reverse loop) plus the backward bodies. Storing every intermediate of the body instead
    /// would save the recomputation for memory T × (the body's intermediates).
    /// </para>
    /// </summary>
    public static readonly VjpRule While = c =>
    {
        var op = c.Op;
        var body = op.Regions[1];
        long trips = TripCount(c) ?? throw c.Error(
            "while loop needs a static trip count to differentiate: a carried integer counter starting from a constant, " +
            "compared with a constant bound (counter < N or counter <= N) and incremented by a positive constant");
        int n = op.Operands.Length;
        var types = op.Operands.Select(v => v.Type).ToList();
        var floats = Enumerable.Range(0, n).Where(j => types[j].Element.IsFloat()).ToList();
        var captures = ActiveCaptures(c);
        var result = new Value?[n];
        if (trips == 0)
        {
            // The loop does not run: the results are the operands.
            foreach (var j in floats) result[j] = c.CotangentOrZeros(j);
            return result;
        }

        var b = c.B;
        var i64 = TensorType.Scalar(ElementType.I64);
        Value Index(long v) => b.Scalar(ElementType.I64, v);
        var (zero, one, count) = (Index(0), Index(1), Index(trips));
        var stackTypes = types.Select(t => new TensorType(t.Element, (long[])[trips, .. t.Shape])).ToList();
        var windows = types.Select(t => new TensorType(t.Element, (long[])[1, .. t.Shape])).ToList();
        var rest = Enumerable.Repeat(zero, types.Select(t => t.Rank).DefaultIfEmpty(0).Max()).ToArray();

        // The store loop: (t, state..., stacks...), stack j row t = state j before iteration t.
        var storeCond = b.Region([i64, .. types, .. stackTypes], (inner, a) => [inner.Compare(a[0], count, "lt")]);
        var storeBody = b.Region([i64, .. types, .. stackTypes], (inner, a) =>
        {
            var t = a[0];
            var stacks = Enumerable.Range(0, n).Select(j =>
                inner.Emit("dynamic_update_slice", [a[1 + n + j], inner.Emit("reshape", [a[1 + j]], null, windows[j]), t, .. rest[..types[j].Rank]]))
                .ToList();
            var map = NewMap();
            for (int j = 0; j < n; j++) map[body.Arguments[j]] = a[1 + j];
            c.Driver.Recompute(inner, body.Operations, map);
            return [inner.Emit("add", t, one), .. body.Yielded.Select(v => Mapped(map, v)), .. stacks];
        });
        var stored = b.EmitMulti("while", [zero, .. op.Operands, .. stackTypes.Select(s => c.Zeros(s))], null, null, [storeCond, storeBody]);
        var stored0 = stored.Skip(1 + n).ToList();

        // The reverse loop: (t, cotangents of the float carried values..., accumulated capture cotangents...).
        var floatTypes = floats.Select(j => types[j]).ToList();
        var captureTypes = captures.Select(v => v.Type).ToList();
        var zeroCts = floatTypes.Select(t => c.Zeros(t)).ToList();
        var revTypes = new List<TensorType> { i64 };
        revTypes.AddRange(floatTypes);
        revTypes.AddRange(captureTypes);
        var revCond = b.Region(revTypes, (inner, a) => [inner.Compare(a[0], zero, "ge")]);
        var revBody = b.Region(revTypes, (inner, a) =>
        {
            var t = a[0];
            var map = NewMap();
            for (int j = 0; j < n; j++)
            {
                var row = inner.Emit("dynamic_slice", [stored0[j], t, .. rest[..types[j].Rank]], AttrMap.Of(("sizes", A.Ints([.. windows[j].Shape]))));
                map[body.Arguments[j]] = inner.Emit("reshape", [row], null, types[j]);
            }
            var ops = c.Driver.Recompute(inner, body.Operations, map);
            var cts = NewMap();
            for (int k = 0; k < floats.Count; k++) Seed(inner, cts, Mapped(map, body.Yielded[floats[k]]), a[1 + k]);
            c.Driver.Backprop(inner, ops, cts);
            var next = new List<Value> { inner.Emit("sub", t, one) };
            for (int k = 0; k < floats.Count; k++) next.Add(cts.GetValueOrDefault(map[body.Arguments[floats[k]]]) ?? zeroCts[k]);
            for (int m = 0; m < captures.Count; m++)
                next.Add(cts.TryGetValue(captures[m], out var g) ? inner.Emit("add", a[1 + floats.Count + m], g) : a[1 + floats.Count + m]);
            return next;
        });
        var init = new List<Value> { Index(trips - 1) };
        init.AddRange(floats.Select(j => c.CotangentOrZeros(j)));
        init.AddRange(captureTypes.Select(t => c.Zeros(t)));
        var reversed = b.EmitMulti("while", init, null, null, [revCond, revBody]);
        for (int k = 0; k < floats.Count; k++) result[floats[k]] = reversed[1 + k];
        for (int m = 0; m < captures.Count; m++) c.Contribute(captures[m], reversed[1 + floats.Count + m]);
        return result;
    };

    /// <summary>
    /// The trip count of a counted loop, or null: cond yields <c>compare counter, N</c> (lt or le; or
    /// N gt/ge counter) with N a constant, the counter is carried, starts from a constant and the body
    /// yields <c>counter + C</c> for a constant C &gt; 0.
    /// </summary>
    private static long? TripCount(VjpContext c)
    {
        var (cond, body) = (c.Op.Regions[0], c.Op.Regions[1]);
        if (cond.Yielded.Length != 1 || Defining(cond, cond.Yielded[0]) is not { Name: "compare" } cmp) return null;
        var dir = cmp.Attr.Enum("direction");
        var (lhs, rhs) = (cmp.Operands[0], cmp.Operands[1]);
        int k = cond.Arguments.IndexOf(lhs);
        Value boundValue = rhs;
        if (k < 0)
        {
            k = cond.Arguments.IndexOf(rhs);
            boundValue = lhs;
            dir = dir switch { "gt" => "lt", "ge" => "le", _ => "" };
        }
        if (k < 0 || dir is not ("lt" or "le")) return null;
        var counter = c.Op.Operands[k].Type;
        if (counter.Rank != 0 || !counter.Element.IsInteger()) return null;
        if (Constant(c, cond, boundValue) is not { } bound || Constant(c, null, c.Op.Operands[k]) is not { } start) return null;
        if (Defining(body, body.Yielded[k]) is not { Name: "add" } inc) return null;
        var counterArg = body.Arguments[k];
        var stepValue = inc.Operands[0] == counterArg ? inc.Operands[1] : inc.Operands[1] == counterArg ? inc.Operands[0] : null;
        if (stepValue is null || Constant(c, body, stepValue) is not { } step || step <= 0) return null;
        long span = dir == "lt" ? bound - start : bound - start + 1;
        return span <= 0 ? 0 : (span + step - 1) / step;
    }

    private static Operation? Defining(Region r, Value v) => r.Operations.FirstOrDefault(o => o.Results.Contains(v));

    /// <summary>The value of a rank-0 integer constant defined in <paramref name="r"/> or outside the loop.</summary>
    private static long? Constant(VjpContext c, Region? r, Value v)
    {
        var op = (r is null ? null : Defining(r, v)) ?? c.Driver.Producer(v);
        if (op is not { Name: "constant" } || v.Type.Rank != 0 || !v.Type.Element.IsInteger()) return null;
        return op.Attr.Tensor("value").GetInt64(0);
    }
}
