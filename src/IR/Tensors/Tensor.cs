using System.Buffers.Binary;
using System.Security.Cryptography;

namespace GraphCompiler.IR;

/// <summary>
/// An immutable dense tensor: a type plus its row-major little-endian bytes, the layout NumPy and the
/// compiled code use. Element accessors widen to double, long or ulong so that the interpreter can treat
/// each type class with one code path.
/// </summary>
public sealed partial class Tensor : IEquatable<Tensor>
{
    private byte[]? _data; // null only for a splat not yet materialised
    private readonly byte[]? _splat; // the one element of a tensor made by Splat
    private int _isSplat; // 0: not known yet, 1: all elements equal, 2: not

    public TensorType Type { get; }

    /// <summary>The row-major bytes; a tensor made by <see cref="Splat"/> materialises them here, on first use.</summary>
    public ReadOnlySpan<byte> Bytes => _data ?? Materialize();
    public long ElementCount => Type.ElementCount;
    public ElementType Element => Type.Element;

    internal Tensor(TensorType type, byte[] data)
    {
        if (data.LongLength != type.ByteSize)
            throw new ArgumentException($"{type} needs {type.ByteSize} bytes, got {data.LongLength}");
        Type = type;
        _data = data;
    }

    private Tensor(TensorType type, byte[] element, bool splat)
    {
        Type = type;
        _splat = element;
        _isSplat = splat ? 1 : 2;
    }

    /// <summary>
    /// Every element equal to <paramref name="scalar"/>'s single element, without allocating the elements:
    /// the bytes are materialised only if <see cref="Bytes"/> is read, and <see cref="IsSplat"/> is O(1).
    /// </summary>
    public static Tensor Splat(TensorType type, Tensor scalar)
    {
        if (scalar.ElementCount != 1 || scalar.Element != type.Element)
            throw new ArgumentException($"a splat of {type} needs one {type.Element.Name()} element, got {scalar.Type}");
        return new Tensor(type, scalar.ElementBytes(0).ToArray(), splat: true);
    }

    /// <summary>
    /// True when all elements are bit-identical (so -0.0 and +0.0, or two NaN payloads, differ; vacuously for
    /// zero or one element). O(1) for a tensor made by <see cref="Splat"/>; otherwise one scan, remembered.
    /// </summary>
    public bool IsSplat
    {
        get
        {
            if (_isSplat == 0)
            {
                var data = _data!;
                int size = Element.ByteSize();
                bool all = true;
                for (int off = size; off < data.Length && all; off += size)
                    all = data.AsSpan(off, size).SequenceEqual(data.AsSpan(0, size));
                _isSplat = all ? 1 : 2;
            }
            return _isSplat == 1;
        }
    }

    /// <summary>The most bytes a tensor's data can have (one .NET array).</summary>
    public static long MaxBytes => Array.MaxLength;

    private byte[] Materialize()
    {
        if (Type.ByteSize > MaxBytes)
            throw new IrException($"a constant {Type} of {Type.ByteSize} bytes is too large to materialise (the limit is {MaxBytes} bytes)");
        var data = new byte[Type.ByteSize];
        if (_splat!.Length == 1) data.AsSpan().Fill(_splat[0]);
        else for (int off = 0; off < data.Length; off += _splat.Length) _splat.CopyTo(data, off);
        return Interlocked.CompareExchange(ref _data, data, null) ?? data;
    }

    /// <summary>Element <paramref name="i"/>'s bytes, without materialising a splat.</summary>
    private ReadOnlySpan<byte> At(long i)
    {
        if (_data is { } data) return data.AsSpan(Offset(i));
        if ((ulong)i >= (ulong)ElementCount) throw new ArgumentOutOfRangeException(nameof(i), $"element {i} of {Type}");
        return _splat!;
    }

    public static Tensor FromBytes(TensorType type, ReadOnlySpan<byte> bytes) => new(type, bytes.ToArray());

    public static Tensor Zeros(TensorType type) => new(type, new byte[type.ByteSize]);

    public static Tensor FromDoubles(TensorType type, IReadOnlyList<double> values)
    {
        var b = new TensorBuffer(type);
        for (int i = 0; i < values.Count; i++) b.SetDouble(i, values[i]);
        return b.ToTensor();
    }

    public static Tensor FromInt64s(TensorType type, IReadOnlyList<long> values)
    {
        var b = new TensorBuffer(type);
        for (int i = 0; i < values.Count; i++) b.SetInt64(i, values[i]);
        return b.ToTensor();
    }

    public static Tensor Scalar(ElementType t, double v) => FromDoubles(TensorType.Scalar(t), [v]);

    // ---- element access -------------------------------------------------------------------------

