namespace GraphCompiler.Tests.IR;

/// <summary>dot_general and convolution: shapes, hand-worked values, verifier errors.</summary>
public sealed class ContractionOpsTests
{
    /// <summary>Runs one op on the function arguments (%arg0, %arg1, ...) and returns its result.</summary>
    internal static Tensor One(string op, string resultType, params Tensor[] args)
    {
        var text = IrTest.Func($"  %0 = {op} : {resultType}\n  return %0", resultType, [.. args.Select(a => a.Type.ToString())]);
        var r = IrTest.Run(text, args)[0];
        Assert.Equal(resultType, r.Type.ToString());
        return r;
    }

    internal static void Rejects(string op, string resultType, string expected, params string[] argTypes) =>
        IrTest.Rejects(IrTest.Func($"  %0 = {op} : {resultType}\n  return %0", resultType, argTypes), expected);

    private const string Matmul = "dot_general %arg0, %arg1 {lhs_contract = [1], rhs_contract = [0]}";

    // ---- dot_general ------------------------------------------------------------------------------

    [Fact]
    public void DotGeneralMatmul()
    {
        var r = One(Matmul, "tensor<2x2xf32>", T.F32([2, 3], 1, 2, 3, 4, 5, 6), T.F32([3, 2], 7, 8, 9, 10, 11, 12));
        IrTest.AssertTensor(T.F32([2, 2], 58, 64, 139, 154), r);
    }

    [Fact]
    public void DotGeneralBatchMatmul()
    {
        var r = One("dot_general %arg0, %arg1 {lhs_batch = [0], rhs_batch = [0], lhs_contract = [2], rhs_contract = [1]}",
            "tensor<2x1x1xf64>", T.F64([2, 1, 2], 1, 2, 3, 4), T.F64([2, 2, 1], 5, 6, 7, 8));
        IrTest.AssertTensor(T.F64([2, 1, 1], 17, 53), r);
    }

    [Fact]
    public void DotGeneralResultOrderIsBatchThenLhsFreeThenRhsFree()
    {
        // lhs[c, f, b] (2x1x3), rhs[c, b] (2x3): result [b, f] = sum_c lhs[c, f, b] * rhs[c, b].
        var r = One("dot_general %arg0, %arg1 {lhs_batch = [2], rhs_batch = [1], lhs_contract = [0], rhs_contract = [0]}",
            "tensor<3x1xf32>", T.F32([2, 1, 3], 1, 2, 3, 4, 5, 6), T.F32([2, 3], 1, 2, 3, 10, 20, 30));
        IrTest.AssertTensor(T.F32([3, 1], 41, 104, 189), r);

        // Free dims: lhs [4, 2] with contract 1 and rhs [2, 5, 3] with contract 0 → [4, 5, 3].
        var shape = One("dot_general %arg0, %arg1 {lhs_contract = [1], rhs_contract = [0]}", "tensor<4x5x3xi32>",
            Tensor.Zeros(new TensorType(ElementType.I32, 4, 2)), Tensor.Zeros(new TensorType(ElementType.I32, 2, 5, 3)));
        Assert.Equal(new long[] { 4, 5, 3 }, shape.Type.Shape.ToArray());
    }

    [Fact]
    public void DotGeneralMultipleContractingDims()
    {
        // lhs [2, 2] · rhs [2, 2] contracting both dims (transposed pairing): sum_ij lhs[i,j]*rhs[j,i].
        var r = One("dot_general %arg0, %arg1 {lhs_contract = [0, 1], rhs_contract = [1, 0]}", "tensor<i64>",
            T.I64([2, 2], 1, 2, 3, 4), T.I64([2, 2], 10, 100, 1000, 10000));
        // 1*10 + 2*1000 + 3*100 + 4*10000
        IrTest.AssertTensor(T.I64([], 42310), r);
    }

    [Fact]
    public void DotGeneralOuterProduct()
    {
        var r = One("dot_general %arg0, %arg1 {lhs_contract = [], rhs_contract = []}", "tensor<2x3xf32>",
            T.F32([2], 1, 2), T.F32([3], 3, 4, 5));
        IrTest.AssertTensor(T.F32([2, 3], 3, 4, 5, 6, 8, 10), r);
    }

