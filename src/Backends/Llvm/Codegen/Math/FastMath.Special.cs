namespace GraphCompiler.Backends.Llvm.Codegen;

// erf, cbrt and the hyperbolic sine and cosine.
internal static partial class FastMath
{
    /// <summary>erf(√t)/√t on t in [0, 1] (Chebyshev fit with mpmath, error 1.2e-9), highest degree first.</summary>
    private static readonly double[] ErfNear =
        [7.8758750626854883e-5, -0.00080168642871658695, 0.005189087423433974, -0.026854212010626412, 0.11283594715160218, -0.37612626666720331, 1.1283791658483509];

    /// <summary>erfc(a)·e^{a²} on a in [1, 3.925] as a polynomial in a − <see cref="ErfFarCentre"/> (error 7.8e-9).</summary>
    private static readonly double[] ErfFar =
    [
        -4.5358529674477546e-7, 1.8232847973591721e-6, -4.2594454203273035e-6, 1.5852196763769814e-5, -6.431773269279267e-5, 0.00022896031079199049,
        -0.00078263276874132187, 0.0026082082991897714, -0.008382209196144825, 0.025859556101425297, -0.076251979697431702, 0.21362988034898699,
    ];

    private const double ErfFarCentre = 2.4625;

    /// <summary>erf(a) rounds to 1 in f32 from here on.</summary>
    private const double ErfOne = 3.925;

    /// <summary>
    /// <c>erf(x)</c> (max 2.4 ulp): x·P(x²) below |x| = 1; above, 1 − e^{−x²}·Q(|x|) with Q fitted to
    /// erfc·e^{x²}, whose absolute error stays below half an ulp of the result; ±1 from <see cref="ErfOne"/>.
    /// </summary>
    public static string Erf(ModuleContext module) => MathFunction.Define(module, "gc.erff", 1, (f, p) =>
    {
        var x = p[0];
        var a = f.Abs(x);
        var t = f.Mul(a, a);
        var near = f.Mul(x, f.Poly(t, ErfNear));
        var q = f.Poly(f.Sub(a, F(ErfFarCentre)), ErfFar);
        var far = f.Sub(F(1), f.Mul(f.Call(Exp(module), f.Neg(t)), q));
        far = f.CopySign(f.Sel(f.Cmp("ogt", a, F(ErfOne)), F(1), far), x);
        var r = f.Sel(f.Cmp("olt", a, F(1)), near, far);
        return f.Sel(f.IsNan(x), x, r);
    });

    /// <summary>
    /// <c>cbrt(x)</c> (max 0.5 ulp): an estimate from the exponent bits (Kahan's constant), three Newton
    /// steps in double, subnormals scaled by 2^24 first; ±0, ±inf and NaN unchanged.
    /// </summary>
    public static string Cbrt(ModuleContext module) => MathFunction.Define(module, "gc.cbrtf", 1, (f, p) =>
    {
        var x = p[0];
        var a = f.Abs(x);
        var sub = f.Cmp("olt", a, F(SmallestNormal));
        var s = f.Sel(sub, f.Mul(a, F(16777216.0)), a);
        var y = f.Widen(f.FromBits(f.Int("add", f.Int("udiv", f.Bits(s), "3"), "709921077")));
        var ad = f.Widen(s);
        for (int i = 0; i < 3; i++)
            y = f.DSub(y, f.DDiv(f.DSub(f.DMul(f.DMul(y, y), y), ad), f.DMul(D(3), f.DMul(y, y))));
        var r = f.Narrow(y);
        r = f.Sel(sub, f.Mul(r, F(0.00390625)), r);
        var unchanged = f.Or(f.Or(f.Cmp("oeq", a, F(0)), f.IsInf(a)), f.IsNan(a));
        return f.CopySign(f.Sel(unchanged, a, r), x);
    });

    /// <summary>e^a/2 without overflowing before the result does: (e^{a/2}/2)·e^{a/2} past 88.</summary>
    private static string HalfExp(MathFunction f, ModuleContext module, string a, out string e)
    {
        e = f.Call(Exp(module), a);
        var h = f.Call(Exp(module), f.Mul(F(0.5), a));
        return f.Sel(f.Cmp("ogt", a, F(88)), f.Mul(f.Mul(F(0.5), h), h), f.Mul(F(0.5), e));
    }

    /// <summary><c>sinh(x)</c> (max 2.1 ulp): Cephes' odd polynomial below |x| = 1, else (e^a − e^{−a})/2.</summary>
    public static string Sinh(ModuleContext module) => MathFunction.Define(module, "gc.sinhf", 1, (f, p) =>
    {
        var x = p[0];
        var a = f.Abs(x);
        var z = f.Mul(x, x);
        var near = f.Fma(f.Mul(f.Poly(z, 2.03721912945E-4, 8.33028376239E-3, 1.66667160211E-1), z), x, x);
        var half = HalfExp(f, module, a, out var e);
        var far = f.CopySign(f.Sub(half, f.Div(F(0.5), e)), x);
        var r = f.Sel(f.Cmp("olt", a, F(1)), near, far);
        return f.Sel(f.IsNan(x), x, r);
    });

    /// <summary><c>cosh(x) = (e^a + e^{−a})/2</c> (max 2.1 ulp).</summary>
    public static string Cosh(ModuleContext module) => MathFunction.Define(module, "gc.coshf", 1, (f, p) =>
    {
        var x = p[0];
        var a = f.Abs(x);
        var half = HalfExp(f, module, a, out var e);
        return f.Sel(f.IsNan(x), x, f.Add(half, f.Div(F(0.5), e)));
    });
}