    /// <summary>The element as a double: exact for floats; integers convert (u64 as unsigned); bool as 0/1.</summary>
    public double GetDouble(long i) => ReadDouble(Element, At(i));

    /// <summary>The element as a signed 64-bit integer (two's complement bits for u64; floats truncate).</summary>
    public long GetInt64(long i) => ReadInt64(Element, At(i));

    public ulong GetUInt64(long i) => Element.IsUnsignedInteger() ? (ulong)ReadInt64(Element, At(i)) : (ulong)GetInt64(i);

    public bool GetBool(long i) => Element.IsFloat() ? GetDouble(i) != 0 : GetInt64(i) != 0;

    public ReadOnlySpan<byte> ElementBytes(long i) => At(i)[..Element.ByteSize()];

    private int Offset(long i) => checked((int)(i * Element.ByteSize()));

    internal static double ReadDouble(ElementType t, ReadOnlySpan<byte> s) => t switch
    {
        ElementType.F16 => (double)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(s)),
        ElementType.BF16 => FloatRounding.FromBFloat16Bits(BinaryPrimitives.ReadUInt16LittleEndian(s)),
        ElementType.F32 => BinaryPrimitives.ReadSingleLittleEndian(s),
        ElementType.F64 => BinaryPrimitives.ReadDoubleLittleEndian(s),
        ElementType.U64 => (double)BinaryPrimitives.ReadUInt64LittleEndian(s),
        _ => ReadInt64(t, s),
    };

    internal static long ReadInt64(ElementType t, ReadOnlySpan<byte> s) => t switch
    {
        ElementType.I8 => (sbyte)s[0],
        ElementType.I16 => BinaryPrimitives.ReadInt16LittleEndian(s),
        ElementType.I32 => BinaryPrimitives.ReadInt32LittleEndian(s),
        ElementType.I64 => BinaryPrimitives.ReadInt64LittleEndian(s),
        ElementType.U8 => s[0],
        ElementType.U16 => BinaryPrimitives.ReadUInt16LittleEndian(s),
        ElementType.U32 => BinaryPrimitives.ReadUInt32LittleEndian(s),
        ElementType.U64 => (long)BinaryPrimitives.ReadUInt64LittleEndian(s),
        ElementType.Bool => s[0] != 0 ? 1 : 0,
        _ => FloatToInt64(ReadDouble(t, s)),
    };

    /// <summary>Float to integer as the interpreter's convert defines it: truncate, saturate, NaN → 0.</summary>
    internal static long FloatToInt64(double d) =>
        double.IsNaN(d) ? 0 : d >= 9.2233720368547758E18 ? long.MaxValue : d <= -9.2233720368547758E18 ? long.MinValue : (long)d;

    // ---- identity ------------------------------------------------------------------------------

    /// <summary>Content hash (type and bytes), used to elide large constants in printed IR and to dedupe constants.</summary>
    public string ContentHash()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes(Type.ToString()));
        if (_data is { } data) sha.AppendData(data);
        else
        {
            // The same hash as the materialised bytes, a chunk at a time.
            var chunk = new byte[Math.Min(Type.ByteSize, 1 << 16) / _splat!.Length * _splat.Length];
            for (int off = 0; off < chunk.Length; off += _splat.Length) _splat.CopyTo(chunk, off);
            for (long left = Type.ByteSize; left > 0; left -= chunk.Length) sha.AppendData(chunk, 0, (int)Math.Min(left, chunk.Length));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    public bool Equals(Tensor? other)
    {
        if (other is null || other.Type != Type) return false;
        if (ReferenceEquals(this, other)) return true;
        if (_data is null || other._data is null) // a splat not materialised: equal only to a splat of the same element
            return other.IsSplat && IsSplat && (ElementCount == 0 || ElementBytes(0).SequenceEqual(other.ElementBytes(0)));
        return other._data.AsSpan().SequenceEqual(_data);
    }
    public override bool Equals(object? obj) => Equals(obj as Tensor);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Type);
        if (_data is { } data) h.AddBytes(data.AsSpan(0, Math.Min(data.Length, 256)));
        else
        {
            var splat = _splat!;
            var prefix = new byte[Math.Min(Type.ByteSize, 256)];
            for (int off = 0; off < prefix.Length; off += splat.Length) splat.AsSpan(0, Math.Min(splat.Length, prefix.Length - off)).CopyTo(prefix.AsSpan(off));
            h.AddBytes(prefix);
        }
        return h.ToHashCode();
    }

    public override string ToString() => $"{Type} {TensorFormatter.Format(this, 16)}";
}