    [Fact]
    public void DotGeneralWidensIntegers()
    {
        const string dot = "dot_general %arg0, %arg1 {lhs_contract = [0], rhs_contract = [0]}";
        // 100*100 + 27*2 = 10054 fits i32; in i8 it wraps to 10054 - 39*256 = 70.
        IrTest.AssertTensor(T.I32([], 10054), One(dot, "tensor<i32>", T.I8([2], 100, 27), T.I8([2], 100, 2)));
        IrTest.AssertTensor(T.I8([], 70), One(dot, "tensor<i8>", T.I8([2], 100, 27), T.I8([2], 100, 2)));
        // Unsigned: 200*2 + 200*1 = 600, into u32 and into the wider signed i16.
        IrTest.AssertTensor(T.U32([], 600), One(dot, "tensor<u32>", T.U8([2], 200, 200), T.U8([2], 2, 1)));
        IrTest.AssertTensor(T.I16([], 600), One(dot, "tensor<i16>", T.U8([2], 200, 200), T.U8([2], 2, 1)));
        // Negative products: -3*4 + 2*5 = -2.
        IrTest.AssertTensor(T.I64([], -2), One(dot, "tensor<i64>", T.I16([2], -3, 2), T.I16([2], 4, 5)));
    }

    [Fact]
    public void DotGeneralRoundsFloatsOnce()
    {
        const string dot = "dot_general %arg0, %arg1 {lhs_contract = [0], rhs_contract = [0]}";
        // 2048 + 1 + 1 = 2050 is an f16 value; adding in f16 step by step would give 2048 (2049 ties to even).
        IrTest.AssertTensor(T.F16([], 2050), One(dot, "tensor<f16>", T.F16([3], 2048, 1, 1), T.F16([3], 1, 1, 1)));
        IrTest.AssertTensor(T.F32([], 2050), One(dot, "tensor<f32>", T.F16([3], 2048, 1, 1), T.F16([3], 1, 1, 1)));
        // bf16 → f32: 256 + 1 = 257 (not a bf16 value, exact in f32).
        IrTest.AssertTensor(T.F32([], 257), One(dot, "tensor<f32>", T.BF16([2], 256, 1), T.BF16([2], 1, 1)));
    }

    [Fact]
    public void DotGeneralEmptyTensors()
    {
        // Empty contraction: every element sums nothing.
        IrTest.AssertTensor(T.F32([2, 3], 0, 0, 0, 0, 0, 0),
            One(Matmul, "tensor<2x3xf32>", T.F32([2, 0]), T.F32([0, 3])));
        // Empty result.
        var r = One(Matmul, "tensor<0x2xf32>", T.F32([0, 3]), T.F32([3, 2], 1, 2, 3, 4, 5, 6));
        Assert.Equal(0, r.ElementCount);
        // Rank-0 operands: the outer product of two scalars is their product.
        IrTest.AssertTensor(T.I32([], -12), One("dot_general %arg0, %arg1 {lhs_contract = [], rhs_contract = []}", "tensor<i32>", T.I32(3), T.I32(-4)));
    }

