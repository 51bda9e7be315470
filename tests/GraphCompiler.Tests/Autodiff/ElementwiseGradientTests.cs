namespace GraphCompiler.Tests.Autodiff;

/// <summary>
/// Every elementwise rule against central finite differences (<see cref="GradientCheck"/>: f64, step 1e-6,
/// |autodiff − numeric| ≤ 1e-6 + 1e-5·|numeric|), on random inputs inside each op's domain.
/// </summary>
public sealed class ElementwiseGradientTests
{
    private const string T = "tensor<2x3xf64>";

    [Theory]
    [InlineData("neg", -1, 1)]
    [InlineData("abs", 0.1, 1)]
    [InlineData("abs", -1, -0.1)]
    [InlineData("sign", -1, 1)]
    [InlineData("exp", -1, 1)]
    [InlineData("expm1", -1, 1)]
    [InlineData("log", 0.5, 2)]
    [InlineData("log1p", -0.5, 1)]
    [InlineData("sqrt", 0.5, 2)]
    [InlineData("rsqrt", 0.5, 2)]
    [InlineData("cbrt", 0.5, 2)]
    [InlineData("cbrt", -2, -0.5)]
    [InlineData("tanh", -2, 2)]
    [InlineData("logistic", -3, 3)]
    [InlineData("erf", -2, 2)]
    [InlineData("sin", -3, 3)]
    [InlineData("cos", -3, 3)]
    [InlineData("tan", -1, 1)]
    [InlineData("asin", -0.8, 0.8)]
    [InlineData("acos", -0.8, 0.8)]
    [InlineData("atan", -3, 3)]
    [InlineData("sinh", -2, 2)]
    [InlineData("cosh", -2, 2)]
    [InlineData("asinh", -2, 2)]
    [InlineData("acosh", 1.5, 3)]
    [InlineData("atanh", -0.8, 0.8)]
    [InlineData("floor", -3, 3)]
    [InlineData("ceil", -3, 3)]
    [InlineData("round", -3, 3)]
    public void Unary(string op, double lo, double hi) =>
        GradientCheck.Check(IrTest.Func($"  %r = {op} %arg0 : {T}\n  return %r", T, T), lo: lo, hi: hi);

    [Theory]
    [InlineData("add", -1, 1)]
    [InlineData("sub", -1, 1)]
    [InlineData("mul", -1, 1)]
    [InlineData("div", 0.5, 2)]
    [InlineData("rem", 0.3, 2)]
    [InlineData("pow", 0.5, 2)]
    [InlineData("max", -1, 1)]
    [InlineData("min", -1, 1)]
    [InlineData("atan2", -1, 1)]
    public void Binary(string op, double lo, double hi) =>
        GradientCheck.Check(IrTest.Func($"  %r = {op} %arg0, %arg1 : {T}\n  return %r", T, T, T), lo: lo, hi: hi);

    /// <summary>Both operands are the same value: the chain rule must add the two contributions.</summary>
    [Theory]
    [InlineData("mul")]
    [InlineData("div")]
    [InlineData("pow")]
    public void SameValueOnBothSides(string op) =>
        GradientCheck.Check(IrTest.Func($"  %r = {op} %arg0, %arg0 : {T}\n  return %r", T, T), lo: 0.5, hi: 2);

    /// <summary>At a tie max and min give each operand half, which is what a central difference measures.</summary>
    [Theory]
    [InlineData("max")]
    [InlineData("min")]
    public void TiesSplitEvenly(string op)
    {
        var x = Tensor.FromDoubles(new TensorType(ElementType.F64, 2, 3), [0.5, -0.25, 1, 0, 2, -3]);
        var g = GradientCheck.Check(IrTest.Func($"  %r = {op} %arg0, %arg1 : {T}\n  return %r", T, T, T), inputs: [x, x]);
        for (int e = 0; e < 6; e++) Assert.Equal(g[0].GetDouble(e), g[1].GetDouble(e));
    }

    /// <summary>pow at a negative base: the exponent gets no gradient (the real power is flat in b there), the base does.</summary>
    [Fact]
    public void PowOfNegativeBaseAtIntegerExponents()
    {
        var a = Tensor.FromDoubles(new TensorType(ElementType.F64, 3), [-1.5, -0.5, 2]);
        var b = Tensor.FromDoubles(new TensorType(ElementType.F64, 3), [2, 3, 0]);
        var g = GradientCheck.Check(IrTest.Func("  %r = pow %arg0, %arg1 : tensor<3xf64>\n  return %r", "tensor<3xf64>", "tensor<3xf64>", "tensor<3xf64>"),
            wrt: [0], inputs: [a, b]);
        Assert.Equal(0, g[0].GetDouble(2)); // b = 0: x⁰ is flat
    }

    [Fact]
    public void SelectSendsTheCotangentToTheChosenBranch()
    {
        const string ir = """
            func @main(%p: tensor<2x3xbool>, %a: tensor<2x3xf64>, %b: tensor<2x3xf64>) -> (tensor<2x3xf64>) {
              %r = select %p, %a, %b : tensor<2x3xf64>
              return %r
            }
            """;
        var p = Tensor.FromInt64s(new TensorType(ElementType.Bool, 2, 3), [1, 0, 0, 1, 1, 0]);
        var rng = new Random(3);
        var t = new TensorType(ElementType.F64, 2, 3);
        GradientCheck.Check(ir, [1, 2], [p, GradientCheck.RandomTensor(t, rng, -1, 1), GradientCheck.RandomTensor(t, rng, -1, 1)]);
    }

    [Fact]
    public void ClampWithTensorBounds()
    {
        var t = new TensorType(ElementType.F64, 2, 3);
        var lo = Tensor.FromDoubles(t, [-0.5, -0.5, -0.5, 0, 0, 0]);
        var x = Tensor.FromDoubles(t, [-0.9, 0.1, 0.7, -0.2, 0.3, 0.9]);
        var hi = Tensor.FromDoubles(t, [0.5, 0.5, 0.5, 0.6, 0.6, 0.6]);
        GradientCheck.Check(IrTest.Func($"  %r = clamp %arg0, %arg1, %arg2 : {T}\n  return %r", T, T, T, T), inputs: [lo, x, hi]);
    }

    [Fact]
    public void ClampWithScalarBoundsSumsTheirCotangents()
    {
        var s = TensorType.Scalar(ElementType.F64);
        var x = Tensor.FromDoubles(new TensorType(ElementType.F64, 2, 3), [-0.9, 0.1, 0.7, -0.2, 0.3, 0.9]);
        GradientCheck.Check(IrTest.Func($"  %r = clamp %arg0, %arg1, %arg2 : {T}\n  return %r", T, "tensor<f64>", T, "tensor<f64>"),
            inputs: [Tensor.Scalar(ElementType.F64, -0.5), x, Tensor.Scalar(ElementType.F64, 0.5)]);
        _ = s;
    }

    /// <summary>A chain where one value feeds several ops: cotangents accumulate (tanh(x)·x + exp(x)).</summary>
    [Fact]
    public void FanOutAccumulates() =>
        GradientCheck.Check(IrTest.Func($"""
              %t = tanh %arg0 : {T}
              %m = mul %t, %arg0 : {T}
              %e = exp %arg0 : {T}
              %r = add %m, %e : {T}
              return %r
            """, T, T));
}
