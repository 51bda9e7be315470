using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// One reduction (sum, prod, max, min, and, or) over elements of one type, fed in order. Floats
/// accumulate in double and are rounded once when stored; integers accumulate in 64 bits (sum and prod
/// wrap to the element width when stored; max/min compare signed or unsigned); bool is a 1-bit unsigned
/// integer (max = or, min = and). An empty reduction gives the kind's identity: sum 0, prod 1, max -inf
/// or the type's lowest value, min +inf or its highest, and all ones (true), or 0 (false).
/// </summary>
internal struct Reducer(string kind, ElementType type)
{
    private bool _any;
    private double _f;
    private long _i;

    /// <summary>Which element types each kind accepts.</summary>
    public static TypeClass Accepts(string kind) => kind switch
    {
        "and" or "or" => TypeClass.IntegerOrBool,
        "max" or "min" => TypeClass.Any,
        _ => TypeClass.Numeric,
    };

    public void Add(Tensor t, long i)
    {
        if (type.IsFloat())
        {
            double v = t.GetDouble(i);
            _f = !_any ? v : kind switch
            {
                "sum" => _f + v,
                "prod" => _f * v,
                "max" => Math.Max(_f, v), // NaN propagates
                _ => Math.Min(_f, v),
            };
        }
        else
        {
            long v = t.GetInt64(i);
            bool unsigned = !type.IsSignedInteger();
            _i = !_any ? v : kind switch
            {
                "sum" => unchecked(_i + v),
                "prod" => unchecked(_i * v),
                "and" => _i & v,
                "or" => _i | v,
                "max" => (unsigned ? (ulong)v > (ulong)_i : v > _i) ? v : _i,
                _ => (unsigned ? (ulong)v < (ulong)_i : v < _i) ? v : _i,
            };
        }
        _any = true;
    }

    public readonly void Store(TensorBuffer o, long k)
    {
        if (type.IsFloat()) o.SetDouble(k, _any ? _f : FloatIdentity());
        else o.SetInt64(k, _any ? _i : IntegerIdentity());
    }

    private readonly double FloatIdentity() => kind switch
    {
        "sum" => 0,
        "prod" => 1,
        "max" => double.NegativeInfinity,
        _ => double.PositiveInfinity,
    };

    private readonly long IntegerIdentity()
    {
        int bits = type.BitWidth();
        bool signed = type.IsSignedInteger();
        return kind switch
        {
            "sum" or "or" => 0,
            "prod" => 1,
            "and" => -1,
            "max" => signed ? -1L << (bits - 1) : 0,
            _ => signed ? (long)(ulong.MaxValue >> (65 - bits)) : bits == 64 ? -1 : (1L << bits) - 1,
        };
    }
}

