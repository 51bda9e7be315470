using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>Reductions (keep_dims, reduction_indices), ArgMax/ArgMin, MatMul, BatchMatMul, Einsum.</summary>
public static class TfReductionOps
{
    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("Sum", n => Reduce(n, "sum")), ("Max", n => Reduce(n, "max")), ("Min", n => Reduce(n, "min")), ("Prod", n => Reduce(n, "prod")),
        ("All", n => Reduce(n, "and")), ("Any", n => Reduce(n, "or")), ("Mean", Mean),
        ("ArgMax", n => ArgReduce(n, "max")), ("ArgMin", n => ArgReduce(n, "min")),
        ("MatMul", MatMul), ("BatchMatMul", n => BatchMatMul(n, broadcast: false)), ("BatchMatMulV2", n => BatchMatMul(n, broadcast: true)),
        ("BatchMatMulV3", n => BatchMatMul(n, broadcast: true)), ("Einsum", Einsum),
    ];

    private static int[] Axes(TfNode n, Value x) =>
        [.. n.KnownInts(1, "reduction_indices").Select(a => Lowerer.Axis(a, x.Type.Rank)).Distinct()];

    private static void Reduce(TfNode n, string kind)
    {
        var x = n.Input(0);
        n.Output(0, n.L.Reduce(x, kind, Axes(n, x), n.Bool("keep_dims", false)));
    }

    /// <summary>Mean: the sum divided by the count in the element type (integers divide truncating, as TF).</summary>
    private static void Mean(TfNode n)
    {
        var x = n.Input(0);
        var axes = Axes(n, x);
        var sum = n.L.Reduce(x, "sum", axes, n.Bool("keep_dims", false));
        long count = axes.Aggregate(1L, (a, d) => a * x.Type.Shape[d]);
        n.Output(0, n.L.Binary("div", sum, n.L.Scalar(x.Type.Element, count)));
    }

    private static void ArgReduce(TfNode n, string kind)
    {
        var x = n.Input(0);
        var d = n.KnownInts(1, "dimension");
        int axis = Lowerer.Axis(d[0], x.Type.Rank);
        var t = n.HasAttr("output_type") ? n.Type("output_type") : ElementType.I64;
        var shape = x.Type.Shape.RemoveAt(axis);
        n.Output(0, n.L.Emit("arg_reduce", [x], AttrMap.Of(("kind", A.Enum(kind)), ("dimension", A.Int(axis))), new TensorType(t, shape)));
    }

    internal static Value Dot(Lowerer l, Value a, Value b, long[] lb, long[] rb, long[] lc, long[] rc)
    {
        var attrs = new List<(string, Attr)> { ("lhs_contract", A.Ints(lc)), ("rhs_contract", A.Ints(rc)) };
        if (lb.Length > 0) { attrs.Add(("lhs_batch", A.Ints(lb))); attrs.Add(("rhs_batch", A.Ints(rb))); }
        // Result: batch dims, then lhs free dims, then rhs free dims (each in operand order), in the operands' type.
        var shape = lb.Select(d => a.Type.Shape[(int)d])
            .Concat(Enumerable.Range(0, a.Type.Rank).Where(d => !lb.Contains(d) && !lc.Contains(d)).Select(d => a.Type.Shape[d]))
            .Concat(Enumerable.Range(0, b.Type.Rank).Where(d => !rb.Contains(d) && !rc.Contains(d)).Select(d => b.Type.Shape[d]));
        return l.Emit("dot_general", [a, b], AttrMap.Of([.. attrs]), new TensorType(a.Type.Element, shape.ToArray()));
    }

    private static void MatMul(TfNode n)
    {
        Value a = n.Input(0), b = n.Input(1);
        if (a.Type.Rank != 2 || b.Type.Rank != 2) throw n.Error($"MatMul takes matrices, got {a.Type} and {b.Type}");
        n.Output(0, Dot(n.L, a, b, [], [], [n.Bool("transpose_a", false) ? 0 : 1], [n.Bool("transpose_b", false) ? 1 : 0]));
    }

    /// <summary>BatchMatMul: batch dims equal (V1) or broadcast (V2/V3); adj_x/adj_y transpose the matrices.</summary>
    private static void BatchMatMul(TfNode n, bool broadcast)
    {
        Value x = n.Input(0), y = n.Input(1);
        if (x.Type.Rank < 2 || y.Type.Rank < 2) throw n.Error($"needs rank ≥ 2 operands, got {x.Type} and {y.Type}");
        var xb = x.Type.Shape[..^2];
        var yb = y.Type.Shape[..^2];
        if (!broadcast && !xb.SequenceEqual(yb)) throw n.Error($"batch dimensions differ: {x.Type} vs {y.Type}");
        var batch = Lowerer.BroadcastShape(xb, yb);
        x = n.L.Broadcast(x, [.. batch, .. x.Type.Shape[^2..]]);
        y = n.L.Broadcast(y, [.. batch, .. y.Type.Shape[^2..]]);
        int nb = batch.Length;
        var bd = Enumerable.Range(0, nb).Select(i => (long)i).ToArray();
        var r = Dot(n.L, x, y, bd, bd, [nb + (n.Bool("adj_x", false) ? 0 : 1)], [nb + (n.Bool("adj_y", false) ? 1 : 0)]);
        if (n.HasAttr("Tout") && n.Type("Tout") != r.Type.Element) r = n.L.Convert(r, n.Type("Tout"));
        n.Output(0, r);
    }

    /// <summary>
    /// Einsum with one or two operands and explicit output (no ellipsis, no repeated label in an
    /// operand): labels only in one operand and not in the output are summed first, shared labels in
    /// the output are batch dims, shared labels not in it contract; a transpose gives the output order.
    /// </summary>
    private static void Einsum(TfNode n)
    {
        var eq = n.String("equation", "").Replace(" ", "");
        if (eq.Contains("...")) throw n.Unsupported("equation with an ellipsis");
        var arrow = eq.IndexOf("->", StringComparison.Ordinal);
        if (arrow < 0) throw n.Unsupported("implicit output (no '->')");
        var ins = eq[..arrow].Split(',');
        var outL = eq[(arrow + 2)..];
        var xs = n.Inputs;
        if (ins.Length != xs.Count || ins.Length is < 1 or > 2) throw n.Unsupported($"{ins.Length} operands");
        for (int i = 0; i < ins.Length; i++)
        {
            if (ins[i].Length != xs[i].Type.Rank) throw n.Error($"operand {i} has rank {xs[i].Type.Rank} but '{ins[i]}' has {ins[i].Length} labels");
            if (ins[i].Distinct().Count() != ins[i].Length) throw n.Unsupported($"repeated label in '{ins[i]}' (diagonal)");
        }
        // Sum away labels that appear only in this operand and not in the output.
        var ops = new List<(Value V, string Labels)>();
        for (int i = 0; i < ins.Length; i++)
        {
            var others = string.Concat(ins.Where((_, j) => j != i)) + outL;
            var drop = Enumerable.Range(0, ins[i].Length).Where(k => !others.Contains(ins[i][k])).ToArray();
            var v = drop.Length > 0 ? n.L.Reduce(xs[i], "sum", drop, keepDims: false) : xs[i];
            ops.Add((v, new string([.. ins[i].Where((_, k) => !drop.Contains(k))])));
        }
        Value r;
        string labels;
        if (ops.Count == 1)
        {
            (r, labels) = ops[0];
        }
        else
        {
            var (a, la) = ops[0];
            var (b, lb) = ops[1];
            var batch = la.Where(c => lb.Contains(c) && outL.Contains(c)).ToList();
            var contract = la.Where(c => lb.Contains(c) && !outL.Contains(c)).ToList();
            r = Dot(n.L, a, b, [.. batch.Select(c => (long)la.IndexOf(c))], [.. batch.Select(c => (long)lb.IndexOf(c))],
                [.. contract.Select(c => (long)la.IndexOf(c))], [.. contract.Select(c => (long)lb.IndexOf(c))]);
            labels = string.Concat(batch) + string.Concat(la.Where(c => !lb.Contains(c))) + string.Concat(lb.Where(c => !la.Contains(c)));
        }
        if (labels.Length != outL.Length || outL.Any(c => !labels.Contains(c))) throw n.Error($"output '{outL}' does not match the operands' labels");
        n.Output(0, n.L.Transpose(r, [.. outL.Select(c => (long)labels.IndexOf(c))]));
    }
}
