using GraphCompiler.Backends.Cpu;
using GraphCompiler.IR.Text;
using GraphCompiler.Passes;
using GraphCompiler.Tests.Passes;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// The CPU backend against the reference interpreter: random graphs and hand-picked ops, compiled with
/// the default pipeline and LLVM, must give the interpreter's results (floats within a few ulps, since
/// compiled code computes f32 in f32 and the interpreter in double).
/// </summary>
public sealed class CpuDifferentialTests
{
    /// <summary>Compiles <paramref name="m"/> with the default pipeline and asserts the interpreter's results; returns them.</summary>
    internal static IReadOnlyList<Tensor> AssertSame(Module m, Tensor[] inputs, string context = "")
    {
        var expected = new Interpreter(m).Run(null, inputs).Unwrap().Results;
        var optimised = PassManager.Run(m, PassRegistry.Default).Unwrap();
        using var exe = CpuCompiler.Jit(optimised).Unwrap();
        var actual = exe.Run(inputs).Unwrap();
        Assert.Equal(expected.Length, actual.Count);
        for (int i = 0; i < expected.Length; i++)
            IrTest.AssertTensor(expected[i], actual[i], rtol: 1e-4, atol: 1e-5);
        _ = context;
        return expected;
    }

    [Fact]
    public void RandomGraphsMatchTheInterpreter()
    {
        for (int seed = 0; seed < 25; seed++)
        {
            var (m, inputs) = new RandomGraphs(seed).Build(30);
            AssertSame(m, [.. inputs], $"seed {seed}\n{Printer.Print(m, PrintOptions.Full)}");
        }
    }

