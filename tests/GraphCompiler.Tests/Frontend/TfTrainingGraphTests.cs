using GraphCompiler.Backends.Cpu;
using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.TensorFlow;
using GraphCompiler.IR.Autodiff;
using GraphCompiler.Passes;
using static GraphCompiler.Tests.Frontend.TfGraph;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// TF1 training graphs: the gradient ops (*Grad, BiasAddGrad, Conv2DBackpropFilter, MaxPoolGrad, ...) against
/// the IR autodiff of the imported *forward* op (numbers the lowering under test did not produce), and whole
/// training steps (TestData/tf-training/*.pbtxt, written as GradientDescentOptimizer/MomentumOptimizer/
/// AdamOptimizer.minimize emit them) against the IR autodiff of the forward network written as IR text
/// plus the optimizer formulas in C#.
/// </summary>
public sealed class TfTrainingGraphTests
{
    private static string Data(string name) =>
        Path.Combine(GoldenFile.RepoRoot(), "tests", "GraphCompiler.Tests", "TestData", "tf-training", name);

    private static Tensor Random(long[] shape, int seed, double lo = -1, double hi = 1) =>
        GradientCheck.RandomTensor(new TensorType(ElementType.F32, shape), new Random(seed), lo, hi);

    private static Module Import(GraphDef def, params string[] fetches)
    {
        var m = TensorFlowImporter.Import(def, new ImportOptions { Fetches = fetches }, "<test>");
        Assert.True(m.Ok, string.Join("\n", m.Diagnostics));
        return m.Value!;
    }

    private static Tensor[] Run(Module m, params Tensor[] inputs)
    {
        var r = new Interpreter(m).Run(null, inputs);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        return [.. r.Value!.Results];
    }

    private static GraphDef Graph(Action<TfGraph> build)
    {
        var g = new TfGraph();
        build(g);
        return g.Def;
    }

    private static NodeDef Placeholder(string name, TensorType t) =>
        MakeNode(name, "Placeholder", [], ("dtype", Ty(t.Element)), ("shape", new AttrValue { Shape = Shape(t.Shape) }));

    /// <summary>
    /// The vector-Jacobian product of a forward TF op: the graph placeholders → <paramref name="op"/> (output 0)
    /// → sum(out ⊙ g) is imported and differentiated by the IR autodiff with respect to placeholder
    /// <paramref name="wrt"/>. Returns that gradient.
    /// </summary>
    private static Tensor Vjp(string op, (string Name, Tensor Value)[] inputs, int wrt, Tensor g, params (string, AttrValue)[] attrs)
    {
        var def = new GraphDef();
        foreach (var (name, v) in inputs) def.Node.Add(Placeholder(name, v.Type));
        def.Node.Add(Placeholder("g", g.Type));
        def.Node.Add(MakeNode("fwd", op, [.. inputs.Select(i => i.Name)], attrs));
        def.Node.Add(MakeNode("prod", "Mul", ["fwd", "g"]));
        def.Node.Add(MakeNode("axes", "Const", [], ("dtype", Ty(ElementType.I32)),
            ("value", new AttrValue { Tensor = Proto(Tensor.FromInt64s(new TensorType(ElementType.I32, g.Type.Rank), [.. Enumerable.Range(0, g.Type.Rank).Select(d => (long)d)])) })));
        def.Node.Add(MakeNode("loss", "Sum", ["prod", "axes"]));
        var m = Import(def, "loss");
        var grad = Gradients.Differentiate(m.Entry, 0, [wrt], "grad");
        var r = new Interpreter(new Module([grad])).Run(null, [.. inputs.Select(i => i.Value), g]);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        return r.Value!.Results[1];
    }

    /// <summary>Runs one TF op on fed inputs (the one named "s", a shape, is a Const) and returns output <paramref name="port"/>.</summary>
    private static Tensor RunOp(string op, (string Name, Tensor Value)[] inputs, int port = 0, params (string, AttrValue)[] attrs)
    {
        var def = new GraphDef();
        foreach (var (name, v) in inputs)
            def.Node.Add(name == "s" ? MakeNode(name, "Const", [], ("dtype", Ty(v.Element)), ("value", new AttrValue { Tensor = Proto(v) })) : Placeholder(name, v.Type));
        def.Node.Add(MakeNode("op", op, [.. inputs.Select(i => i.Name)], attrs));
        return Run(Import(def, port == 0 ? "op" : $"op:{port}"), [.. inputs.Where(i => i.Name != "s").Select(i => i.Value)])[0];
    }

    private static Tensor Const(long[] v) => Tensor.FromInt64s(new TensorType(ElementType.I32, v.Length), v);

