using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// Maps a result multi-index to the source multi-index it copies from; returns false when the element
/// comes from elsewhere (a padding value).
/// </summary>
internal delegate bool ElementSourceMap(ReadOnlySpan<long> dst, Span<long> src);

/// <summary>Shared evaluation for the data-movement ops: every result element is a raw copy of one source element.</summary>
internal static class ElementCopy
{
    /// <summary>Builds a tensor of type <paramref name="t"/>; element at index i copies src[map(i)], or fill[0] when map says no.</summary>
    public static Tensor Run(TensorType t, Tensor src, ElementSourceMap map, Tensor? fill = null)
    {
        var o = new TensorBuffer(t);
        var srcStrides = src.Type.Strides();
        Span<long> dst = stackalloc long[t.Rank];
        Span<long> from = stackalloc long[src.Type.Rank];
        for (long k = 0; k < t.ElementCount; k++)
        {
            Shapes.Unravel(k, t.Shape, dst);
            if (map(dst, from)) o.CopyElement(k, src, Shapes.Ravel(from, srcStrides));
            else o.CopyElement(k, fill!, 0);
        }
        return o.ToTensor();
    }
}

/// <summary>
/// <c>reshape %x : T</c>: the same elements in the same row-major order under a new shape. T must
/// have x's element type and element count.
/// </summary>
public sealed class ReshapeOp() : OpDef("reshape")
{
    /// <summary>Batched when the dimensions up to and including the batch dimension keep their sizes (a flatten of NCHW to N×CHW).</summary>
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands)
    {
        if (operands[0].Dim is not { } d) return BatchSplit.Shared;
        var (x, t) = (op.Operands[0].Type, op.Result.Type);
        bool kept = t.Rank > d && x.Shape.Take(d + 1).SequenceEqual(t.Shape.Take(d + 1));
        return kept ? BatchSplit.Batched(d) : BatchSplit.Refuse($"it reshapes {x} to {t}, which does not keep the batch dimension {d} and those before it");
    }

    public override Autodiff.VjpRule? Gradient => ShapeGradients.Reshape;
    public override OpTraits Traits => OpTraits.IndexRemap | OpTraits.Foldable;
    public override int MinOperands => 1;
    public override bool TakesResultTypes => true;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var (x, t) = (sig.Operand(0), sig.DeclaredType());
        if (x.Element != t.Element) throw sig.Error($"cannot change the element type: {x} to {t}");
        if (x.ElementCount != t.ElementCount)
            throw sig.Error($"element counts differ: {x} has {x.ElementCount}, {t} has {t.ElementCount}");
        return [t];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx) => [Tensor.FromBytes(ctx.ResultType(), ctx.Operand(0).Bytes)];
}

/// <summary>
/// <c>broadcast_in_dim %x {dims = [...]} : T</c>: operand dimension i becomes result dimension
/// dims[i] (distinct, in range, any order); its size must be 1 (repeated along the result dimension)
/// or the result's size. Result dimensions not listed in dims repeat the operand. Same element type.
/// </summary>
public sealed class BroadcastInDimOp() : OpDef("broadcast_in_dim")
{
    /// <summary>A batched operand's batch dimension moves to where dims puts it; a shared operand makes a broadcast along the result dimensions it does not fill.</summary>
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands)
    {
        var dims = op.Attr.Ints32("dims");
        if (operands[0].Dim is { } d) return BatchSplit.Batched(dims[d]);
        var shape = op.Operands[0].Type.Shape;
        var filled = Enumerable.Range(0, dims.Length).Where(i => shape[i] != 1).Select(i => dims[i]).ToHashSet();
        return new BatchSplit { Result = new BatchDim(null, BatchDim.Mask(Enumerable.Range(0, op.Result.Type.Rank).Where(r => !filled.Contains(r)))) };
    }

    public override Autodiff.VjpRule? Gradient => ShapeGradients.BroadcastInDim;
    public override OpTraits Traits => OpTraits.IndexRemap | OpTraits.Foldable;
    public override int MinOperands => 1;
    public override bool TakesResultTypes => true;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Ints("dims")];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var (x, t) = (sig.Operand(0), sig.DeclaredType());
        var dims = sig.Attr.Ints("dims");
        if (x.Element != t.Element) throw sig.Error($"cannot change the element type: {x} to {t}");
        Shapes.CheckLength(sig, "dims", dims, x.Rank);
        Shapes.CheckDims(sig, "dims", dims, t.Rank);
        for (int i = 0; i < x.Rank; i++)
        {
            long from = x.Shape[i], to = t.Shape[(int)dims[i]];
            if (from != 1 && from != to)
                throw sig.Error($"operand dimension {i} has size {from}, which cannot broadcast to result dimension {dims[i]} of size {to}");
        }
        return [t];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var x = ctx.Operand(0);
        var dims = ctx.Attr.Ints32("dims");
        var shape = x.Type.Shape;
        return [ElementCopy.Run(ctx.ResultType(), x, (dst, src) =>
        {
            for (int i = 0; i < src.Length; i++) src[i] = shape[i] == 1 ? 0 : dst[dims[i]];
            return true;
        })];
    }
}

