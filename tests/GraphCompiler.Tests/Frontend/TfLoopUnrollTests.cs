using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.TensorFlow;
using GraphCompiler.IR;
using static GraphCompiler.Tests.Frontend.TfGraph;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// TF1 while loops whose variables change shape are unrolled at import time (trip count known); a
/// Switch on a predicate known at import time prunes its dead branch. Expected values are computed in C#.
/// </summary>
public sealed class TfLoopUnrollTests
{
    /// <summary>A Const that, like TF's constants inside a frame, depends by control on <paramref name="anchor"/>.</summary>
    private static TfGraph Const(TfGraph g, string name, Tensor value, string? anchor) =>
        g.Node(name, "Const", anchor is null ? [] : [$"^{anchor}"], ("dtype", Ty(value.Element)), ("value", new AttrValue { Tensor = Proto(value) }));

    /// <summary>
    /// A TF1 while frame as tf.while_loop emits it: a counter from 0 while it is less than
    /// <paramref name="limit"/>, and one loop variable from <paramref name="init"/> whose next value is
    /// <paramref name="body"/>(its Identity in the body). Exits: <c>p/Exit</c> (counter), <c>p/Exit_1</c>
    /// (variable); <c>p/Identity</c> anchors the body's constants.
    /// </summary>
    private static TfGraph Loop(TfGraph g, string p, string init, string limit, Func<string, string> body, string? anchor = null)
    {
        (string, AttrValue) frame = ("frame_name", S(p + "/ctx"));
        Const(g, $"{p}/zero", T.I32([], 0), anchor)
            .Node($"{p}/Enter", "Enter", [$"{p}/zero"], frame).Node($"{p}/Enter_1", "Enter", [init], frame)
            .Node($"{p}/Merge", "Merge", [$"{p}/Enter", $"{p}/NextIteration"], ("N", I(2)))
            .Node($"{p}/Merge_1", "Merge", [$"{p}/Enter_1", $"{p}/NextIteration_1"], ("N", I(2)))
            .Node($"{p}/limit", "Enter", [limit], frame, ("is_constant", B(true)))
            .Node($"{p}/Less", "Less", [$"{p}/Merge", $"{p}/limit"]).Node($"{p}/LoopCond", "LoopCond", [$"{p}/Less"])
            .Node($"{p}/Switch", "Switch", [$"{p}/Merge", $"{p}/LoopCond"]).Node($"{p}/Switch_1", "Switch", [$"{p}/Merge_1", $"{p}/LoopCond"])
            .Node($"{p}/Identity", "Identity", [$"{p}/Switch:1"]).Node($"{p}/Identity_1", "Identity", [$"{p}/Switch_1:1"]);
        Const(g, $"{p}/one", T.I32([], 1), $"{p}/Identity").Node($"{p}/add", "Add", [$"{p}/Identity", $"{p}/one"]);
        return g.Node($"{p}/NextIteration", "NextIteration", [$"{p}/add"]).Node($"{p}/NextIteration_1", "NextIteration", [body($"{p}/Identity_1")])
            .Node($"{p}/Exit", "Exit", [$"{p}/Switch"]).Node($"{p}/Exit_1", "Exit", [$"{p}/Switch_1"]);
    }

    /// <summary>concat([a, b], axis) in the body of frame <paramref name="p"/>.</summary>
    private static string Concat(TfGraph g, string p, string name, string a, string b, int axis)
    {
        Const(g, $"{p}/{name}/axis", T.I32([], axis), $"{p}/Identity").Node($"{p}/{name}", "ConcatV2", [a, b, $"{p}/{name}/axis"], ("N", I(2)));
        return $"{p}/{name}";
    }

    private static bool HasWhile(Module m) => m.Functions[0].Body.Operations.Any(o => o.Def.Name == "while");

    [SharedDataFact]
    public void TheGrapplerWhileLoopUnrollsAndDoublesItsTensorTenTimes()
    {
        // while i < 10: i += 1; x = concat([x, x], 0) — x grows from [3, 2] to [3072, 2].
        var file = SharedData.Tf("realistic/tf_grappler_graph_properties/while_loop.pbtxt");
        var r = TensorFlowImporter.Import(file, new ImportOptions
        {
            Feeds = [new FeedSpec("ones", new TensorType(ElementType.F32, 3, 2))],
            Fetches = ["while/Exit", "while/Exit_1"],
        });
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        Assert.False(HasWhile(r.Value!));
        double[] x = [1, 2, 3, 4, 5, 6];
        var results = new Interpreter(r.Value!).Run(null, [T.F32([3, 2], x)]).Unwrap().Results;
        Assert.Equal(T.I32([], 10), results[0]);
        const int Rows = 3 << 10;
        Close(T.F32([Rows, 2], [.. Enumerable.Range(0, Rows * 2).Select(k => x[k % x.Length])]), results[1]);
    }

