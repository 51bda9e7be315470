using System.Collections.Immutable;
using G = GraphCompiler.IR.Ops.ElementwiseGradients;

namespace GraphCompiler.IR.Ops;

/// <summary>Which element types an elementwise op accepts.</summary>
[Flags]
public enum TypeClass
{
    Float = 1,
    Signed = 2,
    Unsigned = 4,
    Bool = 8,
    Integer = Signed | Unsigned,
    Numeric = Float | Integer,
    Any = Numeric | Bool,
    IntegerOrBool = Integer | Bool,
}

internal static class TypeClasses
{
    public static bool Accepts(this TypeClass c, ElementType t) =>
        (t.IsFloat() && c.HasFlag(TypeClass.Float)) ||
        (t.IsSignedInteger() && c.HasFlag(TypeClass.Signed)) ||
        (t.IsUnsignedInteger() && c.HasFlag(TypeClass.Unsigned)) ||
        (t.IsBool() && c.HasFlag(TypeClass.Bool));

    public static string Describe(this TypeClass c) => c switch
    {
        TypeClass.Float => "a float type",
        TypeClass.Integer => "an integer type",
        TypeClass.Numeric => "a numeric (not bool) type",
        TypeClass.IntegerOrBool => "an integer or bool type",
        TypeClass.Any => "any type",
        _ => c.ToString(),
    };
}

/// <summary>
/// Elementwise unary op defined by one function per type class. Floats compute in double and round to
/// the element type once; signed integers compute in long and wrap; unsigned in ulong; bool as bool.
/// </summary>
public sealed class UnaryOp(string name, TypeClass accepts,
    Func<double, double>? f = null, Func<long, long>? i = null, Func<ulong, ulong>? u = null,
    Func<bool, bool>? b = null, bool boolResult = false, Func<double, bool>? predicate = null, double weight = 1,
    Autodiff.VjpRule? gradient = null) : OpDef(name)
{
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands) => BatchRules.Aligned(op, operands);
    public TypeClass Accepts { get; } = accepts;
    public override Autodiff.VjpRule? Gradient => gradient;
    public override int MinOperands => 1;
    public override OpTraits Traits => OpTraits.Elementwise | OpTraits.Foldable;
    public override double ElementWeight => weight;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var t = sig.Operand(0);
        if (!Accepts.Accepts(t.Element)) throw sig.Error($"operand is {t}, expected {Accepts.Describe()}");
        return [boolResult ? t.WithElement(ElementType.Bool) : t];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var x = ctx.Operand(0);
        var o = new TensorBuffer(ctx.ResultType());
        var e = x.Element;
        for (long k = 0; k < x.ElementCount; k++)
        {
            if (predicate is not null) o.SetBool(k, predicate(x.GetDouble(k)));
            else if (e.IsFloat()) o.SetDouble(k, f!(x.GetDouble(k)));
            else if (e.IsSignedInteger()) o.SetInt64(k, i!(x.GetInt64(k)));
            else if (e.IsUnsignedInteger()) o.SetUInt64(k, u!(x.GetUInt64(k)));
            else o.SetBool(k, b!(x.GetBool(k)));
        }
        return [o.ToTensor()];
    }
}

/// <summary>Elementwise binary op over two operands of one type (broadcasting is explicit in the IR).</summary>
public sealed class BinaryOp(string name, TypeClass accepts,
    Func<double, double, double>? f = null, Func<long, long, int, long>? i = null, Func<ulong, ulong, int, ulong>? u = null,
    Func<bool, bool, bool>? b = null, double weight = 1, Autodiff.VjpRule? gradient = null) : OpDef(name)
{
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands) => BatchRules.Aligned(op, operands);
    public TypeClass Accepts { get; } = accepts;
    public override Autodiff.VjpRule? Gradient => gradient;
    public override int MinOperands => 2;
    public override OpTraits Traits => OpTraits.Elementwise | OpTraits.Foldable;
    public override double ElementWeight => weight;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var (l, r) = (sig.Operand(0), sig.Operand(1));
        if (l != r) throw sig.Error($"operands must have the same type, got {l} and {r}");
        if (!Accepts.Accepts(l.Element)) throw sig.Error($"operands are {l}, expected {Accepts.Describe()}");
        return [l];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var (x, y) = (ctx.Operand(0), ctx.Operand(1));
        var o = new TensorBuffer(ctx.ResultType());
        var e = x.Element;
        int bits = e.BitWidth();
        for (long k = 0; k < x.ElementCount; k++)
        {
            if (e.IsFloat()) o.SetDouble(k, f!(x.GetDouble(k), y.GetDouble(k)));
            else if (e.IsSignedInteger()) o.SetInt64(k, i!(x.GetInt64(k), y.GetInt64(k), bits));
            else if (e.IsUnsignedInteger()) o.SetUInt64(k, u!(x.GetUInt64(k), y.GetUInt64(k), bits));
            else o.SetBool(k, b!(x.GetBool(k), y.GetBool(k)));
        }
        return [o.ToTensor()];
    }
}

