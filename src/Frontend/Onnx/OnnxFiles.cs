using GraphCompiler.Frontend.Proto.Onnx;
using GraphCompiler.Frontend.Protobuf;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx;

/// <summary>ONNX model files (binary protobuf).</summary>
public static class OnnxFiles
{
    /// <summary>
    /// Reads a <c>.onnx</c> ModelProto. Pass the file's folder to
    /// <see cref="Tensors.TensorProtoConverter.FromOnnx"/> so that external data beside it can be read.
    /// </summary>
    public static Result<ModelProto> ReadModel(string path)
    {
        var bytes = ProtoFiles.ReadAllBytes(path);
        return bytes.Value is { } data ? ProtoFiles.ParseBinary(ModelProto.Parser, data, path) : Result<ModelProto>.Failure(bytes.Diagnostics);
    }
}