    [Fact]
    public void DotGeneralRejects()
    {
        string[] mm = ["tensor<2x3xf32>", "tensor<3x2xf32>"];
        Rejects("dot_general %arg0, %arg1 {lhs_batch = [0], rhs_batch = [0], lhs_contract = [2], rhs_contract = [1]}", "tensor<2x1x1xf32>",
            "batch dimension #0: lhs dimension 0 has size 2 but rhs dimension 0 has size 3", "tensor<2x1x2xf32>", "tensor<3x2x1xf32>");
        Rejects(Matmul, "tensor<2x2xf32>", "contracting dimension #0: lhs dimension 1 has size 3 but rhs dimension 0 has size 4",
            "tensor<2x3xf32>", "tensor<4x2xf32>");
        Rejects("dot_general %arg0, %arg1 {lhs_contract = [1], rhs_contract = []}", "tensor<2x2xf32>",
            "'lhs_contract' has 1 entries but 'rhs_contract' has 0", mm);
        Rejects("dot_general %arg0, %arg1 {lhs_batch = [0], lhs_contract = [1], rhs_contract = [0]}", "tensor<2x2xf32>",
            "'lhs_batch' has 1 entries but 'rhs_batch' has 0", mm);
        Rejects("dot_general %arg0, %arg1 {lhs_contract = [2], rhs_contract = [0]}", "tensor<2x2xf32>",
            "'lhs_contract' entry 2 is out of range for rank 2", mm);
        Rejects("dot_general %arg0, %arg1 {lhs_contract = [1], rhs_contract = [-1]}", "tensor<2x2xf32>",
            "'rhs_contract' entry -1 is out of range for rank 2", mm);
        Rejects("dot_general %arg0, %arg1 {lhs_contract = [1, 1], rhs_contract = [0, 1]}", "tensor<2x2xf32>",
            "'lhs_contract' lists dimension 1 twice", mm);
        Rejects("dot_general %arg0, %arg1 {lhs_batch = [0], rhs_batch = [0], lhs_contract = [0], rhs_contract = [1]}", "tensor<2xf32>",
            "lhs dimension 0 is in both 'lhs_batch' and 'lhs_contract'", "tensor<2x2xf32>", "tensor<2x2xf32>");
        Rejects("dot_general %arg0, %arg1 {lhs_batch = [5], rhs_batch = [0], lhs_contract = [1], rhs_contract = [1]}", "tensor<2xf32>",
            "'lhs_batch' entry 5 is out of range for rank 2", "tensor<2x2xf32>", "tensor<2x2xf32>");
        Rejects("dot_general %arg0 {lhs_contract = [1], rhs_contract = [0]}", "tensor<2x2xf32>", "takes 2 operand(s), got 1", "tensor<2x3xf32>");
        Rejects("dot_general %arg0, %arg1 {lhs_contract = [1]}", "tensor<2x2xf32>", "missing required attribute 'rhs_contract'", mm);
    }

    [Fact]
    public void DotGeneralRejectsTypes()
    {
        Rejects(Matmul, "tensor<2x2xf32>", "lhs and rhs must have the same element type, got tensor<2x3xf32> and tensor<3x2xf16>",
            "tensor<2x3xf32>", "tensor<3x2xf16>");
        Rejects(Matmul, "tensor<2x2xbool>", "expected a numeric (not bool) type", "tensor<2x3xbool>", "tensor<3x2xbool>");
        Rejects(Matmul, "tensor<2x2xf16>", "result element type f16 must be f32 or a wider float type", "tensor<2x3xf32>", "tensor<3x2xf32>");
        Rejects(Matmul, "tensor<2x2xi32>", "result element type i32 must be f32 or a wider float type", "tensor<2x3xf32>", "tensor<3x2xf32>");
        Rejects(Matmul, "tensor<2x2xbf16>", "result element type bf16 must be f16 or a wider float type", "tensor<2x3xf16>", "tensor<3x2xf16>");
        Rejects(Matmul, "tensor<2x2xu32>", "result element type u32 must be i8 or a wider integer type", "tensor<2x3xi8>", "tensor<3x2xi8>");
        Rejects(Matmul, "tensor<2x2xi8>", "result element type i8 must be u8 or a wider integer type", "tensor<2x3xu8>", "tensor<3x2xu8>");
        Rejects(Matmul, "tensor<2x2xf32>", "result element type f32 must be i32 or a wider integer type", "tensor<2x3xi32>", "tensor<3x2xi32>");
        Rejects(Matmul, "tensor<2x3xf32>", "result shape [2, 3] differs from the inferred [2, 2]", "tensor<2x3xf32>", "tensor<3x2xf32>");
    }

    // ---- convolution ------------------------------------------------------------------------------

    private const string Nhwc = "convolution %arg0, %arg1 {dims = \"b01f_01io->b01f\"";
    private const string Conv1d = "convolution %arg0, %arg1 {dims = \"b0f_0io->b0f\"";