/// <summary>
/// <c>reduce %x {kind = sum|prod|max|min|and|or, dims = [...]}</c>: reduces the listed dimensions; the
/// result keeps the other dimensions in order (an empty list copies x). Elements combine in row-major
/// order; see <see cref="Reducer"/> for types, rounding and the identities of empty reductions. and/or
/// take bool or integers (bitwise); sum/prod take numbers; max/min take numbers or bool. Floats
/// accumulate in double and round once; max/min propagate NaN.
/// </summary>
public sealed class ReduceOp() : OpDef("reduce")
{
    /// <summary>Batched when the batch dimension is kept (it moves down by the reduced dimensions before it); a reduction over it is refused.</summary>
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands)
    {
        if (operands[0].Dim is not { } d) return BatchSplit.Shared;
        var dims = op.Attr.Ints("dims");
        return dims.Contains(d) ? BatchSplit.Refuse(BatchRules.Across(d, "reduces")) : BatchSplit.Batched(d - dims.Count(x => x < d));
    }

    public override Autodiff.VjpRule? Gradient => ReductionGradients.Reduce;
    public override OpTraits Traits => OpTraits.Reduction | OpTraits.Foldable;

    /// <summary>One combination per input element.</summary>
    public override OpCost Cost(Operation op) => new(op.Operands[0].Type.ElementCount, OpCost.OperandAndResultBytes(op));

    public override int MinOperands => 1;

    public override ImmutableArray<AttrSpec> Attributes =>
        [AttrSpec.Enum("kind", null, "sum", "prod", "max", "min", "and", "or"), AttrSpec.Ints("dims")];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var x = sig.Operand(0);
        var kind = sig.Attr.Enum("kind");
        var accepts = Reducer.Accepts(kind);
        if (!accepts.Accepts(x.Element)) throw sig.Error($"kind {kind} needs {accepts.Describe()}, got {x}");
        var dims = sig.Attr.Ints("dims");
        Shapes.CheckDims(sig, "dims", dims, x.Rank);
        return [x.WithShape(Shapes.Without(x.Shape, dims))];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var x = ctx.Operand(0);
        var kind = ctx.Attr.Enum("kind");
        var dims = ctx.Attr.Ints("dims");
        var t = ctx.ResultType();
        var kept = Enumerable.Range(0, x.Type.Rank).Where(d => !dims.Contains(d)).ToArray();
        var acc = new Reducer[t.ElementCount];
        Array.Fill(acc, new Reducer(kind, x.Element));
        var strides = t.Strides();
        var idx = new long[x.Type.Rank];
        for (long k = 0; k < x.ElementCount; k++)
        {
            Shapes.Unravel(k, x.Type.Shape, idx);
            long r = 0;
            for (int i = 0; i < kept.Length; i++) r += idx[kept[i]] * strides[i];
            acc[r].Add(x, k);
        }
        var o = new TensorBuffer(t);
        for (long r = 0; r < acc.LongLength; r++) acc[r].Store(o, r);
        return [o.ToTensor()];
    }
}

