using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Onnx;
using GraphCompiler.Frontend.Protobuf;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR;
using OnnxProto = GraphCompiler.Frontend.Proto.Onnx;

namespace GraphCompiler.Cli.Check;

/// <summary>An ONNX backend test case: <c>model.onnx</c> plus <c>test_data_set_N/input_K.pb, output_K.pb</c>.</summary>
public sealed class OnnxCase(string directory) : IConformanceCase
{
    public const double Rtol = 1e-3, Atol = 1e-5;

    public static bool IsCase(string dir) => File.Exists(Path.Combine(dir, "model.onnx"));

    public string Name { get; } = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));

    public Result<Module> Import()
    {
        // Inputs with symbolic dimensions take the shapes of the first data set's tensors.
        var feeds = new List<FeedSpec>();
        var model = OnnxFiles.ReadModel(Path.Combine(directory, "model.onnx"));
        if (model.Value is null) return Result<Module>.Failure(model.Diagnostics);
        var first = DataSetDirectories().FirstOrDefault();
        if (first is not null)
        {
            var inputs = ReadTensors(first, "input");
            var graphInputs = model.Value.Graph.Input.Where(i => !model.Value.Graph.Initializer.Any(t => t.Name == i.Name)).ToList();
            if (inputs.Value is { } ts)
                for (int i = 0; i < Math.Min(ts.Count, graphInputs.Count); i++)
                {
                    var declared = graphInputs[i].Type?.TensorType?.ElemType == (int)OnnxProto.TensorProto.Types.DataType.Bfloat16;
                    feeds.Add(new FeedSpec(graphInputs[i].Name, declared ? ts[i].Type.WithElement(ElementType.BF16) : ts[i].Type));
                }
        }
        return OnnxImporter.Import(model.Value, directory, new ImportOptions { Feeds = feeds }, Path.Combine(directory, "model.onnx"));
    }

    public IEnumerable<(string Name, Result<DataSet> Data)> DataSets()
    {
        foreach (var dir in DataSetDirectories())
        {
            var inputs = ReadTensors(dir, "input");
            var outputs = ReadTensors(dir, "output");
            var name = Path.GetFileName(dir);
            if (!inputs.Ok) yield return (name, Result<DataSet>.Failure(inputs.Diagnostics));
            else if (!outputs.Ok) yield return (name, Result<DataSet>.Failure(outputs.Diagnostics));
            else yield return (name, Result<DataSet>.Success(new DataSet(AsBFloat16Where(inputs.Value!), outputs.Value!, Rtol, Atol)));
        }
    }

    /// <summary>
    /// ONNX 1.12's case generators store bfloat16 tensors as uint16 bit patterns; such inputs are
    /// reinterpreted (not converted) where the model takes bf16, and expected u16 outputs are
    /// compared bit for bit with bf16 results (<see cref="TensorComparison"/>).
    /// </summary>
    private IReadOnlyList<Tensor> AsBFloat16Where(IReadOnlyList<Tensor> inputs)
    {
        var model = OnnxFiles.ReadModel(Path.Combine(directory, "model.onnx")).Value;
        if (model is null) return inputs;
        var graphInputs = model.Graph.Input.Where(i => !model.Graph.Initializer.Any(t => t.Name == i.Name)).ToList();
        return [.. inputs.Select((t, i) =>
            i < graphInputs.Count && t.Element == ElementType.U16 &&
            graphInputs[i].Type?.TensorType?.ElemType == (int)OnnxProto.TensorProto.Types.DataType.Bfloat16
                ? Tensor.FromBytes(t.Type.WithElement(ElementType.BF16), t.Bytes)
                : t)];
    }

    private IEnumerable<string> DataSetDirectories() =>
        Directory.EnumerateDirectories(directory, "test_data_set_*").Order(StringComparer.Ordinal);

    private static Result<IReadOnlyList<Tensor>> ReadTensors(string dir, string prefix)
    {
        var list = new List<Tensor>();
        for (int k = 0; ; k++)
        {
            var path = Path.Combine(dir, $"{prefix}_{k}.pb");
            if (!File.Exists(path)) break;
            var bytes = ProtoFiles.ReadAllBytes(path);
            if (bytes.Value is null) return Result<IReadOnlyList<Tensor>>.Failure(bytes.Diagnostics);
            var proto = ProtoFiles.ParseBinary(OnnxProto.TensorProto.Parser, bytes.Value, path);
            if (proto.Value is null) return Result<IReadOnlyList<Tensor>>.Failure(proto.Diagnostics);
            var t = TensorProtoConverter.FromOnnx(proto.Value, dir);
            if (t.Value is null) return Result<IReadOnlyList<Tensor>>.Failure(new Diagnostic($"{path}: {t.Diagnostics[0].Message}", Code: Diagnostic.UnsupportedOp));
            list.Add(t.Value);
        }
        return Result<IReadOnlyList<Tensor>>.Success(list);
    }
}