    // ---- activation gradients ------------------------------------------------------------------------

    /// <summary>(gradients, features) ops: the VJP of the forward op at the features.</summary>
    [Theory]
    [InlineData("ReluGrad", "Relu", -2.0, 2.0)]
    [InlineData("Relu6Grad", "Relu6", -3.0, 9.0)]
    [InlineData("SoftplusGrad", "Softplus", -3.0, 3.0)]
    public void FeatureGradientsAreTheForwardOpsVjp(string gradOp, string forward, double lo, double hi)
    {
        var x = Random([3, 4], 1, lo, hi);
        var g = Random([3, 4], 2);
        var expected = Vjp(forward, [("x", x)], 0, g);
        Close(expected, RunOp(gradOp, [("g", g), ("x", x)]), 1e-5);
    }

    /// <summary>(y, dy) ops take the forward output y (EluGrad: (gradients, outputs)); the VJP of the forward op at x.</summary>
    [Theory]
    [InlineData("SigmoidGrad", "Sigmoid", -3.0, 3.0)]
    [InlineData("TanhGrad", "Tanh", -2.0, 2.0)]
    [InlineData("SqrtGrad", "Sqrt", 0.5, 3.0)]
    [InlineData("RsqrtGrad", "Rsqrt", 0.5, 3.0)]
    [InlineData("ReciprocalGrad", "Reciprocal", 0.5, 3.0)]
    [InlineData("EluGrad", "Elu", -2.0, 2.0)]
    public void OutputGradientsAreTheForwardOpsVjp(string gradOp, string forward, double lo, double hi)
    {
        var x = Random([3, 4], 3, lo, hi);
        var g = Random([3, 4], 4);
        var expected = Vjp(forward, [("x", x)], 0, g);
        var def = new GraphDef();
        def.Node.Add(Placeholder("x", x.Type));
        def.Node.Add(Placeholder("g", g.Type));
        def.Node.Add(MakeNode("y", forward, ["x"]));
        def.Node.Add(MakeNode("d", gradOp, gradOp == "EluGrad" ? ["g", "y"] : ["y", "g"]));
        Close(expected, Run(Import(def, "d"), x, g)[0], 1e-5);
    }

    [Theory]
    [InlineData("NHWC")]
    [InlineData("NCHW")]
    public void BiasAddGradIsTheBiasAddVjp(string format)
    {
        var x = Random([2, 3, 4, 5], 5);
        var b = Random([format == "NHWC" ? 5 : 3], 6);
        var g = Random([2, 3, 4, 5], 7);
        var expected = Vjp("BiasAdd", [("x", x), ("b", b)], 1, g, ("data_format", S(format)));
        Close(expected, RunOp("BiasAddGrad", [("g", g)], 0, ("data_format", S(format))), 1e-5);
    }

    // ---- convolution and pooling gradients --------------------------------------------------------------

    public static IEnumerable<object[]> ConvCases() =>
    [
        // format, input, filter, stride, dilation, padding
        ["NHWC", new long[] { 2, 5, 5, 2 }, new long[] { 3, 3, 2, 3 }, 1L, 1L, "SAME"],
        ["NHWC", new long[] { 1, 7, 6, 1 }, new long[] { 3, 2, 1, 2 }, 2L, 1L, "SAME"],
        ["NHWC", new long[] { 1, 7, 8, 2 }, new long[] { 2, 3, 2, 2 }, 2L, 1L, "VALID"],
        ["NHWC", new long[] { 1, 7, 7, 1 }, new long[] { 2, 2, 1, 2 }, 1L, 2L, "SAME"],
        ["NHWC", new long[] { 1, 6, 5, 2 }, new long[] { 3, 3, 2, 1 }, 2L, 1L, "EXPLICIT"],
        ["NCHW", new long[] { 2, 2, 6, 5 }, new long[] { 3, 2, 2, 3 }, 2L, 1L, "SAME"],
    ];

