namespace GraphCompiler.Tests.IR;

/// <summary>reduce, reduce_window and arg_reduce: shapes, hand-worked values, verifier errors.</summary>
public sealed class ReductionOpsTests
{
    private static Tensor One(string op, string resultType, params Tensor[] args) => ContractionOpsTests.One(op, resultType, args);

    private static void Rejects(string op, string resultType, string expected, params string[] argTypes) =>
        ContractionOpsTests.Rejects(op, resultType, expected, argTypes);

    private static readonly Tensor M23 = T.F32([2, 3], 1, 2, 3, 4, 5, 6);

    // ---- reduce -----------------------------------------------------------------------------------

    [Fact]
    public void ReduceSumShapesAndValues()
    {
        IrTest.AssertTensor(T.F32([2], 6, 15), One("reduce %arg0 {dims = [1], kind = sum}", "tensor<2xf32>", M23));
        IrTest.AssertTensor(T.F32([3], 5, 7, 9), One("reduce %arg0 {dims = [0], kind = sum}", "tensor<3xf32>", M23));
        IrTest.AssertTensor(T.F32([], 21), One("reduce %arg0 {dims = [1, 0], kind = sum}", "tensor<f32>", M23));
        // Middle dimension of a 2x2x2: kept dims stay in order.
        IrTest.AssertTensor(T.I32([2, 2], 4, 6, 12, 14),
            One("reduce %arg0 {dims = [1], kind = sum}", "tensor<2x2xi32>", T.I32([2, 2, 2], 1, 2, 3, 4, 5, 6, 7, 8)));
    }

    [Fact]
    public void ReduceEmptyDimsCopies()
    {
        var r = One("reduce %arg0 {dims = [], kind = sum}", "tensor<3xf32>", T.F32([3], -0.0, 1.5, double.NaN));
        Assert.True(double.IsNegative(r.GetDouble(0)), "-0 must stay -0");
        IrTest.AssertTensor(T.F32([3], 0, 1.5, double.NaN), r);
        IrTest.AssertTensor(T.F32([], 7), One("reduce %arg0 {dims = [], kind = max}", "tensor<f32>", T.F32(7)));
    }

    [Fact]
    public void ReduceProdMaxMin()
    {
        var x = T.I32([2, 3], 1, 2, 3, 4, 5, 6);
        IrTest.AssertTensor(T.I32([2], 6, 120), One("reduce %arg0 {dims = [1], kind = prod}", "tensor<2xi32>", x));
        IrTest.AssertTensor(T.I32([3], 4, 5, 6), One("reduce %arg0 {dims = [0], kind = max}", "tensor<3xi32>", x));
        IrTest.AssertTensor(T.I32([2], 1, 4), One("reduce %arg0 {dims = [1], kind = min}", "tensor<2xi32>", x));
        IrTest.AssertTensor(T.F16([], -1), One("reduce %arg0 {dims = [0], kind = max}", "tensor<f16>", T.F16([2], -2, -1)));
        IrTest.AssertTensor(T.I8([], -7), One("reduce %arg0 {dims = [0], kind = min}", "tensor<i8>", T.I8([3], 3, -7, 0)));
        // u64 compares unsigned: 2^63 (stored as the bit pattern of long.MinValue) beats 1.
        IrTest.AssertTensor(T.U64([], long.MinValue), One("reduce %arg0 {dims = [0], kind = max}", "tensor<u64>", T.U64([2], 1, long.MinValue)));
        IrTest.AssertTensor(T.U64([], 1), One("reduce %arg0 {dims = [0], kind = min}", "tensor<u64>", T.U64([2], 1, long.MinValue)));
    }

    [Fact]
    public void ReduceMaxMinPropagateNaN()
    {
        var x = T.F32([3], 1, double.NaN, 3);
        IrTest.AssertTensor(T.F32([], double.NaN), One("reduce %arg0 {dims = [0], kind = max}", "tensor<f32>", x));
        IrTest.AssertTensor(T.F32([], double.NaN), One("reduce %arg0 {dims = [0], kind = min}", "tensor<f32>", x));
        IrTest.AssertTensor(T.F32([], double.NaN), One("reduce %arg0 {dims = [0], kind = sum}", "tensor<f32>", x));
    }

