namespace GraphCompiler.IR;

/// <summary>Element types of tensors. The order is part of the npy/ABI mapping tables, not of the text format.</summary>
public enum ElementType
{
    F16, BF16, F32, F64,
    I8, I16, I32, I64,
    U8, U16, U32, U64,
    Bool,
}

public static class ElementTypes
{
    public static int ByteSize(this ElementType t) => t switch
    {
        ElementType.F16 or ElementType.BF16 or ElementType.I16 or ElementType.U16 => 2,
        ElementType.F32 or ElementType.I32 or ElementType.U32 => 4,
        ElementType.F64 or ElementType.I64 or ElementType.U64 => 8,
        _ => 1,
    };

    public static bool IsFloat(this ElementType t) => t <= ElementType.F64;
    public static bool IsSignedInteger(this ElementType t) => t is >= ElementType.I8 and <= ElementType.I64;
    public static bool IsUnsignedInteger(this ElementType t) => t is >= ElementType.U8 and <= ElementType.U64;
    public static bool IsInteger(this ElementType t) => t.IsSignedInteger() || t.IsUnsignedInteger();
    public static bool IsBool(this ElementType t) => t == ElementType.Bool;

    /// <summary>Width in bits of an integer type (bool counts as 1).</summary>
    public static int BitWidth(this ElementType t) => t == ElementType.Bool ? 1 : t.ByteSize() * 8;

    public static string Name(this ElementType t) => t switch
    {
        ElementType.F16 => "f16",
        ElementType.BF16 => "bf16",
        ElementType.F32 => "f32",
        ElementType.F64 => "f64",
        ElementType.I8 => "i8",
        ElementType.I16 => "i16",
        ElementType.I32 => "i32",
        ElementType.I64 => "i64",
        ElementType.U8 => "u8",
        ElementType.U16 => "u16",
        ElementType.U32 => "u32",
        ElementType.U64 => "u64",
        ElementType.Bool => "bool",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    public static bool TryParse(string name, out ElementType type)
    {
        foreach (var t in Enum.GetValues<ElementType>())
        {
            if (t.Name() == name)
            {
                type = t;
                return true;
            }
        }
        type = default;
        return false;
    }
}