/// <summary><c>transpose %x {perm = [...]}</c>: result dimension i is operand dimension perm[i]; perm is a permutation.</summary>
public sealed class TransposeOp() : OpDef("transpose")
{
    /// <summary>The batch dimension goes where perm moves it.</summary>
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands) =>
        operands[0].Dim is { } d ? BatchSplit.Batched(Array.IndexOf(op.Attr.Ints32("perm"), d)) : BatchSplit.Shared;

    public override Autodiff.VjpRule? Gradient => ShapeGradients.Transpose;
    public override OpTraits Traits => OpTraits.IndexRemap | OpTraits.Foldable;
    public override int MinOperands => 1;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Ints("perm")];

    /// <summary>Whether <paramref name="op"/> is a transpose of a rank-4 value from NCHW to NHWC (perm [0, 2, 3, 1]).</summary>
    public static bool IsChannelsLast(Operation op) => op.Def is TransposeOp && op.Attr.Ints("perm") is [0, 2, 3, 1];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var x = sig.Operand(0);
        var perm = sig.Attr.Ints("perm");
        Shapes.CheckLength(sig, "perm", perm, x.Rank);
        Shapes.CheckDims(sig, "perm", perm, x.Rank);
        return [x.WithShape([.. perm.Select(p => x.Shape[(int)p])])];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        // An odometer over the result with the source offset kept incrementally: constant folding and
        // `layout` transpose whole weight tensors with this (25 M elements for ResNet-50).
        var perm = ctx.Attr.Ints32("perm");
        var x = ctx.Operand(0);
        var t = ctx.ResultType();
        int size = t.Element.ByteSize(), rank = t.Rank;
        var src = x.Bytes;
        var dst = new byte[t.ElementCount * size];
        if (t.ElementCount == 0 || rank == 0)
        {
            src.CopyTo(dst);
            return [Tensor.FromBytes(t, dst)];
        }
        var strides = x.Type.Strides();
        var step = new long[rank];
        for (int i = 0; i < rank; i++) step[i] = strides[perm[i]] * size;
        var idx = new long[rank];
        long from = 0;
        for (long k = 0; k < t.ElementCount; k++)
        {
            src.Slice((int)from, size).CopyTo(dst.AsSpan((int)(k * size), size));
            for (int d = rank - 1; d >= 0; d--)
            {
                from += step[d];
                if (++idx[d] < t.Shape[d]) break;
                from -= step[d] * idx[d];
                idx[d] = 0;
            }
        }
        return [Tensor.FromBytes(t, dst)];
    }
}