    private static Tensor Conv1D(string attrs, double[] x, double[] k, string resultType)
    {
        var input = T.F32([1, x.Length, 1], x);
        var kernel = T.F32([k.Length, 1, 1], k);
        return One($"{Conv1d}{attrs}}}", resultType, input, kernel);
    }

    [Fact]
    public void ConvNhwcHandComputed()
    {
        // in = [[1,2,3],[4,5,6],[7,8,9]], kernel = [[1,2],[3,4]]: out[y,x] = in[y,x] + 2in[y,x+1] + 3in[y+1,x] + 4in[y+1,x+1].
        var x = T.F32([1, 3, 3, 1], 1, 2, 3, 4, 5, 6, 7, 8, 9);
        var k = T.F32([2, 2, 1, 1], 1, 2, 3, 4);
        IrTest.AssertTensor(T.F32([1, 2, 2, 1], 37, 47, 67, 77), One(Nhwc + "}", "tensor<1x2x2x1xf32>", x, k));

        // The same in integers, i8 operands accumulated into i32.
        var xi = T.I8([1, 3, 3, 1], 1, 2, 3, 4, 5, 6, 7, 8, 9);
        var ki = T.I8([2, 2, 1, 1], 1, 2, 3, 4);
        IrTest.AssertTensor(T.I32([1, 2, 2, 1], 37, 47, 67, 77), One(Nhwc + "}", "tensor<1x2x2x1xi32>", xi, ki));
    }

    [Fact]
    public void ConvNhwcSeveralChannels()
    {
        // 1x1 kernel with 2 input and 3 output channels is a per-pixel matmul: out[p, o] = sum_c in[p, c] * k[c, o].
        var x = T.F32([1, 1, 2, 2], 1, 2, 3, 4);                 // pixels (1,2) and (3,4)
        var k = T.F32([1, 1, 2, 3], 1, 0, 2, 0, 1, 3);           // k[c=0] = (1,0,2), k[c=1] = (0,1,3)
        IrTest.AssertTensor(T.F32([1, 1, 2, 3], 1, 2, 8, 3, 4, 18), One(Nhwc + "}", "tensor<1x1x2x3xf32>", x, k));
    }

    [Fact]
    public void ConvNchw()
    {
        // Input channels [[1,2],[3,4]] and [[5,6],[7,8]]; filter 0 = diag(1,1) on ch0 + all-ones on ch1 → 5 + 26;
        // filter 1 picks ch0[0,1] once and ch1[1,1] twice → 2 + 16.
        var x = T.F32([1, 2, 2, 2], 1, 2, 3, 4, 5, 6, 7, 8);
        var k = T.F32([2, 2, 2, 2], 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 2);
        IrTest.AssertTensor(T.F32([1, 2, 1, 1], 31, 18),
            One("convolution %arg0, %arg1 {dims = \"bf01_oi01->bf01\"}", "tensor<1x2x1x1xf32>", x, k));
    }

    [Fact]
    public void ConvMixedLayoutsShape()
    {
        // Input NCHW 2x3x5x7, kernel HWIO 3x2x3x4, output NHWC: 2 x (5-3+1) x (7-2+1) x 4.
        var r = One("convolution %arg0, %arg1 {dims = \"bf01_01io->b01f\"}", "tensor<2x3x6x4xf32>",
            Tensor.Zeros(new TensorType(ElementType.F32, 2, 3, 5, 7)), Tensor.Zeros(new TensorType(ElementType.F32, 3, 2, 3, 4)));
        Assert.Equal(new long[] { 2, 3, 6, 4 }, r.Type.Shape.ToArray());
    }

    [Fact]
    public void ConvStride2()
    {
        // 4x4 input 1..16, 2x2 ones kernel, stride 2: the four 2x2 block sums.
        var x = T.F32([1, 4, 4, 1], [.. Enumerable.Range(1, 16).Select(i => (double)i)]);
        var k = T.F32([2, 2, 1, 1], 1, 1, 1, 1);
        IrTest.AssertTensor(T.F32([1, 2, 2, 1], 14, 22, 46, 54),
            One(Nhwc + ", window_strides = [2, 2]}", "tensor<1x2x2x1xf32>", x, k));
        // Stride 3 on width 4 with a width-2 window: floor((4 - 2) / 3) + 1 = 1 column.
        IrTest.AssertTensor(T.F32([1, 2, 1, 1], 14, 46),
            One(Nhwc + ", window_strides = [2, 3]}", "tensor<1x2x1x1xf32>", x, k));
    }

