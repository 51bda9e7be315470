using GraphCompiler.IR;
using static GraphCompiler.Tests.Frontend.TfGraph;

namespace GraphCompiler.Tests.Frontend;

public sealed class TensorFlowNnOpsTests
{
    private static readonly Tensor X33 = T.F32([1, 3, 3, 1], 1, 2, 3, 4, 5, 6, 7, 8, 9);
    private static readonly Tensor Ones2211 = T.F32([2, 2, 1, 1], 1, 1, 1, 1);

    private static Tensor Conv(Tensor x, Tensor k, string padding, string format = "NHWC", long stride = 1) =>
        new TfGraph().Placeholder("x", x).Const("k", k)
            .Node("y", "Conv2D", ["x", "k"], ("strides", Ints(1, stride, stride, 1)), ("padding", S(padding)), ("data_format", S(format))).Run1("y");

    [Fact]
    public void BiasAddNhwcAndNchw()
    {
        var g = new TfGraph().Placeholder("x", T.F32([1, 2, 2], 1, 2, 3, 4)).Const("b", T.F32([2], 10, 20))
            .Node("h", "BiasAdd", ["x", "b"]).Node("c", "BiasAdd", ["x", "b"], ("data_format", S("NCHW")));
        var r = g.Run("h", "c");
        Close(T.F32([1, 2, 2], 11, 22, 13, 24), r[0]);
        Close(T.F32([1, 2, 2], 11, 12, 23, 24), r[1]);
    }

    [Fact]
    public void Conv2DValidAndSamePadding()
    {
        Close(T.F32([1, 2, 2, 1], 12, 16, 24, 28), Conv(X33, Ones2211, "VALID"));
        // SAME with an even kernel pads only after (pad_total = 1 → low 0, high 1).
        Close(T.F32([1, 3, 3, 1], 12, 16, 9, 24, 28, 15, 15, 17, 9), Conv(X33, Ones2211, "SAME"));
        Close(T.F32([1, 2, 2, 1], 12, 9, 15, 9), Conv(X33, Ones2211, "SAME", stride: 2));
    }

    [Fact]
    public void Conv2DNchw()
    {
        var x = T.F32([1, 1, 3, 3], 1, 2, 3, 4, 5, 6, 7, 8, 9);
        var y = new TfGraph().Placeholder("x", x).Const("k", Ones2211)
            .Node("y", "Conv2D", ["x", "k"], ("strides", Ints(1, 1, 1, 1)), ("padding", S("VALID")), ("data_format", S("NCHW"))).Run1("y");
        Close(T.F32([1, 1, 2, 2], 12, 16, 24, 28), y);
    }

    [Fact]
    public void DepthwiseConvKeepsChannelsApart()
    {
        var x = T.F32([1, 2, 2, 2], 1, 10, 2, 20, 3, 30, 4, 40);
        var k = T.F32([2, 2, 2, 1], 1, 2, 1, 2, 1, 2, 1, 2);
        var y = new TfGraph().Placeholder("x", x).Const("k", k)
            .Node("y", "DepthwiseConv2dNative", ["x", "k"], ("strides", Ints(1, 1, 1, 1)), ("padding", S("VALID"))).Run1("y");
        Close(T.F32([1, 1, 1, 2], 10, 200), y);
    }

    [Fact]
    public void Conv2DBackpropInputIsTheTransposedConvolution()
    {
        var dy = T.F32([1, 2, 2, 1], 1, 2, 3, 4);
        var k = T.F32([2, 2, 1, 1], 1, 2, 3, 4);
        Tensor Run(long[] sizes, long stride, Tensor kernel) => new TfGraph().Const("s", T.I32([4], sizes)).Const("k", kernel).Placeholder("dy", dy)
            .Node("y", "Conv2DBackpropInput", ["s", "k", "dy"], ("strides", Ints(1, stride, stride, 1)), ("padding", S("VALID"))).Run1("y");
        Close(T.F32([1, 3, 3, 1], 1, 3, 2, 4, 10, 6, 3, 7, 4), Run([1, 3, 3, 1], 1, Ones2211));
        Close(T.F32([1, 4, 4, 1], 1, 2, 2, 4, 3, 4, 6, 8, 3, 6, 4, 8, 9, 12, 12, 16), Run([1, 4, 4, 1], 2, k));
    }