    [Fact]
    public void ReduceRoundsOnceAndWraps()
    {
        // f16: 2048 + 1 + 1 = 2050 exactly; f16 step-by-step would stay at 2048.
        IrTest.AssertTensor(T.F16([], 2050), One("reduce %arg0 {dims = [0], kind = sum}", "tensor<f16>", T.F16([3], 2048, 1, 1)));
        // bf16: 256 + 1 + 1 = 258 is a bf16 value (spacing 2 in [256, 512)).
        IrTest.AssertTensor(T.BF16([], 258), One("reduce %arg0 {dims = [0], kind = sum}", "tensor<bf16>", T.BF16([3], 256, 1, 1)));
        // i8: 100 + 100 = 200 wraps to -56; u8 prod 16 * 17 = 272 wraps to 16.
        IrTest.AssertTensor(T.I8([], -56), One("reduce %arg0 {dims = [0], kind = sum}", "tensor<i8>", T.I8([2], 100, 100)));
        IrTest.AssertTensor(T.U8([], 16), One("reduce %arg0 {dims = [0], kind = prod}", "tensor<u8>", T.U8([2], 16, 17)));
    }

    [Fact]
    public void ReduceAndOr()
    {
        var u = T.U8([2], 0b1100, 0b1010);
        IrTest.AssertTensor(T.U8([], 0b1000), One("reduce %arg0 {dims = [0], kind = and}", "tensor<u8>", u));
        IrTest.AssertTensor(T.U8([], 0b1110), One("reduce %arg0 {dims = [0], kind = or}", "tensor<u8>", u));
        var b = T.Bool([2, 2], true, false, true, true);
        IrTest.AssertTensor(T.Bool([2], false, true), One("reduce %arg0 {dims = [1], kind = and}", "tensor<2xbool>", b));
        IrTest.AssertTensor(T.Bool([2], true, false), One("reduce %arg0 {dims = [0], kind = and}", "tensor<2xbool>", b));
        IrTest.AssertTensor(T.Bool([2], true, true), One("reduce %arg0 {dims = [1], kind = or}", "tensor<2xbool>", b));
        // bool max is any, min is all.
        IrTest.AssertTensor(T.Bool([2], true, true), One("reduce %arg0 {dims = [1], kind = max}", "tensor<2xbool>", b));
        IrTest.AssertTensor(T.Bool([2], false, true), One("reduce %arg0 {dims = [1], kind = min}", "tensor<2xbool>", b));
    }

    [Fact]
    public void ReduceEmptyGivesIdentities()
    {
        var f = T.F32([0, 2]);
        IrTest.AssertTensor(T.F32([2], 0, 0), One("reduce %arg0 {dims = [0], kind = sum}", "tensor<2xf32>", f));
        IrTest.AssertTensor(T.F32([2], 1, 1), One("reduce %arg0 {dims = [0], kind = prod}", "tensor<2xf32>", f));
        IrTest.AssertTensor(T.F32([2], double.NegativeInfinity, double.NegativeInfinity), One("reduce %arg0 {dims = [0], kind = max}", "tensor<2xf32>", f));
        IrTest.AssertTensor(T.F32([2], double.PositiveInfinity, double.PositiveInfinity), One("reduce %arg0 {dims = [0], kind = min}", "tensor<2xf32>", f));
        IrTest.AssertTensor(T.I8([], -128), One("reduce %arg0 {dims = [0], kind = max}", "tensor<i8>", T.I8([0])));
        IrTest.AssertTensor(T.I8([], 127), One("reduce %arg0 {dims = [0], kind = min}", "tensor<i8>", T.I8([0])));
        IrTest.AssertTensor(T.I64([], long.MaxValue), One("reduce %arg0 {dims = [0], kind = min}", "tensor<i64>", T.I64([0])));
        IrTest.AssertTensor(T.U8([], 0), One("reduce %arg0 {dims = [0], kind = max}", "tensor<u8>", T.U8([0])));
        IrTest.AssertTensor(T.U8([], 255), One("reduce %arg0 {dims = [0], kind = min}", "tensor<u8>", T.U8([0])));
        IrTest.AssertTensor(T.U32([], 0xFFFFFFFF), One("reduce %arg0 {dims = [0], kind = and}", "tensor<u32>", T.U32([0])));
        IrTest.AssertTensor(T.I32([], -1), One("reduce %arg0 {dims = [0], kind = and}", "tensor<i32>", T.I32([0])));
        IrTest.AssertTensor(T.Bool([], true), One("reduce %arg0 {dims = [0], kind = and}", "tensor<bool>", T.Bool([0])));
        IrTest.AssertTensor(T.Bool([], false), One("reduce %arg0 {dims = [0], kind = or}", "tensor<bool>", T.Bool([0])));
        IrTest.AssertTensor(T.I16([], 1), One("reduce %arg0 {dims = [0], kind = prod}", "tensor<i16>", T.I16([0])));
        // Reducing a non-empty dimension of an empty tensor gives an empty result.
        Assert.Equal(0, One("reduce %arg0 {dims = [1], kind = sum}", "tensor<0xf32>", T.F32([0, 3])).ElementCount);
    }