    [Fact]
    public void Conv1DAsymmetricAndNegativePadding()
    {
        // [1,2,3] padded to [0,1,2,3,0,0], kernel [1,10]: [10, 21, 32, 3, 0].
        IrTest.AssertTensor(T.F32([1, 5, 1], 10, 21, 32, 3, 0),
            Conv1D(", padding_low = [1], padding_high = [2]", [1, 2, 3], [1, 10], "tensor<1x5x1xf32>"));
        // Negative low padding crops: [2, 3] → 2 + 30.
        IrTest.AssertTensor(T.F32([1, 1, 1], 32),
            Conv1D(", padding_low = [-1]", [1, 2, 3], [1, 10], "tensor<1x1x1xf32>"));
        // Plain 1-D valid convolution.
        IrTest.AssertTensor(T.F32([1, 2, 1], 21, 32), Conv1D("", [1, 2, 3], [1, 10], "tensor<1x2x1xf32>"));
    }

    [Fact]
    public void ConvRhsDilation()
    {
        // Kernel [1,10] dilated by 2 spans 3: out[i] = x[i] + 10 x[i+2].
        IrTest.AssertTensor(T.F32([1, 3, 1], 31, 42, 53),
            Conv1D(", rhs_dilation = [2]", [1, 2, 3, 4, 5], [1, 10], "tensor<1x3x1xf32>"));
    }

    [Fact]
    public void ConvTransposedWithLhsDilation()
    {
        // [1,2,3] dilated by 2 → [1,0,2,0,3], padded by 1 each side → [0,1,0,2,0,3,0], kernel [1,10,100].
        IrTest.AssertTensor(T.F32([1, 5, 1], 10, 201, 20, 302, 30),
            Conv1D(", lhs_dilation = [2], padding_low = [1], padding_high = [1]", [1, 2, 3], [1, 10, 100], "tensor<1x5x1xf32>"));
    }

    [Fact]
    public void ConvDepthwise()
    {
        // Width-3 input with channels (1,10), (2,20), (3,30); per-channel kernels [1,3] (ch0) and [2,4] (ch1).
        var x = T.F32([1, 1, 3, 2], 1, 10, 2, 20, 3, 30);
        var k = T.F32([1, 2, 1, 2], 1, 2, 3, 4);
        IrTest.AssertTensor(T.F32([1, 1, 2, 2], 7, 100, 11, 160),
            One(Nhwc + ", feature_group_count = 2}", "tensor<1x1x2x2xf32>", x, k));
    }

    [Fact]
    public void ConvGrouped()
    {
        // 4 input channels in 2 groups of 2, one output per group: o0 = 1*1 + 2*100, o1 = 3*10 + 4*1000.
        var x = T.F32([1, 1, 4], 1, 2, 3, 4);
        var k = T.F32([1, 2, 2], 1, 10, 100, 1000);
        IrTest.AssertTensor(T.F32([1, 1, 2], 201, 4030), One(Conv1d + ", feature_group_count = 2}", "tensor<1x1x2xf32>", x, k));

        // 2 groups, 2 outputs per group: outputs 0,1 read channels 0,1; outputs 2,3 read channels 2,3.
        var k2 = T.F32([1, 2, 4], 1, 2, 3, 4, 5, 6, 7, 8); // k[i][o]
        // o0 = 1*1 + 2*5 = 11, o1 = 1*2 + 2*6 = 14, o2 = 3*3 + 4*7 = 37, o3 = 3*4 + 4*8 = 44.
        IrTest.AssertTensor(T.F32([1, 1, 4], 11, 14, 37, 44), One(Conv1d + ", feature_group_count = 2}", "tensor<1x1x4xf32>", x, k2));
    }

