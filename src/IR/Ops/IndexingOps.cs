using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// <c>gather %operand, %indices {offset_dims = [...], collapsed_slice_dims = [...], start_index_map = [...],
/// index_vector_dim = N, slice_sizes = [...], operand_batching_dims = [...], start_indices_batching_dims = [...]} : T</c>:
/// XLA's general Gather (with StableHLO's batching dims). Every result position splits into batch
/// dims (the result dims not in <c>offset_dims</c>, one per indices dim except <c>index_vector_dim</c>,
/// in order) and offset dims. The batch position selects an index vector from <c>indices</c> along
/// <c>index_vector_dim</c> (when it equals rank(indices) the vector is the single element, an implicit
/// trailing 1); entry j is the start along operand dim <c>start_index_map[j]</c>, clamped to
/// [0, dim - slice_size] so the slice stays in bounds. <c>operand_batching_dims[i]</c> takes the batch
/// position of indices dim <c>start_indices_batching_dims[i]</c>. The offset position walks the slice
/// (of size <c>slice_sizes</c>) over the operand dims that are neither collapsed nor batching, in order;
/// collapsed and batching dims must have slice size 1 and do not appear in the result. Indices may be
/// any integer type (unsigned values past the signed range clamp like any large index).
/// <c>offset_dims</c>, <c>collapsed_slice_dims</c> and the batching dims default to empty.
/// </summary>
public sealed class GatherOp() : OpDef("gather")
{
    public override Autodiff.VjpRule? Gradient => IndexingGradients.Gather;
    public override double EvaluationWork(Operation op) => ResultTimesOperands(op);
    public override int MinOperands => 2;

    public override ImmutableArray<AttrSpec> Attributes =>
    [
        AttrSpec.IntsOrEmpty("offset_dims"),
        AttrSpec.IntsOrEmpty("collapsed_slice_dims"),
        AttrSpec.Ints("start_index_map"),
        AttrSpec.Int("index_vector_dim"),
        AttrSpec.Ints("slice_sizes"),
        AttrSpec.IntsOrEmpty("operand_batching_dims"),
        AttrSpec.IntsOrEmpty("start_indices_batching_dims"),
    ];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var (x, idx) = (sig.Operand(0), sig.Operand(1));
        var a = sig.Attr;
        var offsetDims = a.Ints("offset_dims");
        var collapsed = a.Ints("collapsed_slice_dims");
        var map = a.Ints("start_index_map");
        var sizes = a.Ints("slice_sizes");
        var opBatch = a.Ints("operand_batching_dims");
        var idxBatch = a.Ints("start_indices_batching_dims");
        int r = x.Rank;

        long ivd = IndexingSupport.IndexVectorDim(sig, idx);
        if (sizes.Length != r) throw sig.Error($"'slice_sizes' has {sizes.Length} entries, expected {r} (the operand rank of {x})");
        for (int d = 0; d < r; d++)
            if (sizes[d] < 0 || sizes[d] > x.Shape[d])
                throw sig.Error($"'slice_sizes'[{d}] is {sizes[d]}, expected 0 <= size <= {x.Shape[d]} (operand dimension {d} of {x})");

        IndexingSupport.DimList(sig, "collapsed_slice_dims", collapsed, r, "the operand rank", sorted: true);
        IndexingSupport.DimList(sig, "operand_batching_dims", opBatch, r, "the operand rank", sorted: true);
        foreach (var d in collapsed)
            if (sizes[(int)d] != 1) throw sig.Error($"'slice_sizes'[{d}] is {sizes[(int)d]}, expected 1 because dimension {d} is in 'collapsed_slice_dims'");
        foreach (var d in opBatch)
            if (sizes[(int)d] != 1) throw sig.Error($"'slice_sizes'[{d}] is {sizes[(int)d]}, expected 1 because dimension {d} is in 'operand_batching_dims'");
        IndexingSupport.Disjoint(sig, "collapsed_slice_dims", collapsed, "operand_batching_dims", opBatch);
        IndexingSupport.BatchingDims(sig, x, "operand_batching_dims", opBatch, idx, "start_indices_batching_dims", idxBatch, ivd);
        IndexingSupport.StartIndexMap(sig, "start_index_map", map, x, idx, ivd);
        IndexingSupport.Disjoint(sig, "start_index_map", map, "operand_batching_dims", opBatch);