/// <summary>
/// <c>slice %x {start = [...], limit = [...], stride = [...]}</c>: elements start[d], start[d] +
/// stride[d], ... below limit[d] in each dimension, so result dimension d has
/// ceil((limit[d] - start[d]) / stride[d]) elements. Needs 0 &lt;= start &lt;= limit &lt;= size and
/// stride &gt;= 1; stride defaults to (and an empty list means) all ones.
/// </summary>
public sealed class SliceOp() : OpDef("slice")
{
    /// <summary>Batched when it keeps the whole batch dimension; each micro-batch's copy then ends at its own size.</summary>
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands)
    {
        if (operands[0].Dim is not { } d) return BatchSplit.Shared;
        var a = op.Attr;
        var (start, limit, stride) = (a.Ints("start"), a.Ints("limit"), a.Ints("stride"));
        if (start[d] != 0 || limit[d] != op.Operands[0].Type.Shape[d] || (!stride.IsEmpty && stride[d] != 1))
            return BatchSplit.Refuse($"it slices the batch dimension {d} (start {start[d]}, limit {limit[d]})");
        return BatchSplit.Batched(d) with
        {
            Attributes = (o, types) => o.Attributes.With("limit", new IntArrayAttr(o.Attr.Ints("limit").SetItem(d, types[0].Shape[d]))),
        };
    }

    public override Autodiff.VjpRule? Gradient => ShapeGradients.Slice;
    public override OpTraits Traits => OpTraits.IndexRemap | OpTraits.Foldable;
    public override int MinOperands => 1;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Ints("start"), AttrSpec.Ints("limit"), AttrSpec.IntsOrEmpty("stride")];

    internal static long[] Strides(ImmutableArray<long> stride, int rank) => stride.IsEmpty ? [.. Enumerable.Repeat(1L, rank)] : [.. stride];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var x = sig.Operand(0);
        var (start, limit, strideAttr) = (sig.Attr.Ints("start"), sig.Attr.Ints("limit"), sig.Attr.Ints("stride"));
        Shapes.CheckLength(sig, "start", start, x.Rank);
        Shapes.CheckLength(sig, "limit", limit, x.Rank);
        if (!strideAttr.IsEmpty) Shapes.CheckLength(sig, "stride", strideAttr, x.Rank);
        var stride = Strides(strideAttr, x.Rank);
        var shape = new long[x.Rank];
        for (int d = 0; d < x.Rank; d++)
        {
            if (start[d] < 0 || start[d] > limit[d] || limit[d] > x.Shape[d])
                throw sig.Error($"dimension {d}: need 0 <= start <= limit <= {x.Shape[d]}, got start {start[d]} and limit {limit[d]}");
            if (stride[d] < 1) throw sig.Error($"dimension {d}: stride must be at least 1, got {stride[d]}");
            long span = limit[d] - start[d];
            shape[d] = span / stride[d] + (span % stride[d] != 0 ? 1 : 0);
        }
        return [x.WithShape([.. shape])];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var x = ctx.Operand(0);
        var start = ctx.Attr.Ints("start");
        var stride = Strides(ctx.Attr.Ints("stride"), x.Type.Rank);
        return [ElementCopy.Run(ctx.ResultType(), x, (dst, src) =>
        {
            for (int d = 0; d < src.Length; d++) src[d] = start[d] + dst[d] * stride[d];
            return true;
        })];
    }
}

/// <summary>Checks and reads the runtime start indices shared by dynamic_slice and dynamic_update_slice.</summary>
internal static class SliceStarts
{
    /// <summary>Checks that operands <paramref name="first"/>.. are one rank-0 integer of a single type per dimension of <paramref name="rank"/>.</summary>
    public static void Check(OpSignature sig, int first, int rank)
    {
        int given = sig.Operands.Length - first;
        if (given != rank) throw sig.Error($"needs {rank} start index operand(s), one per dimension, got {given}");
        for (int i = first; i < sig.Operands.Length; i++)
        {
            var t = sig.Operand(i);
            if (t.Rank != 0 || !t.Element.IsInteger())
                throw sig.Error($"start index operand #{i} must be a rank-0 integer tensor, got {t}");
            if (t != sig.Operand(first))
                throw sig.Error($"start index operands must all have one type, got {sig.Operand(first)} and {t}");
        }
    }

    /// <summary>
    /// The start indices, each clamped to [0, size - window] so the window stays inside the operand
    /// (XLA's rule: an out-of-range start moves the window, it never faults).
    /// </summary>
    public static long[] Clamped(EvalContext ctx, int first, ImmutableArray<long> shape, IReadOnlyList<long> window)
    {
        var start = new long[shape.Length];
        for (int d = 0; d < shape.Length; d++)
        {
            var i = ctx.Operand(first + d);
            long v = i.Element.IsUnsignedInteger() ? (long)Math.Min(i.GetUInt64(0), (ulong)long.MaxValue) : i.GetInt64(0);
            start[d] = Math.Clamp(v, 0, shape[d] - window[d]);
        }
        return start;
    }
}

