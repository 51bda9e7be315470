namespace GraphCompiler.Tests.IR;

/// <summary>
/// gather, scatter, sort and top_k. Expected values are worked out by hand from XLA's Gather/Scatter
/// semantics and the NumPy / TensorFlow / ONNX definitions of the ops the importers lower to them.
/// </summary>
public sealed class IndexingOpsTests
{
    private static string One(string op, string resultType, params string[] argTypes) =>
        IrTest.Func($"  %0 = {op} : {resultType}\n  return %0", resultType, argTypes);

    private static string Two(string op, string t0, string t1, string argType) =>
        IrTest.Func($"  %0, %1 = {op} : {t0}, {t1}\n  return %0, %1", $"{t0}, {t1}", argType);

    private static string Gather(string attrs, string result, string operand, string indices) =>
        One($"gather %arg0, %arg1 {{{attrs}}}", result, operand, indices);

    private static string Scatter(string attrs, string operand, string indices, string updates) =>
        One($"scatter %arg0, %arg1, %arg2 {{{attrs}}}", operand, operand, indices, updates);

    private static Tensor F32x23 => T.F32([2, 3], 1, 2, 3, 4, 5, 6);

    // ================================================================ gather: lowerings

    // np.take(x, [2, 0], axis=1) = TF GatherV2(axis=1) = ONNX Gather(axis=1).
    private const string TakeAxis1 = "offset_dims = [0], collapsed_slice_dims = [1], start_index_map = [1], index_vector_dim = 1, slice_sizes = [2, 1]";

    [Fact]
    public void GatherV2OnAxis1()
    {
        var r = IrTest.Run(Gather(TakeAxis1, "tensor<2x2xf32>", "tensor<2x3xf32>", "tensor<2xi32>"), F32x23, T.I32([2], 2, 0));
        IrTest.AssertTensor(T.F32([2, 2], 3, 1, 6, 4), r[0]);
    }

    [Fact]
    public void GatherV2OnAxis1With2DIndices()
    {
        // np.take(x, [[2, 0], [1, 1]], axis=1) has shape (2, 2, 2): [[[3, 1], [2, 2]], [[6, 4], [5, 5]]].
        var r = IrTest.Run(Gather(
                "offset_dims = [0], collapsed_slice_dims = [1], start_index_map = [1], index_vector_dim = 2, slice_sizes = [2, 1]",
                "tensor<2x2x2xf32>", "tensor<2x3xf32>", "tensor<2x2xi64>"),
            F32x23, T.I64([2, 2], 2, 0, 1, 1));
        IrTest.AssertTensor(T.F32([2, 2, 2], 3, 1, 2, 2, 6, 4, 5, 5), r[0]);
    }

    [Fact]
    public void GatherNdSlices()
    {
        // tf.gather_nd(params[2,2,2] = arange(8), [[0, 1], [1, 0]]) = [params[0,1,:], params[1,0,:]] = [[2, 3], [4, 5]].
        var r = IrTest.Run(Gather(
                "offset_dims = [1], collapsed_slice_dims = [0, 1], start_index_map = [0, 1], index_vector_dim = 1, slice_sizes = [1, 1, 2]",
                "tensor<2x2xi32>", "tensor<2x2x2xi32>", "tensor<2x2xi64>"),
            T.I32([2, 2, 2], 0, 1, 2, 3, 4, 5, 6, 7), T.I64([2, 2], 0, 1, 1, 0));
        IrTest.AssertTensor(T.I32([2, 2], 2, 3, 4, 5), r[0]);
    }

    [Fact]
    public void GatherNdFullIndexPicksElements()
    {
        // params[1,1,0] = 6, params[0,0,1] = 1.
        var r = IrTest.Run(Gather(
                "collapsed_slice_dims = [0, 1, 2], start_index_map = [0, 1, 2], index_vector_dim = 1, slice_sizes = [1, 1, 1]",
                "tensor<2xi32>", "tensor<2x2x2xi32>", "tensor<2x3xi32>"),
            T.I32([2, 2, 2], 0, 1, 2, 3, 4, 5, 6, 7), T.I32([2, 3], 1, 1, 0, 0, 0, 1));
        IrTest.AssertTensor(T.I32([2], 6, 1), r[0]);
    }

    private const string GatherElements2D = "collapsed_slice_dims = [0, 1], start_index_map = [0, 1], index_vector_dim = 2, slice_sizes = [1, 1]";

    [Fact]
    public void GatherElementsAxis1ViaConcatenatedIota()
    {
        // ONNX GatherElements(data, idx = [[2, 0], [1, 1]], axis=1): out[i][j] = data[i][idx[i][j]] = [[3, 1], [5, 5]].
        // The lowering concatenates iota(dim 0) with idx along a new last dim: full[i][j] = (i, idx[i][j]).
        var full = T.I32([2, 2, 2], 0, 2, 0, 0, 1, 1, 1, 1);
        var r = IrTest.Run(Gather(GatherElements2D, "tensor<2x2xf32>", "tensor<2x3xf32>", "tensor<2x2x2xi32>"), F32x23, full);
        IrTest.AssertTensor(T.F32([2, 2], 3, 1, 5, 5), r[0]);
    }

    [Fact]
    public void GatherElementsAxis0ViaConcatenatedIota()
    {
        // idx = [[1, 0, 1]], axis=0: out[0][j] = data[idx[0][j]][j] = [data[1][0], data[0][1], data[1][2]] = [4, 2, 6].
        // full[0][j] = (idx[0][j], j) with j from iota along dim 1.
        var full = T.I32([1, 3, 2], 1, 0, 0, 1, 1, 2);
        var r = IrTest.Run(Gather(GatherElements2D, "tensor<1x3xf32>", "tensor<2x3xf32>", "tensor<1x3x2xi32>"), F32x23, full);
        IrTest.AssertTensor(T.F32([1, 3], 4, 2, 6), r[0]);
    }

    [Fact]
    public void GatherElementsViaBatchingDims()
    {
        // The same GatherElements(axis=1) with dim 0 as a batching dim instead of an iota index.
        var r = IrTest.Run(Gather(
                "collapsed_slice_dims = [1], start_index_map = [1], index_vector_dim = 2, slice_sizes = [1, 1], operand_batching_dims = [0], start_indices_batching_dims = [0]",
                "tensor<2x2xf32>", "tensor<2x3xf32>", "tensor<2x2xi32>"),
            F32x23, T.I32([2, 2], 2, 0, 1, 1));
        IrTest.AssertTensor(T.F32([2, 2], 3, 1, 5, 5), r[0]);
    }

    [Fact]
    public void GatherBatchingDimAfterIndexVectorDim()
    {
        // indices[0, b1, b2] with index_vector_dim 0: the indices batching dim 1 is batch position 0.
        // out[b1][b2] = data[b1][idx[0][b1][b2]], idx[0] = [[2, 0], [1, 1]] → [[3, 1], [5, 5]].
        var r = IrTest.Run(Gather(
                "collapsed_slice_dims = [1], start_index_map = [1], index_vector_dim = 0, slice_sizes = [1, 1], operand_batching_dims = [0], start_indices_batching_dims = [1]",
                "tensor<2x2xf32>", "tensor<2x3xf32>", "tensor<1x2x2xi32>"),
            F32x23, T.I32([1, 2, 2], 2, 0, 1, 1));
        IrTest.AssertTensor(T.F32([2, 2], 3, 1, 5, 5), r[0]);
    }

