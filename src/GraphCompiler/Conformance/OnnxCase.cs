using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Onnx;
using GraphCompiler.Frontend.Protobuf;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR;
using OnnxProto = GraphCompiler.Frontend.Proto.Onnx;

namespace GraphCompiler.Conformance;

/// <summary>An ONNX backend test case: <c>model.onnx</c> plus <c>test_data_set_N/input_K.pb, output_K.pb</c>.</summary>
public sealed class OnnxCase(string directory) : IConformanceCase
{
    public const double Rtol = 1e-3, Atol = 1e-5;

    public static bool IsCase(string dir) => File.Exists(Path.Combine(dir, "model.onnx"));

    public string Name { get; } = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));

    /// <summary>Graph inputs bound at compile time (by position among the non-initializer inputs).</summary>
    private readonly Dictionary<int, Tensor> _bound = [];

    private List<string> _inputNames = [];

    /// <summary>
    /// Imports with every input's shape taken from the first data set. When a node needs an input's
    /// value at compile time (a shape, axes, pads — ONNX node tests pass these as inputs), the import
    /// is repeated with those inputs bound to the first data set's values, as a user of a static-shape
    /// compiler would bind them; the data sets must then agree on those values.
    /// </summary>
    public Result<Module> Import()
    {
        var path = Path.Combine(directory, "model.onnx");
        var model = OnnxFiles.ReadModel(path);
        if (model.Value is null) return Result<Module>.Failure(model.Diagnostics);
        var g = model.Value.Graph;
        var graphInputs = g.Input.Where(i => !g.Initializer.Any(t => t.Name == i.Name)).ToList();
        _inputNames = [.. graphInputs.Select(i => i.Name)];
        var first = DataSetDirectories().FirstOrDefault();
        IReadOnlyList<Tensor> firstInputs = first is null ? [] : ReadTensors(first, "input").Value is { } ts ? AsBFloat16Where(ts) : [];

        var feeds = new List<FeedSpec>();
        for (int i = 0; i < Math.Min(firstInputs.Count, graphInputs.Count); i++) feeds.Add(new FeedSpec(graphInputs[i].Name, firstInputs[i].Type));
        var options = new ImportOptions { Feeds = feeds };
        var result = OnnxImporter.Import(model.Value, directory, options, path);
        for (int attempt = 0; attempt < 8 && !result.Ok; attempt++)
        {
            var wanted = result.Diagnostics.Select(ImportProblems.ConstantInputOf).OfType<string>().ToList();
            if (wanted.Count == 0) break;
            foreach (var name in wanted)
            {
                int k = _inputNames.IndexOf(name);
                if (k < 0 || k >= firstInputs.Count) return result;
                _bound[k] = firstInputs[k];
            }
            options = options with
            {
                Feeds = [.. feeds.Where(f => !_bound.Keys.Any(k => _inputNames[k] == f.Name))],
                ConstantInputs = _bound.ToDictionary(p => _inputNames[p.Key], p => p.Value),
            };
            result = OnnxImporter.Import(model.Value, directory, options, path);
        }
        return result;
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
            else
            {
                var all = AsBFloat16Where(inputs.Value!);
                var differs = _bound.FirstOrDefault(p => p.Key >= all.Count || !all[p.Key].Equals(p.Value));
                if (differs.Value is not null)
                    yield return (name, Result<DataSet>.Failure(new Diagnostic($"input '{_inputNames[differs.Key]}' is bound at compile time but differs in this data set")));
                else
                    yield return (name, Result<DataSet>.Success(new DataSet([.. all.Where((_, k) => !_bound.ContainsKey(k))], outputs.Value!, Rtol, Atol)));
            }
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
