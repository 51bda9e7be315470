using GraphCompiler.Conformance;
using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Onnx;
using GraphCompiler.Frontend.Tensors;
using Google.Protobuf;
using P = GraphCompiler.Frontend.Proto.Onnx;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// Hand-worked edge cases of the NN ONNX lowerings (reductions, softmax, losses, pooling, convolution,
/// matmul/einsum, quantization) that the ONNX node cases do not cover.
/// </summary>
public sealed class OnnxNnOpsTests
{
    private static Tensor F(long[] shape, params double[] v) => Tensor.FromDoubles(new TensorType(ElementType.F32, shape), v);

    private static Tensor I(long[] shape, params long[] v) => Tensor.FromInt64s(new TensorType(ElementType.I64, shape), v);

    private static int OnnxType(ElementType e) => e switch
    {
        ElementType.F32 => 1, ElementType.U8 => 2, ElementType.I64 => 7, ElementType.I32 => 6,
        _ => throw new ArgumentException(e.ToString()),
    };

    private static P.AttributeProto A(string name, long v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Int, I = v };

    private static P.AttributeProto A(string name, string v) =>
        new() { Name = name, Type = P.AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };

    private static P.AttributeProto Is(string name, params long[] v)
    {
        var a = new P.AttributeProto { Name = name, Type = P.AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    /// <summary>Imports a one-node model (inputs in0, in1, ... as graph inputs; null = omitted) and runs it.</summary>
    private static Result<InterpreterOutput> Run(string op, long opset, Tensor?[] inputs, int outputs, params P.AttributeProto[] attrs)
    {
        var node = new P.NodeProto { OpType = op, Name = "n" };
        node.Attribute.AddRange(attrs);
        var g = new P.GraphProto { Name = "g" };
        var args = new List<Tensor>();
        for (int i = 0; i < inputs.Length; i++)
        {
            var t = inputs[i];
            node.Input.Add(t is null ? "" : $"in{i}");
            if (t is null) continue;
            var shape = new P.TensorShapeProto();
            foreach (var d in t.Type.Shape) shape.Dim.Add(new P.TensorShapeProto.Types.Dimension { DimValue = d });
            g.Input.Add(new P.ValueInfoProto { Name = $"in{i}", Type = new P.TypeProto { TensorType = new P.TypeProto.Types.Tensor { ElemType = OnnxType(t.Element), Shape = shape } } });
            args.Add(t);
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

    private static void Expect(Result<InterpreterOutput> r, long[] shape, params double[] expected)
    {
        Assert.True(r.Ok, r.Ok ? "" : r.Diagnostics[0].Message);
        var t = r.Value!.Results[0];
        Assert.Equal(shape, t.Type.Shape.ToArray());
        for (int i = 0; i < expected.Length; i++)
        {
            double a = t.GetDouble(i), e = expected[i];
            Assert.True(a == e || Math.Abs(a - e) <= 1e-5 + 1e-6 * Math.Abs(e), $"element {i}: {a}, expected {e}");
        }
    }

    private static void ExpectUnsupported(Result<InterpreterOutput> r, string text)
    {
        Assert.False(r.Ok);
        Assert.Contains(text, string.Join("; ", r.Diagnostics.Select(d => d.Message)));
    }

    [Fact]
    public void ReduceLogSumExpDoesNotOverflowAndKeepsMinusInfinity() =>
        Expect(Run("ReduceLogSumExp", 13, [F([2, 2], 1000, 1000, double.NegativeInfinity, double.NegativeInfinity)], 1, Is("axes", 1), A("keepdims", 0)),
            [2], 1000 + Math.Log(2), double.NegativeInfinity);

    [Fact]
    public void ReduceSumNoopWithEmptyAxesIsIdentity() =>
        Expect(Run("ReduceSum", 13, [F([2], 1, 2)], 1, A("noop_with_empty_axes", 1)), [2], 1, 2);

    [Fact]
    public void ReduceMeanAxesAttributeBeforeOpset18() =>
        Expect(Run("ReduceMean", 13, [F([2, 2], 1, 2, 3, 5)], 1, Is("axes", -1), A("keepdims", 0)), [2], 1.5, 4);

    [Fact]
    public void ReduceAxesFedAtRuntimeMustBeBoundAtCompileTime() =>
        ExpectUnsupported(Run("ReduceSum", 13, [F([2], 1, 2), I([1], 0)], 1), "input 'in1' must be known at compile time");

    [Fact]
    public void SoftmaxBeforeOpset13CoercesTo2D()
    {
        // axis 0 flattens the whole [2, 2] tensor into one row: every element is 1/4.
        Expect(Run("Softmax", 11, [F([2, 2], 0, 0, 0, 0)], 1, A("axis", 0)), [2, 2], 0.25, 0.25, 0.25, 0.25);
        Expect(Run("Softmax", 13, [F([2, 2], 0, 0, 0, 0)], 1, A("axis", 0)), [2, 2], 0.5, 0.5, 0.5, 0.5);
    }

    [Fact]
    public void HardmaxPicksTheFirstMaximum() =>
        Expect(Run("Hardmax", 13, [F([1, 3], 2, 5, 5)], 1), [1, 3], 0, 1, 0);

    [Fact]
    public void NllMeanWithIgnoreIndexDividesByTheKeptCount() =>
        // loss = [1 (target 0), ignored] → mean over one kept element = 1.
        Expect(Run("NegativeLogLikelihoodLoss", 13, [F([2, 2], -1, -2, -3, -4), I([2], 0, 1)], 1, A("ignore_index", 1)), [], 1);

    [Fact]
    public void NllSumWithWeights() =>
        // -(-1)·2 + -(-4)·3 = 14
        Expect(Run("NegativeLogLikelihoodLoss", 13, [F([2, 2], -1, -2, -3, -4), I([2], 0, 1), F([2], 2, 3)], 1, A("reduction", "sum")), [], 14);

    [Fact]
    public void AveragePoolCeilModeCountsOnlyRealElementsOfTheExtraWindow() =>
        // windows [1,2] and [3] (the ceil-mode extension never counts, even with count_include_pad).
        Expect(Run("AveragePool", 13, [F([1, 1, 3], 1, 2, 3)], 1, Is("kernel_shape", 2), Is("strides", 2), A("ceil_mode", 1), A("count_include_pad", 1)),
            [1, 1, 2], 1.5, 3);

    [Fact]
    public void MaxPoolCeilModeDropsAWindowStartingInTheEndPadding() =>
        // padded [-inf, 1, 2, 3, -inf]: windows at 0 and 2; one at 4 would start in the padding.
        Expect(Run("MaxPool", 13, [F([1, 1, 3], 1, 2, 3)], 1, Is("kernel_shape", 2), Is("strides", 2), Is("pads", 1, 1), A("ceil_mode", 1)),
            [1, 1, 2], 1, 3);

    [Fact]
    public void MaxPoolIndicesColumnMajor()
    {
        // 2×2 input [[1, 4], [3, 2]], one 2×2 window: max 4 at (0, 1) → row-major 1, column-major 2.
        var x = F([1, 1, 2, 2], 1, 4, 3, 2);
        var r = Run("MaxPool", 12, [x], 2, Is("kernel_shape", 2, 2), A("storage_order", 1));
        Assert.True(r.Ok, r.Ok ? "" : r.Diagnostics[0].Message);
        Assert.Equal(2, r.Value!.Results[1].GetInt64(0));
    }

    [Fact]
    public void GroupedConvTranspose() =>
        // Two groups of one channel, 1-tap kernels 2 and 3.
        Expect(Run("ConvTranspose", 13, [F([1, 2, 2], 1, 2, 3, 4), F([2, 1, 1], 2, 3)], 1, A("group", 2)), [1, 2, 2], 2, 4, 9, 12);

    [Fact]
    public void MatMulVectorTimesBatch() =>
        // [1, 1] · each [[1, 2], [3, 4]] batch → [4, 6]; second batch doubled.
        Expect(Run("MatMul", 13, [F([2], 1, 1), F([2, 2, 2], 1, 2, 3, 4, 2, 4, 6, 8)], 1), [2, 2], 4, 6, 8, 12);

    [Fact]
    public void GemmScalarBiasWithBeta() =>
        Expect(Run("Gemm", 13, [F([1, 2], 1, 2), F([2, 1], 3, 4), F([], 10)], 1, new P.AttributeProto { Name = "beta", Type = P.AttributeProto.Types.AttributeType.Float, F = 0.5f }),
            [1, 1], 16);

    [Fact]
    public void EinsumInnerProductAndDiagonal()
    {
        Expect(Run("Einsum", 12, [F([3], 1, 2, 3), F([3], 4, 5, 6)], 1, A("equation", "i,i->")), [], 32);
        Expect(Run("Einsum", 12, [F([2, 3], 1, 2, 3, 4, 5, 6)], 1, A("equation", "ij")), [2, 3], 1, 2, 3, 4, 5, 6);
        Expect(Run("Einsum", 12, [F([2, 3], 1, 2, 3, 4, 5, 6)], 1, A("equation", "...j->j")), [3], 5, 7, 9);
        ExpectUnsupported(Run("Einsum", 12, [F([2, 2], 1, 2, 3, 4)], 1, A("equation", "ii->i")), "diagonal");
    }

    [Fact]
    public void QuantizeLinearRoundsHalfToEvenAndSaturates() =>
        Expect(Run("QuantizeLinear", 13, [F([5], 0.5, 1.5, 2.5, -1, 300), F([], 1)], 1), [5], 0, 2, 2, 0, 255);

    /// <summary>Training mode (opset 14+) normalises with the batch's statistics, here mean 2 and variance 1; before opset 14 there is no such mode.</summary>
    [Fact]
    public void BatchNormTrainingModeUsesTheBatchStatistics()
    {
        Expect(Run("BatchNormalization", 15, [F([2, 1, 1], 1, 3), F([1], 1), F([1], 0), F([1], 0), F([1], 1)], 1, A("training_mode", 1)),
            [2, 1, 1], -1 / Math.Sqrt(1 + 1e-5), 1 / Math.Sqrt(1 + 1e-5));
        ExpectUnsupported(Run("BatchNormalization", 13, [F([1, 1, 1], 1), F([1], 1), F([1], 0), F([1], 0), F([1], 1)], 1, A("training_mode", 1)), "training_mode");
    }

    /// <summary>
    /// Node cases whose axes / trip count / output_shape are graph inputs (unsupported as such: they fix
    /// the output shape) pass once those inputs are bound as initializers.
    /// </summary>
    [SharedDataFact]
    public void NodeCasesWithBoundInputs()
    {
        foreach (var name in (string[])["test_reduce_sum_keepdims_example", "test_reduce_sum_empty_axes_input_noop_example",
                     "test_reduce_sum_negative_axes_keepdims_example"])
            RunBound(name);
    }

    private static void RunBound(string name)
    {
        var dir = Path.Combine(SharedData.Root, "conformance", "onnx", "node", name);
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
        Assert.True(m.Ok, m.Ok ? "" : name + ": " + string.Join("; ", m.Diagnostics.Select(d => d.Message)));
        var outs = new Interpreter(m.Value!).Run(null, []);
        Assert.True(outs.Ok, outs.Ok ? "" : outs.Diagnostics[0].Message);
        for (int k = 0; File.Exists(Path.Combine(set, $"output_{k}.pb")); k++)
        {
            var expected = TensorProtoConverter.FromOnnx(P.TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(set, $"output_{k}.pb")))).Value!;
            Assert.Equal((name, k, (string?)null), (name, k, TensorComparison.Compare(expected, outs.Value!.Results[k], OnnxCase.Rtol, OnnxCase.Atol)));
        }
    }
}