/// <summary><c>compare</c>: elementwise comparison to bool. Floats follow IEEE (NaN is unordered: only <c>ne</c> holds).</summary>
public sealed class CompareOp() : OpDef("compare")
{
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands) => BatchRules.Aligned(op, operands);
    public override OpTraits Traits => OpTraits.Elementwise | OpTraits.Foldable;
    public override int MinOperands => 2;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Enum("direction", null, "eq", "ne", "lt", "le", "gt", "ge")];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var (l, r) = (sig.Operand(0), sig.Operand(1));
        if (l != r) throw sig.Error($"operands must have the same type, got {l} and {r}");
        return [l.WithElement(ElementType.Bool)];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var (x, y) = (ctx.Operand(0), ctx.Operand(1));
        var dir = ctx.Attr.Enum("direction");
        var o = new TensorBuffer(ctx.ResultType());
        var e = x.Element;
        for (long k = 0; k < x.ElementCount; k++)
        {
            int c; // -2 unordered
            if (e.IsFloat())
            {
                double a = x.GetDouble(k), b = y.GetDouble(k);
                c = double.IsNaN(a) || double.IsNaN(b) ? -2 : a < b ? -1 : a > b ? 1 : 0;
            }
            else if (e.IsUnsignedInteger()) c = x.GetUInt64(k).CompareTo(y.GetUInt64(k));
            else c = x.GetInt64(k).CompareTo(y.GetInt64(k));
            bool r = dir switch
            {
                "eq" => c == 0,
                "ne" => c != 0,
                "lt" => c == -1,
                "le" => c is -1 or 0,
                "gt" => c == 1,
                _ => c is 1 or 0,
            };
            o.SetBool(k, r);
        }
        return [o.ToTensor()];
    }
}

/// <summary><c>select pred, on_true, on_false</c>: the predicate is bool, of the operands' shape or rank 0.</summary>
public sealed class SelectOp() : OpDef("select")
{
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands) => BatchRules.Aligned(op, operands);
    public override OpTraits Traits => OpTraits.Elementwise | OpTraits.Foldable;
    public override Autodiff.VjpRule? Gradient => G.Select;
    public override int MinOperands => 3;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var (p, a, b) = (sig.Operand(0), sig.Operand(1), sig.Operand(2));
        if (a != b) throw sig.Error($"on_true and on_false must have the same type, got {a} and {b}");
        if (p.Element != ElementType.Bool) throw sig.Error($"predicate must be bool, got {p}");
        if (p.Rank != 0 && !p.Shape.SequenceEqual(a.Shape)) throw sig.Error($"predicate shape {p.ShapeString} must be [] or {a.ShapeString}");
        return [a];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var (p, a, b) = (ctx.Operand(0), ctx.Operand(1), ctx.Operand(2));
        var o = new TensorBuffer(ctx.ResultType());
        for (long k = 0; k < a.ElementCount; k++)
            o.CopyElement(k, p.GetBool(p.Type.Rank == 0 ? 0 : k) ? a : b, k);
        return [o.ToTensor()];
    }
}

/// <summary><c>clamp lo, x, hi</c> = min(max(x, lo), hi); bounds have x's type or are rank 0. NaN propagates.</summary>
public sealed class ClampOp() : OpDef("clamp")
{
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands) => BatchRules.Aligned(op, operands);
    public override OpTraits Traits => OpTraits.Elementwise | OpTraits.Foldable;
    public override Autodiff.VjpRule? Gradient => G.Clamp;
    public override int MinOperands => 3;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var (lo, x, hi) = (sig.Operand(0), sig.Operand(1), sig.Operand(2));
        if (!TypeClass.Numeric.Accepts(x.Element)) throw sig.Error($"operand is {x}, expected a numeric type");
        foreach (var bound in new[] { lo, hi })
        {
            if (bound.Element != x.Element || (bound.Rank != 0 && !bound.Shape.SequenceEqual(x.Shape)))
                throw sig.Error($"bound {bound} must be {x} or {TensorType.Scalar(x.Element)}");
        }
        return [x];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var (lo, x, hi) = (ctx.Operand(0), ctx.Operand(1), ctx.Operand(2));
        var o = new TensorBuffer(ctx.ResultType());
        var e = x.Element;
        for (long k = 0; k < x.ElementCount; k++)
        {
            long li = lo.Type.Rank == 0 ? 0 : k, hk = hi.Type.Rank == 0 ? 0 : k;
            if (e.IsFloat()) o.SetDouble(k, Math.Min(Math.Max(x.GetDouble(k), lo.GetDouble(li)), hi.GetDouble(hk)));
            else if (e.IsUnsignedInteger()) o.SetUInt64(k, Math.Min(Math.Max(x.GetUInt64(k), lo.GetUInt64(li)), hi.GetUInt64(hk)));
            else o.SetInt64(k, Math.Min(Math.Max(x.GetInt64(k), lo.GetInt64(li)), hi.GetInt64(hk)));
        }
        return [o.ToTensor()];
    }
}

