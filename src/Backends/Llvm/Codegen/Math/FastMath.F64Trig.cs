namespace GraphCompiler.Backends.Llvm.Codegen;

// sin, cos and tan in f64 for the GPU, which has no libm (the CPU keeps libm's): every finite x is reduced exactly
// (Payne–Hanek against 1280 bits of 2/π in 64-bit limbs, as CUDA's own slow path and fdlibm's __kernel_rem_pio2 do),
// so the reduced argument keeps its relative precision however close x is to a multiple of π/2, and it comes out as a
// double-double; Taylor polynomials carried below 0.05 ulp then take its tail into account, as fdlibm's kernels do.
internal static partial class FastMath
{
    /// <summary>2/π = Σ TwoOverPiWords[j]·2^{−64(j+1)} (mpmath); with a zero word in front, an x below 2^1024 reads words j0 … j0 + 3 with j0 ≤ 16.</summary>
    private static readonly ulong[] TwoOverPiWords =
    [
        0xA2F9836E4E441529, 0xFC2757D1F534DDC0, 0xDB6295993C439041, 0xFE5163ABDEBBC561, 0xB7246E3A424DD2E0,
        0x06492EEA09D1921C, 0xFE1DEB1CB129A73E, 0xE88235F52EBB4484, 0xE99C7026B45F7E41, 0x3991D639835339F4,
        0x9C845F8BBDF9283B, 0x1FF897FFDE05980F, 0xEF2F118B5A0A6D1F, 0x6D367ECF27CB09B7, 0x4F463F669E5FEA2D,
        0x7527BAC7EBE5F17B, 0x3D0739F78A5292EA, 0x6BFB5FB11F8D5D08, 0x56033046FC7B6BAB, 0xF0CFBC209AF4361D,
    ];

    /// <summary>π/2 as a double-double: the double nearest it and the rest.</summary>
    private const double HalfPiHi = 1.5707963267948966, HalfPiLo = 6.123233995736766e-17;

    /// <summary>sin r = r + r³·Σ (−1)^{k+1} r^{2k}/(2k+3)!, k = 0..8: for |r| ≤ π/4 the first term left out, r²¹/21!, is 1e-22 of sin r.</summary>
    private static readonly double[] SinTail = [.. Enumerable.Range(0, 9).Reverse().Select(k => (k % 2 == 0 ? -1 : 1) / Factorial(2 * k + 3))];

    /// <summary>cos r = 1 − r²/2 + r⁴·Σ (−1)^k r^{2k}/(2k+4)!, k = 0..8: the first term left out, r²²/22!, is 1e-23.</summary>
    private static readonly double[] CosTail = [.. Enumerable.Range(0, 9).Reverse().Select(k => (k % 2 == 0 ? 1 : -1) / Factorial(2 * k + 4))];

    /// <summary><c>sin(x)</c> in f64 (within 1 ulp over the whole domain).</summary>
    public static string SinF64(ModuleContext module) => MathFunction.Define(module, "gc.sin.f64", 1, (f, p) => TrigF64(module, f, p[0], TrigKind.Sin), "double");

    /// <summary><c>cos(x)</c> in f64 (within 1 ulp).</summary>
    public static string CosF64(ModuleContext module) => MathFunction.Define(module, "gc.cos.f64", 1, (f, p) => TrigF64(module, f, p[0], TrigKind.Cos), "double");

    /// <summary><c>tan(x)</c> in f64 (within 2 ulp): the quotient of the two.</summary>
    public static string TanF64(ModuleContext module) => MathFunction.Define(module, "gc.tan.f64", 1, (f, p) => TrigF64(module, f, p[0], TrigKind.Tan), "double");

    private enum TrigKind { Sin, Cos, Tan }

