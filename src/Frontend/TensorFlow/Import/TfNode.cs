using System.Text;
using GraphCompiler.Frontend.TensorFlow.Ops;
using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Import;

/// <summary>
/// What a lowering sees of one TF node: its data inputs as IR values (import-time constants through
/// <see cref="Known"/>), its attributes, and where its outputs go (flat ports, as GraphDefs number them).
/// </summary>
public sealed class TfNode
{
    private readonly TfScope _scope;
    private readonly List<TensorName> _inputs;

    internal TfNode(NodeDef proto, TfScope scope)
    {
        Proto = proto;
        _scope = scope;
        _inputs = [.. TfScope.DataInputs(proto)];
    }

    public NodeDef Proto { get; }
    public string Name => Proto.Name;
    public string Op => Proto.Op;
    public Lowerer L => _scope.Lowerer;
    internal TfScope Scope => _scope;
    internal TfImportContext Ctx => _scope.Ctx;

    // ---- inputs ------------------------------------------------------------------------------------

    public int InputCount => _inputs.Count;

    public TensorName InputName(int i) => _inputs[i];

    /// <summary>Input <paramref name="i"/> as bound: a <see cref="Value"/> or a <see cref="TfResource"/>.</summary>
    public object Raw(int i)
    {
        if (i >= _inputs.Count) throw new LoweringException($"needs input #{i}, has {_inputs.Count}");
        return _scope.Lookup(_inputs[i]);
    }

    /// <summary>Input <paramref name="i"/> as a tensor; a variable (ref or resource) reads its current value.</summary>
    public Value Input(int i) => Raw(i) switch
    {
        Value v => v,
        TfResource r => TfVariables.Read(this, r),
        var o => throw new LoweringException($"input #{i} is a {o}, not a tensor"),
    };

    public IReadOnlyList<Value> Inputs => [.. Enumerable.Range(0, InputCount).Select(Input)];

    public Tensor? Known(int i) => L.Known(Input(i));

    public long[] KnownInts(int i, string what) => L.KnownInts(Input(i), $"input #{i} ({what})");

    // ---- attributes --------------------------------------------------------------------------------

    public bool HasAttr(string name) => Proto.Attr.ContainsKey(name);

    public AttrValue? Attr(string name) => Proto.Attr.TryGetValue(name, out var a) ? a : null;

    private AttrValue Required(string name) => Attr(name) ?? throw new LoweringException($"attribute '{name}' is required");

    public long Int(string name, long dflt) => Attr(name) is { } a ? a.I : dflt;

    public long Int(string name) => Required(name).I;

    public float Float(string name, float dflt) => Attr(name) is { } a ? a.F : dflt;

    public bool Bool(string name, bool dflt) => Attr(name) is { } a ? a.B : dflt;

    public string String(string name, string dflt) => Attr(name) is { } a ? Encoding.UTF8.GetString(a.S.Span) : dflt;

    public long[]? Ints(string name) => Attr(name) is { List: { } l } ? [.. l.I] : null;

    public DataType DType(string name) => Required(name).Type;

    /// <summary>A dtype attribute as an IR element type (unsupported for strings, complex, ...).</summary>
    public ElementType Type(string name)
    {
        var d = DType(name);
        return FrameworkElementTypes.TryFromTensorFlow(d, out var e, out var reason) ? e : throw Unsupported($"{name}={FrameworkElementTypes.TensorFlowName(d)}: {reason}");
    }

    public Tensor TensorAttr(string name)
    {
        var proto = Required(name).Tensor ?? new TensorProto();
        if (!FrameworkElementTypes.TryFromTensorFlow(proto.Dtype, out _, out _))
            throw Unsupported($"dtype {FrameworkElementTypes.TensorFlowName(proto.Dtype)}");
        var t = TensorProtoConverter.FromTensorFlow(proto, Name);
        if (t.Value is not null) return t.Value;
        var msg = t.Diagnostics[0].Message;
        throw msg.Contains("has no IR element type") ? Unsupported(msg) : Error(msg);
    }

    public NameAttrList Func(string name) => Required(name).Func ?? throw Error($"attribute '{name}' is not a function");

    // ---- outputs -----------------------------------------------------------------------------------

    public void Output(int port, object v) => _scope.SetOutput(Name, port, v);

    public void Outputs(IReadOnlyList<Value> values)
    {
        for (int i = 0; i < values.Count; i++) Output(i, values[i]);
    }

    /// <summary>An op, attribute value or input combination this importer does not take.</summary>
    public LoweringException Unsupported(string detail) => new(detail, isUnsupported: true);

    public LoweringException Error(string message) => new(message);
}
