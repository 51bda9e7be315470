namespace GraphCompiler.Backends.Llvm.Codegen;

// exp and log in f64 for the GPU, which has no libm (the CPU keeps libm's, correctly rounded in glibc): the classic
// reductions (Cody–Waite for exp, fdlibm's for log) with Taylor coefficients carried far enough that truncation stays
// below 0.05 ulp, so the error is the few roundings of the evaluation, within 1 ulp.
internal static partial class FastMath
{
    /// <summary>e^r − 1 − r = r²·Σ r^k/(k+2)!, k = 0..11: for |r| ≤ ln2/2 the first term left out is 4e-18 of e^r.</summary>
    private static readonly double[] ExpTail = [.. Enumerable.Range(0, 12).Reverse().Select(k => 1 / Factorial(k + 2))];

    /// <summary>log(1+f) = f − f²/2 + s(f²/2 + R), R = Σ 2z^k/(2k+1), k = 1..10, z = s², s = f/(2+f) ≤ 0.1716: the first term left out is 2e-19.</summary>
    private static readonly double[] LogTail = [.. Enumerable.Range(1, 10).Reverse().Select(k => 2.0 / (2 * k + 1))];

    /// <summary>ln2 split for exact products with small integers: the high part has 32 trailing zero bits (fdlibm's).</summary>
    private const double Ln2HiF64 = 6.93147180369123816490e-01, Ln2LoF64 = 1.90821492927058770002e-10;

    /// <summary>ln2 − (double)ln2: the reduction's second FMA takes it off, so r is x − n·ln2 to about 2^-105·n.</summary>
    private const double Ln2Tail = 2.3190468138462996e-17;

    /// <summary>
    /// <c>exp(x)</c> in f64 (within 1 ulp): n = round(x/ln2), r = x − n·ln2 by two FMAs (ln2 and its rounding error),
    /// e^r = 1 + r + r²·P(r), then 2^n applied as two halves so that a subnormal result is rounded once. x is clamped to
    /// [−746, 710] first, beyond which the result is 0 or inf anyway; NaN passes through.
    /// </summary>
    public static string ExpF64(ModuleContext module) => MathFunction.Define(module, "gc.exp.f64", 1, (f, p) =>
    {
        var x = p[0];
        var result = ExpOf(f, x, low: null);
        return f.Let($"select i1 {f.Let($"fcmp uno double {x}, 0.0")}, double {x}, double {result}");
    }, "double");

    /// <summary>
    /// e^{x + low} for a double-double argument (<paramref name="low"/> null for a plain double; otherwise below an ulp of x
    /// and 0 where x is clamped): the reduction of <see cref="ExpF64"/>, with <paramref name="low"/> added to the reduced r,
    /// where it is no longer below r's rounding.
    /// </summary>
    private static string ExpOf(MathFunction f, string x, string? low)
    {
        var xc = f.DMin(f.DMax(x, D(-746)), D(710));
        var n = f.DRound(f.DMul(xc, D(1 / Ln2)));
        var negN = f.Let($"fneg double {n}");
        var r = f.DFma(negN, D(Ln2), xc);
        r = f.DFma(negN, D(Ln2Tail), r);
        if (low is not null) r = f.DAdd(r, low);
        var e = f.DAdd(D(1), f.DFma(f.DMul(r, r), f.DPoly(r, ExpTail), r));
        var ni = f.DToInt(n);
        var n1 = f.Int("ashr", ni, "1");
        var n2 = f.Int("sub", ni, n1);
        string Pow2(string k) => f.Let($"bitcast i64 {f.Let($"shl i64 {f.Let($"sext i32 {f.Int("add", k, "1023")} to i64")}, 52")} to double");
        return f.DMul(f.DMul(e, Pow2(n1)), Pow2(n2));
    }

    /// <summary>
    /// <c>log(x)</c> in f64 (within 1 ulp; fdlibm's e_log.c scheme): x = 2^k·m with m in [√½, √2) (subnormals scaled by
    /// 2^54 first), f = m − 1, s = f/(2 + f), log(m) = f − (f²/2 − s(f²/2 + R(s²))), and k·ln2 added in two parts. log(0) =
    /// −inf, log(+inf) = +inf, NaN for x &lt; 0 and for NaN.
    /// </summary>
    public static string LogF64(ModuleContext module) => MathFunction.Define(module, "gc.log.f64", 1, (f, p) =>
    {
        var x = p[0];
        var (k, fm) = LogReduce(f, x);
        var s = f.DDiv(fm, f.DAdd(D(2), fm));
        var z = f.DMul(s, s);
        var r = f.DMul(z, f.DPoly(z, LogTail));
        var hfsq = f.DMul(f.DMul(D(0.5), fm), fm);
        // k·ln2hi − ((hfsq − (s·(hfsq + R) + k·ln2lo)) − f)
        var inner = f.DFma(s, f.DAdd(hfsq, r), f.DMul(k, D(Ln2LoF64)));
        var result = f.DSub(f.DMul(k, D(Ln2HiF64)), f.DSub(f.DSub(hfsq, inner), fm));
        result = f.Let($"select i1 {f.Let($"fcmp oeq double {x}, 0.0")}, double {D(double.NegativeInfinity)}, double {result}");
        result = f.Let($"select i1 {f.Let($"fcmp oeq double {x}, {D(double.PositiveInfinity)}")}, double {x}, double {result}");
        return f.Let($"select i1 {f.Let($"fcmp ult double {x}, 0.0")}, double {D(double.NaN)}, double {result}");
    }, "double");

    /// <summary>x = 2^k·m with m in [√½, √2) (subnormals scaled by 2^54 first): k as a double, and f = m − 1 (exact).</summary>
    private static (string K, string F) LogReduce(MathFunction f, string x)
    {
        var tiny = f.Let($"fcmp olt double {x}, {D(2.2250738585072014e-308)}");
        var xs = f.Let($"select i1 {tiny}, double {f.DMul(x, D(18014398509481984.0))}, double {x}"); // 2^54
        var bits = f.Let($"bitcast double {xs} to i64");
        var k0 = f.Let($"sub i64 {f.Let($"lshr i64 {bits}, 52")}, {f.Let($"select i1 {tiny}, i64 {1023 + 54}, i64 1023")}");
        var m0 = f.Let($"bitcast i64 {f.Let($"or i64 {f.Let($"and i64 {bits}, 4503599627370495")}, 4607182418800017408")} to double"); // [1, 2)
        var high = f.Let($"fcmp ogt double {m0}, {D(Math.Sqrt(2))}");
        var m = f.Let($"select i1 {high}, double {f.DMul(m0, D(0.5))}, double {m0}");
        var k = f.Let($"sitofp i64 {f.Let($"add i64 {k0}, {f.Let($"zext i1 {high} to i64")}")} to double");
        return (k, f.DSub(m, D(1)));
    }
}
