using GraphCompiler.Backends.Cpu;
using GraphCompiler.IR.Autodiff;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Autodiff;

/// <summary>
/// The dot_general and convolution rules against central finite differences (<see cref="GradientCheck"/>),
/// both operands at once, plus one gradient function compiled by the CPU backend.
/// </summary>
public sealed class ContractionGradientTests
{
    private static void Check(string body, string result, params string[] args) =>
        GradientCheck.Check(IrTest.Func($"  %r = {body} : {result}\n  return %r", result, args));

    [Theory]
    // matmul
    [InlineData("lhs_contract = [1], rhs_contract = [0]", "tensor<3x5xf64>", "tensor<3x4xf64>", "tensor<4x5xf64>")]
    // A·Bᵀ, contracting the last dimension of both
    [InlineData("lhs_contract = [1], rhs_contract = [1]", "tensor<3x5xf64>", "tensor<3x4xf64>", "tensor<5x4xf64>")]
    // batched matmul
    [InlineData("lhs_batch = [0], rhs_batch = [0], lhs_contract = [2], rhs_contract = [1]", "tensor<2x3x5xf64>", "tensor<2x3x4xf64>", "tensor<2x4x5xf64>")]
    // two contracting dims listed out of order, batch dims in the middle and at the end, free dims between
    [InlineData("lhs_batch = [1], rhs_batch = [2], lhs_contract = [3, 0], rhs_contract = [0, 3]", "tensor<2x4x6xf64>", "tensor<3x2x4x5xf64>", "tensor<5x6x2x3xf64>")]
    // two batch dims listed in reverse operand order
    [InlineData("lhs_batch = [2, 0], rhs_batch = [0, 3], lhs_contract = [1], rhs_contract = [1]", "tensor<4x2x5xf64>", "tensor<2x3x4xf64>", "tensor<4x3x5x2xf64>")]
    // outer product: nothing contracted
    [InlineData("lhs_contract = [], rhs_contract = []", "tensor<3x4xf64>", "tensor<3xf64>", "tensor<4xf64>")]
    public void DotGeneral(string attrs, string result, string lhs, string rhs) =>
        Check($"dot_general %arg0, %arg1 {{{attrs}}}", result, lhs, rhs);

    /// <summary>The same value on both sides (x·xᵀ): the two cotangents must add.</summary>
    [Fact]
    public void DotGeneralOfAValueWithItself() =>
        Check("dot_general %arg0, %arg0 {lhs_contract = [1], rhs_contract = [1]}", "tensor<3x3xf64>", "tensor<3x4xf64>");

    [Theory]
    // NHWC/HWIO, same padding
    [InlineData("b01f_01io->b01f", "padding_low = [1, 1], padding_high = [1, 1]", "tensor<2x5x6x4xf64>", "tensor<2x5x6x3xf64>", "tensor<3x3x3x4xf64>")]
    // NCHW/OIHW, valid
    [InlineData("bf01_oi01->bf01", "", "tensor<1x2x4x4xf64>", "tensor<1x3x6x5xf64>", "tensor<2x3x3x2xf64>")]
    // stride 2 on odd and even sizes: the last row/column of the 8 wide input is in no window
    [InlineData("b01f_01io->b01f", "window_strides = [2, 2]", "tensor<1x3x3x3xf64>", "tensor<1x7x8x2xf64>", "tensor<3x3x2x3xf64>")]
    // asymmetric padding with different strides per dimension
    [InlineData("bf01_oi01->bf01", "window_strides = [1, 2], padding_low = [2, 0], padding_high = [0, 1]", "tensor<1x3x5x3xf64>", "tensor<1x2x5x5xf64>", "tensor<3x2x3x2xf64>")]
    // rhs_dilation 2 with uneven padding
    [InlineData("b01f_01io->b01f", "rhs_dilation = [2, 2], padding_low = [1, 1], padding_high = [1, 0]", "tensor<1x7x4x2xf64>", "tensor<1x7x7x2xf64>", "tensor<2x3x2x2xf64>")]
    // negative padding crops the input
    [InlineData("b01f_01io->b01f", "padding_low = [-1, 0], padding_high = [0, -1], window_strides = [1, 2]", "tensor<1x4x2x2xf64>", "tensor<1x6x6x1xf64>", "tensor<2x2x1x2xf64>")]
    // lhs_dilation (a transposed convolution) forward
    [InlineData("b01f_01io->b01f", "lhs_dilation = [2, 2], padding_low = [1, 1], padding_high = [1, 1]", "tensor<1x5x5x2xf64>", "tensor<1x3x3x2xf64>", "tensor<3x3x2x2xf64>")]
    // 1-D with every role in an unusual position
    [InlineData("f0b_o0i->0bf", "window_strides = [2]", "tensor<3x2x3xf64>", "tensor<2x7x2xf64>", "tensor<3x3x2xf64>")]
    public void Convolution(string dims, string attrs, string result, string input, string kernel) =>
        Check($"convolution %arg0, %arg1 {{dims = \"{dims}\"{(attrs == "" ? "" : ", " + attrs)}}}", result, input, kernel);