        int offsetCount = r - collapsed.Length - opBatch.Length;
        if (offsetDims.Length != offsetCount)
            throw sig.Error($"'offset_dims' has {offsetDims.Length} entries, expected {offsetCount} (operand rank {r} minus {collapsed.Length} collapsed and {opBatch.Length} batching dims)");
        var batchShape = IndexingSupport.BatchShape(idx, ivd);
        int resultRank = batchShape.Length + offsetCount;
        IndexingSupport.DimList(sig, "offset_dims", offsetDims, resultRank, "the result rank", sorted: true);

        var windowDims = IndexingDims.Window(r, collapsed, opBatch);
        var shape = new long[resultRank];
        int b = 0;
        for (int d = 0, o = 0; d < resultRank; d++)
            shape[d] = o < offsetDims.Length && offsetDims[o] == d ? sizes[windowDims[o++]] : batchShape[b++];
        return [new TensorType(x.Element, shape)];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var (x, idx) = (ctx.Operand(0), ctx.Operand(1));
        var a = ctx.Attr;
        var offsetDims = a.Ints("offset_dims");
        var map = a.Ints("start_index_map");
        var sizes = a.Ints("slice_sizes");
        var opBatch = a.Ints("operand_batching_dims");
        var idxBatch = a.Ints("start_indices_batching_dims");
        int ivd = a.Int32("index_vector_dim");
        var windowDims = IndexingDims.Window(x.Type.Rank, a.Ints("collapsed_slice_dims"), opBatch);
        var rt = ctx.ResultType();
        var batchDims = Enumerable.Range(0, rt.Rank).Where(d => !offsetDims.Contains(d)).ToArray();
        var xStrides = x.Type.Strides();

        var o = new TensorBuffer(rt);
        var ri = new long[rt.Rank];
        var batch = new long[batchDims.Length];
        var xi = new long[x.Type.Rank];
        for (long k = 0; k < rt.ElementCount; k++)
        {
            Shapes.Unravel(k, rt.Shape, ri);
            for (int i = 0; i < batchDims.Length; i++) batch[i] = ri[batchDims[i]];
            Array.Clear(xi);
            for (int j = 0; j < map.Length; j++)
            {
                int d = (int)map[j];
                long start = IndexingSupport.ReadIndexVector(idx, batch, ivd, j);
                xi[d] = Math.Clamp(start, 0, x.Type.Shape[d] - sizes[d]);
            }
            for (int i = 0; i < opBatch.Length; i++) xi[opBatch[i]] = batch[IndexingSupport.BatchPosition(idxBatch[i], ivd)];
            for (int i = 0; i < offsetDims.Length; i++) xi[windowDims[i]] += ri[offsetDims[i]];
            o.CopyElement(k, x, Shapes.Ravel(xi, xStrides));
        }
        return [o.ToTensor()];
    }
}

/// <summary>
/// <c>scatter %operand, %indices, %updates {update_window_dims = [...], inserted_window_dims = [...],
/// scatter_dims_to_operand_dims = [...], index_vector_dim = N, input_batching_dims = [...],
/// scatter_indices_batching_dims = [...], kind = replace|add|mul|max|min} : T</c>: XLA's Scatter, the
/// inverse of <c>gather</c>, with the update computation named by <c>kind</c> (default replace). The
/// result starts as a copy of the operand. The updates dims not in <c>update_window_dims</c> are scatter
/// dims (one per indices dim except <c>index_vector_dim</c>, in order); each scatter position reads an
/// index vector whose entry j is the start along operand dim <c>scatter_dims_to_operand_dims[j]</c>
/// (<c>input_batching_dims[i]</c> takes the position of indices dim <c>scatter_indices_batching_dims[i]</c>);
/// the window (updates dims in <c>update_window_dims</c>, laid over the operand dims that are neither
/// inserted nor batching, in order; size 1 on the others) is added to that start. Start indices are not
/// clamped: a window that does not lie entirely inside the operand is skipped whole (XLA's rule).
/// Updates are applied one element at a time in row-major order of the updates index space, each
/// rounded to the element type, so with <c>replace</c> and duplicate indices the update latest in that
/// order wins, and <c>add</c>/<c>mul</c> accumulate in that order. add/mul wrap for integers; max/min
/// propagate NaN as the elementwise ops do. Only <c>replace</c> accepts bool.
/// </summary>
public sealed class ScatterOp() : OpDef("scatter")
{
    public override Autodiff.VjpRule? Gradient => IndexingGradients.Scatter;
    public override double EvaluationWork(Operation op) => ResultTimesOperands(op);
    public override int MinOperands => 3;

