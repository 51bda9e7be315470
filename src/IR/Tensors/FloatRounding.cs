namespace GraphCompiler.IR;

/// <summary>
/// Correctly rounded conversions from double to the narrow float formats. Going double → float → half
/// would round twice; rounding to odd in the float step keeps the final round-to-nearest-even exact
/// (float has more than two bits beyond half's and bfloat16's significands).
/// </summary>
public static class FloatRounding
{
    public static float ToSingleRoundToOdd(double d)
    {
        float f = (float)d;
        if (double.IsNaN(d) || double.IsInfinity(f) || (double)f == d) return f;
        // Truncate toward zero, then set the last bit to record inexactness.
        if (Math.Abs((double)f) > Math.Abs(d)) f = MathF.BitDecrement(Math.Abs(f)) * Math.Sign(f);
        int bits = BitConverter.SingleToInt32Bits(f) | 1;
        return BitConverter.Int32BitsToSingle(bits);
    }

    public static Half ToHalf(double d) => (Half)ToSingleRoundToOdd(d);

    public static ushort ToBFloat16Bits(double d)
    {
        float f = ToSingleRoundToOdd(d);
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40); // quiet NaN
        uint lsb = (bits >> 16) & 1;
        bits += 0x7FFF + lsb; // round to nearest even
        return (ushort)(bits >> 16);
    }

    public static double FromBFloat16Bits(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>Rounds a double to the precision of a float element type (identity for f64).</summary>
    public static double RoundTo(ElementType t, double d) => t switch
    {
        ElementType.F64 => d,
        ElementType.F32 => (float)d,
        ElementType.F16 => (double)ToHalf(d),
        ElementType.BF16 => FromBFloat16Bits(ToBFloat16Bits(d)),
        _ => throw new ArgumentException($"{t} is not a float type"),
    };

    /// <summary>The smallest value of float type <paramref name="e"/> that is ≥ v.</summary>
    public static double SmallestAtLeast(ElementType e, double v)
    {
        double r = RoundTo(e, v);
        return r >= v ? r : Step(e, r, up: true);
    }

    /// <summary>The largest value of float type <paramref name="e"/> that is &lt; v.</summary>
    public static double LargestBelow(ElementType e, double v)
    {
        double r = RoundTo(e, v);
        return r < v ? r : Step(e, r, up: false);
    }

    /// <summary>The neighbouring value of <paramref name="e"/> above or below <paramref name="r"/> (itself a value of e).</summary>
    public static double Step(ElementType e, double r, bool up) => e switch
    {
        ElementType.F64 => up ? Math.BitIncrement(r) : Math.BitDecrement(r),
        ElementType.F32 => up ? MathF.BitIncrement((float)r) : MathF.BitDecrement((float)r),
        ElementType.F16 => (double)(up ? Half.BitIncrement((Half)r) : Half.BitDecrement((Half)r)),
        _ => BFloat16Step(r, up),
    };

    private static double BFloat16Step(double r, bool up)
    {
        // bfloat16 is the top half of a float, so stepping the float by 2^16 units in the last place steps the bfloat16.
        float f = (float)r;
        if (f == 0) return up ? FromBFloat16Bits(1) : -FromBFloat16Bits(1);
        int bits = BitConverter.SingleToInt32Bits(f);
        bits += (f > 0) == up ? 0x10000 : -0x10000;
        return BitConverter.Int32BitsToSingle(bits);
    }
}
