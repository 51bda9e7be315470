namespace GraphCompiler.Tests.Autodiff;

/// <summary>The reduce_window rule (pooling) against central finite differences (<see cref="GradientCheck"/>).</summary>
public sealed class ReduceWindowGradientTests
{
    private static Tensor[] Check(string attrs, string result, string arg, Tensor[]? inputs = null) =>
        [.. GradientCheck.Check(IrTest.Func($"  %r = reduce_window %arg0 {{{attrs}}} : {result}\n  return %r", result, arg), inputs: inputs)];

    private const string Pool3x3Stride2Padded =
        "window = [1, 3, 3, 1], strides = [1, 2, 2, 1], padding_low = [0, 1, 1, 0], padding_high = [0, 1, 1, 0]";

    /// <summary>3×3 windows 2 apart overlap; the padding ring is the identity and must get nothing.</summary>
    [Theory]
    [InlineData("max")]
    [InlineData("min")]
    [InlineData("sum")]
    public void OverlappingStridedPaddedPooling(string kind) =>
        Check($"kind = {kind}, {Pool3x3Stride2Padded}", "tensor<1x3x3x2xf64>", "tensor<1x5x5x2xf64>");

    /// <summary>Asymmetric padding, a window dilation, strides that leave the last rows out.</summary>
    [Theory]
    [InlineData("max")]
    [InlineData("min")]
    [InlineData("sum")]
    public void DilatedWindowsAsymmetricPadding(string kind) =>
        Check($"kind = {kind}, window = [2, 3], strides = [2, 1], window_dilation = [1, 2], padding_low = [1, 0], padding_high = [0, 2]",
            "tensor<3x5xf64>", "tensor<6x7xf64>");

    /// <summary>
    /// Windows wholly inside the padding (sum: their result is 0; a max there would be −∞, which no finite
    /// difference survives) and negative padding (a crop).
    /// </summary>
    [Theory]
    [InlineData("sum", "padding_low = [3, -1]", "tensor<3x4xf64>")]
    [InlineData("max", "padding_low = [1, -1]", "tensor<2x4xf64>")]
    [InlineData("min", "padding_low = [1, -1]", "tensor<2x4xf64>")]
    public void PaddedAndCroppedInput(string kind, string low, string result) =>
        Check($"kind = {kind}, window = [2, 2], strides = [2, 1], {low}, padding_high = [0, 1]", result, "tensor<4x5xf64>");

    /// <summary>base_dilation: holes hold the identity and their gradient is dropped.</summary>
    [Theory]
    [InlineData("max")]
    [InlineData("sum")]
    public void BaseDilation(string kind) =>
        Check($"kind = {kind}, window = [3, 2], strides = [2, 1], base_dilation = [2, 1], padding_low = [1, 0]", "tensor<3x4xf64>", "tensor<4x5xf64>");

    /// <summary>Average pooling in this IR: a sum window divided by the window size.</summary>
    [Fact]
    public void AveragePooling() =>
        GradientCheck.Check("""
            func @main(%x: tensor<1x6x5x2xf64>) -> (tensor<1x3x2x2xf64>) {
              %s = reduce_window %x {kind = sum, window = [1, 2, 3, 1], strides = [1, 2, 2, 1]} : tensor<1x3x2x2xf64>
              %n = constant {value = dense<6.0>} : tensor<1x3x2x2xf64>
              %r = div %s, %n : tensor<1x3x2x2xf64>
              return %r
            }
            """);

