using GraphCompiler.IR;
using OnnxDataType = GraphCompiler.Frontend.Proto.Onnx.TensorProto.Types.DataType;
using TfDataType = GraphCompiler.Frontend.Proto.TensorFlow.DataType;

namespace GraphCompiler.Frontend.Tensors;

/// <summary>TensorFlow DataType and ONNX TensorProto.DataType to IR <see cref="ElementType"/>.</summary>
public static class FrameworkElementTypes
{
    /// <summary>The IR element type of a TF dtype (a _REF type maps as its base type); false with a reason for the rest.</summary>
    public static bool TryFromTensorFlow(TfDataType dtype, out ElementType type, out string reason)
    {
        var d = (int)dtype > 100 ? (TfDataType)((int)dtype - 100) : dtype;
        ElementType? t = d switch
        {
            TfDataType.DtFloat => ElementType.F32,
            TfDataType.DtDouble => ElementType.F64,
            TfDataType.DtHalf => ElementType.F16,
            TfDataType.DtBfloat16 => ElementType.BF16,
            TfDataType.DtInt8 => ElementType.I8,
            TfDataType.DtInt16 => ElementType.I16,
            TfDataType.DtInt32 => ElementType.I32,
            TfDataType.DtInt64 => ElementType.I64,
            TfDataType.DtUint8 => ElementType.U8,
            TfDataType.DtUint16 => ElementType.U16,
            TfDataType.DtUint32 => ElementType.U32,
            TfDataType.DtUint64 => ElementType.U64,
            TfDataType.DtBool => ElementType.Bool,
            _ => null,
        };
        type = t ?? default;
        reason = t is null ? $"TensorFlow type {TensorFlowName(dtype)} ({Kind(d)}) has no IR element type" : "";
        return t is not null;
    }

    private static string Kind(TfDataType d) => d switch
    {
        TfDataType.DtString => "strings are not supported",
        TfDataType.DtComplex64 or TfDataType.DtComplex128 => "complex numbers are not supported",
        TfDataType.DtQint8 or TfDataType.DtQuint8 or TfDataType.DtQint16 or TfDataType.DtQuint16 or TfDataType.DtQint32 => "quantized types are not supported",
        TfDataType.DtResource => "resource handles are not tensors of numbers",
        TfDataType.DtVariant => "variants are not supported",
        TfDataType.DtInvalid => "no type set",
        _ => "unknown type",
    };

    /// <summary>The enum name TF itself prints (DT_FLOAT), or the number for an unknown value.</summary>
    public static string TensorFlowName(TfDataType dtype) =>
        Proto.TensorFlow.TypesReflection.Descriptor.EnumTypes[0].FindValueByNumber((int)dtype)?.Name ?? $"#{(int)dtype}";

    public static bool TryFromOnnx(int dataType, out ElementType type, out string reason)
    {
        ElementType? t = (OnnxDataType)dataType switch
        {
            OnnxDataType.Float => ElementType.F32,
            OnnxDataType.Double => ElementType.F64,
            OnnxDataType.Float16 => ElementType.F16,
            OnnxDataType.Bfloat16 => ElementType.BF16,
            OnnxDataType.Int8 => ElementType.I8,
            OnnxDataType.Int16 => ElementType.I16,
            OnnxDataType.Int32 => ElementType.I32,
            OnnxDataType.Int64 => ElementType.I64,
            OnnxDataType.Uint8 => ElementType.U8,
            OnnxDataType.Uint16 => ElementType.U16,
            OnnxDataType.Uint32 => ElementType.U32,
            OnnxDataType.Uint64 => ElementType.U64,
            OnnxDataType.Bool => ElementType.Bool,
            _ => null,
        };
        type = t ?? default;
        reason = t is null ? $"ONNX type {OnnxName(dataType)} has no IR element type ({OnnxKind((OnnxDataType)dataType)})" : "";
        return t is not null;
    }

    private static string OnnxKind(OnnxDataType d) => d switch
    {
        OnnxDataType.String => "strings are not supported",
        OnnxDataType.Complex64 or OnnxDataType.Complex128 => "complex numbers are not supported",
        OnnxDataType.Undefined => "no type set",
        OnnxDataType.Float8E4M3Fn or OnnxDataType.Float8E4M3Fnuz or OnnxDataType.Float8E5M2 or OnnxDataType.Float8E5M2Fnuz
            or OnnxDataType.Float4E2M1 => "8- and 4-bit floats are not supported",
        OnnxDataType.Int4 or OnnxDataType.Uint4 => "4-bit integers are not supported",
        _ => "unknown type",
    };

    public static string OnnxName(int dataType) =>
        Proto.Onnx.OnnxReflection.Descriptor.MessageTypes.First(m => m.Name == "TensorProto").EnumTypes[0]
            .FindValueByNumber(dataType)?.Name ?? $"#{dataType}";
}
