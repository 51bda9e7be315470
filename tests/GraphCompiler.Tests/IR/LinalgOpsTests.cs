namespace GraphCompiler.Tests.IR;

public sealed class LinalgOpsTests
{
    private static string Text(string op, string resultType, string argType) =>
        IrTest.Func($"  %0 = {op} %arg0 : {resultType}\n  return %0", resultType, argType);

    private static Tensor Run(string op, string resultType, Tensor x) => IrTest.Run(Text(op, resultType, x.Type.ToString()), x)[0];

    // ---- matrix_inverse ------------------------------------------------------------------------

    [Fact]
    public void InverseOf2x2()
    {
        // [[4,7],[2,6]]: det 10, inverse [[6,-7],[-2,4]] / 10.
        var r = Run("matrix_inverse", "tensor<2x2xf64>", T.F64([2, 2], 4, 7, 2, 6));
        IrTest.AssertTensor(T.F64([2, 2], 0.6, -0.7, -0.2, 0.4), r, rtol: 1e-14);
    }

    [Fact]
    public void InverseOf3x3NeedingPivoting()
    {
        // A classic unimodular example: [[1,2,3],[0,1,4],[5,6,0]]^-1 = [[-24,18,5],[20,-15,-4],[-5,4,1]].
        var r = Run("matrix_inverse", "tensor<3x3xf32>", T.F32([3, 3], 1, 2, 3, 0, 1, 4, 5, 6, 0));
        IrTest.AssertTensor(T.F32([3, 3], -24, 18, 5, 20, -15, -4, -5, 4, 1), r, rtol: 1e-5, atol: 1e-5);
        // A zero leading entry needs a row swap.
        var p = Run("matrix_inverse", "tensor<2x2xf32>", T.F32([2, 2], 0, 1, 1, 0));
        IrTest.AssertTensor(T.F32([2, 2], 0, 1, 1, 0), p);
    }

    [Fact]
    public void InverseBatchedAndHalf()
    {
        // Identity, and [[0,2],[1,0]] whose inverse is [[0,1],[0.5,0]].
        var r = Run("matrix_inverse", "tensor<2x2x2xf32>", T.F32([2, 2, 2], 1, 0, 0, 1, 0, 2, 1, 0));
        IrTest.AssertTensor(T.F32([2, 2, 2], 1, 0, 0, 1, 0, 1, 0.5, 0), r);
        var h = Run("matrix_inverse", "tensor<1x2x2xf16>", T.F16([1, 2, 2], 2, 0, 0, 4));
        IrTest.AssertTensor(T.F16([1, 2, 2], 0.5, 0, 0, 0.25), h);
        var b = Run("matrix_inverse", "tensor<1x1xbf16>", T.BF16([1, 1], 8));
        IrTest.AssertTensor(T.BF16([1, 1], 0.125), b);
    }

    [Fact]
    public void InverseEmpty()
    {
        IrTest.AssertTensor(T.F32([0, 0]), Run("matrix_inverse", "tensor<0x0xf32>", T.F32([0, 0])));
        IrTest.AssertTensor(T.F32([0, 3, 3]), Run("matrix_inverse", "tensor<0x3x3xf32>", T.F32([0, 3, 3])));
        IrTest.AssertTensor(T.F64([2, 0, 0]), Run("matrix_inverse", "tensor<2x0x0xf64>", T.F64([2, 0, 0])));
    }

    [Fact]
    public void InverseOfSingularMatrixIsNonFiniteNotAnError()
    {
        var r = Run("matrix_inverse", "tensor<2x2xf32>", T.F32([2, 2], 1, 2, 2, 4));
        Assert.All(T.Doubles(r), v => Assert.False(double.IsFinite(v), $"expected inf/nan, got {v}"));
        var z = Run("matrix_inverse", "tensor<1x1xf64>", T.F64([1, 1], 0));
        Assert.Equal(double.PositiveInfinity, z.GetDouble(0));
    }

    // ---- determinant ---------------------------------------------------------------------------

