using GraphCompiler.IR;

namespace GraphCompiler.Frontend;

/// <summary>
/// A feed: a tensor the caller provides. <see cref="Name"/> is <c>node[:port]</c> for GraphDefs, the
/// signature's input key for SavedModels, or the graph input name for ONNX. <see cref="Type"/>, when
/// given, fixes the dtype and resolves unknown dimensions; the importer checks it against the graph.
/// </summary>
public sealed record FeedSpec(string Name, TensorType? Type = null);

/// <summary>What to import from a serialized graph.</summary>
public sealed record ImportOptions
{
    /// <summary>Feeds; empty means the graph's own inputs (placeholders, signature inputs, ONNX inputs).</summary>
    public IReadOnlyList<FeedSpec> Feeds { get; init; } = [];

    /// <summary>Fetches (<c>node[:port]</c>, signature output keys, ONNX output names); empty means the graph's outputs.</summary>
    public IReadOnlyList<string> Fetches { get; init; } = [];

    /// <summary>A tfcompile-style config (<c>tf2xla.Config</c> text proto) giving feeds, fetches and variables.</summary>
    public string? ConfigPath { get; init; }

    /// <summary>SavedModel: the signature key (default <c>serving_default</c>, else the only one).</summary>
    public string? Signature { get; init; }

    /// <summary>SavedModel: the MetaGraph tag set, comma-separated (default <c>serve</c>).</summary>
    public string? Tags { get; init; }

    /// <summary>
    /// Graph inputs bound to values at compile time (XLA's compile-time constant arguments): they are
    /// not arguments of the compiled function. Shapes, axes and sizes that a graph takes as inputs must
    /// be bound this way, since compiled code has static shapes.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> ConstantInputs { get; init; } = new Dictionary<string, Tensor>();

    /// <summary>Name of the function the import produces.</summary>
    public string FunctionName { get; init; } = "main";
}

/// <summary>
/// Collects everything an import cannot take, so that it is reported once and completely: each
/// unsupported op type with its count and first few node names, each missing shape, each unreadable
/// constant.
/// </summary>
public sealed class ImportProblems
{
    private readonly string _source;
    private readonly Dictionary<string, List<string>> _unsupported = new(StringComparer.Ordinal);
    private readonly List<string> _other = [];

    public ImportProblems(string source) => _source = source;

    public bool Any => _unsupported.Count > 0 || _other.Count > 0 || _constants.Count > 0;

    /// <summary>An op type with no lowering (or a lowering that cannot take this node's attributes).</summary>
    public void Unsupported(string opType, string nodeName)
    {
        if (!_unsupported.TryGetValue(opType, out var nodes)) _unsupported[opType] = nodes = [];
        nodes.Add(nodeName);
    }

    /// <summary>A graph input whose value a node needs at compile time (a shape, axes, a size).</summary>
    public void NeedsConstant(string inputName, string nodeName, string what)
    {
        if (_constants.Any(c => c.Input == inputName)) return;
        _constants.Add((inputName, $"input '{inputName}' must be known at compile time ({what} of node '{nodeName}'); bind it to a value (ImportOptions.ConstantInputs, gcc-cli --constant {inputName}=FILE.npy)"));
    }

    private readonly List<(string Input, string Message)> _constants = [];

    /// <summary>The input named by a <see cref="NeedsConstant"/> diagnostic, or null.</summary>
    public static string? ConstantInputOf(Diagnostic d) =>
        d.Code is { } c && c.StartsWith(ConstantInputCode, StringComparison.Ordinal) ? c[ConstantInputCode.Length..] : null;

    public const string ConstantInputCode = "constant-input:";

    /// <summary>Any other problem: a missing shape, an unreadable constant, a bad attribute. Name the node.</summary>
    public void Error(string message) => _other.Add(message);

    public IReadOnlyCollection<string> UnsupportedOpTypes => _unsupported.Keys;

    /// <summary>
    /// The diagnostics, one line each: names from a corrupt file may hold control characters, which are
    /// shown escaped so that a message never spans lines.
    /// </summary>
    public IReadOnlyList<Diagnostic> ToDiagnostics() =>
        [.. RawDiagnostics().Select(d => d with { Message = OneLine(d.Message) })];

    private static string OneLine(string s) => Diagnostic.Printable(s);

    private IReadOnlyList<Diagnostic> RawDiagnostics()
    {
        var d = new List<Diagnostic>();
        foreach (var (op, nodes) in _unsupported.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var first = string.Join(", ", nodes.Take(3).Select(n => $"'{n}'"));
            var more = nodes.Count > 3 ? $", and {nodes.Count - 3} more" : "";
            d.Add(new Diagnostic($"{_source}: unsupported op {op} ({nodes.Count} node{(nodes.Count == 1 ? "" : "s")}: {first}{more})",
                Code: Diagnostic.UnsupportedOp));
        }
        d.AddRange(_constants.Select(c => new Diagnostic($"{_source}: {c.Message}", Code: ConstantInputCode + c.Input)));
        d.AddRange(_other.Select(m => new Diagnostic($"{_source}: {m}")));
        return d;
    }
}
