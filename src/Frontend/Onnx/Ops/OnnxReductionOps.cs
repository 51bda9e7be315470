using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>The Reduce* family and Softmax/LogSoftmax/Hardmax.</summary>
public static class OnnxReductionOps
{
    /// <summary>
    /// The axes a Reduce* node reduces, or null for "no reduction" (noop_with_empty_axes with no axes).
    /// Axes moved from an attribute to input #1 at opset 13 for ReduceSum and at opset 18 for the rest.
    /// </summary>
    internal static int[]? ReduceAxes(OnnxNode n, int rank, int axesInputOpset)
    {
        long[]? axes = n.Opset >= axesInputOpset
            ? (n.Has(1) ? n.KnownInts(1, "axes") : null)
            : n.Ints("axes");
        if (axes is null || axes.Length == 0)
        {
            if (n.Opset >= axesInputOpset && n.Int("noop_with_empty_axes", 0) == 1) return null;
            return [.. Enumerable.Range(0, rank)];
        }
        return [.. axes.Select(a => Lowerer.Axis(a, rank, "axes")).Distinct()];
    }


    /// <summary>
    /// A Reduce* lowering: <paramref name="pre"/> maps the input elementwise, the reduction of kind
    /// <paramref name="kind"/> runs over the axes, <paramref name="post"/> maps the result (given the count).
    /// </summary>
    private static OnnxLowering Reduce(string kind, Func<Lowerer, Value, Value>? pre = null,
        Func<Lowerer, Value, long, Value>? post = null, int axesInputOpset = 18) => n =>
    {
        var x = n.Input(0);
        var l = n.L;
        bool keep = n.Int("keepdims", 1) == 1;
        var axes = ReduceAxes(n, x.Type.Rank, axesInputOpset) ?? [];
        var v = pre is null ? x : pre(l, x);
        var r = axes.Length == 0 ? v : l.Reduce(v, kind, axes, keep);
        long count = axes.Aggregate(1L, (c, a) => c * x.Type.Shape[a]);
        n.Output(0, post is null ? r : post(l, r, count));
    };

    private static Value Sq(Lowerer l, Value x) => l.Emit("mul", x, x);

    /// <summary>log(sum(exp(x))) computed as m + log(sum(exp(x − m))) with m the (finite) max, so it cannot overflow.</summary>
    private static void ReduceLogSumExp(OnnxNode n)
    {
        var x = n.Input(0);
        var l = n.L;
        bool keep = n.Int("keepdims", 1) == 1;
        var axes = ReduceAxes(n, x.Type.Rank, 18);
        if (axes is null || axes.Length == 0)
        {
            // No reduction: log(exp(x)) — kept literal so overflow behaves as the spec's formula.
            n.Output(0, l.Emit("log", l.Emit("exp", x)));
            return;
        }
        var m = l.Reduce(x, "max", axes, keepDims: true);
        m = l.Select(l.Emit("is_finite", m), m, l.Full(m, 0));
        var s = l.Reduce(l.Emit("exp", l.Binary("sub", x, m)), "sum", axes, keepDims: true);
        var r = l.Binary("add", l.Emit("log", s), m);
        n.Output(0, keep ? r : l.Reshape(r, [.. x.Type.Shape.Where((_, i) => !axes.Contains(i))]));
    }

    // ---- softmax family ------------------------------------------------------------------------------

    /// <summary>
    /// Runs <paramref name="f"/> along one axis: before opset 13 the input is coerced to 2-D at the axis
    /// (default 1) and f runs along dimension 1; from 13 it runs along the axis (default −1).
    /// </summary>
    private static void AlongAxis(OnnxNode n, Func<Lowerer, Value, int, Value> f)
    {
        var x = n.Input(0);
        int rank = x.Type.Rank;
        if (n.Opset >= 13)
        {
            n.Output(0, f(n.L, x, Lowerer.Axis(n.Int("axis", -1), rank)));
            return;
        }
        int axis = rank == 0 ? 0 : Lowerer.Axis(n.Int("axis", 1), rank);
        long outer = x.Type.Shape.Take(axis).Aggregate(1L, (a, b) => a * b);
        long inner = x.Type.Shape.Skip(axis).Aggregate(1L, (a, b) => a * b);
        var y = f(n.L, n.L.Reshape(x, outer, inner), 1);
        n.Output(0, n.L.Reshape(y, [.. x.Type.Shape]));
    }

    /// <summary>x − max(x) along the axis (max kept), the stable shift of softmax.</summary>
    private static Value Shifted(Lowerer l, Value x, int axis) => l.Binary("sub", x, l.Reduce(x, "max", [axis], keepDims: true));

    internal static Value Softmax(Lowerer l, Value x, int axis)
    {
        var e = l.Emit("exp", Shifted(l, x, axis));
        return l.Binary("div", e, l.Reduce(e, "sum", [axis], keepDims: true));
    }

    internal static Value LogSoftmax(Lowerer l, Value x, int axis)
    {
        var s = Shifted(l, x, axis);
        return l.Binary("sub", s, l.Emit("log", l.Reduce(l.Emit("exp", s), "sum", [axis], keepDims: true)));
    }

    /// <summary>1 at the first maximum along the axis, 0 elsewhere.</summary>
    private static Value Hardmax(Lowerer l, Value x, int axis)
    {
        var shape = x.Type.Shape;
        var reducedShape = shape.Where((_, i) => i != axis).ToArray();
        var idx = l.Emit("arg_reduce", [x], AttrMap.Of(("kind", new EnumAttr("max")), ("dimension", new IntAttr(axis))),
            new TensorType(ElementType.I64, reducedShape));
        var kept = shape.ToArray();
        kept[axis] = 1;
        idx = l.Reshape(idx, kept);
        var iota = l.Emit("iota", [], AttrMap.Of(("dimension", new IntAttr(axis))), new TensorType(ElementType.I64, shape));
        return l.Convert(l.Compare("eq", iota, idx), x.Type.Element);
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("ReduceSum", Reduce("sum", axesInputOpset: 13)),
        ("ReduceMean", Reduce("sum", post: (l, r, c) => l.Binary("div", r, l.Scalar(r.Type.Element, c)))),
        ("ReduceMax", Reduce("max")),
        ("ReduceMin", Reduce("min")),
        ("ReduceProd", Reduce("prod")),
        ("ReduceL1", Reduce("sum", pre: (l, x) => l.Emit("abs", x))),
        ("ReduceL2", Reduce("sum", pre: Sq, post: (l, r, _) => l.Emit("sqrt", r))),
        ("ReduceSumSquare", Reduce("sum", pre: Sq)),
        ("ReduceLogSum", Reduce("sum", post: (l, r, _) => l.Emit("log", r))),
        ("ReduceLogSumExp", ReduceLogSumExp),
        ("Softmax", n => AlongAxis(n, Softmax)),
        ("LogSoftmax", n => AlongAxis(n, LogSoftmax)),
        ("Hardmax", n => AlongAxis(n, Hardmax)),
    ];
}
