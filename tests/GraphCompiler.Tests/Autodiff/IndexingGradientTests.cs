using GraphCompiler.IR.Autodiff;

namespace GraphCompiler.Tests.Autodiff;

/// <summary>
/// The indexing rules (gather, scatter, sort, top_k, dynamic_slice, dynamic_update_slice) against central
/// finite differences (<see cref="GradientCheck"/>). Integer indices are given explicitly, with repeats and
/// out-of-range values where the op's rule for them matters.
/// </summary>
public sealed class IndexingGradientTests
{
    private static Tensor F64(params long[] shape) =>
        GradientCheck.RandomTensor(new TensorType(ElementType.F64, shape), new Random(shape.Length * 7 + (int)shape[0]), -1, 1);

    /// <summary>Rows of a table picked by ids, some twice: a repeated row gets the sum of its cotangents.</summary>
    [Fact]
    public void GatherEmbeddingLookupWithRepeatedIndices() =>
        GradientCheck.Check(IrTest.Func("""
              %r = gather %arg0, %arg1 {offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1, slice_sizes = [1, 3]} : tensor<6x3xf64>
              return %r
            """, "tensor<6x3xf64>", "tensor<5x3xf64>", "tensor<6xi64>"),
            wrt: [0], inputs: [F64(5, 3), T.I64([6], 1, 3, 1, 0, 4, 1)]);

    /// <summary>ONNX GatherElements along axis 1, as a gather batched over axis 0.</summary>
    [Fact]
    public void GatherElementsBatchedForm() =>
        GradientCheck.Check(IrTest.Func("""
              %r = gather %arg0, %arg1 {offset_dims = [], collapsed_slice_dims = [1], start_index_map = [1], index_vector_dim = 2, slice_sizes = [1, 1], operand_batching_dims = [0], start_indices_batching_dims = [0]} : tensor<3x4xf64>
              return %r
            """, "tensor<3x4xf64>", "tensor<3x4xf64>", "tensor<3x4xi64>"),
            wrt: [0], inputs: [F64(3, 4), T.I64([3, 4], 0, 0, 3, 1, 2, 2, 2, 0, 1, 3, 3, 3)]);

    /// <summary>GatherElements as a gather of full coordinate vectors (point gather).</summary>
    [Fact]
    public void GatherElementsPointForm() =>
        GradientCheck.Check(IrTest.Func("""
              %r = gather %arg0, %arg1 {offset_dims = [], collapsed_slice_dims = [0, 1], start_index_map = [0, 1], index_vector_dim = 2, slice_sizes = [1, 1]} : tensor<2x3xf64>
              return %r
            """, "tensor<2x3xf64>", "tensor<2x4xf64>", "tensor<2x3x2xi64>"),
            wrt: [0], inputs: [F64(2, 4), T.I64([2, 3, 2], 0, 1, 0, 1, 0, 3, 1, 2, 1, 2, 1, 0)]);

    /// <summary>Starts past the end (or negative) are clamped so the slice fits; the gradient lands where the slice was read.</summary>
    [Fact]
    public void GatherClampedSlices() =>
        GradientCheck.Check(IrTest.Func("""
              %r = gather %arg0, %arg1 {offset_dims = [1, 2], collapsed_slice_dims = [], start_index_map = [0], index_vector_dim = 1, slice_sizes = [2, 3]} : tensor<3x2x3xf64>
              return %r
            """, "tensor<3x2x3xf64>", "tensor<5x3xf64>", "tensor<3xi64>"),
            wrt: [0], inputs: [F64(5, 3), T.I64([3], 4, -1, 1)]);

    private static string ScatterRows(string kind) => IrTest.Func($$"""
          %r = scatter %arg0, %arg1, %arg2 {update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1, kind = {{kind}}} : tensor<5x3xf64>
          return %r
        """, "tensor<5x3xf64>", "tensor<5x3xf64>", "tensor<4x1xi64>", "tensor<4x3xf64>");

    /// <summary>Rows 1 (twice) and 3, and row 7, which is out of range and skipped: its update gets 0.</summary>
    private static Tensor[] ScatterInputs => [F64(5, 3), T.I64([4, 1], 1, 3, 1, 7), F64(4, 3)];

