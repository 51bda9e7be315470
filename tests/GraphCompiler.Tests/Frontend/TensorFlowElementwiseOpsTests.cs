using GraphCompiler.IR;
using static GraphCompiler.Tests.Frontend.TfGraph;

namespace GraphCompiler.Tests.Frontend;

public sealed class TensorFlowElementwiseOpsTests
{
    private static Tensor Unary(string op, Tensor x, params (string, Google.Protobuf.IMessage)[] _) =>
        new TfGraph().Placeholder("x", x).Node("y", op, ["x"], ("T", Ty(x.Element))).Run1("y");

    private static Tensor Binary(string op, Tensor a, Tensor b) =>
        new TfGraph().Placeholder("a", a).Placeholder("b", b).Node("y", op, ["a", "b"], ("T", Ty(a.Element))).Run1("y");

    [Theory]
    [InlineData("Neg", new[] { -1.5, 0, 2 }, new[] { 1.5, 0, -2 })]
    [InlineData("Square", new[] { -1.5, 0, 2 }, new[] { 2.25, 0, 4 })]
    [InlineData("Sqrt", new[] { 4.0, 0, 2.25 }, new[] { 2.0, 0, 1.5 })]
    [InlineData("Rsqrt", new[] { 4.0, 1, 0.25 }, new[] { 0.5, 1, 2 })]
    [InlineData("Exp", new[] { 0.0, 1, -1 }, new[] { 1, Math.E, 1 / Math.E })]
    [InlineData("Log", new[] { 1.0, Math.E, 0.5 }, new[] { 0, 1, -0.6931471805599453 })]
    [InlineData("Tanh", new[] { 0.0, 1, -2 }, new[] { 0, 0.7615941559557649, -0.9640275800758169 })]
    [InlineData("Sigmoid", new[] { 0.0, 2, -2 }, new[] { 0.5, 0.8807970779778823, 0.11920292202211755 })]
    [InlineData("Relu", new[] { -1.0, 0, 3 }, new[] { 0.0, 0, 3 })]
    [InlineData("Relu6", new[] { -1.0, 5, 9 }, new[] { 0.0, 5, 6 })]
    [InlineData("Elu", new[] { -1.0, 0, 2 }, new[] { -0.6321205588285577, 0, 2 })]
    [InlineData("Selu", new[] { -1.0, 0, 2 }, new[] { -1.1113307378125625, 0, 2.101401974710961 })]
    [InlineData("Softplus", new[] { 0.0, 100, -100 }, new[] { 0.6931471805599453, 100, 3.720075976020836e-44 })]
    [InlineData("Erf", new[] { 0.0, 1, -0.5 }, new[] { 0, 0.8427007929497149, -0.5204998778130465 })]
    public void UnaryOps(string op, double[] x, double[] expected) =>
        Close(T.F64([x.Length], expected), Unary(op, T.F64([x.Length], x)), 1e-12);

    [Fact]
    public void LeakyReluUsesItsAlphaDefaultingTo02()
    {
        var x = T.F32([3], -10, 0, 4);
        Close(T.F32([3], -2, 0, 4), Unary("LeakyRelu", x));
        var g = new TfGraph().Placeholder("x", x).Node("y", "LeakyRelu", ["x"], ("alpha", F(0.5f)));
        Close(T.F32([3], -5, 0, 4), g.Run1("y"));
    }

    [Theory]
    [InlineData("Add", 3.5, 1.5, 5.0)]
    [InlineData("AddV2", 3.5, 1.5, 5.0)]
    [InlineData("Sub", 3.5, 1.5, 2.0)]
    [InlineData("Mul", 3.5, 2, 7.0)]
    [InlineData("Div", 7, 2, 3.5)]
    [InlineData("RealDiv", 7, -2, -3.5)]
    [InlineData("Maximum", 7, -2, 7)]
    [InlineData("Minimum", 7, -2, -2)]
    [InlineData("Pow", 2, 10, 1024)]
    [InlineData("SquaredDifference", 2, 5, 9)]
    [InlineData("FloorDiv", -7, 2, -4)]
    [InlineData("FloorMod", -7, 2, 1)]
    [InlineData("FloorMod", 7, -2, -1)]
    public void BinaryFloatOps(string op, double a, double b, double expected) =>
        Close(T.F32([], expected), Binary(op, T.F32([], a), T.F32([], b)));

    [Fact]
    public void BinaryOpsBroadcast()
    {
        var r = Binary("Add", T.F32([2, 1], 1, 2), T.F32([3], 10, 20, 30));
        Close(T.F32([2, 3], 11, 21, 31, 12, 22, 32), r);
    }

