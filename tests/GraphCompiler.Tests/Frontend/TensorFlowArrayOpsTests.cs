using GraphCompiler.IR;
using static GraphCompiler.Tests.Frontend.TfGraph;

namespace GraphCompiler.Tests.Frontend;

public sealed class TensorFlowArrayOpsTests
{
    private static readonly Tensor X23 = T.F32([2, 3], 1, 2, 3, 4, 5, 6);

    private static TfGraph G(Tensor x) => new TfGraph().Placeholder("x", x);

    [Fact]
    public void ShapeRankSize()
    {
        var g = G(X23).Node("s", "Shape", ["x"]).Node("r", "Rank", ["x"]).Node("n", "Size", ["x"])
            .Node("s64", "Shape", ["x"], ("out_type", Ty(ElementType.I64)));
        var r = g.Run("s", "r", "n", "s64");
        Assert.Equal(T.I32([2], 2, 3), r[0]);
        Assert.Equal(T.I32([], 2), r[1]);
        Assert.Equal(T.I32([], 6), r[2]);
        Assert.Equal(T.I64([2], 2, 3), r[3]);
    }

    [Fact]
    public void ReshapeInfersMinusOneAndShapesComputedFromShapeOps()
    {
        // Reshape(x, Shape(x) reversed via Pack of StridedSlices): the shape tensor is known at import time.
        var g = G(X23).Const("shape", T.I32([2], -1, 2)).Node("y", "Reshape", ["x", "shape"]);
        Close(T.F32([3, 2], 1, 2, 3, 4, 5, 6), g.Run1("y"));
    }

    [Fact]
    public void SqueezeAndExpandDims()
    {
        var g = new TfGraph().Placeholder("x", T.F32([1, 2, 1], 1, 2)).Node("a", "Squeeze", ["x"]).Node("b", "Squeeze", ["x"], ("squeeze_dims", Ints(-1)))
            .Const("ax", T.I32([], -1)).Node("c", "ExpandDims", ["a", "ax"]);
        var r = g.Run("a", "b", "c");
        Assert.Equal(new TensorType(ElementType.F32, 2), r[0].Type);
        Assert.Equal(new TensorType(ElementType.F32, 1, 2), r[1].Type);
        Assert.Equal(new TensorType(ElementType.F32, 2, 1), r[2].Type);
    }

    [Fact]
    public void TransposeConcatPackUnpack()
    {
        var g = G(X23).Const("perm", T.I32([2], 1, 0)).Node("t", "Transpose", ["x", "perm"])
            .Const("axis", T.I32([], 0)).Node("c", "ConcatV2", ["x", "x", "axis"], ("N", I(2)))
            .Node("p", "Pack", ["x", "x"], ("axis", I(1)), ("N", I(2)))
            .Node("u", "Unpack", ["x"], ("num", I(3)), ("axis", I(1)));
        var r = g.Run("t", "c", "p", "u:2");
        Close(T.F32([3, 2], 1, 4, 2, 5, 3, 6), r[0]);
        Close(T.F32([4, 3], 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6), r[1]);
        Close(T.F32([2, 2, 3], 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6), r[2]);
        Close(T.F32([2], 3, 6), r[3]);
    }

    [Fact]
    public void SplitAndSplitV()
    {
        var g = G(T.F32([6], 0, 1, 2, 3, 4, 5)).Const("axis", T.I32([], 0)).Node("s", "Split", ["axis", "x"], ("num_split", I(3)))
            .Const("sizes", T.I32([3], 1, -1, 2)).Node("v", "SplitV", ["x", "sizes", "axis"], ("num_split", I(3)));
        var r = g.Run("s:1", "v:0", "v:1", "v:2");
        Close(T.F32([2], 2, 3), r[0]);
        Close(T.F32([1], 0), r[1]);
        Close(T.F32([3], 1, 2, 3), r[2]);
        Close(T.F32([2], 4, 5), r[3]);
    }