/// <summary>The elementwise op table. Semantics fixed here are documented in docs/ir.md.</summary>
public static class ElementwiseOps
{
    /// <summary>The <see cref="OpDef.ElementWeight"/> of divisions and square roots, and of transcendentals.</summary>
    public const double DivisionWeight = 8, TranscendentalWeight = 32;

    private static UnaryOp Float(string name, Func<double, double> f, double weight, Autodiff.VjpRule gradient) =>
        new(name, TypeClass.Float, f, weight: weight, gradient: gradient);

    private static long SignedPow(long x, long n, int bits)
    {
        if (n < 0) return x == 1 ? 1 : x == -1 ? ((n & 1) == 0 ? 1 : -1) : 0;
        long r = 1;
        while (n > 0)
        {
            if ((n & 1) != 0) r = unchecked(r * x);
            x = unchecked(x * x);
            n >>= 1;
        }
        return r;
    }

    private static ulong UnsignedPow(ulong x, ulong n)
    {
        ulong r = 1;
        while (n > 0)
        {
            if ((n & 1) != 0) r = unchecked(r * x);
            x = unchecked(x * x);
            n >>= 1;
        }
        return r;
    }

    private static ulong Mask(int bits) => bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;

    /// <summary>Sign-extends the low <paramref name="bits"/> of <paramref name="v"/>.</summary>
    private static long SignExtend(long v, int bits) => bits == 64 ? v : (v << (64 - bits)) >> (64 - bits);

    // The ops that passes (rewrite rules, say) refer to by definition; declared before the table that registers them.
    public static readonly UnaryOp Neg = new("neg", TypeClass.Numeric, f: x => -x, i: x => unchecked(-x), u: x => unchecked(0 - x), gradient: G.Neg);
    public static readonly UnaryOp Not = new("not", TypeClass.IntegerOrBool, i: x => ~x, u: x => ~x, b: x => !x);
    public static readonly BinaryOp Add = new("add", TypeClass.Numeric, (x, y) => x + y, (x, y, _) => unchecked(x + y), (x, y, _) => unchecked(x + y), gradient: G.Add);
    public static readonly BinaryOp Sub = new("sub", TypeClass.Numeric, (x, y) => x - y, (x, y, _) => unchecked(x - y), (x, y, _) => unchecked(x - y), gradient: G.Sub);
    public static readonly BinaryOp Mul = new("mul", TypeClass.Numeric, (x, y) => x * y, (x, y, _) => unchecked(x * y), (x, y, _) => unchecked(x * y), gradient: G.Mul);

    // Integer division truncates; x/0 = -1 (all bits set) and MIN/-1 = MIN, as XLA defines them.
    public static readonly BinaryOp Div = new("div", TypeClass.Numeric, (x, y) => x / y,
        (x, y, _) => y == 0 ? -1 : y == -1 ? unchecked(-x) : x / y,
        (x, y, bits) => y == 0 ? Mask(bits) : x / y, weight: DivisionWeight, gradient: G.Div);

    public static readonly BinaryOp And = new("and", TypeClass.IntegerOrBool, null, (x, y, _) => x & y, (x, y, _) => x & y, (x, y) => x && y);
    public static readonly BinaryOp Or = new("or", TypeClass.IntegerOrBool, null, (x, y, _) => x | y, (x, y, _) => x | y, (x, y) => x || y);
    public static readonly CompareOp Compare = new();
    public static readonly SelectOp Select = new();
    public static readonly ClampOp Clamp = new();

