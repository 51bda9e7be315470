using GraphCompiler.Frontend.Lowering;

namespace GraphCompiler.Tests.Frontend;

/// <summary>Values the lowerer knows at import time are evaluated when asked for, with the interpreter's results.</summary>
public sealed class LowererKnownValuesTests
{
    [Fact]
    public void ValuesComputedFromConstantsAreKnown()
    {
        var fb = new FunctionBuilder();
        var l = new Lowerer(fb.Body);
        var x = fb.Arg(ElementType.F32, 2, 3);
        var bias = l.Constant(Tensor.FromDoubles(new TensorType(ElementType.F32, 3), [1, 2, 3]));
        var wide = l.Broadcast(bias, [2, 3]);
        var doubled = l.Binary("add", wide, wide);
        var mixed = l.Binary("add", x, wide);
        Assert.Equal([2.0, 4, 6, 2, 4, 6], Enumerable.Range(0, 6).Select(i => l.Known(doubled)!.GetDouble(i)));
        Assert.Null(l.Known(mixed));
        Assert.Null(l.Known(x));
    }

    [Fact]
    public void LongChainsOfKnownOpsEvaluateWithoutDeepRecursion()
    {
        var fb = new FunctionBuilder();
        var l = new Lowerer(fb.Body);
        var v = l.Scalar(ElementType.I64, 0);
        var one = l.Scalar(ElementType.I64, 1);
        for (int i = 0; i < 20_000; i++) v = l.Emit("add", v, one);
        Assert.Equal(20_000, l.Known(v)!.GetInt64(0));
    }

    [Fact]
    public void ANestedLowererSeesTheEnclosingValues()
    {
        var fb = new FunctionBuilder();
        var l = new Lowerer(fb.Body);
        var c = l.Emit("add", l.Scalar(ElementType.I32, 20), l.Scalar(ElementType.I32, 22));
        var inner = l.Nested(new IrBuilder());
        Assert.Equal(42, inner.Known(c)!.GetInt64(0));
    }
}
