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
}
