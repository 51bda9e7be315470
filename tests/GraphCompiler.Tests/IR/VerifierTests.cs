using System.Collections.Immutable;

namespace GraphCompiler.Tests.IR;

/// <summary>Verifier errors that the parser cannot produce (it rejects such text earlier), built directly.</summary>
public sealed class VerifierTests
{
    private static readonly TensorType F2 = new(ElementType.F32, 2);

    private static Operation Op(string name, Value[] operands, Value[] results, AttrMap? attrs = null, Region[]? regions = null) =>
        new(OpRegistry.Get(name), [.. operands], attrs ?? AttrMap.Empty, [.. results], regions is null ? default : [.. regions]);

    private static string Verify(Function f)
    {
        var d = Verifier.Verify(f);
        Assert.NotEmpty(d);
        return d[0].Message;
    }

    [Fact]
    public void UseBeforeDefinition()
    {
        var x = new Value(F2);
        var a = new Value(F2);
        var b = new Value(F2);
        var f = new Function("main", new Region([x], [Op("neg", [b], [a]), Op("neg", [x], [b]), Op("return", [a], [])]), [F2]);
        Assert.Equal("@main: 'neg' defining %0: operand #0 (%1) is used before it is defined", Verify(f));
    }

    [Fact]
    public void ValueDefinedTwice()
    {
        var x = new Value(F2);
        var a = new Value(F2);
        var f = new Function("main", new Region([x], [Op("neg", [x], [a]), Op("neg", [x], [a]), Op("return", [a], [])]), [F2]);
        Assert.Contains("value %0 is defined more than once", Verify(f));
    }

    [Fact]
    public void UseOfAValueFromASiblingRegion()
    {
        var p = new Value(TensorType.Scalar(ElementType.Bool));
        var x = new Value(F2);
        var inner = new Value(F2);
        var r = new Value(F2);
        var bad = new Value(F2);
        var then = new Region([], [Op("neg", [x], [inner]), Op("yield", [inner], [])]);
        var @else = new Region([], [Op("yield", [x], [])]);
        var f = new Function("main", new Region([p, x],
            [Op("if", [p], [r], regions: [then, @else]), Op("add", [r, inner], [bad]), Op("return", [bad], [])]), [F2]);
        Assert.Contains("operand #1 (%1) is defined in a region that does not enclose this use", Verify(f));
    }

    [Fact]
    public void WrongRegionCount()
    {
        var p = new Value(TensorType.Scalar(ElementType.Bool));
        var r = new Value(F2);
        var x = new Value(F2);
        var f = new Function("main", new Region([p, x],
            [Op("if", [p], [r], regions: [new Region([], [Op("yield", [x], [])])]), Op("return", [r], [])]), [F2]);
        Assert.Contains("takes 2 region(s), got 1", Verify(f));
    }

    [Fact]
    public void VariableUpdateOfTheWrongType()
    {
        var w = new Value(F2);
        var y = new Value(new TensorType(ElementType.F32, 3));
        var c = Tensor.Zeros(y.Type);
        var f = new Function("main", new Region([w], [Op("constant", [], [y], AttrMap.Of(("value", A.Tensor(c)))), Op("return", [y], [])]),
            [y.Type], [new ArgumentInfo("w", true)], [new ResultInfo(Updates: 0)]);
        Assert.Contains("result #0 (tensor<3xf32>) updates %arg0 of type tensor<2xf32>", Verify(f));
    }

    [Fact]
    public void VariableUpdatedTwice()
    {
        var w = new Value(F2);
        var f = new Function("main", new Region([w], [Op("return", [w, w], [])]), [F2, F2],
            [new ArgumentInfo("w", true)], [new ResultInfo(Updates: 0), new ResultInfo(Updates: 0)]);
        Assert.Contains("%arg0 is updated by more than one result", Verify(f));
    }

    [Fact]
    public void AttributeOfTheWrongKind()
    {
        var x = new Value(F2);
        var r = new Value(new TensorType(ElementType.Bool, 2));
        var f = new Function("main", new Region([x],
            [Op("compare", [x, x], [r], AttrMap.Of(("direction", A.Int(3)))), Op("return", [r], [])]), [r.Type]);
        Assert.Contains("attribute 'direction' must be one of eq|ne|lt|le|gt|ge, got 3", Verify(f));
    }

    [Fact]
    public void InvalidDeclaredType()
    {
        var big = new TensorType(ElementType.F32, 1L << 30, 1L << 30);
        var r = new Value(big);
        var f = new Function("main", new Region([], [Op("iota", [], [r]), Op("return", [r], [])]), [big]);
        Assert.Contains("invalid result type", Verify(f));
    }

    [Fact]
    public void EveryFunctionIsVerifiedAndTheFirstErrorIsReported()
    {
        var good = IrTest.Parse("func @a(%x: tensor<f32>) -> (tensor<f32>) {\n  return %x\n}\n").Functions[0];
        var x = new Value(F2);
        var bad = new Function("b", new Region([x], [Op("return", [x, x], [])]), [F2]);
        var d = Verifier.Verify(new Module([good, bad]));
        Assert.Single(d);
        Assert.Contains("@b: 'return': returns (tensor<2xf32>, tensor<2xf32>) but @b declares (tensor<2xf32>)", d[0].Message);
    }
}