    /// <summary>
    /// Ties: the cotangent of a window is split evenly among the elements equal to its maximum (what a
    /// central difference measures for a pair: raising either raises the max, lowering one leaves the
    /// other). Here every window but one holds exactly two tied maxima.
    /// </summary>
    [Fact]
    public void MaxPoolSplitsTiesEvenly()
    {
        var x = Tensor.FromDoubles(new TensorType(ElementType.F64, 4, 4),
        [
            5, 5, 1, 0,
            1, 2, 7, 3,
            0, 4, 2, 2,
            4, 1, 9, 9,
        ]);
        var g = Check("kind = max, window = [2, 2], strides = [2, 2]", "tensor<2x2xf64>", "tensor<4x4xf64>", [x])[0];
        double At(int r, int col) => g.GetDouble(r * 4 + col);
        Assert.Equal(At(0, 0), At(0, 1));
        Assert.NotEqual(0, At(0, 0));
        Assert.Equal(At(2, 1), At(3, 0));
        Assert.Equal(At(3, 2), At(3, 3));
        foreach (var (r, col) in new[] { (1, 0), (1, 1), (0, 2), (1, 3), (2, 0), (2, 2), (2, 3) }) Assert.Equal(0, At(r, col));
    }

    /// <summary>Overlapping windows with ties: an element tied in several windows gets half of each.</summary>
    [Fact]
    public void MinPoolTiesAcrossOverlappingWindows()
    {
        var x = Tensor.FromDoubles(new TensorType(ElementType.F64, 5), [3, -1, -1, 2, -1]);
        var g = Check("kind = min, window = [3]", "tensor<3xf64>", "tensor<5xf64>", [x])[0];
        Assert.Equal(0, g.GetDouble(0));
        Assert.Equal(0, g.GetDouble(3));
        Assert.NotEqual(0, g.GetDouble(2));
    }

    [Fact]
    public void ProdWindowIsAClearError()
    {
        var m = IrTest.Parse(IrTest.Func("  %r = reduce_window %arg0 {kind = prod, window = [2]} : tensor<2xf64>\n  return %r", "tensor<2xf64>", "tensor<3xf64>"));
        var e = Assert.Throws<IrException>(() => GraphCompiler.IR.Autodiff.Gradients.Differentiate(m.Entry, 0, [0]));
        Assert.Contains("kind prod", e.Message);
    }

    /// <summary>
    /// Non-overlapping windows take the tiled path (broadcasts instead of one pad per offset): pooling as CNNs
    /// use it, including a remainder row and column that no window covers (5×7 by 2×2).
    /// </summary>
    [Theory]
    [InlineData("max", "tensor<2x3x4x4xf64>", "tensor<2x3x2x2xf64>", "[1, 1, 2, 2]")]
    [InlineData("min", "tensor<2x5x7x3xf64>", "tensor<2x2x3x3xf64>", "[1, 2, 2, 1]")]
    [InlineData("sum", "tensor<2x5x7x3xf64>", "tensor<2x2x3x3xf64>", "[1, 2, 2, 1]")]
    [InlineData("max", "tensor<6x9xf64>", "tensor<2x3xf64>", "[3, 3]")]
    public void NonOverlappingWindows(string kind, string arg, string result, string window) =>
        Check($"kind = {kind}, window = {window}, strides = {window}", result, arg);

    /// <summary>The tiled path splits ties evenly too: a 2×2 window of four equal elements gives each a quarter.</summary>
    [Fact]
    public void NonOverlappingWindowOfEqualElementsSplitsEvenly()
    {
        const string ir = """
            func @main(%x: tensor<2x2xf64>) -> (tensor<1x1xf64>) {
              %r = reduce_window %x {kind = max, window = [2, 2], strides = [2, 2]} : tensor<1x1xf64>
              return %r
            }
            """;
        var m = IrTest.Parse(ir);
        var g = GraphCompiler.IR.Autodiff.Gradients.Differentiate(m.Entry, 0, [0], "g");
        var x = Tensor.FromDoubles(new TensorType(ElementType.F64, 2, 2), [1, 1, 1, 1]);
        var r = new Interpreter(new Module([g])).Run(null, [x]).Unwrap().Results[1];
        Assert.Equal([0.25, 0.25, 0.25, 0.25], Enumerable.Range(0, 4).Select(i => r.GetDouble(i)));
    }
}
