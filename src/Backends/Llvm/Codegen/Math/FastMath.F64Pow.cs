namespace GraphCompiler.Backends.Llvm.Codegen;

// pow in f64 for the GPU (the CPU keeps libm's). e^{y·log|x|} magnifies log's error by |y·log|x|| (up to 745 before the
// result over- or underflows), so log|x| is carried as a double-double to about 2^-70 and the product y·log|x| is
// formed exactly; e^{hi + lo} then takes lo into its reduced argument.
internal static partial class FastMath
{
    /// <summary>2/3 as a double-double: the s³ term of 2·atanh(s) is formed in double-double.</summary>
    private const double TwoThirdsHi = 2.0 / 3, TwoThirdsLo = 3.700743415417188e-17;

    /// <summary>2·atanh(s) − 2s − (2/3)s³ = s⁵·Σ 2z^j/(2j + 5), j = 0..11, z = s² ≤ 0.0295: the first term left out is 8e-23.</summary>
    private static readonly double[] LogPowTail = [.. Enumerable.Range(0, 12).Reverse().Select(j => 2.0 / (2 * j + 5))];

    /// <summary>a + b exactly as (sum, error) (Knuth's TwoSum: no assumption on which is larger).</summary>
    private static (string Hi, string Lo) TwoSum(MathFunction f, string a, string b)
    {
        var s = f.DAdd(a, b);
        var bb = f.DSub(s, a);
        return (s, f.DAdd(f.DSub(a, f.DSub(s, bb)), f.DSub(b, bb)));
    }

    /// <summary>a·b's rounding error, exact by FMA.</summary>
    private static string ProductError(MathFunction f, string a, string b, string product) => f.DFma(a, b, f.Let($"fneg double {product}"));

    /// <summary>
    /// log(a) for a finite positive a as a double-double (hi, lo), to about 2^-70 absolute: a = 2^k·m (<see cref="LogReduce"/>),
    /// log m = 2·atanh(s) with s = f/(2 + f) as a double-double; 2s and (2/3)s³ in double-double, the rest (at most 6e-5)
    /// in double; k·ln2 in two parts (the high one exact for |k| &lt; 2^32). The terms are summed from the largest by TwoSum,
    /// so no rounding but the last is larger than 2^-70.
    /// </summary>
    private static (string Hi, string Lo) LogParts(MathFunction f, string a)
    {
        var (k, fm) = LogReduce(f, a);
        // s = fm/(2 + fm): 2 + fm exactly as th + tl (|fm| < ½), then one correction of the quotient.
        var th = f.DAdd(D(2), fm);
        var tl = f.DSub(fm, f.DSub(th, D(2)));
        var sh = f.DDiv(fm, th);
        var negSh = f.Let($"fneg double {sh}");
        var sl = f.DDiv(f.DFma(negSh, tl, f.DFma(negSh, th, fm)), th);
        // s² = zh + zl and s³ = ch + cl, each dropping only products below 2^-106 of it.
        var zh = f.DMul(sh, sh);
        var zl = f.DFma(f.DMul(D(2), sh), sl, ProductError(f, sh, sh, zh));
        var ch = f.DMul(zh, sh);
        var cl = f.DAdd(ProductError(f, zh, sh, ch), f.DFma(zh, sl, f.DMul(zl, sh)));
        var qh = f.DMul(ch, D(TwoThirdsHi));
        var ql = f.DAdd(ProductError(f, ch, D(TwoThirdsHi), qh), f.DFma(ch, D(TwoThirdsLo), f.DMul(cl, D(TwoThirdsHi))));
        var rest = f.DMul(f.DMul(ch, zh), f.DPoly(zh, LogPowTail));
        var (h1, e1) = TwoSum(f, f.DMul(k, D(Ln2HiF64)), f.DMul(D(2), sh));
        var (h2, e2) = TwoSum(f, h1, qh);
        var small = f.DAdd(f.DAdd(e1, e2), f.DAdd(f.DAdd(ql, f.DMul(D(2), sl)), f.DFma(k, D(Ln2LoF64), rest)));
        return TwoSum(f, h2, small);
    }

    /// <summary>
    /// <c>pow(x, y)</c> in f64 (within an ulp of glibc's, which is correctly rounded in all but rare cases): y·log|x| as a
    /// double-double (log|x| by <see cref="LogParts"/>, the product's error by FMA), e to it by exp's reduction with the low
    /// part added to the reduced argument (<see cref="ExpOf"/>), so over- and underflow (subnormals rounded once) come
    /// out as exp's. The sign and C99 Annex F's special cases as selects, as in the f32 <see cref="Pow"/>: pow(x, ±0) =
    /// pow(1, y) = 1, NaN for a finite negative base with a finite non-integer exponent, odd integer exponents keep the
    /// base's sign (−0 and −inf included), pow(−1, ±inf) = 1.
    /// </summary>
    public static string PowF64(ModuleContext module) => MathFunction.Define(module, "gc.pow.f64", 2, (f, p) =>
    {
        var (x, y) = (p[0], p[1]);
        string Cmp(string predicate, string l, string r) => f.Let($"fcmp {predicate} double {l}, {r}");
        string And(string l, string r) => f.Let($"and i1 {l}, {r}");
        string Not(string c) => f.Let($"xor i1 {c}, true");
        var a = Abs(module, f, x);
        var (lh, ll) = LogParts(f, a);
        // log 0 = −inf, log inf = inf, with no low part: the products below are then ±inf or NaN, cleared by the selects.
        var zero = Cmp("oeq", a, "0.0");
        var infinite = Cmp("oeq", a, D(double.PositiveInfinity));
        lh = Select(f, zero, D(double.NegativeInfinity), Select(f, infinite, D(double.PositiveInfinity), lh));
        var ph = f.DMul(y, lh);
        var pl = f.DFma(y, ll, ProductError(f, y, lh, ph));
        // Outside exp's range its argument is clamped and the result is 0 or inf whatever the low part (or NaN) was.
        var inRange = And(Cmp("ogt", ph, D(-746)), Cmp("olt", ph, D(710)));
        var r = ExpOf(f, ph, Select(f, inRange, pl, "0.0"));

        module.Declare("declare double @llvm.roundeven.f64(double)");
        string IsInteger(string v) => Cmp("oeq", f.Let($"call double @llvm.roundeven.f64(double {v})"), v);
        var yInteger = IsInteger(y); // ±inf counts as one here, and is handled below
        var yOdd = And(yInteger, Not(IsInteger(f.DMul(y, D(0.5)))));
        var xNegative = f.Let($"icmp slt i64 {f.Let($"bitcast double {x} to i64")}, 0");
        r = Select(f, And(yOdd, xNegative), f.Let($"fneg double {r}"), r);
        var negativeFinite = And(Cmp("olt", x, "0.0"), Not(infinite));
        var absY = Abs(module, f, y);
        var yFinite = Cmp("one", absY, D(double.PositiveInfinity));
        r = Select(f, And(negativeFinite, And(yFinite, Not(yInteger))), D(double.NaN), r);
        r = Select(f, f.Let($"or i1 {Cmp("uno", x, "0.0")}, {Cmp("uno", y, "0.0")}"), D(double.NaN), r);
        // |x| = 1 with y = ±inf gives inf·0 above: 1 (also for x = −1), as does any y = ±0 or x = 1.
        r = Select(f, And(Cmp("oeq", a, D(1)), Cmp("oeq", absY, D(double.PositiveInfinity))), D(1), r);
        return Select(f, f.Let($"or i1 {Cmp("oeq", y, "0.0")}, {Cmp("oeq", x, D(1))}"), D(1), r);
    }, "double");
}