    [Fact]
    public void TileFillZerosOnesLike()
    {
        var g = G(T.F32([2], 1, 2)).Const("m", T.I32([1], 3)).Node("t", "Tile", ["x", "m"])
            .Const("dims", T.I32([2], 2, 2)).Const("v", T.F32([], 7)).Node("f", "Fill", ["dims", "v"])
            .Node("z", "ZerosLike", ["x"]).Node("o", "OnesLike", ["x"]);
        var r = g.Run("t", "f", "z", "o");
        Close(T.F32([6], 1, 2, 1, 2, 1, 2), r[0]);
        Close(T.F32([2, 2], 7, 7, 7, 7), r[1]);
        Close(T.F32([2], 0, 0), r[2]);
        Close(T.F32([2], 1, 1), r[3]);
        var m2 = G(X23).Const("m", T.I32([2], 2, 1)).Node("t", "Tile", ["x", "m"]).Run1("t");
        Close(T.F32([4, 3], 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6), m2);
    }

    [Fact]
    public void RangeIntegerAndFloat()
    {
        var g = new TfGraph().Const("a", T.I32([], 3)).Const("b", T.I32([], 10)).Const("d", T.I32([], 3))
            .Node("r", "Range", ["a", "b", "d"], ("Tidx", Ty(ElementType.I32)))
            .Const("fa", T.F32([], 1)).Const("fb", T.F32([], 0)).Const("fd", T.F32([], -0.5f))
            .Node("f", "Range", ["fa", "fb", "fd"], ("Tidx", Ty(ElementType.F32)));
        var r = g.Run("r", "f");
        Assert.Equal(T.I32([3], 3, 6, 9), r[0]);
        Close(T.F32([2], 1, 0.5), r[1]);
    }

    [Fact]
    public void PadPadV2MirrorPad()
    {
        var g = G(T.F32([3], 1, 2, 3)).Const("p", T.I32([1, 2], 2, 1)).Node("a", "Pad", ["x", "p"])
            .Const("c", T.F32([], 9)).Node("b", "PadV2", ["x", "p", "c"])
            .Node("r", "MirrorPad", ["x", "p"], ("mode", S("REFLECT"))).Node("s", "MirrorPad", ["x", "p"], ("mode", S("SYMMETRIC")));
        var r = g.Run("a", "b", "r", "s");
        Close(T.F32([6], 0, 0, 1, 2, 3, 0), r[0]);
        Close(T.F32([6], 9, 9, 1, 2, 3, 9), r[1]);
        Close(T.F32([6], 3, 2, 1, 2, 3, 2), r[2]);
        Close(T.F32([6], 2, 1, 1, 2, 3, 3), r[3]);
    }

    [Fact]
    public void Slice()
    {
        var g = G(X23).Const("b", T.I32([2], 0, 1)).Const("s", T.I32([2], -1, 2)).Node("y", "Slice", ["x", "b", "s"]);
        Close(T.F32([2, 2], 2, 3, 5, 6), g.Run1("y"));
    }

    private static Tensor StridedSlice(Tensor x, long[] b, long[] e, long[] s, long bm = 0, long em = 0, long ell = 0, long nam = 0, long sam = 0) =>
        G(x).Const("b", T.I32([b.Length], b)).Const("e", T.I32([e.Length], e)).Const("s", T.I32([s.Length], s))
            .Node("y", "StridedSlice", ["x", "b", "e", "s"], ("begin_mask", I(bm)), ("end_mask", I(em)), ("ellipsis_mask", I(ell)),
                ("new_axis_mask", I(nam)), ("shrink_axis_mask", I(sam))).Run1("y");

    [Fact]
    public void StridedSliceMasks()
    {
        var v = T.F32([6], 0, 1, 2, 3, 4, 5);
        Close(T.F32([3], 1, 3, 5), StridedSlice(v, [1], [6], [2]));               // x[1:6:2]
        Close(T.F32([3], 5, 3, 1), StridedSlice(v, [0], [0], [-2], bm: 1, em: 1)); // x[::-2]
        Close(T.F32([2], 4, 3), StridedSlice(v, [-2], [-4], [-1]));              // x[-2:-4:-1]
        Close(T.F32([0], []), StridedSlice(v, [4], [2], [1]));                   // empty
        Close(T.F32([], 5), StridedSlice(v, [-1], [0], [1], sam: 1));            // x[-1]
        Close(T.F32([3], 4, 5, 6), StridedSlice(X23, [1], [2], [1], sam: 1));    // x[1]
        Close(T.F32([2], 3, 6), StridedSlice(X23, [0, 2], [0, 3], [1, 1], ell: 1, sam: 2)); // x[..., 2]
        Close(T.F32([2, 3, 1], 1, 2, 3, 4, 5, 6), StridedSlice(X23, [0, 0], [0, 0], [1, 1], ell: 1, nam: 2)); // x[..., None]
        Close(T.F32([1, 2], 2, 5), StridedSlice(X23, [0, 0, 1], [0, 0, 2], [1, 1, 1], bm: 2, em: 2, nam: 1, sam: 4)); // x[None, :, 1]
        Close(T.F32([2, 2], 6, 4, 3, 1), StridedSlice(X23, [0, 0], [0, 0], [-1, -2], bm: 3, em: 3)); // x[::-1, ::-2]
    }