    [Fact]
    public void ConvBatchGroups()
    {
        // 4 batches of width 2 in 2 batch groups; kernel output feature 0 (weight 10) reads batches 0,1 and
        // feature 1 (weight 100) batches 2,3; output batch n feature o reads input batch 2*o + n.
        var x = T.F32([4, 2, 1], 1, 2, 3, 4, 5, 6, 7, 8);
        var k = T.F32([1, 1, 2], 10, 100);
        IrTest.AssertTensor(T.F32([2, 2, 2], 10, 500, 20, 600, 30, 700, 40, 800),
            One(Conv1d + ", batch_group_count = 2}", "tensor<2x2x2xf32>", x, k));
    }

    [Fact]
    public void Conv3DAndEmpty()
    {
        // 3-D: a 2x2x2 ones kernel over a 2x2x2 input sums it: 1+...+8 = 36.
        var x = T.F64([1, 2, 2, 2, 1], 1, 2, 3, 4, 5, 6, 7, 8);
        var k = T.F64([2, 2, 2, 1, 1], 1, 1, 1, 1, 1, 1, 1, 1);
        IrTest.AssertTensor(T.F64([1, 1, 1, 1, 1], 36),
            One("convolution %arg0, %arg1 {dims = \"b012f_012io->b012f\"}", "tensor<1x1x1x1x1xf64>", x, k));

        // Window larger than the input: no output positions.
        Assert.Equal(0, Conv1D("", [1], [1, 2], "tensor<1x0x1xf32>").ElementCount);
        // No input features: every output sums nothing.
        IrTest.AssertTensor(T.F32([1, 2, 3], 0, 0, 0, 0, 0, 0),
            One(Conv1d + "}", "tensor<1x2x3xf32>", T.F32([1, 2, 0]), T.F32([1, 0, 3])));
        // Empty batch.
        Assert.Equal(0, One(Conv1d + "}", "tensor<0x2x1xf32>", T.F32([0, 2, 1]), T.F32([1, 1, 1], 5)).ElementCount);
    }

    [Fact]
    public void ConvF16ToF32()
    {
        // f16 operands accumulate into f32: 2048*1 + 1*1 = 2049 (not an f16 value).
        IrTest.AssertTensor(T.F32([1, 1, 1], 2049),
            One(Conv1d + "}", "tensor<1x1x1xf32>", T.F16([1, 2, 1], 2048, 1), T.F16([2, 1, 1], 1, 1)));
    }

    [Fact]
    public void ConvRejectsDims()
    {
        string[] t = ["tensor<1x3x1xf32>", "tensor<2x1x1xf32>"];
        Rejects("convolution %arg0, %arg1 {dims = \"b0f_0io\"}", "tensor<1x2x1xf32>", "must have the form input_kernel->output", t);
        Rejects("convolution %arg0, %arg1 {dims = \"b0f0_0io->b0f\"}", "tensor<1x2x1xf32>", "'dims' input labels \"b0f0\": unexpected '0' at position 3", t);
        Rejects("convolution %arg0, %arg1 {dims = \"b0f_0iq->b0f\"}", "tensor<1x2x1xf32>", "'dims' kernel labels \"0iq\": unexpected 'q'", t);
        Rejects("convolution %arg0, %arg1 {dims = \"b0f_0io->b00\"}", "tensor<1x2x1xf32>", "'dims' output labels \"b00\": unexpected '0' at position 2", t);
        Rejects("convolution %arg0, %arg1 {dims = \"b0f_01io->b0f\"}", "tensor<1x2x1xf32>",
            "gives 1, 2 and 1 spatial dimensions to the input, kernel and output; they must agree", t);
        Rejects("convolution %arg0, %arg1 {dims = \"b01f_01io->b01f\"}", "tensor<1x2x1xf32>", "input tensor<1x3x1xf32> must have rank 4", t);
        Rejects("convolution %arg0, %arg1 {dims = \"b0f_0io->b0f\"}", "tensor<1x2x1xf32>", "kernel tensor<2x1x1x1xf32> must have rank 3",
            "tensor<1x3x1xf32>", "tensor<2x1x1x1xf32>");
        Rejects("convolution %arg0, %arg1 {dims = 3}", "tensor<1x2x1xf32>", "attribute 'dims' must be a quoted string, got 3", t);
        Rejects("convolution %arg0, %arg1", "tensor<1x2x1xf32>", "missing required attribute 'dims'", t);
    }

