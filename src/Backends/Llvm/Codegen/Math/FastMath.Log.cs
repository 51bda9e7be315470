namespace GraphCompiler.Backends.Llvm.Codegen;

// Logarithms and the functions built on them. Errors measured over every 97th f32 bit pattern against
// double-precision libm (tests/…/FastMathTests.cs checks a sample of the same in every run).
internal static partial class FastMath
{
    private const double Ln2Hi = 0.693359375, Ln2Lo = -2.12194440e-4; // Cephes' split: n·Ln2Hi is exact for |n| < 2^15
    private const double Ln2 = 0.693147180559945309;
    private const double SmallestNormal = 1.17549435e-38;

    /// <summary>
    /// Past this, <c>a²</c> would overflow, so asinh/acosh use <c>log(a) + ln 2</c> (exact to f32 there:
    /// the dropped term is 1/(4a²)).
    /// </summary>
    private const double HugeArgument = 1e18;

    /// <summary>
    /// <c>log(x)</c> (Cephes logf, max 0.8 ulp): x = m·2^e with m in [√½, √2), a degree-8 polynomial in
    /// f = m − 1, e·ln2 added in two parts. Subnormal x is scaled by 2^25 first.
    /// </summary>
    public static string Log(ModuleContext module) => MathFunction.Define(module, "gc.logf", 1, (f, p) =>
    {
        var x = p[0];
        var sub = f.Cmp("olt", x, F(SmallestNormal)); // also zero and negatives, which the selects below replace
        var xs = f.Sel(sub, f.Mul(x, F(33554432.0)), x);
        var u = f.Bits(xs);
        var e0 = f.Int("sub", f.Int("lshr", u, "23"), "126");
        var e1 = f.Int("sub", e0, f.IntSel(sub, "25", "0"));
        var m = f.FromBits(f.Int("or", f.Int("and", u, "8388607"), "1056964608")); // mantissa with exponent of 0.5: m in [0.5, 1)
        var low = f.Cmp("olt", m, F(0.707106781186547524));
        var fr = f.Sel(low, f.Sub(f.Add(m, m), F(1)), f.Sub(m, F(1)));
        var fe = f.ToFloat(f.Int("sub", e1, f.IntSel(low, "1", "0")));
        var z = f.Mul(fr, fr);
        var poly = f.Poly(fr, 7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
            -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1);
        var y = f.Mul(f.Mul(poly, fr), z);
        y = f.Fma(fe, F(Ln2Lo), y);
        y = f.Fma(z, F(-0.5), y);
        var r = f.Fma(fe, F(Ln2Hi), f.Add(fr, y));
        r = f.Sel(f.Cmp("oeq", x, F(0)), F(double.NegativeInfinity), r);
        r = f.Sel(f.Cmp("olt", x, F(0)), F(double.NaN), r);
        r = f.Sel(f.Cmp("oeq", x, F(double.PositiveInfinity)), x, r);
        return f.Sel(f.IsNan(x), x, r);
    });

    /// <summary>
    /// <c>log1p(x)</c> (max 1.5 ulp): u = 1 + x rounded, then log(u) minus the rounding's share,
    /// ((u − 1) − x)/u (Goldberg's correction); x itself where u rounds to 1, −inf at −1.
    /// </summary>
    public static string Log1p(ModuleContext module) => MathFunction.Define(module, "gc.log1pf", 1, (f, p) =>
    {
        var x = p[0];
        var log = Log(module);
        var u = f.Add(F(1), x);
        var r = f.Sub(f.Call(log, u), f.Div(f.Sub(f.Sub(u, F(1)), x), u));
        r = f.Sel(f.Cmp("oeq", u, F(1)), x, r);
        r = f.Sel(f.Cmp("oeq", u, F(0)), F(double.NegativeInfinity), r);
        return f.Sel(f.Cmp("oeq", x, F(double.PositiveInfinity)), x, r);
    });

    /// <summary>
    /// <c>expm1(x)</c> (max 2.4 ulp): Kahan's (u − 1)·(x / log u) with u = e^x, which cancels the rounding
    /// of u; x where u rounds to 1, −1 where u − 1 does.
    /// </summary>
    public static string Expm1(ModuleContext module) => MathFunction.Define(module, "gc.expm1f", 1, (f, p) =>
    {
        var x = p[0];
        var u = f.Call(Exp(module), x);
        var um1 = f.Sub(u, F(1));
        var r = f.Mul(um1, f.Div(x, f.Call(Log(module), u)));
        r = f.Sel(f.Cmp("oeq", u, F(1)), x, r);
        r = f.Sel(f.Cmp("oeq", um1, F(-1)), F(-1), r);
        r = f.Sel(f.Cmp("oeq", u, F(double.PositiveInfinity)), u, r);
        return f.Sel(f.IsNan(x), x, r);
    });

    /// <summary><c>asinh(x) = sign(x)·log1p(a + a²/(1 + √(1 + a²)))</c>, a = |x| (max 1.9 ulp); log(a) + ln2 past <see cref="HugeArgument"/>.</summary>
    public static string Asinh(ModuleContext module) => MathFunction.Define(module, "gc.asinhf", 1, (f, p) =>
    {
        var x = p[0];
        var a = f.Abs(x);
        var a2 = f.Mul(a, a);
        var near = f.Call(Log1p(module), f.Add(a, f.Div(a2, f.Add(F(1), f.Sqrt(f.Add(F(1), a2))))));
        var far = f.Add(f.Call(Log(module), a), F(Ln2));
        var r = f.CopySign(f.Sel(f.Cmp("ogt", a, F(HugeArgument)), far, near), x);
        return f.Sel(f.IsNan(x), x, r);
    });

    /// <summary><c>acosh(x) = log1p(t + √(t² + 2t))</c>, t = x − 1, exact near 1 (max 2.2 ulp); NaN below 1.</summary>
    public static string Acosh(ModuleContext module) => MathFunction.Define(module, "gc.acoshf", 1, (f, p) =>
    {
        var x = p[0];
        var t = f.Sub(x, F(1));
        var near = f.Call(Log1p(module), f.Add(t, f.Sqrt(f.Fma(t, t, f.Add(t, t)))));
        var far = f.Add(f.Call(Log(module), x), F(Ln2));
        var r = f.Sel(f.Cmp("ogt", x, F(HugeArgument)), far, near);
        r = f.Sel(f.Cmp("olt", x, F(1)), F(double.NaN), r);
        return f.Sel(f.IsNan(x), x, r);
    });

    /// <summary><c>atanh(x) = sign(x)·½·log1p(2a/(1 − a))</c> (max 2.4 ulp): ±inf at ±1, NaN beyond.</summary>
    public static string Atanh(ModuleContext module) => MathFunction.Define(module, "gc.atanhf", 1, (f, p) =>
    {
        var x = p[0];
        var a = f.Abs(x);
        var r = f.CopySign(f.Mul(F(0.5), f.Call(Log1p(module), f.Div(f.Add(a, a), f.Sub(F(1), a)))), x);
        return f.Sel(f.IsNan(x), x, r);
    });
}