/// <summary>
/// <c>reduce_window %x {kind = sum|max|min|prod, window = [...], strides = [...], padding_low = [...],
/// padding_high = [...], window_dilation = [...], base_dilation = [...]}</c>: XLA ReduceWindow. Per
/// dimension x is dilated by base_dilation (holes), padded by padding_low/high (negative crops), and a
/// window of size window (dilated by window_dilation) slides over it strides apart; each output reduces
/// its window, padding and holes counting as the kind's identity (so average pooling is a sum window
/// divided by a count computed separately). Output size floor((padded - dilated window) / stride) + 1,
/// or 0 when the window does not fit. window is required (one positive size per dimension); the other
/// lists have one entry per dimension or are empty (strides and dilations 1, padding 0).
/// </summary>
public sealed class ReduceWindowOp() : OpDef("reduce_window")
{
    /// <summary>Batched when the window is 1 along the batch dimension, with no stride, padding or dilation there (pooling over N×H×W×C).</summary>
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands)
    {
        if (operands[0].Dim is not { } d) return BatchSplit.Shared;
        var p = Read(op.Attr, op.Operands[0].Type.Rank, m => new IrException(m, op.Location));
        bool untouched = p.Window[d] == 1 && p.Strides[d] == 1 && p.PadLow[d] == 0 && p.PadHigh[d] == 0 && p.WindowDilation[d] == 1 && p.BaseDilation[d] == 1;
        return untouched ? BatchSplit.Batched(d) : BatchSplit.Refuse(BatchRules.Across(d, "slides a window"));
    }

    public override Autodiff.VjpRule? Gradient => ReductionGradients.ReduceWindow;
    public override OpTraits Traits => OpTraits.Reduction | OpTraits.Foldable;

    /// <summary>One combination per window element of each result element.</summary>
    public override OpCost Cost(Operation op) =>
        new(op.Results.Sum(r => (double)r.Type.ElementCount) * op.Attr.Ints("window").Aggregate(1.0, (p, w) => p * w), OpCost.OperandAndResultBytes(op));

    public override double EvaluationWork(Operation op) => ResultTimesOperands(op);

    public override int MinOperands => 1;

    public override ImmutableArray<AttrSpec> Attributes =>
    [
        AttrSpec.Enum("kind", null, "sum", "max", "min", "prod"), AttrSpec.Ints("window"),
        AttrSpec.IntsOrEmpty("strides"), AttrSpec.IntsOrEmpty("padding_low"), AttrSpec.IntsOrEmpty("padding_high"),
        AttrSpec.IntsOrEmpty("window_dilation"), AttrSpec.IntsOrEmpty("base_dilation"),
    ];

    private sealed record Params(long[] Window, long[] Strides, long[] PadLow, long[] PadHigh, long[] WindowDilation, long[] BaseDilation);

    private static Params Read(AttrReader a, int rank, Func<string, IrException> error)
    {
        long[] Get(string name, long? dflt, bool positive)
        {
            var v = a.Ints(name);
            if (v.IsEmpty && dflt is { } d) return Enumerable.Repeat(d, rank).ToArray();
            if (v.Length != rank)
                throw error($"'{name}' has {v.Length} entries, expected {rank} (one per dimension){(dflt is null ? "" : " or none")}");
            for (int i = 0; i < rank; i++)
                if (positive && v[i] < 1) throw error($"'{name}' entry {i} is {v[i]}, must be at least 1");
            return [.. v];
        }
        return new(Get("window", null, true), Get("strides", 1, true), Get("padding_low", 0, false), Get("padding_high", 0, false),
            Get("window_dilation", 1, true), Get("base_dilation", 1, true));
    }

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var x = sig.Operand(0);
        var kind = sig.Attr.Enum("kind");
        var accepts = Reducer.Accepts(kind);
        if (!accepts.Accepts(x.Element)) throw sig.Error($"kind {kind} needs {accepts.Describe()}, got {x}");
        var p = Read(sig.Attr, x.Rank, sig.Error);
        var shape = new long[x.Rank];
        try
        {
            for (int d = 0; d < x.Rank; d++)
            {
                long padded = checked(Shapes.DilatedSize(x.Shape[d], p.BaseDilation[d]) + p.PadLow[d] + p.PadHigh[d]);
                shape[d] = Shapes.WindowCount(padded, Shapes.DilatedSize(p.Window[d], p.WindowDilation[d]), p.Strides[d]);
            }
        }
        catch (OverflowException)
        {
            throw sig.Error("the window attributes overflow 64-bit sizes");
        }
        return [x.WithShape([.. shape])];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var x = ctx.Operand(0);
        var kind = ctx.Attr.Enum("kind");
        int rank = x.Type.Rank;
        var p = Read(ctx.Attr, rank, ctx.Error);
        var t = ctx.ResultType();
        ImmutableArray<long> window = [.. p.Window];
        long windowCount = window.Aggregate(1L, (a, b) => a * b);
        var strides = x.Type.Strides();
        var o = new TensorBuffer(t);
        var (oi, wi, xi) = (new long[rank], new long[rank], new long[rank]);
        for (long k = 0; k < t.ElementCount; k++)
        {
            Shapes.Unravel(k, t.Shape, oi);
            var acc = new Reducer(kind, x.Element);
            for (long w = 0; w < windowCount; w++)
            {
                Shapes.Unravel(w, window, wi);
                bool inside = true;
                for (int d = 0; d < rank && inside; d++)
                {
                    long pos = oi[d] * p.Strides[d] + wi[d] * p.WindowDilation[d] - p.PadLow[d];
                    xi[d] = pos / p.BaseDilation[d];
                    inside = pos >= 0 && pos % p.BaseDilation[d] == 0 && xi[d] < x.Type.Shape[d];
                }
                if (inside) acc.Add(x, Shapes.Ravel(xi, strides)); // padding and holes are the identity
            }
            acc.Store(o, k);
        }
        return [o.ToTensor()];
    }
}