/// <summary>
/// <c>dynamic_slice %x, %i0, ..., %i{r-1} {sizes = [...]}</c>: the sizes[d]-wide window of x starting
/// at the runtime index %i{d} (rank-0, any integer type, the same for all). Each start is clamped to
/// [0, size[d] - sizes[d]], as XLA does.
/// </summary>
public sealed class DynamicSliceOp() : OpDef("dynamic_slice")
{
    public override Autodiff.VjpRule? Gradient => IndexingGradients.DynamicSlice;
    public override OpTraits Traits => OpTraits.IndexRemap | OpTraits.Foldable;
    public override int MinOperands => 1;
    public override int MaxOperands => -1;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Ints("sizes")];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var x = sig.Operand(0);
        var sizes = sig.Attr.Ints("sizes");
        SliceStarts.Check(sig, 1, x.Rank);
        Shapes.CheckLength(sig, "sizes", sizes, x.Rank);
        for (int d = 0; d < x.Rank; d++)
            if (sizes[d] < 0 || sizes[d] > x.Shape[d])
                throw sig.Error($"'sizes' entry {d} is {sizes[d]}, expected 0 to {x.Shape[d]}");
        return [x.WithShape(sizes)];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var x = ctx.Operand(0);
        var start = SliceStarts.Clamped(ctx, 1, x.Type.Shape, ctx.Attr.Ints("sizes"));
        return [ElementCopy.Run(ctx.ResultType(), x, (dst, src) =>
        {
            for (int d = 0; d < src.Length; d++) src[d] = start[d] + dst[d];
            return true;
        })];
    }
}

/// <summary>
/// <c>dynamic_update_slice %x, %update, %i0, ..., %i{r-1}</c>: x with update (same element type and
/// rank, no larger in any dimension) written at the runtime start indices, clamped as in
/// <c>dynamic_slice</c> so the update fits.
/// </summary>
public sealed class DynamicUpdateSliceOp() : OpDef("dynamic_update_slice")
{
    public override Autodiff.VjpRule? Gradient => IndexingGradients.DynamicUpdateSlice;
    public override int MinOperands => 2;
    public override int MaxOperands => -1;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var (x, u) = (sig.Operand(0), sig.Operand(1));
        if (u.Element != x.Element || u.Rank != x.Rank)
            throw sig.Error($"update {u} must have the element type and rank of the operand {x}");
        for (int d = 0; d < x.Rank; d++)
            if (u.Shape[d] > x.Shape[d])
                throw sig.Error($"update {u} is larger than the operand {x} in dimension {d}");
        SliceStarts.Check(sig, 2, x.Rank);
        return [x];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var (x, u) = (ctx.Operand(0), ctx.Operand(1));
        var start = SliceStarts.Clamped(ctx, 2, x.Type.Shape, u.Type.Shape);
        var o = new TensorBuffer(x.Type);
        x.Bytes.CopyTo(o.RawBytes);
        var strides = x.Type.Strides();
        Span<long> idx = stackalloc long[x.Type.Rank];
        for (long k = 0; k < u.ElementCount; k++)
        {
            Shapes.Unravel(k, u.Type.Shape, idx);
            for (int d = 0; d < idx.Length; d++) idx[d] += start[d];
            o.CopyElement(Shapes.Ravel(idx, strides), u, k);
        }
        return [o.ToTensor()];
    }
}