    [Fact]
    public void IntegerDivisionRoundsLikeTensorFlow()
    {
        // Div truncates toward zero, FloorDiv rounds toward −∞, FloorMod takes the divisor's sign.
        var a = T.I32([4], 7, -7, 7, -7);
        var b = T.I32([4], 2, 2, -2, -2);
        Assert.Equal(T.I32([4], 3, -3, -3, 3), Binary("Div", a, b));
        Assert.Equal(T.I32([4], 3, -4, -4, 3), Binary("FloorDiv", a, b));
        Assert.Equal(T.I32([4], 1, 1, -1, -1), Binary("FloorMod", a, b));
    }

    [Theory]
    [InlineData("Greater", new[] { false, false, true })]
    [InlineData("GreaterEqual", new[] { false, true, true })]
    [InlineData("Less", new[] { true, false, false })]
    [InlineData("LessEqual", new[] { true, true, false })]
    [InlineData("Equal", new[] { false, true, false })]
    [InlineData("NotEqual", new[] { true, false, true })]
    public void Comparisons(string op, bool[] expected)
    {
        var r = Binary(op, T.F32([3], 1, 2, 3), T.F32([3], 2, 2, 2));
        Assert.Equal(Tensor.FromInt64s(new TensorType(ElementType.Bool, 3), [.. expected.Select(b => b ? 1L : 0)]), r);
    }

    [Fact]
    public void LogicalOps()
    {
        var a = Tensor.FromInt64s(new TensorType(ElementType.Bool, 4), [0, 0, 1, 1]);
        var b = Tensor.FromInt64s(new TensorType(ElementType.Bool, 4), [0, 1, 0, 1]);
        Assert.Equal(Tensor.FromInt64s(a.Type, [0, 0, 0, 1]), Binary("LogicalAnd", a, b));
        Assert.Equal(Tensor.FromInt64s(a.Type, [0, 1, 1, 1]), Binary("LogicalOr", a, b));
        Assert.Equal(Tensor.FromInt64s(a.Type, [1, 1, 0, 0]), Unary("LogicalNot", a));
    }

    [Fact]
    public void SelectWithAVectorConditionPicksRows()
    {
        var c = Tensor.FromInt64s(new TensorType(ElementType.Bool, 2), [1, 0]);
        var g = new TfGraph().Placeholder("c", c).Const("t", T.F32([2, 2], 1, 2, 3, 4)).Const("e", T.F32([2, 2], 5, 6, 7, 8))
            .Node("s", "Select", ["c", "t", "e"]).Node("s2", "SelectV2", ["c", "t", "e"]);
        var r = g.Run("s", "s2");
        Close(T.F32([2, 2], 1, 2, 7, 8), r[0]);
        Close(T.F32([2, 2], 1, 6, 3, 8), r[1]); // SelectV2 broadcasts the condition along the last axis
    }

    [Fact]
    public void CastTruncatesFloatsAndMakesBoolsFromNonzero()
    {
        var g = new TfGraph().Placeholder("x", T.F32([3], -1.7, 0, 2.9))
            .Node("i", "Cast", ["x"], ("DstT", Ty(ElementType.I32))).Node("b", "Cast", ["x"], ("DstT", Ty(ElementType.Bool)));
        var r = g.Run("i", "b");
        Assert.Equal(T.I32([3], -1, 0, 2), r[0]);
        Assert.Equal(Tensor.FromInt64s(new TensorType(ElementType.Bool, 3), [1, 0, 1]), r[1]);
    }

    [Fact]
    public void AddNSumsAllInputs()
    {
        var g = new TfGraph().Placeholder("a", T.F32([2], 1, 2)).Placeholder("b", T.F32([2], 10, 20)).Placeholder("c", T.F32([2], 100, 200))
            .Node("s", "AddN", ["a", "b", "c"]);
        Close(T.F32([2], 111, 222), g.Run1("s"));
    }

    [Fact]
    public void SoftmaxAndLogSoftmaxUseTheLastAxis()
    {
        var x = T.F64([2, 2], 0, Math.Log(3), 1000, 1000);
        Close(T.F64([2, 2], 0.25, 0.75, 0.5, 0.5), Unary("Softmax", x), 1e-12);
        Close(T.F64([2, 2], Math.Log(0.25), Math.Log(0.75), Math.Log(0.5), Math.Log(0.5)), Unary("LogSoftmax", x), 1e-12);
    }

    [Fact]
    public void IdentityFamilyPassesValuesThrough()
    {
        var g = new TfGraph().Placeholder("x", T.F32([2], 1, 2))
            .Node("i", "Identity", ["x"], ("T", Ty(ElementType.F32))).Node("s", "StopGradient", ["i"]).Node("c", "CheckNumerics", ["s"])
            .Node("n", "IdentityN", ["c", "x"]).Node("noop", "NoOp", ["^n"]);
        var r = g.Run("n:1", "n:0");
        Close(T.F32([2], 1, 2), r[0]);
        Close(T.F32([2], 1, 2), r[1]);
    }
}
