using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.TensorFlow;
using GraphCompiler.IR;
using static GraphCompiler.Tests.Frontend.TfGraph;

namespace GraphCompiler.Tests.Frontend;

public sealed class TensorFlowImporterTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static Result<Module> Import(GraphDef g, ImportOptions o) => TensorFlowImporter.Import(g, o, "<test>");

    [Fact]
    public void OnlyNodesTheFetchesNeedAreImportedAndControlInputsDoNotPullNodes()
    {
        var g = new TfGraph().Placeholder("x", T.F32([2], 1, 2))
            .Node("bad", "SomeUnknownOp", ["x"])
            .Node("side", "AnotherUnknownOp", [])
            .Node("y", "Neg", ["x", "^side"])
            .Node("z", "Add", ["y", "bad"]);
        Close(T.F32([2], -1, -2), g.Run1("y"));
        var r = g.Import("z");
        Assert.False(r.Ok);
        Assert.Single(r.Diagnostics);
        Assert.Contains("unsupported op SomeUnknownOp (1 node: 'bad')", r.Diagnostics[0].Message);
    }

    [Fact]
    public void AFeedReplacesAnyTensorAndCutsOffItsInputs()
    {
        // y_reshape's shape input does not exist; the feed cuts it off (tfcompile's test_graph_tfadd).
        var g = new TfGraph().Const("c", T.I32([1], 1)).Node("y", "Reshape", ["c", "missing"]).Node("s", "Add", ["c", "y"]);
        var r = Import(g.Def, new ImportOptions { Feeds = [new FeedSpec("y:0", new TensorType(ElementType.I32, 1))], Fetches = ["s:0"] });
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        var o = new Interpreter(r.Value!).Run(null, [T.I32([1], 41)]).Unwrap();
        Assert.Equal(T.I32([1], 42), o.Results[0]);
        Assert.Equal("y:0", r.Value!.Functions[0].ArgumentInfos[0].Name);
        Assert.Equal("s:0", r.Value!.Functions[0].ResultInfos[0].Name);
    }

    [Fact]
    public void FeedShapesWinOverDeclaredPlaceholderShapes()
    {
        var g = new TfGraph().Node("x", "Placeholder", [], ("dtype", Ty(ElementType.F32)), ("shape", new AttrValue { Shape = Shape([-1, 2]) }))
            .Node("y", "Neg", ["x"]);
        var missing = Import(g.Def, new ImportOptions { Fetches = ["y"] });
        Assert.False(missing.Ok);
        Assert.Contains("placeholder 'x' has shape f32[?, 2] with unknown dimensions", missing.Diagnostics[0].Message);
        var r = Import(g.Def, new ImportOptions { Feeds = [new FeedSpec("x", new TensorType(ElementType.F32, 3, 2))], Fetches = ["y"] });
        Assert.True(r.Ok);
        Assert.Equal(new TensorType(ElementType.F32, 3, 2), r.Value!.Functions[0].ResultTypes[0]);
        var wrongType = Import(g.Def, new ImportOptions { Feeds = [new FeedSpec("x", new TensorType(ElementType.I32, 3, 2))], Fetches = ["y"] });
        Assert.Contains("the feed says i32", wrongType.Diagnostics[0].Message);
    }

    [Fact]
    public void APlaceholderWithoutAShapeIsNamed()
    {
        var g = new TfGraph().Node("p", "Placeholder", [], ("dtype", Ty(ElementType.F32))).Node("y", "Neg", ["p"]);
        var r = Import(g.Def, new ImportOptions { Fetches = ["y"] });
        Assert.Contains("placeholder 'p' has no shape", r.Diagnostics[0].Message);
    }

    [Fact]
    public void DefaultFetchesAreTheSinkNodes()
    {
        var g = new TfGraph().Placeholder("x", T.F32([1], 3)).Node("a", "Neg", ["x"]).Node("b", "Square", ["x"]).Node("init", "NoOp", ["^a"]);
        var r = Import(g.Def, new ImportOptions());
        Assert.True(r.Ok);
        Assert.Equal(["a", "b"], r.Value!.Functions[0].ResultInfos.Select(i => i.Name));
    }

    [Fact]
    public void PlaceholderWithDefaultUsesItsInputUnlessFed()
    {
        var g = new TfGraph().Const("d", T.F32([], 5)).Node("p", "PlaceholderWithDefault", ["d"], ("dtype", Ty(ElementType.F32))).Node("y", "Neg", ["p"]);
        Close(T.F32([], -5), g.Run1("y"));
        var r = Import(g.Def, new ImportOptions { Feeds = [new FeedSpec("p", TensorType.Scalar(ElementType.F32))], Fetches = ["y"] });
        Close(T.F32([], -2), new Interpreter(r.Value!).Run(null, [T.F32([], 2)]).Unwrap().Results[0]);
    }

    [Fact]
    public void UnsupportedOpsAreReportedTogetherWithCounts()
    {
        var g = new TfGraph().Placeholder("x", T.F32([1], 1)).Node("u1", "Foo", ["x"]).Node("u2", "Foo", ["u1"]).Node("b", "Bar", ["x"])
            .Node("s", "Add", ["u2", "b"]);
        var r = g.Import("s");
        var messages = r.Diagnostics.Select(d => d.Message).ToList();
        Assert.Equal(2, messages.Count);
        Assert.Contains(messages, m => m.Contains("unsupported op Bar (1 node: 'b')"));
        Assert.Contains(messages, m => m.Contains("unsupported op Foo (2 nodes: 'u1', 'u2')"));
        Assert.All(r.Diagnostics, d => Assert.Equal(Diagnostic.UnsupportedOp, d.Code));
    }

    [Fact]
    public void ConfigVariablesBecomeVariableArgumentsAndAssignmentsUpdates()
    {
        var dir = _temp.Directory("tfcfg");
        try
        {
            var g = new TfGraph().Placeholder("x", T.F32([1], 1))
                .Node("v", "VarHandleOp", [], ("dtype", Ty(ElementType.F32)), ("shape", new AttrValue { Shape = Shape([1]) }))
                .Node("read", "ReadVariableOp", ["v"], ("dtype", Ty(ElementType.F32)))
                .Node("sum", "Add", ["read", "x"])
                .Node("upd", "AssignAddVariableOp", ["v", "x"], ("dtype", Ty(ElementType.F32)))
                .Node("result", "Identity", ["sum", "^upd"]);
            var config = Path.Combine(dir, "c.config.pbtxt");
            File.WriteAllText(config, "feed { id { node_name: \"x\" } shape { dim { size: 1 } } }\nfetch { id { node_name: \"result\" } }\nvariable { node_name: \"v\" type: DT_FLOAT shape { dim { size: 1 } } }\n");
            var r = Import(g.Def, new ImportOptions { ConfigPath = config });
            Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
            var f = r.Value!.Functions[0];
            Assert.True(f.ArgumentInfos[1].IsVariable);
            Assert.Equal(1, f.ResultInfos[1].Updates);
            var o = new Interpreter(r.Value!).Run(null, [T.F32([1], 2), T.F32([1], 10)]).Unwrap();
            Close(T.F32([1], 12), o.Results[0]);
            Close(T.F32([1], 12), o.VariableUpdates.TryGetValue(1, out var u) ? u : o.Results[1]);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void AVariableWithoutACheckpointValueIsAVariableArgument()
    {
        var g = new TfGraph().Node("w", "VariableV2", [], ("dtype", Ty(ElementType.F32)), ("shape", new AttrValue { Shape = Shape([2]) }))
            .Node("w/read", "Identity", ["w"], ("T", Ty(ElementType.F32))).Node("y", "Neg", ["w/read"]);
        var r = g.Import("y");
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        Assert.True(r.Value!.Functions[0].ArgumentInfos[0].IsVariable);
        Assert.Equal("w", r.Value!.Functions[0].ArgumentInfos[0].Name);
    }

    [Fact]
    public void CheckpointVariablesAreFrozenThroughTheRestoreOps()
    {
        // A shared SavedModel case: its variables come from the checkpoint as constants (no variable arguments).
        if (!SharedData.Available) return;
        var r = TensorFlowImporter.Import(SharedData.Tf("cases/tfjs_node_times_two_int"), new ImportOptions { Feeds = [new FeedSpec("x", new TensorType(ElementType.I32, 3))] });
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        Assert.DoesNotContain(r.Value!.Functions[0].ArgumentInfos, a => a.IsVariable);
        Assert.Equal(T.I32([3], 2, 4, 6), new Interpreter(r.Value!).Run(null, [T.I32([3], 1, 2, 3)]).Unwrap().Results[0]);
        var bad = TensorFlowImporter.Import(SharedData.Tf("cases/tfjs_node_times_two_int"), new ImportOptions { Signature = "nope" });
        Assert.Contains("no signature 'nope' (signatures: ", bad.Diagnostics[0].Message);
        Assert.Contains("serving_default", bad.Diagnostics[0].Message);
    }
}
