using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.IR;
using static GraphCompiler.Tests.Frontend.TfGraph;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// An assignment on a branch of a TF1 conditional whose predicate is known only at run time: the variable's
/// value after it is the assigned value when that branch runs and the old one otherwise (TF's semantics, as a
/// functionalized cond computes it). Expected values are computed in the test.
/// </summary>
public sealed class TfConditionalAssignTests
{
    /// <summary>if x &lt; 5: v += 1; y = v (read after the assignment on the taken branch, before it on the other).</summary>
    private static TfGraph Graph(double x) => new TfGraph().Placeholder("x", T.F32(x))
        .Node("v", "VarHandleOp", [], ("dtype", Ty(ElementType.F32)), ("shape", new AttrValue { Shape = Shape([2]) }))
        .Const("lim", T.F32(5))
        .Node("p", "Less", ["x", "lim"], ("T", Ty(ElementType.F32)))
        .Node("sw", "Switch", ["v", "p"], ("T", Ty(DataType.DtResource)))
        .Const("one", T.F32([2], 1, 1))
        .Node("inc", "AssignAddVariableOp", ["sw:1", "one"], ("dtype", Ty(ElementType.F32)))
        .Node("rt", "ReadVariableOp", ["sw:1", "^inc"], ("dtype", Ty(ElementType.F32)))
        .Node("rf", "ReadVariableOp", ["sw:0"], ("dtype", Ty(ElementType.F32)))
        .Node("m", "Merge", ["rf", "rt"], ("N", I(2)), ("T", Ty(ElementType.F32)))
        .Node("y", "Identity", ["m"], ("T", Ty(ElementType.F32)));

    [Theory]
    [InlineData(1.0, true)]
    [InlineData(9.0, false)]
    public void TheVariableChangesOnlyWhenItsBranchRuns(double x, bool taken)
    {
        var r = Graph(x).Import("y");
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        var f = r.Value!.Functions[0];
        double[] v = [2.5, -4];
        var args = Enumerable.Range(0, f.Arguments.Length).Select(i => f.ArgumentName(i) == "v" ? T.F32([2], v) : T.F32(x)).ToArray();
        var results = new Interpreter(r.Value!).Run(null, args).Unwrap().Results;
        double[] after = taken ? [.. v.Select(e => e + 1)] : v;
        Close(T.F32([2], after), results[0]);
        // The variable's update is a result too: the new value exactly when the branch ran.
        int update = Enumerable.Range(0, f.ResultInfos.Length).Single(i => f.ResultInfos[i].Updates is not null);
        Close(T.F32([2], after), results[update]);
    }
}
