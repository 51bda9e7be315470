namespace GraphCompiler.Backends.Llvm.Codegen;

// atan, asin, acos, atan2, cbrt and erf in f64 for the GPU (the CPU keeps libm's). atan reduces its argument as fdlibm's
// s_atan.c does (to |t| ≤ 7/16 around 0, ½, 1, 3/2 or ∞) and sums the Taylor series of the rest far enough that
// truncation stays below 0.05 ulp; asin, acos and atan2 are atan of well-conditioned quotients.
internal static partial class FastMath
{
    /// <summary>atan t = t + t·z·Σ (−1)^{k+1} z^k/(2k+3), k = 0..21, z = t²: for |t| ≤ 7/16 the first term left out is 3e-18 of atan t.</summary>
    private static readonly double[] AtanTail = [.. Enumerable.Range(0, 22).Reverse().Select(k => (k % 2 == 0 ? -1.0 : 1.0) / (2 * k + 3))];

    /// <summary>atan(½), atan(1) = π/4, atan(3/2) and π/2 as double-doubles (mpmath): the bases of the reduction.</summary>
    private static readonly (double Hi, double Lo)[] AtanBase =
        [(0.4636476090008061, 2.2698777452961687e-17), (0.7853981633974483, 3.061616997868383e-17), (0.982793723247329, 1.3903311031230998e-17), (HalfPiHi, HalfPiLo)];

    /// <summary>π as a double-double.</summary>
    private const double PiHi = 3.141592653589793, PiLo = 1.2246467991473532e-16;

    /// <summary>
    /// atan(a) for a ≥ 0 (or NaN) as a double-double (hi, lo), fdlibm's reduction: a ≤ 7/16 itself; else t = (2a − 1)/(2 + a)
    /// about atan(½) up to 11/16, (a − 1)/(a + 1) about π/4 up to 19/16, (a − 3/2)/(1 + 3a/2) about atan(3/2) up to 39/16,
    /// −1/a about π/2 beyond; every |t| ≤ 7/16.
    /// </summary>
    private static (string Hi, string Lo) AtanParts(MathFunction f, string a)
    {
        string Above(double v) => f.Let($"fcmp ogt double {a}, {D(v)}");
        string Sel(string c, string x, string y) => f.Let($"select i1 {c}, double {x}, double {y}");
        var (c0, c1, c2, c3) = (Above(7.0 / 16), Above(11.0 / 16), Above(19.0 / 16), Above(39.0 / 16));
        var t0 = f.DDiv(f.DSub(f.DMul(D(2), a), D(1)), f.DAdd(D(2), a));
        var t1 = f.DDiv(f.DSub(a, D(1)), f.DAdd(a, D(1)));
        var t2 = f.DDiv(f.DSub(a, D(1.5)), f.DFma(a, D(1.5), D(1)));
        var t3 = f.DDiv(D(-1), a);
        var t = Sel(c3, t3, Sel(c2, t2, Sel(c1, t1, Sel(c0, t0, a))));
        string Base(Func<(double Hi, double Lo), double> part) =>
            Sel(c3, D(part(AtanBase[3])), Sel(c2, D(part(AtanBase[2])), Sel(c1, D(part(AtanBase[1])), Sel(c0, D(part(AtanBase[0])), D(0)))));
        var z = f.DMul(t, t);
        var series = f.DMul(f.DMul(t, z), f.DPoly(z, AtanTail)); // atan t − t
        // base_hi + (t + (series + base_lo)): the small parts first.
        return (Base(b => b.Hi), f.DAdd(t, f.DAdd(series, Base(b => b.Lo))));
    }

    private static string AtanOf(MathFunction f, string a)
    {
        var (hi, lo) = AtanParts(f, a);
        return f.DAdd(hi, lo);
    }

    /// <summary><c>atan(x)</c> in f64 (within 1 ulp): fdlibm's reduction, a Taylor tail; x's sign.</summary>
    public static string AtanF64(ModuleContext module) => MathFunction.Define(module, "gc.atan.f64", 1, (f, p) =>
        CopySign(module, f, AtanOf(f, Abs(module, f, p[0])), p[0]), "double");

    /// <summary><c>asin(x)</c> in f64 (within 2 ulp): atan(|x|/√((1 − |x|)(1 + |x|))), ±π/2 at ±1, NaN beyond; x's sign.</summary>
    public static string AsinF64(ModuleContext module) => MathFunction.Define(module, "gc.asin.f64", 1, (f, p) =>
    {
        var a = Abs(module, f, p[0]);
        module.Declare("declare double @llvm.sqrt.f64(double)");
        var root = f.Let($"call double @llvm.sqrt.f64(double {f.DMul(f.DSub(D(1), a), f.DAdd(D(1), a))})");
        return CopySign(module, f, AtanOf(f, f.DDiv(a, root)), p[0]);
    }, "double");

