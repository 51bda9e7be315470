using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.Protobuf;
using GraphCompiler.Frontend.TensorFlow;
using GraphCompiler.Frontend.TensorFlow.Checkpoints;
using Xunit.Abstractions;

namespace GraphCompiler.Tests.Frontend;

public sealed class TensorFlowFilesTests(ITestOutputHelper output)
{
    /// <summary>Files that are deliberately not valid protos in their source test suites.</summary>
    private static readonly string[] ExpectedInvalid =
    [
        "realistic/tf_graphdef2mlir/graph-malformed.pbtxt",            // "this is not a valid graph def"
        "realistic/tf_aot_tests_configs_only/bench_graph_tfmatmul.template.pbtxt", // <M> placeholders
    ];

    /// <summary>What message a file in the collection holds, from its name.</summary>
    private static string Kind(string rel)
    {
        var name = Path.GetFileName(rel);
        if (name.StartsWith("saved_model.", StringComparison.Ordinal)) return "SavedModel";
        if (name.EndsWith(".meta", StringComparison.Ordinal) || name.Contains("meta_graph", StringComparison.Ordinal)) return "MetaGraphDef";
        if (name.Contains("config", StringComparison.Ordinal) || name.Contains("template", StringComparison.Ordinal)) return "Config";
        return "GraphDef";
    }

