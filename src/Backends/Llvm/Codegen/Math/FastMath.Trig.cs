namespace GraphCompiler.Backends.Llvm.Codegen;

// Trigonometric functions and their inverses (Cephes single-precision polynomials).
internal static partial class FastMath
{
    private const double HalfPi = 1.5707963267948966, Pi = 3.1415926535897932, QuarterPi = 0.7853981633974483;

    private static readonly double[] SinPoly = [-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1];
    private static readonly double[] CosPoly = [2.443315711809948E-005, -1.388731625493765E-003, 4.166664568298827E-002];
    private static readonly double[] TanPoly = [9.38540185543E-3, 3.11992232697E-3, 2.44301354525E-2, 5.34112807005E-2, 1.33387994085E-1, 3.33331568548E-1];
    private static readonly double[] AtanPoly = [8.05374449538e-2, -1.38776856032E-1, 1.99777106478E-1, -3.33329491539E-1];
    private static readonly double[] AsinPoly = [4.2163199048E-2, 2.4181311049E-2, 4.5470025998E-2, 7.4953002686E-2, 1.6666752422E-1];

    /// <summary>2/π in 24-bit chunks: 2/π = Σ TwoOverPiChunks[j]·2^{−24(j+1)} (mpmath, 240 bits; eight are read).</summary>
    private static readonly int[] TwoOverPiChunks = [10680707, 7228996, 1387004, 2578385, 16069853, 12639074, 9804092, 4427841, 16666979, 11263675];

    /// <summary>
    /// x = k·π/2 + r with |r| ≤ π/4, and k mod 4: Payne–Hanek (<see cref="ReducePayneHanek"/>) for every
    /// finite x, exact whatever its size. NaN and ±inf reduce a stand-in 0; the caller returns NaN for them.
    /// </summary>
    private static (string R, string Quadrant) Reduce(MathFunction f, string x)
    {
        var (r, quadrant) = ReducePayneHanek(f, f.Sel(NotFinite(f, x), F(0), x));
        return (f.Narrow(r), quadrant);
    }

    private static string NotFinite(MathFunction f, string x) => f.Cmp("ueq", f.Abs(x), F(double.PositiveInfinity));

    private static string Mod4(MathFunction f, string v) => f.DSub(v, f.DMul(f.DFloor(f.DMul(v, D(0.25))), D(4)));

    /// <summary>
    /// Payne–Hanek for f32: |x| = M·2^{e−150} with M an integer below 2^24, so x·2/π mod 4 needs only the
    /// chunks of 2/π from j0, the first whose term is not a multiple of 4; four chunks (picked by selects,
    /// not loads, so the code stays vectorisable), each product M·chunk exact in double, the two big terms
    /// taken mod 4 exactly, then summed smallest-error-first, so r keeps its relative precision however close
    /// x is to a multiple of π/2. In double on 8 lanes it is most of sin's cost; Cody–Waite for small |x|
    /// beside it cost more still (a vector loop computes both sides of a select), so there is one reduction.
    /// </summary>
    private static (string R, string Quadrant) ReducePayneHanek(MathFunction f, string x)
    {
        var u = f.Bits(f.Abs(x));
        var biased = f.Int("lshr", u, "23");
        var normal = f.Let($"icmp ne i32 {biased}, 0");
        var e = f.IntSel(normal, biased, "1"); // a subnormal is M·2^{1−150} with no implicit bit
        var mantissa = f.Let($"sitofp i32 {f.Int("or", f.Int("and", u, "8388607"), f.IntSel(normal, "8388608", "0"))} to double");
        // Chunk j's term is M·chunk·2^{e−174−24j}: a multiple of 4 while e − 174 − 24j ≥ 2.
        var beyond = f.Let($"icmp uge i32 {e}, 176");
        var j0 = f.IntSel(beyond, f.Int("add", f.Int("udiv", f.IntSel(beyond, f.Int("sub", e, "176"), "0"), "24"), "1"), "0");
        var s0 = f.Int("sub", f.Int("sub", e, "174"), f.Int("mul", j0, "24"));
        var scale = f.Let($"bitcast i64 {f.Let($"shl i64 {f.Let($"sext i32 {f.Int("add", s0, "1023")} to i64")}, 52")} to double");
        var scaled = f.DMul(mantissa, scale); // exact: a power of two
        var terms = new string[4];
        for (int i = 0; i < 4; i++)
        {
            // Chunk j0 + i with its 2^{−24i} folded in, chosen among five constants.
            string Chunk(int j) => D(Math.ScaleB(TwoOverPiChunks[j + i], -24 * i));
            var chunk = Chunk(0);
            for (int j = 1; j <= 4; j++)
                chunk = f.Let($"select i1 {f.Let($"icmp eq i32 {j0}, {j}")}, double {Chunk(j)}, double {chunk}");
            terms[i] = f.DMul(scaled, chunk);
        }
        var sum = f.DAdd(Mod4(f, terms[0]), Mod4(f, terms[1])); // exact: 49 bits at most
        var k = f.DRound(f.DAdd(sum, terms[2]));
        var fraction = f.DAdd(f.DAdd(f.DSub(sum, k), terms[2]), terms[3]);
        var r = f.DMul(fraction, D(HalfPi));
        var q = f.DToInt(Mod4(f, k));
        var negative = f.Cmp("olt", x, F(0));
        return (f.Let($"select i1 {negative}, double {f.Let($"fneg double {r}")}, double {r}"), f.IntSel(negative, f.Int("and", f.Int("sub", "4", q), "3"), q));
    }