    [Fact]
    public void ScatterAdd()
    {
        var g = GradientCheck.Check(ScatterRows("add"), wrt: [0, 2], inputs: ScatterInputs);
        Assert.All(T.Doubles(g[1])[9..], v => Assert.Equal(0, v));
    }

    /// <summary>
    /// replace with a duplicate index: the later update of row 1 wins and gets the cotangent, the earlier
    /// one is overwritten and gets 0, as do the overwritten operand rows.
    /// </summary>
    [Fact]
    public void ScatterReplaceWithDuplicates()
    {
        var g = GradientCheck.Check(ScatterRows("replace"), wrt: [0, 2], inputs: ScatterInputs);
        Assert.All(T.Doubles(g[1])[..3], v => Assert.Equal(0, v));
        Assert.All(T.Doubles(g[0])[3..6], v => Assert.Equal(0, v));
    }

    [Fact]
    public void ScatterMulIsAnError()
    {
        var e = Assert.Throws<IrException>(() => GradientCheck.Check(ScatterRows("mul"), wrt: [0, 2], inputs: ScatterInputs));
        Assert.Contains("scatter kind 'mul' is not differentiable", e.Message);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(0, true)]
    public void Sort(int dim, bool descending) =>
        GradientCheck.Check(IrTest.Func($$"""
              %v, %i = sort %arg0 {dimension = {{dim}}, descending = {{(descending ? "true" : "false")}}} : tensor<3x4xf64>, tensor<3x4xi64>
              return %v
            """, "tensor<3x4xf64>", "tensor<3x4xf64>"));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TopK(bool largest) =>
        GradientCheck.Check(IrTest.Func($$"""
              %v, %i = top_k %arg0 {k = 3, largest = {{(largest ? "true" : "false")}}} : tensor<2x3xf64>, tensor<2x3xi64>
              return %v
            """, "tensor<2x3xf64>", "tensor<2x5xf64>"));

    /// <summary>
    /// Tied values: each sorted position sends its cotangent to the one element it came from (the stable
    /// order), so nothing is counted twice. sum(sort([1, 1, 0]) ⊙ [1, 2, 3]) has gradient [2, 3, 1].
    /// </summary>
    [Fact]
    public void SortTiesDoNotDoubleCount()
    {
        var f = IrTest.Parse("""
            func @main(%x: tensor<3xf64>) -> (tensor<3xf64>) {
              %v, %i = sort %x {dimension = 0} : tensor<3xf64>, tensor<3xi64>
              %w = constant {value = dense<[1.0, 2.0, 3.0]>} : tensor<3xf64>
              %r = mul %v, %w : tensor<3xf64>
              return %r
            }
            """).Entry;
        var grad = Gradients.Differentiate(f, 0, [0], "main");
        var r = new Interpreter(new Module([grad])).Run(null, [T.F64([3], 1, 1, 0)]).Unwrap().Results;
        Assert.Equal([2.0, 3.0, 1.0], T.Doubles(r[1]));
    }

    /// <summary>In range, and clamped (a start of 4 for a 2-row window of 5 rows reads rows 3..4).</summary>
    [Theory]
    [InlineData(1, 0)]
    [InlineData(4, 2)]
    public void DynamicSlice(long i, long j) =>
        GradientCheck.Check(IrTest.Func("""
              %r = dynamic_slice %arg0, %arg1, %arg2 {sizes = [2, 3]} : tensor<2x3xf64>
              return %r
            """, "tensor<2x3xf64>", "tensor<5x4xf64>", "tensor<i64>", "tensor<i64>"),
            wrt: [0], inputs: [F64(5, 4), T.I64(i), T.I64(j)]);

    [Theory]
    [InlineData(1, 0)]
    [InlineData(-3, 9)]
    public void DynamicUpdateSlice(long i, long j) =>
        GradientCheck.Check(IrTest.Func("""
              %r = dynamic_update_slice %arg0, %arg1, %arg2, %arg3 : tensor<5x4xf64>
              return %r
            """, "tensor<5x4xf64>", "tensor<5x4xf64>", "tensor<2x3xf64>", "tensor<i64>", "tensor<i64>"),
            wrt: [0, 1], inputs: [F64(5, 4), F64(2, 3), T.I64(i), T.I64(j)]);
}