    [Fact]
    public void PoolingSameExcludesPaddingFromTheAverage()
    {
        var g = new TfGraph().Placeholder("x", X33)
            .Node("m", "MaxPool", ["x"], ("ksize", Ints(1, 2, 2, 1)), ("strides", Ints(1, 2, 2, 1)), ("padding", S("SAME")))
            .Node("a", "AvgPool", ["x"], ("ksize", Ints(1, 2, 2, 1)), ("strides", Ints(1, 2, 2, 1)), ("padding", S("SAME")))
            .Node("v", "AvgPool", ["x"], ("ksize", Ints(1, 2, 2, 1)), ("strides", Ints(1, 1, 1, 1)), ("padding", S("VALID")))
            .Const("ks", T.I32([4], 1, 2, 2, 1)).Const("st", T.I32([4], 1, 1, 1, 1))
            .Node("m2", "MaxPoolV2", ["x", "ks", "st"], ("padding", S("VALID")));
        var r = g.Run("m", "a", "v", "m2");
        Close(T.F32([1, 2, 2, 1], 5, 6, 8, 9), r[0]);
        Close(T.F32([1, 2, 2, 1], 3, 4.5, 7.5, 9), r[1]);
        Close(T.F32([1, 2, 2, 1], 3, 4, 6, 7), r[2]);
        Close(T.F32([1, 2, 2, 1], 5, 6, 8, 9), r[3]);
    }

    [Fact]
    public void MaxPoolNchw()
    {
        var x = T.F32([1, 1, 3, 3], 1, 2, 3, 4, 5, 6, 7, 8, 9);
        var y = new TfGraph().Placeholder("x", x).Node("m", "MaxPool", ["x"], ("ksize", Ints(1, 1, 2, 2)), ("strides", Ints(1, 1, 2, 2)),
            ("padding", S("SAME")), ("data_format", S("NCHW"))).Run1("m");
        Close(T.F32([1, 1, 2, 2], 5, 6, 8, 9), y);
    }

    [Theory]
    [InlineData("FusedBatchNorm")]
    [InlineData("FusedBatchNormV2")]
    [InlineData("FusedBatchNormV3")]
    public void FusedBatchNormInference(string op)
    {
        var g = new TfGraph().Placeholder("x", T.F32([1, 1, 1, 2], 1, 2)).Const("scale", T.F32([2], 2, 3)).Const("offset", T.F32([2], 0.5, 1))
            .Const("mean", T.F32([2], 1, 0)).Const("var", T.F32([2], 3.999, 0.249))
            .Node("y", op, ["x", "scale", "offset", "mean", "var"], ("epsilon", F(0.001f)), ("is_training", B(false)));
        Close(T.F32([1, 1, 1, 2], 0.5, 13), g.Run1("y"), 1e-5);
    }

    [Fact]
    public void FusedBatchNormTrainingIsUnsupported()
    {
        var r = new TfGraph().Placeholder("x", T.F32([1, 1, 1, 1], 1)).Const("c", T.F32([1], 1))
            .Node("y", "FusedBatchNorm", ["x", "c", "c", "c", "c"]).Import("y");
        Assert.False(r.Ok);
        Assert.Contains("is_training=true", r.Diagnostics[0].Message);
    }

    [Fact]
    public void Lrn()
    {
        var y = new TfGraph().Placeholder("x", T.F32([1, 1, 1, 3], 1, 2, 3))
            .Node("y", "LRN", ["x"], ("depth_radius", I(1)), ("bias", F(1)), ("alpha", F(1)), ("beta", F(1))).Run1("y");
        Close(T.F32([1, 1, 1, 3], 1 / 6.0, 2 / 15.0, 3 / 14.0), y);
    }

    private static Tensor Resize(string op, long outW, bool align = false, bool half = false) =>
        new TfGraph().Placeholder("x", T.F32([1, 1, 2, 1], 1, 2)).Const("size", T.I32([2], 1, outW))
            .Node("y", op, ["x", "size"], ("align_corners", B(align)), ("half_pixel_centers", B(half))).Run1("y");

    [Fact]
    public void ResizeNearestNeighbor()
    {
        Close(T.F32([1, 1, 3, 1], 1, 1, 2), Resize("ResizeNearestNeighbor", 3));
        Close(T.F32([1, 1, 3, 1], 1, 2, 2), Resize("ResizeNearestNeighbor", 3, align: true));
        Close(T.F32([1, 1, 3, 1], 1, 2, 2), Resize("ResizeNearestNeighbor", 3, half: true));
    }

    [Fact]
    public void ResizeBilinear()
    {
        Close(T.F32([1, 1, 4, 1], 1, 1.5, 2, 2), Resize("ResizeBilinear", 4));
        Close(T.F32([1, 1, 4, 1], 1, 4 / 3.0, 5 / 3.0, 2), Resize("ResizeBilinear", 4, align: true));
        Close(T.F32([1, 1, 4, 1], 1, 1.25, 1.75, 2), Resize("ResizeBilinear", 4, half: true));
    }

    [Fact]
    public void SoftmaxCrossEntropyWithLogits()
    {
        var g = new TfGraph().Placeholder("x", T.F64([1, 2], 0, Math.Log(3))).Const("l", T.F64([1, 2], 0, 1))
            .Node("y", "SoftmaxCrossEntropyWithLogits", ["x", "l"]);
        var r = g.Run("y:0", "y:1");
        Close(T.F64([1], -Math.Log(0.75)), r[0], 1e-12);
        Close(T.F64([1, 2], 0.25, -0.25), r[1], 1e-12);
    }
}
