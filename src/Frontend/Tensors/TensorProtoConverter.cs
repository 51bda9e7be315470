using System.Buffers.Binary;
using System.Collections.Immutable;
using Google.Protobuf.Collections;
using GraphCompiler.IR;
using OnnxProto = GraphCompiler.Frontend.Proto.Onnx;
using Tf = GraphCompiler.Frontend.Proto.TensorFlow;

namespace GraphCompiler.Frontend.Tensors;

/// <summary>
/// TensorFlow and ONNX TensorProto to IR <see cref="Tensor"/>. Every problem is a diagnostic naming
/// the tensor; sizes are checked against the data before anything is allocated.
/// </summary>
public static class TensorProtoConverter
{
    /// <summary>Largest constant we materialise: a .NET array's limit.</summary>
    public static readonly long MaxTensorBytes = Array.MaxLength;

    // ---- TensorFlow -----------------------------------------------------------------------------

    /// <summary>
    /// A TF TensorProto: tensor_content, or the typed *_val field, where fewer values than elements
    /// repeat the last one (a single value fills the shape) and no values mean zeros, as TF does.
    /// </summary>
    public static Result<Tensor> FromTensorFlow(Tf.TensorProto proto, string tensorName)
    {
        string what = $"tensor '{tensorName}'";
        if (!FrameworkElementTypes.TryFromTensorFlow(proto.Dtype, out var element, out var reason))
            return Fail($"{what}: {reason}");
        var shape = TensorFlowShape(proto.TensorShape, what);
        if (shape.Value is not { } dims) return Result<Tensor>.Failure(shape.Diagnostics);
        var typeResult = CheckedType(element, dims, what);
        if (typeResult.Value is not { } type) return Result<Tensor>.Failure(typeResult.Diagnostics);
        long count = type.ElementCount;

        if (!proto.TensorContent.IsEmpty)
            return FromRawBytes(type, proto.TensorContent.Span, what, "tensor_content");

        var buffer = new TensorBuffer(type);
        var raw = buffer.RawBytes;
        int n = element switch
        {
            ElementType.F32 => proto.FloatVal.Count,
            ElementType.F64 => proto.DoubleVal.Count,
            ElementType.F16 or ElementType.BF16 => proto.HalfVal.Count,
            ElementType.I8 or ElementType.I16 or ElementType.I32 or ElementType.U8 or ElementType.U16 => proto.IntVal.Count,
            ElementType.I64 => proto.Int64Val.Count,
            ElementType.U32 => proto.Uint32Val.Count,
            ElementType.U64 => proto.Uint64Val.Count,
            _ => proto.BoolVal.Count,
        };
        if (n > count)
            return Fail($"{what}: {n} values given for {type}, which holds {count}");
        if (n == 0 || count == 0) return Result<Tensor>.Success(buffer.ToTensor()); // zeros (or empty)
        for (long i = 0; i < count; i++)
        {
            int k = (int)Math.Min(i, n - 1); // past the given values, the last one repeats
            switch (element)
            {
                case ElementType.F32: buffer.SetDouble(i, proto.FloatVal[k]); break;
                case ElementType.F64: buffer.SetDouble(i, proto.DoubleVal[k]); break;
                case ElementType.F16 or ElementType.BF16:
                    BinaryPrimitives.WriteUInt16LittleEndian(raw[(int)(i * 2)..], (ushort)proto.HalfVal[k]);
                    break;
                case ElementType.I64: buffer.SetInt64(i, proto.Int64Val[k]); break;
                case ElementType.U32: buffer.SetInt64(i, proto.Uint32Val[k]); break;
                case ElementType.U64: buffer.SetUInt64(i, proto.Uint64Val[k]); break;
                case ElementType.Bool: buffer.SetBool(i, proto.BoolVal[k]); break;
                default: buffer.SetInt64(i, proto.IntVal[k]); break;
            }
        }
        return Result<Tensor>.Success(buffer.ToTensor());
    }

    /// <summary>Dimensions of a TF shape; unknown rank or unknown (-1) dimensions are errors here.</summary>
    public static Result<long[]> TensorFlowShape(Tf.TensorShapeProto? shape, string what)
    {
        if (shape is null) return Result<long[]>.Success([]);
        if (shape.UnknownRank) return Result<long[]>.Failure(new Diagnostic($"{what}: shape has unknown rank"));
        var dims = new long[shape.Dim.Count];
        for (int i = 0; i < dims.Length; i++)
        {
            dims[i] = shape.Dim[i].Size;
            if (dims[i] < 0)
                return Result<long[]>.Failure(new Diagnostic($"{what}: dimension {i} is {(dims[i] == -1 ? "unknown (-1)" : dims[i].ToString())}"));
        }
        return Result<long[]>.Success(dims);
    }

    // ---- ONNX -----------------------------------------------------------------------------------

