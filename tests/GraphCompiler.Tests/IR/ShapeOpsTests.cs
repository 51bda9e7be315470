namespace GraphCompiler.Tests.IR;

public sealed class ShapeOpsTests
{
    private static string Text(string op, string resultType, string[] argTypes) =>
        IrTest.Func($"  %0 = {op} : {resultType}\n  return %0", resultType, argTypes);

    /// <summary>Runs one op on the inputs (its operands are %arg0, %arg1, ... typed after the inputs).</summary>
    private static Tensor Run(string op, string resultType, params Tensor[] inputs) =>
        IrTest.Run(Text(op, resultType, [.. inputs.Select(t => t.Type.ToString())]), inputs)[0];

    /// <summary>Shape inference: the op verifies with exactly this result type, and a different one is rejected naming it.</summary>
    private static void Infers(string op, string resultType, params string[] argTypes)
    {
        IrTest.Parse(Text(op, resultType, argTypes));
        IrTest.Rejects(Text(op, "tensor<99x98xf32>", argTypes), $"inferred ({resultType})");
    }

    private static void Rejects(string op, string resultType, string expected, params string[] argTypes) =>
        IrTest.Rejects(Text(op, resultType, argTypes), expected);

    private static long[] Range(long n) => [.. Enumerable.Range(0, (int)n).Select(i => (long)i)];

    // ---- reshape -------------------------------------------------------------------------------

    [Fact]
    public void ReshapeKeepsRowMajorOrder()
    {
        var r = Run("reshape %arg0", "tensor<3x2xf32>", T.F32([2, 3], 1, 2, 3, 4, 5, 6));
        IrTest.AssertTensor(T.F32([3, 2], 1, 2, 3, 4, 5, 6), r);
        var b = Run("reshape %arg0", "tensor<4xbool>", T.Bool([2, 2], true, false, false, true));
        IrTest.AssertTensor(T.Bool([4], true, false, false, true), b);
    }

    [Fact]
    public void ReshapeRankZeroAndEmpty()
    {
        IrTest.AssertTensor(T.I8([1, 1, 1], -7), Run("reshape %arg0", "tensor<1x1x1xi8>", T.I8([], -7)));
        IrTest.AssertTensor(T.U16([], 65535), Run("reshape %arg0", "tensor<u16>", T.U16([1], 65535)));
        IrTest.AssertTensor(T.F16([3, 0]), Run("reshape %arg0", "tensor<3x0xf16>", T.F16([0, 3])));
    }

    [Fact]
    public void ReshapeRejects()
    {
        Rejects("reshape %arg0", "tensor<4xf32>", "element counts differ: tensor<2x3xf32> has 6, tensor<4xf32> has 4", "tensor<2x3xf32>");
        Rejects("reshape %arg0", "tensor<6xi32>", "cannot change the element type", "tensor<2x3xf32>");
        Rejects("reshape %arg0, %arg0", "tensor<6xf32>", "takes 1 operand(s), got 2", "tensor<2x3xf32>");
    }

    // ---- broadcast_in_dim ----------------------------------------------------------------------

    [Fact]
    public void BroadcastInDimRowsAndColumns()
    {
        var x = T.I32([3], 1, 2, 3);
        IrTest.AssertTensor(T.I32([2, 3], 1, 2, 3, 1, 2, 3), Run("broadcast_in_dim %arg0 {dims = [1]}", "tensor<2x3xi32>", x));
        IrTest.AssertTensor(T.I32([3, 2], 1, 1, 2, 2, 3, 3), Run("broadcast_in_dim %arg0 {dims = [0]}", "tensor<3x2xi32>", x));
    }

    [Fact]
    public void BroadcastInDimExpandsSizeOneAndScalars()
    {
        var r = Run("broadcast_in_dim %arg0 {dims = [0, 2]}", "tensor<2x2x3xf32>", T.F32([1, 3], 1, 2, 3));
        IrTest.AssertTensor(T.F32([2, 2, 3], 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3), r);
        var s = Run("broadcast_in_dim %arg0 {dims = []}", "tensor<2x2xf16>", T.F16([], 2.5));
        IrTest.AssertTensor(T.F16([2, 2], 2.5, 2.5, 2.5, 2.5), s);
        var same = Run("broadcast_in_dim %arg0 {dims = []}", "tensor<bool>", T.Bool([], true));
        IrTest.AssertTensor(T.Bool([], true), same);
    }

    [Fact]
    public void BroadcastInDimWithUnorderedDimsTransposes()
    {
        // Operand dim 0 (size 2) goes to result dim 1, operand dim 1 (size 3) to result dim 0: r[i, j] = x[j, i].
        var r = Run("broadcast_in_dim %arg0 {dims = [1, 0]}", "tensor<3x2xu8>", T.U8([2, 3], 1, 2, 3, 4, 5, 6));
        IrTest.AssertTensor(T.U8([3, 2], 1, 4, 2, 5, 3, 6), r);
    }