    public override ImmutableArray<AttrSpec> Attributes =>
    [
        AttrSpec.IntsOrEmpty("update_window_dims"),
        AttrSpec.IntsOrEmpty("inserted_window_dims"),
        AttrSpec.Ints("scatter_dims_to_operand_dims"),
        AttrSpec.Int("index_vector_dim"),
        AttrSpec.IntsOrEmpty("input_batching_dims"),
        AttrSpec.IntsOrEmpty("scatter_indices_batching_dims"),
        AttrSpec.Enum("kind", "replace", "replace", "add", "mul", "max", "min"),
    ];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var (x, idx, upd) = (sig.Operand(0), sig.Operand(1), sig.Operand(2));
        var a = sig.Attr;
        var uwd = a.Ints("update_window_dims");
        var inserted = a.Ints("inserted_window_dims");
        var map = a.Ints("scatter_dims_to_operand_dims");
        var inBatch = a.Ints("input_batching_dims");
        var idxBatch = a.Ints("scatter_indices_batching_dims");
        var kind = a.Enum("kind");
        int r = x.Rank;

        if (upd.Element != x.Element) throw sig.Error($"updates are {upd} but the operand is {x}; element types must match");
        if (kind != "replace" && x.Element == ElementType.Bool) throw sig.Error($"'kind' {kind} needs a numeric element type, got {x}; bool takes only replace");
        long ivd = IndexingSupport.IndexVectorDim(sig, idx);

        IndexingSupport.DimList(sig, "inserted_window_dims", inserted, r, "the operand rank", sorted: true);
        IndexingSupport.DimList(sig, "input_batching_dims", inBatch, r, "the operand rank", sorted: true);
        IndexingSupport.Disjoint(sig, "inserted_window_dims", inserted, "input_batching_dims", inBatch);
        if (uwd.Length + inserted.Length + inBatch.Length != r)
            throw sig.Error($"operand rank {r} must equal the number of 'update_window_dims' ({uwd.Length}) + 'inserted_window_dims' ({inserted.Length}) + 'input_batching_dims' ({inBatch.Length})");
        IndexingSupport.BatchingDims(sig, x, "input_batching_dims", inBatch, idx, "scatter_indices_batching_dims", idxBatch, ivd);
        IndexingSupport.StartIndexMap(sig, "scatter_dims_to_operand_dims", map, x, idx, ivd);
        IndexingSupport.Disjoint(sig, "scatter_dims_to_operand_dims", map, "input_batching_dims", inBatch);

        var batchShape = IndexingSupport.BatchShape(idx, ivd);
        int expectedRank = uwd.Length + batchShape.Length;
        if (upd.Rank != expectedRank)
            throw sig.Error($"updates are {upd}, expected rank {expectedRank} ({uwd.Length} 'update_window_dims' + {batchShape.Length} scatter dims from the indices)");
        IndexingSupport.DimList(sig, "update_window_dims", uwd, upd.Rank, "the updates rank", sorted: true);

        var windowDims = IndexingDims.Window(r, inserted, inBatch);
        for (int d = 0, w = 0, s = 0; d < upd.Rank; d++)
        {
            if (w < uwd.Length && uwd[w] == d)
            {
                int od = windowDims[w++];
                if (upd.Shape[d] > x.Shape[od])
                    throw sig.Error($"updates window dimension {d} has size {upd.Shape[d]}, larger than operand dimension {od} (size {x.Shape[od]})");
            }
            else
            {
                int id = s < ivd ? s : s + 1;
                if (upd.Shape[d] != batchShape[s])
                    throw sig.Error($"updates scatter dimension {d} has size {upd.Shape[d]}, expected {batchShape[s]} (indices dimension {id})");
                s++;
            }
        }
        return [x];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var (x, idx, upd) = (ctx.Operand(0), ctx.Operand(1), ctx.Operand(2));
        var a = ctx.Attr;
        var uwd = a.Ints("update_window_dims");
        var map = a.Ints("scatter_dims_to_operand_dims");
        var inBatch = a.Ints("input_batching_dims");
        var idxBatch = a.Ints("scatter_indices_batching_dims");
        var kind = a.Enum("kind");
        int ivd = a.Int32("index_vector_dim");
        var windowDims = IndexingDims.Window(x.Type.Rank, a.Ints("inserted_window_dims"), inBatch);
        var scatterDims = Enumerable.Range(0, upd.Type.Rank).Where(d => !uwd.Contains(d)).ToArray();
        var shape = x.Type.Shape;
        var windowSize = new long[shape.Length];
        Array.Fill(windowSize, 1);
        for (int i = 0; i < uwd.Length; i++) windowSize[windowDims[i]] = upd.Type.Shape[(int)uwd[i]];
        var xStrides = x.Type.Strides();