    private static string D(double v) => MathFunction.D(v);

    private static string SinOf(MathFunction f, string r, string z) => f.Fma(f.Mul(f.Poly(z, SinPoly), z), r, r);
    private static string CosOf(MathFunction f, string z) => f.Add(f.Fma(z, F(-0.5), F(1)), f.Mul(f.Mul(f.Poly(z, CosPoly), z), z));

    /// <summary><c>sin(x)</c> (max 1.6 ulp): the sine or cosine polynomial of r by quadrant.</summary>
    public static string Sin(ModuleContext module) => MathFunction.Define(module, "gc.sinf", 1, (f, p) => SinCos(f, p[0], cosine: false));

    /// <summary><c>cos(x)</c> (max 1.6 ulp).</summary>
    public static string Cos(ModuleContext module) => MathFunction.Define(module, "gc.cosf", 1, (f, p) => SinCos(f, p[0], cosine: true));

    private static string SinCos(MathFunction f, string x, bool cosine)
    {
        var (r, q) = Reduce(f, x);
        var z = f.Mul(r, r);
        var s = SinOf(f, r, z);
        var c = CosOf(f, z);
        // cos(x) = sin(x + π/2): one quadrant on.
        var quadrant = cosine ? f.Int("add", q, "1") : q;
        var odd = f.Int("and", quadrant, "1");
        var v = f.Sel(f.Int2Bool(odd), c, s);
        var negate = f.Int2Bool(f.Int("and", quadrant, "2"));
        v = f.Sel(negate, f.Neg(v), v);
        if (!cosine) v = f.Sel(f.Cmp("oeq", x, F(0)), x, v); // ±0 (the double reduction returns +0 for −0)
        return f.Sel(NotFinite(f, x), F(double.NaN), v);
    }

    /// <summary><c>tan(x)</c> (max 2.6 ulp): Cephes' polynomial on r, −1/tan(r) in odd quadrants.</summary>
    public static string Tan(ModuleContext module) => MathFunction.Define(module, "gc.tanf", 1, (f, p) =>
    {
        var x = p[0];
        var (r, q) = Reduce(f, x);
        var z = f.Mul(r, r);
        var t = f.Fma(f.Mul(f.Poly(z, TanPoly), z), r, r);
        var v = f.Sel(f.Int2Bool(f.Int("and", q, "1")), f.Div(F(-1), t), t);
        v = f.Sel(f.Cmp("oeq", x, F(0)), x, v);
        return f.Sel(NotFinite(f, x), F(double.NaN), v);
    });

    /// <summary>atan(a) for a ≥ 0 (or NaN): Cephes' reduction to |x| ≤ tan(π/8) by π/2 − atan(1/a) or π/4 + atan((a−1)/(a+1)).</summary>
    private static string AtanOfMagnitude(MathFunction f, string a)
    {
        var big = f.Cmp("ogt", a, F(2.414213562373095));
        var mid = f.Cmp("ogt", a, F(0.4142135623730950));
        var xr = f.Sel(big, f.Div(F(-1), a), f.Sel(mid, f.Div(f.Sub(a, F(1)), f.Add(a, F(1))), a));
        var y0 = f.Sel(big, F(HalfPi), f.Sel(mid, F(QuarterPi), F(0)));
        var z = f.Mul(xr, xr);
        return f.Add(y0, f.Fma(f.Mul(f.Poly(z, AtanPoly), z), xr, xr));
    }