    private static (string, AttrValue)[] ConvAttrs(string format, long stride, long dilation, string padding)
    {
        AttrValue Four(long v) => format == "NHWC" ? Ints(1, v, v, 1) : Ints(1, 1, v, v);
        var attrs = new List<(string, AttrValue)> { ("strides", Four(stride)), ("dilations", Four(dilation)), ("padding", S(padding)), ("data_format", S(format)) };
        if (padding == "EXPLICIT") attrs.Add(("explicit_paddings", format == "NHWC" ? Ints(0, 0, 1, 0, 2, 1, 0, 0) : Ints(0, 0, 0, 0, 1, 0, 2, 1)));
        return [.. attrs];
    }

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2DBackpropFilterAndInputAreTheConv2DVjp(string format, long[] input, long[] filter, long stride, long dilation, string padding)
    {
        var attrs = ConvAttrs(format, stride, dilation, padding);
        var x = Random(input, 8);
        var k = Random(filter, 9);
        var y = RunOp("Conv2D", [("x", x), ("k", k)], 0, attrs);
        var g = Random([.. y.Type.Shape], 10);
        var dk = RunOp("Conv2DBackpropFilter", [("x", x), ("s", Const(filter)), ("g", g)], 0, attrs);
        var dx = RunOp("Conv2DBackpropInput", [("s", Const(input)), ("k", k), ("g", g)], 0, attrs);
        Close(Vjp("Conv2D", [("x", x), ("k", k)], 1, g, attrs), dk, 1e-5);
        Close(Vjp("Conv2D", [("x", x), ("k", k)], 0, g, attrs), dx, 1e-5);
    }

    [Theory]
    [InlineData("NHWC", 2L, 2L, "SAME")]
    [InlineData("NHWC", 3L, 2L, "SAME")]
    [InlineData("NHWC", 3L, 2L, "VALID")]
    [InlineData("NHWC", 2L, 1L, "VALID")]
    [InlineData("NCHW", 3L, 2L, "SAME")]
    public void PoolGradientsAreThePoolVjp(string format, long window, long stride, string padding)
    {
        AttrValue Four(long v) => format == "NHWC" ? Ints(1, v, v, 1) : Ints(1, 1, v, v);
        (string, AttrValue)[] attrs = [("ksize", Four(window)), ("strides", Four(stride)), ("padding", S(padding)), ("data_format", S(format))];
        long[] shape = format == "NHWC" ? [2, 5, 6, 2] : [2, 2, 5, 6];
        var x = Random(shape, 11, -3, 3); // distinct values: no ties
        var y = RunOp("MaxPool", [("x", x)], 0, attrs);
        var g = Random([.. y.Type.Shape], 12);
        var max = RunOp("MaxPoolGrad", [("x", x), ("y", y), ("g", g)], 0, attrs);
        Close(Vjp("MaxPool", [("x", x)], 0, g, attrs), max, 1e-5);
        var avg = RunOp("AvgPoolGrad", [("s", Const(shape)), ("g", g)], 0, attrs);
        Close(Vjp("AvgPool", [("x", x)], 0, g, attrs), avg, 1e-5);
    }

    /// <summary>Ties: TF gives a window's whole gradient to its first maximum (row-major in the window), not a share to each.</summary>
    [Fact]
    public void MaxPoolGradGivesTiesToTheFirstMaximum()
    {
        var x = T.F32([1, 2, 4, 1], 1, 5, 5, 5, 5, 2, 3, 5);
        (string, AttrValue)[] attrs = [("ksize", Ints(1, 2, 2, 1)), ("strides", Ints(1, 2, 2, 1)), ("padding", S("VALID"))];
        var g = T.F32([1, 1, 2, 1], 10, 20);
        var y = RunOp("MaxPool", [("x", x)], 0, attrs);
        // Window 1 {1,5 / 5,2}: first 5 at (0,1). Window 2 {5,5 / 3,5}: first 5 at (0,2).
        Close(T.F32([1, 2, 4, 1], 0, 10, 20, 0, 0, 0, 0, 0), RunOp("MaxPoolGrad", [("x", x), ("y", y), ("g", g)], 0, attrs));
    }

    // ---- losses and shape helpers ------------------------------------------------------------------------

    [Fact]
    public void SparseSoftmaxCrossEntropyGivesLossAndBackprop()
    {
        var logits = Random([3, 4], 13, -2, 2);
        var labels = T.I32([3], 2, 0, 3);
        var hot = T.F32([3, 4], 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1);
        // The dense op (already imported and tested) with one-hot labels gives the same loss and backprop.
        Close(RunOp("SoftmaxCrossEntropyWithLogits", [("l", logits), ("y", hot)], 0), RunOp("SparseSoftmaxCrossEntropyWithLogits", [("l", logits), ("y", labels)], 0), 1e-6);
        Close(RunOp("SoftmaxCrossEntropyWithLogits", [("l", logits), ("y", hot)], 1), RunOp("SparseSoftmaxCrossEntropyWithLogits", [("l", logits), ("y", labels)], 1), 1e-6);
        // The backprop is the gradient of the loss (the IR autodiff of the loss with a seed of ones).
        var def = new GraphDef();
        def.Node.Add(Placeholder("l", logits.Type));
        def.Node.Add(MakeNode("y", "Const", [], ("dtype", Ty(ElementType.I32)), ("value", new AttrValue { Tensor = Proto(labels) })));
        def.Node.Add(MakeNode("xent", "SparseSoftmaxCrossEntropyWithLogits", ["l", "y"]));
        var m = Import(def, "xent");
        var grad = new Interpreter(new Module([Gradients.Differentiate(m.Entry, 0, [0], "grad")])).Run(null, [logits]).Unwrap().Results[1];
        Close(grad, RunOp("SparseSoftmaxCrossEntropyWithLogits", [("l", logits), ("y", labels)], 1), 1e-5);
    }

