using System.Collections.Immutable;
using System.Text;
using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Proto.Onnx;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx;

/// <summary>
/// What a lowering sees of one ONNX node: its inputs as IR values (constants known at import time
/// are available through <see cref="Known"/>), its attributes with defaults, the opset, and where to
/// put its outputs.
/// </summary>
public sealed class OnnxNode
{
    private readonly OnnxScope _scope;
    private readonly Dictionary<string, AttributeProto> _attrs = new(StringComparer.Ordinal);

    internal OnnxNode(NodeProto proto, OnnxScope scope, long opset)
    {
        Proto = proto;
        _scope = scope;
        Opset = opset;
        foreach (var a in proto.Attribute) _attrs[a.Name] = a;
    }

    public NodeProto Proto { get; }
    public long Opset { get; }
    public string OpType => Proto.OpType;
    public string Name => Proto.Name.Length > 0 ? Proto.Name : Proto.Output.FirstOrDefault(o => o.Length > 0) ?? OpType;
    public Lowerer L => _scope.Lowerer;

    // ---- inputs ------------------------------------------------------------------------------------

    public int InputCount => Proto.Input.Count;

    /// <summary>True when input <paramref name="i"/> is present (ONNX marks omitted optional inputs with "").</summary>
    public bool Has(int i) => i < Proto.Input.Count && Proto.Input[i].Length > 0;

    public Value Input(int i)
    {
        if (!Has(i)) throw new LoweringException($"input #{i} is required");
        return _scope.Lookup(Proto.Input[i]);
    }

    public Value? Optional(int i) => Has(i) ? Input(i) : null;

    /// <summary>Input <paramref name="i"/> whatever its kind: a tensor, a sequence, an optional (see <see cref="OnnxValue"/>).</summary>
    public OnnxValue AnyInput(int i)
    {
        if (!Has(i)) throw new LoweringException($"input #{i} is required");
        return _scope.LookupAny(Proto.Input[i]);
    }

    /// <summary>Input <paramref name="i"/>, which must be a sequence: its elements.</summary>
    public ImmutableArray<Value> SequenceInput(int i) => AnyInput(i) switch
    {
        OnnxValue.OfSequence s => s.Elements,
        var other => throw Error($"input #{i} ('{Proto.Input[i]}') is a {other.Describe()}, expected a sequence"),
    };

    /// <summary>All present inputs (variadic ops such as Sum, Concat).</summary>
    public IReadOnlyList<Value> Inputs => [.. Enumerable.Range(0, InputCount).Where(Has).Select(Input)];

    public Tensor? Known(int i) => Has(i) ? L.Known(Input(i)) : null;

    /// <summary>
    /// Input <paramref name="i"/>'s value, which must be known at import time. When it is a graph input,
    /// the error names it so that the caller can bind it (<see cref="ImportOptions.ConstantInputs"/>).
    /// </summary>
    public Tensor RequireKnown(int i, string what)
    {
        var v = Input(i);
        if (L.Known(v) is { } t) return t;
        var inputs = L.UnknownSources(v).Select(_scope.GraphInputName).ToList();
        if (inputs.Count > 0 && inputs.All(n => n is not null))
            throw new LoweringException($"{what} depends on graph input(s) {string.Join(", ", inputs.Select(n => $"'{n}'"))}", constantInputs: inputs!);
        throw Unsupported($"{what} depends on input values (it must be computable at import time)");
    }

    /// <summary>An integer input that must be known at import time (shapes, axes, sizes).</summary>
    public long[] KnownInts(int i, string what)
    {
        var t = RequireKnown(i, what);
        return [.. Enumerable.Range(0, (int)t.ElementCount).Select(k => t.GetInt64(k))];
    }

    // ---- attributes --------------------------------------------------------------------------------

    public bool HasAttr(string name) => _attrs.ContainsKey(name);

    private AttributeProto? Attr(string name) => _attrs.GetValueOrDefault(name);

    public long Int(string name, long dflt) => Attr(name) is { } a ? a.I : dflt;

    public long Int(string name) => Attr(name)?.I ?? throw new LoweringException($"attribute '{name}' is required");

    public float Float(string name, float dflt) => Attr(name) is { } a ? a.F : dflt;

