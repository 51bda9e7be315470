using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>ONNX gathers, scatters and index-producing ops: Gather*, Scatter*, OneHot, TopK, ArgMax/ArgMin, ReverseSequence, NonZero, Compress, Unique.</summary>
public static class OnnxIndexingOps
{
    private static long[] Range(int from, int count) => [.. Enumerable.Range(from, Math.Max(0, count)).Select(i => (long)i)];

    /// <summary>x indexed along <paramref name="axis"/> by idx (any shape, already in range): data[:axis] + idx.shape + data[axis+1:].</summary>
    internal static Value Take(Lowerer l, Value x, int axis, Value idx)
    {
        int r = x.Type.Rank, q = idx.Type.Rank;
        var sizes = x.Type.Shape.ToArray();
        sizes[axis] = 1;
        var offsetDims = Range(0, axis).Concat(Range(axis + q, r - axis - 1)).ToArray();
        return l.Emit("gather", [x, idx], AttrMap.Of(
            ("offset_dims", A.Ints(offsetDims)), ("collapsed_slice_dims", A.Ints(axis)), ("start_index_map", A.Ints(axis)),
            ("index_vector_dim", A.Int(q)), ("slice_sizes", A.Ints(sizes))));
    }

    private static void Gather(OnnxNode n)
    {
        var x = n.Input(0);
        if (x.Type.Rank == 0) throw n.Error("data must have rank >= 1");
        int axis = Lowerer.Axis(n.Int("axis", 0), x.Type.Rank);
        var idx = OnnxT.WrapIndices(n.L, n.Input(1), x.Type.Shape[axis]);
        n.Output(0, Take(n.L, x, axis, idx));
    }

    private static void GatherElements(OnnxNode n)
    {
        var x = n.Input(0);
        var idx = n.Input(1);
        int axis = Lowerer.Axis(n.Int("axis", 0), x.Type.Rank);
        if (idx.Type.Rank != x.Type.Rank) throw n.Error($"indices {idx.Type} must have the rank of data {x.Type}");
        var coords = OnnxT.Iotas(n.L, idx.Type.Shape);
        coords[axis] = OnnxT.WrapIndices(n.L, idx, x.Type.Shape[axis]);
        n.Output(0, OnnxT.GatherPoints(n.L, x, coords));
    }

    /// <summary>Index vectors along the last dimension, each entry wrapped by its data dimension.</summary>
    private static Value WrapVectors(Lowerer l, Value idx, IEnumerable<long> dims)
    {
        var d = dims.ToArray();
        return OnnxT.WrapIndices(l, idx, l.Ints(ElementType.I64, d));
    }

    private static void GatherND(OnnxNode n)
    {
        var (x, idx) = (n.Input(0), n.Input(1));
        int b = (int)n.Int("batch_dims", 0), r = x.Type.Rank, q = idx.Type.Rank;
        if (q < 1) throw n.Error("indices must have rank >= 1");
        int k = (int)idx.Type.Shape[q - 1];
        if (b < 0 || b >= q || b + k > r) throw n.Error($"batch_dims {b} and index depth {k} do not fit data {x.Type} and indices {idx.Type}");
        var wrapped = WrapVectors(n.L, idx, x.Type.Shape.Skip(b).Take(k));
        var sizes = x.Type.Shape.Select((s, d) => d < b + k ? 1 : s).ToArray();
        n.Output(0, n.L.Emit("gather", [x, wrapped], AttrMap.Of(
            ("offset_dims", A.Ints(Range(q - 1, r - b - k))), ("collapsed_slice_dims", A.Ints(Range(b, k))),
            ("start_index_map", A.Ints(Range(b, k))), ("index_vector_dim", A.Int(q - 1)), ("slice_sizes", A.Ints(sizes)),
            ("operand_batching_dims", A.Ints(Range(0, b))), ("start_indices_batching_dims", A.Ints(Range(0, b))))));
    }

    private static string ScatterKind(OnnxNode n)
    {
        var red = n.String("reduction", "none");
        return red switch
        {
            "none" => "replace",
            "add" or "mul" => red,
            "max" or "min" when n.Opset >= 18 => red,
            _ => throw n.Unsupported($"reduction={red}"),
        };
    }