    [Fact]
    public void BroadcastGradientArgsFoldsToTheReducedDimensions()
    {
        var g = new TfGraph().Const("a", T.I32([3], 4, 1, 3)).Const("b", T.I32([2], 5, 1)).Const("c", T.I32([3], 4, 5, 3))
            .Node("r", "BroadcastGradientArgs", ["a", "b"]).Node("same", "BroadcastGradientArgs", ["c", "c"]);
        var r = g.Run("r:0", "r:1", "same:0");
        Assert.Equal(T.I32([1], 1).ToString(), r[0].ToString());
        Assert.Equal(T.I32([2], 0, 2).ToString(), r[1].ToString());
        Assert.Equal(0, r[2].ElementCount);
    }

    [Fact]
    public void ConcatOffsetAndInvertPermutationFoldToConstants()
    {
        var g = new TfGraph().Const("d", T.I32([], 1)).Const("a", T.I32([3], 2, 3, 5)).Const("b", T.I32([3], 2, 4, 5)).Const("c", T.I32([3], 2, 1, 5))
            .Node("o", "ConcatOffset", ["d", "a", "b", "c"]).Const("p", T.I32([4], 2, 0, 3, 1)).Node("inv", "InvertPermutation", ["p"]);
        var r = g.Run("o:0", "o:1", "o:2", "inv");
        Assert.Equal(T.I32([3], 0, 0, 0).ToString(), r[0].ToString());
        Assert.Equal(T.I32([3], 0, 3, 0).ToString(), r[1].ToString());
        Assert.Equal(T.I32([3], 0, 7, 0).ToString(), r[2].ToString());
        Assert.Equal(T.I32([4], 1, 3, 0, 2).ToString(), r[3].ToString());
    }

    // ---- optimizer updates -------------------------------------------------------------------------------

    /// <summary>Each update op, on ref variables (Apply*) and on resource variables (ResourceApply*), against its formula in C#.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ApplyOpsUpdateTheirVariablesAndAccumulators(bool resource)
    {
        var v = T.F32([2], 1, -2);
        var a = T.F32([2], 0.5, 0.25);
        var grad = T.F32([2], 0.3, -0.6);
        NodeDef Var(string name) => MakeNode(name, resource ? "VarHandleOp" : "VariableV2", [], ("dtype", Ty(ElementType.F32)), ("shape", new AttrValue { Shape = Shape([2]) }));
        NodeDef Scalar(string name, double x) => MakeNode(name, "Const", [], ("dtype", Ty(ElementType.F32)), ("value", new AttrValue { Tensor = Proto(T.F32([], x)) }));
        Tensor[] Step(string op, string[] inputs, int vars, params (string, AttrValue)[] attrs)
        {
            var def = new GraphDef();
            def.Node.Add(Placeholder("grad", grad.Type));
            foreach (var n in new[] { "v", "a", "s" }.Take(vars)) def.Node.Add(Var(n));
            def.Node.AddRange([Scalar("lr", 0.1), Scalar("mom", 0.9), Scalar("b1p", 0.81), Scalar("b2p", 0.998), Scalar("b1", 0.9), Scalar("b2", 0.999), Scalar("eps", 1e-3)]);
            def.Node.Add(MakeNode("apply", resource ? "Resource" + op : op, inputs, attrs));
            def.Node.Add(MakeNode("train", "NoOp", ["^apply"]));
            var m = Import(def, "train");
            var f = m.Entry;
            Assert.All(f.ResultInfos, r => Assert.NotNull(r.Updates));
            var state = new Dictionary<string, Tensor> { ["grad"] = grad, ["v"] = v, ["a"] = a, ["s"] = T.F32([2], 0.04, 0.09) };
            var results = Run(m, [.. Enumerable.Range(0, f.Arguments.Length).Select(i => state[f.ArgumentName(i)])]);
            // Results in the order of the variables: v, then its accumulators.
            return [.. f.ResultInfos.Select((r, i) => (Name: f.ArgumentName(r.Updates!.Value), Value: results[i])).OrderBy(p => p.Name == "v" ? 0 : p.Name == "a" ? 1 : 2).Select(p => p.Value)];
        }
        double[] G = [0.3, -0.6], V = [1, -2], Acc = [0.5, 0.25], S = [0.04, 0.09];
        Tensor F(Func<int, double> f) => T.F32([2], f(0), f(1));

        var sgd = Step("ApplyGradientDescent", ["v", "lr", "grad"], 1);
        Close(F(i => V[i] - 0.1 * G[i]), sgd[0]);

        foreach (var nesterov in new[] { false, true })
        {
            var mom = Step("ApplyMomentum", ["v", "a", "lr", "grad", "mom"], 2, ("use_nesterov", B(nesterov)));
            Func<int, double> acc = i => Acc[i] * 0.9 + G[i];
            Close(F(acc), mom[1]);
            Close(F(i => V[i] - (nesterov ? G[i] * 0.1 + acc(i) * 0.9 * 0.1 : acc(i) * 0.1)), mom[0]);
        }

        var ada = Step("ApplyAdagrad", ["v", "a", "lr", "grad"], 2);
        Close(F(i => Acc[i] + G[i] * G[i]), ada[1]);
        Close(F(i => V[i] - 0.1 * G[i] / Math.Sqrt(Acc[i] + G[i] * G[i])), ada[0], 1e-5);

        var adam = Step("ApplyAdam", ["v", "a", "s", "b1p", "b2p", "lr", "b1", "b2", "eps", "grad"], 3);
        double alpha = 0.1 * Math.Sqrt(1 - 0.998) / (1 - 0.81);
        Func<int, double> m1 = i => 0.9 * Acc[i] + 0.1 * G[i], m2 = i => 0.999 * S[i] + 0.001 * G[i] * G[i];
        Close(F(m1), adam[1], 1e-5);
        Close(F(m2), adam[2], 1e-5);
        Close(F(i => V[i] - alpha * m1(i) / (Math.Sqrt(m2(i)) + 1e-3)), adam[0], 1e-5);
    }