    [Fact]
    public void GatherV2WithAxisAndBatchDims()
    {
        var g = G(X23).Const("i", T.I32([2], 2, 0)).Const("ax", T.I32([], 1)).Node("y", "GatherV2", ["x", "i", "ax"])
            .Const("ib", T.I32([2, 1], 1, 2)).Node("b", "GatherV2", ["x", "ib", "ax"], ("batch_dims", I(1)))
            .Const("a0", T.I32([], 0)).Const("i0", T.I32([], 1)).Node("s", "GatherV2", ["x", "i0", "a0"]);
        var r = g.Run("y", "b", "s");
        Close(T.F32([2, 2], 3, 1, 6, 4), r[0]);
        Close(T.F32([2, 1], 2, 6), r[1]);
        Close(T.F32([3], 4, 5, 6), r[2]);
    }

    [Fact]
    public void GatherNd()
    {
        var g = G(X23).Const("i", T.I32([2, 2], 1, 2, 0, 1)).Node("y", "GatherNd", ["x", "i"])
            .Const("r", T.I32([1, 1], 1)).Node("z", "GatherNd", ["x", "r"]);
        var r = g.Run("y", "z");
        Close(T.F32([2], 6, 2), r[0]);
        Close(T.F32([1, 3], 4, 5, 6), r[1]);
    }

    [Fact]
    public void OneHotOnAnyAxisWithOutOfRangeIndices()
    {
        var g = new TfGraph().Placeholder("i", T.I32([3], 0, 2, 5)).Const("d", T.I32([], 3)).Const("on", T.F32([], 1)).Const("off", T.F32([], -1))
            .Node("y", "OneHot", ["i", "d", "on", "off"]).Node("z", "OneHot", ["i", "d", "on", "off"], ("axis", I(0)));
        var r = g.Run("y", "z");
        Close(T.F32([3, 3], 1, -1, -1, -1, -1, 1, -1, -1, -1), r[0]);
        Close(T.F32([3, 3], 1, -1, -1, -1, -1, -1, -1, 1, -1), r[1]);
    }

    [Fact]
    public void ReductionsWithKeepDimsAndNegativeAxes()
    {
        var g = G(X23).Const("a", T.I32([1], -1)).Const("all", T.I32([2], 0, 1))
            .Node("sum", "Sum", ["x", "a"]).Node("mean", "Mean", ["x", "a"], ("keep_dims", B(true)))
            .Node("max", "Max", ["x", "all"]).Node("min", "Min", ["x", "a"]).Node("prod", "Prod", ["x", "all"]);
        var r = g.Run("sum", "mean", "max", "min", "prod");
        Close(T.F32([2], 6, 15), r[0]);
        Close(T.F32([2, 1], 2, 5), r[1]);
        Close(T.F32([], 6), r[2]);
        Close(T.F32([2], 1, 4), r[3]);
        Close(T.F32([], 720), r[4]);
        var im = new TfGraph().Placeholder("x", T.I32([3], 1, 2, 4)).Const("a", T.I32([], 0)).Node("m", "Mean", ["x", "a"]).Run1("m");
        Assert.Equal(T.I32([], 2), im); // 7 / 3 truncates
    }

    [Fact]
    public void ArgMaxArgMin()
    {
        var g = G(T.F32([2, 3], 1, 9, 9, 7, 0, 7)).Const("d", T.I32([], 1))
            .Node("a", "ArgMax", ["x", "d"]).Node("b", "ArgMin", ["x", "d"], ("output_type", Ty(ElementType.I32)));
        var r = g.Run("a", "b");
        Assert.Equal(T.I64([2], 1, 0), r[0]);
        Assert.Equal(T.I32([2], 0, 1), r[1]);
    }