    private static void ScatterElements(OnnxNode n)
    {
        var (x, idx, upd) = (n.Input(0), n.Input(1), n.Input(2));
        int axis = Lowerer.Axis(n.Int("axis", 0), x.Type.Rank);
        if (!idx.Type.Shape.SequenceEqual(upd.Type.Shape) || idx.Type.Rank != x.Type.Rank)
            throw n.Error($"indices {idx.Type} and updates {upd.Type} must have one shape and data's rank");
        var coords = OnnxT.Iotas(n.L, idx.Type.Shape);
        coords[axis] = OnnxT.WrapIndices(n.L, idx, x.Type.Shape[axis]);
        n.Output(0, OnnxT.ScatterPoints(n.L, x, coords, upd, n.OpType == "Scatter" ? "replace" : ScatterKind(n)));
    }

    private static void ScatterND(OnnxNode n)
    {
        var (x, idx, upd) = (n.Input(0), n.Input(1), n.Input(2));
        int r = x.Type.Rank, q = idx.Type.Rank;
        if (q < 1) throw n.Error("indices must have rank >= 1");
        int k = (int)idx.Type.Shape[q - 1];
        if (k > r) throw n.Error($"index depth {k} exceeds the data rank {r}");
        var wrapped = WrapVectors(n.L, idx, x.Type.Shape.Take(k));
        var attrs = new List<(string, Attr)>
        {
            ("update_window_dims", A.Ints(Range(q - 1, r - k))), ("inserted_window_dims", A.Ints(Range(0, k))),
            ("scatter_dims_to_operand_dims", A.Ints(Range(0, k))), ("index_vector_dim", A.Int(q - 1)),
        };
        var kind = ScatterKind(n);
        if (kind != "replace") attrs.Add(("kind", A.Enum(kind)));
        n.Output(0, n.L.Emit("scatter", [x, wrapped, upd], AttrMap.Of([.. attrs])));
    }

    private static void OneHot(OnnxNode n)
    {
        var l = n.L;
        var idx = n.Input(0);
        long depth = (long)OnnxT.KnownScalar(n, 1, "depth");
        var values = n.Input(2);
        if (values.Type.ElementCount != 2) throw n.Error($"values must have two elements, got {values.Type}");
        int r = idx.Type.Rank;
        long a = n.Int("axis", -1);
        if (a < -r - 1 || a > r) throw n.Error($"axis {a} is out of range for output rank {r + 1}");
        int axis = (int)(a < 0 ? a + r + 1 : a);
        var shape = idx.Type.Shape.ToList();
        shape.Insert(axis, depth);
        // Non-integer indices are truncated to integers; negative ones count from the end.
        var i64 = OnnxT.WrapIndices(l, l.Convert(idx, ElementType.I64), depth);
        var dims = Enumerable.Range(0, r + 1).Where(d => d != axis).Select(d => (long)d).ToArray();
        var ib = l.Emit("broadcast_in_dim", [i64], AttrMap.Of(("dims", A.Ints(dims))), new TensorType(ElementType.I64, shape.ToArray()));
        var hit = l.Compare("eq", OnnxT.Iota(l, new TensorType(ElementType.I64, shape.ToArray()), axis), ib);
        var flat = l.Reshape(values, 2);
        var off = l.Reshape(OnnxT.SliceAxis(l, flat, 0, 0, 1));
        var on = l.Reshape(OnnxT.SliceAxis(l, flat, 0, 1, 2));
        n.Output(0, l.Select(hit, on, off));
    }

    private static void TopK(OnnxNode n)
    {
        var x = n.Input(0);
        int r = x.Type.Rank;
        int axis = Lowerer.Axis(n.Int("axis", -1), r);
        long k = n.Opset < 10 ? n.Int("k") : (long)OnnxT.KnownScalar(n, 1, "K");
        bool largest = n.Opset < 11 || n.Int("largest", 1) != 0;
        // top_k works on the last dimension: move the axis there and back.
        var perm = Enumerable.Range(0, r).Where(d => d != axis).Append(axis).Select(d => (long)d).ToArray();
        var inv = new long[r];
        for (int i = 0; i < r; i++) inv[perm[i]] = i;
        var attrs = new List<(string, Attr)> { ("k", A.Int(k)) };
        if (!largest) attrs.Add(("largest", A.Bool(false)));
        var res = n.L.EmitMulti("top_k", [n.L.Transpose(x, perm)], AttrMap.Of([.. attrs]));
        n.Output(0, n.L.Transpose(res[0], inv));
        n.Output(1, n.L.Transpose(res[1], inv));
    }

