using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace GraphCompiler.IR;

/// <summary>
/// NumPy <c>.npy</c> files (format versions 1.0–3.0). Reads little- and big-endian data and Fortran
/// order; writes version 1.0 little-endian C order. bfloat16, which NumPy lacks, is written as the raw
/// 2-byte void type <c>|V2</c> (view it with <c>ml_dtypes.bfloat16</c>) and read back as bf16.
/// </summary>
public static partial class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static string Descr(ElementType t) => t switch
    {
        ElementType.F16 => "<f2",
        ElementType.BF16 => "|V2",
        ElementType.F32 => "<f4",
        ElementType.F64 => "<f8",
        ElementType.I8 => "|i1",
        ElementType.I16 => "<i2",
        ElementType.I32 => "<i4",
        ElementType.I64 => "<i8",
        ElementType.U8 => "|u1",
        ElementType.U16 => "<u2",
        ElementType.U32 => "<u4",
        ElementType.U64 => "<u8",
        ElementType.Bool => "|b1",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    public static byte[] Write(Tensor t)
    {
        var shape = t.Type.Rank switch
        {
            0 => "()",
            1 => $"({t.Type.Shape[0]},)",
            _ => "(" + string.Join(", ", t.Type.Shape) + ")",
        };
        var header = $"{{'descr': '{Descr(t.Element)}', 'fortran_order': False, 'shape': {shape}, }}";
        int total = Magic.Length + 4 + header.Length + 1;
        int pad = (64 - total % 64) % 64;
        header = header + new string(' ', pad) + "\n";
        var ms = new MemoryStream();
        ms.Write(Magic);
        ms.WriteByte(1);
        ms.WriteByte(0);
        ms.WriteByte((byte)(header.Length & 0xff));
        ms.WriteByte((byte)(header.Length >> 8));
        ms.Write(Encoding.ASCII.GetBytes(header));
        ms.Write(t.Bytes);
        return ms.ToArray();
    }

    public static void WriteFile(string path, Tensor t) => File.WriteAllBytes(path, Write(t));

    public static Result<Tensor> ReadFile(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Result<Tensor>.Failure(new Diagnostic($"{path}: cannot read: {e.Message}"));
        }
        var r = Read(bytes);
        return r.Ok ? r : Result<Tensor>.Failure(new Diagnostic($"{path}: {r.Diagnostics[0].Message}"));
    }

    public static Result<Tensor> Read(ReadOnlySpan<byte> data)
    {
        if (data.Length < 10 || !data[..6].SequenceEqual(Magic)) return Fail("not a .npy file (bad magic)");
        int major = data[6];
        // Header lengths are unsigned on disk; all arithmetic on them is in long so that a length near
        // 2^31 or 2^32 cannot wrap around and slip past the bounds check.
        long headerLen;
        int start;
        if (major == 1)
        {
            headerLen = data[8] | (data[9] << 8);
            start = 10;
        }
        else if (major is 2 or 3)
        {
            if (data.Length < 12) return Fail("truncated header");
            headerLen = BinaryPrimitives.ReadUInt32LittleEndian(data[8..12]);
            start = 12;
        }
        else return Fail($"unsupported .npy format version {major}");
        if (checked(start + headerLen) > data.Length)
            return Fail($"truncated header: the header length is {headerLen} bytes, but only {data.Length - start} follow");
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(data.Slice(start, (int)headerLen));

        var descr = DescrRegex().Match(header);
        var fortran = FortranRegex().Match(header);
        var shapeMatch = ShapeRegex().Match(header);
        if (!descr.Success || !fortran.Success || !shapeMatch.Success) return Fail($"malformed header: {header.Trim()}");

        var code = descr.Groups[1].Value;
        if (code.Length == 0) return Fail("empty dtype 'descr' in the header");
        char order = code.Length > 0 && code[0] is '<' or '>' or '|' or '=' ? code[0] : '=';
        var kind = order == code[0] ? code[1..] : code;
        ElementType? et = kind switch
        {
            "f2" or "e" => ElementType.F16,
            "f4" or "f" => ElementType.F32,
            "f8" or "d" => ElementType.F64,
            "i1" or "b" => ElementType.I8,
            "i2" or "h" => ElementType.I16,
            "i4" or "i" => ElementType.I32,
            "i8" or "q" or "l" => ElementType.I64,
            "u1" or "B" => ElementType.U8,
            "u2" or "H" => ElementType.U16,
            "u4" or "I" => ElementType.U32,
            "u8" or "Q" or "L" => ElementType.U64,
            "b1" or "?" => ElementType.Bool,
            "V2" => ElementType.BF16,
            _ => null,
        };
        if (et is null) return Fail($"unsupported dtype '{code}' (supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, and V2 as bfloat16)");

        var dims = ImmutableArray.CreateBuilder<long>();
        foreach (var part in shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!long.TryParse(part.TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out var d))
                return Fail($"bad shape entry '{part}'");
            dims.Add(d);
        }
        var type = new TensorType(et.Value, dims.ToImmutable());
        if (type.Problem is { } problem) return Fail($"unsupported shape: {problem}");
        var body = data[(int)(start + headerLen)..];
        if (body.Length < type.ByteSize) return Fail($"data is truncated: {type} needs {type.ByteSize} bytes, file has {body.Length}");
        var bytes = body[..checked((int)type.ByteSize)].ToArray();

        int size = et.Value.ByteSize();
        if (order == '>' && size > 1)
            for (int i = 0; i < bytes.Length; i += size) Array.Reverse(bytes, i, size);
        if (et == ElementType.Bool)
            for (int i = 0; i < bytes.Length; i++) bytes[i] = bytes[i] != 0 ? (byte)1 : (byte)0;

        var tensor = Tensor.FromBytes(type, bytes);
        if (fortran.Groups[1].Value == "True" && type.Rank > 1) tensor = FromFortranOrder(tensor);
        return Result<Tensor>.Success(tensor);
    }

    /// <summary>Reorders column-major data into row-major.</summary>
    private static Tensor FromFortranOrder(Tensor t)
    {
        var shape = t.Type.Shape;
        var b = new TensorBuffer(t.Type);
        var idx = new long[shape.Length];
        for (long k = 0; k < t.ElementCount; k++)
        {
            Shapes.Unravel(k, shape, idx);
            long f = 0, stride = 1;
            for (int d = 0; d < shape.Length; d++)
            {
                f += idx[d] * stride;
                stride *= shape[d];
            }
            b.CopyElement(k, t, f);
        }
        return b.ToTensor();
    }

    private static Result<Tensor> Fail(string message) => Result<Tensor>.Failure(new Diagnostic(message));

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrRegex();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranRegex();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapeRegex();
}
