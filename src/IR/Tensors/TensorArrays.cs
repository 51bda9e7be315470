using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GraphCompiler.IR;

/// <summary>
/// Typed views for callers outside the compiler: a tensor from a .NET array, and its elements as a span or
/// an array of the matching .NET type. The .NET type must be the element type's exact counterpart (float for
/// f32, int for i32, bool for bool, Half for f16...): a mismatch throws rather than reinterpreting bits.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>The IR element type of the .NET type <typeparamref name="T"/>; null when there is none (bf16 has no .NET type).</summary>
    public static ElementType? ElementTypeOf<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? ElementType.F32
        : typeof(T) == typeof(double) ? ElementType.F64
        : typeof(T) == typeof(Half) ? ElementType.F16
        : typeof(T) == typeof(sbyte) ? ElementType.I8
        : typeof(T) == typeof(short) ? ElementType.I16
        : typeof(T) == typeof(int) ? ElementType.I32
        : typeof(T) == typeof(long) ? ElementType.I64
        : typeof(T) == typeof(byte) ? ElementType.U8
        : typeof(T) == typeof(ushort) ? ElementType.U16
        : typeof(T) == typeof(uint) ? ElementType.U32
        : typeof(T) == typeof(ulong) ? ElementType.U64
        : typeof(T) == typeof(bool) ? ElementType.Bool
        : null;

    /// <summary>
    /// A tensor of <paramref name="shape"/> (no dimensions: a scalar) holding a copy of <paramref name="data"/>
    /// in row-major order; the element type follows from <typeparamref name="T"/> (see <see cref="ElementTypeOf{T}"/>).
    /// </summary>
    /// <exception cref="ArgumentException">T has no IR element type, the shape is invalid (a negative dimension, rank above 8), or the element count differs from the shape's.</exception>
    public static Tensor FromArray<T>(T[] data, params long[] shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        var element = ElementTypeOf<T>() ?? throw new ArgumentException($"{typeof(T).Name} is not a tensor element type (use float, double, Half, sbyte, short, int, long, byte, ushort, uint, ulong or bool)", nameof(data));
        var type = new TensorType(element, shape);
        if (type.Problem is { } problem) throw new ArgumentException($"shape [{string.Join(", ", shape)}]: {problem}", nameof(shape));
        if (type.ElementCount != data.LongLength)
            throw new ArgumentException($"{type} needs {type.ElementCount} elements, got {data.LongLength}", nameof(data));
        var bytes = MemoryMarshal.AsBytes(data.AsSpan()).ToArray();
        // bool is one byte in .NET but any nonzero byte reads as true; the IR stores exactly 0 or 1.
        if (element == ElementType.Bool)
            for (int i = 0; i < bytes.Length; i++) bytes[i] = bytes[i] != 0 ? (byte)1 : (byte)0;
        return new Tensor(type, bytes);
    }

    /// <summary>The elements as a read-only span of <typeparamref name="T"/>, without copying (a splat is materialised first).</summary>
    /// <exception cref="InvalidOperationException">T is not the .NET type of the tensor's element type.</exception>
    public ReadOnlySpan<T> AsSpan<T>() where T : unmanaged
    {
        CheckElementType<T>();
        return MemoryMarshal.Cast<byte, T>(Bytes);
    }

    /// <summary>A copy of the elements as an array of <typeparamref name="T"/>.</summary>
    /// <exception cref="InvalidOperationException">T is not the .NET type of the tensor's element type.</exception>
    public T[] ToArray<T>() where T : unmanaged => AsSpan<T>().ToArray();

    private void CheckElementType<T>() where T : unmanaged
    {
        if (ElementTypeOf<T>() != Element)
        {
            var expected = Element switch
            {
                ElementType.BF16 => "none (bf16 has no .NET type; read Bytes)",
                _ => ExpectedTypeName(Element),
            };
            throw new InvalidOperationException($"cannot view a {Type} as {typeof(T).Name} ({Unsafe.SizeOf<T>()} bytes): its .NET element type is {expected}");
        }
    }

    private static string ExpectedTypeName(ElementType t) => t switch
    {
        ElementType.F16 => "Half",
        ElementType.F32 => "float",
        ElementType.F64 => "double",
        ElementType.I8 => "sbyte",
        ElementType.I16 => "short",
        ElementType.I32 => "int",
        ElementType.I64 => "long",
        ElementType.U8 => "byte",
        ElementType.U16 => "ushort",
        ElementType.U32 => "uint",
        ElementType.U64 => "ulong",
        _ => "bool",
    };
}
