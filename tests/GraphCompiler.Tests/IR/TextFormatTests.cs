using GraphCompiler.IR.Text;

namespace GraphCompiler.Tests.IR;

public sealed class TextFormatTests
{
    private static string Error(string text)
    {
        var r = Parser.ParseModule(text, "f.ir");
        Assert.False(r.Ok);
        Assert.Single(r.Diagnostics);
        return r.Diagnostics[0].ToString();
    }

    [Theory]
    [InlineData("func @main() -> () {\n  return\n", "f.ir:3:1: error: expected '}', found end of input")]
    [InlineData("func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n  %0 = frobnicate %x : tensor<2xf32>\n  return %0\n}\n", "f.ir:2:8: error: unknown op 'frobnicate'")]
    [InlineData("func @main(%x: tensor<2xq7>) -> () {\n  return\n}\n", "f.ir:1:16: error: unknown element type 'q7'")]
    [InlineData("func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n  %0 = neg %y : tensor<2xf32>\n  return %0\n}\n", "f.ir:2:12: error: use of undefined value %y")]
    [InlineData("func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n  %x = neg %x : tensor<2xf32>\n  return %x\n}\n", "f.ir:2:3: error: value %x is defined twice")]
    [InlineData("func @main() -> () {\n  %0, %1 = iota : tensor<2xi32>\n  return\n}\n", "f.ir:2:3: error: 'iota' defines 2 value(s) but lists 1 result type(s)")]
    [InlineData("func @main() -> (tensor<f32>) {\n  %0 = constant {value = dense<1.0>, value = dense<2.0>} : tensor<f32>\n  return %0\n}\n", "f.ir:2:38: error: attribute 'value' given twice")]
    [InlineData("func @main() -> (tensor<99999999999x99999999999xf32>) {\n  return\n}\n", "f.ir:1:18: error: invalid type tensor<99999999999x99999999999xf32>: tensor<99999999999x99999999999xf32> is larger than 1 TiB")]
    [InlineData("func @main() -> (tensor<1x1x1x1x1x1x1x1x1xf32>) {\n  return\n}\n", "rank 9 exceeds the maximum rank 8")]
    [InlineData("", "f.ir:1:1: error: no functions in input")]
    [InlineData("func @f() -> () {\n  return\n}\nfunc @f() -> () {\n  return\n}\n", "f.ir:4:1: error: function @f is defined twice")]
    [InlineData("func @main() -> () {\n  %0 = constant {value = \"abc} : tensor<f32>\n}\n", "f.ir:2:26: error: unterminated string")]
    public void ErrorsNameFileLineAndColumn(string text, string expected) => Assert.Contains(expected, Error(text));

    [Fact]
    public void VerifierErrorsCarryTheOpsPosition()
    {
        var e = Error("func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n  %0 = add %x, %x : tensor<3xf32>\n  return %0\n}\n");
        Assert.Equal("f.ir:2:8: error: @main: 'add' defining %0: result type(s) (tensor<3xf32>) differ from the inferred (tensor<2xf32>)", e);
    }

    [Fact]
    public void UnknownAttributeIsNamed()
    {
        var e = Error("func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n  %0 = neg %x {fast = true} : tensor<2xf32>\n  return %0\n}\n");
        Assert.Contains("unknown attribute 'fast' (it takes none)", e);
    }

    [Fact]
    public void WrongOperandCountIsNamed()
    {
        var e = Error("func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n  %0 = add %x : tensor<2xf32>\n  return %0\n}\n");
        Assert.Contains("takes 2 operand(s), got 1", e);
    }

    [Fact]
    public void CommentsAndFreeFormNamesAreAccepted()
    {
        var m = IrTest.Parse("""
            // leading comment
            func @main(%input.0: tensor<f32>) -> (tensor<f32>) { // trailing
              %a_b = neg %input.0 : tensor<f32>
              return %a_b
            }
            """);
        Assert.Equal("""
            func @main(%arg0: tensor<f32>) -> (tensor<f32>) {
              %0 = neg %arg0 : tensor<f32>
              return %0
            }

            """.ReplaceLineEndings("\n"), Printer.Print(m));
    }