    public static readonly ImmutableArray<OpDef> All =
    [
        Neg,
        new UnaryOp("abs", TypeClass.Numeric, f: Math.Abs, i: x => x < 0 ? unchecked(-x) : x, u: x => x, gradient: G.Abs),
        new UnaryOp("sign", TypeClass.Numeric, f: x => double.IsNaN(x) || x == 0 ? x : Math.Sign(x), i: x => Math.Sign(x), u: x => x > 0 ? 1UL : 0UL, gradient: G.Zero),
        Float("exp", Math.Exp, TranscendentalWeight, G.Exp),
        Float("expm1", SpecialFunctions.Expm1, TranscendentalWeight, G.Expm1),
        Float("log", Math.Log, TranscendentalWeight, G.Log),
        Float("log1p", SpecialFunctions.Log1p, TranscendentalWeight, G.Log1p),
        Float("sqrt", Math.Sqrt, DivisionWeight, G.Sqrt),
        Float("rsqrt", x => 1 / Math.Sqrt(x), DivisionWeight, G.Rsqrt),
        Float("cbrt", Math.Cbrt, DivisionWeight, G.Cbrt),
        Float("tanh", Math.Tanh, TranscendentalWeight, G.Tanh),
        Float("logistic", x => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x)), TranscendentalWeight, G.Logistic),
        Float("erf", SpecialFunctions.Erf, TranscendentalWeight, G.Erf),
        Float("sin", Math.Sin, TranscendentalWeight, G.Sin),
        Float("cos", Math.Cos, TranscendentalWeight, G.Cos),
        Float("tan", Math.Tan, TranscendentalWeight, G.Tan),
        Float("asin", Math.Asin, TranscendentalWeight, G.Asin),
        Float("acos", Math.Acos, TranscendentalWeight, G.Acos),
        Float("atan", Math.Atan, TranscendentalWeight, G.Atan),
        Float("sinh", Math.Sinh, TranscendentalWeight, G.Sinh),
        Float("cosh", Math.Cosh, TranscendentalWeight, G.Cosh),
        Float("asinh", Math.Asinh, TranscendentalWeight, G.Asinh),
        Float("acosh", Math.Acosh, TranscendentalWeight, G.Acosh),
        Float("atanh", Math.Atanh, TranscendentalWeight, G.Atanh),
        Float("floor", Math.Floor, 1, G.Zero),
        Float("ceil", Math.Ceiling, 1, G.Zero),
        Float("round", x => Math.Round(x, MidpointRounding.ToEven), 1, G.Zero),
        Not,
        new UnaryOp("is_finite", TypeClass.Float, boolResult: true, predicate: double.IsFinite),

        Add,
        Sub,
        Mul,
        Div,
        // Remainder has the dividend's sign (C fmod); x%0 = x and MIN%-1 = 0.
        new BinaryOp("rem", TypeClass.Numeric, (x, y) => x % y,
            (x, y, _) => y == 0 ? x : y == -1 ? 0 : x % y,
            (x, y, _) => y == 0 ? x : x % y, weight: DivisionWeight, gradient: G.Rem),
        new BinaryOp("pow", TypeClass.Numeric, Math.Pow, SignedPow, (x, y, _) => UnsignedPow(x, y), weight: TranscendentalWeight, gradient: G.Pow),
        // max/min propagate NaN and order -0 < +0.
        new BinaryOp("max", TypeClass.Numeric, Math.Max, (x, y, _) => Math.Max(x, y), (x, y, _) => Math.Max(x, y), gradient: G.Max),
        new BinaryOp("min", TypeClass.Numeric, Math.Min, (x, y, _) => Math.Min(x, y), (x, y, _) => Math.Min(x, y), gradient: G.Min),
        new BinaryOp("atan2", TypeClass.Float, Math.Atan2, weight: TranscendentalWeight, gradient: G.Atan2),
        And,
        Or,
        new BinaryOp("xor", TypeClass.IntegerOrBool, null, (x, y, _) => x ^ y, (x, y, _) => x ^ y, (x, y) => x ^ y),
        // Shifts by a negative amount or by the width or more give 0 (arithmetic right: the sign fill).
        new BinaryOp("shift_left", TypeClass.Integer, null,
            (x, y, bits) => y < 0 || y >= bits ? 0 : x << (int)y,
            (x, y, bits) => y >= (ulong)bits ? 0 : x << (int)y),
        new BinaryOp("shift_right_arithmetic", TypeClass.Integer, null,
            (x, y, bits) => y < 0 || y >= bits ? (x < 0 ? -1 : 0) : x >> (int)y,
            (x, y, bits) => SignedShiftOfUnsigned(x, y, bits)),
        new BinaryOp("shift_right_logical", TypeClass.Integer, null,
            (x, y, bits) => y < 0 || y >= bits ? 0 : (long)(((ulong)x & Mask(bits)) >> (int)y),
            (x, y, bits) => y >= (ulong)bits ? 0 : x >> (int)y),

        Compare,
        Select,
        Clamp,
    ];

    private static ulong SignedShiftOfUnsigned(ulong x, ulong y, int bits)
    {
        long sx = SignExtend((long)x, bits);
        long r = y >= (ulong)bits ? (sx < 0 ? -1 : 0) : sx >> (int)y;
        return (ulong)r;
    }
}