    [Theory]
    // two groups of 2 input / 3 output features
    [InlineData("b01f_01io->b01f", "feature_group_count = 2, padding_low = [1, 1], padding_high = [1, 1]", "tensor<1x5x5x6xf64>", "tensor<1x5x5x4xf64>", "tensor<3x3x2x6xf64>")]
    // depthwise with channel multiplier 2, strided, NCHW/OIHW
    [InlineData("bf01_oi01->bf01", "feature_group_count = 3, window_strides = [2, 2], padding_low = [1, 1], padding_high = [1, 1]", "tensor<2x6x3x3xf64>", "tensor<2x3x5x5xf64>", "tensor<6x1x3x3xf64>")]
    // grouped, kernel input/output dims in the order oi with the spatial dims first
    [InlineData("b01f_01oi->b01f", "feature_group_count = 2, rhs_dilation = [1, 2]", "tensor<1x3x2x4xf64>", "tensor<1x4x6x4xf64>", "tensor<2x3x4x2xf64>")]
    public void GroupedConvolution(string dims, string attrs, string result, string input, string kernel) =>
        Check($"convolution %arg0, %arg1 {{dims = \"{dims}\", {attrs}}}", result, input, kernel);

    /// <summary>
    /// f32 operands with an f64 result: the backward contraction runs in f64 and converts back to f32
    /// (through f32 the check needs a step f32 rounding does not swamp).
    /// </summary>
    [Theory]
    [InlineData("dot_general %a, %b {lhs_batch = [0], rhs_batch = [0], lhs_contract = [2], rhs_contract = [1]}", "tensor<2x3x5xf64>", "tensor<2x3x4xf32>", "tensor<2x4x5xf32>")]
    [InlineData("convolution %a, %b {dims = \"b01f_01io->b01f\", feature_group_count = 2, window_strides = [2, 1]}", "tensor<1x2x3x4xf64>", "tensor<1x5x5x2xf32>", "tensor<2x3x1x4xf32>")]
    public void WiderResultType(string op, string result, string lhs, string rhs) =>
        GradientCheck.Check(IrTest.Func($"""
              %a = convert %arg0 : {lhs}
              %b = convert %arg1 : {rhs}
              %r = {op} : {result}
              return %r
            """, result, lhs.Replace("f32", "f64"), rhs.Replace("f32", "f64")), step: 1e-2, relative: 1e-3, absolute: 1e-4);

    /// <summary>batch_group_count: the input batch splits into groups that meet the kernel's output-feature groups.</summary>
    [Theory]
    [InlineData("b01f_01io->b01f", "batch_group_count = 2, padding_low = [1, 0], padding_high = [0, 1], window_strides = [2, 1]", "tensor<2x3x4x4xf64>", "tensor<4x5x4x3xf64>", "tensor<2x2x3x4xf64>")]
    [InlineData("bf01_oi01->bf01", "batch_group_count = 3", "tensor<1x6x2x2xf64>", "tensor<3x2x3x3xf64>", "tensor<6x2x2x2xf64>")]
    public void BatchGroupedConvolution(string dims, string attrs, string result, string input, string kernel) =>
        Check($"convolution %arg0, %arg1 {{dims = \"{dims}\", {attrs}}}", result, input, kernel);

    /// <summary>
    /// An f32 strided grouped conv → overlapping max pool → matmul, differentiated for all three arguments,
    /// compiled by the CPU backend and run against the interpreter: the backward ops the rules emit
    /// (lhs-dilated and reversed-kernel convolutions, interior pads, strided slices, transposes) compile.
    /// </summary>
    [Fact]
    public void ConvPoolMatmulGradientCompilesOnTheCpuBackend()
    {
        var m = IrTest.Parse("""
            func @main(%x: tensor<1x7x7x2xf32>, %k: tensor<3x3x1x4xf32>, %w: tensor<16x3xf32>) -> (tensor<1x3xf32>) {
              %c = convolution %x, %k {dims = "b01f_01io->b01f", feature_group_count = 2, window_strides = [2, 2], padding_low = [1, 1], padding_high = [1, 1]} : tensor<1x4x4x4xf32>
              %p = reduce_window %c {kind = max, window = [1, 3, 3, 1], strides = [1, 2, 2, 1], padding_low = [0, 0, 0, 0], padding_high = [0, 1, 1, 0]} : tensor<1x2x2x4xf32>
              %f = reshape %p : tensor<1x16xf32>
              %r = dot_general %f, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<1x3xf32>
              return %r
            }
            """);
        var grad = Gradients.Differentiate(m.Entry, 0, [0, 1, 2], "main");
        var gm = new Module([grad]);
        var rng = new Random(7);
        Tensor[] inputs = [.. grad.ArgumentTypes.Select(t => GradientCheck.RandomTensor(t, rng, -1, 1))];

        var expected = Backends.CpuDifferentialTests.AssertSame(gm, inputs);
        Assert.Equal(4, expected.Count);
        // Every gradient is non-trivial: something reached each argument.
        for (int i = 1; i < 4; i++)
            Assert.Contains(Enumerable.Range(0, (int)expected[i].ElementCount), e => expected[i].GetDouble(e) != 0);
    }
}