    // ---- whole training steps ----------------------------------------------------------------------------

    private const string DenseForward = """
        func @main(%x: tensor<4x3xf32>, %y: tensor<4x2xf32>, %w1: tensor<3x5xf32>, %b1: tensor<5xf32>, %w2: tensor<5x2xf32>, %b2: tensor<2xf32>) -> (tensor<f32>) {
          %h = dot_general %x, %w1 {lhs_contract = [1], rhs_contract = [0]} : tensor<4x5xf32>
          %b1b = broadcast_in_dim %b1 {dims = [1]} : tensor<4x5xf32>
          %a = add %h, %b1b : tensor<4x5xf32>
          %z = constant {value = dense<0.0>} : tensor<4x5xf32>
          %r = max %a, %z : tensor<4x5xf32>
          %o = dot_general %r, %w2 {lhs_contract = [1], rhs_contract = [0]} : tensor<4x2xf32>
          %b2b = broadcast_in_dim %b2 {dims = [1]} : tensor<4x2xf32>
          %lg = add %o, %b2b : tensor<4x2xf32>
          %e = exp %lg : tensor<4x2xf32>
          %se = reduce %e {dims = [1], kind = sum} : tensor<4xf32>
          %lse = log %se : tensor<4xf32>
          %lseb = broadcast_in_dim %lse {dims = [0]} : tensor<4x2xf32>
          %lp = sub %lg, %lseb : tensor<4x2xf32>
          %t = mul %y, %lp : tensor<4x2xf32>
          %tot = reduce %t {dims = [0, 1], kind = sum} : tensor<f32>
          %k = constant {value = dense<-0.25>} : tensor<f32>
          %loss = mul %tot, %k : tensor<f32>
          return %loss
        }
        """;

