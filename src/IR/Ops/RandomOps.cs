using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// <c>rng {distribution = uniform|normal, seed = N, a = 0.0, b = 1.0} : T</c>: a tensor of pseudo-random
/// numbers of the float type T (any shape), a pure function of (distribution, seed, a, b, T). a and b
/// default to 0 and 1. The exact recipe, which backends reproduce bit for bit:
/// <list type="number">
/// <item>Generator: Philox-4x32-10 (Salmon et al., SC'11; Random123's <c>philox4x32</c>, 10 rounds) — see
/// <see cref="Philox4x32"/>. Key (k0, k1) = (low 32 bits, high 32 bits) of the seed as a 64-bit two's complement
/// integer. Element k (the row-major linear index, 0 ≤ k &lt; element count) uses counter
/// (c0, c1, c2, c3) = (low 32 bits of k, high 32 bits of k, 0, 0) and gets output words (r0, r1, r2, r3);
/// elements are independent of each other and of the shape, so they can be generated in any order.</item>
/// <item>Unit uniforms. For f32, f16 and bf16: U(r) = (r &gt;&gt; 8) · 2^-24, a multiple of 2^-24 in [0, 1).
/// For f64: with w = ((ulong)r_hi &lt;&lt; 32) | r_lo, U64(r_hi, r_lo) = (w &gt;&gt; 11) · 2^-53 in [0, 1).
/// These are exact in double.</item>
/// <item><c>uniform</c> (needs finite a &lt; b, b - a finite): u = U(r0) (f64: U64(r0, r1)); x = a + (b - a) · u
/// evaluated in IEEE double (one subtraction, one multiplication, one addition, each rounded to nearest
/// even), then rounded to T to nearest even. Rounding can leave [a, b); then x is replaced by the nearest
/// T value inside it: if x ≥ b, the largest T value &lt; b; if x &lt; a, the smallest T value ≥ a. T must have
/// a value in [a, b).</item>
/// <item><c>normal</c> (mean a, standard deviation b ≥ 0, both finite), Box–Muller, cosine branch only:
/// u1 = 1 - U(r0), in (0, 1], and u2 = U(r1) (f64: u1 = 1 - U64(r0, r1), u2 = U64(r2, r3));
/// z = sqrt(-2 · ln(u1)) · cos(2π · u2) with 2π the double nearest it; x = a + b · z in double, rounded to
/// T to nearest even. ln and cos are the platform's double functions (.NET Math.Log, Math.Cos), which
/// are not correctly rounded: normal values match another libm to within an ulp or so of double,
/// which after rounding to f32 or narrower almost always means exactly.</item>
/// </list>
/// </summary>
public sealed class RngOp() : OpDef("rng")
{
    public override bool TakesResultTypes => true;

    public override ImmutableArray<AttrSpec> Attributes =>
    [
        AttrSpec.Enum("distribution", null, "uniform", "normal"),
        AttrSpec.Int("seed"),
        AttrSpec.Float("a", 0.0),
        AttrSpec.Float("b", 1.0),
    ];

    // Philox-4x32 round multipliers and Weyl key increments (Random123).
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>The raw Philox-4x32-10 bijection of a 128-bit counter under a 64-bit key.</summary>
    public static (uint R0, uint R1, uint R2, uint R3) Philox4x32(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k0 = unchecked(k0 + W0);
                k1 = unchecked(k1 + W1);
            }
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            (c0, c1, c2, c3) = ((uint)(p1 >> 32) ^ c1 ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c3 ^ k1, (uint)p0);
        }
        return (c0, c1, c2, c3);
    }

    private static double Unit24(uint r) => (r >> 8) * (1.0 / (1 << 24));
    private static double Unit53(uint hi, uint lo) => ((((ulong)hi << 32) | lo) >> 11) * (1.0 / (1L << 53));

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var t = sig.DeclaredType();
        if (!t.Element.IsFloat()) throw sig.Error($"result must have a float element type, got {t}");
        double a = sig.Attr.Float("a"), b = sig.Attr.Float("b");
        if (!double.IsFinite(a) || !double.IsFinite(b)) throw sig.Error($"'a' and 'b' must be finite, got {a} and {b}");
        if (sig.Attr.Enum("distribution") == "uniform")
        {
            if (!(a < b)) throw sig.Error($"uniform needs a < b, got a = {a} and b = {b}");
            if (!double.IsFinite(b - a)) throw sig.Error($"uniform range b - a overflows (a = {a}, b = {b})");
            if (!(FloatRounding.SmallestAtLeast(t.Element, a) < b)) throw sig.Error($"no {t.Element.Name()} value lies in [{a}, {b})");
        }
        else if (b < 0) throw sig.Error($"normal needs a standard deviation b >= 0, got {b}");
        return [t];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var t = ctx.ResultType();
        var e = t.Element;
        bool wide = e == ElementType.F64;
        bool uniform = ctx.Attr.Enum("distribution") == "uniform";
        ulong seed = (ulong)ctx.Attr.Int("seed");
        double a = ctx.Attr.Float("a"), b = ctx.Attr.Float("b");
        double lo = uniform ? FloatRounding.SmallestAtLeast(e, a) : 0, hi = uniform ? FloatRounding.LargestBelow(e, b) : 0;
        var o = new TensorBuffer(t);
        for (long k = 0; k < t.ElementCount; k++)
        {
            var (r0, r1, r2, r3) = Philox4x32((uint)k, (uint)((ulong)k >> 32), 0, 0, (uint)seed, (uint)(seed >> 32));
            double x;
            if (uniform)
            {
                double u = wide ? Unit53(r0, r1) : Unit24(r0);
                x = FloatRounding.RoundTo(e, a + (b - a) * u);
                if (x >= b) x = hi;
                else if (x < a) x = lo;
            }
            else
            {
                double u1 = 1 - (wide ? Unit53(r0, r1) : Unit24(r0));
                double u2 = wide ? Unit53(r2, r3) : Unit24(r1);
                double z = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
                x = a + b * z;
            }
            o.SetDouble(k, x);
        }
        return [o.ToTensor()];
    }

}

public static class RandomOps
{
    public static readonly ImmutableArray<OpDef> All = [new RngOp()];
}