    public string String(string name, string dflt) => Attr(name) is { } a ? Encoding.UTF8.GetString(a.S.Span) : dflt;

    public long[]? Ints(string name) => Attr(name) is { } a ? [.. a.Ints] : null;

    public float[]? Floats(string name) => Attr(name) is { } a ? [.. a.Floats] : null;

    public string[]? Strings(string name) => Attr(name) is { } a ? [.. a.Strings.Select(s => Encoding.UTF8.GetString(s.Span))] : null;

    public Tensor TensorAttr(string name)
    {
        var a = Attr(name) ?? throw new LoweringException($"attribute '{name}' is required");
        var t = TensorProtoConverter.FromOnnx(a.T, _scope.ModelDirectory);
        return t.Value ?? throw new LoweringException(t.Diagnostics[0].Message);
    }

    public GraphProto? Graph(string name) => Attr(name)?.G;

    // ---- outputs -----------------------------------------------------------------------------------

    public int OutputCount => Proto.Output.Count;

    /// <summary>True when output <paramref name="i"/> is wanted (present and named).</summary>
    public bool WantsOutput(int i) => i < Proto.Output.Count && Proto.Output[i].Length > 0;

    public void Output(int i, Value v)
    {
        if (WantsOutput(i)) _scope.Define(Proto.Output[i], v);
    }

    public void OutputAny(int i, OnnxValue v)
    {
        if (WantsOutput(i)) _scope.DefineAny(Proto.Output[i], v);
    }

    public void OutputSequence(int i, IEnumerable<Value> elements) => OutputAny(i, new OnnxValue.OfSequence([.. elements]));

    public void Outputs(params Value[] values)
    {
        for (int i = 0; i < values.Length; i++) Output(i, values[i]);
    }

    /// <summary>An attribute value or input combination this importer does not take.</summary>
    public LoweringException Unsupported(string detail) => new($"{detail}", isUnsupported: true);

    public LoweringException Error(string message) => new(message);

    /// <summary>Lowers a subgraph attribute into a region (see <see cref="OnnxScope.LowerSubgraph"/>).</summary>
    public Region Subgraph(GraphProto g, IReadOnlyList<TensorType> argumentTypes, out ImmutableArray<TensorType> yieldTypes) =>
        _scope.LowerSubgraph(g, argumentTypes, out yieldTypes);

    /// <summary>True when <paramref name="lower"/> lowers without problems; they are not reported (see <see cref="OnnxImportContext.LowersCleanly"/>).</summary>
    public bool LowersCleanly(Action lower) => _scope.LowersCleanly(lower);

    /// <summary>Lowers an If branch into a region yielding its outputs flattened (see <see cref="OnnxScope.LowerBranch"/>).</summary>
    public Region Branch(GraphProto g, out IReadOnlyList<OnnxValue> layout) => _scope.LowerBranch(g, out layout);

    /// <summary>Lowers a subgraph inline with inputs and outputs of any kind (see <see cref="OnnxScope.LowerInlineAny"/>).</summary>
    public IReadOnlyList<OnnxValue> LowerGraphAny(GraphProto g, Lowerer lowerer, IReadOnlyList<OnnxValue> inputs) =>
        _scope.LowerInlineAny(g, lowerer, inputs);

    /// <summary>Lowers a subgraph inline with <paramref name="lowerer"/>, its inputs bound to <paramref name="inputs"/> (see <see cref="OnnxScope.LowerInline"/>).</summary>
    public IReadOnlyList<Value> LowerGraph(GraphProto g, Lowerer lowerer, IReadOnlyList<Value> inputs) =>
        _scope.LowerInline(g, lowerer, inputs);

    /// <summary>
    /// Adds to the module a function computing the tensor <paramref name="result"/> of this graph from the tensors
    /// <paramref name="arguments"/> (see <see cref="OnnxScope.LowerFunction"/>); ONNX's Gradient names what it differentiates this way.
    /// </summary>
    public Function LowerFunction(string stem, IReadOnlyList<string> arguments, IReadOnlyList<TensorType> argumentTypes, string result) =>
        _scope.LowerFunction(stem, arguments, argumentTypes, result);
}