    /// <summary><c>acos(x)</c> in f64 (within 2 ulp): 2·atan(√((1 − x)/(1 + x))): 0 at 1, π at −1, NaN beyond.</summary>
    public static string AcosF64(ModuleContext module) => MathFunction.Define(module, "gc.acos.f64", 1, (f, p) =>
    {
        var x = p[0];
        module.Declare("declare double @llvm.sqrt.f64(double)");
        var q = f.Let($"call double @llvm.sqrt.f64(double {f.DDiv(f.DSub(D(1), x), f.DAdd(D(1), x))})");
        var (hi, lo) = AtanParts(f, q);
        return f.DAdd(f.DMul(D(2), hi), f.DMul(D(2), lo));
    }, "double");

    /// <summary>
    /// <c>atan2(y, x)</c> in f64 (within 2 ulp): atan(|y|/|x|), or π less it when x is negative (π as a double-double),
    /// with y's sign; C99's special values (signed zeros, infinities: ±π/4, ±3π/4) as selects; NaN if either is.
    /// </summary>
    public static string Atan2F64(ModuleContext module) => MathFunction.Define(module, "gc.atan2.f64", 2, (f, p) =>
    {
        var (y, x) = (p[0], p[1]);
        var (ay, ax) = (Abs(module, f, y), Abs(module, f, x));
        string Sel(string c, string a, string b) => f.Let($"select i1 {c}, double {a}, double {b}");
        var xNegative = f.Let($"icmp slt i64 {f.Let($"bitcast double {x} to i64")}, 0"); // −0 counts: atan2(±0, −0) = ±π
        var (hi, lo) = AtanParts(f, f.DDiv(ay, ax));
        var r = Sel(xNegative, f.DAdd(f.DSub(D(PiHi), hi), f.DSub(D(PiLo), lo)), f.DAdd(hi, lo));
        // Both infinite: π/4 or 3π/4 (the quotient is NaN); y = 0 with x = 0 comes out of the quotient as NaN too.
        var bothInf = f.Let($"and i1 {f.Let($"fcmp oeq double {ay}, {D(double.PositiveInfinity)}")}, {f.Let($"fcmp oeq double {ax}, {D(double.PositiveInfinity)}")}");
        r = Sel(bothInf, Sel(xNegative, D(3 * Math.PI / 4), D(Math.PI / 4)), r);
        var zeros = f.Let($"and i1 {f.Let($"fcmp oeq double {ay}, 0.0")}, {f.Let($"fcmp oeq double {ax}, 0.0")}");
        r = Sel(zeros, Sel(xNegative, D(Math.PI), D(0)), r);
        r = CopySign(module, f, r, y);
        return Sel(f.Let($"fcmp uno double {x}, {y}"), D(double.NaN), r);
    }, "double");

    /// <summary>
    /// <c>cbrt(x)</c> in f64 (within 1 ulp): an estimate from the exponent bits (fdlibm's: a third of the biased exponent,
    /// subnormals scaled by 2^54 first), four Newton steps (the error squares: 3% → 1e-21), the last written as a
    /// correction so it rounds once; x's sign, ±0, ±inf and NaN themselves.
    /// </summary>
    public static string CbrtF64(ModuleContext module) => MathFunction.Define(module, "gc.cbrt.f64", 1, (f, p) =>
    {
        var x = p[0];
        var a = Abs(module, f, x);
        var tiny = f.Let($"fcmp olt double {a}, {D(2.2250738585072014e-308)}");
        var scaled = f.Let($"select i1 {tiny}, double {f.DMul(a, D(18014398509481984.0))}, double {a}"); // 2^54
        // fdlibm's B1 (B2 for subnormals, whose cube root of 2^54 = 2^18 is taken off at the end).
        var estimate = f.Let($"bitcast i64 {f.Let($"add i64 {f.Let($"udiv i64 {f.Let($"bitcast double {scaled} to i64")}, 3")}, 3071306043645493248")} to double");
        var r = estimate;
        for (int i = 0; i < 3; i++) r = f.DSub(r, f.DDiv(f.DSub(r, f.DDiv(scaled, f.DMul(r, r))), D(3)));
        // Last step: r + (s/r² − r)/3, with s/r² from an exact square.
        var r2 = f.DMul(r, r);
        r = f.DAdd(r, f.DDiv(f.DSub(f.DDiv(scaled, r2), r), D(3)));
        r = f.Let($"select i1 {tiny}, double {f.DMul(r, D(1.0 / 262144))}, double {r}"); // 2^-18
        var special = f.Let($"or i1 {f.Let($"fcmp oeq double {a}, 0.0")}, {f.Let($"fcmp ueq double {a}, {D(double.PositiveInfinity)}")}");
        return Select(f, special, x, CopySign(module, f, r, x));
    }, "double");

    /// <summary>2/√π rounded, and its excess over 1 (exact in double): erf's Maclaurin series is a + a·(2/√π − 1 + …).</summary>
    private const double TwoOverSqrtPi = 1.1283791670955126;