    [Fact]
    public void ReduceRejects()
    {
        Rejects("reduce %arg0 {dims = [0], kind = sum}", "tensor<bool>", "kind sum needs a numeric (not bool) type, got tensor<2xbool>", "tensor<2xbool>");
        Rejects("reduce %arg0 {dims = [0], kind = prod}", "tensor<bool>", "kind prod needs a numeric (not bool) type", "tensor<2xbool>");
        Rejects("reduce %arg0 {dims = [0], kind = and}", "tensor<f32>", "kind and needs an integer or bool type, got tensor<2xf32>", "tensor<2xf32>");
        Rejects("reduce %arg0 {dims = [0], kind = or}", "tensor<f16>", "kind or needs an integer or bool type", "tensor<2xf16>");
        Rejects("reduce %arg0 {dims = [2], kind = sum}", "tensor<2xf32>", "'dims' entry 2 is out of range for rank 2", "tensor<2x3xf32>");
        Rejects("reduce %arg0 {dims = [1, 1], kind = sum}", "tensor<2xf32>", "'dims' lists dimension 1 twice", "tensor<2x3xf32>");
        Rejects("reduce %arg0 {kind = sum}", "tensor<2xf32>", "missing required attribute 'dims'", "tensor<2x3xf32>");
        Rejects("reduce %arg0 {dims = [1]}", "tensor<2xf32>", "missing required attribute 'kind'", "tensor<2x3xf32>");
        Rejects("reduce %arg0 {dims = [1], kind = mean}", "tensor<2xf32>", "attribute 'kind' must be one of sum|prod|max|min|and|or", "tensor<2x3xf32>");
        Rejects("reduce %arg0 {dims = [1], kind = sum}", "tensor<3xf32>", "differ from the inferred (tensor<2xf32>)", "tensor<2x3xf32>");
    }

    // ---- reduce_window ----------------------------------------------------------------------------

    [Fact]
    public void ReduceWindowMaxPool()
    {
        var x = T.F32([4, 4], [.. Enumerable.Range(1, 16).Select(i => (double)i)]);
        IrTest.AssertTensor(T.F32([2, 2], 6, 8, 14, 16),
            One("reduce_window %arg0 {kind = max, strides = [2, 2], window = [2, 2]}", "tensor<2x2xf32>", x));
        // Stride 1: 3x3 outputs, each the bottom-right of its window.
        IrTest.AssertTensor(T.F32([3, 3], 6, 7, 8, 10, 11, 12, 14, 15, 16),
            One("reduce_window %arg0 {kind = max, window = [2, 2]}", "tensor<3x3xf32>", x));
    }

    [Fact]
    public void ReduceWindowPaddingIsIdentity()
    {
        // Sum: [0,1,2,3,4,0] with window 3 → [3, 6, 9, 7].
        IrTest.AssertTensor(T.F32([4], 3, 6, 9, 7),
            One("reduce_window %arg0 {kind = sum, padding_high = [1], padding_low = [1], window = [3]}", "tensor<4xf32>", T.F32([4], 1, 2, 3, 4)));
        // Max over negatives: padding is -inf, not 0.
        IrTest.AssertTensor(T.F32([2], -5, -3),
            One("reduce_window %arg0 {kind = max, padding_low = [1], window = [2]}", "tensor<2xf32>", T.F32([2], -5, -3)));
        // A window wholly in padding gives the identity (i32 min: the largest i32).
        IrTest.AssertTensor(T.I32([2], 1, int.MaxValue),
            One("reduce_window %arg0 {kind = min, padding_high = [1], window = [1]}", "tensor<2xi32>", T.I32([1], 1)));
        IrTest.AssertTensor(T.F32([2], 5, 1),
            One("reduce_window %arg0 {kind = prod, padding_high = [1], window = [1]}", "tensor<2xf32>", T.F32([1], 5)));
        // Negative padding crops: [2,3,4] with window 2 → [5, 7].
        IrTest.AssertTensor(T.F32([2], 5, 7),
            One("reduce_window %arg0 {kind = sum, padding_low = [-1], window = [2]}", "tensor<2xf32>", T.F32([4], 1, 2, 3, 4)));
    }

