namespace GraphCompiler.Tests.IR;

public sealed class ElementwiseTests
{
    private static Tensor Unary(string op, Tensor x, string? resultType = null) =>
        IrTest.Run(IrTest.Func($"  %0 = {op} %arg0 : {resultType ?? x.Type.ToString()}\n  return %0", resultType ?? x.Type.ToString(), x.Type.ToString()), x)[0];

    private static Tensor Binary(string op, Tensor x, Tensor y, string? attrs = null, string? resultType = null)
    {
        var rt = resultType ?? x.Type.ToString();
        return IrTest.Run(IrTest.Func($"  %0 = {op} %arg0, %arg1{(attrs is null ? "" : " {" + attrs + "}")} : {rt}\n  return %0", rt,
            x.Type.ToString(), y.Type.ToString()), x, y)[0];
    }

    [Fact]
    public void AddTwoVectors() =>
        IrTest.AssertTensor(T.F32([3], 11, 22, 33), Binary("add", T.F32([3], 1, 2, 3), T.F32([3], 10, 20, 30)));

    [Fact]
    public void FloatArithmeticRoundsOnceToF32()
    {
        // 0.1f + 0.2f in f32 is 0.3000000119..., which is what rounding the exact double sum gives.
        var r = Binary("add", T.F32(0.1), T.F32(0.2));
        Assert.Equal(0.1f + 0.2f, (float)r.GetDouble(0));
    }

    [Fact]
    public void F16AndBF16RoundToNearestEven()
    {
        // 1 + 2^-11 is exactly halfway between two f16 values: ties to even gives 1.0.
        IrTest.AssertTensor(T.F16([1], 1.0), Binary("add", T.F16([1], 1.0), T.F16([1], Math.Pow(2, -11))));
        // bf16 has 8 significand bits: 1 + 2^-8 ties to even → 1.0; 1 + 3·2^-9 rounds up to 1 + 2^-7.
        IrTest.AssertTensor(T.BF16([2], 1.0, 1.0 + Math.Pow(2, -7)),
            Binary("add", T.BF16([2], 1.0, 1.0), T.BF16([2], Math.Pow(2, -8), 0.75 * Math.Pow(2, -7))));
    }

    [Fact]
    public void IntegerArithmeticWraps()
    {
        IrTest.AssertTensor(T.I8([2], -128, 126), Binary("add", T.I8([2], 127, 127), T.I8([2], 1, -1)));
        IrTest.AssertTensor(T.U8([2], 255, 0), Binary("sub", T.U8([2], 0, 5), T.U8([2], 1, 5)));
        IrTest.AssertTensor(T.I32([1], 0), Binary("mul", T.I32([1], 65536), T.I32([1], 65536)));
    }

    [Fact]
    public void IntegerDivisionTruncatesAndDefinesDivisionByZero()
    {
        IrTest.AssertTensor(T.I32([5], -3, 3, -1, int.MinValue, -3),
            Binary("div", T.I32([5], -7, 7, 5, int.MinValue, 7), T.I32([5], 2, 2, 0, -1, -2)));
        IrTest.AssertTensor(T.U32([2], 3, uint.MaxValue), Binary("div", T.U32([2], 7, 9), T.U32([2], 2, 0)));
    }

    [Fact]
    public void RemainderHasTheDividendsSign()
    {
        IrTest.AssertTensor(T.I32([5], -1, 1, 1, 5, 0), Binary("rem", T.I32([5], -7, 7, 7, 5, int.MinValue), T.I32([5], 2, 2, -2, 0, -1)));
        IrTest.AssertTensor(T.F32([2], -1.5, 1.5), Binary("rem", T.F32([2], -5.5, 5.5), T.F32([2], 2, -2)));
    }

