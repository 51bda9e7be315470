namespace GraphCompiler.Backends.Llvm.Codegen;

// pow, in double inside: a float result needs y·log2|x| to about 2^-40, which f32 arithmetic cannot give.
internal static partial class FastMath
{
    /// <summary>log2(m) = s·Σ c_k s^{2k} with s = (m − 1)/(m + 1), c_k = 2/(ln2·(2k + 1)); |s| ≤ 0.172 for m in [√½, √2), so nine terms reach 1e-16.</summary>
    private static readonly double[] Log2Series = [.. Enumerable.Range(0, 9).Reverse().Select(k => 2 / (Ln2 * (2 * k + 1)))];

    /// <summary>2^f = Σ (f·ln2)^k/k! for |f| ≤ ½, to k = 10 (truncation 2e-13).</summary>
    private static readonly double[] Exp2Series = [.. Enumerable.Range(0, 11).Reverse().Select(k => Math.Pow(Ln2, k) / Factorial(k))];

    private static double Factorial(int k) => k <= 1 ? 1 : k * Factorial(k - 1);

    /// <summary>
    /// <c>pow(x, y)</c> (max 0.5 ulp plus ties: the result is 2^{y·log2|x|} to about 2^-40 before rounding to
    /// f32): log2|x| in double from the exponent and an atanh series, the product in double, 2^t by its
    /// integer part and a polynomial, then rounded once to f32 (so underflow rounds as IEEE says). Sign
    /// and the C99 Annex F special cases as selects: pow(x, ±0) = pow(1, y) = 1, NaN for a finite negative
    /// base with a finite non-integer exponent, odd integer exponents keep the base's sign (−0 and −inf
    /// included), pow(−1, ±inf) = 1.
    /// </summary>
    public static string Pow(ModuleContext module) => MathFunction.Define(module, "gc.powf", 2, (f, p) =>
    {
        var (x, y) = (p[0], p[1]);
        var a = f.Abs(x);
        var d = f.Widen(a); // subnormal floats are normal doubles
        var bits = f.Let($"bitcast double {d} to i64");
        var e = f.Let($"sub i64 {f.Let($"lshr i64 {bits}, 52")}, 1023");
        var m0 = f.Let($"bitcast i64 {f.Let($"or i64 {f.Let($"and i64 {bits}, 4503599627370495")}, 4607182418800017408")} to double"); // [1, 2)
        var high = f.Let($"fcmp ogt double {m0}, {D(Math.Sqrt(2))}");
        var m = f.Let($"select i1 {high}, double {f.DMul(m0, D(0.5))}, double {m0}");
        var ed = f.Let($"sitofp i64 {f.Let($"add i64 {e}, {f.Let($"zext i1 {high} to i64")}")} to double");
        var s = f.DDiv(f.DSub(m, D(1)), f.DAdd(m, D(1)));
        var log2 = f.DFma(s, f.DPoly(f.DMul(s, s), Log2Series), ed);
        log2 = f.Let($"select i1 {f.Cmp("oeq", a, F(0))}, double {D(double.NegativeInfinity)}, double {log2}");
        log2 = f.Let($"select i1 {f.IsInf(a)}, double {D(double.PositiveInfinity)}, double {log2}");
        var t = f.DMul(f.Widen(y), log2);
        // Past these, the f32 result is 0 or inf whatever the fraction; the clamp keeps 2^n a normal double.
        t = f.DMin(f.DMax(t, D(-160)), D(130));
        var n = f.DRound(t);
        var frac = f.DSub(t, n);
        var ni = f.Let($"fptosi double {n} to i64");
        var scale = f.Let($"bitcast i64 {f.Let($"shl i64 {f.Let($"add i64 {ni}, 1023")}, 52")} to double");
        var r = f.Narrow(f.DMul(f.DPoly(frac, Exp2Series), scale));

        // y an integer (±inf counts as one here, and is handled below), and odd.
        var yInteger = f.Cmp("oeq", f.RoundEven(y), y);
        var half = f.Mul(y, F(0.5));
        var yOdd = f.Let($"and i1 {yInteger}, {f.Let($"xor i1 {f.Cmp("oeq", f.RoundEven(half), half)}, true")}");
        r = f.Sel(f.Let($"and i1 {yOdd}, {f.SignBit(x)}"), f.Neg(r), r);
        var negativeFinite = f.Let($"and i1 {f.Cmp("olt", x, F(0))}, {f.Cmp("one", a, F(double.PositiveInfinity))}");
        var yFinite = f.Cmp("one", f.Abs(y), F(double.PositiveInfinity));
        r = f.Sel(f.Let($"and i1 {negativeFinite}, {f.Let($"and i1 {yFinite}, {f.Let($"xor i1 {yInteger}, true")}")}"), F(double.NaN), r);
        r = f.Sel(f.Or(f.IsNan(x), f.IsNan(y)), F(double.NaN), r);
        // a = 1 with y = ±inf gives inf·0 above: 1 (also for x = −1), as does any y = ±0 or x = 1.
        r = f.Sel(f.Let($"and i1 {f.Cmp("oeq", a, F(1))}, {f.IsInf(y)}"), F(1), r);
        return f.Sel(f.Or(f.Cmp("oeq", y, F(0)), f.Cmp("oeq", x, F(1))), F(1), r);
    });
}
