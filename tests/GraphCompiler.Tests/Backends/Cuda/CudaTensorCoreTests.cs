using GraphCompiler.Backends.Cuda;
using GraphCompiler.IR;
using GraphCompiler.Passes;
using Xunit;
using static GraphCompiler.Tests.Backends.Cuda.CudaEmulatorTests;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// Tensor cores and reduced precision on the emulated driver (<see cref="CudaEmulator"/>; the emulator runs
/// <c>mma.sync</c> warp-collectively from the PTX ISA's fragment tables): GEMMs and implicit-GEMM convolutions in bf16,
/// f16 and TF32 against the interpreter, contractions with several batch or merged free dimensions, and whole models
/// through the driver with <c>--precision</c> (an MLP, the benchmark CNN, a transformer encoder layer).
/// </summary>
[Collection(CudaDriverCollection.Name)]
public sealed class CudaTensorCoreTests
{
    /// <summary>Runs <paramref name="optimised"/> through the driver on the emulated GPU: its one result and the program's PTX.</summary>
    internal static (Tensor Result, string Ptx) RunThroughDriver(GraphCompiler.Compiler driver, Module optimised, Tensor[] inputs)
    {
        // Generated is process-wide and tests of other collections generate PTX in parallel: keep only this flow's programs.
        var ptx = new List<string>();
        Capture.Value = ptx;
        CudaCompiler.Generated += Keep;
        try
        {
            using (CudaEmulator.AsDriver())
            {
                using var exe = driver.Jit(optimised).Unwrap();
                return (exe.Run(inputs).Unwrap()[0], ptx.Single());
            }
        }
        finally
        {
            CudaCompiler.Generated -= Keep;
            Capture.Value = null;
        }
    }

    /// <summary>Where <see cref="RunThroughDriver"/>'s calling flow collects the PTX generated within it.</summary>
    private static readonly AsyncLocal<List<string>?> Capture = new();

    private static void Keep(CudaProgram p) => Capture.Value?.Add(p.Ptx);

    /// <summary>The largest absolute difference over the expected output's largest magnitude: an error at the output's scale.</summary>
    private static double RelativeError(Tensor expected, Tensor actual)
    {
        double scale = Enumerable.Range(0, (int)expected.ElementCount).Max(i => Math.Abs(expected.GetDouble(i)));
        double worst = Enumerable.Range(0, (int)expected.ElementCount).Max(i => Math.Abs(expected.GetDouble(i) - actual.GetDouble(i)));
        return worst / scale;
    }

    /// <summary>C = A·B + bias, ReLU'd; A stored [m, k] or, transposed, [k, m]; B [k, n] or [n, k]; with a leading batch dimension when batch > 0.</summary>
    internal static string Contraction(string element, long batch, long m, long k, long n, bool transposedB, bool transposedA = false)
    {
        string Dims(params long[] d) => string.Join("x", batch > 0 ? d.Prepend(batch) : d);
        int first = batch > 0 ? 1 : 0;
        var (aShape, lhsContract) = transposedA ? (Dims(k, m), first) : (Dims(m, k), first + 1);
        var (bShape, rhsContract) = transposedB ? (Dims(n, k), first + 1) : (Dims(k, n), first);
        var batchAttrs = batch > 0 ? "lhs_batch = [0], rhs_batch = [0], " : "";
        int last = batch > 0 ? 2 : 1;
        return $$"""
            func @main(%a: tensor<{{aShape}}x{{element}}>, %b: tensor<{{bShape}}x{{element}}>, %bias: tensor<{{n}}xf32>) -> (tensor<{{Dims(m, n)}}xf32>) {
              %c = dot_general %a, %b {{{batchAttrs}}lhs_contract = [{{lhsContract}}], rhs_contract = [{{rhsContract}}]} : tensor<{{Dims(m, n)}}xf32>
              %bb = broadcast_in_dim %bias {dims = [{{last}}]} : tensor<{{Dims(m, n)}}xf32>
              %s = add %c, %bb : tensor<{{Dims(m, n)}}xf32>
              %z = constant {value = dense<0.0>} : tensor<f32>
              %zb = broadcast_in_dim %z {dims = []} : tensor<{{Dims(m, n)}}xf32>
              %r = max %s, %zb : tensor<{{Dims(m, n)}}xf32>
              return %r
            }
            """;
    }

