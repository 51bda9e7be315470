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

    /// <summary>Graph inputs bound at compile time, by name (tensor inputs only).</summary>
    private readonly Dictionary<string, Tensor> _bound = new(StringComparer.Ordinal);

    private List<OnnxProto.ValueInfoProto> _inputs = [], _outputs = [];

    /// <summary>
    /// Imports with every input's shape taken from the first data set, and a sequence input's length too: its
    /// elements are fed as <c>name[k]</c>, an absent optional not at all (see docs/frontends.md). When a node needs
    /// an input's value at compile time (a shape, axes, pads — ONNX node tests pass these as inputs), the import
    /// is repeated with those inputs bound to the first data set's values, as a user of a static-shape
    /// compiler would bind them; the data sets must then agree on those values.
    /// </summary>
    public Result<Module> Import()
    {
        var path = Path.Combine(directory, "model.onnx");
        var model = OnnxFiles.ReadModel(path);
        if (model.Value is null) return Result<Module>.Failure(model.Diagnostics);
        var g = model.Value.Graph;
        _inputs = [.. g.Input.Where(i => !g.Initializer.Any(t => t.Name == i.Name))];
        _outputs = [.. g.Output];
        var first = DataSetDirectories().FirstOrDefault();
        var firstInputs = first is null ? [] : ReadValues(first, "input", _inputs).Value ?? [];

        var feeds = firstInputs.Select(p => new FeedSpec(p.Name, p.Value.Type)).ToList();
        var options = new ImportOptions { Feeds = feeds };
        var result = OnnxImporter.Import(model.Value, directory, options, path);
        for (int attempt = 0; attempt < 8 && !result.Ok; attempt++)
        {
            var wanted = result.Diagnostics.Select(ImportProblems.ConstantInputOf).OfType<string>().ToList();
            if (wanted.Count == 0) break;
            foreach (var name in wanted)
            {
                var fed = firstInputs.FirstOrDefault(p => p.Name == name);
                if (fed.Value is null) return result;
                _bound[name] = fed.Value;
            }
            options = options with
            {
                Feeds = [.. feeds.Where(f => !_bound.ContainsKey(f.Name))],
                ConstantInputs = _bound,
            };
            result = OnnxImporter.Import(model.Value, directory, options, path);
        }
        return result;
    }

    public IEnumerable<(string Name, Result<DataSet> Data)> DataSets()
    {
        foreach (var dir in DataSetDirectories())
        {
            var inputs = ReadValues(dir, "input", _inputs);
            var outputs = ReadValues(dir, "output", _outputs);
            var name = Path.GetFileName(dir);
            if (!inputs.Ok) yield return (name, Result<DataSet>.Failure(inputs.Diagnostics));
            else if (!outputs.Ok) yield return (name, Result<DataSet>.Failure(outputs.Diagnostics));
            else
            {
                var all = inputs.Value!;
                var differs = _bound.Keys.FirstOrDefault(b => !all.Any(p => p.Name == b && p.Value.Equals(_bound[b])));
                if (differs is not null)
                    yield return (name, Result<DataSet>.Failure(new Diagnostic($"input '{differs}' is bound at compile time but differs in this data set")));
                else
                    yield return (name, Result<DataSet>.Success(new DataSet([.. all.Where(p => !_bound.ContainsKey(p.Name)).Select(p => p.Value)],
                        [.. outputs.Value!.Select(p => p.Value)], Rtol, Atol, [.. outputs.Value!.Select(p => p.Name)])));
            }
        }
    }

    /// <summary>
    /// The tensors of <c>PREFIX_K.pb</c>, each read as its graph input's or output's type says (a TensorProto, a
    /// SequenceProto, an OptionalProto) and flattened as the importer names function arguments and results:
    /// <c>name</c>, sequence element <c>name[k]</c>, nothing for an absent optional.
    /// </summary>
    private Result<IReadOnlyList<(string Name, Tensor Value)>> ReadValues(string dir, string prefix, IReadOnlyList<OnnxProto.ValueInfoProto> infos)
    {
        var list = new List<(string, Tensor)>();
        for (int k = 0; ; k++)
        {
            var path = Path.Combine(dir, $"{prefix}_{k}.pb");
            if (!File.Exists(path)) break;
            var bytes = ProtoFiles.ReadAllBytes(path);
            if (bytes.Value is null) return Result<IReadOnlyList<(string, Tensor)>>.Failure(bytes.Diagnostics);
            var info = k < infos.Count ? infos[k] : null;
            var name = info?.Name ?? $"{prefix}_{k}";
            var type = info?.Type;
            var tensors = new List<(string, OnnxProto.TensorProto)>();
            if (OnnxTypes.IsOptional(type))
            {
                var opt = ProtoFiles.ParseBinary(OnnxProto.OptionalProto.Parser, bytes.Value, path);
                if (opt.Value is null) return Result<IReadOnlyList<(string, Tensor)>>.Failure(opt.Diagnostics);
                if (opt.Value.TensorValue is { } t) tensors.Add((name, t));
                else if (opt.Value.SequenceValue is { } s) tensors.AddRange(s.TensorValues.Select((e, i) => (OnnxValue.ElementName(name, i), e)));
            }
            else if (OnnxTypes.IsSequence(type))
            {
                var seq = ProtoFiles.ParseBinary(OnnxProto.SequenceProto.Parser, bytes.Value, path);
                if (seq.Value is null) return Result<IReadOnlyList<(string, Tensor)>>.Failure(seq.Diagnostics);
                tensors.AddRange(seq.Value.TensorValues.Select((e, i) => (OnnxValue.ElementName(name, i), e)));
            }
            else
            {
                var proto = ProtoFiles.ParseBinary(OnnxProto.TensorProto.Parser, bytes.Value, path);
                if (proto.Value is null) return Result<IReadOnlyList<(string, Tensor)>>.Failure(proto.Diagnostics);
                tensors.Add((name, proto.Value));
            }
            foreach (var (n, proto) in tensors)
            {
                var t = TensorProtoConverter.FromOnnx(proto, dir);
                if (t.Value is null) return Result<IReadOnlyList<(string, Tensor)>>.Failure(new Diagnostic($"{path}: {t.Diagnostics[0].Message}", Code: Diagnostic.UnsupportedOp));
                list.Add((n, prefix == "input" ? AsBFloat16Where(t.Value, type) : t.Value));
            }
        }
        return Result<IReadOnlyList<(string, Tensor)>>.Success(list);
    }

    /// <summary>
    /// ONNX 1.12's case generators store bfloat16 tensors as uint16 bit patterns; such inputs are
    /// reinterpreted (not converted) where the model takes bf16, and expected u16 outputs are
    /// compared bit for bit with bf16 results (<see cref="TensorComparison"/>).
    /// </summary>
    private static Tensor AsBFloat16Where(Tensor t, OnnxProto.TypeProto? declared) =>
        t.Element == ElementType.U16 && OnnxTypes.InnerTensor(declared)?.ElemType == (int)OnnxProto.TensorProto.Types.DataType.Bfloat16
            ? Tensor.FromBytes(t.Type.WithElement(ElementType.BF16), t.Bytes)
            : t;

    private IEnumerable<string> DataSetDirectories() =>
        Directory.EnumerateDirectories(directory, "test_data_set_*").Order(StringComparer.Ordinal);
}