    /// <summary>
    /// erf(a) = a + a·Q(a²) below <see cref="ErfMaclaurinBelow"/>: Q(z) = (2/√π)·Σ (−1)^n z^n/(n!(2n+1)) − 1, n = 0..13 (for z ≤ ¼
    /// the first term left out is 2e-19 of Q's size); a·Q is at most 0.13a, so its rounding errors shrink against a.
    /// </summary>
    private static readonly double[] ErfMaclaurin = [.. Enumerable.Range(0, 14).Reverse().Select(n =>
        n == 0 ? TwoOverSqrtPi - 1 : TwoOverSqrtPi * (n % 2 == 0 ? 1 : -1) / (Factorial(n) * (2 * n + 1)))];

    /// <summary>
    /// erf(1 + s) − erf(1) = Σ erf^{(n+1)}(1)·s^{n+1}/(n+1)!, n = 0..27, with erf^{(k)}(x) = (2/√π)·(−1)^{k−1}·H_{k−1}(x)·e^{−x²}
    /// (physicists' Hermite polynomials, H_{k+1}(1) = 2H_k(1) − 2k·H_{k−1}(1)): for |s| ≤ ½ the first term left out is 2e-22.
    /// </summary>
    private static readonly double[] ErfAboutOne = ErfTaylorAboutOne(28);

    private static double[] ErfTaylorAboutOne(int terms)
    {
        var coefficients = new double[terms];
        double hPrevious = 0, h = 1; // H_{−1} (unused: its factor is 0), H_0
        for (int k = 0; k < terms; k++)
        {
            // d_k = erf^{(k+1)}(1)/(k+1)! = (2/√π)·(−1)^k·H_k(1)·e^{−1}/(k+1)!
            coefficients[terms - 1 - k] = TwoOverSqrtPi * (k % 2 == 0 ? 1 : -1) * h * Math.Exp(-1) / Factorial(k + 1);
            (hPrevious, h) = (h, 2 * h - 2 * k * hPrevious);
        }
        return coefficients;
    }

    /// <summary>erf(1) as a double-double (mpmath): the base of the Taylor expansion about 1.</summary>
    private const double ErfOneHi = 0.8427007929497149, ErfOneLo = -2.4801011789118602e-17;

    /// <summary>Below this erf sums its Maclaurin series; from it to <see cref="ErfSeriesBelow"/>, the Taylor series about 1 (|a − 1| ≤ ½).</summary>
    private const double ErfMaclaurinBelow = 0.5;

    /// <summary>Partial numerators of erfc's continued fraction taken bottom-up: 100 of them leave 1e-17 of erfc(1.5).</summary>
    private const int ErfcTerms = 100;

    /// <summary>Where erf turns from its Taylor series about 1 to 1 − erfc: above, erfc ≤ 0.034 and the continued fraction converges.</summary>
    private const double ErfSeriesBelow = 1.5;

    /// <summary>
    /// <c>erf(x)</c> in f64 (within an ulp of mpmath's at 128 test points, and of the interpreter's double-double series at
    /// 50 000): for |x| &lt; ½ the Maclaurin series as a + a·Q(a²); up to 1.5 the Taylor series about 1, erf(1) (a double-double)
    /// plus s·P(s) with s = a − 1 exact; up to 6, 1 − erfc(a) with erfc(a) = e^{−a²}/(√π·(a + ½/(a + 1/(a + (3/2)/(a + …)))))
    /// (e^{−a²} from an exact a² = hi + lo, times 1 − lo; its small relative error vanishes against 1); 1 beyond (erf rounds to
    /// 1 from 5.93); x's sign; NaN itself. Every sum adds a small correction to a larger leading term, so each rounding is
    /// relative to the result: the one positive-term series with e^{−a²} it replaced lost 4 ulps near 1.5.
    /// </summary>
    public static string ErfF64(ModuleContext module) => MathFunction.Define(module, "gc.erf.f64", 1, (f, p) =>
    {
        var x = p[0];
        var a = Abs(module, f, x);
        var ac = f.DMin(a, D(6)); // the formulas below see at most 6
        var hi = f.DMul(ac, ac);
        var lo = f.DFma(ac, ac, f.Let($"fneg double {hi}"));
        var maclaurin = f.DFma(ac, f.DPoly(hi, ErfMaclaurin), ac);
        var s = f.DSub(ac, D(1));
        var aboutOne = f.DAdd(D(ErfOneHi), f.DFma(s, f.DPoly(s, ErfAboutOne), D(ErfOneLo)));
        var gauss = f.DMul(Call(f, ExpF64(module), f.Let($"fneg double {hi}")), f.DSub(D(1), lo)); // e^{−a²}
        var v = ac;
        for (int k = ErfcTerms; k >= 1; k--) v = f.DAdd(ac, f.DDiv(D(k / 2.0), v));
        var erfc = f.DDiv(gauss, f.DMul(D(Math.Sqrt(Math.PI)), v));
        var result = Select(f, f.Let($"fcmp olt double {a}, {D(ErfSeriesBelow)}"), aboutOne, f.DSub(D(1), erfc));
        result = Select(f, f.Let($"fcmp olt double {a}, {D(ErfMaclaurinBelow)}"), maclaurin, result);
        result = Select(f, f.Let($"fcmp oge double {a}, 6.0"), D(1), result);
        return Select(f, f.Let($"fcmp uno double {x}, 0.0"), x, CopySign(module, f, result, x));
    }, "double");
}