        var o = new TensorBuffer(x.Type);
        x.Bytes.CopyTo(o.RawBytes);
        var ui = new long[upd.Type.Rank];
        var scatter = new long[scatterDims.Length];
        var xi = new long[shape.Length];
        for (long k = 0; k < upd.ElementCount; k++)
        {
            Shapes.Unravel(k, upd.Type.Shape, ui);
            for (int i = 0; i < scatterDims.Length; i++) scatter[i] = ui[scatterDims[i]];
            Array.Clear(xi);
            for (int j = 0; j < map.Length; j++) xi[map[j]] = IndexingSupport.ReadIndexVector(idx, scatter, ivd, j);
            for (int i = 0; i < inBatch.Length; i++) xi[inBatch[i]] = scatter[IndexingSupport.BatchPosition(idxBatch[i], ivd)];
            bool inside = true;
            for (int d = 0; d < shape.Length; d++) inside &= xi[d] >= 0 && xi[d] <= shape[d] - windowSize[d];
            if (!inside) continue; // the whole window is skipped
            for (int i = 0; i < uwd.Length; i++) xi[windowDims[i]] += ui[uwd[i]];
            Combine(o, Shapes.Ravel(xi, xStrides), upd, k, kind);
        }
        return [o.ToTensor()];
    }

    private static void Combine(TensorBuffer o, long at, Tensor upd, long k, string kind)
    {
        if (kind == "replace")
        {
            o.CopyElement(at, upd, k);
            return;
        }
        var e = o.Element;
        if (e.IsFloat())
        {
            double p = o.GetDouble(at), q = upd.GetDouble(k);
            o.SetDouble(at, kind switch { "add" => p + q, "mul" => p * q, "max" => Math.Max(p, q), _ => Math.Min(p, q) });
        }
        else if (e.IsUnsignedInteger())
        {
            ulong p = o.GetUInt64(at), q = upd.GetUInt64(k);
            o.SetUInt64(at, kind switch { "add" => unchecked(p + q), "mul" => unchecked(p * q), "max" => Math.Max(p, q), _ => Math.Min(p, q) });
        }
        else
        {
            long p = o.GetInt64(at), q = upd.GetInt64(k);
            o.SetInt64(at, kind switch { "add" => unchecked(p + q), "mul" => unchecked(p * q), "max" => Math.Max(p, q), _ => Math.Min(p, q) });
        }
    }
}

/// <summary>
/// <c>%values, %indices = sort %x {dimension = d, descending = false} : T, tensor&lt;...xi64&gt;</c>: sorts
/// every lane along dimension d; <c>indices</c> holds each value's original position along d. Stable.
/// Ascending order puts NaN after every number (all NaNs tie); -0.0 and +0.0 compare equal (their bits are
/// kept). Descending is the exact reverse of the ascending key order (NaN first), still stable: ties keep
/// their original order. Bool sorts false before true; unsigned integers compare unsigned.
/// </summary>
public sealed class SortOp() : OpDef("sort")
{
    public override Autodiff.VjpRule? Gradient => IndexingGradients.Sort;
    public override int MinOperands => 1;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Int("dimension"), AttrSpec.Bool("descending", false)];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var x = sig.Operand(0);
        long d = sig.Attr.Int("dimension");
        if (x.Rank == 0) throw sig.Error($"operand must have rank 1 or more, got {x}");
        if (d < 0 || d >= x.Rank) throw sig.Error($"'dimension' is {d}, expected 0 <= dimension < {x.Rank} (the rank of {x})");
        return [x, x.WithElement(ElementType.I64)];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx) =>
        IndexingSupport.SortLanes(ctx.Operand(0), ctx.Attr.Int32("dimension"), ctx.Attr.Bool("descending"), ctx.ResultType(0), ctx.ResultType(1));
}