    [Fact]
    public void ConvRejectsWindow()
    {
        string[] t = ["tensor<1x3x1xf32>", "tensor<2x1x1xf32>"];
        Rejects(Conv1d + ", window_strides = [1, 1]}", "tensor<1x2x1xf32>", "'window_strides' has 2 entries, expected 1 (one per spatial dimension) or none", t);
        Rejects(Conv1d + ", window_strides = [0]}", "tensor<1x2x1xf32>", "'window_strides' entry 0 is 0, must be at least 1", t);
        Rejects(Conv1d + ", lhs_dilation = [-1]}", "tensor<1x2x1xf32>", "'lhs_dilation' entry 0 is -1, must be at least 1", t);
        Rejects(Conv1d + ", rhs_dilation = [0]}", "tensor<1x2x1xf32>", "'rhs_dilation' entry 0 is 0, must be at least 1", t);
        Rejects(Conv1d + ", padding_low = [1, 2]}", "tensor<1x2x1xf32>", "'padding_low' has 2 entries, expected 1", t);
        Rejects(Conv1d + ", padding_high = [1, 2]}", "tensor<1x2x1xf32>", "'padding_high' has 2 entries, expected 1", t);
        Rejects(Conv1d + ", padding_high = [9223372036854775807]}", "tensor<1x2x1xf32>", "overflow", t);
        Rejects(Conv1d + "}", "tensor<1x3x1xf32>", "result shape [1, 3, 1] differs from the inferred [1, 2, 1]", t);
        Rejects(Conv1d + "}", "tensor<1x2x1xf16>", "result element type f16 must be f32 or a wider float type", t);
        Rejects(Conv1d + "}", "tensor<1x2x1xf32>", "input and kernel must have the same element type", "tensor<1x3x1xf32>", "tensor<2x1x1xf64>");
    }

    [Fact]
    public void ConvRejectsGroups()
    {
        Rejects(Conv1d + ", feature_group_count = 0}", "tensor<1x2x1xf32>", "'feature_group_count' is 0, must be at least 1",
            "tensor<1x3x1xf32>", "tensor<2x1x1xf32>");
        Rejects(Conv1d + ", batch_group_count = -2}", "tensor<1x2x1xf32>", "'batch_group_count' is -2, must be at least 1",
            "tensor<1x3x1xf32>", "tensor<2x1x1xf32>");
        Rejects(Conv1d + ", feature_group_count = 2, batch_group_count = 2}", "tensor<1x2x2xf32>",
            "'feature_group_count' (2) and 'batch_group_count' (2) cannot both exceed 1", "tensor<2x3x2xf32>", "tensor<2x1x2xf32>");
        Rejects(Conv1d + ", feature_group_count = 2}", "tensor<1x2x2xf32>", "input features (3) must be a multiple of 'feature_group_count' (2)",
            "tensor<1x3x3xf32>", "tensor<2x1x2xf32>");
        Rejects(Conv1d + "}", "tensor<1x2x2xf32>", "kernel input features (2) times 'feature_group_count' (1) must equal the input features (3)",
            "tensor<1x3x3xf32>", "tensor<2x2x2xf32>");
        Rejects(Conv1d + ", feature_group_count = 2}", "tensor<1x2x3xf32>", "kernel output features (3) must be a multiple of 'feature_group_count' (2)",
            "tensor<1x3x4xf32>", "tensor<2x2x3xf32>");
        Rejects(Conv1d + ", batch_group_count = 2}", "tensor<1x2x2xf32>", "input batch (3) must be a multiple of 'batch_group_count' (2)",
            "tensor<3x3x1xf32>", "tensor<2x1x2xf32>");
        Rejects(Conv1d + ", batch_group_count = 2}", "tensor<2x2x3xf32>", "kernel output features (3) must be a multiple of 'batch_group_count' (2)",
            "tensor<4x3x1xf32>", "tensor<2x1x3xf32>");
    }
}
