using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.TensorFlow.Checkpoints;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow;

/// <summary>
/// One input or output of a signature: the key callers use, the graph tensor it maps to
/// (<c>node:port</c>; null for sparse/composite encodings), its dtype, and its static shape
/// (null = unknown rank; -1 = unknown dimension).
/// </summary>
public sealed record SignatureTensor(string Key, string? TensorName, DataType DType, IReadOnlyList<long>? Shape);

/// <summary>A SignatureDef in plain terms; inputs and outputs sorted by key.</summary>
public sealed record Signature(string Key, string MethodName, IReadOnlyList<SignatureTensor> Inputs, IReadOnlyList<SignatureTensor> Outputs);

/// <summary>A loaded SavedModel: the chosen MetaGraphDef, its graph and signatures, and where its variables are.</summary>
public sealed class SavedModelBundle
{
    public required string Directory { get; init; }
    public required string ModelFile { get; init; }
    public required SavedModel Proto { get; init; }
    public required MetaGraphDef MetaGraph { get; init; }
    public GraphDef Graph => MetaGraph.GraphDef ?? new GraphDef();
    public IReadOnlyList<string> Tags => MetaGraph.MetaInfoDef?.Tags ?? (IReadOnlyList<string>)[];

    /// <summary>Signatures by key (ordinal order).</summary>
    public required IReadOnlyDictionary<string, Signature> Signatures { get; init; }

    /// <summary>The checkpoint prefix <c>DIR/variables/variables</c>, or null when the model has no variables index.</summary>
    public string? VariablesPrefix => File.Exists(Path.Combine(Directory, "variables", "variables.index"))
        ? Path.Combine(Directory, "variables", "variables") : null;

    /// <summary>The variables checkpoint; a model without one has an empty set.</summary>
    public Result<CheckpointVariables> ReadVariables()
    {
        if (VariablesPrefix is not { } prefix)
            return Result<CheckpointVariables>.Success(new CheckpointVariables(new Dictionary<string, Tensor>(), []));
        var bundle = TensorBundle.Open(prefix);
        return bundle.Value is { } b ? b.ReadAll() : Result<CheckpointVariables>.Failure(bundle.Diagnostics);
    }
}

/// <summary>Loads a SavedModel folder (<c>saved_model.pb</c> or <c>saved_model.pbtxt</c>, <c>variables/</c>).</summary>
public static class SavedModelLoader
{
    public const string ServeTag = "serve";

    /// <summary>
    /// Loads the MetaGraphDef whose tag set equals <paramref name="tags"/>; without tags, the one
    /// tagged exactly "serve", else the only one.
    /// </summary>
    public static Result<SavedModelBundle> Load(string directory, IReadOnlyCollection<string>? tags = null)
    {
        if (!System.IO.Directory.Exists(directory))
            return Fail($"{directory}: SavedModel folder does not exist");
        var pb = Path.Combine(directory, "saved_model.pb");
        var pbtxt = Path.Combine(directory, "saved_model.pbtxt");
        var file = File.Exists(pb) ? pb : File.Exists(pbtxt) ? pbtxt : null;
        if (file is null) return Fail($"{directory}: no saved_model.pb or saved_model.pbtxt in the SavedModel folder");
        var read = TensorFlowFiles.ReadSavedModelFile(file);
        if (read.Value is not { } model) return Result<SavedModelBundle>.Failure(read.Diagnostics);
        if (model.MetaGraphs.Count == 0) return Fail($"{file}: SavedModel has no MetaGraphDef");

        static string TagSet(MetaGraphDef m) => "{" + string.Join(", ", (m.MetaInfoDef?.Tags ?? []).Order(StringComparer.Ordinal)) + "}";
        static bool SameTags(MetaGraphDef m, IEnumerable<string> want) =>
            (m.MetaInfoDef?.Tags ?? []).ToHashSet(StringComparer.Ordinal).SetEquals(want);

        MetaGraphDef? chosen;
        if (tags is not null)
        {
            chosen = model.MetaGraphs.FirstOrDefault(m => SameTags(m, tags));
            if (chosen is null)
                return Fail($"{file}: no MetaGraphDef tagged {{{string.Join(", ", tags.Order(StringComparer.Ordinal))}}}; available: {string.Join(", ", model.MetaGraphs.Select(TagSet))}");
        }
        else
        {
            chosen = model.MetaGraphs.FirstOrDefault(m => SameTags(m, [ServeTag]))
                ?? (model.MetaGraphs.Count == 1 ? model.MetaGraphs[0] : null);
            if (chosen is null)
                return Fail($"{file}: {model.MetaGraphs.Count} MetaGraphDefs and none tagged {{serve}}; pick one by tags: {string.Join(", ", model.MetaGraphs.Select(TagSet))}");
        }
        return Result<SavedModelBundle>.Success(new SavedModelBundle
        {
            Directory = directory,
            ModelFile = file,
            Proto = model,
            MetaGraph = chosen,
            Signatures = Signatures(chosen),
        });
    }

    /// <summary>The signatures of a MetaGraphDef (SavedModel or <c>.meta</c>), by key.</summary>
    public static IReadOnlyDictionary<string, Signature> Signatures(MetaGraphDef meta)
    {
        var result = new SortedDictionary<string, Signature>(StringComparer.Ordinal);
        foreach (var (key, sig) in meta.SignatureDef)
            result[key] = new Signature(key, sig.MethodName, Tensors(sig.Inputs), Tensors(sig.Outputs));
        return result;
    }

    private static List<SignatureTensor> Tensors(IDictionary<string, TensorInfo> map) =>
        map.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new SignatureTensor(kv.Key,
                kv.Value.EncodingCase == TensorInfo.EncodingOneofCase.Name ? kv.Value.Name : null,
                kv.Value.Dtype, ShapeOf(kv.Value.TensorShape)))
            .ToList();

    /// <summary>A TF shape as dims (-1 unknown), or null for unknown rank. An absent shape is a scalar, as in TF.</summary>
    public static IReadOnlyList<long>? ShapeOf(TensorShapeProto? shape) =>
        shape is null ? [] : shape.UnknownRank ? null : shape.Dim.Select(d => d.Size).ToList();

    private static Result<SavedModelBundle> Fail(string message) => Result<SavedModelBundle>.Failure(new Diagnostic(message));
}