    public static IEnumerable<object[]> Cases() =>
    [
        ["softmax", "tensor<3x7xf32>", """
            %m = reduce %arg0 {dims = [1], kind = max} : tensor<3xf32>
            %mb = broadcast_in_dim %m {dims = [0]} : tensor<3x7xf32>
            %s = sub %arg0, %mb : tensor<3x7xf32>
            %e = exp %s : tensor<3x7xf32>
            %t = reduce %e {dims = [1], kind = sum} : tensor<3xf32>
            %tb = broadcast_in_dim %t {dims = [0]} : tensor<3x7xf32>
            %r = div %e, %tb : tensor<3x7xf32>
            return %r
            """, "tensor<3x7xf32>"],
        ["matmul_odd_sizes", "tensor<5x13xf32>", """
            %w = iota {dimension = 0} : tensor<13x3xf32>
            %r = dot_general %arg0, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<5x3xf32>
            return %r
            """, "tensor<5x3xf32>"],
        ["conv_nchw_strided", "tensor<1x2x7x6xf32>", """
            %k = iota {dimension = 1} : tensor<3x2x3x3xf32>
            %r = convolution %arg0, %k {dims = "bf01_oi01->bf01", padding_high = [1, 0], padding_low = [1, 1], window_strides = [2, 2]} : tensor<1x3x4x3xf32>
            return %r
            """, "tensor<1x3x4x3xf32>"],
        ["integer_division_edge_cases", "tensor<6xi32>", """
            %d = constant {value = dense<[2, 0, -1, 3, -2, 0]>} : tensor<6xi32>
            %q = div %arg0, %d : tensor<6xi32>
            %r = rem %arg0, %d : tensor<6xi32>
            %s = add %q, %r : tensor<6xi32>
            return %s
            """, "tensor<6xi32>"],
        ["pad_reverse_concat", "tensor<2x3xf32>", """
            %z = constant {value = dense<-1.0>} : tensor<f32>
            %p = pad %arg0, %z {high = [1, 2], interior = [1, 0], low = [0, 1]} : tensor<4x6xf32>
            %v = reverse %p {dims = [1]} : tensor<4x6xf32>
            %c = concatenate %v, %p {dimension = 0} : tensor<8x6xf32>
            return %c
            """, "tensor<8x6xf32>"],
        ["argmax_and_pool", "tensor<1x4x4x2xf32>", """
            %w = reduce_window %arg0 {kind = max, padding_high = [0, 1, 1, 0], strides = [1, 2, 2, 1], window = [1, 3, 3, 1]} : tensor<1x2x2x2xf32>
            %a = arg_reduce %w {dimension = 3, kind = max} : tensor<1x2x2xi64>
            %f = convert %a : tensor<1x2x2xf32>
            return %f
            """, "tensor<1x2x2xf32>"],
        // A channel shuffle in NHWC: the loop nest runs over the transposed shape, and the reshapes split and merge runs of dimensions.
        ["channel_shuffle", "tensor<1x5x7x12xf32>", """
            %e = exp %arg0 : tensor<1x5x7x12xf32>
            %r = reshape %e : tensor<35x3x4xf32>
            %t = transpose %r {perm = [0, 2, 1]} : tensor<35x4x3xf32>
            %b = reshape %t : tensor<1x5x7x12xf32>
            %one = constant {value = dense<1.0>} : tensor<1x5x7x12xf32>
            %s = add %b, %one : tensor<1x5x7x12xf32>
            return %s
            """, "tensor<1x5x7x12xf32>"],
        // Reshapes whose dimension runs do not line up ([6, 4] as [4, 2, 3]), with size-1 dimensions on both sides.
        ["reshape_unaligned_runs", "tensor<6x1x4xf32>", """
            %r = reshape %arg0 : tensor<4x2x1x3xf32>
            %t = transpose %r {perm = [3, 1, 2, 0]} : tensor<3x2x1x4xf32>
            %m = reshape %t : tensor<1x6x4xf32>
            %n = neg %m : tensor<1x6x4xf32>
            %b = reshape %n : tensor<2x12xf32>
            return %b
            """, "tensor<2x12xf32>"],
        // Channel concatenations of odd widths, one of a transposed operand: the channel loop is split at 5 and 12.
        ["concat_channels_split_loop", "tensor<2x3x4x5xf32>", """
            %a = slice %arg0 {limit = [2, 3, 4, 5], start = [0, 0, 0, 0], stride = [1, 1, 1, 1]} : tensor<2x3x4x5xf32>
            %k = iota {dimension = 3} : tensor<2x3x4x7xf32>
            %t = transpose %arg0 {perm = [0, 2, 1, 3]} : tensor<2x4x3x5xf32>
            %u = reshape %t : tensor<2x3x4x5xf32>
            %c = concatenate %a, %k, %u {dimension = 3} : tensor<2x3x4x17xf32>
            %z = constant {value = dense<0.0>} : tensor<2x3x4x17xf32>
            %r = max %c, %z : tensor<2x3x4x17xf32>
            %d = concatenate %r, %c {dimension = 0} : tensor<4x3x4x17xf32>
            return %d
            """, "tensor<4x3x4x17xf32>"],
        // More pieces than a loop is split into: the one loop selects per element.
        ["concat_many_operands", "tensor<3x2xf32>", """
            %c = concatenate %arg0, %arg0, %arg0, %arg0, %arg0, %arg0, %arg0, %arg0, %arg0, %arg0, %arg0, %arg0, %arg0, %arg0, %arg0, %arg0, %arg0, %arg0 {dimension = 1} : tensor<3x36xf32>
            %e = exp %c : tensor<3x36xf32>
            return %e
            """, "tensor<3x36xf32>"],
        // At least 16 batches are split whole over threads (Gemm.cs, BatchSplitLeast): odd sizes, a constant B (packed
        // ahead) and a computed one, and a tail of batches that the parts do not share evenly.
        ["matmul_batches_split_whole", "tensor<19x40x64xf32>", """
            %w = iota {dimension = 1} : tensor<19x64x48xf32>
            %p = dot_general %arg0, %w {lhs_batch = [0], rhs_batch = [0], lhs_contract = [2], rhs_contract = [1]} : tensor<19x40x48xf32>
            %t = transpose %arg0 {perm = [0, 2, 1]} : tensor<19x64x40xf32>
            %e = tanh %t : tensor<19x64x40xf32>
            %q = dot_general %p, %p {lhs_batch = [0], rhs_batch = [0], lhs_contract = [1], rhs_contract = [1]} : tensor<19x48x48xf32>
            %r = dot_general %arg0, %e {lhs_batch = [0], rhs_batch = [0], lhs_contract = [2], rhs_contract = [1]} : tensor<19x40x40xf32>
            %s = reshape %r : tensor<19x1600xf32>
            %u = reshape %q : tensor<19x2304xf32>
            %c = concatenate %s, %u {dimension = 1} : tensor<19x3904xf32>
            return %c
            """, "tensor<19x3904xf32>"],
        // NCHW -> NHWC transposes of computed values (TransposedStore.cs): a batch-norm-like chain with per-channel
        // parameters, 2 images, channels and positions past whole 16 x 16 blocks (37 = 2 * 16 + 5, 3 * 21 = 3 * 16 + 15);
        // 7 x 7 images (49 positions); and a plain transpose of an input, large enough for threads.
        ["nchw_to_nhwc_blocks_and_tails", "tensor<2x37x3x21xf32>", """
            %c = iota {dimension = 1} : tensor<2x37x3x21xf32>
            %s = constant {value = dense<0.125>} : tensor<f32>
            %sb = broadcast_in_dim %s {dims = []} : tensor<2x37x3x21xf32>
            %k = mul %c, %sb : tensor<2x37x3x21xf32>
            %m = mul %arg0, %k : tensor<2x37x3x21xf32>
            %a = add %m, %k : tensor<2x37x3x21xf32>
            %z = constant {value = dense<0.0>} : tensor<2x37x3x21xf32>
            %r = max %a, %z : tensor<2x37x3x21xf32>
            %t = transpose %r {perm = [0, 2, 3, 1]} : tensor<2x3x21x37xf32>
            return %t
            """, "tensor<2x3x21x37xf32>"],
        ["nchw_to_nhwc_small_images", "tensor<3x40x7x7xf32>", """
            %e = exp %arg0 : tensor<3x40x7x7xf32>
            %t = transpose %e {perm = [0, 2, 3, 1]} : tensor<3x7x7x40xf32>
            return %t
            """, "tensor<3x7x7x40xf32>"],
        ["nchw_to_nhwc_threads", "tensor<1x64x40x48xf32>", """
            %t = transpose %arg0 {perm = [0, 2, 3, 1]} : tensor<1x40x48x64xf32>
            return %t
            """, "tensor<1x40x48x64xf32>"],
        // Reductions along memory's rows (ColumnReduce.cs): a global pool of an NHWC tensor seen as NCHW, with its
        // producers fused; a max over the rows of a matrix; a product whose last kept dimension is not memory's last.
        ["reduce_nhwc_pool_through_transpose", "tensor<2x5x3x19xf32>", """
            %z = constant {value = dense<0.0>} : tensor<2x5x3x19xf32>
            %a = add %arg0, %arg0 : tensor<2x5x3x19xf32>
            %r = max %a, %z : tensor<2x5x3x19xf32>
            %t = transpose %r {perm = [0, 3, 1, 2]} : tensor<2x19x5x3xf32>
            %s = reduce %t {dims = [2, 3], kind = sum} : tensor<2x19xf32>
            return %s
            """, "tensor<2x19xf32>"],
        ["reduce_rows_max", "tensor<9x23xf32>", """
            %e = exp %arg0 : tensor<9x23xf32>
            %m = reduce %e {dims = [0], kind = max} : tensor<23xf32>
            return %m
            """, "tensor<23xf32>"],
        ["reduce_transposed_middle_prod", "tensor<3x4x11xf32>", """
            %t = transpose %arg0 {perm = [2, 0, 1]} : tensor<11x3x4xf32>
            %p = reduce %t {dims = [1], kind = prod} : tensor<11x4xf32>
            return %p
            """, "tensor<11x4xf32>"],
        // Large enough for threads: the split loops inside each thread's rows.
        ["concat_channels_threads", "tensor<1x64x64x24xf32>", """
            %a = slice %arg0 {limit = [1, 64, 64, 16], start = [0, 0, 0, 0], stride = [1, 1, 1, 1]} : tensor<1x64x64x16xf32>
            %b = slice %arg0 {limit = [1, 64, 64, 24], start = [0, 0, 0, 8], stride = [1, 1, 1, 1]} : tensor<1x64x64x16xf32>
            %n = neg %b : tensor<1x64x64x16xf32>
            %c = concatenate %a, %n, %arg0 {dimension = 3} : tensor<1x64x64x56xf32>
            %r = reshape %c : tensor<1x64x64x2x28xf32>
            %t = transpose %r {perm = [0, 1, 2, 4, 3]} : tensor<1x64x64x28x2xf32>
            %o = reshape %t : tensor<1x64x64x56xf32>
            return %o
            """, "tensor<1x64x64x56xf32>"],
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void OpsMatchTheInterpreter(string name, string inputType, string body, string resultType)
    {
        var m = IrTest.Parse($"func @main(%arg0: {inputType}) -> ({resultType}) {{\n{body}\n}}\n");
        var t = m.Entry.Arguments[0].Type;
        var rng = new Random(name.Length);
        var input = t.Element.IsFloat()
            ? Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => Math.Round(rng.NextDouble() * 8 - 4, 2))])
            : Tensor.FromInt64s(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => (long)rng.Next(-9, 10))]);
        AssertSame(m, [input], name);
    }
}