/// <summary>
/// <c>%values, %indices = top_k %x {k = K, largest = true} : tensor&lt;...xKxT&gt;, tensor&lt;...xKxi64&gt;</c>:
/// the K largest (or smallest when <c>largest = false</c>) elements along the last dimension, sorted
/// (largest first, or smallest first), with their i64 positions. Ties go to the lower index first. NaN
/// counts as larger than +inf: it comes first with largest=true and last with largest=false (the order of
/// NumPy's sort/argsort). 0 &lt;= K &lt;= last dim.
/// </summary>
public sealed class TopKOp() : OpDef("top_k")
{
    public override Autodiff.VjpRule? Gradient => IndexingGradients.TopK;
    public override int MinOperands => 1;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Int("k"), AttrSpec.Bool("largest", true)];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var x = sig.Operand(0);
        long k = sig.Attr.Int("k");
        if (x.Rank == 0) throw sig.Error($"operand must have rank 1 or more, got {x}");
        long n = x.Shape[^1];
        if (k < 0 || k > n) throw sig.Error($"'k' is {k}, expected 0 <= k <= {n} (the last dimension of {x})");
        var t = x.WithShape(x.Shape.SetItem(x.Rank - 1, k));
        return [t, t.WithElement(ElementType.I64)];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var x = ctx.Operand(0);
        // Sorting the whole lane and keeping the first K gives exactly the documented order.
        return IndexingSupport.SortLanes(x, x.Type.Rank - 1, ctx.Attr.Bool("largest"), ctx.ResultType(0), ctx.ResultType(1));
    }
}

/// <summary>Attribute checks and index arithmetic shared by gather, scatter, sort and top_k.</summary>
internal static class IndexingSupport
{
    public static long IndexVectorDim(OpSignature sig, TensorType idx)
    {
        if (!idx.Element.IsInteger()) throw sig.Error($"indices must have an integer element type, got {idx}");
        long ivd = sig.Attr.Int("index_vector_dim");
        if (ivd < 0 || ivd > idx.Rank)
            throw sig.Error($"'index_vector_dim' is {ivd}, expected 0 <= index_vector_dim <= {idx.Rank} (the rank of the indices {idx})");
        return ivd;
    }

    /// <summary>A list of distinct dimensions below <paramref name="limit"/>, ascending when <paramref name="sorted"/>.</summary>
    public static void DimList(OpSignature sig, string attr, ImmutableArray<long> dims, int limit, string what, bool sorted)
    {
        for (int i = 0; i < dims.Length; i++)
        {
            long d = dims[i];
            if (d < 0 || d >= limit) throw sig.Error($"'{attr}' entry {d} is out of range: expected 0 <= d < {limit} ({what})");
            for (int j = 0; j < i; j++)
                if (dims[j] == d) throw sig.Error($"'{attr}' lists dimension {d} twice");
            if (sorted && i > 0 && dims[i - 1] > d) throw sig.Error($"'{attr}' must be sorted ascending, got [{string.Join(", ", dims)}]");
        }
    }

    public static void Disjoint(OpSignature sig, string attrA, ImmutableArray<long> a, string attrB, ImmutableArray<long> b)
    {
        foreach (var d in a)
            if (b.Contains(d)) throw sig.Error($"operand dimension {d} is in both '{attrA}' and '{attrB}'");
    }

    /// <summary>Operand batching dims pair up with indices batching dims of the same size.</summary>
    public static void BatchingDims(OpSignature sig, TensorType x, string xAttr, ImmutableArray<long> xDims,
        TensorType idx, string idxAttr, ImmutableArray<long> idxDims, long ivd)
    {
        DimList(sig, idxAttr, idxDims, idx.Rank, "the indices rank", sorted: false);
        if (idxDims.Contains(ivd)) throw sig.Error($"'{idxAttr}' must not contain index_vector_dim {ivd}");
        if (xDims.Length != idxDims.Length)
            throw sig.Error($"'{xAttr}' has {xDims.Length} entries but '{idxAttr}' has {idxDims.Length}; they pair up one to one");
        for (int i = 0; i < xDims.Length; i++)
        {
            long xs = x.Shape[(int)xDims[i]], s = idx.Shape[(int)idxDims[i]];
            if (xs != s)
                throw sig.Error($"batching pair #{i}: operand dimension {xDims[i]} has size {xs} but indices dimension {idxDims[i]} has size {s}");
        }
    }

    /// <summary>One operand dim per index vector entry, distinct.</summary>
    public static void StartIndexMap(OpSignature sig, string attr, ImmutableArray<long> map, TensorType x, TensorType idx, long ivd)
    {
        long vec = ivd < idx.Rank ? idx.Shape[(int)ivd] : 1;
        if (map.Length != vec)
        {
            var why = ivd < idx.Rank ? $"the size of indices dimension {ivd} of {idx}" : "index_vector_dim equals the indices rank: one implicit index";
            throw sig.Error($"'{attr}' has {map.Length} entries, expected {vec} ({why})");
        }
        DimList(sig, attr, map, x.Rank, "the operand rank", sorted: false);
    }