    private const string ConvForward = """
        func @main(%x: tensor<2x5x5x1xf32>, %y: tensor<2x3xf32>, %k: tensor<3x3x1x2xf32>, %cb: tensor<2xf32>, %w: tensor<18x3xf32>, %fb: tensor<3xf32>) -> (tensor<f32>) {
          %c = convolution %x, %k {dims = "b01f_01io->b01f", padding_low = [1, 1], padding_high = [1, 1]} : tensor<2x5x5x2xf32>
          %cbb = broadcast_in_dim %cb {dims = [3]} : tensor<2x5x5x2xf32>
          %a = add %c, %cbb : tensor<2x5x5x2xf32>
          %z = constant {value = dense<0.0>} : tensor<2x5x5x2xf32>
          %r = max %a, %z : tensor<2x5x5x2xf32>
          %p = reduce_window %r {kind = max, window = [1, 2, 2, 1], strides = [1, 2, 2, 1], padding_high = [0, 1, 1, 0]} : tensor<2x3x3x2xf32>
          %f = reshape %p : tensor<2x18xf32>
          %m = dot_general %f, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<2x3xf32>
          %fbb = broadcast_in_dim %fb {dims = [1]} : tensor<2x3xf32>
          %lg = add %m, %fbb : tensor<2x3xf32>
          %e = exp %lg : tensor<2x3xf32>
          %se = reduce %e {dims = [1], kind = sum} : tensor<2xf32>
          %lse = log %se : tensor<2xf32>
          %lseb = broadcast_in_dim %lse {dims = [0]} : tensor<2x3xf32>
          %lp = sub %lg, %lseb : tensor<2x3xf32>
          %t = mul %y, %lp : tensor<2x3xf32>
          %tot = reduce %t {dims = [0, 1], kind = sum} : tensor<f32>
          %n = constant {value = dense<-0.5>} : tensor<f32>
          %loss = mul %tot, %n : tensor<f32>
          return %loss
        }
        """;

    /// <summary>The loss and the gradients of the IR forward function at <paramref name="inputs"/> w.r.t. the arguments <paramref name="wrt"/>.</summary>
    private static Tensor[] ForwardAndGradients(string ir, int[] wrt, Tensor[] inputs)
    {
        var f = IrTest.Parse(ir).Entry;
        var grad = Gradients.Differentiate(f, 0, wrt, "grad");
        var r = new Interpreter(new Module([grad])).Run(null, inputs);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        return [.. r.Value!.Results];
    }

    /// <summary>The import's inputs, ordered as its arguments (feeds by placeholder name, variables by node name).</summary>
    private static Tensor[] Inputs(Function f, Dictionary<string, Tensor> byName) =>
        [.. Enumerable.Range(0, f.Arguments.Length).Select(i => byName.TryGetValue(f.ArgumentName(i), out var t) ? t : throw new Xunit.Sdk.XunitException($"no value for argument '{f.ArgumentName(i)}'"))];

    /// <summary>Each update result by the name of the variable it updates.</summary>
    private static Dictionary<string, Tensor> Updates(Function f, Tensor[] results) =>
        f.ResultInfos.Select((r, i) => (r, i)).Where(p => p.r.Updates is not null).ToDictionary(p => f.ArgumentName(p.r.Updates!.Value), p => results[p.i]);

    private static Dictionary<string, Tensor> DenseState() => new()
    {
        ["x"] = Random([4, 3], 20), ["y"] = T.F32([4, 2], 1, 0, 0, 1, 0, 1, 1, 0),
        ["dense/kernel"] = Random([3, 5], 21), ["dense/bias"] = Random([5], 22, -0.2, 0.2),
        ["dense_1/kernel"] = Random([5, 2], 23), ["dense_1/bias"] = Random([2], 24, -0.2, 0.2),
    };

    private static Module ImportFile(string file, params string[] fetches)
    {
        var m = TensorFlowImporter.Import(Data(file), new ImportOptions { Fetches = fetches });
        Assert.True(m.Ok, string.Join("\n", m.Diagnostics));
        return m.Value!;
    }

    [Fact]
    public void DenseGradientDescentStepMatchesTheAutodiffOfTheForwardNetwork()
    {
        var m = ImportFile("dense_sgd.pbtxt", "Mean", "GradientDescent");
        var f = m.Entry;
        var state = DenseState();
        var results = Run(m, Inputs(f, state));
        var updates = Updates(f, results);
        Assert.Equal(["dense/bias", "dense/kernel", "dense_1/bias", "dense_1/kernel"], updates.Keys.Order());
        Assert.Equal(5, results.Length); // the loss and four updates; the train_op NoOp is a target, not a result

        string[] vars = ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"];
        var expected = ForwardAndGradients(DenseForward, [2, 3, 4, 5], [state["x"], state["y"], .. vars.Select(v => state[v])]);
        Close(expected[0], results[0], 1e-5);
        for (int i = 0; i < vars.Length; i++)
        {
            var old = state[vars[i]];
            var g = expected[1 + i];
            var want = Tensor.FromDoubles(old.Type, [.. Enumerable.Range(0, (int)old.ElementCount).Select(e => old.GetDouble(e) - 0.5 * g.GetDouble(e))]);
            Close(want, updates[vars[i]], 1e-5);
        }
    }