    [Fact]
    public void BroadcastInDimEmpty()
    {
        IrTest.AssertTensor(T.F32([2, 0]), Run("broadcast_in_dim %arg0 {dims = [1]}", "tensor<2x0xf32>", T.F32([0])));
        // A size-1 dimension may broadcast to size 0.
        IrTest.AssertTensor(T.F32([0, 4]), Run("broadcast_in_dim %arg0 {dims = [0, 1]}", "tensor<0x4xf32>", T.F32([1, 4], 1, 2, 3, 4)));
    }

    [Fact]
    public void BroadcastInDimRejects()
    {
        Rejects("broadcast_in_dim %arg0 {dims = [0, 1]}", "tensor<2x3xf32>", "'dims' has 2 entries, expected 1", "tensor<3xf32>");
        Rejects("broadcast_in_dim %arg0 {dims = [2]}", "tensor<2x3xf32>", "'dims' entry 2 is out of range for rank 2", "tensor<3xf32>");
        Rejects("broadcast_in_dim %arg0 {dims = [1, 1]}", "tensor<2x3xf32>", "'dims' lists dimension 1 twice", "tensor<1x3xf32>");
        Rejects("broadcast_in_dim %arg0 {dims = [0]}", "tensor<2x3xf32>",
            "operand dimension 0 has size 3, which cannot broadcast to result dimension 0 of size 2", "tensor<3xf32>");
        Rejects("broadcast_in_dim %arg0 {dims = [1]}", "tensor<2x3xi32>", "cannot change the element type", "tensor<3xf32>");
        Rejects("broadcast_in_dim %arg0", "tensor<2x3xf32>", "missing required attribute 'dims'", "tensor<3xf32>");
    }

    // ---- transpose -----------------------------------------------------------------------------

    [Fact]
    public void TransposeInfersShape()
    {
        Infers("transpose %arg0 {perm = [1, 0]}", "tensor<3x2xf32>", "tensor<2x3xf32>");
        Infers("transpose %arg0 {perm = [2, 0, 1]}", "tensor<4x2x3xi64>", "tensor<2x3x4xi64>");
    }

    [Fact]
    public void TransposeMatrix()
    {
        var r = Run("transpose %arg0 {perm = [1, 0]}", "tensor<3x2xf64>", T.F64([2, 3], 1, 2, 3, 4, 5, 6));
        IrTest.AssertTensor(T.F64([3, 2], 1, 4, 2, 5, 3, 6), r);
    }