    private static string TrigF64(ModuleContext module, MathFunction f, string x, TrigKind kind)
    {
        var ax = f.Let($"call double @llvm.fabs.f64(double {x})");
        module.Declare("declare double @llvm.fabs.f64(double)");
        var notFinite = f.Let($"fcmp ueq double {ax}, {D(double.PositiveInfinity)}");
        // |x| ≤ π/4 needs no reduction; the reduction below runs on a stand-in for those, and for inf and NaN.
        var small = f.Let($"fcmp ole double {ax}, {D(Math.PI / 4)}");
        var (rh, rl, q) = ReduceF64(module, f, f.Let($"select i1 {f.Let($"or i1 {small}, {notFinite}")}, double 1.0, double {x}"));
        rh = f.Let($"select i1 {small}, double {x}, double {rh}");
        rl = f.Let($"select i1 {small}, double 0.0, double {rl}");
        q = f.Let($"select i1 {small}, i32 0, i32 {q}");

        // sin(rh + rl) = sin rh + rl·cos rh, cos(rh + rl) = cos rh − rl·sin rh, to the first order of rl (≤ 2^-53·rh).
        var z = f.DMul(rh, rh);
        var zLow = f.DFma(rh, rh, f.Let($"fneg double {z}")); // z's rounding error, exact
        var half = f.DMul(z, D(0.5));
        var s = f.DAdd(rh, f.DAdd(f.DMul(f.DMul(rh, z), f.DPoly(z, SinTail)), f.DMul(rl, f.DSub(D(1), half))));
        // 1 − z/2 rounded (w), its rounding error recovered exactly ((1 − w) − z/2), then the small terms.
        var w = f.DSub(D(1), half);
        var small2 = f.DSub(f.DSub(f.DMul(f.DMul(z, z), f.DPoly(z, CosTail)), f.DMul(rh, rl)), f.DMul(zLow, D(0.5)));
        var c = f.DAdd(w, f.DAdd(f.DSub(f.DSub(D(1), w), half), small2));

        string result;
        if (kind == TrigKind.Tan)
        {
            // tan = s/c in even quadrants, −c/s in odd ones.
            var odd = f.Let($"icmp ne i32 {f.Let($"and i32 {q}, 1")}, 0");
            result = f.Let($"select i1 {odd}, double {f.Let($"fneg double {f.DDiv(c, s)}")}, double {f.DDiv(s, c)}");
        }
        else
        {
            // cos(x) = sin(x + π/2): one quadrant on; quadrants 1 and 3 take the other function, 2 and 3 negate.
            var quadrant = kind == TrigKind.Cos ? f.Let($"add i32 {q}, 1") : q;
            var v = f.Let($"select i1 {f.Let($"icmp ne i32 {f.Let($"and i32 {quadrant}, 1")}, 0")}, double {c}, double {s}");
            result = f.Let($"select i1 {f.Let($"icmp ne i32 {f.Let($"and i32 {quadrant}, 2")}, 0")}, double {f.Let($"fneg double {v}")}, double {v}");
        }
        if (kind != TrigKind.Cos) result = f.Let($"select i1 {f.Let($"fcmp oeq double {x}, 0.0")}, double {x}, double {result}"); // ±0
        return f.Let($"select i1 {notFinite}, double {D(double.NaN)}, double {result}");
    }

