using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Passes;

/// <summary>
/// fold-batchnorm on random convolutions. This is the one pass whose results differ from the
/// original beyond nothing: W * scale is rounded to the weight type before the convolution sums,
/// where the original rounds the sum and then the product. So the comparison has a tolerance
/// (a few float32 ulps of the sum's magnitude), and it also checks that the multiply is gone.
/// </summary>
public sealed class BatchNormFoldingTests
{
    [Theory]
    [InlineData("b01f_01io->b01f", 1, false)]
    [InlineData("bf01_oi01->bf01", 1, false)]
    [InlineData("b01f_01io->b01f", 2, false)]
    // ONNX's form: (conv - mean) * scale + bias.
    [InlineData("bf01_oi01->bf01", 1, true)]
    [InlineData("b01f_01io->b01f", 2, true)]
    public void FoldedConvolutionAgreesWithinRounding(string dims, int groups, bool centred)
    {
        var rng = new Random(dims.Length + groups + (centred ? 7 : 0));
        bool nhwc = dims.StartsWith("b01f");
        long cin = 4, cout = 6, h = 5, w = 5, kh = 3, kw = 3;
        for (int trial = 0; trial < 5; trial++)
        {
            var fb = new FunctionBuilder();
            var b = fb.Body;
            var xType = nhwc ? new TensorType(ElementType.F32, 2, h, w, cin) : new TensorType(ElementType.F32, 2, cin, h, w);
            var x = fb.Arg(xType, "x");
            var kType = nhwc ? new TensorType(ElementType.F32, kh, kw, cin / groups, cout) : new TensorType(ElementType.F32, cout, cin / groups, kh, kw);
            var kernel = b.Constant(Random(kType, rng));
            var outType = nhwc ? new TensorType(ElementType.F32, 2, h - 2, w - 2, cout) : new TensorType(ElementType.F32, 2, cout, h - 2, w - 2);
            var y = b.Emit("convolution", [x, kernel],
                AttrMap.Of(("dims", new StringAttr(dims)), ("feature_group_count", A.Int(groups))), outType);
            long feature = nhwc ? 3 : 1;
            var scale = b.BroadcastInDim(b.Constant(Random(new TensorType(ElementType.F32, cout), rng)), outType, feature);
            var bias = b.BroadcastInDim(b.Constant(Random(new TensorType(ElementType.F32, cout), rng)), outType, feature);
            if (centred) y = b.Emit("sub", y, b.BroadcastInDim(b.Constant(Random(new TensorType(ElementType.F32, cout), rng)), outType, feature));
            var r = b.Emit("add", b.Emit("mul", y, scale), bias);
            var m = new Module([fb.Return(r)]);

            var folded = PassManager.Run(m, PassRegistry.Default, new PassOptions { CheckEachPass = true }).Unwrap();
            Assert.DoesNotContain("mul", folded.ToString());
            var input = Random(xType, rng);
            var expected = RandomGraphs.Run(m, [input])[0];
            var actual = RandomGraphs.Run(folded, [input])[0];
            IrTest.AssertTensor(expected, actual, rtol: 1e-5, atol: 1e-5);
        }
    }

    private static Tensor Random(TensorType t, Random rng) =>
        Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => rng.NextDouble() * 2 - 1)]);
}
