using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Onnx;
using Google.Protobuf;
using P = GraphCompiler.Frontend.Proto.Onnx;

namespace GraphCompiler.Tests.Training;

/// <summary>
/// The ONNX training ops where the node cases leave gaps: Nesterov momentum, Adam's T = 0 and post-update
/// regularization, Gradient with zs and an initializer, and BatchNormalization's running statistics. Expected
/// values follow the operator specifications' pseudo code, computed here in f64.
/// </summary>
public sealed class OnnxTrainingOpsTests
{
    private const string Training = "ai.onnx.preview.training";

    /// <summary>A small ONNX graph: f32 inputs fed in order, initializers, nodes, outputs.</summary>
    private sealed class Graph
    {
        private readonly P.GraphProto _g = new() { Name = "g" };
        private readonly List<Tensor> _feeds = [];

        public Graph Input(string name, Tensor t)
        {
            _g.Input.Add(new P.ValueInfoProto { Name = name, Type = new P.TypeProto { TensorType = new P.TypeProto.Types.Tensor { ElemType = ElemType(t), Shape = Shape(t) } } });
            _feeds.Add(t);
            return this;
        }

        public Graph Initializer(string name, Tensor t)
        {
            var p = new P.TensorProto { Name = name, DataType = 1 };
            p.Dims.AddRange(t.Type.Shape);
            p.FloatData.AddRange(Enumerable.Range(0, (int)t.ElementCount).Select(i => (float)t.GetDouble(i)));
            _g.Initializer.Add(p);
            return this;
        }

        public Graph Node(string op, string domain, string[] inputs, string[] outputs, params P.AttributeProto[] attrs)
        {
            var n = new P.NodeProto { OpType = op, Domain = domain, Name = $"n{_g.Node.Count}" };
            n.Input.AddRange(inputs);
            n.Output.AddRange(outputs);
            n.Attribute.AddRange(attrs);
            _g.Node.Add(n);
            return this;
        }

        public Result<Module> Import(params string[] outputs)
        {
            foreach (var o in outputs) _g.Output.Add(new P.ValueInfoProto { Name = o });
            var model = new P.ModelProto { IrVersion = 8, Graph = _g };
            model.OpsetImport.Add(new P.OperatorSetIdProto { Domain = "", Version = 15 });
            model.OpsetImport.Add(new P.OperatorSetIdProto { Domain = Training, Version = 1 });
            return OnnxImporter.Import(model, null, new ImportOptions());
        }

        public IReadOnlyList<Tensor> Run(params string[] outputs)
        {
            var m = Import(outputs);
            Assert.True(m.Ok, m.Ok ? "" : string.Join("\n", m.Diagnostics.Select(d => d.Message)));
            Assert.Empty(Verifier.Verify(m.Value!));
            return new Interpreter(m.Value!).Run(null, _feeds).Unwrap().Results;
        }

        private static int ElemType(Tensor t) => t.Element switch { ElementType.F32 => 1, ElementType.I64 => 7, _ => throw new ArgumentException(t.Element.ToString()) };

        private static P.TensorShapeProto Shape(Tensor t)
        {
            var s = new P.TensorShapeProto();
            foreach (var d in t.Type.Shape) s.Dim.Add(new P.TensorShapeProto.Types.Dimension { DimValue = d });
            return s;
        }
    }

    private static Tensor F(params double[] v) => Tensor.FromDoubles(new TensorType(ElementType.F32, v.Length), v);
    private static Tensor Scalar(double v) => Tensor.Scalar(ElementType.F32, v);
    private static Tensor Count(long t) => Tensor.FromInt64s(TensorType.Scalar(ElementType.I64), [t]);

    private static P.AttributeProto A(string name, float v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Float, F = v };
    private static P.AttributeProto A(string name, long v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Int, I = v };
    private static P.AttributeProto A(string name, string v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };

    private static P.AttributeProto Names(string name, params string[] v)
    {
        var a = new P.AttributeProto { Name = name, Type = P.AttributeProto.Types.AttributeType.Strings };
        a.Strings.AddRange(v.Select(ByteString.CopyFromUtf8));
        return a;
    }