/// <summary>A mutable tensor under construction; <see cref="ToTensor"/> hands its bytes to an immutable <see cref="Tensor"/>.</summary>
public sealed class TensorBuffer
{
    private byte[]? _data;
    public TensorType Type { get; }
    public ElementType Element => Type.Element;

    public TensorBuffer(TensorType type)
    {
        Type = type;
        if (type.ByteSize > Tensor.MaxBytes)
            throw new IrException($"a {type} of {type.ByteSize} bytes is more than a tensor holds ({Tensor.MaxBytes} bytes)");
        _data = new byte[type.ByteSize];
    }

    private Span<byte> At(long i) => Data.AsSpan(checked((int)(i * Element.ByteSize())));
    private byte[] Data => _data ?? throw new InvalidOperationException("TensorBuffer already frozen");

    public Span<byte> RawBytes => Data;

    /// <summary>Reads back an element written earlier (read-modify-write updates such as scatter-add).</summary>
    public double GetDouble(long i) => Tensor.ReadDouble(Element, At(i));

    public long GetInt64(long i) => Tensor.ReadInt64(Element, At(i));

    public ulong GetUInt64(long i) => (ulong)Tensor.ReadInt64(Element, At(i));

    /// <summary>Stores a double, rounding to the element type (RNE for floats; integers convert as <c>convert</c> does).</summary>
    public void SetDouble(long i, double v)
    {
        var s = At(i);
        switch (Element)
        {
            case ElementType.F16: BinaryPrimitives.WriteUInt16LittleEndian(s, BitConverter.HalfToUInt16Bits(FloatRounding.ToHalf(v))); break;
            case ElementType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(s, FloatRounding.ToBFloat16Bits(v)); break;
            case ElementType.F32: BinaryPrimitives.WriteSingleLittleEndian(s, (float)v); break;
            case ElementType.F64: BinaryPrimitives.WriteDoubleLittleEndian(s, v); break;
            case ElementType.Bool: s[0] = v != 0 ? (byte)1 : (byte)0; break; // NaN is true, as in C
            case ElementType.U64:
                SetInt64(i, double.IsNaN(v) || v <= 0 ? 0 : v >= 18446744073709551615.0 ? -1L : (long)(ulong)v);
                break;
            default: SetInt64(i, SaturateToInteger(Element, v)); break;
        }
    }

    /// <summary>Float → integer conversion: truncate toward zero, saturate at the type's range, NaN → 0.</summary>
    internal static long SaturateToInteger(ElementType t, double v)
    {
        if (double.IsNaN(v)) return 0;
        double lo, hi;
        switch (t)
        {
            case ElementType.I8: lo = sbyte.MinValue; hi = sbyte.MaxValue; break;
            case ElementType.I16: lo = short.MinValue; hi = short.MaxValue; break;
            case ElementType.I32: lo = int.MinValue; hi = int.MaxValue; break;
            case ElementType.U8: lo = 0; hi = byte.MaxValue; break;
            case ElementType.U16: lo = 0; hi = ushort.MaxValue; break;
            case ElementType.U32: lo = 0; hi = uint.MaxValue; break;
            default: return Tensor.FloatToInt64(v);
        }
        return (long)Math.Clamp(Math.Truncate(v), lo, hi);
    }

    /// <summary>Stores an integer bit pattern; it wraps to the element width (floats convert the value).</summary>
    public void SetInt64(long i, long v)
    {
        var s = At(i);
        switch (Element)
        {
            case ElementType.I8: case ElementType.U8: s[0] = (byte)v; break;
            case ElementType.I16: case ElementType.U16: BinaryPrimitives.WriteInt16LittleEndian(s, (short)v); break;
            case ElementType.I32: case ElementType.U32: BinaryPrimitives.WriteInt32LittleEndian(s, (int)v); break;
            case ElementType.I64: case ElementType.U64: BinaryPrimitives.WriteInt64LittleEndian(s, v); break;
            case ElementType.Bool: s[0] = v != 0 ? (byte)1 : (byte)0; break;
            default: SetDouble(i, v); break;
        }
    }

    public void SetUInt64(long i, ulong v)
    {
        if (Element.IsFloat()) SetDouble(i, v);
        else SetInt64(i, (long)v);
    }

    public void SetBool(long i, bool v) => SetInt64(i, v ? 1 : 0);

    /// <summary>Copies element <paramref name="srcIndex"/> of a tensor of the same element type.</summary>
    public void CopyElement(long dstIndex, Tensor src, long srcIndex) => src.ElementBytes(srcIndex).CopyTo(At(dstIndex));

    public Tensor ToTensor()
    {
        var t = new Tensor(Type, Data);
        _data = null;
        return t;
    }
}
