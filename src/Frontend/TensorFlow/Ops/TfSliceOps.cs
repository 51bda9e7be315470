using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>Slicing and indexing: Slice, StridedSlice (every mask), GatherV2 (batch_dims), GatherNd, OneHot.</summary>
public static class TfSliceOps
{
    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("Slice", Slice), ("StridedSlice", StridedSlice), ("GatherV2", n => Gather(n, n.KnownInts(2, "axis")[0], n.Int("batch_dims", 0))),
        ("Gather", n => Gather(n, 0, 0)), ("ResourceGather", n => Gather(n, 0, n.Int("batch_dims", 0))), ("GatherNd", GatherNd), ("OneHot", OneHot),
    ];

    private static Value Slice(Lowerer l, Value x, long[] start, long[] limit, long[] stride) =>
        start.All(s => s == 0) && limit.SequenceEqual(x.Type.Shape) && stride.All(s => s == 1) ? x
            : l.Emit("slice", [x], ("start", A.Ints(start)), ("limit", A.Ints(limit)), ("stride", A.Ints(stride)));

    private static void Slice(TfNode n)
    {
        var x = n.Input(0);
        var begin = n.KnownInts(1, "begin");
        var size = n.KnownInts(2, "size");
        int r = x.Type.Rank;
        if (begin.Length != r || size.Length != r) throw n.Error($"begin and size need {r} entries");
        var limit = new long[r];
        for (int i = 0; i < r; i++)
        {
            long d = x.Type.Shape[i];
            limit[i] = size[i] == -1 ? d : begin[i] + size[i];
            if (begin[i] < 0 || limit[i] > d || limit[i] < begin[i]) throw n.Error($"slice [{begin[i]}, {limit[i]}) is out of range for dimension {i} of {x.Type}");
        }
        n.Output(0, Slice(n.L, x, begin, limit, [.. Enumerable.Repeat(1L, r)]));
    }

    /// <summary>
    /// StridedSlice with known begin/end/strides and all five masks, following TF's dense-spec
    /// construction: the ellipsis (or an implicit one at the end) covers the dims no entry names,
    /// new_axis inserts a size-1 dim, shrink_axis takes one index and drops the dim; negative strides
    /// reverse the dim and slice it forwards.
    /// </summary>
    private static void StridedSlice(TfNode n)
    {
        var x = n.Input(0);
        long[] begin = n.KnownInts(1, "begin"), end = n.KnownInts(2, "end"), strides = n.KnownInts(3, "strides");
        long bm = n.Int("begin_mask", 0), em = n.Int("end_mask", 0), ell = n.Int("ellipsis_mask", 0), nam = n.Int("new_axis_mask", 0), sam = n.Int("shrink_axis_mask", 0);
        int k = begin.Length, rank = x.Type.Rank;
        if (end.Length != k || strides.Length != k) throw n.Error("begin, end and strides must have the same length");
        if (System.Numerics.BitOperations.PopCount((ulong)ell) > 1) throw n.Error("more than one ellipsis");
        bool Bit(long m, int i) => (m >> i & 1) != 0;
        int named = Enumerable.Range(0, k).Count(i => !Bit(nam, i) && !Bit(ell, i));
        var start = new long[rank];
        var limit = x.Type.Shape.ToArray();
        var step = Enumerable.Repeat(1L, rank).ToArray();
        var reverse = new List<long>();
        var outShape = new List<long>();
        int d = 0;
        void Full(int count)
        {
            for (int c = 0; c < count; c++, d++) outShape.Add(x.Type.Shape[d]);
        }
        bool sawEllipsis = false;
        for (int i = 0; i < k; i++)
        {
            if (Bit(ell, i)) { Full(rank - named); sawEllipsis = true; continue; }
            if (Bit(nam, i)) { outShape.Add(1); continue; }
            if (d >= rank) throw n.Error($"slice index {i} is past rank {rank}");
            long D = x.Type.Shape[d], s = strides[i];
            if (s == 0) throw n.Error("stride must not be 0");
            if (Bit(sam, i))
            {
                long idx = begin[i] < 0 ? begin[i] + D : begin[i];
                if (idx < 0 || idx >= D) throw n.Error($"index {begin[i]} is out of bounds for dimension {d} of size {D}");
                start[d] = idx; limit[d] = idx + 1;
                d++;
                continue;
            }
            long b, e;
            if (s > 0)
            {
                b = Bit(bm, i) ? 0 : Math.Clamp(begin[i] < 0 ? begin[i] + D : begin[i], 0, D);
                e = Bit(em, i) ? D : Math.Clamp(end[i] < 0 ? end[i] + D : end[i], 0, D);
                long len = Math.Max(0, (e - b + s - 1) / s);
                start[d] = b; limit[d] = len == 0 ? b : b + (len - 1) * s + 1; step[d] = s;
                outShape.Add(len);
            }
            else
            {
                b = Bit(bm, i) ? D - 1 : Math.Clamp(begin[i] < 0 ? begin[i] + D : begin[i], -1, D - 1);
                e = Bit(em, i) ? -1 : Math.Clamp(end[i] < 0 ? end[i] + D : end[i], -1, D - 1);
                long len = Math.Max(0, (b - e + -s - 1) / -s);
                // In the reversed dim, index j is D-1-j.
                long rb = D - 1 - b;
                reverse.Add(d);
                start[d] = len == 0 ? 0 : rb; limit[d] = len == 0 ? 0 : rb + (len - 1) * -s + 1; step[d] = -s;
                outShape.Add(len);
            }
            d++;
        }
        if (!sawEllipsis || d < rank) Full(rank - d);
        var v = reverse.Count > 0 ? n.L.Emit("reverse", [x], ("dims", A.Ints([.. reverse]))) : x;
        v = Slice(n.L, v, start, limit, step);
        n.Output(0, n.L.Reshape(v, [.. outShape]));
    }

    /// <summary>GatherV2: result = params[:axis] + indices.shape[batch_dims:] + params[axis+1:], as an XLA gather.</summary>
    private static void Gather(TfNode n, long axisIn, long batchIn)
    {
        var p = n.Input(0);
        var idx = n.Input(1);
        int rp = p.Type.Rank, ri = idx.Type.Rank;
        int b = (int)(batchIn < 0 ? batchIn + ri : batchIn);
        int axis = Lowerer.Axis(axisIn, rp);
        if (b < 0 || b > ri || b > axis) throw n.Error($"batch_dims {batchIn} must be in [0, {Math.Min(ri, axis)}]");
        for (int i = 0; i < b; i++)
            if (p.Type.Shape[i] != idx.Type.Shape[i]) throw n.Error($"batch dimension {i} differs: {p.Type} vs {idx.Type}");
        var offsetDims = new List<long>();
        for (int i = b; i < axis; i++) offsetDims.Add(i);
        // Result dims: params[:axis] (the first b are the batch dims), then indices[b:], then params[axis+1:].
        for (int i = axis + 1; i < rp; i++) offsetDims.Add(axis + (ri - b) + (i - axis - 1));
        var sizes = p.Type.Shape.ToArray();
        sizes[axis] = 1;
        for (int i = 0; i < b; i++) sizes[i] = 1;
        var attrs = new List<(string, Attr)>
        {
            ("offset_dims", A.Ints([.. offsetDims])), ("collapsed_slice_dims", A.Ints(axis)), ("start_index_map", A.Ints(axis)),
            ("index_vector_dim", A.Int(ri)), ("slice_sizes", A.Ints(sizes)),
        };
        if (b > 0)
        {
            attrs.Add(("operand_batching_dims", A.Ints([.. Enumerable.Range(0, b).Select(i => (long)i)])));
            attrs.Add(("start_indices_batching_dims", A.Ints([.. Enumerable.Range(0, b).Select(i => (long)i)])));
        }
        n.Output(0, n.L.Emit("gather", [p, idx], AttrMap.Of([.. attrs])));
    }

    private static void GatherNd(TfNode n)
    {
        var p = n.Input(0);
        var idx = n.Input(1);
        if (n.Int("batch_dims", 0) != 0) throw n.Unsupported("batch_dims≠0");
        int rp = p.Type.Rank, ri = idx.Type.Rank;
        if (ri == 0) throw n.Error("indices must have rank ≥ 1");
        long K = idx.Type.Shape[^1];
        if (K > rp) throw n.Error($"index depth {K} exceeds the rank of {p.Type}");
        var sizes = p.Type.Shape.ToArray();
        for (int i = 0; i < K; i++) sizes[i] = 1;
        var map = Enumerable.Range(0, (int)K).Select(i => (long)i).ToArray();
        var attrs = AttrMap.Of(
            ("offset_dims", A.Ints([.. Enumerable.Range(0, rp - (int)K).Select(i => (long)(ri - 1 + i))])),
            ("collapsed_slice_dims", A.Ints(map)), ("start_index_map", A.Ints(map)),
            ("index_vector_dim", A.Int(ri - 1)), ("slice_sizes", A.Ints(sizes)));
        n.Output(0, n.L.Emit("gather", [p, idx], attrs));
    }

    /// <summary>OneHot: compare the indices with an iota along the new axis (out-of-range indices give off everywhere).</summary>
    private static void OneHot(TfNode n)
    {
        var idx = n.Input(0);
        var depthA = n.KnownInts(1, "depth");
        Value on = n.L.Reshape(n.Input(2)), off = n.L.Reshape(n.Input(3));
        long depth = depthA[0];
        int rank = idx.Type.Rank + 1;
        int axis = (int)n.Int("axis", -1);
        axis = axis == -1 ? rank - 1 : Lowerer.Axis(axis, rank);
        var shape = idx.Type.Shape.ToList();
        shape.Insert(axis, depth);
        var iota = n.L.Emit("iota", [], AttrMap.Of(("dimension", A.Int(axis))), new TensorType(idx.Type.Element, shape.ToArray()));
        var dims = Enumerable.Range(0, rank).Where(i => i != axis).Select(i => (long)i).ToArray();
        var bidx = n.L.Emit("broadcast_in_dim", [idx], AttrMap.Of(("dims", A.Ints(dims))), idx.Type.WithShape([.. shape]));
        n.Output(0, n.L.Select(n.L.Compare("eq", bidx, iota), on, off));
    }
}