/// <summary>
/// <c>concatenate %a, %b, ... {dimension = d}</c>: joins one or more tensors of one element type and
/// rank (at least 1) along dimension d; all other dimensions must be equal.
/// </summary>
public sealed class ConcatenateOp() : OpDef("concatenate")
{
    /// <summary>Batched when the operands line up along the batch dimension and it joins them along another.</summary>
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands)
    {
        var split = BatchRules.Aligned(op, operands);
        return split.Result.Dim is { } d && d == op.Attr.Int("dimension")
            ? BatchSplit.Refuse($"it concatenates along the batch dimension {d}")
            : split;
    }

    public override Autodiff.VjpRule? Gradient => ShapeGradients.Concatenate;
    public override OpTraits Traits => OpTraits.IndexRemap | OpTraits.Foldable;
    public override int MinOperands => 1;
    public override int MaxOperands => -1;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Int("dimension")];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var first = sig.Operand(0);
        long d = sig.Attr.Int("dimension");
        if (first.Rank == 0) throw sig.Error($"operands must have rank 1 or more, got {first}");
        if (d < 0 || d >= first.Rank) throw sig.Error($"dimension {d} is out of range for rank {first.Rank}");
        long total = 0;
        for (int i = 0; i < sig.Operands.Length; i++)
        {
            var t = sig.Operand(i);
            if (t.Element != first.Element || t.Rank != first.Rank)
                throw sig.Error($"operand #{i} is {t}, expected the element type and rank of operand #0 ({first})");
            for (int k = 0; k < t.Rank; k++)
                if (k != d && t.Shape[k] != first.Shape[k])
                    throw sig.Error($"operand #{i} is {t}: dimension {k} must equal operand #0's ({first.Shape[k]})");
            total = checked(total + t.Shape[(int)d]);
        }
        return [first.WithShape(first.Shape.SetItem((int)d, total))];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        int d = ctx.Attr.Int32("dimension");
        var t = ctx.ResultType();
        var o = new TensorBuffer(t);
        var strides = t.Strides();
        Span<long> idx = stackalloc long[t.Rank];
        long offset = 0;
        foreach (var x in ctx.Operands)
        {
            for (long k = 0; k < x.ElementCount; k++)
            {
                Shapes.Unravel(k, x.Type.Shape, idx);
                idx[d] += offset;
                o.CopyElement(Shapes.Ravel(idx, strides), x, k);
            }
            offset += x.Type.Shape[d];
        }
        return [o.ToTensor()];
    }
}

/// <summary>
/// <c>pad %x, %value {low = [...], high = [...], interior = [...], mode = constant|reflect|symmetric|edge}</c>.
/// Result dimension d has low[d] + high[d] + size[d] + max(size[d] - 1, 0) * interior[d] elements.
/// <list type="bullet">
/// <item><c>constant</c> (default), XLA's pad: interior[d] copies of the rank-0 %value (x's element type) go
/// between neighbouring elements, low[d]/high[d] copies before/after; a negative low/high crops that many
/// elements from the padded edge instead. interior defaults to (an empty list means) all zeros.</item>
/// <item><c>reflect</c>, <c>symmetric</c>, <c>edge</c>, NumPy's np.pad modes (%value is ignored): the edge
/// is not repeated ([1,2,3] → 3,2 | 1,2,3 | 2,1), is repeated (2,1 | 1,2,3 | 3,2), or is extended
/// (1,1 | 1,2,3 | 3,3). They need interior all 0 and low, high &gt;= 0; reflect needs each nonzero pad
/// &lt; size, symmetric &lt;= size, edge a nonempty dimension (single reflections only, no wrapping).</item>
/// </list>
/// </summary>
public sealed class PadOp() : OpDef("pad")
{
    public override Autodiff.VjpRule? Gradient => ShapeGradients.Pad;
    public override OpTraits Traits => OpTraits.IndexRemap | OpTraits.Foldable;
    public override int MinOperands => 2;

