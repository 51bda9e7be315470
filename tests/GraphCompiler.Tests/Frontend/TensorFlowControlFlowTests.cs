using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.TensorFlow;
using GraphCompiler.IR;
using TfOpDef = GraphCompiler.Frontend.Proto.TensorFlow.OpDef;
using static GraphCompiler.Tests.Frontend.TfGraph;

namespace GraphCompiler.Tests.Frontend;

public sealed class TensorFlowControlFlowTests
{
    private static readonly Tensor True = Tensor.FromInt64s(TensorType.Scalar(ElementType.Bool), [1]);
    private static readonly Tensor False = Tensor.FromInt64s(TensorType.Scalar(ElementType.Bool), [0]);

    /// <summary>tf.cond v1: Switch x on p; true branch x*2, false branch x+10; Merge.</summary>
    private static TfGraph Cond(Tensor? knownPred)
    {
        var g = new TfGraph().Placeholder("x", T.F32([2], 1, 2));
        if (knownPred is null) g.Placeholder("p", True); else g.Const("p", knownPred);
        return g.Node("sw", "Switch", ["x", "p"], ("T", Ty(ElementType.F32)))
            .Const("two", T.F32([], 2)).Node("t", "Mul", ["sw:1", "two"])
            .Const("ten", T.F32([], 10)).Node("f", "Add", ["sw:0", "ten"])
            .Node("m", "Merge", ["f", "t"], ("N", I(2)));
    }

    [Fact]
    public void SwitchMergeWithAnInputPredicateSelects()
    {
        var g = Cond(null);
        var m = g.Import("m:0", "m:1");
        Assert.True(m.Ok, string.Join("\n", m.Diagnostics));
        var t = new Interpreter(m.Value!).Run(null, [T.F32([2], 1, 2), True]).Unwrap().Results;
        Close(T.F32([2], 2, 4), t[0]);
        Assert.Equal(T.I32([], 1), t[1]);
        var f = new Interpreter(m.Value!).Run(null, [T.F32([2], 1, 2), False]).Unwrap().Results;
        Close(T.F32([2], 11, 12), f[0]);
        Assert.Equal(T.I32([], 0), f[1]);
    }

    [Fact]
    public void AKnownPredicateImportsOnlyTheLiveBranch()
    {
        var g = Cond(False).Node("bad", "UnknownOp", ["sw:1"]).Node("m2", "Merge", ["f", "bad"], ("N", I(2)));
        Close(T.F32([2], 11, 12), g.Run1("m2"));
    }

    /// <summary>tf.while_loop v1: i = 0; acc = x; while i &lt; 3: i += 1; acc *= 2.</summary>
    private static TfGraph Loop()
    {
        var g = new TfGraph().Placeholder("x", T.F32([2], 1, 3)).Const("zero", T.I32([], 0));
        (string Key, AttrValue Value)[] frame = [("frame_name", S("while/ctx"))];
        return g.Node("e_i", "Enter", ["zero"], frame).Node("e_acc", "Enter", ["x"], frame)
            .Const("lim", T.I32([], 3)).Node("e_lim", "Enter", ["lim"], [.. frame, ("is_constant", B(true))])
            .Node("m_i", "Merge", ["e_i", "n_i"], ("N", I(2))).Node("m_acc", "Merge", ["e_acc", "n_acc"], ("N", I(2)))
            .Node("less", "Less", ["m_i", "e_lim"]).Node("lc", "LoopCond", ["less"])
            .Node("s_i", "Switch", ["m_i", "lc"]).Node("s_acc", "Switch", ["m_acc", "lc"])
            .Node("id_i", "Identity", ["s_i:1"]).Node("id_acc", "Identity", ["s_acc:1"])
            .Node("one", "Const", ["^id_i"], ("dtype", Ty(ElementType.I32)), ("value", new AttrValue { Tensor = Proto(T.I32([], 1)) }))
            .Node("inc", "Add", ["id_i", "one"])
            .Node("two", "Const", ["^id_i"], ("dtype", Ty(ElementType.F32)), ("value", new AttrValue { Tensor = Proto(T.F32([], 2)) }))
            .Node("dbl", "Mul", ["id_acc", "two"])
            .Node("n_i", "NextIteration", ["inc"]).Node("n_acc", "NextIteration", ["dbl"])
            .Node("x_i", "Exit", ["s_i:0"]).Node("x_acc", "Exit", ["s_acc:0"]);
    }

    [Fact]
    public void TF1WhileLoopBecomesAWhile()
    {
        var g = Loop();
        var r = g.Run("x_acc", "x_i");
        Close(T.F32([2], 8, 24), r[0]);
        Assert.Equal(T.I32([], 3), r[1]);
        Assert.Contains(g.Import("x_acc").Value!.Functions[0].Body.Operations, o => o.Def.Name == "while");
    }

    [Fact]
    public void FunctionalWhileIfAndPartitionedCallThroughTheLibrary()
    {
        var g = new TfGraph().Placeholder("x", T.F32([], 1)).Const("n", T.I32([], 0));
        var lib = new FunctionDefLibrary();
        FunctionDef Fn(string name, string[] ins, string[] outs, NodeDef[] nodes, params (string, string)[] rets)
        {
            var f = new FunctionDef { Signature = new TfOpDef { Name = name } };
            foreach (var i in ins) f.Signature.InputArg.Add(new TfOpDef.Types.ArgDef { Name = i });
            foreach (var o in outs) f.Signature.OutputArg.Add(new TfOpDef.Types.ArgDef { Name = o });
            f.NodeDef.AddRange(nodes);
            foreach (var (k, v) in rets) f.Ret[k] = v;
            lib.Function.Add(f);
            return f;
        }
        Fn("cond", ["i", "v"], ["out"], [MakeNode("lim", "Const", [], ("dtype", Ty(ElementType.I32)), ("value", new AttrValue { Tensor = Proto(T.I32([], 4)) })),
            MakeNode("lt", "Less", ["i", "lim:output:0"])], ("out", "lt:z:0"));
        Fn("body", ["i", "v"], ["i2", "v2"], [MakeNode("one", "Const", [], ("dtype", Ty(ElementType.I32)), ("value", new AttrValue { Tensor = Proto(T.I32([], 1)) })),
            MakeNode("add", "AddV2", ["i", "one:output:0"]), MakeNode("sq", "Mul", ["v", "v"]), MakeNode("sp", "Split", ["one:output:0", "v"], ("num_split", I(1)))],
            ("i2", "add:z:0"), ("v2", "sq:z:0"));
        Fn("neg", ["a"], ["b"], [MakeNode("n", "Neg", ["a"])], ("b", "n:y:0"));
        Fn("id", ["a"], ["b"], [MakeNode("n", "Identity", ["a"])], ("b", "n:output:0"));
        g.Def.Library = lib;
        g.Const("two", T.F32([], 2)).Node("w", "While", ["n", "two"], ("cond", Func("cond")), ("body", Func("body")))
            .Node("c", "PartitionedCall", ["w:1"], ("f", Func("neg")))
            .Node("gt", "Greater", ["x", "c"])
            .Node("if", "StatelessIf", ["gt", "x"], ("then_branch", Func("neg")), ("else_branch", Func("id")));
        var r = g.Run("w:0", "w:1", "c", "if");
        Assert.Equal(T.I32([], 4), r[0]);
        Close(T.F32([], 65536), r[1]);
        Close(T.F32([], -65536), r[2]);
        Close(T.F32([], -1), r[3]); // 1 > -65536: then branch
    }
}