    [Fact]
    public void ANestedLoopUnrollsInsideEachIterationOfItsUnrolledOuterLoop()
    {
        // for i < 2: { b = a; for j < 2: b = concat([b, b * scale]); a = concat([b, a]) }, scale an invariant of both frames.
        var g = new TfGraph().Placeholder("x", T.F32([2], 1, 2)).Const("scale", T.F32([], 3)).Const("outer_limit", T.I32([], 2));
        Loop(g, "outer", "x", "outer_limit", a =>
        {
            g.Node("outer/scale", "Enter", ["scale"], ("frame_name", S("outer/ctx")), ("is_constant", B(true)));
            Const(g, "outer/inner_limit", T.I32([], 2), "outer/Identity");
            Loop(g, "outer/inner", a, "outer/inner_limit", b =>
            {
                g.Node("outer/inner/scale", "Enter", ["outer/scale"], ("frame_name", S("outer/inner/ctx")), ("is_constant", B(true)))
                    .Node("outer/inner/scaled", "Mul", [b, "outer/inner/scale"]);
                return Concat(g, "outer/inner", "concat", b, "outer/inner/scaled", 0);
            }, anchor: "outer/Identity");
            return Concat(g, "outer", "concat", "outer/inner/Exit_1", a, 0);
        });
        var expected = new List<double> { 1, 2 };
        for (int i = 0; i < 2; i++)
        {
            var b = expected.ToList();
            for (int j = 0; j < 2; j++) b = [.. b, .. b.Select(v => v * 3)];
            expected = [.. b, .. expected];
        }
        var r = g.Run("outer/Exit_1", "outer/Exit");
        Close(T.F32([expected.Count], [.. expected]), r[0]);
        Assert.Equal(T.I32([], 2), r[1]);
        Assert.False(HasWhile(g.Import("outer/Exit_1").Value!));
    }

    [Fact]
    public void ALoopWhoseShapesStayTheSameIsStillAWhileAndItsExitMayFollowAnIdentity()
    {
        // Gradient loops route a variable to its Exit through an Identity of the Switch's output 0.
        var g = new TfGraph().Placeholder("x", T.F32([2], 1, 2)).Const("limit", T.I32([], 3));
        Loop(g, "w", "x", "limit", v => g.Node("w/double", "Add", [v, v]).Def.Node[^1].Name);
        g.Node("w/out", "Identity", ["w/Switch_1"]).Node("w/Exit_2", "Exit", ["w/out"]);
        Close(T.F32([2], 8, 16), g.Run1("w/Exit_2"));
        Assert.True(HasWhile(g.Import("w/Exit_2").Value!));
    }

    [Fact]
    public void ChangingShapesWithATripCountKnownOnlyAtRunTimeIsOneClearError()
    {
        var g = new TfGraph().Placeholder("x", T.F32([1], 1)).Placeholder("n", T.I32([], 3));
        Loop(g, "w", "x", "n", v => Concat(g, "w", "concat", v, v, 0));
        var r = g.Import("w/Exit_1");
        Assert.False(r.Ok);
        var d = Assert.Single(r.Diagnostics);
        Assert.DoesNotContain('\n', d.Message);
        Assert.Contains("node 'w/Merge", d.Message);
        Assert.Contains("loop variable 'w/Merge_1' is tensor<1xf32> on entry but tensor<2xf32> after an iteration", d.Message);
        Assert.Contains("not known at import time", d.Message);
    }

    [Fact]
    public void AnUnrolledLoopStopsAtTheIterationLimit()
    {
        var g = new TfGraph().Placeholder("x", T.F32([1], 1)).Const("limit", T.I32([], GraphCompiler.Frontend.Onnx.Ops.OnnxControlFlowOps.MaxUnrolledIterations + 1));
        Loop(g, "w", "x", "limit", v =>
        {
            Const(g, "w/grow", T.F32([1], 0), "w/Identity");
            return Concat(g, "w", "concat", v, "w/grow", 0);
        });
        var d = Assert.Single(g.Import("w/Exit_1").Diagnostics);
        Assert.Contains($"runs more than {GraphCompiler.Frontend.Onnx.Ops.OnnxControlFlowOps.MaxUnrolledIterations} iterations", d.Message);
    }

    [Fact]
    public void AnAssignOnTheDeadSideOfAKnownPredicateNoLongerBlocksTheImport()
    {
        // initialized_value()-style EMA: cond(IsVariableInitialized(v), v - (v - x) * 0.25, x) assigned to v.
        var g = new TfGraph().Placeholder("x", T.F32([2], 1, 2))
            .Node("v", "VariableV2", [], ("dtype", Ty(ElementType.F32)), ("shape", new AttrValue { Shape = Shape([2]) }))
            .Node("init", "IsVariableInitialized", ["v"], ("dtype", Ty(ElementType.F32)))
            .Node("sw", "Switch", ["x", "init"], ("T", Ty(ElementType.F32)))
            .Const("decay", T.F32([], 0.25))
            .Node("diff", "Sub", ["v", "sw:1"]).Node("upd", "Mul", ["diff", "decay"]).Node("ema", "Sub", ["v", "upd"])
            .Node("m", "Merge", ["sw:0", "ema"], ("N", I(2)))
            .Node("assign", "Assign", ["v", "m"], ("T", Ty(ElementType.F32)))
            .Node("y", "Identity", ["assign"]);
        var r = g.Import("y");
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        var f = r.Value!.Functions[0];
        double[] x = [1, 2], v = [5, -3];
        var args = Enumerable.Range(0, f.Arguments.Length).Select(i => f.ArgumentName(i) == "v" ? T.F32([2], v) : T.F32([2], x)).ToArray();
        var y = new Interpreter(r.Value!).Run(null, args).Unwrap().Results[0];
        Close(T.F32([2], [.. v.Select((vi, i) => vi - (vi - x[i]) * 0.25)]), y);
    }
}
