using GraphCompiler.IR.Autodiff;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// The vector-Jacobian products of the elementwise ops, each named by the row of
/// <see cref="ElementwiseOps"/> that defines its op. <c>dy</c> is the result's cotangent, <c>y</c> the
/// forward result (reused where the derivative is cheaper from it: exp, tanh, logistic, sqrt).
/// </summary>
internal static class ElementwiseGradients
{
    private static Value?[] One(Value dx) => [dx];

    /// <summary>Piecewise-constant ops (floor, ceil, round, sign): zero almost everywhere.</summary>
    public static readonly VjpRule Zero = c => new Value?[c.Op.Operands.Length];

    public static readonly VjpRule Neg = c => One(c.Neg(c.Dy));

    // abs'(x) = sign(x), 0 at 0.
    public static readonly VjpRule Abs = c => One(c.Mul(c.Dy, c.Emit("sign", c.X(0))));

    public static readonly VjpRule Exp = c => One(c.Mul(c.Dy, c.Y()));
    public static readonly VjpRule Expm1 = c => One(c.Mul(c.Dy, c.Add(c.Y(), c.Const(1, c.Y()))));
    public static readonly VjpRule Log = c => One(c.Div(c.Dy, c.X(0)));
    public static readonly VjpRule Log1p = c => One(c.Div(c.Dy, c.Add(c.X(0), c.Const(1, c.X(0)))));

    // sqrt' = 1 / (2·y)
    public static readonly VjpRule Sqrt = c => One(c.Div(c.Mul(c.Dy, c.Const(0.5, c.Y())), c.Y()));

    // rsqrt' = -½·x^(-3/2) = -½·y³
    public static readonly VjpRule Rsqrt = c =>
        One(c.Mul(c.Mul(c.Dy, c.Const(-0.5, c.Y())), c.Mul(c.Y(), c.Mul(c.Y(), c.Y()))));

    // cbrt' = 1 / (3·y²)
    public static readonly VjpRule Cbrt = c => One(c.Div(c.Dy, c.Mul(c.Const(3, c.Y()), c.Mul(c.Y(), c.Y()))));

    public static readonly VjpRule Tanh = c => One(c.Mul(c.Dy, c.Sub(c.Const(1, c.Y()), c.Mul(c.Y(), c.Y()))));
    public static readonly VjpRule Logistic = c => One(c.Mul(c.Dy, c.Mul(c.Y(), c.Sub(c.Const(1, c.Y()), c.Y()))));

    // erf' = 2/√π · exp(-x²)
    public static readonly VjpRule Erf = c =>
    {
        var x = c.X(0);
        var gauss = c.Emit("exp", c.Neg(c.Mul(x, x)));
        return One(c.Mul(c.Dy, c.Mul(c.Const(2 / Math.Sqrt(Math.PI), x), gauss)));
    };

    public static readonly VjpRule Sin = c => One(c.Mul(c.Dy, c.Emit("cos", c.X(0))));
    public static readonly VjpRule Cos = c => One(c.Neg(c.Mul(c.Dy, c.Emit("sin", c.X(0)))));
    public static readonly VjpRule Tan = c => One(c.Mul(c.Dy, c.Add(c.Const(1, c.Y()), c.Mul(c.Y(), c.Y()))));
    public static readonly VjpRule Asin = c => One(c.Div(c.Dy, c.Emit("sqrt", OneMinusSquare(c, c.X(0)))));
    public static readonly VjpRule Acos = c => One(c.Neg(c.Div(c.Dy, c.Emit("sqrt", OneMinusSquare(c, c.X(0))))));
    public static readonly VjpRule Atan = c => One(c.Div(c.Dy, c.Add(c.Const(1, c.X(0)), c.Mul(c.X(0), c.X(0)))));
    public static readonly VjpRule Sinh = c => One(c.Mul(c.Dy, c.Emit("cosh", c.X(0))));
    public static readonly VjpRule Cosh = c => One(c.Mul(c.Dy, c.Emit("sinh", c.X(0))));
    public static readonly VjpRule Asinh = c => One(c.Div(c.Dy, c.Emit("sqrt", c.Add(c.Mul(c.X(0), c.X(0)), c.Const(1, c.X(0))))));
    public static readonly VjpRule Acosh = c => One(c.Div(c.Dy, c.Emit("sqrt", c.Sub(c.Mul(c.X(0), c.X(0)), c.Const(1, c.X(0))))));
    public static readonly VjpRule Atanh = c => One(c.Div(c.Dy, OneMinusSquare(c, c.X(0))));

    private static Value OneMinusSquare(VjpContext c, Value x) => c.Sub(c.Const(1, x), c.Mul(x, x));

    public static readonly VjpRule Add = c => [c.Dy, c.Dy];
    public static readonly VjpRule Sub = c => [c.Dy, c.Needs(1) ? c.Neg(c.Dy) : null];
    public static readonly VjpRule Mul = c => [c.Needs(0) ? c.Mul(c.Dy, c.X(1)) : null, c.Needs(1) ? c.Mul(c.Dy, c.X(0)) : null];