    public override ImmutableArray<AttrSpec> Attributes =>
    [
        AttrSpec.Ints("low"), AttrSpec.Ints("high"), AttrSpec.IntsOrEmpty("interior"),
        AttrSpec.Enum("mode", "constant", "constant", "reflect", "symmetric", "edge"),
    ];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var (x, v) = (sig.Operand(0), sig.Operand(1));
        var (low, high, interiorAttr) = (sig.Attr.Ints("low"), sig.Attr.Ints("high"), sig.Attr.Ints("interior"));
        var mode = sig.Attr.Enum("mode");
        if (v != TensorType.Scalar(x.Element)) throw sig.Error($"padding value must be {TensorType.Scalar(x.Element)}, got {v}");
        Shapes.CheckLength(sig, "low", low, x.Rank);
        Shapes.CheckLength(sig, "high", high, x.Rank);
        if (!interiorAttr.IsEmpty) Shapes.CheckLength(sig, "interior", interiorAttr, x.Rank);
        var interior = Interior(interiorAttr, x.Rank);
        var shape = new long[x.Rank];
        for (int d = 0; d < x.Rank; d++)
        {
            long n = x.Shape[d];
            if (interior[d] < 0) throw sig.Error($"'interior' entry {d} is {interior[d]}, must be >= 0");
            if (mode != "constant")
            {
                if (interior[d] != 0) throw sig.Error($"mode {mode} needs interior padding 0, got {interior[d]} in dimension {d}");
                foreach (var (name, p) in new[] { ("low", low[d]), ("high", high[d]) })
                {
                    if (p < 0) throw sig.Error($"mode {mode} needs '{name}' >= 0, got {p} in dimension {d}");
                    if (p == 0) continue;
                    if (mode == "reflect" && p >= n)
                        throw sig.Error($"mode reflect needs '{name}' < the dimension size {n}, got {p} in dimension {d}");
                    if (mode == "symmetric" && p > n)
                        throw sig.Error($"mode symmetric needs '{name}' <= the dimension size {n}, got {p} in dimension {d}");
                    if (mode == "edge" && n == 0)
                        throw sig.Error($"mode edge cannot extend the empty dimension {d}");
                }
            }
            try
            {
                shape[d] = checked(low[d] + high[d] + n + Math.Max(n - 1, 0) * interior[d]);
            }
            catch (OverflowException)
            {
                throw sig.Error($"dimension {d}: padded size overflows");
            }
            if (shape[d] < 0) throw sig.Error($"dimension {d}: padded size {shape[d]} is negative (low {low[d]}, high {high[d]}, size {n})");
        }
        return [x.WithShape([.. shape])];
    }

    internal static long[] Interior(ImmutableArray<long> interior, int rank) => interior.IsEmpty ? new long[rank] : [.. interior];

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var (x, value) = (ctx.Operand(0), ctx.Operand(1));
        var low = ctx.Attr.Ints("low");
        var interior = Interior(ctx.Attr.Ints("interior"), x.Type.Rank);
        var mode = ctx.Attr.Enum("mode");
        var shape = x.Type.Shape;
        return [ElementCopy.Run(ctx.ResultType(), x, (dst, src) =>
        {
            for (int d = 0; d < src.Length; d++)
            {
                long n = shape[d], p = dst[d] - low[d]; // position in the unpadded (interior-expanded) sequence
                if (mode == "constant")
                {
                    long step = interior[d] + 1;
                    if (p < 0 || p % step != 0 || p / step >= n) return false;
                    src[d] = p / step;
                }
                else if (p < 0) src[d] = mode switch { "reflect" => -p, "symmetric" => -p - 1, _ => 0 };
                else if (p >= n) src[d] = mode switch { "reflect" => 2 * (n - 1) - p, "symmetric" => 2 * n - 1 - p, _ => n - 1 };
                else src[d] = p;
            }
            return true;
        }, value)];
    }
}

/// <summary><c>reverse %x {dims = [...]}</c>: reverses the order of elements along each listed (distinct) dimension.</summary>
public sealed class ReverseOp() : OpDef("reverse")
{
    public override Autodiff.VjpRule? Gradient => ShapeGradients.Reverse;
    public override OpTraits Traits => OpTraits.IndexRemap | OpTraits.Foldable;
    public override int MinOperands => 1;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Ints("dims")];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var x = sig.Operand(0);
        Shapes.CheckDims(sig, "dims", sig.Attr.Ints("dims"), x.Rank);
        return [x];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var x = ctx.Operand(0);
        var reversed = new bool[x.Type.Rank];
        foreach (var d in ctx.Attr.Ints("dims")) reversed[(int)d] = true;
        var shape = x.Type.Shape;
        return [ElementCopy.Run(ctx.ResultType(), x, (dst, src) =>
        {
            for (int d = 0; d < src.Length; d++) src[d] = reversed[d] ? shape[d] - 1 - dst[d] : dst[d];
            return true;
        })];
    }
}

public static class ShapeOps
{
    public static readonly ReshapeOp Reshape = new();
    public static readonly BroadcastInDimOp BroadcastInDim = new();
    public static readonly TransposeOp Transpose = new();
    public static readonly SliceOp Slice = new();
    public static readonly DynamicSliceOp DynamicSlice = new();
    public static readonly DynamicUpdateSliceOp DynamicUpdateSlice = new();
    public static readonly ConcatenateOp Concatenate = new();
    public static readonly PadOp Pad = new();
    public static readonly ReverseOp Reverse = new();

    public static readonly ImmutableArray<OpDef> All =
        [Reshape, BroadcastInDim, Transpose, Slice, DynamicSlice, DynamicUpdateSlice, Concatenate, Pad, Reverse];
}