    private const string EmbeddingLookup = "offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1, slice_sizes = [1, 2]";

    [Fact]
    public void EmbeddingLookupF16()
    {
        var table = T.F16([4, 2], 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5);
        var r = IrTest.Run(Gather(EmbeddingLookup, "tensor<3x2xf16>", "tensor<4x2xf16>", "tensor<3xi32>"), table, T.I32([3], 3, 0, 3));
        IrTest.AssertTensor(T.F16([3, 2], 3, 3.5, 0, 0.5, 3, 3.5), r[0]);
    }

    [Fact]
    public void EmbeddingLookupWithNoIdsIsEmpty()
    {
        var table = T.F32([4, 2], 0, 1, 2, 3, 4, 5, 6, 7);
        var r = IrTest.Run(Gather(EmbeddingLookup, "tensor<0x2xf32>", "tensor<4x2xf32>", "tensor<0xi32>"), table, T.I32([0]));
        Assert.Equal(new TensorType(ElementType.F32, 0, 2), r[0].Type);
        Assert.Equal(0, r[0].ElementCount);
    }

    [Fact]
    public void OneHotAsGatherFromIdentityBool()
    {
        // tf.one_hot([2, 0, 1], depth=3) = rows of eye(3).
        var text = """
            func @main(%labels: tensor<3xu8>) -> (tensor<3x3xbool>) {
              %eye = constant {value = dense<[[true, false, false], [false, true, false], [false, false, true]]>} : tensor<3x3xbool>
              %0 = gather %eye, %labels {offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1, slice_sizes = [1, 3]} : tensor<3x3xbool>
              return %0
            }
            """;
        var r = IrTest.Run(text, T.U8([3], 2, 0, 1));
        IrTest.AssertTensor(T.Bool([3, 3], false, false, true, true, false, false, false, true, false), r[0]);
    }

    // ================================================================ gather: semantics edge cases

    [Fact]
    public void GatherClampsStartIndicesSoTheSliceFits()
    {
        // Slices of 3 from a length-5 vector: starts clamp to [0, 2]. -2 → 0, 1 → 1, 4 → 2.
        var text = Gather("offset_dims = [1], start_index_map = [0], index_vector_dim = 1, slice_sizes = [3]",
            "tensor<3x3xi32>", "tensor<5xi32>", "tensor<3xi8>");
        var r = IrTest.Run(text, T.I32([5], 10, 20, 30, 40, 50), T.I8([3], -2, 1, 4));
        IrTest.AssertTensor(T.I32([3, 3], 10, 20, 30, 20, 30, 40, 30, 40, 50), r[0]);
    }

    [Fact]
    public void GatherClampsExtremeIndicesOfWideTypes()
    {
        var x = T.I32([5], 10, 20, 30, 40, 50);
        const string attrs = "offset_dims = [1], start_index_map = [0], index_vector_dim = 1, slice_sizes = [3]";
        // u64 max (2^64 - 1) is a huge positive start, not -1: it clamps to 2.
        var r = IrTest.Run(Gather(attrs, "tensor<1x3xi32>", "tensor<5xi32>", "tensor<1xu64>"), x, T.U64([1], -1));
        IrTest.AssertTensor(T.I32([1, 3], 30, 40, 50), r[0]);
        r = IrTest.Run(Gather(attrs, "tensor<2x3xi32>", "tensor<5xi32>", "tensor<2xi64>"), x, T.I64([2], long.MinValue, long.MaxValue));
        IrTest.AssertTensor(T.I32([2, 3], 10, 20, 30, 30, 40, 50), r[0]);
    }

    [Fact]
    public void GatherClampsOnCollapsedDims()
    {
        // XLA clamps where NumPy would raise: index 7 into a length-3 axis reads element 2, -1 reads element 0.
        var r = IrTest.Run(Gather("collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1, slice_sizes = [1]",
            "tensor<2xf64>", "tensor<3xf64>", "tensor<2xi32>"), T.F64([3], 1.5, 2.5, 3.5), T.I32([2], 7, -1));
        IrTest.AssertTensor(T.F64([2], 3.5, 1.5), r[0]);
    }

    [Fact]
    public void GatherWithRank0IndexUsesImplicitIndexVector()
    {
        // index_vector_dim = rank(indices) = 0: the scalar is the whole index vector. x[2, :] = [5, 6].
        var r = IrTest.Run(Gather("offset_dims = [0], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 0, slice_sizes = [1, 2]",
            "tensor<2xf64>", "tensor<3x2xf64>", "tensor<i32>"), T.F64([3, 2], 1, 2, 3, 4, 5, 6), T.I32(2));
        IrTest.AssertTensor(T.F64([2], 5, 6), r[0]);
    }

    [Fact]
    public void GatherFromRank0OperandBroadcasts()
    {
        // Empty index vectors (indices 3x0) select the whole scalar three times.
        var r = IrTest.Run(Gather("start_index_map = [], index_vector_dim = 1, slice_sizes = []",
            "tensor<3xf32>", "tensor<f32>", "tensor<3x0xi32>"), T.F32(7.5), T.I32([3, 0]));
        IrTest.AssertTensor(T.F32([3], 7.5, 7.5, 7.5), r[0]);
    }

    [Fact]
    public void GatherWithLeadingIndexVectorDim()
    {
        var r = IrTest.Run(Gather("collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 0, slice_sizes = [1]",
            "tensor<2xi16>", "tensor<3xi16>", "tensor<1x2xi32>"), T.I16([3], 7, 8, 9), T.I32([1, 2], 2, 0));
        IrTest.AssertTensor(T.I16([2], 9, 7), r[0]);
    }

    [Fact]
    public void GatherStartIndexMapPermutesTheIndexVector()
    {
        // (2, 1) with start_index_map [1, 0] is column 2, row 1: x[1][2] = 6; (0, 0) → x[0][0] = 1.
        var r = IrTest.Run(Gather("collapsed_slice_dims = [0, 1], start_index_map = [1, 0], index_vector_dim = 1, slice_sizes = [1, 1]",
            "tensor<2xf32>", "tensor<2x3xf32>", "tensor<2x2xi32>"), F32x23, T.I32([2, 2], 2, 1, 0, 0));
        IrTest.AssertTensor(T.F32([2], 6, 1), r[0]);
    }

