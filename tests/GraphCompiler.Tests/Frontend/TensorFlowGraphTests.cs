using Google.Protobuf;
using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.TensorFlow;
using GraphCompiler.IR;

namespace GraphCompiler.Tests.Frontend;

/// <summary>Builds small TF GraphDefs in code, imports them and runs them on the reference interpreter.</summary>
public sealed class TfGraph
{
    public GraphDef Def { get; } = new();
    private readonly List<(string Name, Tensor Value)> _feeds = [];

    public static DataType DType(ElementType e) => e switch
    {
        ElementType.F32 => DataType.DtFloat, ElementType.F64 => DataType.DtDouble, ElementType.F16 => DataType.DtHalf,
        ElementType.BF16 => DataType.DtBfloat16, ElementType.I8 => DataType.DtInt8, ElementType.I16 => DataType.DtInt16,
        ElementType.I32 => DataType.DtInt32, ElementType.I64 => DataType.DtInt64, ElementType.U8 => DataType.DtUint8,
        ElementType.U16 => DataType.DtUint16, ElementType.U32 => DataType.DtUint32, ElementType.U64 => DataType.DtUint64,
        _ => DataType.DtBool,
    };

    public static AttrValue Ty(ElementType e) => new() { Type = DType(e) };
    public static AttrValue Ty(DataType d) => new() { Type = d };
    public static AttrValue I(long v) => new() { I = v };
    public static AttrValue F(float v) => new() { F = v };
    public static AttrValue B(bool v) => new() { B = v };
    public static AttrValue S(string v) => new() { S = ByteString.CopyFromUtf8(v) };
    public static AttrValue Ints(params long[] v) => new() { List = new AttrValue.Types.ListValue { I = { v } } };
    public static AttrValue Func(string name) => new() { Func = new NameAttrList { Name = name } };

    public static TensorShapeProto Shape(IEnumerable<long> dims)
    {
        var s = new TensorShapeProto();
        foreach (var d in dims) s.Dim.Add(new TensorShapeProto.Types.Dim { Size = d });
        return s;
    }

    public static TensorProto Proto(Tensor t) => new()
    {
        Dtype = DType(t.Element),
        TensorShape = Shape(t.Type.Shape),
        TensorContent = ByteString.CopyFrom(t.Bytes),
    };

    public static NodeDef MakeNode(string name, string op, string[] inputs, params (string Key, AttrValue Value)[] attrs)
    {
        var n = new NodeDef { Name = name, Op = op };
        n.Input.AddRange(inputs);
        foreach (var (k, v) in attrs) n.Attr[k] = v;
        return n;
    }

    public TfGraph Node(string name, string op, string[] inputs, params (string Key, AttrValue Value)[] attrs)
    {
        Def.Node.Add(MakeNode(name, op, inputs, attrs));
        return this;
    }

    /// <summary>A Placeholder fed with <paramref name="value"/> (its declared shape is <paramref name="value"/>'s unless given).</summary>
    public TfGraph Placeholder(string name, Tensor value, long[]? declared = null)
    {
        _feeds.Add((name, value));
        return Node(name, "Placeholder", [], ("dtype", Ty(value.Element)), ("shape", new AttrValue { Shape = Shape(declared ?? [.. value.Type.Shape]) }));
    }

    public TfGraph Const(string name, Tensor value) =>
        Node(name, "Const", [], ("dtype", Ty(value.Element)), ("value", new AttrValue { Tensor = Proto(value) }));

    public Result<Module> Import(params string[] fetches) =>
        TensorFlowImporter.Import(Def, new ImportOptions { Fetches = fetches }, "<test>");

    /// <summary>Imports (placeholders become the arguments in graph order), runs, returns the fetched tensors.</summary>
    public IReadOnlyList<Tensor> Run(params string[] fetches)
    {
        var m = Import(fetches);
        Assert.True(m.Ok, string.Join("\n", m.Diagnostics));
        var r = new Interpreter(m.Value!).Run(null, [.. _feeds.Select(f => f.Value)]);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        return r.Value!.Results;
    }

    public Tensor Run1(string fetch) => Run(fetch)[0];

    public static void Close(Tensor expected, Tensor actual, double tol = 1e-6)
    {
        Assert.Equal(expected.Type, actual.Type);
        for (long i = 0; i < expected.ElementCount; i++)
        {
            double e = expected.GetDouble(i), a = actual.GetDouble(i);
            if (double.IsNaN(e)) Assert.True(double.IsNaN(a), $"element {i}: expected NaN, got {a}");
            else Assert.True(Math.Abs(e - a) <= tol + tol * Math.Abs(e), $"element {i}: expected {e}, got {a} (all: {actual})");
        }
    }
}

public sealed class TensorFlowGraphTests
{
    [Fact]
    public void ConstantsRoundTripThroughTensorProtos()
    {
        var g = new TfGraph().Const("c", T.I32([2, 2], 1, 2, 3, 4));
        Assert.Equal(T.I32([2, 2], 1, 2, 3, 4), g.Run1("c"));
    }
}
