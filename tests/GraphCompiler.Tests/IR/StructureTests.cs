namespace GraphCompiler.Tests.IR;

public sealed class StructureTests
{
    private static Tensor Convert(Tensor x, string to) =>
        IrTest.Run(IrTest.Func($"  %0 = convert %arg0 : {to}\n  return %0", to, x.Type.ToString()), x)[0];

    [Fact]
    public void ConstantOfEveryElementType()
    {
        var r = IrTest.Run("""
            func @main() -> (tensor<2xf16>, tensor<2xbf16>, tensor<2xf64>, tensor<2xi8>, tensor<2xu64>, tensor<2xbool>, tensor<i16>, tensor<2x0xf32>) {
              %0 = constant {value = dense<[0.5, -2.0]>} : tensor<2xf16>
              %1 = constant {value = dense<[1.5, 3.0]>} : tensor<2xbf16>
              %2 = constant {value = dense<[1e300, nan]>} : tensor<2xf64>
              %3 = constant {value = dense<[-128, 127]>} : tensor<2xi8>
              %4 = constant {value = dense<[18446744073709551615, 0]>} : tensor<2xu64>
              %5 = constant {value = dense<[true, false]>} : tensor<2xbool>
              %6 = constant {value = dense<-7>} : tensor<i16>
              %7 = constant {value = dense<[[], []]>} : tensor<2x0xf32>
              return %0, %1, %2, %3, %4, %5, %6, %7
            }
            """);
        IrTest.AssertTensor(T.F16([2], 0.5, -2), r[0]);
        IrTest.AssertTensor(T.BF16([2], 1.5, 3), r[1]);
        IrTest.AssertTensor(T.F64([2], 1e300, double.NaN), r[2]);
        IrTest.AssertTensor(T.I8([2], -128, 127), r[3]);
        Assert.Equal(ulong.MaxValue, r[4].GetUInt64(0));
        IrTest.AssertTensor(T.Bool([2], true, false), r[5]);
        IrTest.AssertTensor(T.I16([], -7), r[6]);
        Assert.Equal(0, r[7].ElementCount);
    }

    [Fact]
    public void SplatConstantFillsTheShape() =>
        IrTest.AssertTensor(T.I32([2, 2], 3, 3, 3, 3), IrTest.Run("""
            func @main() -> (tensor<2x2xi32>) {
              %0 = constant {value = dense<3>} : tensor<2x2xi32>
              return %0
            }
            """)[0]);

    [Theory]
    [InlineData("dense<[1, 2, 3]>", "tensor<2xi32>", "dense literal has 3 element(s) in dimension 0, tensor<2xi32> needs 2")]
    [InlineData("dense<[[1], [2]]>", "tensor<2xi32>", "dense literal nests deeper than the rank 1")]
    [InlineData("dense<[300]>", "tensor<1xi8>", "300 does not fit in i8")]
    [InlineData("dense<[1.5]>", "tensor<1xi32>", "expected an integer for a i32 element, found '1.5'")]
    [InlineData("dense<[2]>", "tensor<1xbool>", "expected true or false")]
    public void RejectsBadConstants(string literal, string type, string message) =>
        IrTest.Rejects($"func @main() -> ({type}) {{\n  %0 = constant {{value = {literal}}} : {type}\n  return %0\n}}\n", message);

    [Fact]
    public void RejectsConstantWithoutValue() =>
        IrTest.Rejects("func @main() -> (tensor<f32>) {\n  %0 = constant : tensor<f32>\n  return %0\n}\n", "missing required attribute 'value'");

    [Fact]
    public void IotaAlongEachDimension()
    {
        var r = IrTest.Run("""
            func @main() -> (tensor<2x3xi32>, tensor<2x3xf32>) {
              %0 = iota {dimension = 1} : tensor<2x3xi32>
              %1 = iota : tensor<2x3xf32>
              return %0, %1
            }
            """);
        IrTest.AssertTensor(T.I32([2, 3], 0, 1, 2, 0, 1, 2), r[0]);
        IrTest.AssertTensor(T.F32([2, 3], 0, 0, 0, 1, 1, 1), r[1]);
    }

    [Fact]
    public void RejectsIotaDimensionOutOfRange() =>
        IrTest.Rejects("func @main() -> (tensor<2xi32>) {\n  %0 = iota {dimension = 1} : tensor<2xi32>\n  return %0\n}\n", "dimension 1 is out of range for tensor<2xi32>");

    [Fact]
    public void RejectsScalarIota() =>
        IrTest.Rejects("func @main() -> (tensor<i32>) {\n  %0 = iota : tensor<i32>\n  return %0\n}\n", "result must have rank 1 or more");

    [Fact]
    public void ConvertFloatToIntTruncatesAndSaturates() =>
        IrTest.AssertTensor(T.I8([6], 2, -2, 127, -128, 0, 127),
            Convert(T.F32([6], 2.9, -2.9, 1000, -1000, double.NaN, double.PositiveInfinity), "tensor<6xi8>"));

    [Fact]
    public void ConvertFloatToUnsignedSaturatesAtZero() =>
        IrTest.AssertTensor(T.U32([3], 0, 4294967295, 7), Convert(T.F64([3], -5, 1e20, 7.5), "tensor<3xu32>"));

    [Fact]
    public void ConvertIntegersWrap() =>
        IrTest.AssertTensor(T.I8([3], -1, 0, 127), Convert(T.I32([3], 255, 256, 127), "tensor<3xi8>"));

    [Fact]
    public void ConvertUnsignedToSignedKeepsBits() =>
        IrTest.AssertTensor(T.I64([1], -1), Convert(T.U64([1], -1), "tensor<1xi64>"));

    [Fact]
    public void ConvertUnsignedToFloatIsUnsigned() =>
        Assert.Equal(18446744073709551615.0, Convert(T.U64([1], -1), "tensor<1xf64>").GetDouble(0));

    [Fact]
    public void ConvertToAndFromBool()
    {
        IrTest.AssertTensor(T.Bool([4], false, true, true, true), Convert(T.F32([4], 0, -0.5, double.NaN, 3), "tensor<4xbool>"));
        IrTest.AssertTensor(T.F32([2], 1, 0), Convert(T.Bool([2], true, false), "tensor<2xf32>"));
    }

    [Fact]
    public void ConvertF32ToF16RoundsToNearestEven()
    {
        // 2049 is halfway between the f16 neighbours 2048 and 2050: ties to even → 2048; 2051 → 2052.
        IrTest.AssertTensor(T.F16([3], 2048, 2052, double.PositiveInfinity), Convert(T.F32([3], 2049, 2051, 70000), "tensor<3xf16>"));
    }

    [Fact]
    public void ConvertF64ToBF16AvoidsDoubleRounding()
    {
        // 1 + 2^-8 + 2^-30 is just above the bf16 midpoint; rounding to f32 first would drop the 2^-30
        // and then tie to even (1.0). Correct rounding gives 1 + 2^-7.
        var x = 1 + Math.Pow(2, -8) + Math.Pow(2, -30);
        IrTest.AssertTensor(T.BF16([1], 1 + Math.Pow(2, -7)), Convert(T.F64([1], x), "tensor<1xbf16>"));
    }

    [Fact]
    public void RejectsConvertChangingShape() =>
        IrTest.Rejects(IrTest.Func("  %0 = convert %arg0 : tensor<3xi32>\n  return %0", "tensor<3xi32>", "tensor<2xf32>"),
            "cannot change the shape: tensor<2xf32> to tensor<3xi32>");
}