    private static Dictionary<string, Tensor> ConvState()
    {
        var s = new Dictionary<string, Tensor>
        {
            ["x"] = Random([2, 5, 5, 1], 30), ["labels"] = T.I32([2], 2, 0),
            ["conv/kernel"] = Random([3, 3, 1, 2], 31), ["conv/bias"] = Random([2], 32, -0.1, 0.1),
            ["fc/kernel"] = Random([18, 3], 33), ["fc/bias"] = Random([3], 34, -0.1, 0.1),
            ["conv/kernel/Momentum"] = Random([3, 3, 1, 2], 35, -0.1, 0.1), ["conv/bias/Momentum"] = Random([2], 36, -0.1, 0.1),
            ["fc/kernel/Adam"] = Random([18, 3], 37, -0.1, 0.1), ["fc/kernel/Adam_1"] = Random([18, 3], 38, 0, 0.01),
            ["fc/bias/Adam"] = Random([3], 39, -0.1, 0.1), ["fc/bias/Adam_1"] = Random([3], 40, 0, 0.01),
            ["beta1_power"] = T.F32([], 0.81), ["beta2_power"] = T.F32([], 0.998001),
        };
        return s;
    }

    [Fact]
    public void ConvMomentumAdamStepMatchesTheAutodiffOfTheForwardNetwork()
    {
        var m = ImportFile("conv_momentum_adam.pbtxt", "Mean", "train");
        var f = m.Entry;
        var s = ConvState();
        var results = Run(m, Inputs(f, s));
        var u = Updates(f, results);
        Assert.Equal(12, u.Count); // 4 variables, 2 momentum and 4 Adam slots, 2 beta powers

        string[] vars = ["conv/kernel", "conv/bias", "fc/kernel", "fc/bias"];
        var hot = T.F32([2, 3], 0, 0, 1, 1, 0, 0);
        var e = ForwardAndGradients(ConvForward, [2, 3, 4, 5], [s["x"], hot, .. vars.Select(v => s[v])]);
        Close(e[0], results[0], 1e-5);
        Tensor Map(Tensor like, Func<int, double> fn) => Tensor.FromDoubles(like.Type, [.. Enumerable.Range(0, (int)like.ElementCount).Select(fn)]);
        double At(string name, int i) => s[name].GetDouble(i);

        // Momentum (lr 0.1, momentum 0.9); conv/bias uses Nesterov.
        for (int k = 0; k < 2; k++)
        {
            var v = vars[k];
            var g = e[1 + k];
            bool nesterov = v == "conv/bias";
            Func<int, double> acc = i => At(v + "/Momentum", i) * 0.9 + g.GetDouble(i);
            Close(Map(s[v], acc), u[v + "/Momentum"], 1e-5);
            Close(Map(s[v], i => At(v, i) - (nesterov ? g.GetDouble(i) * 0.1 + acc(i) * 0.9 * 0.1 : acc(i) * 0.1)), u[v], 1e-5);
        }
        // Adam (lr 0.01, beta1 0.9, beta2 0.999, epsilon 1e-8) with the beta powers before the step.
        double alpha = 0.01 * Math.Sqrt(1 - 0.998001) / (1 - 0.81);
        for (int k = 2; k < 4; k++)
        {
            var v = vars[k];
            var g = e[1 + k];
            Func<int, double> m1 = i => At(v + "/Adam", i) + (g.GetDouble(i) - At(v + "/Adam", i)) * 0.1;
            Func<int, double> m2 = i => At(v + "/Adam_1", i) + (g.GetDouble(i) * g.GetDouble(i) - At(v + "/Adam_1", i)) * 0.001;
            Close(Map(s[v], m1), u[v + "/Adam"], 1e-5);
            Close(Map(s[v], m2), u[v + "/Adam_1"], 1e-5);
            Close(Map(s[v], i => At(v, i) - alpha * m1(i) / (Math.Sqrt(m2(i)) + 1e-8)), u[v], 1e-4);
        }
        // The beta powers advance after the updates read them.
        Close(T.F32([], 0.81 * 0.9), u["beta1_power"]);
        Close(T.F32([], 0.998001 * 0.999), u["beta2_power"]);
    }