/// <summary>
/// <c>arg_reduce %x {kind = max|min, dimension = d, tie = first|last} : T</c>: the index along dimension
/// d of the largest (max) or smallest (min) element; T is any integer type with x's shape less d. NaN
/// counts as both the largest and the smallest value (NumPy argmax/argmin); equal values (NaNs among
/// themselves, -0 and +0) are ties, won by the first index (default) or the last. The reduced dimension
/// must not be empty, and its last index must fit in T.
/// </summary>
public sealed class ArgReduceOp() : OpDef("arg_reduce")
{
    public override OpTraits Traits => OpTraits.Reduction | OpTraits.Foldable;
    public override int MinOperands => 1;
    public override bool TakesResultTypes => true;

    public override ImmutableArray<AttrSpec> Attributes =>
        [AttrSpec.Enum("kind", null, "max", "min"), AttrSpec.Int("dimension"), AttrSpec.Enum("tie", "first", "first", "last")];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var x = sig.Operand(0);
        long d = sig.Attr.Int("dimension");
        if (d < 0 || d >= x.Rank) throw sig.Error($"'dimension' {d} is out of range for {x}");
        long n = x.Shape[(int)d];
        if (n == 0) throw sig.Error($"dimension {d} of {x} is empty; there is no index to return");
        var t = sig.DeclaredType();
        if (!t.Element.IsInteger()) throw sig.Error($"result element type must be an integer type, got {t.Element.Name()}");
        var shape = Shapes.Without(x.Shape, [d]);
        if (!t.Shape.SequenceEqual(shape)) throw sig.Error($"result shape {t.ShapeString} differs from the inferred [{string.Join(", ", shape)}]");
        int bits = t.Element.BitWidth() - (t.Element.IsSignedInteger() ? 1 : 0);
        if (bits < 63 && n - 1 > (1L << bits) - 1) throw sig.Error($"index {n - 1} does not fit in {t.Element.Name()}");
        return [t];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var x = ctx.Operand(0);
        bool max = ctx.Attr.Enum("kind") == "max", last = ctx.Attr.Enum("tie") == "last";
        int d = ctx.Attr.Int32("dimension");
        var t = ctx.ResultType();
        long n = x.Type.Shape[d], stride = x.Type.Strides()[d];
        var o = new TensorBuffer(t);
        // Output element k = (outer index, inner index) with inner < stride; row-major order matches.
        for (long k = 0; k < t.ElementCount; k++)
        {
            long start = k / stride * n * stride + k % stride;
            long best = 0;
            for (long j = 1; j < n; j++)
            {
                int c = Better(x, start + j * stride, start + best * stride, max);
                if (c > 0 || (c == 0 && last)) best = j;
            }
            o.SetInt64(k, best);
        }
        return [o.ToTensor()];
    }

    /// <summary>1 when element i beats element j, 0 on a tie, -1 otherwise; NaN beats every number for both kinds.</summary>
    private static int Better(Tensor x, long i, long j, bool max)
    {
        var e = x.Element;
        int c;
        if (e.IsFloat())
        {
            double a = x.GetDouble(i), b = x.GetDouble(j);
            if (double.IsNaN(a) || double.IsNaN(b)) return double.IsNaN(a) == double.IsNaN(b) ? 0 : double.IsNaN(a) ? 1 : -1;
            c = a < b ? -1 : a > b ? 1 : 0; // -0 == +0
        }
        else if (e.IsSignedInteger()) c = x.GetInt64(i).CompareTo(x.GetInt64(j));
        else c = x.GetUInt64(i).CompareTo(x.GetUInt64(j));
        return max ? Math.Sign(c) : -Math.Sign(c);
    }
}

public static class ReductionOps
{
    public static readonly ImmutableArray<OpDef> All =
    [
        new ReduceOp(),
        new ReduceWindowOp(),
        new ArgReduceOp(),
    ];
}
