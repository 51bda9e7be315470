using GraphCompiler.Backends.Cpu;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// The packed GEMM behind f32 dot_general against the reference interpreter: sizes that are not
/// multiples of the micro-tile or of the K block, transposed operands, batches, an empty contraction,
/// constant (compile-time packed) weights, fused epilogues in place and not, and enough work for threads.
/// </summary>
public sealed class CpuGemmTests
{
    private static Tensor Random(TensorType t, int seed)
    {
        var rng = new Random(seed);
        return Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => rng.NextDouble() * 2 - 1)]);
    }

    private static void AssertSame(string text, bool gemm = true, string kernel = "@gc.sgemm.worker", CpuCompileOptions? options = null)
    {
        var m = IrTest.Parse(text);
        var inputs = m.Entry.Arguments.Select((a, i) => Random(a.Type, i + 1)).ToArray();
        var expected = new Interpreter(m).Run(null, inputs).Unwrap().Results;
        var optimised = PassManager.Run(m, PassRegistry.Default).Unwrap();
        var llvm = CpuCompiler.Generate(optimised, options).Unwrap().LlvmIr;
        if (gemm) Assert.Contains(kernel, llvm);
        else if (kernel.Length > 0) Assert.Contains("@gc.parallel(ptr @", llvm);
        using var exe = CpuCompiler.Jit(optimised, options).Unwrap();
        var actual = exe.Run(inputs).Unwrap();
        for (int i = 0; i < expected.Length; i++)
            IrTest.AssertTensor(expected[i], actual[i], rtol: 1e-4, atol: 1e-4);
    }

    /// <summary>
    /// IR lines defining <c>%w</c> of <paramref name="type"/> as (iota along <paramref name="a"/> − iota along
    /// <paramref name="b"/>) · <paramref name="scale"/>: weights that fold to a constant (packed at compile time) with
    /// values that differ across both dimensions.
    /// </summary>
    private static string IotaWeights(string type, int a, int b, double scale) => $$"""
        %i = iota {dimension = {{a}}} : {{type}}
        %j = iota {dimension = {{b}}} : {{type}}
        %s = constant {value = dense<{{scale.ToString(System.Globalization.CultureInfo.InvariantCulture)}}>} : tensor<f32>
        %sb = broadcast_in_dim %s {dims = []} : {{type}}
        %ij = sub %i, %j : {{type}}
        %w = mul %ij, %sb : {{type}}
        """;

    /// <summary>
    /// IR lines defining a constant HWIO kernel <c>%w</c> of <paramref name="type"/> whose values differ along all four
    /// dimensions ((c − o) + kh · kw, times 0.013): a transform or reordering of the window shows in the results.
    /// </summary>
    private static string WindowWeights(string type) => $$"""
        %i = iota {dimension = 2} : {{type}}
        %j = iota {dimension = 3} : {{type}}
        %k = iota {dimension = 0} : {{type}}
        %l = iota {dimension = 1} : {{type}}
        %s = constant {value = dense<0.013>} : tensor<f32>
        %sb = broadcast_in_dim %s {dims = []} : {{type}}
        %ij = sub %i, %j : {{type}}
        %kl = mul %k, %l : {{type}}
        %ijk = add %ij, %kl : {{type}}
        %w = mul %ijk, %sb : {{type}}
        """;

    /// <summary>
    /// IR lines adding <c>%bias</c> along dimension <paramref name="dim"/> of <paramref name="type"/> to
    /// <paramref name="value"/> and clamping at zero into <c>%r</c>: the bias + relu epilogue the GEMM and convolution
    /// kernels fuse.
    /// </summary>
    private static string BiasAndRelu(string type, string value, int dim) => $$"""
        %bb = broadcast_in_dim %bias {dims = [{{dim}}]} : {{type}}
        %y = add {{value}}, %bb : {{type}}
        %z = constant {value = dense<0.0>} : tensor<f32>
        %zb = broadcast_in_dim %z {dims = []} : {{type}}
        %r = max %y, %zb : {{type}}
        """;

    [Theory]
    // M × K · K × N with every remainder: rows past the 12-row tile, columns past 32, K past the 256 block.
    [InlineData(37, 300, 45, false)]
    [InlineData(1, 784, 70, false)]
    // One or two rows against a runtime B: B read in place (gc.sgemv), eight-vector column chunks, the last masked.
    [InlineData(2, 300, 130, false)]
    [InlineData(1, 9, 33, false)]
    [InlineData(1, 2048, 1000, false)]
    [InlineData(13, 5, 1, false)]
    [InlineData(25, 513, 33, true)]
    [InlineData(128, 200, 160, false)]
    [InlineData(96, 64, 300, true)]
    // AVX-512's 24 × 16 tiles up to 128 columns: A read in place over 7 column tiles (the last partial), and packed
    // where its rows lie 2 KiB apart (K = 512) and would evict each other.
    [InlineData(61, 77, 100, false)]
    [InlineData(50, 512, 40, false)]
    // Rows one past a multiple of the tile (a 7 × 7 image's 49, 12 × 32 tiles with A packed): a last tile of one row.
    [InlineData(49, 300, 200, false)]
    [InlineData(73, 40, 150, true)]
    // Work for two threads (over 2 × 16 M multiply-adds): split by rows, then by columns.
    [InlineData(256, 512, 260, false)]
    [InlineData(700, 300, 120, false)]
    [InlineData(40, 1100, 800, true)]
    public void MatmulMatchesTheInterpreter(int m, int k, int n, bool transposedRhs)
    {
        var rhs = transposedRhs ? $"tensor<{n}x{k}xf32>" : $"tensor<{k}x{n}xf32>";
        var contract = transposedRhs ? 1 : 0;
        AssertSame($$"""
            func @main(%a: tensor<{{m}}x{{k}}xf32>, %b: {{rhs}}) -> (tensor<{{m}}x{{n}}xf32>) {
              %c = dot_general %a, %b {lhs_contract = [1], rhs_contract = [{{contract}}]} : tensor<{{m}}x{{n}}xf32>
              return %c
            }
            """, kernel: m <= 2 && !transposedRhs ? "@gc.sgemv." : "@gc.sgemm.worker");
    }

    [Theory]
    // One row of A (a batch-1 dense layer) is its own packed panel: the worker broadcasts it where it lies (worker.Wd)
    // however many column tiles C has, and with K = 512 too, whose 2 KiB rows would alias in L1 were there more of
    // them. Constant (pre-packed) and runtime (transposed) B; K past the block; a last partial column tile; N = 10 in
    // one narrow panel. The AVX2 blocking runs here too; AVX-512's is checked in the generated code.
    [InlineData("x86-64-v3", "8", 784, 70, true)]
    [InlineData("x86-64-v3", "8", 512, 10, true)]
    [InlineData("x86-64-v3", "8", 600, 100, false)]
    [InlineData("x86-64-v4", "16", 512, 300, true)]
    [InlineData("x86-64-v4", "16", 784, 512, false)]
    // A B of over 12 MiB streams from memory: the one-row kernels prefetch it farther ahead (GemmHelpers.MemoryStreamBytes).
    [InlineData("x86-64-v3", "8", 3072, 1030, false)]
    public void OneRowOfAIsReadInPlace(string target, string lanes, int k, int n, bool constantB)
    {
        var text = constantB
            ? $$"""
                func @main(%a: tensor<1x{{k}}xf32>) -> (tensor<1x{{n}}xf32>) {
                {{IotaWeights($"tensor<{k}x{n}xf32>", 0, 1, 0.003)}}
                  %c = dot_general %a, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<1x{{n}}xf32>
                  return %c
                }
                """
            : $$"""
                func @main(%a: tensor<1x{{k}}xf32>, %b: tensor<{{n}}x{{k}}xf32>) -> (tensor<1x{{n}}xf32>) {
                  %c = dot_general %a, %b {lhs_contract = [1], rhs_contract = [1]} : tensor<1x{{n}}xf32>
                  return %c
                }
                """;
        var options = new CpuCompileOptions { Target = GraphCompiler.Backends.Llvm.CpuTarget.Named(target) };
        var optimised = PassManager.Run(IrTest.Parse(text), PassRegistry.Default).Unwrap();
        var llvm = CpuCompiler.Generate(optimised, options).Unwrap().LlvmIr;
        Assert.Matches($@"\(ptr @gc\.sgemm\.worker\.{lanes}(n\d+)?d, ", llvm);
        Assert.DoesNotMatch($@"\(ptr @gc\.sgemm\.worker\.{lanes}(n\d+)?, ", llvm);
        // The worker context's stream distance in floats (Field.StreamAhead): 16 KiB ahead for a B of 12 MiB or more, else 4 KiB.
        Assert.Contains($"store i64 {(k * (long)n * sizeof(float) >= 12L << 20 ? 4096 : 1024)}, ptr", llvm);
        AssertSame(text, options: target == "x86-64-v4" ? null : options);
    }

    [Theory]
    // The AVX2 blocking (x86-64-v3, run on this machine too) reads A in place when C has at most 4 column tiles
    // (worker.8d): rows past the 6-row tile, a last column tile of at most one vector (narrow), K past a block.
    [InlineData(200, 300, 40)]
    [InlineData(37, 513, 20)]
    [InlineData(100, 64, 64)]
    public void Avx2GemmReadsANarrowCsAInPlace(int m, int k, int n)
    {
        var text = $$"""
            func @main(%a: tensor<{{m}}x{{k}}xf32>, %b: tensor<{{k}}x{{n}}xf32>) -> (tensor<{{m}}x{{n}}xf32>) {
              %c = dot_general %a, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<{{m}}x{{n}}xf32>
              return %c
            }
            """;
        var options = new CpuCompileOptions { Target = GraphCompiler.Backends.Llvm.CpuTarget.Named("x86-64-v3") };
        var optimised = PassManager.Run(IrTest.Parse(text), PassRegistry.Default).Unwrap();
        Assert.Contains("(ptr @gc.sgemm.worker.8d, ", CpuCompiler.Generate(optimised, options).Unwrap().LlvmIr);
        AssertSame(text, options: options);
    }

    [Theory]
    // A packed into row panels (packA: whole blocks of k transposed in registers, the rest one by one) at every vector
    // width: AVX-512's 12-row panels, AVX2's 6, SSE's 4; K = 520 is two blocks of 260, 16 · 16 + 4; 37 rows end in a
    // partial panel; the second case's A is a slice, its rows 600 floats apart.
    [InlineData("host", "16", 37, 520, 150)]
    [InlineData("x86-64-v3", "8", 37, 520, 150)]
    [InlineData("x86-64-v2", "4", 37, 520, 150)]
    [InlineData("host", "16", 29, 600, 140)]
    public void PackedAMatchesTheInterpreterAtEveryVectorWidth(string target, string worker, int m, int k, int n)
    {
        var text = k == 520 ? $$"""
            func @main(%a: tensor<{{m}}x{{k}}xf32>, %b: tensor<{{k}}x{{n}}xf32>) -> (tensor<{{m}}x{{n}}xf32>) {
              %c = dot_general %a, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<{{m}}x{{n}}xf32>
              return %c
            }
            """ : $$"""
            func @main(%a: tensor<{{m}}x{{k}}xf32>, %b: tensor<{{k / 2}}x{{n}}xf32>) -> (tensor<{{m}}x{{n}}xf32>) {
              %s = slice %a {start = [0, {{k / 2}}], limit = [{{m}}, {{k}}], stride = [1, 1]} : tensor<{{m}}x{{k / 2}}xf32>
              %c = dot_general %s, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<{{m}}x{{n}}xf32>
              return %c
            }
            """;
        var options = new CpuCompileOptions { Target = GraphCompiler.Backends.Llvm.CpuTarget.Named(target) };
        var optimised = PassManager.Run(IrTest.Parse(text), PassRegistry.Default).Unwrap();
        Assert.Contains($"(ptr @gc.sgemm.worker.{worker}, ", CpuCompiler.Generate(optimised, options).Unwrap().LlvmIr);
        AssertSame(text, options: options);
    }

    [Fact]
    public void BatchedTwoRowProductsReadBInPlace()
    {
        // Batches of 2 × 40 · 40 × 70: the GEMV path with batch strides on A, B and C and a masked last chunk.
        AssertSame("""
            func @main(%a: tensor<3x2x40xf32>, %b: tensor<3x40x70xf32>) -> (tensor<3x2x70xf32>) {
              %c = dot_general %a, %b {lhs_batch = [0], rhs_batch = [0], lhs_contract = [2], rhs_contract = [1]} : tensor<3x2x70xf32>
              return %c
            }
            """, kernel: "@gc.sgemv.");
    }

    [Fact]
    public void TransposedLhsAndBatchesMatchTheInterpreter()
    {
        AssertSame("""
            func @main(%a: tensor<3x29x13xf32>, %b: tensor<3x29x17xf32>) -> (tensor<3x13x17xf32>) {
              %c = dot_general %a, %b {lhs_batch = [0], lhs_contract = [1], rhs_batch = [0], rhs_contract = [1]} : tensor<3x13x17xf32>
              return %c
            }
            """);
    }

    [Fact]
    public void EmptyContractionGivesZeros()
    {
        AssertSame("""
            func @main(%a: tensor<4x0xf32>, %b: tensor<0x5xf32>) -> (tensor<4x5xf32>) {
              %c = dot_general %a, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<4x5xf32>
              return %c
            }
            """);
    }

    [Fact]
    public void ConstantWeightsWithABiasAndReluEpilogue()
    {
        // The weights fold to a constant (packed at compile time); bias + relu run in place on the output.
        AssertSame($$"""
            func @main(%x: tensor<70x300xf32>, %bias: tensor<50xf32>) -> (tensor<70x50xf32>) {
              {{IotaWeights("tensor<300x50xf32>", 0, 1, 0.001)}}
              %d = dot_general %x, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<70x50xf32>
              {{BiasAndRelu("tensor<70x50xf32>", "%d", 1)}}
              return %r
            }
            """);
    }

    [Fact]
    public void ResultUsedTwiceAndTransposedAfterwards()
    {
        AssertSame("""
            func @main(%a: tensor<20x30xf32>, %b: tensor<30x40xf32>) -> (tensor<40x20xf32>, tensor<20x40xf32>) {
              %c = dot_general %a, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<20x40xf32>
              %t = transpose %c {perm = [1, 0]} : tensor<40x20xf32>
              %e = exp %c : tensor<20x40xf32>
              return %t, %e
            }
            """);
    }

    [Theory]
    // NCHW / OIHW: 3×3, padding 1, batch 2, 20 output features.
    [InlineData("tensor<2x5x9x11xf32>", "tensor<20x5x3x3xf32>", "bf01_oi01->bf01", "padding_high = [1, 1], padding_low = [1, 1]", "tensor<2x20x9x11xf32>")]
    // Strided and dilated, uneven padding.
    [InlineData("tensor<1x3x13x12xf32>", "tensor<17x3x3x2xf32>", "bf01_oi01->bf01", "padding_high = [0, 2], padding_low = [2, 1], rhs_dilation = [2, 1], window_strides = [2, 3]", "tensor<1x17x6x5xf32>")]
    // NHWC / HWIO.
    [InlineData("tensor<2x8x7x6xf32>", "tensor<3x3x6x33xf32>", "b01f_01io->b01f", "padding_high = [1, 1], padding_low = [1, 1]", "tensor<2x8x7x33xf32>")]
    // Pointwise (1×1), read straight from the input, both layouts.
    [InlineData("tensor<2x24x5x7xf32>", "tensor<40x24x1x1xf32>", "bf01_oi01->bf01", "", "tensor<2x40x5x7xf32>")]
    [InlineData("tensor<2x5x7x24xf32>", "tensor<1x1x24x40xf32>", "b01f_01io->b01f", "", "tensor<2x5x7x40xf32>")]
    // Two groups of 16 output features.
    [InlineData("tensor<1x8x6x6xf32>", "tensor<32x4x3x3xf32>", "bf01_oi01->bf01", "feature_group_count = 2", "tensor<1x32x4x4xf32>")]
    // Depthwise NHWC/HWIO (its own kernel): channels a multiple of the vector width and not (vector part + scalar tail),
    // batch 2 and 3, strides, uneven padding, dilation, a 5×5 window larger than a padded border, 3 channels (no vector part).
    [InlineData("tensor<2x9x11x16xf32>", "tensor<3x3x1x16xf32>", "b01f_01io->b01f", "feature_group_count = 16, padding_high = [1, 1], padding_low = [1, 1]", "tensor<2x9x11x16xf32>", ".depthwise")]
    [InlineData("tensor<1x13x12x21xf32>", "tensor<3x3x1x21xf32>", "b01f_01io->b01f", "feature_group_count = 21, padding_high = [0, 2], padding_low = [2, 1], rhs_dilation = [2, 1], window_strides = [2, 3]", "tensor<1x6x5x21xf32>", ".depthwise")]
    [InlineData("tensor<1x4x3x5xf32>", "tensor<5x5x1x5xf32>", "b01f_01io->b01f", "feature_group_count = 5, padding_high = [2, 2], padding_low = [2, 2]", "tensor<1x4x3x5xf32>", ".depthwise")]
    // 83 channels: blocks of four vectors, single vectors and a scalar tail, on AVX2 and AVX-512 alike.
    [InlineData("tensor<1x6x5x83xf32>", "tensor<3x3x1x83xf32>", "b01f_01io->b01f", "feature_group_count = 83, padding_high = [1, 1], padding_low = [1, 1]", "tensor<1x6x5x83xf32>", ".depthwise")]
    [InlineData("tensor<3x7x7x3xf32>", "tensor<3x3x1x3xf32>", "b01f_01io->b01f", "feature_group_count = 3, window_strides = [2, 2]", "tensor<3x3x3x3xf32>", ".depthwise")]
    // Rows wide enough for groups of four positions inside the image, with single positions before, between and after:
    // 32 channels (two-vector blocks), 144 (4 + 4 + 1 vectors), 83 (4 + 1 + 3 floats); stride 2 and dilation 2.
    [InlineData("tensor<1x5x19x32xf32>", "tensor<3x3x1x32xf32>", "b01f_01io->b01f", "feature_group_count = 32, padding_high = [1, 1], padding_low = [1, 1]", "tensor<1x5x19x32xf32>", ".depthwise")]
    [InlineData("tensor<2x6x23x144xf32>", "tensor<3x3x1x144xf32>", "b01f_01io->b01f", "feature_group_count = 144, padding_high = [1, 1], padding_low = [1, 1], window_strides = [2, 2]", "tensor<2x3x12x144xf32>", ".depthwise")]
    [InlineData("tensor<1x7x26x83xf32>", "tensor<3x3x1x83xf32>", "b01f_01io->b01f", "feature_group_count = 83, padding_high = [2, 2], padding_low = [2, 2], rhs_dilation = [2, 2]", "tensor<1x7x26x83xf32>", ".depthwise")]
    // Depthwise NCHW: the layout pass makes it NHWC, so it takes the depthwise kernel too.
    [InlineData("tensor<1x6x7x7xf32>", "tensor<6x1x3x3xf32>", "bf01_oi01->bf01", "feature_group_count = 6, padding_high = [1, 1], padding_low = [1, 1]", "tensor<1x6x7x7xf32>", ".depthwise")]
    // Channel multiplier 2: the direct loops.
    [InlineData("tensor<1x7x7x6xf32>", "tensor<3x3x1x12xf32>", "b01f_01io->b01f", "feature_group_count = 6", "tensor<1x5x5x12xf32>", "direct")]
    public void ConvolutionAsGemmMatchesTheInterpreter(string x, string w, string dims, string attrs, string result, string kernel = "@gc.sgemm.worker")
    {
        var extra = attrs.Length > 0 ? ", " + attrs : "";
        var text = $$"""
            func @main(%x: {{x}}, %w: {{w}}) -> ({{result}}) {
              %y = convolution %x, %w {dims = "{{dims}}"{{extra}}} : {{result}}
              return %y
            }
            """;
        if (kernel == "direct")
        {
            var llvm = CpuCompiler.Generate(PassManager.Run(IrTest.Parse(text), PassRegistry.Default).Unwrap()).Unwrap().LlvmIr;
            Assert.DoesNotContain(".depthwise", llvm);
            Assert.DoesNotContain("@gc.sgemm.worker", llvm);
            AssertSame(text, gemm: false, kernel: "");
        }
        else AssertSame(text, kernel: kernel);
    }

    [Theory]
    // Stride-1 NHWC convolutions with constant kernels that PlanImplicit gives to the implicit GEMM (padded input,
    // one K segment per kernel row, wide rows cropped). Odd sizes, asymmetric and one-sided padding, batches,
    // KH ≠ KW, 7×7, a segment longer than the K block (KW·C = 300 > 256), and more than 4 column tiles (packed A).
    [InlineData("tensor<1x9x11x5xf32>", "tensor<3x3x5x7xf32>", "padding_high = [1, 1], padding_low = [1, 1]", "tensor<1x9x11x7xf32>")]
    [InlineData("tensor<2x10x9x64xf32>", "tensor<3x3x64x16xf32>", "padding_high = [1, 1], padding_low = [1, 1]", "tensor<2x10x9x16xf32>")]
    [InlineData("tensor<1x12x13x32xf32>", "tensor<5x3x32x9xf32>", "padding_high = [1, 0], padding_low = [3, 2]", "tensor<1x12x13x9xf32>")]
    [InlineData("tensor<1x20x20x100xf32>", "tensor<3x3x100x33xf32>", "padding_high = [0, 0], padding_low = [0, 0]", "tensor<1x18x18x33xf32>")]
    [InlineData("tensor<1x30x30x64xf32>", "tensor<3x3x64x80xf32>", "padding_high = [1, 1], padding_low = [1, 1]", "tensor<1x30x30x80xf32>")]
    [InlineData("tensor<2x20x24x32xf32>", "tensor<7x7x32x8xf32>", "padding_high = [3, 3], padding_low = [3, 3]", "tensor<2x20x24x8xf32>")]
    public void ImplicitGemmConvolutionMatchesTheInterpreter(string x, string w, string attrs, string result)
    {
        var text = $$"""
            func @main(%x: {{x}}) -> ({{result}}) {
              {{WindowWeights(w)}}
              %y = convolution %x, %w {dims = "b01f_01io->b01f", {{attrs}}} : {{result}}
              return %y
            }
            """;
        var options = new CpuCompileOptions { Convolution = ConvolutionAlgorithm.Gemm };
        var llvm = CpuCompiler.Generate(PassManager.Run(IrTest.Parse(text), PassRegistry.Default).Unwrap(), options).Unwrap().LlvmIr;
        Assert.Contains("crop", llvm);
        Assert.DoesNotContain(".im2col", llvm);
        AssertSame(text, options: options);
    }

    [Theory]
    // 3×3 stride-1 NHWC convolutions by Winograd F(2×2, 3×3) and F(4×4, 3×3): output sizes that leave partial last
    // tiles (9×11, 7×5, 1×1), channel counts with a scalar remainder (5, 13), one-sided and no padding, a batch,
    // K past the 256 block (300 channels) and many column tiles (80 outputs).
    [InlineData("tensor<1x9x11x5xf32>", "padding_high = [1, 1], padding_low = [1, 1]", "tensor<1x9x11x7xf32>")]
    [InlineData("tensor<2x10x9x64xf32>", "padding_high = [0, 1], padding_low = [1, 0]", "tensor<2x9x8x16xf32>")]
    [InlineData("tensor<1x9x7x13xf32>", "padding_high = [0, 0], padding_low = [0, 0]", "tensor<1x7x5x24xf32>")]
    [InlineData("tensor<1x3x3x32xf32>", "padding_high = [0, 0], padding_low = [0, 0]", "tensor<1x1x1x9xf32>")]
    [InlineData("tensor<1x14x14x300xf32>", "padding_high = [1, 1], padding_low = [1, 1]", "tensor<1x14x14x80xf32>")]
    [InlineData("tensor<3x8x8x16xf32>", "padding_high = [1, 1], padding_low = [1, 1]", "tensor<3x8x8x40xf32>")]
    public void WinogradConvolutionMatchesTheInterpreter(string x, string attrs, string result)
    {
        long cin = long.Parse(x.Split('x')[^2]), cout = long.Parse(result.Split('x')[^2]);
        var w = $"tensor<3x3x{cin}x{cout}xf32>";
        var text = $$"""
            func @main(%x: {{x}}) -> ({{result}}) {
              {{WindowWeights(w)}}
              %y = convolution %x, %w {dims = "b01f_01io->b01f", {{attrs}}} : {{result}}
              return %y
            }
            """;
        var m = IrTest.Parse(text);
        var input = Random(m.Entry.Arguments[0].Type, 1);
        var expected = new Interpreter(m).Run(null, [input]).Unwrap().Results[0];
        var optimised = PassManager.Run(m, PassRegistry.Default).Unwrap();
        double scale = Enumerable.Range(0, (int)expected.ElementCount).Max(i => Math.Abs(expected.GetDouble(i)));
        foreach (var algorithm in new[] { ConvolutionAlgorithm.Winograd2x2, ConvolutionAlgorithm.Winograd4x4 })
        {
            var options = new CpuCompileOptions { Convolution = algorithm };
            var llvm = CpuCompiler.Generate(optimised, options).Unwrap().LlvmIr;
            Assert.Contains("wino.in", llvm);
            Assert.Contains("wino.out", llvm);
            using var exe = CpuCompiler.Jit(optimised, options).Unwrap();
            var actual = exe.Run([input]).Unwrap()[0];
            Assert.Equal(expected.Type, actual.Type);
            double worst = Enumerable.Range(0, (int)expected.ElementCount).Max(i => Math.Abs(expected.GetDouble(i) - actual.GetDouble(i)));
            // The transforms add and scale before the GEMM sums, so the rounding error follows the output's scale, not each element's.
            double tolerance = algorithm == ConvolutionAlgorithm.Winograd2x2 ? Winograd2x2Tolerance : Winograd4x4Tolerance;
            Assert.True(worst <= tolerance * scale, $"{algorithm}: largest difference {worst:E3} on a scale of {scale:E3}");
        }
    }

    [Fact]
    public void WinogradConvolutionAppliesItsEpiloguePerTileRow()
    {
        // Bias and relu after a Winograd convolution whose output rows (9) leave a partial last tile row, two images.
        var text = $$"""
            func @main(%x: tensor<2x9x10x24xf32>, %bias: tensor<40xf32>) -> (tensor<2x9x10x40xf32>) {
              {{IotaWeights("tensor<3x3x24x40xf32>", 2, 3, 0.01)}}
              %c = convolution %x, %w {dims = "b01f_01io->b01f", padding_high = [1, 1], padding_low = [1, 1]} : tensor<2x9x10x40xf32>
              {{BiasAndRelu("tensor<2x9x10x40xf32>", "%c", 3)}}
              return %r
            }
            """;
        var m = IrTest.Parse(text);
        var inputs = m.Entry.Arguments.Select((a, i) => Random(a.Type, i + 1)).ToArray();
        var expected = new Interpreter(m).Run(null, inputs).Unwrap().Results[0];
        var optimised = PassManager.Run(m, PassRegistry.Default).Unwrap();
        double scale = Enumerable.Range(0, (int)expected.ElementCount).Max(i => Math.Abs(expected.GetDouble(i)));
        foreach (var (algorithm, tolerance) in new[] { (ConvolutionAlgorithm.Winograd2x2, Winograd2x2Tolerance), (ConvolutionAlgorithm.Winograd4x4, Winograd4x4Tolerance) })
        {
            var options = new CpuCompileOptions { Convolution = algorithm };
            var llvm = CpuCompiler.Generate(optimised, options).Unwrap().LlvmIr;
            Assert.Contains("wino.out", llvm);
            Assert.Contains(".epi", llvm);
            using var exe = CpuCompiler.Jit(optimised, options).Unwrap();
            var actual = exe.Run(inputs).Unwrap()[0];
            double worst = Enumerable.Range(0, (int)expected.ElementCount).Max(i => Math.Abs(expected.GetDouble(i) - actual.GetDouble(i)));
            Assert.True(worst <= tolerance * scale, $"{algorithm}: largest difference {worst:E3} on a scale of {scale:E3}");
        }
    }

    // The largest difference from the interpreter a Winograd convolution may have, relative to the largest output:
    // about 3× what these shapes measure (F(2×2, 3×3) up to 7.0e-7; F(4×4, 3×3), whose transforms scale by up to 8,
    // up to 9.4e-6 with 300 channels).
    private const double Winograd2x2Tolerance = 2e-6;
    private const double Winograd4x4Tolerance = 3e-5;

    [Theory]
    // The elementwise epilogue (bias, activation) applied by the GEMM worker to each block of C once its last K
    // block is done: more rows than one MC block (384), K over two blocks, partial column tiles, at 1 and 2 threads
    // (split by rows, then by columns); and an NHWC 1×1 convolution, one GEMM over the batch.
    [InlineData("tensor<1000x300xf32>", "tensor<300x70xf32>", "tensor<1000x70xf32>", 1)]
    [InlineData("tensor<1000x300xf32>", "tensor<300x70xf32>", "tensor<1000x70xf32>", 2)]
    [InlineData("tensor<40x600xf32>", "tensor<600x900xf32>", "tensor<40x900xf32>", 2)]
    public void GemmEpilogueRunsOnEachFinishedBlock(string x, string w, string result, int threads)
    {
        long n = long.Parse(result.Split('x')[^2]);
        var text = $$"""
            func @main(%x: {{x}}, %bias: tensor<{{n}}xf32>) -> ({{result}}) {
              {{IotaWeights(w, 0, 1, 0.0021)}}
              %c = dot_general %x, %w {lhs_contract = [1], rhs_contract = [0]} : {{result}}
              %bb = broadcast_in_dim %bias {dims = [1]} : {{result}}
              %y = add %c, %bb : {{result}}
              %t = tanh %y : {{result}}
              return %t
            }
            """;
        var m = IrTest.Parse(text);
        var inputs = m.Entry.Arguments.Select((a, i) => Random(a.Type, i + 1)).ToArray();
        var expected = new Interpreter(m).Run(null, inputs).Unwrap().Results;
        var optimised = PassManager.Run(m, PassRegistry.Default).Unwrap();
        Assert.Contains(".epi", CpuCompiler.Generate(optimised).Unwrap().LlvmIr);
        using var exe = CpuCompiler.Jit(optimised).Unwrap();
        exe.Threads = threads;
        IrTest.AssertTensor(expected[0], exe.Run(inputs).Unwrap()[0], rtol: 1e-4, atol: 1e-4);
    }

    [Fact]
    public void PointwiseConvolutionWithBiasAndReluIsOneGemmWithItsEpilogue()
    {
        var text = $$"""
            func @main(%x: tensor<2x13x11x40xf32>, %bias: tensor<72xf32>) -> (tensor<2x13x11x72xf32>) {
              {{IotaWeights("tensor<1x1x40x72xf32>", 2, 3, 0.01)}}
              %c = convolution %x, %w {dims = "b01f_01io->b01f"} : tensor<2x13x11x72xf32>
              {{BiasAndRelu("tensor<2x13x11x72xf32>", "%c", 3)}}
              return %r
            }
            """;
        Assert.Contains(".epi", CpuCompiler.Generate(PassManager.Run(IrTest.Parse(text), PassRegistry.Default).Unwrap()).Unwrap().LlvmIr);
        AssertSame(text);
    }

    [Fact]
    public void GroupedPointwiseConvolutionIsOneBatchedGemmWithItsEpilogueOverEveryGroup()
    {
        // ShuffleNet's grouped 1×1 convolutions in NHWC: 3 groups of 8 inputs and 20 outputs (two column tiles, the
        // second partial), batch 2; the groups' Cs lie side by side in the output, and bias, residual and relu run on
        // each finished block of every group.
        var text = $$"""
            func @main(%x: tensor<2x9x7x24xf32>, %bias: tensor<60xf32>, %res: tensor<2x9x7x60xf32>) -> (tensor<2x9x7x60xf32>) {
              {{IotaWeights("tensor<1x1x8x60xf32>", 2, 3, 0.01)}}
              %c = convolution %x, %w {dims = "b01f_01io->b01f", feature_group_count = 3} : tensor<2x9x7x60xf32>
              %bb = broadcast_in_dim %bias {dims = [3]} : tensor<2x9x7x60xf32>
              %y = add %c, %bb : tensor<2x9x7x60xf32>
              %q = add %y, %res : tensor<2x9x7x60xf32>
              %z = constant {value = dense<0.0>} : tensor<f32>
              %zb = broadcast_in_dim %z {dims = []} : tensor<2x9x7x60xf32>
              %r = max %q, %zb : tensor<2x9x7x60xf32>
              return %r
            }
            """;
        var llvm = CpuCompiler.Generate(PassManager.Run(IrTest.Parse(text), PassRegistry.Default).Unwrap()).Unwrap().LlvmIr;
        Assert.Contains(".epi", llvm);
        Assert.Single(llvm.Split('\n'), line => line.Contains("@gc.sgemm.worker") && !line.StartsWith("declare"));
        AssertSame(text);
    }

    [Fact]
    public void ConvolutionWithConstantKernelBiasAndRelu()
    {
        // NHWC with a constant HWIO kernel (packed at compile time) and a fused bias + relu epilogue.
        AssertSame($$"""
            func @main(%x: tensor<1x10x10x8xf32>, %bias: tensor<24xf32>) -> (tensor<1x10x10x24xf32>) {
              {{IotaWeights("tensor<3x3x8x24xf32>", 2, 3, 0.01)}}
              %c = convolution %x, %w {dims = "b01f_01io->b01f", padding_high = [1, 1], padding_low = [1, 1]} : tensor<1x10x10x24xf32>
              {{BiasAndRelu("tensor<1x10x10x24xf32>", "%c", 3)}}
              return %r
            }
            """);
    }

    [Theory]
    // Strided NHWC convolutions with wide windows and constant kernels: the kernel rows stacked per input column, one
    // GEMM batch per output row (48 and 24 positions: whole 24-row tiles), bias + relu on the output. Three channels
    // (copied one by one), ten (one copy per column), uneven padding, batch 2, KH ≠ KW.
    [InlineData("tensor<2x9x95x3xf32>", "tensor<7x7x3x16xf32>", "padding_high = [3, 3], padding_low = [3, 3], window_strides = [2, 2]", "tensor<2x5x48x16xf32>")]
    [InlineData("tensor<1x7x47x10xf32>", "tensor<5x5x10x40xf32>", "padding_high = [1, 2], padding_low = [2, 1], window_strides = [2, 2]", "tensor<1x3x23x40xf32>")]
    [InlineData("tensor<1x11x50x4xf32>", "tensor<3x6x4x20xf32>", "padding_high = [1, 0], padding_low = [1, 2], window_strides = [3, 2]", "tensor<1x4x24x20xf32>")]
    public void StridedConvolutionOverStackedKernelRowsMatchesTheInterpreter(string x, string w, string attrs, string result)
    {
        var cout = w.Split('x')[3]; // tensor<KH x KW x C x COUT x f32>
        AssertSame($$"""
            func @main(%x: {{x}}, %bias: tensor<{{cout}}xf32>) -> ({{result}}) {
              {{WindowWeights(w)}}
              %c = convolution %x, %w {dims = "b01f_01io->b01f", {{attrs}}} : {{result}}
              {{BiasAndRelu(result, "%c", 3)}}
              return %r
            }
            """, kernel: ".stack");
    }

    [Theory]
    // The stacked rows and the depthwise position groups with AVX2's 6-row tiles and 8-float vectors, and SSE's 4 and 4:
    // 48 output positions per row (whole tiles for both), 40 depthwise channels (blocks of 4 vectors and 1, or 2 × 4 + 2).
    [InlineData("x86-64-v3")]
    [InlineData("x86-64-v2")]
    public void StackedRowsAndDepthwiseGroupsMatchTheInterpreterAtNarrowerVectors(string target)
    {
        var options = new CpuCompileOptions { Target = GraphCompiler.Backends.Llvm.CpuTarget.Named(target) };
        AssertSame($$"""
            func @main(%x: tensor<1x6x95x3xf32>) -> (tensor<1x3x48x12xf32>) {
              {{WindowWeights("tensor<7x7x3x12xf32>")}}
              %c = convolution %x, %w {dims = "b01f_01io->b01f", padding_high = [3, 3], padding_low = [3, 3], window_strides = [2, 2]} : tensor<1x3x48x12xf32>
              return %c
            }
            """, kernel: ".stack", options: options);
        AssertSame($$"""
            func @main(%x: tensor<1x5x21x40xf32>) -> (tensor<1x5x21x40xf32>) {
              {{WindowWeights("tensor<3x3x1x40xf32>")}}
              %c = convolution %x, %w {dims = "b01f_01io->b01f", feature_group_count = 40, padding_high = [1, 1], padding_low = [1, 1]} : tensor<1x5x21x40xf32>
              return %c
            }
            """, kernel: ".depthwise", options: options);
    }

    [Theory]
    // DenseNet's pre-activation: batch norm and ReLU of an NCHW value, then a 1 × 1 convolution (NHWC after `layout`), whose
    // GEMM computes its input while packing it (`.packa`). 300 channels (two K blocks), 17 × 25 positions (two MC blocks, a
    // partial last panel), 40 outputs (a partial column tile); then enough work for two threads; then AVX2 and SSE tiles.
    [InlineData(300, 17, 25, 40, null)]
    [InlineData(256, 60, 60, 100, null)]
    [InlineData(70, 9, 13, 20, "x86-64-v3")]
    [InlineData(70, 9, 13, 20, "x86-64-v2")]
    public void PointwiseConvolutionOfAComputedNchwInputMatchesTheInterpreter(int c, int h, int w, int o, string? target)
    {
        var (x, y) = ($"tensor<1x{c}x{h}x{w}xf32>", $"tensor<1x{o}x{h}x{w}xf32>");
        var options = target is null ? null : new CpuCompileOptions { Target = GraphCompiler.Backends.Llvm.CpuTarget.Named(target) };
        AssertSame($$"""
            func @main(%x: {{x}}, %mean: tensor<{{c}}xf32>, %scale: tensor<{{c}}xf32>, %bias: tensor<{{o}}xf32>) -> ({{y}}) {
              %meanb = broadcast_in_dim %mean {dims = [1]} : {{x}}
              %scaleb = broadcast_in_dim %scale {dims = [1]} : {{x}}
              %d = sub %x, %meanb : {{x}}
              %n = mul %d, %scaleb : {{x}}
              %z0 = constant {value = dense<0.0>} : tensor<f32>
              %z0b = broadcast_in_dim %z0 {dims = []} : {{x}}
              %a = max %n, %z0b : {{x}}
              {{WindowWeights($"tensor<{o}x{c}x1x1xf32>")}}
              %c = convolution %a, %w {dims = "bf01_oi01->bf01"} : {{y}}
              {{BiasAndRelu(y, "%c", 1)}}
              return %r
            }
            """, kernel: ".packa", options: options);
    }

    [Fact]
    public void PointwiseConvolutionOfAComputedNchwInputWithARuntimeKernelMatchesTheInterpreter()
    {
        // The same fusion with the kernel an argument (a training step's weights): no packing prologue, so the kernel
        // computes its input into scratch first, with the blocked transpose (`.nhwc`).
        AssertSame("""
            func @main(%x: tensor<1x40x9x13xf32>, %mean: tensor<40xf32>, %w: tensor<24x40x1x1xf32>) -> (tensor<1x24x9x13xf32>) {
              %meanb = broadcast_in_dim %mean {dims = [1]} : tensor<1x40x9x13xf32>
              %d = sub %x, %meanb : tensor<1x40x9x13xf32>
              %z = constant {value = dense<0.0>} : tensor<f32>
              %zb = broadcast_in_dim %z {dims = []} : tensor<1x40x9x13xf32>
              %a = max %d, %zb : tensor<1x40x9x13xf32>
              %c = convolution %a, %w {dims = "bf01_oi01->bf01"} : tensor<1x24x9x13xf32>
              return %c
            }
            """, kernel: ".nhwc");
    }

    [Fact]
    public void DepthwiseConvolutionWithConstantKernelAndRelu6Epilogue()
    {
        // MobileNet's depthwise layer after the layout pass: NHWC, a constant HWIO kernel, bias and Relu6 fused, rows split over threads.
        AssertSame($$"""
            func @main(%x: tensor<1x40x40x36xf32>, %bias: tensor<36xf32>) -> (tensor<1x20x20x36xf32>) {
              {{IotaWeights("tensor<3x3x1x36xf32>", 0, 3, 0.05)}}
              %c = convolution %x, %w {dims = "b01f_01io->b01f", feature_group_count = 36, padding_high = [1, 1], padding_low = [0, 0], window_strides = [2, 2]} : tensor<1x20x20x36xf32>
              %bb = broadcast_in_dim %bias {dims = [3]} : tensor<1x20x20x36xf32>
              %y = add %c, %bb : tensor<1x20x20x36xf32>
              %z = constant {value = dense<0.0>} : tensor<f32>
              %zb = broadcast_in_dim %z {dims = []} : tensor<1x20x20x36xf32>
              %six = constant {value = dense<6.0>} : tensor<f32>
              %sixb = broadcast_in_dim %six {dims = []} : tensor<1x20x20x36xf32>
              %lo = max %y, %zb : tensor<1x20x20x36xf32>
              %r = min %lo, %sixb : tensor<1x20x20x36xf32>
              return %r
            }
            """, kernel: ".depthwise");
    }

    [Fact]
    public void ConvolutionBiasReluAndPoolingSplitOverThreads()
    {
        // The benchmark CNN's first layer with weights as arguments: convolution as GEMM, then the fused
        // bias + ReLU and the pooling, each split over threads.
        AssertSame("""
            func @main(%x: tensor<8x3x32x32xf32>, %w: tensor<16x3x3x3xf32>, %b: tensor<1x16x1x1xf32>) -> (tensor<8x16x16x16xf32>) {
              %c = convolution %x, %w {dims = "bf01_oi01->bf01", padding_high = [1, 1], padding_low = [1, 1], rhs_dilation = [1, 1], window_strides = [1, 1]} : tensor<8x16x32x32xf32>
              %bb = broadcast_in_dim %b {dims = [0, 1, 2, 3]} : tensor<8x16x32x32xf32>
              %y = add %c, %bb : tensor<8x16x32x32xf32>
              %z = constant {value = dense<0.0>} : tensor<f32>
              %zb = broadcast_in_dim %z {dims = []} : tensor<8x16x32x32xf32>
              %r = max %y, %zb : tensor<8x16x32x32xf32>
              %p = reduce_window %r {kind = max, padding_high = [0, 0, 0, 0], padding_low = [0, 0, 0, 0], strides = [1, 1, 2, 2], window = [1, 1, 2, 2], window_dilation = [1, 1, 1, 1]} : tensor<8x16x16x16xf32>
              return %p
            }
            """);
    }

    [Fact]
    public void LargeElementwiseLoopSplitOverThreads()
    {
        // 4 M elements × 9 ops: enough work that the output loop is split over threads (outer dimension 64).
        AssertSame("""
            func @main(%x: tensor<64x65536xf32>, %y: tensor<64x65536xf32>) -> (tensor<64x65536xf32>) {
              %a = mul %x, %y : tensor<64x65536xf32>
              %b = tanh %a : tensor<64x65536xf32>
              %c = exp %b : tensor<64x65536xf32>
              %d = logistic %c : tensor<64x65536xf32>
              %e = sub %d, %x : tensor<64x65536xf32>
              %f = abs %e : tensor<64x65536xf32>
              %g = sqrt %f : tensor<64x65536xf32>
              %h = add %g, %y : tensor<64x65536xf32>
              %i = max %h, %a : tensor<64x65536xf32>
              return %i
            }
            """, gemm: false);
    }

    [Theory]
    [InlineData(1031)]
    [InlineData(300)]
    public void LongInnermostLoopsInterleaveVectors(int n)
    {
        // tanh → logistic → exp → sqrt per element: the loop vectoriser is asked to interleave vectors; odd lengths
        // leave remainders after the interleaved vector loop and after the vector loop.
        var text = $$"""
            func @main(%x: tensor<3x{{n}}xf32>) -> (tensor<3x{{n}}xf32>) {
              %a = tanh %x : tensor<3x{{n}}xf32>
              %b = logistic %a : tensor<3x{{n}}xf32>
              %c = exp %b : tensor<3x{{n}}xf32>
              %d = sqrt %c : tensor<3x{{n}}xf32>
              return %d
            }
            """;
        var llvm = CpuCompiler.Generate(PassManager.Run(IrTest.Parse(text), PassRegistry.Default).Unwrap()).Unwrap().LlvmIr;
        Assert.Contains("llvm.loop.interleave.count", llvm);
        AssertSame(text, gemm: false, kernel: "");
    }
}