    private static void Close(Tensor actual, params double[] expected)
    {
        Assert.Equal(expected.Length, actual.ElementCount);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual.GetDouble(i) - expected[i]) <= 1e-6 * (1 + Math.Abs(expected[i])), $"element {i}: {actual.GetDouble(i)}, expected {expected[i]}");
    }

    /// <summary>Nesterov mode looks ahead by α·V_new; at T = 0 the gradient's coefficient is 1, after that β.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void NesterovMomentum(long t)
    {
        const double r = 0.1, alpha = 0.9, beta = 0.5, l2 = 0.01;
        double[] x = [1.5, -0.5], g = [0.25, 1], v = [0.5, -0.25];
        var outs = new Graph().Input("R", Scalar(r)).Input("T", Count(t)).Input("X", F(x)).Input("G", F(g)).Input("V", F(v))
            .Node("Momentum", Training, ["R", "T", "X", "G", "V"], ["X_new", "V_new"],
                A("alpha", (float)alpha), A("beta", (float)beta), A("norm_coefficient", (float)l2), A("mode", "nesterov"))
            .Run("X_new", "V_new");
        double b = t > 0 ? (float)beta : 1;
        var gr = x.Select((xi, i) => (float)l2 * xi + g[i]).ToArray();
        var vNew = v.Select((vi, i) => (float)alpha * vi + b * gr[i]).ToArray();
        Close(outs[0], [.. x.Select((xi, i) => xi - (float)r * (gr[i] + (float)alpha * vNew[i]))]);
        Close(outs[1], vNew);
    }

    /// <summary>Adam corrects the learning rate only once T > 0, and scales the result by 1 − norm_coefficient_post.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void AdamBiasCorrectionAndPostRegularization(long t)
    {
        const float r = 0.1f, alpha = 0.8f, beta = 0.9f, eps = 1e-3f, post = 0.25f;
        double[] x = [1, -2], g = [0.5, 0.25], v = [0.1, 0.2], h = [0.01, 0.04];
        var outs = new Graph().Input("R", Scalar(r)).Input("T", Count(t)).Input("X", F(x)).Input("G", F(g)).Input("V", F(v)).Input("H", F(h))
            .Node("Adam", Training, ["R", "T", "X", "G", "V", "H"], ["X_new", "V_new", "H_new"],
                A("alpha", alpha), A("beta", beta), A("epsilon", eps), A("norm_coefficient_post", post))
            .Run("X_new", "V_new", "H_new");
        double rAdj = t > 0 ? r * Math.Sqrt(1 - Math.Pow(beta, t)) / (1 - Math.Pow(alpha, t)) : r;
        var vNew = v.Select((vi, i) => alpha * vi + (1 - alpha) * g[i]).ToArray();
        var hNew = h.Select((hi, i) => beta * hi + (1 - beta) * g[i] * g[i]).ToArray();
        Close(outs[0], [.. x.Select((xi, i) => (1 - post) * (xi - rAdj * vNew[i] / (Math.Sqrt(hNew[i]) + eps)))]);
        Close(outs[1], vNew);
        Close(outs[2], hNew);
    }

    /// <summary>
    /// y = Sum(x·w + z) with w an initializer and z in zs: the function Gradient differentiates takes x and z, keeps
    /// w as a constant, and dy/dx = w. The Gradient's inputs are other values than the forward pass's.
    /// </summary>
    [Fact]
    public void GradientWithZsAndAnInitializer()
    {
        var graph = new Graph().Input("x", F(1, 2, 3)).Input("z", F(0.5, 0.5, 0.5)).Input("x2", F(-1, 0, 4))
            .Initializer("w", F(2, -3, 5))
            .Node("Mul", "", ["x", "w"], ["xw"])
            .Node("Add", "", ["xw", "z"], ["s"])
            .Node("ReduceSum", "", ["s"], ["y"], A("keepdims", 0L))
            .Node("Mul", "", ["s", "s"], ["unrelated"])
            .Node("Gradient", Training, ["x2", "z"], ["dy_dx"], Names("xs", "x"), Names("zs", "z"), A("y", "y"));
        var outs = graph.Run("y", "dy_dx");
        Close(outs[0], 2 - 6 + 15 + 1.5);
        Close(outs[1], 2, -3, 5);

        var m = graph.Import().Value!;
        Assert.Equal<string>(["main", "gradient_of_y"], m.Functions.Select(f => f.Name));
        Assert.Equal(2, m.Functions[1].Arguments.Length);
        // Only the nodes on the way from x and z to y: no second mul.
        Assert.Single(m.Functions[1].Body.Operations, op => op.Name == "mul");
    }

    [Fact]
    public void GradientOfATensorThatNeedsAnUnnamedInput()
    {
        var m = new Graph().Input("x", F(1, 2)).Input("u", F(3, 4))
            .Node("Mul", "", ["x", "u"], ["y"])
            .Node("Gradient", Training, ["x"], ["dy_dx"], Names("xs", "x"), A("y", "y"))
            .Import("dy_dx");
        Assert.False(m.Ok);
        Assert.Contains("depends on 'u', which is neither named as an input of the function nor known at import time", string.Join("\n", m.Diagnostics.Select(d => d.Message)));
    }

    /// <summary>The running statistics move towards the batch's (population variance) by 1 − momentum.</summary>
    [Fact]
    public void BatchNormalizationTrainingRunningStatistics()
    {
        var x = Tensor.FromDoubles(new TensorType(ElementType.F32, 2, 2, 1), [1, 10, 3, 20]);
        var outs = new Graph().Input("x", x).Input("s", F(1, 2)).Input("b", F(0, 1)).Input("mean", F(0.5, 5)).Input("var", F(1, 2))
            .Node("BatchNormalization", "", ["x", "s", "b", "mean", "var"], ["y", "rm", "rv"], A("training_mode", 1L), A("momentum", 0.75f), A("epsilon", 0f))
            .Run("y", "rm", "rv");
        // Channel 0 sees 1 and 3 (mean 2, variance 1), channel 1 sees 10 and 20 (mean 15, variance 25).
        Close(outs[0], -1, 2 * -1 + 1, 1, 2 * 1 + 1);
        Close(outs[1], 0.75 * 0.5 + 0.25 * 2, 0.75 * 5 + 0.25 * 15);
        Close(outs[2], 0.75 * 1 + 0.25 * 1, 0.75 * 2 + 0.25 * 25);
    }
}