    [Fact]
    public void MaxAndMinPropagateNaNAndOrderSignedZeros()
    {
        var r = Binary("max", T.F32([3], double.NaN, 1, -0.0), T.F32([3], 1, double.NaN, 0.0));
        Assert.True(double.IsNaN(r.GetDouble(0)) && double.IsNaN(r.GetDouble(1)));
        Assert.False(double.IsNegative(r.GetDouble(2)));
        var m = Binary("min", T.F32([1], 0.0), T.F32([1], -0.0));
        Assert.True(double.IsNegative(m.GetDouble(0)));
        IrTest.AssertTensor(T.U8([1], 200), Binary("max", T.U8([1], 200), T.U8([1], 100)));
        IrTest.AssertTensor(T.I8([1], -100), Binary("min", T.I8([1], 100), T.I8([1], -100)));
    }

    [Fact]
    public void IntegerPower()
    {
        IrTest.AssertTensor(T.I32([5], 1024, 1, 0, -1, 1), Binary("pow", T.I32([5], 2, 5, 3, -1, -1), T.I32([5], 10, 0, -1, 3, -2)));
        IrTest.AssertTensor(T.F32([2], 8, 0.5), Binary("pow", T.F32([2], 2, 4), T.F32([2], 3, -0.5)));
    }

    [Fact]
    public void BitwiseAndLogical()
    {
        IrTest.AssertTensor(T.I32([1], 0b1000), Binary("and", T.I32([1], 0b1100), T.I32([1], 0b1010)));
        IrTest.AssertTensor(T.I32([1], 0b1110), Binary("or", T.I32([1], 0b1100), T.I32([1], 0b1010)));
        IrTest.AssertTensor(T.I32([1], 0b0110), Binary("xor", T.I32([1], 0b1100), T.I32([1], 0b1010)));
        IrTest.AssertTensor(T.Bool([4], false, false, false, true), Binary("and", T.Bool([4], false, true, false, true), T.Bool([4], false, false, true, true)));
        IrTest.AssertTensor(T.Bool([2], true, false), Unary("not", T.Bool([2], false, true)));
        IrTest.AssertTensor(T.U8([1], 0xF0), Unary("not", T.U8([1], 0x0F)));
    }

    [Fact]
    public void Shifts()
    {
        IrTest.AssertTensor(T.I8([3], -128, 0, 0), Binary("shift_left", T.I8([3], 1, 1, 1), T.I8([3], 7, 8, -1)));
        IrTest.AssertTensor(T.I8([3], -4, -1, 0), Binary("shift_right_arithmetic", T.I8([3], -16, -16, 16), T.I8([3], 2, 9, 9)));
        IrTest.AssertTensor(T.I8([2], 60, 0), Binary("shift_right_logical", T.I8([2], -16, -16), T.I8([2], 2, 8)));
        IrTest.AssertTensor(T.U8([1], 0x3C), Binary("shift_right_logical", T.U8([1], 0xF0), T.U8([1], 2)));
    }

    [Fact]
    public void Atan2() =>
        IrTest.AssertTensor(T.F64([2], Math.PI / 4, -Math.PI / 2), Binary("atan2", T.F64([2], 1, -1), T.F64([2], 1, 0)));

    [Theory]
    [InlineData("neg", 2.5, -2.5)]
    [InlineData("abs", -2.5, 2.5)]
    [InlineData("sign", -2.5, -1)]
    [InlineData("exp", 1.0, Math.E)]
    [InlineData("expm1", 1e-10, 1.00000000005e-10)]
    [InlineData("log", Math.E, 1)]
    [InlineData("log1p", 1e-10, 9.9999999995e-11)]
    [InlineData("sqrt", 2.25, 1.5)]
    [InlineData("rsqrt", 4.0, 0.5)]
    [InlineData("cbrt", -27.0, -3)]
    [InlineData("tanh", 0.5, 0.46211715726000974)]
    [InlineData("logistic", 0.0, 0.5)]
    [InlineData("logistic", -800.0, 0.0)]
    [InlineData("erf", 0.5, 0.5204998778130465)]
    [InlineData("erf", -2.5, -0.9995930479825550)]
    [InlineData("erf", 1e-3, 1.1283787909692363e-3)]
    [InlineData("sin", Math.PI / 2, 1)]
    [InlineData("cos", 0.0, 1)]
    [InlineData("tan", Math.PI / 4, 1)]
    [InlineData("asin", 1.0, Math.PI / 2)]
    [InlineData("acos", 1.0, 0)]
    [InlineData("atan", 1.0, Math.PI / 4)]
    [InlineData("sinh", 1.0, 1.1752011936438014)]
    [InlineData("cosh", 1.0, 1.5430806348152437)]
    [InlineData("asinh", 1.0, 0.881373587019543)]
    [InlineData("acosh", 2.0, 1.3169578969248166)]
    [InlineData("atanh", 0.5, 0.5493061443340549)]
    [InlineData("floor", -1.5, -2)]
    [InlineData("ceil", -1.5, -1)]
    [InlineData("round", 2.5, 2)]
    [InlineData("round", 3.5, 4)]
    [InlineData("round", -2.5, -2)]
    public void FloatUnaryInF64(string op, double x, double expected) =>
        IrTest.AssertTensor(T.F64([1], expected), Unary(op, T.F64([1], x)), rtol: 1e-14, atol: 1e-300);