    /// <summary>
    /// Payne–Hanek for a finite f64 with |x| &gt; π/4, in 64-bit limbs: |x| = M·2^E (M &lt; 2^53), so x·2/π mod 4 needs only
    /// the words of 2/π from the first whose term M·word·2^{E−64(j+1)} is not a multiple of 4, and four of them leave an
    /// error below 2^-138. With a zero word in front of the table (so that small x read it too) that is word
    /// j0 = ⌊(E + 62)/64⌋ of the padded table and the product's scale is s = E − 64·j0 in [−62, 1]: the four products
    /// M·word (64×64 → 128 bits) summed into limbs p0..p3, shifted left by s + 62 bits (a funnel shift per limb), put the
    /// quadrant in the top two bits of the top limb and the fraction in the 254 below (multiples of 4 fall off the top).
    /// The fraction, rounded to the nearer quadrant so that it lies in [−½, ½) and folded to its magnitude, is normalised
    /// (at most 63 leading zeros: no double is closer to a multiple of π/2 than 2^-62 of a quarter turn) and its leading 53
    /// bits and the next 64 give r/(π/2) as a double-double, times π/2 as a double-double. Returns (r_hi, r_lo, quadrant)
    /// with x's sign applied.
    /// </summary>
    private static (string Hi, string Lo, string Quadrant) ReduceF64(ModuleContext module, MathFunction f, string x)
    {
        const string table = "@gc.two_over_pi";
        int words = TwoOverPiWords.Length + 1;
        if (module.FirstHelper(table))
            module.Global($"{table} = internal constant [{words} x i64] [i64 0, {string.Join(", ", TwoOverPiWords.Select(w => $"i64 {unchecked((long)w)}"))}], align 8");
        module.Declare("declare i64 @llvm.fshl.i64(i64, i64, i64)");
        module.Declare("declare i64 @llvm.ctlz.i64(i64, i1)");
        string Fshl(string hi, string lo, string by) => f.Let($"call i64 @llvm.fshl.i64(i64 {hi}, i64 {lo}, i64 {by})");
        string I(string instruction) => f.Let(instruction);

        var bits = I($"and i64 {I($"bitcast double {x} to i64")}, {long.MaxValue}");
        var e62 = I($"sub i64 {I($"lshr i64 {bits}, 52")}, {1075 - 62}"); // E + 62 ≥ 9 for |x| > π/4
        var mantissa = I($"or i64 {I($"and i64 {bits}, 4503599627370495")}, 4503599627370496"); // 2^52 − 1, 2^52
        var j0 = I($"lshr i64 {e62}, 6");
        var shift = I($"and i64 {e62}, 63"); // s + 62

        // M × words j0..j0+3 (most significant first) as 128-bit products; limb k of their sum, from the least significant.
        var m = I($"zext i64 {mantissa} to i128");
        var (lo, hi) = (new string[4], new string[4]);
        for (int i = 0; i < 4; i++)
        {
            var at = I($"getelementptr inbounds [{words} x i64], ptr {table}, i64 0, i64 {I($"add i64 {j0}, {i}")}");
            var product = I($"mul i128 {m}, {I($"zext i64 {I($"load i64, ptr {at}")} to i128")}");
            lo[i] = I($"trunc i128 {product} to i64");
            hi[i] = I($"trunc i128 {I($"lshr i128 {product}, 64")} to i64");
        }
        var limbs = new string[4];
        limbs[0] = lo[3];
        var carry = I($"zext i64 {hi[3]} to i128");
        for (int k = 1; k < 4; k++)
        {
            // Limb k = hi of product 4−k + lo of product 3−k + the carry (the top limb, hi of product 0, falls off).
            var sum = I($"add i128 {carry}, {I($"zext i64 {lo[3 - k]} to i128")}");
            limbs[k] = I($"trunc i128 {sum} to i64");
            if (k < 3) carry = I($"add i128 {I($"lshr i128 {sum}, 64")}, {I($"zext i64 {hi[3 - k]} to i128")}");
        }
        // Shifted by s + 62: the quadrant is the top limb's top two bits; the fraction the 254 bits below them, as 4 limbs.
        var w = new string[4];
        for (int k = 3; k >= 0; k--) w[k] = k == 0 ? I($"shl i64 {limbs[0]}, {shift}") : Fshl(limbs[k], limbs[k - 1], shift);
        var quadrant = I($"trunc i64 {I($"lshr i64 {w[3]}, 62")} to i32");
        var fraction = new string[4];
        for (int k = 3; k >= 0; k--) fraction[k] = k == 0 ? I($"shl i64 {w[0]}, 2") : Fshl(w[k], w[k - 1], "2");
        // A fraction of ½ or more rounds the quadrant up and is taken as negative; its magnitude is its complement (2^-256 off).
        var negative = I($"icmp slt i64 {fraction[3]}, 0");
        quadrant = I($"and i32 {I($"add i32 {quadrant}, {I($"zext i1 {negative} to i32")}")}, 3");
        var flipBits = I($"sext i1 {negative} to i64");
        var mag = fraction.Select(l => I($"xor i64 {l}, {flipBits}")).ToArray();
        // Normalised: the leading 128 bits after at most 127 leading zeros.
        var topZero = I($"icmp eq i64 {mag[3]}, 0");
        var zeros = I($"select i1 {topZero}, i64 {I($"add i64 {I($"call i64 @llvm.ctlz.i64(i64 {mag[2]}, i1 false)")}, 64")}, i64 {I($"call i64 @llvm.ctlz.i64(i64 {mag[3]}, i1 false)")}");
        var (a, b, c) = (I($"select i1 {topZero}, i64 {mag[2]}, i64 {mag[3]}"), I($"select i1 {topZero}, i64 {mag[1]}, i64 {mag[2]}"), I($"select i1 {topZero}, i64 {mag[0]}, i64 {mag[1]}"));
        var within = I($"and i64 {zeros}, 63");
        var top = Fshl(a, b, within);
        var next = Fshl(b, c, within);
        var lead = I($"uitofp i64 {I($"lshr i64 {top}, 11")} to double"); // 53 bits: exact
        var follow = I($"uitofp i64 {Fshl(top, next, "53")} to double");
        // The fraction (of 2^256) is lead·2^{−53−zeros} + follow·2^{−117−zeros}: both scales normal doubles.
        string Pow2(string k) => I($"bitcast i64 {I($"shl i64 {I($"add i64 {k}, 1023")}, 52")} to double");
        var fHi = f.DMul(lead, Pow2(I($"sub i64 -53, {zeros}")));
        var fLo = f.DMul(follow, Pow2(I($"sub i64 -117, {zeros}")));
        // r = (fHi + fLo)·(π/2 hi + π/2 lo), to about 2^-106 relative.
        var rHi = f.DMul(fHi, D(HalfPiHi));
        var rLo = f.DAdd(f.DFma(fHi, D(HalfPiHi), I($"fneg double {rHi}")), f.DFma(fHi, D(HalfPiLo), f.DMul(fLo, D(HalfPiHi))));
        var rh = f.DAdd(rHi, rLo);
        var rl = f.DSub(rLo, f.DSub(rh, rHi));
        // The fraction's sign, then x's (sin and tan are odd, cos even: the quadrant of −x is −q mod 4).
        var xNegative = I($"fcmp olt double {x}, 0.0");
        var flip = I($"xor i1 {negative}, {xNegative}");
        rh = I($"select i1 {flip}, double {I($"fneg double {rh}")}, double {rh}");
        rl = I($"select i1 {flip}, double {I($"fneg double {rl}")}, double {rl}");
        return (rh, rl, I($"select i1 {xNegative}, i32 {I($"and i32 {I($"sub i32 4, {quadrant}")}, 3")}, i32 {quadrant}"));
    }
}
