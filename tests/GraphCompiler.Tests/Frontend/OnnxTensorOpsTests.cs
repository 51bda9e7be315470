using System.Text.RegularExpressions;
using GraphCompiler.Conformance;
using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Onnx;
using GraphCompiler.Frontend.Protobuf;
using GraphCompiler.Frontend.Tensors;
using Google.Protobuf;
using Xunit.Abstractions;
using P = GraphCompiler.Frontend.Proto.Onnx;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// The tensor-manipulation ONNX lowerings (shape, indexing, generators, resize): hand-worked edge
/// cases, and the ONNX node cases whose shape inputs are graph inputs, run with those inputs bound
/// as initializers (a static-shape importer needs them at import time).
/// </summary>
public sealed class OnnxTensorOpsTests(ITestOutputHelper output)
{
    private const string TensorOps =
        "^test_(argmax|argmin|blackmanwindow|hannwindow|hammingwindow|compress|concat|constant|constantofshape|cumsum|depthtospace|det|dropout|" +
        "training_dropout|edge_pad|reflect_pad|expand|eyelike|flatten|gather|gathernd|melweightmatrix|nonzero|onehot|range|reshape|resize|" +
        "reversesequence|scatter|scatternd|shape|size|slice|spacetodepth|split|squeeze|tile|top_k|transpose|tril|triu|unique|unsqueeze|upsample|pad)";

    // ---- conformance cases with value inputs bound at import time ----------------------------------------

    [SharedDataFact]
    public void NodeCasesWithBoundValueInputs()
    {
        var root = Path.Combine(SharedData.Root, "conformance", "onnx", "node");
        var re = new Regex(Environment.GetEnvironmentVariable("ONNXT_FILTER") ?? TensorOps);
        var failures = new List<string>();
        int passed = 0;
        foreach (var dir in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(dir);
            if (!re.IsMatch(name)) continue;
            var plain = new OnnxCase(dir).Import();
            if (plain.Ok || !plain.Diagnostics.Any(d => d.Message.Contains("depends on input values"))) continue;
            var r = RunBound(dir);
            if (r is null) passed++;
            else failures.Add($"{name}: {r}");
        }
        output.WriteLine($"{passed} passed with bound inputs");
        foreach (var f in failures) output.WriteLine(f);
        Assert.True(failures.All(f => f.Contains("unsupported op")), string.Join("\n", failures));
    }