    /// <summary><c>atan(x)</c> (max 2.8 ulp).</summary>
    public static string Atan(ModuleContext module) => MathFunction.Define(module, "gc.atanf", 1, (f, p) =>
    {
        var x = p[0];
        return f.Sel(f.IsNan(x), x, f.CopySign(AtanOfMagnitude(f, f.Abs(x)), x));
    });

    /// <summary>
    /// <c>atan2(y, x)</c> (max 3.5 ulp: atan's 2.8 and the quotient's rounding): atan of min/max of the magnitudes, then π/2 − · when |y| &gt; |x|,
    /// π − · when x is negative (−0 included), y's sign. Both zero gives ±0 or ±π, both infinite ±π/4 or ±3π/4, as C.
    /// </summary>
    public static string Atan2(ModuleContext module) => MathFunction.Define(module, "gc.atan2f", 2, (f, p) =>
    {
        var (y, x) = (p[0], p[1]);
        var ax = f.Abs(x);
        var ay = f.Abs(y);
        var xBigger = f.Cmp("ogt", ax, ay);
        var t = f.Div(f.Sel(xBigger, ay, ax), f.Sel(xBigger, ax, ay));
        t = f.Sel(f.Cmp("oeq", ax, ay), F(1), t);                       // both infinite (and equal finite magnitudes: exact)
        t = f.Sel(f.Cmp("oeq", f.Sel(xBigger, ax, ay), F(0)), F(0), t); // both zero
        var a = AtanOfMagnitude(f, t);
        a = f.Sel(f.Cmp("ogt", ay, ax), f.Sub(F(HalfPi), a), a);
        a = f.Sel(f.SignBit(x), f.Sub(F(Pi), a), a);
        var r = f.CopySign(a, y);
        return f.Sel(f.Or(f.IsNan(x), f.IsNan(y)), f.Add(x, y), r);
    });

    /// <summary><c>asin(x)</c> (max 2.3 ulp): Cephes' polynomial on x², or on ½(1 − |x|) as π/2 − 2·asin(√·) above ½; NaN past ±1.</summary>
    public static string Asin(ModuleContext module) => MathFunction.Define(module, "gc.asinf", 1, (f, p) =>
    {
        var x = p[0];
        var a = f.Abs(x);
        var (high, s) = AsinReduced(f, a, a);
        var r = f.CopySign(f.Sel(high, f.Sub(F(HalfPi), f.Add(s, s)), s), x);
        r = f.Sel(f.Cmp("ogt", a, F(1)), F(double.NaN), r);
        return f.Sel(f.IsNan(x), x, r);
    });

    /// <summary>
    /// Cephes' asin polynomial on the reduced argument: whether |x| &gt; ½, and asin(√(½(1 − |x|))) if so, else
    /// asin(<paramref name="low"/>) (|x| for asin, x itself for acos).
    /// </summary>
    private static (string High, string S) AsinReduced(MathFunction f, string a, string low)
    {
        var high = f.Cmp("ogt", a, F(0.5));
        var z = f.Sel(high, f.Mul(F(0.5), f.Sub(F(1), a)), f.Mul(a, a));
        var xr = f.Sel(high, f.Sqrt(z), low);
        return (high, f.Fma(f.Mul(f.Poly(z, AsinPoly), z), xr, xr));
    }

    /// <summary><c>acos(x)</c> (max 1.3 ulp): π/2 − asin(x) near 0, 2·asin(√(½(1 − |x|))) above ½ (π − that for negative x).</summary>
    public static string Acos(ModuleContext module) => MathFunction.Define(module, "gc.acosf", 1, (f, p) =>
    {
        var x = p[0];
        var a = f.Abs(x);
        var (high, s) = AsinReduced(f, a, x);
        var twice = f.Add(s, s);
        var far = f.Sel(f.Cmp("olt", x, F(0)), f.Sub(F(Pi), twice), twice);
        var r = f.Sel(high, far, f.Sub(F(HalfPi), s));
        r = f.Sel(f.Cmp("ogt", a, F(1)), F(double.NaN), r);
        return f.Sel(f.IsNan(x), x, r);
    });
}