    [Fact]
    public void ReduceWindowDilations()
    {
        // Window 2 dilated by 2 spans 3: [1+3, 2+4, 3+5].
        IrTest.AssertTensor(T.F32([3], 4, 6, 8),
            One("reduce_window %arg0 {kind = sum, window = [2], window_dilation = [2]}", "tensor<3xf32>", T.F32([5], 1, 2, 3, 4, 5)));
        // Base dilation 2: [1,_,2,_,3] (holes are the identity), window 2 → [1, 2, 2, 3].
        IrTest.AssertTensor(T.I64([4], 1, 2, 2, 3),
            One("reduce_window %arg0 {base_dilation = [2], kind = sum, window = [2]}", "tensor<4xi64>", T.I64([3], 1, 2, 3)));
        IrTest.AssertTensor(T.I8([4], -1, -2, -2, -3),
            One("reduce_window %arg0 {base_dilation = [2], kind = min, window = [2]}", "tensor<4xi8>", T.I8([3], -1, -2, -3)));
    }

    [Fact]
    public void ReduceWindow2DStridedProd()
    {
        // 2x3 i32, window [1, 2], strides [1, 2]: products of columns (0,1) per row → [1*2, 4*5].
        IrTest.AssertTensor(T.I32([2, 1], 2, 20),
            One("reduce_window %arg0 {kind = prod, strides = [1, 2], window = [1, 2]}", "tensor<2x1xi32>", T.I32([2, 3], 1, 2, 3, 4, 5, 6)));
        // f16 sum of the whole 2x2 rounds once: 2048 + 1 + 1 + 0 = 2050.
        IrTest.AssertTensor(T.F16([1, 1], 2050),
            One("reduce_window %arg0 {kind = sum, window = [2, 2]}", "tensor<1x1xf16>", T.F16([2, 2], 2048, 1, 1, 0)));
    }

    [Fact]
    public void ReduceWindowBoolMaxMin()
    {
        // bool max is any (padding false), min is all (padding true).
        var b = T.Bool([3], false, true, false);
        IrTest.AssertTensor(T.Bool([3], true, true, false),
            One("reduce_window %arg0 {kind = max, padding_high = [1], window = [2]}", "tensor<3xbool>", b));
        IrTest.AssertTensor(T.Bool([3], false, false, false),
            One("reduce_window %arg0 {kind = min, padding_high = [1], window = [2]}", "tensor<3xbool>", b));
        IrTest.AssertTensor(T.Bool([1], true),
            One("reduce_window %arg0 {kind = min, padding_low = [1], window = [2]}", "tensor<1xbool>", T.Bool([1], true)));
    }

    [Fact]
    public void ReduceWindowEmptyAndRank0()
    {
        // Window larger than the input: no outputs.
        Assert.Equal(0, One("reduce_window %arg0 {kind = sum, window = [3]}", "tensor<0xf32>", T.F32([2], 1, 2)).ElementCount);
        // Empty input with padding: every window is padding.
        IrTest.AssertTensor(T.F32([2], double.NegativeInfinity, double.NegativeInfinity),
            One("reduce_window %arg0 {kind = max, padding_high = [2], window = [1]}", "tensor<2xf32>", T.F32([0])));
        // Rank 0: the window is empty and the value is copied.
        IrTest.AssertTensor(T.F32([], 4.5), One("reduce_window %arg0 {kind = sum, window = []}", "tensor<f32>", T.F32(4.5)));
        // Output size floor((5 - 2) / 2) + 1 = 2 with stride 2.
        Assert.Equal(new long[] { 2 }, One("reduce_window %arg0 {kind = sum, strides = [2], window = [2]}", "tensor<2xf32>", T.F32([5], 1, 2, 3, 4, 5)).Type.Shape.ToArray());
    }

