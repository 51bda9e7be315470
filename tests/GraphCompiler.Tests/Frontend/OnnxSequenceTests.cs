using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Onnx;
using Google.Protobuf;
using P = GraphCompiler.Frontend.Proto.Onnx;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// ONNX sequences and optionals, lowered at import time to lists of tensors (OnnxSequences.cs, OnnxSequenceOps.cs):
/// hand-built models run on the interpreter against numbers worked out by hand, the argument and result naming
/// of sequence inputs and outputs, and the errors for what must be known at import time.
/// </summary>
public sealed class OnnxSequenceTests
{
    private static Tensor F(long[] shape, params double[] v) => Tensor.FromDoubles(new TensorType(ElementType.F32, shape), v);

    private static P.NodeProto Node(string op, string[] inputs, string[] outputs, params P.AttributeProto[] attrs)
    {
        var n = new P.NodeProto { OpType = op, Name = op.ToLowerInvariant() };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attrs);
        return n;
    }

    private static P.AttributeProto Int(string name, long v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Int, I = v };

    private static P.TypeProto TensorType(int elem, params long[] shape)
    {
        var s = new P.TensorShapeProto();
        foreach (var d in shape) s.Dim.Add(new P.TensorShapeProto.Types.Dimension { DimValue = d });
        return new P.TypeProto { TensorType = new P.TypeProto.Types.Tensor { ElemType = elem, Shape = s } };
    }

    private static P.TypeProto Unshaped(int elem) => new() { TensorType = new P.TypeProto.Types.Tensor { ElemType = elem } };

    private static P.TypeProto SequenceOf(P.TypeProto elem) => new() { SequenceType = new P.TypeProto.Types.Sequence { ElemType = elem } };

    private static P.TensorProto I64(string name, long v) => new() { Name = name, DataType = 7, Int64Data = { v } };

    private static P.ModelProto Model(IEnumerable<P.NodeProto> nodes, IEnumerable<(string, P.TypeProto)> inputs, IEnumerable<string> outputs,
        IEnumerable<P.TensorProto>? initializers = null)
    {
        var g = new P.GraphProto { Name = "g" };
        g.Node.AddRange(nodes);
        foreach (var (name, type) in inputs) g.Input.Add(new P.ValueInfoProto { Name = name, Type = type });
        foreach (var o in outputs) g.Output.Add(new P.ValueInfoProto { Name = o });
        g.Initializer.AddRange(initializers ?? []);
        var m = new P.ModelProto { IrVersion = 8, Graph = g };
        m.OpsetImport.Add(new P.OperatorSetIdProto { Domain = "", Version = 17 });
        return m;
    }

    private static IReadOnlyList<Tensor> Run(P.ModelProto model, ImportOptions options, params Tensor[] args)
    {
        var m = OnnxImporter.Import(model, null, options);
        Assert.True(m.Ok, m.Ok ? "" : string.Join("\n", m.Diagnostics.Select(d => d.Message)));
        var r = new Interpreter(m.Value!).Run(null, args);
        Assert.True(r.Ok, r.Ok ? "" : r.Diagnostics[0].Message);
        return r.Value!.Results;
    }

    private static void Equal(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.Type, actual.Type);
        Assert.Equal(Enumerable.Range(0, (int)expected.ElementCount).Select(i => expected.GetDouble(i)), Enumerable.Range(0, (int)actual.ElementCount).Select(i => actual.GetDouble(i)));
    }

    [Fact]
    public void ConstructInsertConcatLength()
    {
        // [a, b] → insert c at 1 → [a, c, b] → concatenated along axis 0; the length is a constant 3.
        var f12 = TensorType(1, 1, 2);
        var model = Model(
            [
                Node("SequenceConstruct", ["a", "b"], ["s"]),
                Node("SequenceInsert", ["s", "c", "pos"], ["s2"]),
                Node("ConcatFromSequence", ["s2"], ["y"], Int("axis", 0)),
                Node("SequenceLength", ["s2"], ["n"]),
            ],
            [("a", f12), ("b", f12), ("c", f12)], ["y", "n"], [I64("pos", 1)]);
        var r = Run(model, new ImportOptions(), F([1, 2], 1, 2), F([1, 2], 3, 4), F([1, 2], 5, 6));
        Equal(F([3, 2], 1, 2, 5, 6, 3, 4), r[0]);
        Assert.Equal(3, r[1].GetInt64(0));
    }

    [Fact]
    public void SplitWithoutKeepdimsThenStackIsATranspose()
    {
        // x [2, 3] split along axis 1 into three [2] columns, stacked along a new axis 0: xᵀ.
        var model = Model(
            [
                Node("SplitToSequence", ["x"], ["cols"], Int("axis", 1), Int("keepdims", 0)),
                Node("ConcatFromSequence", ["cols"], ["y"], Int("axis", 0), Int("new_axis", 1)),
            ],
            [("x", TensorType(1, 2, 3))], ["y"]);
        var r = Run(model, new ImportOptions(), F([2, 3], 0, 1, 2, 3, 4, 5));
        Equal(F([3, 2], 0, 3, 1, 4, 2, 5), r[0]);
    }

    [Fact]
    public void SequenceInputsAndOutputsAreOneArgumentAndResultPerElement()
    {
        // The feeds s[0..2] give the input sequence's length; erasing the last leaves results t[0], t[1].
        var model = Model([Node("SequenceErase", ["s"], ["t"])], [("s", SequenceOf(Unshaped(1)))], ["t"]);
        var f2 = new TensorType(ElementType.F32, 2L);
        var options = new ImportOptions { Feeds = [new FeedSpec("s[0]", f2), new FeedSpec("s[1]", f2), new FeedSpec("s[2]", f2)] };
        var m = OnnxImporter.Import(model, null, options);
        Assert.True(m.Ok, m.Ok ? "" : m.Diagnostics[0].Message);
        var main = m.Value!.Entry;
        Assert.Equal(["t[0]", "t[1]"], Enumerable.Range(0, main.ResultTypes.Length).Select(main.ResultName));
        var r = Run(model, options, F([2], 1, 2), F([2], 3, 4), F([2], 5, 6));
        Equal(F([2], 1, 2), r[0]);
        Equal(F([2], 3, 4), r[1]);
    }

    [Fact]
    public void SequenceMapUnrollsItsBodyPerElement()
    {
        var body = new P.GraphProto { Name = "body" };
        body.Node.Add(Node("Add", ["e", "k"], ["o"]));
        body.Input.Add(new P.ValueInfoProto { Name = "e" });
        body.Input.Add(new P.ValueInfoProto { Name = "k" });
        body.Output.Add(new P.ValueInfoProto { Name = "o" });
        var model = Model(
            [
                Node("SplitToSequence", ["x"], ["s"], Int("axis", 0)),
                Node("SequenceMap", ["s", "k"], ["m"], new P.AttributeProto { Name = "body", Type = P.AttributeProto.Types.AttributeType.Graph, G = body }),
                Node("ConcatFromSequence", ["m"], ["y"], Int("axis", 0)),
            ],
            [("x", TensorType(1, 3, 2)), ("k", TensorType(1, 2))], ["y"]);
        var r = Run(model, new ImportOptions(), F([3, 2], 0, 1, 2, 3, 4, 5), F([2], 10, 20));
        Equal(F([3, 2], 10, 21, 12, 23, 14, 25), r[0]);
    }

    [Fact]
    public void PositionFromAGraphInputMustBeBound()
    {
        var model = Model([Node("SplitToSequence", ["x"], ["s"]), Node("SequenceAt", ["s", "p"], ["y"])],
            [("x", TensorType(1, 3)), ("p", TensorType(7))], ["y"]);
        var m = OnnxImporter.Import(model, null, new ImportOptions());
        Assert.False(m.Ok);
        Assert.Contains(m.Diagnostics, d => ImportProblems.ConstantInputOf(d) == "p" && d.Message.Contains("'sequenceat'"));
        // Bound, it picks element 2 (counted from the end: -1).
        var bound = new ImportOptions { ConstantInputs = new Dictionary<string, Tensor> { ["p"] = Tensor.Scalar(ElementType.I64, -1) } };
        Equal(F([1], 7), Run(model, bound, F([3], 5, 6, 7))[0]);
    }

    [Fact]
    public void LoopGrowingASequenceByADataDependentCountIsAClearError()
    {
        // The body's condition is the graph input b: how many elements the loop appends is known only at run time.
        var body = new P.GraphProto { Name = "body" };
        body.Node.Add(Node("Identity", ["b"], ["c_out"]));
        body.Node.Add(Node("SequenceInsert", ["s_in", "x"], ["s_out"]));
        foreach (var n in new[] { "i", "c_in", "s_in" }) body.Input.Add(new P.ValueInfoProto { Name = n });
        foreach (var n in new[] { "c_out", "s_out" }) body.Output.Add(new P.ValueInfoProto { Name = n });
        var model = Model(
            [
                Node("SequenceEmpty", [], ["s0"]),
                Node("Loop", ["m", "", "s0"], ["s"], new P.AttributeProto { Name = "body", Type = P.AttributeProto.Types.AttributeType.Graph, G = body }),
                Node("ConcatFromSequence", ["s"], ["y"], Int("axis", 0)),
            ],
            [("x", TensorType(1, 2)), ("b", TensorType(9))], ["y"], [I64("m", 3)]);
        var m = OnnxImporter.Import(model, null, new ImportOptions());
        Assert.False(m.Ok);
        var d = Assert.Single(m.Diagnostics);
        Assert.Contains("unsupported op Loop (a loop over sequences whose condition depends on runtime data", d.Message);
        Assert.Contains("'loop'", d.Message);
        // With the condition fixed true the three iterations unroll: x three times.
        var model2 = model.Clone();
        model2.Graph.Node[1].Attribute[0].G.Node[0].Input[0] = "c_in";
        Equal(F([6], 1, 2, 1, 2, 1, 2), Run(model2, new ImportOptions(), F([2], 1, 2), Tensor.Scalar(ElementType.Bool, 1))[0]);
    }

    [Fact]
    public void LoopWhoseBodySlicesByTheIterationNumberIsUnrolled()
    {
        // y += x[i:i+1] for i < 4, the running sums also a scan output: Slice needs i at import time, which a
        // while body cannot give, so with the trip count known the loop is unrolled.
        var body = new P.GraphProto { Name = "body" };
        body.Node.Add(Node("Identity", ["c_in"], ["c_out"]));
        body.Node.Add(Node("Add", ["i", "one"], ["i1"]));
        body.Node.Add(Node("Unsqueeze", ["i", "ax"], ["start"]));
        body.Node.Add(Node("Unsqueeze", ["i1", "ax"], ["end"]));
        body.Node.Add(Node("Slice", ["x", "start", "end"], ["xi"]));
        body.Node.Add(Node("Add", ["y_in", "xi"], ["y_out"]));
        body.Node.Add(Node("Identity", ["y_out"], ["scan"]));
        body.Initializer.Add(I64("one", 1));
        var ax = I64("ax", 0);
        ax.Dims.Add(1);
        body.Initializer.Add(ax);
        foreach (var n in new[] { "i", "c_in", "y_in" }) body.Input.Add(new P.ValueInfoProto { Name = n });
        foreach (var n in new[] { "c_out", "y_out", "scan" }) body.Output.Add(new P.ValueInfoProto { Name = n });
        var x = new P.TensorProto { Name = "x", DataType = 1, FloatData = { 1, 2, 3, 4 } };
        x.Dims.Add(4);
        var model = Model(
            [Node("Loop", ["m", "", "y"], ["y_final", "sums"], new P.AttributeProto { Name = "body", Type = P.AttributeProto.Types.AttributeType.Graph, G = body })],
            [("y", TensorType(1, 1))], ["y_final", "sums"], [I64("m", 4), x]);
        var r = Run(model, new ImportOptions(), F([1], 0));
        Equal(F([1], 10), r[0]);
        Equal(F([4, 1], 1, 3, 6, 10), r[1]);
    }

    [Fact]
    public void SequenceInputWithoutElementFeedsSaysHowToFeedIt()
    {
        var model = Model([Node("Identity", ["s"], ["t"])], [("s", SequenceOf(Unshaped(1)))], ["t"]);
        var m = OnnxImporter.Import(model, null, new ImportOptions());
        Assert.False(m.Ok);
        Assert.Contains("'s[0]'", m.Diagnostics[0].Message);
    }

    [Fact]
    public void OptionalPresenceIsDecidedAtImportTime()
    {
        // Optional() without input is absent: OptionalHasElement folds to false, the If takes its else branch,
        // and the absent optional output has no result.
        var thenG = new P.GraphProto { Name = "then" };
        thenG.Node.Add(Node("Identity", ["x"], ["t"]));
        thenG.Output.Add(new P.ValueInfoProto { Name = "t" });
        var elseG = new P.GraphProto { Name = "else" };
        elseG.Node.Add(Node("Neg", ["x"], ["e"]));
        elseG.Output.Add(new P.ValueInfoProto { Name = "e" });
        P.AttributeProto G(string name, P.GraphProto g) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Graph, G = g };
        var model = Model(
            [
                Node("Optional", [], ["none"]),
                Node("OptionalHasElement", ["none"], ["has"]),
                Node("If", ["has"], ["y"], G("then_branch", thenG), G("else_branch", elseG)),
            ],
            [("x", TensorType(1, 2))], ["y", "none"]);
        var m = OnnxImporter.Import(model, null, new ImportOptions());
        Assert.True(m.Ok, m.Ok ? "" : m.Diagnostics[0].Message);
        Assert.Single(m.Value!.Entry.ResultTypes);
        Equal(F([2], -1, 2), Run(model, new ImportOptions(), F([2], 1, -2))[0]);
    }
}