    [Fact]
    public void DeterminantInfersShape()
    {
        IrTest.Parse(Text("determinant", "tensor<f32>", "tensor<3x3xf32>"));
        IrTest.Parse(Text("determinant", "tensor<4x5xf64>", "tensor<4x5x2x2xf64>"));
        IrTest.Rejects(Text("determinant", "tensor<3x3xf32>", "tensor<3x3xf32>"), "differ from the inferred (tensor<f32>)");
    }

    [Fact]
    public void DeterminantValues()
    {
        IrTest.AssertTensor(T.F64([], 10), Run("determinant", "tensor<f64>", T.F64([2, 2], 4, 7, 2, 6)), rtol: 1e-14);
        IrTest.AssertTensor(T.F32([], 1), Run("determinant", "tensor<f32>", T.F32([3, 3], 1, 2, 3, 0, 1, 4, 5, 6, 0)), rtol: 1e-6);
        // One row swap flips the sign.
        IrTest.AssertTensor(T.F32([], -1), Run("determinant", "tensor<f32>", T.F32([2, 2], 0, 1, 1, 0)));
        IrTest.AssertTensor(T.F32([], 5), Run("determinant", "tensor<f32>", T.F32([1, 1], 5)));
        // Upper triangular: product of the diagonal.
        IrTest.AssertTensor(T.BF16([], 24), Run("determinant", "tensor<bf16>", T.BF16([3, 3], 2, 5, 7, 0, 3, 1, 0, 0, 4)));
    }

    [Fact]
    public void DeterminantOfSingularMatricesIsZero()
    {
        IrTest.AssertTensor(T.F32([], 0), Run("determinant", "tensor<f32>", T.F32([2, 2], 1, 2, 2, 4)));
        IrTest.AssertTensor(T.F32([], 0), Run("determinant", "tensor<f32>", T.F32([3, 3], 0, 0, 0, 0, 0, 0, 0, 0, 0)));
        IrTest.AssertTensor(T.F64([], 0), Run("determinant", "tensor<f64>", T.F64([3, 3], 1, 2, 3, 0, 0, 0, 4, 5, 6)));
    }

    [Fact]
    public void DeterminantBatchedAndEmpty()
    {
        var r = Run("determinant", "tensor<2xf16>", T.F16([2, 2, 2], 1, 2, 3, 4, 2, 0, 0, 3));
        IrTest.AssertTensor(T.F16([2], -2, 6), r);
        // The determinant of a 0x0 matrix is 1 (the empty product).
        IrTest.AssertTensor(T.F32([], 1), Run("determinant", "tensor<f32>", T.F32([0, 0])));
        IrTest.AssertTensor(T.F32([3], 1, 1, 1), Run("determinant", "tensor<3xf32>", T.F32([3, 0, 0])));
        IrTest.AssertTensor(T.F32([0]), Run("determinant", "tensor<0xf32>", T.F32([0, 2, 2])));
    }

    // ---- verifier ------------------------------------------------------------------------------

    [Theory]
    [InlineData("matrix_inverse", "tensor<2x2xi32>")]
    [InlineData("determinant", "tensor<i32>")]
    public void RejectsIntegerOperand(string op, string resultType) =>
        IrTest.Rejects(Text(op, resultType, "tensor<2x2xi32>"), "operand is tensor<2x2xi32>, expected a float type");

    [Theory]
    [InlineData("matrix_inverse", "tensor<3xf32>")]
    [InlineData("determinant", "tensor<f32>")]
    public void RejectsRankBelowTwo(string op, string resultType) =>
        IrTest.Rejects(Text(op, resultType, "tensor<3xf32>"), "operand must have rank 2 or more (a batch of square matrices), got tensor<3xf32>");

    [Theory]
    [InlineData("matrix_inverse", "tensor<2x3xf32>")]
    [InlineData("determinant", "tensor<f32>")]
    public void RejectsNonSquare(string op, string resultType) =>
        IrTest.Rejects(Text(op, resultType, "tensor<2x3xf32>"), "matrices must be square, got 2x3 in tensor<2x3xf32>");
}