    [Fact]
    public void ReduceWindowRejects()
    {
        const string x = "tensor<4x4xf32>";
        Rejects("reduce_window %arg0 {kind = sum, window = [2]}", "tensor<3xf32>", "'window' has 1 entries, expected 2 (one per dimension)", x);
        Rejects("reduce_window %arg0 {kind = sum, window = [2, 0]}", "tensor<3x3xf32>", "'window' entry 1 is 0, must be at least 1", x);
        Rejects("reduce_window %arg0 {kind = sum, strides = [1], window = [2, 2]}", "tensor<3x3xf32>", "'strides' has 1 entries, expected 2 (one per dimension) or none", x);
        Rejects("reduce_window %arg0 {kind = sum, strides = [1, 0], window = [2, 2]}", "tensor<3x3xf32>", "'strides' entry 1 is 0, must be at least 1", x);
        Rejects("reduce_window %arg0 {kind = sum, padding_low = [1, 1, 1], window = [2, 2]}", "tensor<3x3xf32>", "'padding_low' has 3 entries", x);
        Rejects("reduce_window %arg0 {kind = sum, padding_high = [1], window = [2, 2]}", "tensor<3x3xf32>", "'padding_high' has 1 entries", x);
        Rejects("reduce_window %arg0 {kind = sum, window = [2, 2], window_dilation = [0, 1]}", "tensor<3x3xf32>", "'window_dilation' entry 0 is 0", x);
        Rejects("reduce_window %arg0 {base_dilation = [1, -1], kind = sum, window = [2, 2]}", "tensor<3x3xf32>", "'base_dilation' entry 1 is -1", x);
        Rejects("reduce_window %arg0 {kind = sum, padding_high = [0, 9223372036854775807], window = [2, 2]}", "tensor<3x3xf32>", "overflow", x);
        Rejects("reduce_window %arg0 {kind = sum, window = [2]}", "tensor<1xbool>", "kind sum needs a numeric (not bool) type", "tensor<2xbool>");
        Rejects("reduce_window %arg0 {kind = and, window = [2]}", "tensor<1xi32>", "attribute 'kind' must be one of sum|max|min|prod", "tensor<2xi32>");
        Rejects("reduce_window %arg0 {kind = sum}", "tensor<2xf32>", "missing required attribute 'window'", "tensor<2xf32>");
        Rejects("reduce_window %arg0 {kind = sum, window = [2, 2]}", "tensor<2x2xf32>", "differ from the inferred (tensor<3x3xf32>)", x);
    }

    // ---- arg_reduce -------------------------------------------------------------------------------

    [Fact]
    public void ArgReduceBasicsAndTies()
    {
        var x = T.F32([2, 3], 1, 5, 3, 7, 2, 7);
        IrTest.AssertTensor(T.I32([2], 1, 0), One("arg_reduce %arg0 {dimension = 1, kind = max}", "tensor<2xi32>", x));
        IrTest.AssertTensor(T.I32([2], 1, 2), One("arg_reduce %arg0 {dimension = 1, kind = max, tie = last}", "tensor<2xi32>", x));
        IrTest.AssertTensor(T.I64([3], 0, 1, 0), One("arg_reduce %arg0 {dimension = 0, kind = min}", "tensor<3xi64>", x));
        IrTest.AssertTensor(T.U8([2], 0, 1), One("arg_reduce %arg0 {dimension = 1, kind = min}", "tensor<2xu8>", x));
        // Explicit tie = first is the default and is dropped when printed (the round trip checks it).
        IrTest.AssertTensor(T.I32([2], 1, 0), One("arg_reduce %arg0 {dimension = 1, kind = max, tie = first}", "tensor<2xi32>", x));
    }

    [Fact]
    public void ArgReduceNaNIsBothExtremes()
    {
        var x = T.F64([4], 1, double.NaN, 3, double.NaN);
        IrTest.AssertTensor(T.I32([], 1), One("arg_reduce %arg0 {dimension = 0, kind = max}", "tensor<i32>", x));
        IrTest.AssertTensor(T.I32([], 1), One("arg_reduce %arg0 {dimension = 0, kind = min}", "tensor<i32>", x));
        IrTest.AssertTensor(T.I32([], 3), One("arg_reduce %arg0 {dimension = 0, kind = min, tie = last}", "tensor<i32>", x));
        // NaN after the extreme still wins.
        IrTest.AssertTensor(T.I32([], 2), One("arg_reduce %arg0 {dimension = 0, kind = min}", "tensor<i32>", T.F16([3], -9, 0, double.NaN)));
    }

    [Fact]
    public void ArgReduceSignedZerosTie()
    {
        var x = T.F32([2], -0.0, 0.0);
        IrTest.AssertTensor(T.I32([], 0), One("arg_reduce %arg0 {dimension = 0, kind = max}", "tensor<i32>", x));
        IrTest.AssertTensor(T.I32([], 1), One("arg_reduce %arg0 {dimension = 0, kind = max, tie = last}", "tensor<i32>", x));
    }