    /// <summary>
    /// Attention's contractions, two batch dimensions (batch × heads): scores = Q·Kᵀ (B contracted along its last dimension)
    /// and context = P·V, on the FMA GEMM (f32) and on tensor cores (bf16, f32 result), against the interpreter.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("f32")]
    [InlineData("bf16")]
    public void AttentionContractionsWithTwoBatchDimensionsRunOnTheGpu(string element)
    {
        var placed = PlaceOnGpu($$"""
            func @main(%q: tensor<2x3x20x8x{{element}}>, %k: tensor<2x3x24x8x{{element}}>, %p: tensor<2x3x20x24x{{element}}>, %v: tensor<2x3x24x16x{{element}}>) -> (tensor<2x3x20x24xf32>, tensor<2x3x20x16xf32>) {
              %s = dot_general %q, %k {lhs_batch = [0, 1], rhs_batch = [0, 1], lhs_contract = [3], rhs_contract = [3]} : tensor<2x3x20x24xf32>
              %c = dot_general %p, %v {lhs_batch = [0, 1], rhs_batch = [0, 1], lhs_contract = [3], rhs_contract = [2]} : tensor<2x3x20x16xf32>
              return %s, %c
            }
            """);
        Assert.DoesNotMatch(@"dot_general [^\n]*device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, seed: 11);
        if (element == "bf16") Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(program.Ptx, @"\.entry gc_mma_bf16_").Count);
    }