    [Fact]
    public void UnaryOnIntegersAndEdgeValues()
    {
        IrTest.AssertTensor(T.I8([3], -128, 5, -5), Unary("neg", T.I8([3], -128, -5, 5)));
        IrTest.AssertTensor(T.I8([2], -128, 7), Unary("abs", T.I8([2], -128, -7)));
        IrTest.AssertTensor(T.I32([3], -1, 0, 1), Unary("sign", T.I32([3], -9, 0, 4)));
        var s = Unary("sign", T.F32([2], double.NaN, -0.0));
        Assert.True(double.IsNaN(s.GetDouble(0)));
        Assert.True(double.IsNegative(s.GetDouble(1)) && s.GetDouble(1) == 0);
        IrTest.AssertTensor(T.F32([2], double.NaN, double.NegativeInfinity), Unary("log", T.F32([2], -1, 0)));
    }

    [Fact]
    public void IsFiniteGivesBool() =>
        IrTest.AssertTensor(T.Bool([4], true, false, false, false),
            Unary("is_finite", T.F32([4], 1, double.NaN, double.PositiveInfinity, double.NegativeInfinity), "tensor<4xbool>"));

    [Fact]
    public void EmptyAndScalarTensors()
    {
        IrTest.AssertTensor(T.F32([0]), Binary("add", T.F32([0]), T.F32([0])));
        IrTest.AssertTensor(T.F32([2, 0]), Unary("exp", T.F32([2, 0])));
        IrTest.AssertTensor(T.F32(3), Binary("mul", T.F32(1.5), T.F32(2)));
    }

    [Theory]
    [InlineData("eq", new[] { false, true, false, false })]
    [InlineData("ne", new[] { true, false, true, true })]
    [InlineData("lt", new[] { true, false, false, false })]
    [InlineData("le", new[] { true, true, false, false })]
    [InlineData("gt", new[] { false, false, true, false })]
    [InlineData("ge", new[] { false, true, true, false })]
    public void CompareFloatsWithNaNUnordered(string direction, bool[] expected) =>
        IrTest.AssertTensor(T.Bool([4], expected),
            Binary("compare", T.F32([4], 1, 2, 3, double.NaN), T.F32([4], 2, 2, 2, double.NaN), $"direction = {direction}", "tensor<4xbool>"));

    [Fact]
    public void CompareUnsignedUsesUnsignedOrder() =>
        IrTest.AssertTensor(T.Bool([1], true),
            Binary("compare", T.U64([1], -1), T.U64([1], 1), "direction = gt", "tensor<1xbool>"));

    [Fact]
    public void SelectWithTensorAndScalarPredicate()
    {
        var text = IrTest.Func("  %0 = select %arg0, %arg1, %arg2 : tensor<3xi32>\n  return %0", "tensor<3xi32>", "tensor<3xbool>", "tensor<3xi32>", "tensor<3xi32>");
        IrTest.AssertTensor(T.I32([3], 1, 20, 3), IrTest.Run(text, T.Bool([3], true, false, true), T.I32([3], 1, 2, 3), T.I32([3], 10, 20, 30))[0]);
        var scalar = IrTest.Func("  %0 = select %arg0, %arg1, %arg2 : tensor<2xf32>\n  return %0", "tensor<2xf32>", "tensor<bool>", "tensor<2xf32>", "tensor<2xf32>");
        IrTest.AssertTensor(T.F32([2], 5, 6), IrTest.Run(scalar, T.Bool([], false), T.F32([2], 1, 2), T.F32([2], 5, 6))[0]);
    }

