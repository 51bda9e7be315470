namespace GraphCompiler.Tests.Autodiff;

/// <summary>The data-movement and reduction rules against central finite differences (<see cref="GradientCheck"/>).</summary>
public sealed class ShapeGradientTests
{
    private static void Check(string body, string result, params string[] args) =>
        GradientCheck.Check(IrTest.Func($"  {body}\n  return %r", result, args));

    [Fact]
    public void Reshape() => Check("%r = reshape %arg0 : tensor<3x2xf64>", "tensor<3x2xf64>", "tensor<2x3xf64>");

    [Fact]
    public void Transpose() => Check("%r = transpose %arg0 {perm = [2, 0, 1]} : tensor<4x2x3xf64>", "tensor<4x2x3xf64>", "tensor<2x3x4xf64>");

    [Theory]
    [InlineData("%r = broadcast_in_dim %arg0 {dims = [1]} : tensor<2x3xf64>", "tensor<2x3xf64>", "tensor<3xf64>")]
    [InlineData("%r = broadcast_in_dim %arg0 {dims = [0, 2]} : tensor<2x4x3xf64>", "tensor<2x4x3xf64>", "tensor<2x1xf64>")]
    [InlineData("%r = broadcast_in_dim %arg0 {dims = [2, 0]} : tensor<3x4x2xf64>", "tensor<3x4x2xf64>", "tensor<2x3xf64>")]
    [InlineData("%r = broadcast_in_dim %arg0 {dims = []} : tensor<2x3xf64>", "tensor<2x3xf64>", "tensor<f64>")]
    public void BroadcastInDim(string body, string result, string arg) => Check(body, result, arg);

    [Theory]
    [InlineData("%r = slice %arg0 {start = [1, 0], limit = [3, 4]} : tensor<2x4xf64>", "tensor<2x4xf64>")]
    [InlineData("%r = slice %arg0 {start = [0, 1], limit = [4, 4], stride = [2, 2]} : tensor<2x2xf64>", "tensor<2x2xf64>")]
    public void Slice(string body, string result) => Check(body, result, "tensor<4x4xf64>");

    [Theory]
    [InlineData("low = [1, 0], high = [0, 2]", "tensor<4x5xf64>")]
    [InlineData("low = [1, -1], high = [-1, 1], interior = [1, 0]", "tensor<5x3xf64>")]
    public void PadConstantAlsoDifferentiatesThePaddingValue(string attrs, string result) =>
        Check($"%r = pad %arg0, %arg1 {{{attrs}}} : {result}", result, "tensor<3x3xf64>", "tensor<f64>");

    [Theory]
    [InlineData("edge")]
    [InlineData("reflect")]
    [InlineData("symmetric")]
    public void PadCopyingModes(string mode)
    {
        const string ir = """
            func @main(%x: tensor<3x4xf64>) -> (tensor<6x7xf64>) {
              %z = constant {value = dense<0.0>} : tensor<f64>
              %r = pad %x, %z {low = [2, 1], high = [1, 2], mode = MODE} : tensor<6x7xf64>
              return %r
            }
            """;
        GradientCheck.Check(ir.Replace("MODE", mode));
    }

    [Fact]
    public void Concatenate() =>
        Check("%r = concatenate %arg0, %arg1, %arg0 {dimension = 1} : tensor<2x7xf64>", "tensor<2x7xf64>", "tensor<2x2xf64>", "tensor<2x3xf64>");

    [Fact]
    public void Reverse() => Check("%r = reverse %arg0 {dims = [0, 1]} : tensor<2x3xf64>", "tensor<2x3xf64>", "tensor<2x3xf64>");

    /// <summary>convert is linear; through f32 the check needs a step f32 rounding does not swamp.</summary>
    [Fact]
    public void ConvertBetweenFloatTypes() =>
        GradientCheck.Check(IrTest.Func("""
              %h = convert %arg0 : tensor<2x3xf32>
              %s = mul %h, %h : tensor<2x3xf32>
              %r = convert %s : tensor<2x3xf64>
              return %r
            """, "tensor<2x3xf64>", "tensor<2x3xf64>"), step: 1e-2, relative: 1e-3, absolute: 1e-4);

    [Theory]
    [InlineData("sum")]
    [InlineData("max")]
    [InlineData("min")]
    [InlineData("prod")]
    public void Reduce(string kind) => Check($"%r = reduce %arg0 {{kind = {kind}, dims = [0, 2]}} : tensor<3xf64>", "tensor<3xf64>", "tensor<2x3x2xf64>");

    /// <summary>prod at zeros: one zero gets the product of the others, two zeros make every gradient 0.</summary>
    [Fact]
    public void ReduceProdThroughZeros()
    {
        var x = Tensor.FromDoubles(new TensorType(ElementType.F64, 2, 3), [0, 2, 3, 0, 0, 5]);
        var g = GradientCheck.Check(IrTest.Func("  %r = reduce %arg0 {kind = prod, dims = [1]} : tensor<2xf64>\n  return %r", "tensor<2xf64>", "tensor<2x3xf64>"),
            inputs: [x]);
        Assert.NotEqual(0, g[0].GetDouble(0));
        Assert.Equal(0, g[0].GetDouble(1));
        Assert.Equal(0, g[0].GetDouble(3));
    }

    /// <summary>max over ties: the cotangent is split evenly among the maxima.</summary>
    [Fact]
    public void ReduceMaxSplitsTies()
    {
        var x = Tensor.FromDoubles(new TensorType(ElementType.F64, 4), [1, 3, 3, 2]);
        var g = GradientCheck.Check("""
            func @main(%x: tensor<4xf64>) -> (tensor<f64>) {
              %r = reduce %x {kind = max, dims = [0]} : tensor<f64>
              return %r
            }
            """, inputs: [x]);
        Assert.Equal(g[0].GetDouble(1), g[0].GetDouble(2));
        Assert.Equal(0, g[0].GetDouble(0));
    }
}