    /// <summary>
    /// Free dimensions that merge: a [batch, seq, hidden] activation times a weight (M = batch·seq) and a weight with two
    /// output dimensions (heads × head size: N = 4·8), with a bias over the last dimension, FMA and tensor cores.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("f32")]
    [InlineData("f16")]
    public void ContractionsWithMergedFreeDimensionsRunOnTheGpu(string element)
    {
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<3x17x40x{{element}}>, %w: tensor<40x4x8x{{element}}>, %b: tensor<8xf32>) -> (tensor<3x17x4x8xf32>) {
              %y = dot_general %x, %w {lhs_contract = [2], rhs_contract = [0]} : tensor<3x17x4x8xf32>
              %bb = broadcast_in_dim %b {dims = [3]} : tensor<3x17x4x8xf32>
              %r = add %y, %bb : tensor<3x17x4x8xf32>
              return %r
            }
            """);
        Assert.Matches(@"device = gpu[^\n]*\n[^\n]*\n[^\n]*dot_general|dot_general [^\n]*device = gpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, seed: 12);
        Assert.Contains(element == "f16" ? "mma.sync" : "fma.rn.f32", program.Ptx);
    }

    /// <summary>
    /// Tensor-core GEMMs (mma.sync m16n8k16) on bf16 and f16 operands with an f32 result and fused epilogue: sizes that are no
    /// multiple of the 64×64 or 128×128 tiles or of K's 32; each operand with K contiguous (staged [rows][K], ldmatrix) or
    /// its rows contiguous (staged [K][rows], ldmatrix.trans); a batch; the 128×128 tiles (a grid that fills the
    /// multiprocessors, two stages) and the 64×64 ones (three). cp.async copies 16 bytes where the contiguous extent is a
    /// multiple of 8, else the copies are plain loads. Products of 16-bit floats are exact in f32, so only the summation
    /// order differs from the interpreter's.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("bf16", 0, 20, 37, 53, false, false, 132)]
    [InlineData("bf16", 0, 67, 45, 131, true, false, 132)]
    [InlineData("f16", 0, 130, 129, 70, false, false, 132)]
    [InlineData("bf16", 3, 33, 64, 40, false, false, 132)]
    [InlineData("f16", 0, 200, 70, 260, true, false, 2)]
    [InlineData("f16", 0, 96, 64, 136, true, false, 2)]
    [InlineData("bf16", 0, 64, 72, 136, false, true, 132)]
    [InlineData("bf16", 0, 136, 96, 72, true, true, 2)]
    [InlineData("f16", 2, 37, 29, 45, true, true, 132)]
    public void TensorCoreGemmMatchesTheInterpreter(string element, int batch, int m, int k, int n, bool transposedB, bool transposedA, int multiprocessors)
    {
        var options = Options with { Gpu = CudaTarget.Default with { Multiprocessors = multiprocessors } };
        var program = RunAndCompare(PlaceOnGpu(Contraction(element, batch, m, k, n, transposedB, transposedA)), rtol: 1e-4, atol: 1e-4, seed: m + k + n, options: options);
        Assert.Contains($"mma.sync.aligned.m16n8k16.row.col.f32.{element}.{element}.f32", program.Ptx);
        // A stored [k, m] and B stored [k, n] have their rows contiguous: .trans.
        Assert.Contains(!transposedA && transposedB ? "ldmatrix.sync.aligned.m8n8.x4.shared.b16" : "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16", program.Ptx);
        if ((transposedA ? m : k) % 8 == 0 || (transposedB ? k : n) % 8 == 0) Assert.Contains("cp.async.cg.shared.global", program.Ptx);
    }

    /// <summary>
    /// Where N has at most 64 columns (ResNet's first stage, a first layer's 64 features) and the grid still fills the GPU,
    /// 256×64 tiles of 8 warps, where 128×128 ones would multiply zeros in half their columns: grid (1, ⌈M / 256⌉), 256
    /// threads. Sizes off the tile's 256 rows and 64 columns, both operand orientations, a batch, TF32, a convolution; one
    /// more column (65) takes the 128×128 tiles. Each against the interpreter.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("bf16", 0, 300, 70, 64, false, false, "1,2,1")]
    [InlineData("f16", 0, 520, 40, 37, true, true, "1,3,1")]
    [InlineData("bf16", 2, 260, 96, 56, true, false, "1,2,2")]
    [InlineData("tf32", 0, 257, 48, 64, false, true, "1,2,1")]
    [InlineData("bf16", 0, 300, 70, 65, false, false, "1,3,1")]
    [InlineData("conv", 0, 0, 0, 64, false, false, "1,4,1")]
    public void NarrowProductsTakeTallTiles(string element, int batch, int m, int k, int n, bool transposedB, bool transposedA, string grid)
    {
        var options = Options with { Gpu = CudaTarget.Default with { Multiprocessors = 1, AllowTf32 = element == "tf32" } };
        var placed = PlaceOnGpu(element == "conv"
            ? ConvBiasRelu("bf16", "2x20x20x16", "3x3x16x64", "b01f_01io->b01f", "padding_low = [1, 1], padding_high = [1, 1]", "2x20x20x64", 3)
            : Contraction(element == "tf32" ? "f32" : element, batch, m, k, n, transposedB, transposedA));
        var inputs = RandomInputs(placed.Entry, m + n).Select(t => element == "tf32" ? ToTf32(t) : t).ToArray();
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, options: options, inputs: inputs);
        var row = program.KernelMap.Split('\n').Select(l => l.Split('\t')).Single(r => r[0].StartsWith("gc_mma_", StringComparison.Ordinal));
        Assert.Equal((grid, "256"), (row[3], row[4]));
    }

    /// <summary>
    /// A projection split into heads (BERT's Q, K, V: dot, bias, reshape [batch, sequence, hidden] → [batch, sequence,
    /// heads, 8], then tanh over the heads) is one kernel: the product's epilogue runs through the reshape and stores each
    /// element at its linear index (fuse's reshaping epilogues, the cuda target's). On every GEMM kernel: the FMA tiles,
    /// the skinny one (≤ 16 rows), mma.sync in bf16 (with a bf16 result after the reshape) and TF32, split-K's combine,
    /// and wgmma. Each against the interpreter.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("f32", false, 2, 35, 40, 48, "sm_80", 132, "gc_gemm")]
    [InlineData("f32", false, 1, 8, 40, 48, "sm_80", 132, "gc_gemv")]
    [InlineData("bf16", false, 2, 35, 40, 48, "sm_80", 132, "gc_mma_bf16_")]
    [InlineData("bf16", true, 2, 35, 40, 48, "sm_80", 132, "gc_mma_bf16_")]
    [InlineData("tf32", false, 2, 20, 1000, 64, "sm_80", 132, "gc_splitk_combine")]
    [InlineData("bf16", false, 2, 65, 64, 128, "sm_90a", 1, "gc_wgmma_bf16_")]
    public void AProjectionSplitIntoHeadsIsOneKernel(string element, bool sixteenBitResult, int batch, int sequence, int k, int n, string arch, int multiprocessors, string kernel)
    {
        var operand = element == "tf32" ? "f32" : element;
        var heads = n / 8;
        var result = sixteenBitResult ? "bf16" : "f32";
        var convert = sixteenBitResult ? $"%c = convert %t : tensor<{batch}x{sequence}x{heads}x8xbf16>" : "";
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<{{batch}}x{{sequence}}x{{k}}x{{operand}}>, %w: tensor<{{k}}x{{n}}x{{operand}}>, %b: tensor<{{n}}xf32>) -> (tensor<{{batch}}x{{sequence}}x{{heads}}x8x{{result}}>) {
              %d = dot_general %x, %w {lhs_contract = [2], rhs_contract = [0]} : tensor<{{batch}}x{{sequence}}x{{n}}xf32>
              %bb = broadcast_in_dim %b {dims = [2]} : tensor<{{batch}}x{{sequence}}x{{n}}xf32>
              %a = add %d, %bb : tensor<{{batch}}x{{sequence}}x{{n}}xf32>
              %r = reshape %a : tensor<{{batch}}x{{sequence}}x{{heads}}x8xf32>
              %t = tanh %r : tensor<{{batch}}x{{sequence}}x{{heads}}x8xf32>
              {{convert}}
              return {{(sixteenBitResult ? "%c" : "%t")}}
            }
            """);
        var options = Options with { Gpu = new CudaTarget(arch) { Multiprocessors = multiprocessors, AllowTf32 = element == "tf32" } };
        var inputs = RandomInputs(placed.Entry, k + n).Select(t => element == "tf32" ? ToTf32(t) : t).ToArray();
        var program = RunAndCompare(placed, rtol: sixteenBitResult ? 1e-2 : 1e-4, atol: sixteenBitResult ? 1e-2 : 1e-4, options: options, inputs: inputs);
        Assert.Contains($".entry {kernel}", program.Ptx);
        Assert.DoesNotContain(".entry gc_loop", program.Ptx);
    }

    /// <summary>
    /// The same fusion placed on the CPU (fusion runs before placement, so the cuda pipeline may hand the CPU a product
    /// whose epilogue reshapes): the CPU's GEMM computes the product into scratch and the epilogue reads it through the
    /// reshape, with the interpreter's result.
    /// </summary>
    [CudaEmulatorFact]
    public void AReshapingEpiloguePlacedOnTheCpuRunsThere()
    {
        var model = IrTest.Parse("""
            func @main(%x: tensor<2x9x16xf32>, %w: tensor<16x24xf32>, %b: tensor<24xf32>) -> (tensor<2x9x3x8xf32>) {
              %d = dot_general %x, %w {lhs_contract = [2], rhs_contract = [0]} : tensor<2x9x24xf32>
              %bb = broadcast_in_dim %b {dims = [2]} : tensor<2x9x24xf32>
              %a = add %d, %bb : tensor<2x9x24xf32>
              %r = reshape %a : tensor<2x9x3x8xf32>
              %t = tanh %r : tensor<2x9x3x8xf32>
              return %t
            }
            """);
        var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions { Target = "cuda", Place = [".*=cpu"] }).Unwrap();
        var optimised = driver.Optimize(model).Unwrap();
        Assert.Contains("device = cpu, kind = output", GraphCompiler.IR.Text.Printer.Print(optimised));
        var inputs = RandomInputs(model.Entry, 6);
        var expected = new Interpreter(model).Run(null, inputs).Unwrap().Results[0];
        using (CudaEmulator.AsDriver())
        {
            using var exe = driver.Jit(optimised).Unwrap();
            IrTest.AssertTensor(expected, exe.Run(inputs).Unwrap()[0], 1e-5, 1e-5);
        }
    }

    /// <summary>
    /// DenseNet's pre-activation before a 1×1 convolution at batch 1 (batch norm and ReLU of an NCHW concatenation, then
    /// the NHWC transpose): through the driver on the cuda target, the convolution reads that input from a buffer and runs
    /// on the tensor cores. The CPU's fusion computes such an input inside the convolution's kernel; on the GPU that kernel
    /// was the one-thread-per-output fallback, a loop over K per output (DenseNet-121 at batch 1 had 61 of them).
    /// </summary>
    [CudaEmulatorFact]
    public void APreactivatedPointwiseConvolutionRunsOnTensorCores()
    {
        var model = IrTest.Parse("""
            func @main(%x: tensor<1x32x6x6xf32>, %mean: tensor<32xf32>, %k: tensor<16x32x1x1xf32>) -> (tensor<1x16x6x6xf32>) {
              %mb = broadcast_in_dim %mean {dims = [1]} : tensor<1x32x6x6xf32>
              %d = sub %x, %mb : tensor<1x32x6x6xf32>
              %z = constant {value = dense<0.0>} : tensor<1x32x6x6xf32>
              %a = max %d, %z : tensor<1x32x6x6xf32>
              %c = convolution %a, %k {dims = "bf01_oi01->bf01"} : tensor<1x16x6x6xf32>
              return %c
            }
            """);
        var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions { Target = "cuda", Place = [".*=gpu"], Precision = "tf32" }).Unwrap();
        var optimised = driver.Optimize(model).Unwrap();
        var inputs = RandomInputs(model.Entry, 8).Select(ToTf32).ToArray();
        var expected = new Interpreter(model).Run(null, inputs).Unwrap().Results[0];
        var (actual, ptx) = RunThroughDriver(driver, optimised, inputs);
        // The batch norm's output is rounded to TF32 as the tensor cores read it: a few units of 2^-11 of the output's scale.
        Assert.InRange(RelativeError(expected, actual), 0, 8 * Math.Pow(2, -11));
        Assert.Contains(".entry gc_mma_tf32_", ptx);
        Assert.DoesNotContain("convolution", string.Join("\n", GraphCompiler.IR.Text.Printer.Print(optimised).Split('\n')
            .SkipWhile(l => !l.Contains("kind = loop")).TakeWhile(l => !l.TrimStart().StartsWith("yield"))));
    }

    /// <summary>
    /// Split-K: contractions whose tiles leave most of the 132 multiprocessors idle and whose K is long run each tile as
    /// several blocks over slices of K, then a combine kernel sums the slices in order and applies the epilogue (bias,
    /// ReLU): a GEMM whose K (1000) is not a multiple of the slices, a batched one in TF32, and a ResNet-like 3×3
    /// convolution at batch 1 (an implicit GEMM). On inputs exact in the operand type the products are exact, so only the
    /// summation order differs from the interpreter.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("bf16", 0, 50, 1000, 96)]
    [InlineData("f16", 2, 40, 600, 70)]
    [InlineData("tf32", 2, 40, 600, 70)]
    [InlineData("conv", 0, 0, 0, 0)]
    public void SplitKSumsItsSlicesAndAppliesTheEpilogue(string element, int batch, int m, int k, int n)
    {
        var options = Options with { Gpu = CudaTarget.Default with { AllowTf32 = element == "tf32" } };
        var placed = PlaceOnGpu(element == "conv"
            ? ConvBiasRelu("bf16", "1x7x7x64", "3x3x64x64", "b01f_01io->b01f", "padding_low = [1, 1], padding_high = [1, 1]", "1x7x7x64", 3)
            : Contraction(element == "tf32" ? "f32" : element, batch, m, k, n, transposedB: false));
        var inputs = RandomInputs(placed.Entry, 7);
        if (element == "tf32")
        {
            inputs = [.. inputs.Select(ToTf32)];
        }
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, options: options, inputs: inputs);
        Assert.Contains(".entry gc_splitk_combine", program.Ptx);
        Assert.Contains("mma.sync.aligned", program.Ptx);
    }

    /// <summary>
    /// Split-K on the FMA tiles (f32, no TF32): where 64×64 tiles leave multiprocessors idle, K is long, and the slices give
    /// at least as many blocks as shrinking the tiles would, K is cut into slices (a block each, keeping 4×4 outputs a
    /// thread), and the combine kernel sums them in order and applies the epilogue: a GEMM on 16 multiprocessors, a batched
    /// one whose K (1000) the slices pass with A stored [k, m], and a ResNet-like 3×3 convolution at batch 1 on 132
    /// (72 blocks where 16×16 tiles gave 64). Against the interpreter.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("gemm")]
    [InlineData("batch")]
    [InlineData("conv")]
    public void FmaTilesSplitALongKWhereTheirTilesLeaveTheGpuIdle(string kind)
    {
        var placed = PlaceOnGpu(kind switch
        {
            "gemm" => Contraction("f32", 0, 40, 2048, 256, transposedB: false),
            "batch" => Contraction("f32", 2, 60, 1000, 60, transposedB: false, transposedA: true),
            _ => ConvBiasRelu("f32", "1x7x7x256", "3x3x256x256", "b01f_01io->b01f", "padding_low = [1, 1], padding_high = [1, 1]", "1x7x7x256", 3),
        });
        var options = Options with { Gpu = CudaTarget.Default with { Multiprocessors = kind == "conv" ? CudaTarget.H100Multiprocessors : 16 } };
        // K of 1000 to 2304 f32 products of unit normals: f32's rounding in a different order reaches ~1e-4 absolute.
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 5e-4, seed: 5, options: options);
        Assert.Contains(".entry gc_splitk_combine", program.Ptx);
        Assert.Contains("fma.rn.f32", program.Ptx);
        Assert.DoesNotContain("mma.sync", program.Ptx);
    }

    /// <summary>
    /// f32 contractions take TF32 tensor cores (mma.sync m16n8k8) only when the target allows it. On inputs already
    /// in TF32 the products are exact, so the result must be the interpreter's up to summation order; on raw f32
    /// inputs it carries TF32's rounding (2^-11 relative per operand), and without the option the FMA GEMM runs. A
    /// stored [k, m] is staged [K][rows]; its copies are 4 bytes (cp.async.ca) where M is odd, 16 where it is a multiple of 4.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(70, 90, 75, false)]
    [InlineData(70, 96, 76, false)]
    [InlineData(70, 90, 75, true)]
    [InlineData(72, 90, 76, true)]
    public void Tf32TensorCoresRunOnlyWhenAllowed(int m, int k, int n, bool transposedA)
    {
        var placed = PlaceOnGpu(Contraction("f32", 0, m, k, n, false, transposedA));
        var tf32 = Options with { Gpu = CudaTarget.Default with { AllowTf32 = true } };
        var raw = RandomInputs(placed.Entry, 5);
        var rounded = raw.Select(ToTf32).ToArray();
        var program = RunAndCompare(placed, rtol: 1e-5, atol: 1e-5, options: tf32, inputs: rounded);
        Assert.Contains("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", program.Ptx);
        RunAndCompare(placed, rtol: 1e-2, atol: 2e-2, options: tf32, inputs: raw);
        Assert.DoesNotContain("mma.sync", RunAndCompare(placed, rtol: 1e-5, atol: 1e-5, inputs: raw).Ptx);
    }

    /// <summary>
    /// <c>--precision bf16</c> and <c>tf32</c> through the driver on the cuda target (the emulated GPU): a two-layer MLP at
    /// batch 64 (so the GEMM path, not the short-C one) runs its matmuls on tensor cores, bf16 with the weights stored in
    /// 16 bits, and its error against the f32 interpreter is the format's: a few units of its rounding at the output's
    /// scale, well above f32's own.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("bf16", "m16n8k16.row.col.f32.bf16.bf16.f32", 8)]
    [InlineData("tf32", "m16n8k8.row.col.f32.tf32.tf32.f32", 11)]
    public void ReducedPrecisionRunsTheMatmulsOnTensorCores(string precision, string mma, int significandBits)
    {
        var rng = new Random(9);
        string Matrix(int rows, int cols) => "[" + string.Join(", ", Enumerable.Range(0, rows).Select(_ =>
            "[" + string.Join(", ", Enumerable.Range(0, cols).Select(_ => (rng.NextDouble() * 0.2 - 0.1).ToString("0.#####", System.Globalization.CultureInfo.InvariantCulture))) + "]")) + "]";
        var model = IrTest.Parse($$"""
            func @main(%x: tensor<64x96xf32>) -> (tensor<64x40xf32>) {
              %w1 = constant {value = dense<{{Matrix(96, 72)}}>} : tensor<96x72xf32>
              %h = dot_general %x, %w1 {lhs_contract = [1], rhs_contract = [0]} : tensor<64x72xf32>
              %z = constant {value = dense<0.0>} : tensor<64x72xf32>
              %r = max %h, %z : tensor<64x72xf32>
              %w2 = constant {value = dense<{{Matrix(72, 40)}}>} : tensor<72x40xf32>
              %y = dot_general %r, %w2 {lhs_contract = [1], rhs_contract = [0]} : tensor<64x40xf32>
              return %y
            }
            """);
        var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions { Target = "cuda", Place = [".*=gpu"], Precision = precision }).Unwrap();
        var optimised = driver.Optimize(model).Unwrap();
        var inputs = RandomInputs(model.Entry, 2);
        var expected = new Interpreter(model).Run(null, inputs).Unwrap().Results[0];
        var (actual, ptx) = RunThroughDriver(driver, optimised, inputs);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(ptx, @"\.entry gc_mma_").Count);
        Assert.Contains("mma.sync.aligned." + mma, ptx);
        double error = RelativeError(expected, actual);
        double unit = Math.Pow(2, -significandBits);
        Assert.InRange(error, unit / 16, 8 * unit);
    }

    /// <summary>
    /// Convolutions as implicit GEMMs on tensor cores (bf16/f16 operands, f32 result, bias and relu fused after): NHWC/HWIO
    /// with input features a multiple of 8 (16-byte loads of A along K and of B along N) and with 3 (element loads, K = 27),
    /// padding, strides and dilation; NCHW/OIHW (element loads, consecutive threads along M); 128×128 tiles (2
    /// multiprocessors); grouped (a GEMM per group: ShuffleNet's grouped 1×1 with vector loads, a 3×3 whose 12 features per
    /// group take element loads). Products of 16-bit values are exact in f32, so only the summation order differs from the interpreter.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("bf16", "2x9x9x16", "3x3x16x24", "b01f_01io->b01f", "padding_low = [1, 1], padding_high = [1, 1]", "2x9x9x24", 3, 132)]
    [InlineData("f16", "3x11x10x3", "3x3x3x20", "b01f_01io->b01f", "window_strides = [2, 2], padding_low = [1, 0], padding_high = [1, 1]", "3x6x5x20", 3, 132)]
    [InlineData("bf16", "1x8x13x13", "12x8x3x3", "bf01_oi01->bf01", "rhs_dilation = [2, 2], padding_low = [2, 2], padding_high = [2, 2]", "1x12x13x13", 1, 132)]
    [InlineData("bf16", "4x14x14x32", "1x1x32x136", "b01f_01io->b01f", "", "4x14x14x136", 3, 2)]
    [InlineData("bf16", "2x6x6x48", "1x1x16x24", "b01f_01io->b01f", "feature_group_count = 3", "2x6x6x24", 3, 132)]
    [InlineData("f16", "2x7x7x36", "3x3x12x30", "b01f_01io->b01f", "feature_group_count = 3, window_strides = [2, 2], padding_low = [1, 1], padding_high = [1, 1]", "2x4x4x30", 3, 132)]
    public void ImplicitGemmConvolutionsOnTensorCoresMatchTheInterpreter(string element, string input, string kernel, string layout, string attrs, string output, int featureDim, int multiprocessors)
    {
        var placed = PlaceOnGpu(ConvBiasRelu(element, input, kernel, layout, attrs, output, featureDim));
        var options = Options with { Gpu = CudaTarget.Default with { Multiprocessors = multiprocessors } };
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, seed: input.Length + kernel.Length, options: options);
        Assert.Contains($"mma.sync.aligned.m16n8k16.row.col.f32.{element}.{element}.f32", program.Ptx);
    }

    /// <summary>
    /// A transformer encoder layer (<see cref="EncoderLayer"/>: projections, attention over batch × heads, softmax, layer
    /// norms, erf GELU) through the cuda pipeline with <c>--place '.*=gpu'</c>: every op on the GPU, none on the CPU, and the
    /// interpreter's result: in f32, and in bf16 (its six matmuls on tensor cores, within bf16's error).
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("f32")]
    [InlineData("bf16")]
    public void AnEncoderLayerRunsEntirelyOnTheEmulatedGpu(string precision)
    {
        var model = IrTest.Parse(EncoderLayer.Ir(2, 16, 32, 4, 64));
        var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions { Target = "cuda", Place = [".*=gpu"], Precision = precision }).Unwrap();
        var optimised = driver.Optimize(model).Unwrap();
        var placed = optimised.Entry.Body.Operations.Where(o => !o.Def.IsTerminator && o.Def is not (GraphCompiler.IR.Ops.ConstantOp or GraphCompiler.IR.Ops.SendOp or GraphCompiler.IR.Ops.RecvOp)).ToList();
        Assert.Empty(placed.Where(o => o.Attr.Enum("device") != "gpu").Select(o => $"{o.Def.Name} ({o.SourceName})"));
        var rng = new Random(21);
        // Weights in ±0.2, the layer norms' gains (arguments 9 and 15) around 1, activations in [-2, 2).
        var inputs = model.Entry.Arguments.Select((a, i) => Tensor.FromDoubles(a.Type, [.. Enumerable.Range(0, (int)a.Type.ElementCount)
            .Select(_ => i == 0 ? rng.NextDouble() * 4 - 2 : (rng.NextDouble() * 2 - 1) * 0.2 + (i is 9 or 15 ? 1 : 0))])).ToArray();
        var expected = new Interpreter(model).Run(null, inputs).Unwrap().Results[0];
        var (actual, ptx) = RunThroughDriver(driver, optimised, inputs);
        if (precision == "f32")
        {
            IrTest.AssertTensor(expected, actual, 1e-4, 1e-4);
            return;
        }
        Assert.Equal(6, System.Text.RegularExpressions.Regex.Matches(ptx, @"\.entry gc_mma_bf16_").Count);
        Assert.InRange(RelativeError(expected, actual), Math.Pow(2, -8) / 16, 4 * Math.Pow(2, -8)); // measured: 0.47 units
    }

    /// <summary>
    /// The same CNN with <c>--precision bf16</c>: both convolutions run as implicit GEMMs on tensor cores (the first with 3
    /// input features, element loads; the second with 16, vector loads), and the logits stay within bf16's error of the f32
    /// interpreter's (a few units of 2^-8 at the output's scale).
    /// </summary>
    [CudaEmulatorFact]
    public void ACnnInBf16RunsItsConvolutionsOnTensorCores()
    {
        var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions { Target = "cuda", Place = [".*=gpu"], Precision = "bf16" }).Unwrap();
        var model = driver.Load(Path.Combine(GoldenFile.RepoRoot(), "benchmarks", "models", "cnn_8x3x32x32.onnx")).Unwrap();
        var optimised = driver.Optimize(model).Unwrap();
        var inputs = RandomInputs(optimised.Entry, 8);
        var expected = new Interpreter(model).Run(null, inputs).Unwrap().Results[0];
        var (actual, ptx) = RunThroughDriver(driver, optimised, inputs);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(ptx, @"\.entry gc_mma_bf16_").Count);
        double error = RelativeError(expected, actual);
        Assert.InRange(error, Math.Pow(2, -8) / 16, 8 * Math.Pow(2, -8));
    }
}