    [Fact]
    public void ClampWithScalarBounds()
    {
        var text = IrTest.Func("  %0 = clamp %arg0, %arg1, %arg2 : tensor<4xf32>\n  return %0", "tensor<4xf32>", "tensor<f32>", "tensor<4xf32>", "tensor<f32>");
        var r = IrTest.Run(text, T.F32(0), T.F32([4], -1, 0.5, 7, double.NaN), T.F32(6))[0];
        IrTest.AssertTensor(T.F32([4], 0, 0.5, 6, double.NaN), r);
    }

    [Fact]
    public void RejectsMismatchedOperandTypes() =>
        IrTest.Rejects(IrTest.Func("  %0 = add %arg0, %arg1 : tensor<2xf32>\n  return %0", "tensor<2xf32>", "tensor<2xf32>", "tensor<3xf32>"),
            "operands must have the same type, got tensor<2xf32> and tensor<3xf32>");

    [Fact]
    public void RejectsFloatOpOnIntegers() =>
        IrTest.Rejects(IrTest.Func("  %0 = exp %arg0 : tensor<2xi32>\n  return %0", "tensor<2xi32>", "tensor<2xi32>"),
            "operand is tensor<2xi32>, expected a float type");

    [Fact]
    public void RejectsBitwiseOnFloats() =>
        IrTest.Rejects(IrTest.Func("  %0 = and %arg0, %arg0 : tensor<2xf32>\n  return %0", "tensor<2xf32>", "tensor<2xf32>"),
            "expected an integer or bool type");

    [Fact]
    public void RejectsUnknownDirection() =>
        IrTest.Rejects(IrTest.Func("  %0 = compare %arg0, %arg0 {direction = sideways} : tensor<2xbool>\n  return %0", "tensor<2xbool>", "tensor<2xf32>"),
            "attribute 'direction' must be one of eq|ne|lt|le|gt|ge, got sideways");

    [Fact]
    public void RejectsSelectPredicateOfWrongShape() =>
        IrTest.Rejects(IrTest.Func("  %0 = select %arg0, %arg1, %arg1 : tensor<3xf32>\n  return %0", "tensor<3xf32>", "tensor<2xbool>", "tensor<3xf32>"),
            "predicate shape [2] must be [] or [3]");

    [Fact]
    public void RejectsClampBoundOfWrongType() =>
        IrTest.Rejects(IrTest.Func("  %0 = clamp %arg1, %arg0, %arg1 : tensor<3xf32>\n  return %0", "tensor<3xf32>", "tensor<3xf32>", "tensor<2xf32>"),
            "bound tensor<2xf32> must be tensor<3xf32> or tensor<f32>");

    [Fact]
    public void EveryElementwiseOpRoundTrips()
    {
        foreach (var def in GraphCompiler.IR.Ops.ElementwiseOps.All.OfType<GraphCompiler.IR.Ops.UnaryOp>())
        {
            var type = def.Accepts.HasFlag(GraphCompiler.IR.Ops.TypeClass.Float) ? "tensor<2xf32>" : "tensor<2xi32>";
            var rt = def.Name == "is_finite" ? "tensor<2xbool>" : type;
            IrTest.AssertRoundTrip(IrTest.Parse(IrTest.Func($"  %0 = {def.Name} %arg0 : {rt}\n  return %0", rt, type)));
        }
        foreach (var def in GraphCompiler.IR.Ops.ElementwiseOps.All.OfType<GraphCompiler.IR.Ops.BinaryOp>())
        {
            var type = def.Accepts.HasFlag(GraphCompiler.IR.Ops.TypeClass.Float) ? "tensor<2xf32>" : "tensor<2xi32>";
            IrTest.AssertRoundTrip(IrTest.Parse(IrTest.Func($"  %0 = {def.Name} %arg0, %arg0 : {type}\n  return %0", type, type)));
        }
    }
}