    [Fact]
    public void GatherBatchDimBetweenOffsetDims()
    {
        // 2x2 windows of x (3x4 = arange(12)) starting at row idx[b] (clamped to [0, 1]), column 0.
        // Result dims: (window row, batch, window column). Starts: 0 and clamp(5) = 1.
        // out[0][0] = x[0][0:2] = [0, 1], out[0][1] = x[1][0:2] = [4, 5], out[1][0] = x[1][0:2] = [4, 5], out[1][1] = x[2][0:2] = [8, 9].
        var x = T.I32([3, 4], 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
        var r = IrTest.Run(Gather("offset_dims = [0, 2], start_index_map = [0], index_vector_dim = 1, slice_sizes = [2, 2]",
            "tensor<2x2x2xi32>", "tensor<3x4xi32>", "tensor<2xi32>"), x, T.I32([2], 0, 5));
        IrTest.AssertTensor(T.I32([2, 2, 2], 0, 1, 4, 5, 4, 5, 8, 9), r[0]);
    }

    [Fact]
    public void GatherZeroSizedSliceGivesEmptyResult()
    {
        var r = IrTest.Run(Gather("offset_dims = [1, 2], start_index_map = [0], index_vector_dim = 1, slice_sizes = [0, 3]",
            "tensor<2x0x3xf32>", "tensor<2x3xf32>", "tensor<2xi32>"), F32x23, T.I32([2], 0, 1));
        Assert.Equal(new TensorType(ElementType.F32, 2, 0, 3), r[0].Type);
    }

    [Fact]
    public void GatherPrintsAndDropsEmptyDefaults()
    {
        var m = IrTest.Parse(Gather("offset_dims = [], collapsed_slice_dims = [0, 1], operand_batching_dims = [], start_index_map = [0, 1], index_vector_dim = 1, slice_sizes = [1, 1]",
            "tensor<2xf32>", "tensor<2x3xf32>", "tensor<2x2xi32>"));
        var op = m.Functions[0].Body.Operations[0];
        Assert.False(op.Attributes.Items.ContainsKey("offset_dims"));
        Assert.False(op.Attributes.Items.ContainsKey("operand_batching_dims"));
        Assert.Equal(new long[] { 0, 1 }, op.Attr.Ints("collapsed_slice_dims").ToArray());
    }

    // ================================================================ gather: verifier

    private static void RejectsTake(string attrs, string expected, string result = "tensor<2x2xf32>", string operand = "tensor<2x3xf32>", string indices = "tensor<2xi32>") =>
        IrTest.Rejects(Gather(attrs, result, operand, indices), expected);

    [Fact]
    public void GatherRejectsWrongResultType() =>
        RejectsTake(TakeAxis1, "differ from the inferred (tensor<2x2xf32>)", result: "tensor<2x3xf32>");

    [Fact]
    public void GatherRejectsFloatIndices() =>
        RejectsTake(TakeAxis1, "indices must have an integer element type, got tensor<2xf32>", indices: "tensor<2xf32>");

    [Fact]
    public void GatherRejectsBoolIndices() =>
        RejectsTake(TakeAxis1, "indices must have an integer element type, got tensor<2xbool>", indices: "tensor<2xbool>");

    [Fact]
    public void GatherRejectsIndexVectorDimOutOfRange()
    {
        RejectsTake(TakeAxis1.Replace("index_vector_dim = 1", "index_vector_dim = 2"), "'index_vector_dim' is 2, expected 0 <= index_vector_dim <= 1");
        RejectsTake(TakeAxis1.Replace("index_vector_dim = 1", "index_vector_dim = -1"), "'index_vector_dim' is -1, expected 0 <= index_vector_dim <= 1");
    }

    [Fact]
    public void GatherRejectsMissingSliceSizes() =>
        RejectsTake("offset_dims = [0], collapsed_slice_dims = [1], start_index_map = [1], index_vector_dim = 1", "missing required attribute 'slice_sizes'");

    [Fact]
    public void GatherRejectsSliceSizesOfWrongLength() =>
        RejectsTake(TakeAxis1.Replace("slice_sizes = [2, 1]", "slice_sizes = [2]"), "'slice_sizes' has 1 entries, expected 2 (the operand rank of tensor<2x3xf32>)");

    [Fact]
    public void GatherRejectsSliceSizesOutOfRange()
    {
        RejectsTake(TakeAxis1.Replace("slice_sizes = [2, 1]", "slice_sizes = [3, 1]"), "'slice_sizes'[0] is 3, expected 0 <= size <= 2 (operand dimension 0");
        RejectsTake(TakeAxis1.Replace("slice_sizes = [2, 1]", "slice_sizes = [-1, 1]"), "'slice_sizes'[0] is -1, expected 0 <= size <= 2");
    }

    [Fact]
    public void GatherRejectsCollapsedDimOutOfRange() =>
        RejectsTake(TakeAxis1.Replace("collapsed_slice_dims = [1]", "collapsed_slice_dims = [2]"),
            "'collapsed_slice_dims' entry 2 is out of range: expected 0 <= d < 2 (the operand rank)");

    [Fact]
    public void GatherRejectsUnsortedCollapsedDims() =>
        RejectsTake("collapsed_slice_dims = [1, 0], start_index_map = [0, 1], index_vector_dim = 1, slice_sizes = [1, 1]",
            "'collapsed_slice_dims' must be sorted ascending, got [1, 0]", result: "tensor<2xf32>", indices: "tensor<2x2xi32>");

    [Fact]
    public void GatherRejectsRepeatedCollapsedDim() =>
        RejectsTake("collapsed_slice_dims = [1, 1], start_index_map = [1], index_vector_dim = 1, slice_sizes = [2, 1]",
            "'collapsed_slice_dims' lists dimension 1 twice");

    [Fact]
    public void GatherRejectsCollapsedDimWithSliceSizeOtherThanOne()
    {
        RejectsTake(TakeAxis1.Replace("slice_sizes = [2, 1]", "slice_sizes = [2, 2]"),
            "'slice_sizes'[1] is 2, expected 1 because dimension 1 is in 'collapsed_slice_dims'");
        RejectsTake(TakeAxis1.Replace("slice_sizes = [2, 1]", "slice_sizes = [2, 0]"),
            "'slice_sizes'[1] is 0, expected 1 because dimension 1 is in 'collapsed_slice_dims'");
    }

    private const string ElementsBatching = "collapsed_slice_dims = [1], start_index_map = [1], index_vector_dim = 2, slice_sizes = [1, 1], operand_batching_dims = [0], start_indices_batching_dims = [0]";

    [Fact]
    public void GatherRejectsBatchingDimWithSliceSizeOtherThanOne() =>
        RejectsTake(ElementsBatching.Replace("slice_sizes = [1, 1]", "slice_sizes = [2, 1]"),
            "'slice_sizes'[0] is 2, expected 1 because dimension 0 is in 'operand_batching_dims'", indices: "tensor<2x2xi32>");

    [Fact]
    public void GatherRejectsDimBothCollapsedAndBatching() =>
        RejectsTake(ElementsBatching.Replace("collapsed_slice_dims = [1]", "collapsed_slice_dims = [0, 1]"),
            "operand dimension 0 is in both 'collapsed_slice_dims' and 'operand_batching_dims'", indices: "tensor<2x2xi32>");

    [Fact]
    public void GatherRejectsBatchingDimsOfDifferentCounts() =>
        RejectsTake(ElementsBatching.Replace("start_indices_batching_dims = [0]", "start_indices_batching_dims = []"),
            "'operand_batching_dims' has 1 entries but 'start_indices_batching_dims' has 0", indices: "tensor<2x2xi32>");

    [Fact]
    public void GatherRejectsBatchingDimsOfDifferentSizes() =>
        RejectsTake(ElementsBatching, "batching pair #0: operand dimension 0 has size 2 but indices dimension 0 has size 3",
            result: "tensor<3x2xf32>", indices: "tensor<3x2xi32>");

    [Fact]
    public void GatherRejectsIndicesBatchingDimOutOfRange() =>
        RejectsTake(ElementsBatching.Replace("start_indices_batching_dims = [0]", "start_indices_batching_dims = [5]"),
            "'start_indices_batching_dims' entry 5 is out of range: expected 0 <= d < 2 (the indices rank)", indices: "tensor<2x2xi32>");

    [Fact]
    public void GatherRejectsIndicesBatchingDimEqualToIndexVectorDim() =>
        RejectsTake(ElementsBatching.Replace("index_vector_dim = 2", "index_vector_dim = 1").Replace("start_indices_batching_dims = [0]", "start_indices_batching_dims = [1]"),
            "'start_indices_batching_dims' must not contain index_vector_dim 1", indices: "tensor<2x1xi32>");

    [Fact]
    public void GatherRejectsStartIndexMapOfWrongLength()
    {
        RejectsTake("collapsed_slice_dims = [0, 1], start_index_map = [1], index_vector_dim = 1, slice_sizes = [1, 1]",
            "'start_index_map' has 1 entries, expected 2 (the size of indices dimension 1 of tensor<2x2xi32>)", result: "tensor<2xf32>", indices: "tensor<2x2xi32>");
        RejectsTake(TakeAxis1.Replace("start_index_map = [1]", "start_index_map = [0, 1]"),
            "'start_index_map' has 2 entries, expected 1 (index_vector_dim equals the indices rank: one implicit index)");
    }

    [Fact]
    public void GatherRejectsStartIndexMapOutOfRange() =>
        RejectsTake(TakeAxis1.Replace("start_index_map = [1]", "start_index_map = [2]"),
            "'start_index_map' entry 2 is out of range: expected 0 <= d < 2 (the operand rank)");

    [Fact]
    public void GatherRejectsRepeatedStartIndexMapEntry() =>
        RejectsTake("collapsed_slice_dims = [1], offset_dims = [1], start_index_map = [1, 1], index_vector_dim = 1, slice_sizes = [2, 1]",
            "'start_index_map' lists dimension 1 twice", indices: "tensor<2x2xi32>");

    [Fact]
    public void GatherRejectsStartIndexMapOnBatchingDim() =>
        RejectsTake(ElementsBatching.Replace("start_index_map = [1]", "start_index_map = [0]"),
            "operand dimension 0 is in both 'start_index_map' and 'operand_batching_dims'", indices: "tensor<2x2xi32>");

    [Fact]
    public void GatherRejectsWrongNumberOfOffsetDims() =>
        RejectsTake(TakeAxis1.Replace("offset_dims = [0]", "offset_dims = []"),
            "'offset_dims' has 0 entries, expected 1 (operand rank 2 minus 1 collapsed and 0 batching dims)");

    [Fact]
    public void GatherRejectsOffsetDimOutOfRange() =>
        RejectsTake(TakeAxis1.Replace("offset_dims = [0]", "offset_dims = [2]"),
            "'offset_dims' entry 2 is out of range: expected 0 <= d < 2 (the result rank)");

    [Fact]
    public void GatherRejectsUnsortedOffsetDims() =>
        RejectsTake("offset_dims = [2, 1], start_index_map = [0], index_vector_dim = 1, slice_sizes = [1, 3]",
            "'offset_dims' must be sorted ascending, got [2, 1]", result: "tensor<2x1x3xf32>");

    [Fact]
    public void GatherRejectsWrongOperandCount() =>
        IrTest.Rejects(One($"gather %arg0 {{{TakeAxis1}}}", "tensor<2x2xf32>", "tensor<2x3xf32>"), "takes 2 operand(s), got 1");

    // ================================================================ scatter: lowerings

    [Fact]
    public void ScatterNdElements()
    {
        // ONNX ScatterND example: data = [1..8], indices = [[4], [3], [1], [7]], updates = [9, 10, 11, 12]
        // → [1, 11, 3, 10, 9, 6, 7, 12].
        var r = IrTest.Run(Scatter("inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1",
                "tensor<8xf32>", "tensor<4x1xi64>", "tensor<4xf32>"),
            T.F32([8], 1, 2, 3, 4, 5, 6, 7, 8), T.I64([4, 1], 4, 3, 1, 7), T.F32([4], 9, 10, 11, 12));
        IrTest.AssertTensor(T.F32([8], 1, 11, 3, 10, 9, 6, 7, 12), r[0]);
    }

    private const string ScatterRows = "update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1";

    [Fact]
    public void ScatterNdSlices()
    {
        // Rows: data[2] = [10, 20], data[0] = [30, 40].
        var r = IrTest.Run(Scatter(ScatterRows, "tensor<3x2xi32>", "tensor<2x1xi32>", "tensor<2x2xi32>"),
            T.I32([3, 2], 1, 2, 3, 4, 5, 6), T.I32([2, 1], 2, 0), T.I32([2, 2], 10, 20, 30, 40));
        IrTest.AssertTensor(T.I32([3, 2], 30, 40, 3, 4, 10, 20), r[0]);
    }

    [Fact]
    public void ScatterElementsAxis0ViaConcatenatedIota()
    {
        // ONNX ScatterElements example (axis=0): data = zeros(3, 3), indices = [[1, 0, 2], [0, 2, 1]],
        // updates = [[1.0, 1.1, 1.2], [2.0, 2.1, 2.2]] → [[2.0, 1.1, 0], [1.0, 0, 2.2], [0, 2.1, 1.2]].
        // full[i][j] = (indices[i][j], j), j from iota along dim 1.
        var full = T.I64([2, 3, 2], 1, 0, 0, 1, 2, 2, 0, 0, 2, 1, 1, 2);
        var r = IrTest.Run(Scatter("inserted_window_dims = [0, 1], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 2",
                "tensor<3x3xf32>", "tensor<2x3x2xi64>", "tensor<2x3xf32>"),
            T.F32([3, 3], 0, 0, 0, 0, 0, 0, 0, 0, 0), full, T.F32([2, 3], 1.0, 1.1, 1.2, 2.0, 2.1, 2.2));
        IrTest.AssertTensor(T.F32([3, 3], 2.0, 1.1, 0, 1.0, 0, 2.2, 0, 2.1, 1.2), r[0]);
    }

    [Fact]
    public void ScatterElementsAxis1ViaBatchingDims()
    {
        // ONNX ScatterElements example (axis=1): data = [[1, 2, 3, 4, 5]], indices = [[1, 3]],
        // updates = [[1.1, 2.1]] → [[1, 1.1, 3, 2.1, 5]].
        var r = IrTest.Run(Scatter("inserted_window_dims = [1], scatter_dims_to_operand_dims = [1], index_vector_dim = 2, input_batching_dims = [0], scatter_indices_batching_dims = [0]",
                "tensor<1x5xf32>", "tensor<1x2xi32>", "tensor<1x2xf32>"),
            T.F32([1, 5], 1, 2, 3, 4, 5), T.I32([1, 2], 1, 3), T.F32([1, 2], 1.1, 2.1));
        IrTest.AssertTensor(T.F32([1, 5], 1, 1.1, 3, 2.1, 5), r[0]);
    }

    private const string ScatterScalars = "inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1";

    [Fact]
    public void ScatterAddAccumulatesDuplicates()
    {
        // tensor_scatter_nd_add: index 0 gets 1 + 3 + 4, index 2 gets 2.
        var r = IrTest.Run(Scatter(ScatterScalars + ", kind = add", "tensor<3xi32>", "tensor<4x1xi32>", "tensor<4xi32>"),
            T.I32([3], 100, 0, -5), T.I32([4, 1], 0, 2, 0, 0), T.I32([4], 1, 2, 3, 4));
        IrTest.AssertTensor(T.I32([3], 108, 0, -3), r[0]);
    }

    [Fact]
    public void ScatterAddWrapsIntegers()
    {
        var r = IrTest.Run(Scatter(ScatterScalars + ", kind = add", "tensor<2xi8>", "tensor<2x1xi32>", "tensor<2xi8>"),
            T.I8([2], 120, 0), T.I32([2, 1], 0, 0), T.I8([2], 5, 5));
        IrTest.AssertTensor(T.I8([2], -126, 0), r[0]); // 130 wraps to -126
    }

    [Fact]
    public void ScatterMulI64()
    {
        var r = IrTest.Run(Scatter(ScatterScalars + ", kind = mul", "tensor<2xi64>", "tensor<3x1xi32>", "tensor<3xi64>"),
            T.I64([2], 2, 3), T.I32([3, 1], 0, 0, 1), T.I64([3], 3, 5, 7));
        IrTest.AssertTensor(T.I64([2], 30, 21), r[0]);
    }

    [Fact]
    public void ScatterMaxPropagatesNaN()
    {
        var r = IrTest.Run(Scatter(ScatterScalars + ", kind = max", "tensor<3xf32>", "tensor<4x1xi32>", "tensor<4xf32>"),
            T.F32([3], 1, 5, 0), T.I32([4, 1], 0, 1, 0, 2), T.F32([4], 3, 2, -1, double.NaN));
        IrTest.AssertTensor(T.F32([3], 3, 5, double.NaN), r[0]);
    }

    [Fact]
    public void ScatterMinComparesUnsigned()
    {
        // 200 and 250 are above the i8 range: an unsigned compare keeps 100 < 200 < 250.
        var r = IrTest.Run(Scatter(ScatterScalars + ", kind = min", "tensor<2xu8>", "tensor<3x1xi32>", "tensor<3xu8>"),
            T.U8([2], 200, 10), T.I32([3, 1], 0, 1, 0), T.U8([3], 250, 20, 100));
        IrTest.AssertTensor(T.U8([2], 100, 10), r[0]);
    }

    [Fact]
    public void ScatterAddF16RoundsAfterEachUpdate()
    {
        // 2048 + 1 = 2049 is a tie between 2048 and 2050 in f16 and rounds to even (2048); twice.
        var r = IrTest.Run(Scatter(ScatterScalars + ", kind = add", "tensor<1xf16>", "tensor<2x1xi32>", "tensor<2xf16>"),
            T.F16([1], 2048), T.I32([2, 1], 0, 0), T.F16([2], 1, 1));
        IrTest.AssertTensor(T.F16([1], 2048), r[0]);
    }

    [Fact]
    public void ScatterReplaceWithDuplicatesLastWins()
    {
        var r = IrTest.Run(Scatter(ScatterScalars, "tensor<3xf32>", "tensor<3x1xi32>", "tensor<3xf32>"),
            T.F32([3], 0, 0, 0), T.I32([3, 1], 1, 1, 1), T.F32([3], 5, 6, 7));
        IrTest.AssertTensor(T.F32([3], 0, 7, 0), r[0]);
        // Whole rows: the second update row (later in row-major order) wins.
        r = IrTest.Run(Scatter(ScatterRows, "tensor<3x2xi32>", "tensor<2x1xi32>", "tensor<2x2xi32>"),
            T.I32([3, 2], 1, 2, 3, 4, 5, 6), T.I32([2, 1], 1, 1), T.I32([2, 2], 10, 20, 30, 40));
        IrTest.AssertTensor(T.I32([3, 2], 1, 2, 30, 40, 5, 6), r[0]);
    }

    [Fact]
    public void ScatterSkipsOutOfBoundsWindowsWhole()
    {
        // Windows of 2 into a length-5 vector: start 0 fits; start 4 does not (4 + 2 > 5), so even its
        // in-bounds element 4 stays 0; start -1 does not fit either.
        var r = IrTest.Run(Scatter("update_window_dims = [1], scatter_dims_to_operand_dims = [0], index_vector_dim = 1",
                "tensor<5xf32>", "tensor<3x1xi32>", "tensor<3x2xf32>"),
            T.F32([5], 0, 0, 0, 0, 0), T.I32([3, 1], 0, 4, -1), T.F32([3, 2], 1, 2, 3, 4, 5, 6));
        IrTest.AssertTensor(T.F32([5], 1, 2, 0, 0, 0), r[0]);
    }

    [Fact]
    public void ScatterSkipsOutOfBoundsScalars()
    {
        var r = IrTest.Run(Scatter(ScatterScalars + ", kind = add", "tensor<3xi32>", "tensor<3x1xi32>", "tensor<3xi32>"),
            T.I32([3], 1, 1, 1), T.I32([3, 1], 3, -1, 1), T.I32([3], 10, 20, 30));
        IrTest.AssertTensor(T.I32([3], 1, 31, 1), r[0]);
        // u32 4294967295 is out of bounds, not -1 wrapping to the last element.
        r = IrTest.Run(Scatter(ScatterScalars, "tensor<3xi32>", "tensor<1x1xu32>", "tensor<1xi32>"),
            T.I32([3], 1, 1, 1), T.U32([1, 1], 4294967295), T.I32([1], 9));
        IrTest.AssertTensor(T.I32([3], 1, 1, 1), r[0]);
    }

    [Fact]
    public void ScatterWithNoUpdatesKeepsTheOperand()
    {
        var r = IrTest.Run(Scatter(ScatterScalars, "tensor<2xf32>", "tensor<0x1xi32>", "tensor<0xf32>"),
            T.F32([2], 1.5, -2), T.I32([0, 1]), T.F32([0]));
        IrTest.AssertTensor(T.F32([2], 1.5, -2), r[0]);
    }

    [Fact]
    public void ScatterIntoRank0Operand()
    {
        const string attrs = "scatter_dims_to_operand_dims = [], index_vector_dim = 1";
        var r = IrTest.Run(Scatter(attrs, "tensor<i32>", "tensor<2x0xi32>", "tensor<2xi32>"), T.I32(5), T.I32([2, 0]), T.I32([2], 1, 2));
        IrTest.AssertTensor(T.I32(2), r[0]);
        r = IrTest.Run(Scatter(attrs + ", kind = add", "tensor<i32>", "tensor<2x0xi32>", "tensor<2xi32>"), T.I32(5), T.I32([2, 0]), T.I32([2], 1, 2));
        IrTest.AssertTensor(T.I32(8), r[0]);
    }

    [Fact]
    public void ScatterReplaceBool()
    {
        var r = IrTest.Run(Scatter(ScatterScalars, "tensor<3xbool>", "tensor<1x1xi32>", "tensor<1xbool>"),
            T.Bool([3], false, true, false), T.I32([1, 1], 2), T.Bool([1], true));
        IrTest.AssertTensor(T.Bool([3], false, true, true), r[0]);
    }

    [Fact]
    public void ScatterWithLeadingIndexVectorDim()
    {
        // indices [[3, 1]] with index_vector_dim 0: two scalar indices 3 and 1.
        var r = IrTest.Run(Scatter("inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 0",
                "tensor<4xu16>", "tensor<1x2xi32>", "tensor<2xu16>"),
            T.U16([4], 0, 0, 0, 0), T.I32([1, 2], 3, 1), T.U16([2], 7, 65535));
        IrTest.AssertTensor(T.U16([4], 0, 65535, 0, 7), r[0]);
    }

    [Fact]
    public void ScatterDefaultKindIsNotPrinted()
    {
        var m = IrTest.Parse(Scatter(ScatterScalars + ", kind = replace", "tensor<3xf32>", "tensor<1x1xi32>", "tensor<1xf32>"));
        Assert.False(m.Functions[0].Body.Operations[0].Attributes.Items.ContainsKey("kind"));
    }

    // ================================================================ scatter: verifier

    private static void RejectsScatter(string attrs, string expected, string operand = "tensor<3x2xf32>", string indices = "tensor<2x1xi32>", string updates = "tensor<2x2xf32>") =>
        IrTest.Rejects(Scatter(attrs, operand, indices, updates), expected);

    [Fact]
    public void ScatterRejectsWrongResultType() =>
        IrTest.Rejects(IrTest.Func($"  %0 = scatter %arg0, %arg1, %arg2 {{{ScatterRows}}} : tensor<3x2xf64>\n  return %0", "tensor<3x2xf64>",
            "tensor<3x2xf32>", "tensor<2x1xi32>", "tensor<2x2xf32>"), "differ from the inferred (tensor<3x2xf32>)");

    [Fact]
    public void ScatterRejectsFloatIndices() =>
        RejectsScatter(ScatterRows, "indices must have an integer element type, got tensor<2x1xf32>", indices: "tensor<2x1xf32>");

    [Fact]
    public void ScatterRejectsUpdatesOfAnotherElementType() =>
        RejectsScatter(ScatterRows, "updates are tensor<2x2xi32> but the operand is tensor<3x2xf32>; element types must match", updates: "tensor<2x2xi32>");

    [Fact]
    public void ScatterRejectsArithmeticKindOnBool() =>
        RejectsScatter(ScatterRows + ", kind = add", "'kind' add needs a numeric element type, got tensor<3x2xbool>",
            operand: "tensor<3x2xbool>", updates: "tensor<2x2xbool>");

    [Fact]
    public void ScatterRejectsUnknownKind() =>
        RejectsScatter(ScatterRows + ", kind = sub", "attribute 'kind' must be one of replace|add|mul|max|min, got sub");

    [Fact]
    public void ScatterRejectsIndexVectorDimOutOfRange() =>
        RejectsScatter(ScatterRows.Replace("index_vector_dim = 1", "index_vector_dim = 3"), "'index_vector_dim' is 3, expected 0 <= index_vector_dim <= 2");

    [Fact]
    public void ScatterRejectsInsertedDimOutOfRange() =>
        RejectsScatter(ScatterRows.Replace("inserted_window_dims = [0]", "inserted_window_dims = [2]"),
            "'inserted_window_dims' entry 2 is out of range: expected 0 <= d < 2 (the operand rank)");

    [Fact]
    public void ScatterRejectsUnsortedInsertedDims() =>
        RejectsScatter("inserted_window_dims = [1, 0], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 1",
            "'inserted_window_dims' must be sorted ascending, got [1, 0]", indices: "tensor<2x2xi32>", updates: "tensor<2xf32>");

    [Fact]
    public void ScatterRejectsDimBothInsertedAndBatching() =>
        RejectsScatter(ScatterRows + ", input_batching_dims = [0], scatter_indices_batching_dims = [0]",
            "operand dimension 0 is in both 'inserted_window_dims' and 'input_batching_dims'");

    [Fact]
    public void ScatterRejectsWindowDimCountNotMatchingOperandRank() =>
        RejectsScatter(ScatterRows.Replace("inserted_window_dims = [0], ", ""),
            "operand rank 2 must equal the number of 'update_window_dims' (1) + 'inserted_window_dims' (0) + 'input_batching_dims' (0)");

    private const string ScatterElementsBatching = "inserted_window_dims = [1], scatter_dims_to_operand_dims = [1], index_vector_dim = 2, input_batching_dims = [0], scatter_indices_batching_dims = [0]";

    [Fact]
    public void ScatterRejectsBatchingDimsOfDifferentSizes() =>
        RejectsScatter(ScatterElementsBatching, "batching pair #0: operand dimension 0 has size 1 but indices dimension 0 has size 2",
            operand: "tensor<1x5xf32>", indices: "tensor<2x2xi32>", updates: "tensor<2x2xf32>");

    [Fact]
    public void ScatterRejectsIndicesBatchingDimEqualToIndexVectorDim() =>
        RejectsScatter(ScatterElementsBatching.Replace("index_vector_dim = 2", "index_vector_dim = 0"),
            "'scatter_indices_batching_dims' must not contain index_vector_dim 0", operand: "tensor<1x5xf32>", indices: "tensor<1x2xi32>", updates: "tensor<2xf32>");

    [Fact]
    public void ScatterRejectsScatterDimsMapOfWrongLength() =>
        RejectsScatter(ScatterRows, "'scatter_dims_to_operand_dims' has 1 entries, expected 2 (the size of indices dimension 1 of tensor<2x2xi32>)",
            indices: "tensor<2x2xi32>");

    [Fact]
    public void ScatterRejectsScatterDimsMapOutOfRange() =>
        RejectsScatter(ScatterRows.Replace("scatter_dims_to_operand_dims = [0]", "scatter_dims_to_operand_dims = [-1]"),
            "'scatter_dims_to_operand_dims' entry -1 is out of range: expected 0 <= d < 2 (the operand rank)");

    [Fact]
    public void ScatterRejectsScatterDimsMapOnBatchingDim() =>
        RejectsScatter(ScatterElementsBatching.Replace("scatter_dims_to_operand_dims = [1]", "scatter_dims_to_operand_dims = [0]"),
            "operand dimension 0 is in both 'scatter_dims_to_operand_dims' and 'input_batching_dims'",
            operand: "tensor<1x5xf32>", indices: "tensor<1x2xi32>", updates: "tensor<1x2xf32>");

    [Fact]
    public void ScatterRejectsUpdatesOfWrongRank() =>
        RejectsScatter(ScatterRows, "updates are tensor<2xf32>, expected rank 2 (1 'update_window_dims' + 1 scatter dims from the indices)", updates: "tensor<2xf32>");

    [Fact]
    public void ScatterRejectsUpdateWindowDimOutOfRange() =>
        RejectsScatter(ScatterRows.Replace("update_window_dims = [1]", "update_window_dims = [2]"),
            "'update_window_dims' entry 2 is out of range: expected 0 <= d < 2 (the updates rank)");

    [Fact]
    public void ScatterRejectsScatterDimSizeNotMatchingIndices() =>
        RejectsScatter(ScatterRows, "updates scatter dimension 0 has size 3, expected 2 (indices dimension 0)", updates: "tensor<3x2xf32>");

    [Fact]
    public void ScatterRejectsWindowLargerThanOperand() =>
        RejectsScatter(ScatterRows, "updates window dimension 1 has size 3, larger than operand dimension 1 (size 2)", updates: "tensor<2x3xf32>");

    // ================================================================ sort

    private static string Sort(string attrs, string type, string indicesType) =>
        Two($"sort %arg0 {{{attrs}}}", type, indicesType, type);

    private static readonly double[] Keys = [3, double.NaN, -0.0, 1, 0.0, double.NaN, double.NegativeInfinity, 1];

    [Fact]
    public void SortAscendingPutsNaNLastAndKeepsTiesInOrder()
    {
        var r = IrTest.Run(Sort("dimension = 0", "tensor<8xf32>", "tensor<8xi64>"), T.F32([8], Keys));
        IrTest.AssertTensor(T.F32([8], double.NegativeInfinity, -0.0, 0.0, 1, 1, 3, double.NaN, double.NaN), r[0]);
        IrTest.AssertTensor(T.I64([8], 6, 2, 4, 3, 7, 0, 1, 5), r[1]);
        // -0.0 and +0.0 tie, so they keep their order and their bits.
        Assert.True(double.IsNegative(r[0].GetDouble(1)));
        Assert.False(double.IsNegative(r[0].GetDouble(2)));
    }

    [Fact]
    public void SortDescendingIsTheReverseKeyOrderButStable()
    {
        var r = IrTest.Run(Sort("dimension = 0, descending = true", "tensor<8xf64>", "tensor<8xi64>"), T.F64([8], Keys));
        IrTest.AssertTensor(T.F64([8], double.NaN, double.NaN, 3, 1, 1, -0.0, 0.0, double.NegativeInfinity), r[0]);
        IrTest.AssertTensor(T.I64([8], 1, 5, 0, 3, 7, 2, 4, 6), r[1]);
        Assert.True(double.IsNegative(r[0].GetDouble(5)));
    }

    [Fact]
    public void SortAlongDimension0()
    {
        // Columns [3, 1], [1, 5], [2, 0] sort independently.
        var r = IrTest.Run(Sort("dimension = 0", "tensor<2x3xi32>", "tensor<2x3xi64>"), T.I32([2, 3], 3, 1, 2, 1, 5, 0));
        IrTest.AssertTensor(T.I32([2, 3], 1, 1, 0, 3, 5, 2), r[0]);
        IrTest.AssertTensor(T.I64([2, 3], 1, 0, 1, 0, 1, 0), r[1]);
    }

    [Fact]
    public void SortAlongDimension1Descending()
    {
        var r = IrTest.Run(Sort("dimension = 1, descending = true", "tensor<2x3xi32>", "tensor<2x3xi64>"), T.I32([2, 3], 3, 1, 2, 1, 5, 0));
        IrTest.AssertTensor(T.I32([2, 3], 3, 2, 1, 5, 1, 0), r[0]);
        IrTest.AssertTensor(T.I64([2, 3], 0, 2, 1, 1, 0, 2), r[1]);
    }

    [Fact]
    public void SortMiddleDimensionOfRank3()
    {
        // x[a][j][c], sorting j: lane (0, ·, 0) = [5, 4] → [4, 5]; (0, ·, 1) = [0, 9] stays; (1, ·, 0) = [2, 2] stays; (1, ·, 1) = [8, -8] → [-8, 8].
        var r = IrTest.Run(Sort("dimension = 1", "tensor<2x2x2xi8>", "tensor<2x2x2xi64>"), T.I8([2, 2, 2], 5, 0, 4, 9, 2, 8, 2, -8));
        IrTest.AssertTensor(T.I8([2, 2, 2], 4, 0, 5, 9, 2, -8, 2, 8), r[0]);
        IrTest.AssertTensor(T.I64([2, 2, 2], 1, 0, 0, 1, 0, 1, 1, 0), r[1]);
    }

    [Fact]
    public void SortComparesUnsignedAsUnsigned()
    {
        var r = IrTest.Run(Sort("dimension = 0", "tensor<3xu8>", "tensor<3xi64>"), T.U8([3], 200, 1, 128));
        IrTest.AssertTensor(T.U8([3], 1, 128, 200), r[0]);
        IrTest.AssertTensor(T.I64([3], 1, 2, 0), r[1]);
        r = IrTest.Run(Sort("dimension = 0", "tensor<3xu64>", "tensor<3xi64>"), T.U64([3], -1, 0, 1));
        IrTest.AssertTensor(T.U64([3], 0, 1, -1), r[0]);
        IrTest.AssertTensor(T.I64([3], 1, 2, 0), r[1]);
    }

    [Fact]
    public void SortI64Extremes()
    {
        var r = IrTest.Run(Sort("dimension = 0", "tensor<3xi64>", "tensor<3xi64>"), T.I64([3], long.MaxValue, long.MinValue, 0));
        IrTest.AssertTensor(T.I64([3], long.MinValue, 0, long.MaxValue), r[0]);
        IrTest.AssertTensor(T.I64([3], 1, 2, 0), r[1]);
    }

    [Fact]
    public void SortBool()
    {
        var x = T.Bool([4], true, false, true, false);
        var r = IrTest.Run(Sort("dimension = 0", "tensor<4xbool>", "tensor<4xi64>"), x);
        IrTest.AssertTensor(T.Bool([4], false, false, true, true), r[0]);
        IrTest.AssertTensor(T.I64([4], 1, 3, 0, 2), r[1]);
        r = IrTest.Run(Sort("dimension = 0, descending = true", "tensor<4xbool>", "tensor<4xi64>"), x);
        IrTest.AssertTensor(T.Bool([4], true, true, false, false), r[0]);
        IrTest.AssertTensor(T.I64([4], 0, 2, 1, 3), r[1]);
    }

    [Fact]
    public void SortF16WithNaNDescending()
    {
        var r = IrTest.Run(Sort("dimension = 0, descending = true", "tensor<4xf16>", "tensor<4xi64>"), T.F16([4], 0.5, double.NaN, 65504, -1));
        IrTest.AssertTensor(T.F16([4], double.NaN, 65504, 0.5, -1), r[0]);
        IrTest.AssertTensor(T.I64([4], 1, 2, 0, 3), r[1]);
    }

    [Fact]
    public void SortEmptyTensors()
    {
        var r = IrTest.Run(Sort("dimension = 1", "tensor<2x0xf32>", "tensor<2x0xi64>"), T.F32([2, 0]));
        Assert.Equal(new TensorType(ElementType.I64, 2, 0), r[1].Type);
        r = IrTest.Run(Sort("dimension = 1", "tensor<0x3xbf16>", "tensor<0x3xi64>"), T.BF16([0, 3]));
        Assert.Equal(new TensorType(ElementType.BF16, 0, 3), r[0].Type);
    }

    [Fact]
    public void SortDefaultDescendingIsNotPrinted()
    {
        var m = IrTest.Parse(Sort("dimension = 0, descending = false", "tensor<3xf32>", "tensor<3xi64>"));
        Assert.False(m.Functions[0].Body.Operations[0].Attributes.Items.ContainsKey("descending"));
    }

    [Fact]
    public void SortRejectsRank0() =>
        IrTest.Rejects(Sort("dimension = 0", "tensor<f32>", "tensor<i64>"), "operand must have rank 1 or more, got tensor<f32>");

    [Fact]
    public void SortRejectsDimensionOutOfRange()
    {
        IrTest.Rejects(Sort("dimension = 2", "tensor<2x3xf32>", "tensor<2x3xi64>"), "'dimension' is 2, expected 0 <= dimension < 2 (the rank of tensor<2x3xf32>)");
        IrTest.Rejects(Sort("dimension = -1", "tensor<2x3xf32>", "tensor<2x3xi64>"), "'dimension' is -1, expected 0 <= dimension < 2");
    }

    [Fact]
    public void SortRejectsMissingDimension() =>
        IrTest.Rejects(Sort("descending = true", "tensor<3xf32>", "tensor<3xi64>"), "missing required attribute 'dimension'");

    [Fact]
    public void SortRejectsI32Indices() =>
        IrTest.Rejects(Sort("dimension = 0", "tensor<3xf32>", "tensor<3xi32>"), "differ from the inferred (tensor<3xf32>, tensor<3xi64>)");

    // ================================================================ top_k

    private static string TopK(string attrs, string operand, string values, string indices) =>
        Two($"top_k %arg0 {{{attrs}}}", values, indices, operand);

    [Fact]
    public void TopKLargestPutsNaNFirstAndTiesByLowerIndex()
    {
        var x = T.F32([5], 1, 3, double.NaN, 3, 2);
        var r = IrTest.Run(TopK("k = 3", "tensor<5xf32>", "tensor<3xf32>", "tensor<3xi64>"), x);
        IrTest.AssertTensor(T.F32([3], double.NaN, 3, 3), r[0]);
        IrTest.AssertTensor(T.I64([3], 2, 1, 3), r[1]);
    }

    [Fact]
    public void TopKSmallestPutsNaNLast()
    {
        var x = T.F32([5], 1, 3, double.NaN, 3, 2);
        var r = IrTest.Run(TopK("k = 3, largest = false", "tensor<5xf32>", "tensor<3xf32>", "tensor<3xi64>"), x);
        IrTest.AssertTensor(T.F32([3], 1, 2, 3), r[0]);
        IrTest.AssertTensor(T.I64([3], 0, 4, 1), r[1]);
        r = IrTest.Run(TopK("k = 3, largest = false", "tensor<3xf64>", "tensor<3xf64>", "tensor<3xi64>"),
            T.F64([3], double.PositiveInfinity, double.NaN, double.NegativeInfinity));
        IrTest.AssertTensor(T.F64([3], double.NegativeInfinity, double.PositiveInfinity, double.NaN), r[0]);
        IrTest.AssertTensor(T.I64([3], 2, 0, 1), r[1]);
    }

    [Fact]
    public void TopKNaNAboveInfinity()
    {
        var r = IrTest.Run(TopK("k = 2", "tensor<3xf64>", "tensor<2xf64>", "tensor<2xi64>"),
            T.F64([3], double.PositiveInfinity, double.NaN, double.NegativeInfinity));
        IrTest.AssertTensor(T.F64([2], double.NaN, double.PositiveInfinity), r[0]);
        IrTest.AssertTensor(T.I64([2], 1, 0), r[1]);
    }

    [Fact]
    public void TopKRowsOfMatrix()
    {
        var x = T.I32([2, 4], 5, 1, 5, 7, 0, -3, 2, 2);
        var r = IrTest.Run(TopK("k = 2", "tensor<2x4xi32>", "tensor<2x2xi32>", "tensor<2x2xi64>"), x);
        IrTest.AssertTensor(T.I32([2, 2], 7, 5, 2, 2), r[0]);
        IrTest.AssertTensor(T.I64([2, 2], 3, 0, 2, 3), r[1]);
        r = IrTest.Run(TopK("k = 2, largest = false", "tensor<2x4xi32>", "tensor<2x2xi32>", "tensor<2x2xi64>"), x);
        IrTest.AssertTensor(T.I32([2, 2], 1, 5, -3, 0), r[0]);
        IrTest.AssertTensor(T.I64([2, 2], 1, 0, 1, 0), r[1]);
    }

    [Fact]
    public void TopKWithKEqualToLastDimSortsTheLane()
    {
        var r = IrTest.Run(TopK("k = 4", "tensor<4xu16>", "tensor<4xu16>", "tensor<4xi64>"), T.U16([4], 40000, 3, 65535, 3));
        IrTest.AssertTensor(T.U16([4], 65535, 40000, 3, 3), r[0]);
        IrTest.AssertTensor(T.I64([4], 2, 0, 1, 3), r[1]);
    }

    [Fact]
    public void TopKBF16()
    {
        var r = IrTest.Run(TopK("k = 1", "tensor<2x3xbf16>", "tensor<2x1xbf16>", "tensor<2x1xi64>"), T.BF16([2, 3], -1, -0.5, -2, 4, 8, 8));
        IrTest.AssertTensor(T.BF16([2, 1], -0.5, 8), r[0]);
        IrTest.AssertTensor(T.I64([2, 1], 1, 1), r[1]);
    }

    [Fact]
    public void TopKWithKZeroOrEmptyBatchIsEmpty()
    {
        var r = IrTest.Run(TopK("k = 0", "tensor<2x3xf32>", "tensor<2x0xf32>", "tensor<2x0xi64>"), F32x23);
        Assert.Equal(new TensorType(ElementType.F32, 2, 0), r[0].Type);
        Assert.Equal(new TensorType(ElementType.I64, 2, 0), r[1].Type);
        r = IrTest.Run(TopK("k = 2", "tensor<0x3xf32>", "tensor<0x2xf32>", "tensor<0x2xi64>"), T.F32([0, 3]));
        Assert.Equal(new TensorType(ElementType.I64, 0, 2), r[1].Type);
    }

    [Fact]
    public void TopKRejectsKLargerThanLastDim() =>
        IrTest.Rejects(TopK("k = 4", "tensor<2x3xf32>", "tensor<2x4xf32>", "tensor<2x4xi64>"), "'k' is 4, expected 0 <= k <= 3 (the last dimension of tensor<2x3xf32>)");

    [Fact]
    public void TopKRejectsNegativeK() =>
        IrTest.Rejects(TopK("k = -1", "tensor<2x3xf32>", "tensor<2x3xf32>", "tensor<2x3xi64>"), "'k' is -1, expected 0 <= k <= 3");

    [Fact]
    public void TopKRejectsRank0() =>
        IrTest.Rejects(TopK("k = 0", "tensor<f32>", "tensor<f32>", "tensor<i64>"), "operand must have rank 1 or more, got tensor<f32>");

    [Fact]
    public void TopKRejectsWrongResultShape() =>
        IrTest.Rejects(TopK("k = 2", "tensor<2x3xf32>", "tensor<2x3xf32>", "tensor<2x3xi64>"), "differ from the inferred (tensor<2x2xf32>, tensor<2x2xi64>)");
}