    [SharedDataFact]
    public void EveryGraphFileInTheCollectionParses()
    {
        var files = Directory.EnumerateFiles(SharedData.TfGraphs, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".pb", StringComparison.Ordinal) || f.EndsWith(".pbtxt", StringComparison.Ordinal) || f.EndsWith(".meta", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        var failed = new List<string>();
        int ok = 0;
        foreach (var f in files)
        {
            var rel = Path.GetRelativePath(SharedData.TfGraphs, f).Replace('\\', '/');
            var diags = Kind(rel) switch
            {
                "SavedModel" => TensorFlowFiles.ReadSavedModelFile(f).Diagnostics,
                "MetaGraphDef" => TensorFlowFiles.ReadMetaGraphDef(f).Diagnostics,
                "Config" => TensorFlowFiles.ReadTfCompileConfig(f).Diagnostics,
                _ => TensorFlowFiles.ReadGraphDef(f).Diagnostics,
            };
            if (diags.Count == 0) ok++;
            else
            {
                failed.Add(rel);
                output.WriteLine($"{rel}: {diags[0]}");
            }
        }
        output.WriteLine($"{ok} of {files.Count} files parsed");
        Assert.True(files.Count > 150, $"only {files.Count} graph files found");
        Assert.Equal(ExpectedInvalid.Order(StringComparer.Ordinal), failed.Order(StringComparer.Ordinal));
    }

    [SharedDataFact]
    public void MalformedTextGivesOneLinePositionedError()
    {
        var r = TensorFlowFiles.ReadGraphDef(SharedData.Tf("realistic/tf_graphdef2mlir/graph-malformed.pbtxt"));
        Assert.False(r.Ok);
        Assert.Matches(@"graph-malformed\.pbtxt:3:1: error: unknown field 'this' in message tensorflow\.GraphDef$", r.Diagnostics[0].ToString());
    }

    [SharedDataFact]
    public void TextInABinaryExtensionIsDetectedByContent()
    {
        // metrics_export_meta_graph.pb holds text format despite its name.
        var path = SharedData.Tf("realistic/tf_misc/python_framework/metrics_export_meta_graph.pb");
        Assert.True(ProtoFiles.LooksLikeText(File.ReadAllBytes(path)));
        var r = TensorFlowFiles.ReadMetaGraphDef(path);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        Assert.NotEmpty(r.Value!.GraphDef.Node);
    }

    [SharedDataFact]
    public void BinaryAndTextHalfPlusTwoAgree()
    {
        var bin = SavedModelLoader.Load(SharedData.Tf("cases/tf_half_plus_two_2")).Unwrap();
        var txt = SavedModelLoader.Load(SharedData.Tf("cases/tf_half_plus_two_pbtxt")).Unwrap();
        Assert.EndsWith("saved_model.pbtxt", txt.ModelFile);
        Assert.Equal(bin.Graph.Node.Select(n => n.Name), txt.Graph.Node.Select(n => n.Name));
        Assert.Equal(bin.Signatures.Keys, txt.Signatures.Keys);
    }

    [SharedDataFact]
    public void HalfPlusTwoSignatureAndVariables()
    {
        // case.json: "TF1 half_plus_two SavedModel (VariableV2 a=0.5,b=2)", serving_default maps x -> x:0, y -> y:0.
        var m = SavedModelLoader.Load(SharedData.Tf("cases/tf_half_plus_two_2")).Unwrap();
        Assert.Contains("serve", m.Tags);
        var sig = m.Signatures["serving_default"];
        var x = Assert.Single(sig.Inputs);
        Assert.Equal(("x", "x:0", DataType.DtFloat), (x.Key, x.TensorName, x.DType));
        Assert.Equal("y:0", Assert.Single(sig.Outputs).TensorName);
        var vars = m.ReadVariables().Unwrap();
        Assert.Equal(0.5, vars.Tensors["a"].GetDouble(0));
        Assert.Equal(2.0, vars.Tensors["b"].GetDouble(0));
        Assert.Equal(ElementType.F32, vars.Tensors["a"].Element);
        Assert.Equal(0, vars.Tensors["a"].Type.Rank);
    }

    [SharedDataFact]
    public void MultipleSignaturesOfATf2Model()
    {
        // README: module_with_multiple_signatures has serving_default and timestwo, each x float32 -> output_0.
        var m = SavedModelLoader.Load(SharedData.Tf("cases/tfjs_node_module_with_multiple_signatures_1")).Unwrap();
        Assert.Contains("serving_default", m.Signatures.Keys);
        Assert.Contains("timestwo", m.Signatures.Keys);
        foreach (var key in new[] { "serving_default", "timestwo" })
        {
            var s = m.Signatures[key];
            Assert.Equal(DataType.DtFloat, Assert.Single(s.Inputs, i => i.Key == "x").DType);
            Assert.Single(s.Outputs, o => o.Key == "output_0");
        }
        Assert.NotEmpty(m.Graph.Library.Function);
    }

    [SharedDataFact]
    public void ShapeTestSignatureShapesKeepUnknownDimensions()
    {
        // README: placeholder shapes [?], [2,?], [1,?,2], [1,?,?,3].
        var m = SavedModelLoader.Load(SharedData.Tf("cases/mlnet_model_shape_test_1")).Unwrap();
        var inputs = m.Signatures["serving_default"].Inputs.ToDictionary(i => i.Key, i => i.Shape);
        Assert.Equal([-1L], inputs["OneDim"]);
        Assert.Equal([2L, -1], inputs["TwoDim"]);
        Assert.Equal([1L, -1, 2], inputs["ThreeDim"]);
        Assert.Equal([1L, -1, -1, 3], inputs["FourDim"]);
    }

    [SharedDataFact]
    public void MetaGraphTagSelection()
    {
        var dir = SharedData.Tf("cases/tf_half_plus_two_2");
        Assert.True(SavedModelLoader.Load(dir, ["serve"]).Ok);
        var r = SavedModelLoader.Load(dir, ["train"]);
        Assert.False(r.Ok);
        Assert.Contains("no MetaGraphDef tagged {train}; available: {serve}", r.Diagnostics[0].Message);
        Assert.Contains("no saved_model.pb", SavedModelLoader.Load(SharedData.Tf("cases")).Diagnostics[0].Message);
    }

    [SharedDataFact]
    public void CounterAndSimpleV1ModelCheckpoints()
    {
        foreach (var dir in new[] { "realistic/serving_saved_model_counter", "realistic/tf_saved_models/SimpleV1Model" })
        {
            var bundle = TensorBundle.Open(SharedData.Tf(dir + "/variables")).Unwrap();
            Assert.True(bundle.Header.NumShards >= 1);
            var vars = bundle.ReadAll().Unwrap();
            Assert.NotEmpty(vars.Tensors);
            foreach (var (name, t) in vars.Tensors)
            {
                var entry = bundle.Entries[name];
                output.WriteLine($"{dir}: {name} {t.Type} ({entry.Dtype})");
                // Self-consistency: the declared dtype and shape, and the bytes the entry points at.
                Assert.True(GraphCompiler.Frontend.Tensors.FrameworkElementTypes.TryFromTensorFlow(entry.Dtype, out var e, out _));
                Assert.Equal(e, t.Element);
                Assert.Equal(entry.Shape.Dim.Select(d => d.Size), t.Type.Shape);
                Assert.Equal(entry.Size, t.Bytes.Length);
                Assert.Equal(Crc32C.Unmask(entry.Crc32C), Crc32C.Compute(t.Bytes));
            }
            // Every variable node of the graph has its value in the checkpoint.
            var model = SavedModelLoader.Load(SharedData.Tf(dir)).Unwrap();
            var variableNodes = model.Graph.Node.Where(n => n.Op is "VariableV2" or "Variable").Select(n => n.Name).ToList();
            Assert.All(variableNodes, v => Assert.Contains(v, vars.Tensors.Keys));
        }
    }

    [SharedDataFact]
    public void StringEntriesAreSkippedOrRejectedByName()
    {
        // TF2 checkpoints hold the object graph as a DT_STRING scalar.
        var bundle = TensorBundle.Open(SharedData.Tf("cases/tfjs_node_times_three_float/variables/variables.index")).Unwrap();
        var vars = bundle.ReadAll().Unwrap();
        var skipped = Assert.Single(vars.Skipped, s => s.Name == "_CHECKPOINTABLE_OBJECT_GRAPH");
        Assert.Contains("DT_STRING", skipped.Reason);
        var r = bundle.ReadTensor("_CHECKPOINTABLE_OBJECT_GRAPH");
        Assert.Equal("error: checkpoint variable '_CHECKPOINTABLE_OBJECT_GRAPH': TensorFlow type DT_STRING (strings are not supported) has no IR element type", r.Diagnostics[0].ToString());
    }

    [SharedDataFact]
    public void TwoShardCheckpoint()
    {
        var bundle = TensorBundle.Open(SharedData.Tf("realistic/tf_saved_models/tftrt_2.0_saved_model/variables")).Unwrap();
        Assert.Equal(2, bundle.Header.NumShards);
        var vars = bundle.ReadAll().Unwrap();
        Assert.Contains(vars.Tensors.Keys, k => bundle.Entries[k].ShardId == 1 || bundle.Entries[k].ShardId == 0);
    }

    [SharedDataFact]
    public void TfCompileConfig()
    {
        var c = TensorFlowFiles.ReadTfCompileConfig(SharedData.Tf("realistic/tf_aot_tests_configs_only/test_graph_tfadd.config.pbtxt")).Unwrap();
        Assert.Equal(2, c.Feed.Count);
        Assert.Single(c.Fetch);
    }

    [SharedDataFact]
    public void AllCheckpointsInTheCollectionRead()
    {
        var indexes = Directory.EnumerateFiles(SharedData.TfGraphs, "*.index", SearchOption.AllDirectories).ToList();
        foreach (var i in indexes)
        {
            var b = TensorBundle.Open(i);
            Assert.True(b.Ok, string.Join("\n", b.Diagnostics));
            var all = b.Value!.ReadAll();
            Assert.True(all.Ok, string.Join("\n", all.Diagnostics));
        }
        output.WriteLine($"{indexes.Count} checkpoints read");
        Assert.True(indexes.Count >= 18);
    }
}
