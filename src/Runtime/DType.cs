namespace GraphCompiler.Runtime;

/// <summary>
/// Element types as the compiled ABI sees them (the order matches the IR's <c>ElementType</c>).
/// <c>F16</c>/<c>BF16</c> travel as 16-bit patterns, <c>Bool</c> as one byte 0/1; everything is little-endian.
/// </summary>
public enum DType
{
    F16, BF16, F32, F64,
    I8, I16, I32, I64,
    U8, U16, U32, U64,
    Bool,
}

public static class DTypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this DType t) => t switch
    {
        DType.F16 or DType.BF16 or DType.I16 or DType.U16 => 2,
        DType.F32 or DType.I32 or DType.U32 => 4,
        DType.F64 or DType.I64 or DType.U64 => 8,
        DType.I8 or DType.U8 or DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>The short name used in IR text, headers and messages: <c>f32</c>, <c>bf16</c>, <c>bool</c>.</summary>
    public static string Name(this DType t) => t == DType.Bool ? "bool" : t.ToString().ToLowerInvariant();

    /// <summary>The <see cref="DType"/> for a short name, or null.</summary>
    public static DType? Parse(string name) =>
        Enum.GetValues<DType>().Select(t => (DType?)t).FirstOrDefault(t => t!.Value.Name() == name);
}