    /// <summary>
    /// A training graph TensorFlow itself wrote (shared/graphs/tf/realistic/tfnet_graph_meta/xor.meta: Relu, Sigmoid,
    /// squared error, GradientDescentOptimizer(0.2).minimize(loss, global_step)): one step against the IR autodiff.
    /// </summary>
    [SharedDataFact]
    public void TensorFlowWrittenXorGraphStepMatchesTheAutodiff()
    {
        var m = TensorFlowImporter.Import(SharedData.Tf("realistic/tfnet_graph_meta/xor.meta"), new ImportOptions { Fetches = ["loss", "train_op"] });
        Assert.True(m.Ok, string.Join("\n", m.Diagnostics));
        var f = m.Value!.Entry;
        var state = new Dictionary<string, Tensor>
        {
            ["Placeholder"] = T.F32([4, 2], 0, 0, 0, 1, 1, 0, 1, 1), ["Placeholder_1"] = T.I32([4], 0, 1, 1, 0),
            ["Variable"] = Random([2, 8], 50), ["Variable_1"] = Random([8, 1], 51), ["global_step"] = T.I32([], 7),
        };
        var results = Run(m.Value!, Inputs(f, state));
        var u = Updates(f, results);
        const string forward = """
            func @main(%x: tensor<4x2xf32>, %y: tensor<4xf32>, %w: tensor<2x8xf32>, %v: tensor<8x1xf32>) -> (tensor<f32>) {
              %h = dot_general %x, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<4x8xf32>
              %z = constant {value = dense<0.0>} : tensor<4x8xf32>
              %r = max %h, %z : tensor<4x8xf32>
              %o = dot_general %r, %v {lhs_contract = [1], rhs_contract = [0]} : tensor<4x1xf32>
              %q = reshape %o : tensor<4xf32>
              %s = logistic %q : tensor<4xf32>
              %d = sub %s, %y : tensor<4xf32>
              %sq = mul %d, %d : tensor<4xf32>
              %tot = reduce %sq {dims = [0], kind = sum} : tensor<f32>
              %n = constant {value = dense<0.25>} : tensor<f32>
              %loss = mul %tot, %n : tensor<f32>
              return %loss
            }
            """;
        var e = ForwardAndGradients(forward, [2, 3], [state["Placeholder"], T.F32([4], 0, 1, 1, 0), state["Variable"], state["Variable_1"]]);
        Close(e[0], results[0], 1e-5);
        foreach (var (name, g) in new[] { ("Variable", e[1]), ("Variable_1", e[2]) })
        {
            var old = state[name];
            Close(Tensor.FromDoubles(old.Type, [.. Enumerable.Range(0, (int)old.ElementCount).Select(i => old.GetDouble(i) - 0.2 * g.GetDouble(i))]), u[name], 1e-5);
        }
        Assert.Equal(8, u["global_step"].GetInt64(0));
    }

    /// <summary>
    /// TensorFlow's own char-CNN training graph (Conv2D/MaxPool/transposes, AdamOptimizer on ref variables): the
    /// Adam step imports, and every variable, slot and beta power is updated. Import only (the model is large).
    /// </summary>
    [SharedDataFact]
    public void TensorFlowWrittenCharCnnAdamStepImports()
    {
        var m = TensorFlowImporter.Import(SharedData.Tf("realistic/tfnet_graph_meta/char_cnn_untrained.meta"), new ImportOptions
        {
            Fetches = ["loss/Adam"],
            Feeds = [new FeedSpec("x", new TensorType(ElementType.I32, 2, 1014)), new FeedSpec("y", new TensorType(ElementType.I32, 2))],
        });
        Assert.True(m.Ok, string.Join("\n", m.Diagnostics));
        var f = m.Value!.Entry;
        var updated = f.ResultInfos.Where(r => r.Updates is not null).Select(r => f.ArgumentName(r.Updates!.Value)).ToHashSet();
        var variables = Enumerable.Range(0, f.Arguments.Length).Where(i => f.ArgumentInfos[i].IsVariable).Select(f.ArgumentName).ToList();
        Assert.Contains("loss/beta1_power", updated);
        Assert.Contains(variables, v => v.EndsWith("/Adam_1", StringComparison.Ordinal));
        Assert.All(variables, v => Assert.Contains(v, updated));
    }

    /// <summary>Both training steps compiled for the CPU (default pipeline, LLVM) give the interpreter's loss and updates.</summary>
    [Theory]
    [InlineData("dense_sgd.pbtxt", "GradientDescent")]
    [InlineData("conv_momentum_adam.pbtxt", "train")]
    public void TrainingStepsRunCompiledOnTheCpu(string file, string trainOp)
    {
        var m = ImportFile(file, "Mean", trainOp);
        var inputs = Inputs(m.Entry, file.StartsWith("dense") ? DenseState() : ConvState());
        var expected = Run(m, inputs);
        var optimised = PassManager.Run(m, PassRegistry.Default).Unwrap();
        using var exe = CpuCompiler.Jit(optimised).Unwrap();
        var actual = exe.Run(inputs).Unwrap();
        Assert.Equal(expected.Length, actual.Count);
        for (int i = 0; i < expected.Length; i++) IrTest.AssertTensor(expected[i], actual[i], rtol: 1e-4, atol: 1e-5);
    }
}