    [Fact]
    public void FloatsPrintShortestRoundTripForTheirType()
    {
        Assert.Equal("0.1", TensorFormatter.FormatFloat(ElementType.F32, (float)0.1));
        Assert.Equal("0.1", TensorFormatter.FormatFloat(ElementType.F64, 0.1));
        Assert.Equal("0.1", TensorFormatter.FormatFloat(ElementType.F16, (double)(Half)0.1));
        Assert.Equal("1.0", TensorFormatter.FormatFloat(ElementType.F32, 1));
        Assert.Equal("-0.0", TensorFormatter.FormatFloat(ElementType.F32, -0.0));
        Assert.Equal("1e30", TensorFormatter.FormatFloat(ElementType.F32, (float)1e30));
        Assert.Equal("nan", TensorFormatter.FormatFloat(ElementType.F32, double.NaN));
        Assert.Equal("-inf", TensorFormatter.FormatFloat(ElementType.F32, double.NegativeInfinity));
    }

    [Fact]
    public void LargeConstantsAreElidedByHashAndStillParse()
    {
        var values = string.Join(", ", Enumerable.Range(0, 100).Select(i => i.ToString()));
        var m = IrTest.Parse($"func @main() -> (tensor<100xi32>) {{\n  %0 = constant {{value = dense<[{values}]>}} : tensor<100xi32>\n  return %0\n}}\n");
        var printed = Printer.Print(m);
        Assert.Matches("dense_elided<\"[0-9a-f]{16}\">", printed);
        var reparsed = IrTest.Parse(printed);
        Assert.Equal(printed, Printer.Print(reparsed));
        var err = new Interpreter(reparsed).Run(null, []);
        Assert.False(err.Ok);
        Assert.Contains("constant contents were elided", err.Diagnostics[0].Message);
        Assert.Contains(values, Printer.Print(m, PrintOptions.Full));
    }

    [Fact]
    public void PrintingIsDeterministicAcrossBuilds()
    {
        Function Build()
        {
            var fb = new FunctionBuilder();
            var x = fb.Arg(ElementType.F32, 4);
            var y = fb.Body.Emit("exp", x);
            var z = fb.Body.Emit("add", x, y);
            return fb.Return(z);
        }
        Assert.Equal(Printer.Print(Build()), Printer.Print(Build()));
    }
}

public sealed class BuilderTests
{
    [Fact]
    public void BuilderInfersTypesAndProducesVerifiedIr()
    {
        var fb = new FunctionBuilder();
        var x = fb.Arg(new TensorType(ElementType.F32, 2, 3), "x");
        var one = fb.Body.Scalar(ElementType.F32, 1);
        var ones = fb.Body.BroadcastInDim(one, x.Type);
        var y = fb.Body.Emit("add", x, ones);
        var f = fb.Return(y);
        Assert.Empty(Verifier.Verify(f));
        Assert.Equal(x.Type, y.Type);
    }

    [Fact]
    public void BuilderRejectsInvalidOpsWithTheOpName()
    {
        var fb = new FunctionBuilder();
        var x = fb.Arg(ElementType.F32, 2);
        var i = fb.Arg(ElementType.I32, 2);
        var e = Assert.Throws<IrException>(() => fb.Body.Emit("add", x, i));
        Assert.Equal("'add': operands must have the same type, got tensor<2xf32> and tensor<2xi32>", e.Message);
    }

    [Fact]
    public void WithReturnsTheSameOperationWhenNothingChanges()
    {
        var fb = new FunctionBuilder();
        var x = fb.Arg(ElementType.F32, 2);
        fb.Body.Emit("neg", x);
        var op = fb.Body.Operations[0];
        Assert.Same(op, op.With(operands: op.Operands, attributes: op.Attributes));
        Assert.NotSame(op, op.With(operands: [new Value(x.Type)]));
    }

    [Fact]
    public void DefaultAttributesAreNormalizedAway()
    {
        var fb = new FunctionBuilder();
        fb.Body.Emit("iota", [], AttrMap.Of(("dimension", A.Int(0))), new TensorType(ElementType.I32, 3));
        Assert.Equal(0, fb.Body.Operations[0].Attributes.Count);
    }
}