    // d(a/b)/db = -a/b² = -y/b
    public static readonly VjpRule Div = c =>
    [
        c.Needs(0) ? c.Div(c.Dy, c.X(1)) : null,
        c.Needs(1) ? c.Neg(c.Div(c.Mul(c.Dy, c.Y()), c.X(1))) : null,
    ];

    // fmod: y = a - trunc(a/b)·b, so dy/da = 1 and dy/db = -trunc(a/b) = -(a - y)/b.
    public static readonly VjpRule Rem = c =>
    [
        c.Dy,
        c.Needs(1) ? c.Neg(c.Div(c.Mul(c.Dy, c.Sub(c.X(0), c.Y())), c.X(1))) : null,
    ];

    // d(aᵇ)/da = b·aᵇ⁻¹ (0 where b = 0, so 0⁰ has no infinite slope); d(aᵇ)/db = aᵇ·ln a where a > 0, else 0
    // (the real power of a non-positive base is defined only at integer b, where it is locally flat in b).
    public static readonly VjpRule Pow = c =>
    {
        var (a, b) = (c.X(0), c.X(1));
        Value? da = null, db = null;
        if (c.Needs(0))
        {
            var slope = c.Mul(b, c.Emit("pow", a, c.Sub(b, c.Const(1, b))));
            da = c.Mul(c.Dy, c.Select(c.Compare(b, c.Const(0, b), "eq"), c.Const(0, b), slope));
        }
        if (c.Needs(1))
        {
            var positive = c.Compare(a, c.Const(0, a), "gt");
            var log = c.Emit("log", c.Select(positive, a, c.Const(1, a)));
            db = c.Mul(c.Dy, c.Select(positive, c.Mul(c.Y(), log), c.Const(0, a)));
        }
        return [da, db];
    };

    /// <summary>
    /// max (and min): the cotangent goes to the operand that is selected; at a tie each gets half, which is
    /// also what a central difference measures there (as JAX and PyTorch do).
    /// </summary>
    public static readonly VjpRule Max = c => Extremum(c, "gt");
    public static readonly VjpRule Min = c => Extremum(c, "lt");

    private static Value?[] Extremum(VjpContext c, string wins)
    {
        var (a, b) = (c.X(0), c.X(1));
        var half = c.Mul(c.Dy, c.Const(0.5, a));
        var zero = c.Const(0, a);
        var tie = c.Compare(a, b, "eq");
        Value? ForA() => c.Select(c.Compare(a, b, wins), c.Dy, c.Select(tie, half, zero));
        Value? ForB() => c.Select(c.Compare(b, a, wins), c.Dy, c.Select(tie, half, zero));
        return [c.Needs(0) ? ForA() : null, c.Needs(1) ? ForB() : null];
    }

    // atan2(a, b): ∂/∂a = b/(a²+b²), ∂/∂b = -a/(a²+b²)
    public static readonly VjpRule Atan2 = c =>
    {
        var (a, b) = (c.X(0), c.X(1));
        var scale = c.Div(c.Dy, c.Add(c.Mul(a, a), c.Mul(b, b)));
        return [c.Needs(0) ? c.Mul(scale, b) : null, c.Needs(1) ? c.Neg(c.Mul(scale, a)) : null];
    };

    // select p, a, b: the predicate gets nothing; each branch gets the cotangent where it was chosen.
    public static readonly VjpRule Select = c =>
    {
        var zero = c.Zeros(c.Y().Type);
        return [null, c.Needs(1) ? c.Select(c.X(0), c.Dy, zero) : null, c.Needs(2) ? c.Select(c.X(0), zero, c.Dy) : null];
    };

    /// <summary>
    /// clamp lo, x, hi: x gets the cotangent where lo ≤ x ≤ hi (at a bound the value follows x, as the
    /// one-sided derivative from inside does), lo where x &lt; lo, hi where x &gt; hi; a rank-0 bound sums.
    /// </summary>
    public static readonly VjpRule Clamp = c =>
    {
        var (lo, x, hi) = (c.X(0), c.X(1), c.X(2));
        var t = x.Type;
        var zero = c.Zeros(t);
        Value Full(Value bound) => bound.Type.Rank == 0 ? c.Broadcast(bound, t, []) : bound;
        var (loFull, hiFull) = (Full(lo), Full(hi));
        var below = c.Compare(x, loFull, "lt");
        var above = c.Compare(x, hiFull, "gt");
        Value? BoundCotangent(Value bound, Value side)
        {
            var g = c.Select(side, c.Dy, zero);
            return bound.Type.Rank == 0 ? c.Reduce(g, "sum", [.. Enumerable.Range(0, t.Rank).Select(d => (long)d)]) : g;
        }
        return
        [
            c.Needs(0) ? BoundCotangent(lo, below) : null,
            c.Needs(1) ? c.Select(below, zero, c.Select(above, zero, c.Dy)) : null,
            c.Needs(2) ? BoundCotangent(hi, above) : null,
        ];
    };
}
