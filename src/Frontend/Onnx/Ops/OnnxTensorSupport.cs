using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>Helpers shared by the tensor-manipulation lowerings (shape, indexing, generators, resize).</summary>
internal static class OnnxT
{
    /// <summary>An input that must be known at import time; otherwise the node is unsupported (static shapes).</summary>
    public static Tensor KnownTensor(OnnxNode n, int i, string what) => n.RequireKnown(i, what);

    public static long[] KnownInts(OnnxNode n, int i, string what)
    {
        var t = KnownTensor(n, i, what);
        if (!t.Element.IsInteger()) throw n.Error($"{what} must be an integer tensor, got {t.Type}");
        return [.. Enumerable.Range(0, (int)t.ElementCount).Select(k => t.GetInt64(k))];
    }

    public static double[] KnownDoubles(OnnxNode n, int i, string what)
    {
        var t = KnownTensor(n, i, what);
        return [.. Enumerable.Range(0, (int)t.ElementCount).Select(k => t.GetDouble(k))];
    }

    /// <summary>A rank-0 or one-element input known at import time.</summary>
    public static double KnownScalar(OnnxNode n, int i, string what)
    {
        var t = KnownTensor(n, i, what);
        if (t.ElementCount != 1) throw n.Error($"{what} must have one element, got {t.Type}");
        return t.GetDouble(0);
    }

    /// <summary>Axes from the attribute (opset &lt; <paramref name="inputOpset"/>) or the optional input; null when absent.</summary>
    public static long[]? AxesAttrOrInput(OnnxNode n, string name, int input, long inputOpset) =>
        n.Opset < inputOpset ? n.Ints(name) : n.Has(input) ? KnownInts(n, input, name) : null;

    public static int[] NormalizeAxes(OnnxNode n, IEnumerable<long> axes, int rank, string what = "axis")
    {
        var r = axes.Select(a => Lowerer.Axis(a, rank, what)).ToArray();
        if (r.Distinct().Count() != r.Length) throw n.Error($"{what} list [{string.Join(", ", axes)}] repeats an axis");
        return r;
    }

    public static long Product(IEnumerable<long> dims) => dims.Aggregate(1L, (a, b) => a * b);

    public static Value Iota(Lowerer l, TensorType type, int dimension) =>
        l.Emit("iota", [], AttrMap.Of(("dimension", A.Int(dimension))), type);

    public static Value Slice(Lowerer l, Value x, long[] start, long[] limit, long[]? stride = null)
    {
        if (start.All(s => s == 0) && limit.SequenceEqual(x.Type.Shape) && (stride is null || stride.All(s => s == 1))) return x;
        var attrs = new List<(string, Attr)> { ("start", A.Ints(start)), ("limit", A.Ints(limit)) };
        if (stride is not null && stride.Any(s => s != 1)) attrs.Add(("stride", A.Ints(stride)));
        return l.Emit("slice", [x], AttrMap.Of([.. attrs]));
    }

    /// <summary>Elements [start, limit) of one axis.</summary>
    public static Value SliceAxis(Lowerer l, Value x, int axis, long start, long limit)
    {
        var s = new long[x.Type.Rank];
        var e = x.Type.Shape.ToArray();
        s[axis] = start;
        e[axis] = limit;
        return Slice(l, x, s, e);
    }

    public static Value Concat(Lowerer l, IReadOnlyList<Value> parts, int axis) =>
        parts.Count == 1 ? parts[0] : l.Emit("concatenate", [.. parts], AttrMap.Of(("dimension", A.Int(axis))));

    /// <summary>Integer indices as i64 with negative values wrapped by <paramref name="dim"/> (NumPy's convention).</summary>
    public static Value WrapIndices(Lowerer l, Value idx, Value dim)
    {
        idx = l.Convert(idx, ElementType.I64);
        if (idx.Type.Element.IsUnsignedInteger()) return idx;
        var neg = l.Compare("lt", idx, l.Scalar(ElementType.I64, 0));
        return l.Select(neg, l.Binary("add", idx, dim), idx);
    }

    public static Value WrapIndices(Lowerer l, Value idx, long dim)
    {
        if (idx.Type.Element.IsUnsignedInteger()) return l.Convert(idx, ElementType.I64);
        return WrapIndices(l, idx, l.Scalar(ElementType.I64, dim));
    }

    /// <summary>
    /// One element of <paramref name="x"/> per position: <paramref name="coords"/>[d] (i64, all one shape S)
    /// is the index along dimension d; the result has shape S.
    /// </summary>
    public static Value GatherPoints(Lowerer l, Value x, IReadOnlyList<Value> coords)
    {
        var (indices, shape) = StackCoords(l, coords);
        int r = x.Type.Rank;
        var all = Enumerable.Range(0, r).Select(d => (long)d).ToArray();
        return l.Emit("gather", [x, indices], AttrMap.Of(
            ("collapsed_slice_dims", A.Ints(all)), ("start_index_map", A.Ints(all)),
            ("index_vector_dim", A.Int(shape.Length)), ("slice_sizes", A.Ints([.. Enumerable.Repeat(1L, r)]))));
    }

    /// <summary>Writes <paramref name="updates"/> (shape S) into x at the points <paramref name="coords"/> (as in <see cref="GatherPoints"/>).</summary>
    public static Value ScatterPoints(Lowerer l, Value x, IReadOnlyList<Value> coords, Value updates, string kind)
    {
        var (indices, shape) = StackCoords(l, coords);
        var all = Enumerable.Range(0, x.Type.Rank).Select(d => (long)d).ToArray();
        var attrs = new List<(string, Attr)>
        {
            ("inserted_window_dims", A.Ints(all)), ("scatter_dims_to_operand_dims", A.Ints(all)), ("index_vector_dim", A.Int(shape.Length)),
        };
        if (kind != "replace") attrs.Add(("kind", A.Enum(kind)));
        return l.Emit("scatter", [x, indices, updates], AttrMap.Of([.. attrs]));
    }

    private static (Value, long[]) StackCoords(Lowerer l, IReadOnlyList<Value> coords)
    {
        var shape = coords[0].Type.Shape.ToArray();
        var parts = coords.Select(c => l.Reshape(l.Convert(c, ElementType.I64), [.. shape, 1])).ToList();
        return (Concat(l, parts, shape.Length), shape);
    }

    /// <summary>The i64 position along each dimension of <paramref name="shape"/>.</summary>
    public static Value[] Iotas(Lowerer l, IReadOnlyList<long> shape) =>
        [.. Enumerable.Range(0, shape.Count).Select(d => Iota(l, new TensorType(ElementType.I64, shape.ToArray()), d))];

    public static Value Constant(Lowerer l, ElementType e, long[] shape, IReadOnlyList<double> values) =>
        l.Constant(Tensor.FromDoubles(new TensorType(e, shape), values));
}