    [Fact]
    public void TransposeRank3()
    {
        // x[a, b, c] = 12a + 4b + c; perm [2, 0, 1] gives r[i, j, k] = x[j, k, i] = 12j + 4k + i.
        var x = T.I32([2, 3, 4], Range(24));
        var expected = new List<long>();
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 2; j++)
                for (int k = 0; k < 3; k++)
                    expected.Add(12 * j + 4 * k + i);
        var r = Run("transpose %arg0 {perm = [2, 0, 1]}", "tensor<4x2x3xi32>", x);
        IrTest.AssertTensor(T.I32([4, 2, 3], [.. expected]), r);
        // r[0, 0, k] = x[0, k, 0] = 4k; r[0, 1, k] = x[1, k, 0] = 12 + 4k.
        Assert.Equal([0L, 4, 8, 12, 16, 20], T.Longs(r).Take(6));
    }

    [Fact]
    public void TransposeRankZeroAndEmpty()
    {
        IrTest.AssertTensor(T.Bool([], true), Run("transpose %arg0 {perm = []}", "tensor<bool>", T.Bool([], true)));
        IrTest.AssertTensor(T.F32([2, 0]), Run("transpose %arg0 {perm = [1, 0]}", "tensor<2x0xf32>", T.F32([0, 2])));
    }

    [Fact]
    public void TransposeRejects()
    {
        Rejects("transpose %arg0 {perm = [0]}", "tensor<2x3xf32>", "'perm' has 1 entries, expected 2", "tensor<2x3xf32>");
        Rejects("transpose %arg0 {perm = [0, 0]}", "tensor<2x3xf32>", "'perm' lists dimension 0 twice", "tensor<2x3xf32>");
        Rejects("transpose %arg0 {perm = [0, 2]}", "tensor<2x3xf32>", "'perm' entry 2 is out of range for rank 2", "tensor<2x3xf32>");
        Rejects("transpose %arg0 {perm = [-1, 0]}", "tensor<2x3xf32>", "'perm' entry -1 is out of range", "tensor<2x3xf32>");
    }

    // ---- slice ---------------------------------------------------------------------------------

    [Fact]
    public void SliceInfersShape()
    {
        Infers("slice %arg0 {limit = [6], start = [1], stride = [2]}", "tensor<3xf32>", "tensor<7xf32>");
        Infers("slice %arg0 {limit = [7], start = [1], stride = [3]}", "tensor<2xf32>", "tensor<7xf32>");
        Infers("slice %arg0 {limit = [3, 4], start = [1, 0]}", "tensor<2x4xf32>", "tensor<3x4xf32>");
    }

    [Fact]
    public void SliceStrided()
    {
        var r = Run("slice %arg0 {start = [1], limit = [6], stride = [2]}", "tensor<3xi32>", T.I32([7], Range(7)));
        IrTest.AssertTensor(T.I32([3], 1, 3, 5), r);
        // Rows 1..2, columns 0 and 3.
        var m = Run("slice %arg0 {start = [1, 0], limit = [3, 4], stride = [1, 3]}", "tensor<2x2xu64>", T.U64([3, 4], Range(12)));
        IrTest.AssertTensor(T.U64([2, 2], 4, 7, 8, 11), m);
    }

    [Fact]
    public void SliceDefaultStrideEmptyAndRankZero()
    {
        IrTest.AssertTensor(T.F16([2], 2, 3), Run("slice %arg0 {start = [2], limit = [4]}", "tensor<2xf16>", T.F16([5], 0, 1, 2, 3, 4)));
        IrTest.AssertTensor(T.F16([2], 2, 3), Run("slice %arg0 {start = [2], limit = [4], stride = []}", "tensor<2xf16>", T.F16([5], 0, 1, 2, 3, 4)));
        IrTest.AssertTensor(T.F32([0]), Run("slice %arg0 {start = [2], limit = [2]}", "tensor<0xf32>", T.F32([5], 0, 1, 2, 3, 4)));
        IrTest.AssertTensor(T.Bool([], false), Run("slice %arg0 {start = [], limit = []}", "tensor<bool>", T.Bool([], false)));
        IrTest.AssertTensor(T.F32([0, 2]), Run("slice %arg0 {start = [0, 1], limit = [0, 3]}", "tensor<0x2xf32>", T.F32([0, 3])));
    }

    [Fact]
    public void SliceRejects()
    {
        const string x = "tensor<5x4xf32>";
        Rejects("slice %arg0 {start = [0], limit = [1, 1]}", "tensor<1x1xf32>", "'start' has 1 entries, expected 2", x);
        Rejects("slice %arg0 {start = [0, 0], limit = [1]}", "tensor<1x1xf32>", "'limit' has 1 entries, expected 2", x);
        Rejects("slice %arg0 {start = [0, 0], limit = [1, 1], stride = [1]}", "tensor<1x1xf32>", "'stride' has 1 entries, expected 2", x);
        Rejects("slice %arg0 {start = [3, 0], limit = [2, 1]}", "tensor<1x1xf32>", "dimension 0: need 0 <= start <= limit <= 5, got start 3 and limit 2", x);
        Rejects("slice %arg0 {start = [0, 0], limit = [1, 5]}", "tensor<1x1xf32>", "dimension 1: need 0 <= start <= limit <= 4, got start 0 and limit 5", x);
        Rejects("slice %arg0 {start = [-1, 0], limit = [1, 1]}", "tensor<1x1xf32>", "dimension 0: need 0 <= start", x);
        Rejects("slice %arg0 {start = [0, 0], limit = [1, 1], stride = [1, 0]}", "tensor<1x1xf32>", "dimension 1: stride must be at least 1, got 0", x);
    }

    // ---- dynamic_slice -------------------------------------------------------------------------

    [Fact]
    public void DynamicSliceInfersShape()
    {
        Infers("dynamic_slice %arg0, %arg1, %arg1 {sizes = [2, 0]}", "tensor<2x0xf32>", "tensor<3x4xf32>", "tensor<i32>");
    }

    [Fact]
    public void DynamicSliceInRange()
    {
        var x = T.F32([5], 0, 1, 2, 3, 4);
        IrTest.AssertTensor(T.F32([3], 1, 2, 3), Run("dynamic_slice %arg0, %arg1 {sizes = [3]}", "tensor<3xf32>", x, T.I32(1)));
    }

    [Fact]
    public void DynamicSliceClampsStart()
    {
        var x = T.F32([5], 0, 1, 2, 3, 4);
        // Start 4 with size 3 is clamped to 5 - 3 = 2; a negative start to 0.
        IrTest.AssertTensor(T.F32([3], 2, 3, 4), Run("dynamic_slice %arg0, %arg1 {sizes = [3]}", "tensor<3xf32>", x, T.I32(4)));
        IrTest.AssertTensor(T.F32([3], 0, 1, 2), Run("dynamic_slice %arg0, %arg1 {sizes = [3]}", "tensor<3xf32>", x, T.I32(-3)));
        // The largest u64 (negative if misread as signed) is clamped to the top.
        IrTest.AssertTensor(T.F32([3], 2, 3, 4), Run("dynamic_slice %arg0, %arg1 {sizes = [3]}", "tensor<3xf32>", x, T.U64([], -1)));
        IrTest.AssertTensor(T.F32([3], 0, 1, 2), Run("dynamic_slice %arg0, %arg1 {sizes = [3]}", "tensor<3xf32>", x, T.I8([], -128)));
    }

    [Fact]
    public void DynamicSlice2DWithUnsignedIndices()
    {
        // x = [[0,1,2],[3,4,5],[6,7,8]]; starts (2, 1) with sizes (2, 2): row start clamps to 1.
        var r = Run("dynamic_slice %arg0, %arg1, %arg2 {sizes = [2, 2]}", "tensor<2x2xi16>",
            T.I16([3, 3], Range(9)), T.U8([], 2), T.U8([], 1));
        IrTest.AssertTensor(T.I16([2, 2], 4, 5, 7, 8), r);
    }

    [Fact]
    public void DynamicSliceRankZeroAndEmpty()
    {
        IrTest.AssertTensor(T.Bool([], true), Run("dynamic_slice %arg0 {sizes = []}", "tensor<bool>", T.Bool([], true)));
        IrTest.AssertTensor(T.I32([0]), Run("dynamic_slice %arg0, %arg1 {sizes = [0]}", "tensor<0xi32>", T.I32([3], 1, 2, 3), T.I64(9)));
        IrTest.AssertTensor(T.I32([0]), Run("dynamic_slice %arg0, %arg1 {sizes = [0]}", "tensor<0xi32>", T.I32([0]), T.I64(9)));
    }

    [Fact]
    public void DynamicSliceRejects()
    {
        Rejects("dynamic_slice %arg0, %arg1 {sizes = [1, 1]}", "tensor<1x1xf32>", "needs 2 start index operand(s), one per dimension, got 1", "tensor<3x4xf32>", "tensor<i32>");
        Rejects("dynamic_slice %arg0, %arg1, %arg2 {sizes = [1, 1]}", "tensor<1x1xf32>", "start index operand #2 must be a rank-0 integer tensor, got tensor<f32>",
            "tensor<3x4xf32>", "tensor<i32>", "tensor<f32>");
        Rejects("dynamic_slice %arg0, %arg1, %arg2 {sizes = [1, 1]}", "tensor<1x1xf32>", "start index operand #2 must be a rank-0 integer tensor, got tensor<1xi32>",
            "tensor<3x4xf32>", "tensor<i32>", "tensor<1xi32>");
        Rejects("dynamic_slice %arg0, %arg1, %arg2 {sizes = [1, 1]}", "tensor<1x1xf32>", "start index operands must all have one type, got tensor<i32> and tensor<i64>",
            "tensor<3x4xf32>", "tensor<i32>", "tensor<i64>");
        Rejects("dynamic_slice %arg0, %arg1, %arg1 {sizes = [4, 1]}", "tensor<4x1xf32>", "'sizes' entry 0 is 4, expected 0 to 3", "tensor<3x4xf32>", "tensor<i32>");
        Rejects("dynamic_slice %arg0, %arg1, %arg1 {sizes = [1, -1]}", "tensor<1x1xf32>", "'sizes' entry 1 is -1, expected 0 to 4", "tensor<3x4xf32>", "tensor<i32>");
        Rejects("dynamic_slice %arg0, %arg1, %arg1 {sizes = [1]}", "tensor<1xf32>", "'sizes' has 1 entries, expected 2", "tensor<3x4xf32>", "tensor<i32>");
    }

    // ---- dynamic_update_slice ------------------------------------------------------------------

    [Fact]
    public void DynamicUpdateSliceWritesAndClamps()
    {
        var x = T.I32([5], 1, 2, 3, 4, 5);
        var u = T.I32([2], 9, 8);
        IrTest.AssertTensor(T.I32([5], 1, 9, 8, 4, 5), Run("dynamic_update_slice %arg0, %arg1, %arg2", "tensor<5xi32>", x, u, T.I32(1)));
        // Start 10 clamps to 5 - 2 = 3.
        IrTest.AssertTensor(T.I32([5], 1, 2, 3, 9, 8), Run("dynamic_update_slice %arg0, %arg1, %arg2", "tensor<5xi32>", x, u, T.I32(10)));
        IrTest.AssertTensor(T.I32([5], 9, 8, 3, 4, 5), Run("dynamic_update_slice %arg0, %arg1, %arg2", "tensor<5xi32>", x, u, T.I32(-1)));
    }

    [Fact]
    public void DynamicUpdateSlice2DBool()
    {
        // Starts (1, -5) clamp to (1, 0).
        var r = Run("dynamic_update_slice %arg0, %arg1, %arg2, %arg3", "tensor<2x3xbool>",
            T.Bool([2, 3], false, false, false, false, false, false), T.Bool([1, 2], true, true), T.I64(1), T.I64(-5));
        IrTest.AssertTensor(T.Bool([2, 3], false, false, false, true, true, false), r);
    }

    [Fact]
    public void DynamicUpdateSliceEmptyAndRankZero()
    {
        var x = T.F16([3], 1, 2, 3);
        IrTest.AssertTensor(x, Run("dynamic_update_slice %arg0, %arg1, %arg2", "tensor<3xf16>", x, T.F16([0]), T.I32(2)));
        IrTest.AssertTensor(T.F16([], 7), Run("dynamic_update_slice %arg0, %arg1", "tensor<f16>", T.F16([], 1), T.F16([], 7)));
        IrTest.AssertTensor(T.F16([3], 1, 2, 5), Run("dynamic_update_slice %arg0, %arg1, %arg2", "tensor<3xf16>", x, T.F16([1], 5), T.U32([], 2)));
    }

    [Fact]
    public void DynamicUpdateSliceRejects()
    {
        Rejects("dynamic_update_slice %arg0, %arg1, %arg2", "tensor<3xf32>", "update tensor<4xf32> is larger than the operand tensor<3xf32> in dimension 0",
            "tensor<3xf32>", "tensor<4xf32>", "tensor<i32>");
        Rejects("dynamic_update_slice %arg0, %arg1, %arg2", "tensor<3xf32>", "update tensor<2xi32> must have the element type and rank of the operand tensor<3xf32>",
            "tensor<3xf32>", "tensor<2xi32>", "tensor<i32>");
        Rejects("dynamic_update_slice %arg0, %arg1, %arg2", "tensor<3xf32>", "must have the element type and rank", "tensor<3xf32>", "tensor<1x1xf32>", "tensor<i32>");
        Rejects("dynamic_update_slice %arg0, %arg1", "tensor<3xf32>", "needs 1 start index operand(s), one per dimension, got 0", "tensor<3xf32>", "tensor<2xf32>");
        Rejects("dynamic_update_slice %arg0, %arg1, %arg2", "tensor<3xf32>", "start index operand #2 must be a rank-0 integer tensor, got tensor<bool>",
            "tensor<3xf32>", "tensor<2xf32>", "tensor<bool>");
    }

    // ---- concatenate ---------------------------------------------------------------------------

    [Fact]
    public void ConcatenateInfersShape()
    {
        Infers("concatenate %arg0, %arg1, %arg0 {dimension = 1}", "tensor<2x5xf32>", "tensor<2x1xf32>", "tensor<2x3xf32>");
    }

    [Fact]
    public void ConcatenateVectorsAndMatrices()
    {
        IrTest.AssertTensor(T.I64([5], 1, 2, 3, 4, 5),
            Run("concatenate %arg0, %arg1 {dimension = 0}", "tensor<5xi64>", T.I64([2], 1, 2), T.I64([3], 3, 4, 5)));
        var r = Run("concatenate %arg0, %arg1 {dimension = 1}", "tensor<2x3xf32>", T.F32([2, 1], 1, 2), T.F32([2, 2], 3, 4, 5, 6));
        IrTest.AssertTensor(T.F32([2, 3], 1, 3, 4, 2, 5, 6), r);
        var b = Run("concatenate %arg0, %arg1, %arg0 {dimension = 0}", "tensor<3x2xbool>",
            T.Bool([1, 2], true, false), T.Bool([1, 2], false, false));
        IrTest.AssertTensor(T.Bool([3, 2], true, false, false, false, true, false), b);
    }

    [Fact]
    public void ConcatenateSingleAndEmpty()
    {
        IrTest.AssertTensor(T.U8([2], 7, 8), Run("concatenate %arg0 {dimension = 0}", "tensor<2xu8>", T.U8([2], 7, 8)));
        IrTest.AssertTensor(T.U8([2], 7, 8), Run("concatenate %arg0, %arg1 {dimension = 0}", "tensor<2xu8>", T.U8([0]), T.U8([2], 7, 8)));
        IrTest.AssertTensor(T.F32([0, 5]), Run("concatenate %arg0, %arg1 {dimension = 1}", "tensor<0x5xf32>", T.F32([0, 2]), T.F32([0, 3])));
    }

    [Fact]
    public void ConcatenateRejects()
    {
        Rejects("concatenate %arg0 {dimension = 0}", "tensor<f32>", "operands must have rank 1 or more, got tensor<f32>", "tensor<f32>");
        Rejects("concatenate %arg0 {dimension = 2}", "tensor<2x3xf32>", "dimension 2 is out of range for rank 2", "tensor<2x3xf32>");
        Rejects("concatenate %arg0 {dimension = -1}", "tensor<2x3xf32>", "dimension -1 is out of range for rank 2", "tensor<2x3xf32>");
        Rejects("concatenate %arg0, %arg1 {dimension = 0}", "tensor<4x3xf32>", "operand #1 is tensor<2x3xi32>, expected the element type and rank of operand #0",
            "tensor<2x3xf32>", "tensor<2x3xi32>");
        Rejects("concatenate %arg0, %arg1 {dimension = 0}", "tensor<4x3xf32>", "operand #1 is tensor<6xf32>, expected the element type and rank",
            "tensor<2x3xf32>", "tensor<6xf32>");
        Rejects("concatenate %arg0, %arg1 {dimension = 0}", "tensor<4x3xf32>", "operand #1 is tensor<2x4xf32>: dimension 1 must equal operand #0's (3)",
            "tensor<2x3xf32>", "tensor<2x4xf32>");
        Rejects("concatenate %arg0", "tensor<2x3xf32>", "missing required attribute 'dimension'", "tensor<2x3xf32>");
    }

    // ---- pad -----------------------------------------------------------------------------------

    [Fact]
    public void PadInfersShape()
    {
        // 1 + 2 + 3 + 2 * 2 = 10; an empty dimension gets no interior padding: 1 + 1 + 0 + 0 = 2.
        Infers("pad %arg0, %arg1 {high = [2, 1], interior = [2, 5], low = [1, 1]}", "tensor<10x2xf32>", "tensor<3x0xf32>", "tensor<f32>");
        Infers("pad %arg0, %arg1 {high = [-2], low = [-1]}", "tensor<2xf32>", "tensor<5xf32>", "tensor<f32>");
    }

    [Fact]
    public void PadConstantLowHigh()
    {
        var r = Run("pad %arg0, %arg1 {low = [1], high = [2]}", "tensor<6xf32>", T.F32([3], 1, 2, 3), T.F32(0));
        IrTest.AssertTensor(T.F32([6], 0, 1, 2, 3, 0, 0), r);
    }

    [Fact]
    public void PadConstantInterior()
    {
        var r = Run("pad %arg0, %arg1 {low = [0], high = [0], interior = [1]}", "tensor<5xi32>", T.I32([3], 1, 2, 3), T.I32(-1));
        IrTest.AssertTensor(T.I32([5], 1, -1, 2, -1, 3), r);
        // [[1,2],[3,4]]: one row of 9s above, a 9 between and after the columns.
        var m = Run("pad %arg0, %arg1 {low = [1, 0], high = [0, 1], interior = [0, 1]}", "tensor<3x4xi8>", T.I8([2, 2], 1, 2, 3, 4), T.I8([], 9));
        IrTest.AssertTensor(T.I8([3, 4], 9, 9, 9, 9, 1, 9, 2, 9, 3, 9, 4, 9), m);
    }

    [Fact]
    public void PadConstantNegativeCrops()
    {
        var r = Run("pad %arg0, %arg1 {low = [-1], high = [-2]}", "tensor<2xf64>", T.F64([5], 1, 2, 3, 4, 5), T.F64([], 0));
        IrTest.AssertTensor(T.F64([2], 2, 3), r);
        // Interior-padded [1,v,v,2,v,v,3] cropped by one at each end.
        var i = Run("pad %arg0, %arg1 {low = [-1], high = [-1], interior = [2]}", "tensor<5xu32>", T.U32([3], 1, 2, 3), T.U32([], 0));
        IrTest.AssertTensor(T.U32([5], 0, 0, 2, 0, 0), i);
        // Negative low with positive high.
        var mix = Run("pad %arg0, %arg1 {low = [-2], high = [1]}", "tensor<2xu32>", T.U32([3], 1, 2, 3), T.U32([], 7));
        IrTest.AssertTensor(T.U32([2], 3, 7), mix);
    }

    [Fact]
    public void PadConstantEmptyRankZeroAndBool()
    {
        IrTest.AssertTensor(T.BF16([3], 0.5, 0.5, 0.5),
            Run("pad %arg0, %arg1 {low = [2], high = [1], interior = [3]}", "tensor<3xbf16>", T.BF16([0]), T.BF16([], 0.5)));
        IrTest.AssertTensor(T.F32([], 4), Run("pad %arg0, %arg1 {low = [], high = []}", "tensor<f32>", T.F32(4), T.F32(0)));
        IrTest.AssertTensor(T.Bool([4], true, false, true, true),
            Run("pad %arg0, %arg1 {low = [1], high = [1]}", "tensor<4xbool>", T.Bool([2], false, true), T.Bool([], true)));
        IrTest.AssertTensor(T.F32([0]), Run("pad %arg0, %arg1 {low = [-1], high = [-2]}", "tensor<0xf32>", T.F32([3], 1, 2, 3), T.F32(0)));
    }

    [Fact]
    public void PadReflectSymmetricEdge()
    {
        var x = T.F32([3], 1, 2, 3);
        var v = T.F32(0);
        // np.pad([1,2,3], 2, 'reflect') == [3,2,1,2,3,2,1]
        IrTest.AssertTensor(T.F32([7], 3, 2, 1, 2, 3, 2, 1), Run("pad %arg0, %arg1 {low = [2], high = [2], mode = reflect}", "tensor<7xf32>", x, v));
        // np.pad([1,2,3], (2,3), 'symmetric') == [2,1,1,2,3,3,2,1]
        IrTest.AssertTensor(T.F32([8], 2, 1, 1, 2, 3, 3, 2, 1), Run("pad %arg0, %arg1 {low = [2], high = [3], mode = symmetric}", "tensor<8xf32>", x, v));
        // np.pad([1,2,3], (1,2), 'edge') == [1,1,2,3,3,3]
        IrTest.AssertTensor(T.F32([6], 1, 1, 2, 3, 3, 3), Run("pad %arg0, %arg1 {low = [1], high = [2], mode = edge}", "tensor<6xf32>", x, v));
    }

    [Fact]
    public void PadModes2D()
    {
        // np.pad([[1,2,3],[4,5,6]], 1, 'reflect')
        var r = Run("pad %arg0, %arg1 {low = [1, 1], high = [1, 1], mode = reflect}", "tensor<4x5xi32>", T.I32([2, 3], 1, 2, 3, 4, 5, 6), T.I32(0));
        IrTest.AssertTensor(T.I32([4, 5], 5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 2, 1, 2, 3, 2), r);
        // np.pad([[1,2],[3,4]], 1, 'edge')
        var e = Run("pad %arg0, %arg1 {low = [1, 1], high = [1, 1], mode = edge}", "tensor<4x4xf16>", T.F16([2, 2], 1, 2, 3, 4), T.F16([], 0));
        IrTest.AssertTensor(T.F16([4, 4], 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4), e);
        // np.pad([[1,2],[3,4]], ((0,2),(1,0)), 'symmetric')
        var s = Run("pad %arg0, %arg1 {low = [0, 1], high = [2, 0], mode = symmetric}", "tensor<4x3xu8>", T.U8([2, 2], 1, 2, 3, 4), T.U8([], 0));
        IrTest.AssertTensor(T.U8([4, 3], 1, 1, 2, 3, 3, 4, 3, 3, 4, 1, 1, 2), s);
    }

    [Fact]
    public void PadModesWithZeroPadOnEmptyDimension()
    {
        var r = Run("pad %arg0, %arg1 {low = [0, 1], high = [0, 1], mode = reflect}", "tensor<0x4xf32>", T.F32([0, 2]), T.F32(0));
        IrTest.AssertTensor(T.F32([0, 4]), r);
    }

    [Fact]
    public void PadRejects()
    {
        const string x = "tensor<3xf32>", v = "tensor<f32>";
        Rejects("pad %arg0, %arg1 {low = [0], high = [0]}", "tensor<3xf32>", "padding value must be tensor<f32>, got tensor<i32>", x, "tensor<i32>");
        Rejects("pad %arg0, %arg1 {low = [0], high = [0]}", "tensor<3xf32>", "padding value must be tensor<f32>, got tensor<1xf32>", x, "tensor<1xf32>");
        Rejects("pad %arg0, %arg1 {low = [0, 0], high = [0]}", "tensor<3xf32>", "'low' has 2 entries, expected 1", x, v);
        Rejects("pad %arg0, %arg1 {low = [0], high = []}", "tensor<3xf32>", "'high' has 0 entries, expected 1", x, v);
        Rejects("pad %arg0, %arg1 {low = [0], high = [0], interior = [1, 1]}", "tensor<3xf32>", "'interior' has 2 entries, expected 1", x, v);
        Rejects("pad %arg0, %arg1 {low = [0], high = [0], interior = [-1]}", "tensor<3xf32>", "'interior' entry 0 is -1, must be >= 0", x, v);
        Rejects("pad %arg0, %arg1 {low = [-2], high = [-2]}", "tensor<3xf32>", "dimension 0: padded size -1 is negative (low -2, high -2, size 3)", x, v);
        Rejects("pad %arg0, %arg1 {low = [9223372036854775807], high = [1]}", "tensor<3xf32>", "dimension 0: padded size overflows", x, v);
        Rejects("pad %arg0, %arg1 {low = [0], high = [0], interior = [1], mode = edge}", "tensor<3xf32>", "mode edge needs interior padding 0, got 1 in dimension 0", x, v);
        Rejects("pad %arg0, %arg1 {low = [-1], high = [0], mode = symmetric}", "tensor<3xf32>", "mode symmetric needs 'low' >= 0, got -1 in dimension 0", x, v);
        Rejects("pad %arg0, %arg1 {low = [0], high = [3], mode = reflect}", "tensor<3xf32>", "mode reflect needs 'high' < the dimension size 3, got 3 in dimension 0", x, v);
        Rejects("pad %arg0, %arg1 {low = [4], high = [0], mode = symmetric}", "tensor<3xf32>", "mode symmetric needs 'low' <= the dimension size 3, got 4 in dimension 0", x, v);
        Rejects("pad %arg0, %arg1 {low = [1], high = [0], mode = edge}", "tensor<1xf32>", "mode edge cannot extend the empty dimension 0", "tensor<0xf32>", v);
        Rejects("pad %arg0, %arg1 {low = [0], high = [0], mode = wrap}", "tensor<3xf32>", "attribute 'mode' must be one of constant|reflect|symmetric|edge", x, v);
    }

    [Fact]
    public void PadDefaultAttributesAreNotPrinted()
    {
        var m = IrTest.Parse(Text("pad %arg0, %arg1 {low = [1], high = [0], interior = [], mode = constant}", "tensor<4xf32>", ["tensor<3xf32>", "tensor<f32>"]));
        var printed = GraphCompiler.IR.Text.Printer.Print(m, GraphCompiler.IR.Text.PrintOptions.Full);
        Assert.Contains("pad %arg0, %arg1 {high = [0], low = [1]} : tensor<4xf32>", printed);
    }

    // ---- reverse -------------------------------------------------------------------------------

    [Fact]
    public void ReverseValues()
    {
        IrTest.AssertTensor(T.I64([4], 4, 3, 2, 1), Run("reverse %arg0 {dims = [0]}", "tensor<4xi64>", T.I64([4], 1, 2, 3, 4)));
        var m = T.F32([2, 3], 1, 2, 3, 4, 5, 6);
        IrTest.AssertTensor(T.F32([2, 3], 3, 2, 1, 6, 5, 4), Run("reverse %arg0 {dims = [1]}", "tensor<2x3xf32>", m));
        IrTest.AssertTensor(T.F32([2, 3], 4, 5, 6, 1, 2, 3), Run("reverse %arg0 {dims = [0]}", "tensor<2x3xf32>", m));
        IrTest.AssertTensor(T.F32([2, 3], 6, 5, 4, 3, 2, 1), Run("reverse %arg0 {dims = [1, 0]}", "tensor<2x3xf32>", m));
        IrTest.AssertTensor(m, Run("reverse %arg0 {dims = []}", "tensor<2x3xf32>", m));
    }

    [Fact]
    public void ReverseBoolEmptyAndRankZero()
    {
        IrTest.AssertTensor(T.Bool([3], false, false, true), Run("reverse %arg0 {dims = [0]}", "tensor<3xbool>", T.Bool([3], true, false, false)));
        IrTest.AssertTensor(T.I32([0, 2]), Run("reverse %arg0 {dims = [0, 1]}", "tensor<0x2xi32>", T.I32([0, 2])));
        IrTest.AssertTensor(T.F16([], 3), Run("reverse %arg0 {dims = []}", "tensor<f16>", T.F16([], 3)));
    }

    [Fact]
    public void ReverseRejects()
    {
        Rejects("reverse %arg0 {dims = [2]}", "tensor<2x3xf32>", "'dims' entry 2 is out of range for rank 2", "tensor<2x3xf32>");
        Rejects("reverse %arg0 {dims = [1, 1]}", "tensor<2x3xf32>", "'dims' lists dimension 1 twice", "tensor<2x3xf32>");
        Rejects("reverse %arg0 {dims = [0]}", "tensor<3x2xf32>", "differ from the inferred (tensor<2x3xf32>)", "tensor<2x3xf32>");
    }
}