    /// <summary>Imports the case with every graph input bound to data set 0's value, runs it, compares; null when it matches.</summary>
    private static string? RunBound(string dir)
    {
        var model = OnnxFiles.ReadModel(Path.Combine(dir, "model.onnx")).Value!;
        var set = Path.Combine(dir, "test_data_set_0");
        var g = model.Graph;
        var inputs = g.Input.Where(i => !g.Initializer.Any(t => t.Name == i.Name)).ToList();
        for (int k = 0; k < inputs.Count; k++)
        {
            var t = P.TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(set, $"input_{k}.pb")));
            t.Name = inputs[k].Name;
            g.Initializer.Add(t);
            g.Input.Remove(inputs[k]);
        }
        var m = OnnxImporter.Import(model, dir, new ImportOptions());
        if (!m.Ok) return string.Join("; ", m.Diagnostics.Select(d => d.Message));
        var outs = new Interpreter(m.Value!).Run(null, []);
        if (!outs.Ok) return "run: " + outs.Diagnostics[0].Message;
        for (int k = 0; ; k++)
        {
            var path = Path.Combine(set, $"output_{k}.pb");
            if (!File.Exists(path)) return k == outs.Value!.Results.Length ? null : $"{outs.Value!.Results.Length} outputs, expected {k}";
            var expected = TensorProtoConverter.FromOnnx(P.TensorProto.Parser.ParseFrom(File.ReadAllBytes(path))).Value!;
            var diff = TensorComparison.Compare(expected, outs.Value!.Results[k], OnnxCase.Rtol, OnnxCase.Atol);
            if (diff is not null) return $"output #{k}: {diff}";
        }
    }

    // ---- hand-worked edge cases ------------------------------------------------------------------------------

    private static Tensor F(long[] shape, params double[] v) => Tensor.FromDoubles(new TensorType(ElementType.F32, shape), v);

    private static Tensor I(long[] shape, params long[] v) => Tensor.FromInt64s(new TensorType(ElementType.I64, shape), v);

    private static Tensor I(params long[] v) => I([v.Length], v);

    private static int OnnxType(ElementType e) => e switch
    {
        ElementType.F32 => 1, ElementType.I64 => 7, ElementType.I32 => 6, ElementType.F64 => 11, ElementType.Bool => 9,
        _ => throw new ArgumentException(e.ToString()),
    };

    private static P.AttributeProto Attr(string name, long v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Int, I = v };

    private static P.AttributeProto Attr(string name, string v) =>
        new() { Name = name, Type = P.AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };

    private static P.AttributeProto Attr(string name, params long[] v)
    {
        var a = new P.AttributeProto { Name = name, Type = P.AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    private static P.AttributeProto FloatAttr(string name, float v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Float, F = v };

    /// <summary>
    /// Imports a one-node model (inputs named in0, in1, ...; a null tensor is an omitted input; runtime
    /// inputs are graph inputs, the others initializers) and runs it on the runtime inputs.
    /// </summary>
    private static Result<InterpreterOutput> Run(string op, long opset, (Tensor? T, bool Runtime)[] inputs, int outputs, params P.AttributeProto[] attrs)
    {
        var node = new P.NodeProto { OpType = op, Name = "n" };
        node.Attribute.AddRange(attrs);
        var g = new P.GraphProto { Name = "g" };
        var args = new List<Tensor>();
        for (int i = 0; i < inputs.Length; i++)
        {
            var (t, runtime) = inputs[i];
            node.Input.Add(t is null ? "" : $"in{i}");
            if (t is null) continue;
            if (runtime)
            {
                var shape = new P.TensorShapeProto();
                foreach (var d in t.Type.Shape) shape.Dim.Add(new P.TensorShapeProto.Types.Dimension { DimValue = d });
                g.Input.Add(new P.ValueInfoProto { Name = $"in{i}", Type = new P.TypeProto { TensorType = new P.TypeProto.Types.Tensor { ElemType = OnnxType(t.Element), Shape = shape } } });
                args.Add(t);
            }
            else
            {
                var p = new P.TensorProto { Name = $"in{i}", DataType = OnnxType(t.Element), RawData = ByteString.CopyFrom(t.Bytes) };
                p.Dims.AddRange(t.Type.Shape);
                g.Initializer.Add(p);
            }
        }
        for (int o = 0; o < outputs; o++)
        {
            node.Output.Add($"out{o}");
            g.Output.Add(new P.ValueInfoProto { Name = $"out{o}" });
        }
        g.Node.Add(node);
        var model = new P.ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new P.OperatorSetIdProto { Domain = "", Version = opset });
        var m = OnnxImporter.Import(model, null, new ImportOptions());
        if (!m.Ok) return Result<InterpreterOutput>.Failure(m.Diagnostics);
        return new Interpreter(m.Value!).Run(null, args);
    }

    private static void Expect(Tensor expected, Result<InterpreterOutput> r, int output = 0)
    {
        Assert.True(r.Ok, r.Ok ? "" : r.Diagnostics[0].Message);
        var actual = r.Value!.Results[output];
        Assert.Equal(expected.Type, actual.Type);
        Assert.Equal(Enumerable.Range(0, (int)expected.ElementCount).Select(i => expected.GetDouble(i)),
            Enumerable.Range(0, (int)actual.ElementCount).Select(i => actual.GetDouble(i)));
    }

    private static (Tensor?, bool) Rt(Tensor t) => (t, true);

    private static (Tensor?, bool) K(Tensor? t) => (t, false);

    private static readonly Tensor Ten = F([10], 0, 1, 2, 3, 4, 5, 6, 7, 8, 9);

    [Fact]
    public void SliceWithNegativeStepsWalksDownAndClamps()
    {
        Expect(F([3], 8, 5, 2), Run("Slice", 13, [Rt(Ten), K(I(-2)), K(I(1)), K(null), K(I(-3))], 1));
        Expect(F([10], 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), Run("Slice", 13, [Rt(Ten), K(I(100)), K(I(-100)), K(I(0)), K(I(-1))], 1));
        Expect(F([0]), Run("Slice", 13, [Rt(Ten), K(I(2)), K(I(5)), K(null), K(I(-1))], 1));
    }

    [Fact]
    public void SliceOpset9TakesAttributesAndClampsEnds() =>
        Expect(F([1, 2], 1, 2), Run("Slice", 9, [Rt(F([2, 3], 0, 1, 2, 3, 4, 5))], 1, Attr("starts", 0, 1), Attr("ends", 1, 1000)));

    [Fact]
    public void ReshapeCopiesZerosInfersMinusOneAndHonoursAllowZero()
    {
        var x = F([2, 3, 2], 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
        Expect(F([2, 6], 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), Run("Reshape", 13, [Rt(x), K(I(0, -1))], 1));
        Expect(F([0, 3]), Run("Reshape", 14, [Rt(F([3, 0])), K(I(0, 3))], 1, Attr("allowzero", 1)));
        // A shape fed at run time must be bound at compile time: the diagnostic names the graph input.
        var unknown = Run("Reshape", 13, [Rt(x), Rt(I(0, -1))], 1);
        Assert.False(unknown.Ok);
        Assert.Equal("in1", GraphCompiler.Frontend.ImportProblems.ConstantInputOf(unknown.Diagnostics[0]));
        Assert.Contains("input 'in1' must be known at compile time", unknown.Diagnostics[0].Message);
    }

    [Fact]
    public void SqueezeAndUnsqueezeTakeAxesAttributesBeforeOpset13()
    {
        Expect(F([2], 1, 2), Run("Squeeze", 11, [Rt(F([2, 1], 1, 2))], 1, Attr("axes", [-1L])));
        Expect(F([1, 2, 1], 1, 2), Run("Unsqueeze", 11, [Rt(F([2], 1, 2))], 1, Attr("axes", 0, -1)));
    }

    [Fact]
    public void PadModesAndNegativePads()
    {
        var x = F([3], 1, 2, 3);
        Expect(F([6], 3, 2, 1, 2, 3, 2), Run("Pad", 11, [Rt(x), K(I(2, 1))], 1, Attr("mode", "reflect")));
        Expect(F([4], 2, 3, 3, 3), Run("Pad", 11, [Rt(x), K(I(-1, 2))], 1, Attr("mode", "edge")));
        Expect(F([3], 9, 1, 2), Run("Pad", 11, [Rt(x), K(I(1, -1)), K(F([], 9))], 1));
        Expect(F([2, 3], 0, 0, 0, 1, 2, 3), Run("Pad", 18, [Rt(F([1, 3], 1, 2, 3)), K(I(1, 0)), K(null), K(I(0))], 1));
        Expect(F([5], 7, 1, 2, 3, 7), Run("Pad", 2, [Rt(x)], 1, Attr("pads", 1, 1), FloatAttr("value", 7)));
    }

    [Fact]
    public void ScatterReductionsAccumulateDuplicatesAndWrapNegativeIndices()
    {
        Expect(F([4], 1, 32, 3, 34), Run("ScatterND", 16, [Rt(F([4], 1, 2, 3, 4)), K(I([3, 1], 1, 1, -1)), Rt(F([3], 10, 20, 30))], 1, Attr("reduction", "add")));
        Expect(F([1, 2], 1, 7), Run("ScatterElements", 18, [Rt(F([1, 2], 1, 5)), K(I([1, 2], 1, 1)), Rt(F([1, 2], 3, 7))], 1, Attr("axis", 1), Attr("reduction", "max")));
        Expect(F([1, 2], 9, 5), Run("ScatterElements", 13, [Rt(F([1, 2], 1, 5)), K(I([1, 1], -2)), Rt(F([1, 1], 9))], 1, Attr("axis", 1)));
    }

    [Fact]
    public void GatherNDWithBatchDims() =>
        Expect(F([2, 2], 2, 3, 4, 5), Run("GatherND", 13, [Rt(F([2, 2, 2], 0, 1, 2, 3, 4, 5, 6, 7)), Rt(I([2, 1], 1, 0))], 1, Attr("batch_dims", 1)));

    [Fact]
    public void OneHotWrapsNegativeIndicesAndLeavesOutOfRangeOff() =>
        Expect(F([3, 3], 0, 0, 1, 1, 0, 0, 0, 0, 0), Run("OneHot", 11, [Rt(I(-1, 0, 5)), K(I([], 3)), K(F([2], 0, 1))], 1));

    [Fact]
    public void TriluTakesARuntimeK() =>
        Expect(F([3, 3], 0, 0, 0, 4, 0, 0, 7, 8, 0),
            Run("Trilu", 14, [Rt(F([3, 3], 1, 2, 3, 4, 5, 6, 7, 8, 9)), Rt(I([], -1))], 1, Attr("upper", 0)));

    [Fact]
    public void CumSumExclusiveReverse() =>
        Expect(F([2, 3], 5, 3, 0, 11, 6, 0), Run("CumSum", 14, [Rt(F([2, 3], 1, 2, 3, 4, 5, 6)), K(I([], -1))], 1, Attr("exclusive", 1), Attr("reverse", 1)));

    [Fact]
    public void GeneratorsRangeAndEyeLike()
    {
        Expect(I(10, 7), Run("Range", 11, [K(I([], 10)), K(I([], 4)), K(I([], -3))], 1));
        // Longer than 65 536 elements: imported as iota × delta + start rather than a literal, same values.
        var r = Run("Range", 11, [K(I([], 5)), K(I([], 5 + 3 * 70_000)), K(I([], 3))], 1);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        var range = r.Value!.Results[0];
        Assert.Equal(70_000, range.ElementCount);
        Assert.Equal(5, range.GetInt64(0));
        Assert.Equal(5 + 3 * 69_999L, range.GetInt64(69_999));
        Expect(I([2, 3], 0, 1, 0, 0, 0, 1), Run("EyeLike", 9, [Rt(F([2, 3], 0, 0, 0, 0, 0, 0))], 1, Attr("k", 1), Attr("dtype", 7)));
    }

    [Fact]
    public void DropoutIsTheIdentityAtInferenceAndRefusesRandomTraining()
    {
        var x = F([2], 1, 2);
        var r = Run("Dropout", 13, [Rt(x), K(F([], 0.5)), K(Tensor.FromInt64s(TensorType.Scalar(ElementType.Bool), [0]))], 2);
        Expect(x, r);
        Expect(Tensor.FromInt64s(new TensorType(ElementType.Bool, 2), [1, 1]), r, 1);
        var training = Run("Dropout", 13, [Rt(x), K(F([], 0.5)), K(Tensor.FromInt64s(TensorType.Scalar(ElementType.Bool), [1]))], 1);
        Assert.Equal(Diagnostic.UnsupportedOp, training.Diagnostics[0].Code);
        Expect(x, Run("Dropout", 13, [Rt(x), K(F([], 0)), K(Tensor.FromInt64s(TensorType.Scalar(ElementType.Bool), [1]))], 1));
    }

    [Fact]
    public void UpsampleNearestRepeatsAndLinearClampsAtTheEdge()
    {
        Expect(F([1, 4], 1, 1, 2, 2), Run("Upsample", 9, [Rt(F([1, 2], 1, 2)), K(F([2], 1, 2))], 1));
        Expect(F([1, 4], 1, 2, 3, 3), Run("Upsample", 9, [Rt(F([1, 2], 1, 3)), K(F([2], 1, 2))], 1, Attr("mode", "linear")));
    }

    [Fact]
    public void ResizeWithAxesAndKeepAspectRatio() =>
        // sizes [3, 4] with not_larger → scale min(3/2, 4/2) = 1.5 on both axes, output 3x3 (half_pixel, round_prefer_floor).
        Expect(F([1, 1, 3, 3], 1, 1, 2, 1, 1, 2, 3, 3, 4),
            Run("Resize", 18, [Rt(F([1, 1, 2, 2], 1, 2, 3, 4)), K(null), K(null), K(I(3, 4))], 1, Attr("axes", 2, 3), Attr("keep_aspect_ratio_policy", "not_larger")));

    [Fact]
    public void SplitIntoUnevenChunksWithNumOutputs()
    {
        var r = Run("Split", 18, [Rt(Ten)], 3, Attr("num_outputs", 3));
        Expect(F([4], 0, 1, 2, 3), r, 0);
        Expect(F([4], 4, 5, 6, 7), r, 1);
        Expect(F([2], 8, 9), r, 2);
    }

    [Fact]
    public void TileAndConstantForms()
    {
        Expect(F([2, 4], 1, 2, 1, 2, 1, 2, 1, 2), Run("Tile", 13, [Rt(F([1, 2], 1, 2)), K(I(2, 2))], 1));
        Expect(I(4, 5), Run("Constant", 13, [], 1, Attr("value_ints", 4, 5)));
    }
}