    private static OnnxLowering Arg(string kind) => n =>
    {
        var x = n.Input(0);
        int axis = Lowerer.Axis(n.Int("axis", 0), x.Type.Rank);
        bool last = n.Opset >= 12 && n.Int("select_last_index", 0) != 0;
        var shape = x.Type.Shape.Where((_, d) => d != axis).ToArray();
        var attrs = new List<(string, Attr)> { ("kind", A.Enum(kind)), ("dimension", A.Int(axis)) };
        if (last) attrs.Add(("tie", A.Enum("last")));
        var r = n.L.Emit("arg_reduce", [x], AttrMap.Of([.. attrs]), new TensorType(ElementType.I64, shape));
        if (n.Int("keepdims", 1) != 0)
        {
            var kept = x.Type.Shape.ToArray();
            kept[axis] = 1;
            r = n.L.Reshape(r, kept);
        }
        n.Output(0, r);
    };

    private static void ReverseSequence(OnnxNode n)
    {
        var l = n.L;
        var (x, lens) = (n.Input(0), n.Input(1));
        int r = x.Type.Rank;
        int batch = Lowerer.Axis(n.Int("batch_axis", 1), r), time = Lowerer.Axis(n.Int("time_axis", 0), r);
        if (batch == time || r < 2) throw n.Error("batch_axis and time_axis must be distinct axes");
        var coords = OnnxT.Iotas(l, x.Type.Shape);
        var t = coords[time];
        var len = l.Emit("broadcast_in_dim", [l.Convert(lens, ElementType.I64)], AttrMap.Of(("dims", A.Ints(batch))), t.Type);
        // Position t of a sequence of length len reads len-1-t; positions past the length stay.
        var rev = l.Binary("sub", l.Binary("sub", len, l.Scalar(ElementType.I64, 1)), t);
        coords[time] = l.Select(l.Compare("lt", t, len), rev, t);
        n.Output(0, OnnxT.GatherPoints(l, x, coords));
    }

    private static void NonZero(OnnxNode n)
    {
        var t = OnnxT.KnownTensor(n, 0, "input");
        var shape = t.Type.Rank == 0 ? [1L] : t.Type.Shape.ToArray();
        var hits = new List<long>();
        for (long i = 0; i < t.ElementCount; i++)
            if (t.GetBool(i)) hits.Add(i);
        var values = new long[shape.Length * hits.Count];
        var idx = new long[shape.Length];
        for (int h = 0; h < hits.Count; h++)
        {
            Shapes.Unravel(hits[h], [.. shape], idx);
            for (int d = 0; d < shape.Length; d++) values[d * hits.Count + h] = idx[d];
        }
        n.Output(0, n.L.Constant(Tensor.FromInt64s(new TensorType(ElementType.I64, shape.Length, hits.Count), values)));
    }

    private static void Compress(OnnxNode n)
    {
        var x = n.Input(0);
        var cond = OnnxT.KnownTensor(n, 1, "condition");
        int axis;
        if (n.HasAttr("axis")) axis = Lowerer.Axis(n.Int("axis"), x.Type.Rank);
        else
        {
            x = n.L.Reshape(x, x.Type.ElementCount);
            axis = 0;
        }
        if (cond.ElementCount > x.Type.Shape[axis]) throw n.Error($"condition has {cond.ElementCount} entries for a dimension of {x.Type.Shape[axis]}");
        var keep = Enumerable.Range(0, (int)cond.ElementCount).Where(i => cond.GetBool(i)).Select(i => (long)i).ToArray();
        n.Output(0, Take(n.L, x, axis, n.L.Ints(ElementType.I64, keep)));
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("Gather", Gather), ("GatherElements", GatherElements), ("GatherND", GatherND),
        ("ScatterElements", ScatterElements), ("Scatter", ScatterElements), ("ScatterND", ScatterND),
        ("OneHot", OneHot), ("TopK", TopK), ("ArgMax", Arg("max")), ("ArgMin", Arg("min")),
        ("ReverseSequence", ReverseSequence), ("NonZero", NonZero), ("Compress", Compress), ("Unique", OnnxUnique.Lower),
    ];
}