    [Fact]
    public void ArgReduceIntegerAndBool()
    {
        IrTest.AssertTensor(T.I32([], 0), One("arg_reduce %arg0 {dimension = 0, kind = max}", "tensor<i32>", T.U8([2], 200, 100)));
        IrTest.AssertTensor(T.I32([], 1), One("arg_reduce %arg0 {dimension = 0, kind = min}", "tensor<i32>", T.U8([2], 200, 100)));
        IrTest.AssertTensor(T.I32([], 1), One("arg_reduce %arg0 {dimension = 0, kind = max}", "tensor<i32>", T.I8([2], -1, 1)));
        IrTest.AssertTensor(T.I32([], 0), One("arg_reduce %arg0 {dimension = 0, kind = min}", "tensor<i32>", T.I8([2], -1, 1)));
        IrTest.AssertTensor(T.I16([], 1), One("arg_reduce %arg0 {dimension = 0, kind = min}", "tensor<i16>", T.Bool([3], true, false, false)));
        IrTest.AssertTensor(T.I16([], 2), One("arg_reduce %arg0 {dimension = 0, kind = min, tie = last}", "tensor<i16>", T.Bool([3], true, false, false)));
    }

    [Fact]
    public void ArgReduceMiddleDimensionAndEmpty()
    {
        // x[i, j, k] for 2x3x2; argmax over j.
        var x = T.I32([2, 3, 2], 1, 9, 5, 0, 3, 0, /**/ 0, 0, 0, 4, 8, 4);
        IrTest.AssertTensor(T.I32([2, 2], 1, 0, 2, 1), One("arg_reduce %arg0 {dimension = 1, kind = max}", "tensor<2x2xi32>", x));
        // Another dimension is empty: an empty result.
        Assert.Equal(0, One("arg_reduce %arg0 {dimension = 1, kind = max}", "tensor<0xi32>", T.F32([0, 3])).ElementCount);
        // Index 199 fits u8 (but not i8, see the rejections).
        var big = T.F32([200], [.. Enumerable.Range(0, 200).Select(i => (double)i)]);
        IrTest.AssertTensor(T.U8([], 199), One("arg_reduce %arg0 {dimension = 0, kind = max}", "tensor<u8>", big));
    }

    [Fact]
    public void ArgReduceRejects()
    {
        Rejects("arg_reduce %arg0 {dimension = 2, kind = max}", "tensor<2xi32>", "'dimension' 2 is out of range for tensor<2x3xf32>", "tensor<2x3xf32>");
        Rejects("arg_reduce %arg0 {dimension = -1, kind = max}", "tensor<2xi32>", "'dimension' -1 is out of range", "tensor<2x3xf32>");
        Rejects("arg_reduce %arg0 {dimension = 0, kind = max}", "tensor<i32>", "'dimension' 0 is out of range for tensor<f32>", "tensor<f32>");
        Rejects("arg_reduce %arg0 {dimension = 1, kind = max}", "tensor<2xi32>", "dimension 1 of tensor<2x0xf32> is empty", "tensor<2x0xf32>");
        Rejects("arg_reduce %arg0 {dimension = 1, kind = max}", "tensor<2xf32>", "result element type must be an integer type, got f32", "tensor<2x3xf32>");
        Rejects("arg_reduce %arg0 {dimension = 1, kind = max}", "tensor<2xbool>", "result element type must be an integer type, got bool", "tensor<2x3xf32>");
        Rejects("arg_reduce %arg0 {dimension = 1, kind = max}", "tensor<3xi32>", "result shape [3] differs from the inferred [2]", "tensor<2x3xf32>");
        Rejects("arg_reduce %arg0 {dimension = 0, kind = max}", "tensor<i8>", "index 199 does not fit in i8", "tensor<200xf32>");
        Rejects("arg_reduce %arg0 {dimension = 0, kind = max, tie = middle}", "tensor<i32>", "attribute 'tie' must be one of first|last", "tensor<2xf32>");
        Rejects("arg_reduce %arg0 {kind = max}", "tensor<i32>", "missing required attribute 'dimension'", "tensor<2xf32>");
        Rejects("arg_reduce %arg0 {dimension = 0, kind = sum}", "tensor<i32>", "attribute 'kind' must be one of max|min", "tensor<2xf32>");
    }
}