    /// <summary>The indices shape without <c>index_vector_dim</c>: the batch (scatter) dims.</summary>
    public static long[] BatchShape(TensorType idx, long ivd) =>
        [.. idx.Shape.Where((_, d) => d != ivd)];

    /// <summary>The operand dims that are neither collapsed/inserted nor batching, ascending.</summary>

    /// <summary>Where indices dim <paramref name="d"/> sits among the batch dims (which skip index_vector_dim).</summary>
    public static int BatchPosition(long d, int ivd) => (int)(d < ivd ? d : d - 1);

    /// <summary>Entry <paramref name="j"/> of the index vector at batch position <paramref name="batch"/>, as a long (huge unsigned values saturate).</summary>
    public static long ReadIndexVector(Tensor idx, long[] batch, int ivd, int j)
    {
        var shape = idx.Type.Shape;
        long p = 0;
        for (int d = 0, b = 0; d < shape.Length; d++)
            p = p * shape[d] + (d == ivd ? j : batch[b++]);
        return idx.Element.IsUnsignedInteger() ? (long)Math.Min(idx.GetUInt64(p), long.MaxValue) : idx.GetInt64(p);
    }

    /// <summary>Total order for sorting: numbers by value (-0 == +0), NaN after every number, unsigned compared unsigned.</summary>
    public static int Compare(Tensor x, long i, long j)
    {
        var e = x.Element;
        if (e.IsFloat())
        {
            double a = x.GetDouble(i), b = x.GetDouble(j);
            bool na = double.IsNaN(a), nb = double.IsNaN(b);
            if (na || nb) return na.CompareTo(nb);
            return a < b ? -1 : a > b ? 1 : 0;
        }
        if (e.IsUnsignedInteger()) return x.GetUInt64(i).CompareTo(x.GetUInt64(j));
        return x.GetInt64(i).CompareTo(x.GetInt64(j));
    }

    /// <summary>
    /// Stable sort of every lane of <paramref name="x"/> along <paramref name="dim"/>, keeping the first
    /// <c>valuesType.Shape[dim]</c> entries of each lane (all of them for sort, K for top_k).
    /// </summary>
    public static ImmutableArray<Tensor> SortLanes(Tensor x, int dim, bool descending, TensorType valuesType, TensorType indicesType)
    {
        var shape = x.Type.Shape;
        long n = shape[dim], keep = valuesType.Shape[dim];
        long outer = 1, inner = 1;
        for (int d = 0; d < dim; d++) outer *= shape[d];
        for (int d = dim + 1; d < shape.Length; d++) inner *= shape[d];
        var values = new TensorBuffer(valuesType);
        var indices = new TensorBuffer(indicesType);
        var order = new long[n];
        for (long a = 0; a < outer; a++)
        {
            for (long c = 0; c < inner; c++)
            {
                long Pos(long j) => (a * n + j) * inner + c;
                for (long j = 0; j < n; j++) order[j] = j;
                // Ties fall back to the original position, which makes the unstable Array.Sort stable.
                Array.Sort(order, (p, q) =>
                {
                    int r = Compare(x, Pos(p), Pos(q));
                    return r != 0 ? (descending ? -r : r) : p.CompareTo(q);
                });
                for (long j = 0; j < keep; j++)
                {
                    long at = (a * keep + j) * inner + c;
                    values.CopyElement(at, x, Pos(order[j]));
                    indices.SetInt64(at, order[j]);
                }
            }
        }
        return [values.ToTensor(), indices.ToTensor()];
    }
}

public static class IndexingOps
{
    public static readonly ImmutableArray<OpDef> All = [new GatherOp(), new ScatterOp(), new SortOp(), new TopKOp()];
}

/// <summary>Dimension bookkeeping of gather and scatter that the interpreter and the backends share.</summary>
public static class IndexingDims
{
    /// <summary>
    /// The operand dimensions a gathered slice or scattered window spans, in order: those of the operand's
    /// <paramref name="rank"/> that are neither collapsed (gather) / inserted (scatter) nor batching.
    /// </summary>
    public static int[] Window(int rank, ImmutableArray<long> collapsed, ImmutableArray<long> batching) =>
        [.. Enumerable.Range(0, rank).Where(d => !collapsed.Contains(d) && !batching.Contains(d))];
}