    /// <summary>
    /// An ONNX TensorProto: raw_data, the typed *_data field (exactly one value per element), or
    /// external data in a file beside the model when <paramref name="modelDirectory"/> is given.
    /// </summary>
    public static Result<Tensor> FromOnnx(OnnxProto.TensorProto proto, string? modelDirectory = null)
    {
        string what = $"tensor '{proto.Name}'";
        if (!FrameworkElementTypes.TryFromOnnx(proto.DataType, out var element, out var reason))
            return Fail($"{what}: {reason}");
        if (proto.Segment is not null)
            return Fail($"{what}: segmented tensors (TensorProto.segment) are not supported");
        for (int i = 0; i < proto.Dims.Count; i++)
            if (proto.Dims[i] < 0) return Fail($"{what}: dimension {i} is negative ({proto.Dims[i]})");
        var typeResult = CheckedType(element, proto.Dims.ToArray(), what);
        if (typeResult.Value is not { } type) return Result<Tensor>.Failure(typeResult.Diagnostics);
        long count = type.ElementCount;

        if (proto.DataLocation == OnnxProto.TensorProto.Types.DataLocation.External || proto.ExternalData.Count > 0)
            return FromExternal(proto, type, modelDirectory, what);
        if (proto.HasRawData)
            return FromRawBytes(type, proto.RawData.Span, what, "raw_data");

        var buffer = new TensorBuffer(type);
        var raw = buffer.RawBytes;
        (int n, string field) = element switch
        {
            ElementType.F32 => (proto.FloatData.Count, "float_data"),
            ElementType.F64 => (proto.DoubleData.Count, "double_data"),
            ElementType.I64 => (proto.Int64Data.Count, "int64_data"),
            ElementType.U32 or ElementType.U64 => (proto.Uint64Data.Count, "uint64_data"),
            _ => (proto.Int32Data.Count, "int32_data"),
        };
        if (n != count)
            return Fail(n == 0 ? $"{what}: no data for {type} (expected raw_data or {field})"
                : $"{what}: {field} has {n} values, but {type} holds {count}");
        for (int i = 0; i < n; i++)
        {
            switch (element)
            {
                case ElementType.F32: buffer.SetDouble(i, proto.FloatData[i]); break;
                case ElementType.F64: buffer.SetDouble(i, proto.DoubleData[i]); break;
                case ElementType.I64: buffer.SetInt64(i, proto.Int64Data[i]); break;
                case ElementType.U32 or ElementType.U64: buffer.SetUInt64(i, proto.Uint64Data[i]); break;
                case ElementType.F16 or ElementType.BF16:
                    BinaryPrimitives.WriteUInt16LittleEndian(raw[(i * 2)..], (ushort)proto.Int32Data[i]);
                    break;
                default: buffer.SetInt64(i, proto.Int32Data[i]); break;
            }
        }
        return Result<Tensor>.Success(buffer.ToTensor());
    }

    private static Result<Tensor> FromExternal(OnnxProto.TensorProto proto, TensorType type, string? modelDirectory, string what)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var kv in proto.ExternalData)
        {
            switch (kv.Key)
            {
                case "location": location = kv.Value; break;
                case "offset" when !long.TryParse(kv.Value, out offset) || offset < 0:
                    return Fail($"{what}: external data offset '{kv.Value}' is not a non-negative integer");
                case "length" when !long.TryParse(kv.Value, out length) || length < 0:
                    return Fail($"{what}: external data length '{kv.Value}' is not a non-negative integer");
            }
        }
        if (string.IsNullOrEmpty(location)) return Fail($"{what}: external data has no 'location'");
        if (modelDirectory is null)
            return Fail($"{what}: data is stored in external file '{location}'; load the model from a file so that it can be read from beside the model");
        using var f = ExternalDataFile.Open(modelDirectory, location, out var problem);
        if (f is null) return Fail($"{what}: external data file '{location}' {problem}");
        try
        {
            long available = f.Length - offset;
            if (available < 0) return Fail($"{what}: external data offset {offset} is past the end of '{location}' ({f.Length} bytes)");
            long want = length >= 0 ? length : available;
            if (want != type.ByteSize)
                return Fail($"{what}: external data has {want} bytes, but {type} needs {type.ByteSize}");
            if (want > available)
                return Fail($"{what}: external data '{location}' ends before offset {offset} + length {want}");
            var bytes = new byte[want];
            f.Seek(offset, SeekOrigin.Begin);
            f.ReadExactly(bytes);
            return FromRawBytes(type, bytes, what, "external data");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail($"{what}: cannot read external data '{location}': {e.Message}");
        }
    }

    // ---- shared ---------------------------------------------------------------------------------

    private static Result<Tensor> FromRawBytes(TensorType type, ReadOnlySpan<byte> bytes, string what, string field)
    {
        if (bytes.Length != type.ByteSize)
            return Fail($"{what}: {field} has {bytes.Length} bytes, but {type} needs {type.ByteSize}");
        if (type.Element != ElementType.Bool) return Result<Tensor>.Success(Tensor.FromBytes(type, bytes));
        var copy = bytes.ToArray();
        for (int i = 0; i < copy.Length; i++) copy[i] = copy[i] != 0 ? (byte)1 : (byte)0; // canonical bools
        return Result<Tensor>.Success(Tensor.FromBytes(type, copy));
    }

    /// <summary>The IR type, after the checks that make it safe to allocate (rank, overflow, size).</summary>
    public static Result<TensorType> CheckedType(ElementType element, long[] dims, string what)
    {
        if (dims.Length > TensorType.MaxRank)
            return Result<TensorType>.Failure(new Diagnostic($"{what}: rank {dims.Length} exceeds the maximum rank {TensorType.MaxRank}"));
        var type = new TensorType(element, ImmutableArray.Create(dims));
        if (type.Problem is { } p) return Result<TensorType>.Failure(new Diagnostic($"{what}: {p}"));
        if (type.ByteSize > MaxTensorBytes)
            return Result<TensorType>.Failure(new Diagnostic($"{what}: {type} has {type.ByteSize} bytes, more than the {MaxTensorBytes} a constant may hold"));
        return Result<TensorType>.Success(type);
    }

    private static Result<Tensor> Fail(string message) => Result<Tensor>.Failure(new Diagnostic(message));

    internal static long[] ToArray(this RepeatedField<long> r) => [.. r];
}