    [Fact]
    public void MatMulTransposesAndBatchMatMulBroadcasts()
    {
        var a = T.F32([2, 2], 1, 2, 3, 4);
        var g = new TfGraph().Placeholder("a", a).Const("b", T.F32([2, 2], 5, 6, 7, 8))
            .Node("m", "MatMul", ["a", "b"]).Node("ta", "MatMul", ["a", "b"], ("transpose_a", B(true)))
            .Node("tb", "MatMul", ["a", "b"], ("transpose_b", B(true)))
            .Const("c", T.F32([3, 2, 1], 1, 0, 0, 1, 1, 1)).Node("bm", "BatchMatMulV2", ["a", "c"])
            .Node("adj", "BatchMatMul", ["a", "a"], ("adj_x", B(true)));
        var r = g.Run("m", "ta", "tb", "bm", "adj");
        Close(T.F32([2, 2], 19, 22, 43, 50), r[0]);
        Close(T.F32([2, 2], 26, 30, 38, 44), r[1]);
        Close(T.F32([2, 2], 17, 23, 39, 53), r[2]);
        Close(T.F32([3, 2, 1], 1, 3, 2, 4, 3, 7), r[3]);
        Close(T.F32([2, 2], 10, 14, 14, 20), r[4]);
    }

    [Fact]
    public void EinsumCommonForms()
    {
        var a = T.F32([2, 2], 1, 2, 3, 4);
        var g = new TfGraph().Placeholder("a", a).Const("b", T.F32([2, 2], 5, 6, 7, 8))
            .Node("mm", "Einsum", ["a", "b"], ("equation", S("ij,jk->ik")), ("N", I(2)))
            .Node("t", "Einsum", ["a"], ("equation", S("ij->ji")), ("N", I(1)))
            .Node("s", "Einsum", ["a"], ("equation", S("ij->i")), ("N", I(1)))
            .Node("outer", "Einsum", ["a", "b"], ("equation", S("ij,ij->ji")), ("N", I(2)))
            .Node("dot", "Einsum", ["a", "b"], ("equation", S("ij,ij->")), ("N", I(2)));
        var r = g.Run("mm", "t", "s", "outer", "dot");
        Close(T.F32([2, 2], 19, 22, 43, 50), r[0]);
        Close(T.F32([2, 2], 1, 3, 2, 4), r[1]);
        Close(T.F32([2], 3, 7), r[2]);
        Close(T.F32([2, 2], 5, 21, 12, 32), r[3]);
        Close(T.F32([], 70), r[4]);
    }

    [Fact]
    public void TopKWhereInverseDeterminant()
    {
        var g = new TfGraph().Placeholder("x", T.F32([4], 3, 1, 4, 1)).Const("k", T.I32([], 2)).Node("t", "TopKV2", ["x", "k"])
            .Const("m", T.F32([2, 2], 4, 7, 2, 6)).Node("inv", "MatrixInverse", ["m"]).Node("det", "MatrixDeterminant", ["m"])
            .Const("c", Tensor.FromInt64s(new TensorType(ElementType.Bool, 2, 2), [0, 1, 1, 0])).Node("w", "Where", ["c"]);
        var r = g.Run("t:0", "t:1", "inv", "det", "w");
        Close(T.F32([2], 4, 3), r[0]);
        Assert.Equal(T.I32([2], 2, 0), r[1]);
        Close(T.F32([2, 2], 0.6, -0.7, -0.2, 0.4), r[2], 1e-6);
        Close(T.F32([], 10), r[3], 1e-5);
        Assert.Equal(T.I64([2, 2], 0, 1, 1, 0), r[4]);
    }

    [Fact]
    public void WhereOnAnInputIsUnsupported()
    {
        var r = new TfGraph().Placeholder("x", T.F32([2], 1, 0)).Node("w", "Where", ["x"]).Import("w");
        Assert.False(r.Ok);
        Assert.Contains("Where", r.Diagnostics[0].Message);
        Assert.Equal(Diagnostic.UnsupportedOp, r.Diagnostics[0].Code);
    }
}
