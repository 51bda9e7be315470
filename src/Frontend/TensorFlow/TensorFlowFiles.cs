using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.Proto.TensorFlow.Tf2Xla;
using GraphCompiler.Frontend.Protobuf;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow;

/// <summary>
/// TensorFlow's serialized files. Each reader takes binary or text format, told apart by content
/// (a <c>.pb</c> holding text, or a <c>.pbtxt</c> holding binary, still reads).
/// </summary>
public static class TensorFlowFiles
{
    /// <summary>A frozen or plain GraphDef (<c>.pb</c> / <c>.pbtxt</c>).</summary>
    public static Result<GraphDef> ReadGraphDef(string path) => ProtoFiles.ReadFile(GraphDef.Parser, path);

    /// <summary>A MetaGraphDef (<c>.meta</c>, as tf.train.Saver exports it).</summary>
    public static Result<MetaGraphDef> ReadMetaGraphDef(string path) => ProtoFiles.ReadFile(MetaGraphDef.Parser, path);

    /// <summary>A tfcompile <c>tf2xla.Config</c> (normally text: <c>*.config.pbtxt</c>).</summary>
    public static Result<Config> ReadTfCompileConfig(string path) => ProtoFiles.ReadFile(Config.Parser, path);

    /// <summary>A SavedModel file itself (<c>saved_model.pb</c> / <c>saved_model.pbtxt</c>); see <see cref="SavedModelLoader"/> for the folder.</summary>
    public static Result<SavedModel> ReadSavedModelFile(string path) => ProtoFiles.ReadFile(SavedModel.Parser, path);

    /// <summary>Parses GraphDef bytes (binary or text) already in memory.</summary>
    public static Result<GraphDef> ParseGraphDef(byte[] data, string fileName) => ProtoFiles.ParseAuto(GraphDef.Parser, data, fileName);
}
