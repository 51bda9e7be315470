using GraphCompiler.Backends.Cuda;
using GraphCompiler.IR;
using Xunit;
using static GraphCompiler.Tests.Backends.Cuda.CudaEmulatorTests;
using static GraphCompiler.Tests.Backends.Cuda.CudaTensorCoreTests;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// Hopper's warpgroup tensor cores (<c>wgmma</c>, sm_90a) on the emulated driver, which reads both operands through the
/// kernel's descriptors by the PTX ISA's shared-memory layouts and fails a launch that writes shared memory a wgmma in
/// flight reads; and the JIT choosing the architecture from the device the driver describes.
/// </summary>
[Collection(CudaDriverCollection.Name)]
public sealed class CudaWgmmaTests
{
    /// <summary>
    /// Hopper's warpgroup tensor cores (sm_90a, <c>wgmma.mma_async</c> m64n128k16 from 128-byte-swizzled shared memory):
    /// the emulator reads both operands through the kernel's own descriptors, by the PTX ISA's layouts, so a wrong
    /// swizzle, stride or transpose bit gives wrong numbers. Operands K-major and MN-major (the transpose bits), sizes off
    /// every tile and off K's 64 (zero-filled), K long enough for the ring to wrap (5 stages of 128×128, 4 of 128×256), 128×256 tiles where N has 256, a batch, 16-byte copies and element copies (an extent not a multiple of
    /// 8), the fused epilogue; a convolution as an implicit GEMM. The emulator also fails a launch whose copies refill
    /// shared memory a wgmma in flight still reads. Products of 16-bit floats are exact in f32: only the summation order
    /// differs from the interpreter's.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("bf16", 0, 200, 200, 260, false, false)]
    [InlineData("f16", 0, 130, 64, 129, true, false)]
    [InlineData("bf16", 2, 70, 96, 136, true, true)]
    [InlineData("f16", 0, 136, 72, 64, false, true)]
    [InlineData("bf16", 0, 129, 37, 131, false, false)]
    [InlineData("f16", 0, 130, 700, 140, false, false)]
    [InlineData("f16", 2, 70, 130, 300, true, true)]
    [InlineData("bf16", 0, 130, 600, 512, false, false)]
    [InlineData("conv", 0, 0, 0, 0, false, false)]
    [InlineData("grouped", 0, 0, 0, 0, false, false)]
    public void WgmmaGemmMatchesTheInterpreter(string element, int batch, int m, int k, int n, bool transposedB, bool transposedA)
    {
        var options = Options with { Gpu = new CudaTarget("sm_90a") { Multiprocessors = 1 } };
        var placed = PlaceOnGpu(element switch
        {
            "conv" => ConvBiasRelu("bf16", "2x9x9x32", "3x3x32x64", "b01f_01io->b01f", "padding_low = [1, 1], padding_high = [1, 1]", "2x9x9x64", 3),
            // ShuffleNet's grouped 1×1 convolutions: a GEMM per group along the grid's z.
            "grouped" => ConvBiasRelu("bf16", "2x8x8x48", "1x1x16x48", "b01f_01io->b01f", "feature_group_count = 3", "2x8x8x48", 3),
            _ => Contraction(element, batch, m, k, n, transposedB, transposedA),
        });
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, seed: m + k + n + 3, options: options);
        var type = element is "conv" or "grouped" ? "bf16" : element;
        // The transpose bits: A stored [k, m] and B stored [k, n] (a convolution's HWIO filter too) are MN-major.
        // 128×256 tiles where N has 256 (and the grid still fills the one multiprocessor), 128×64 where it has at most 64
        // (the convolutions' 64 output features; 16 a group), else 128×128.
        Assert.Contains($"wgmma.mma_async.sync.aligned.m64n{InstructionN(n)}k16.f32.{type}.{type}", program.Ptx);
        Assert.Contains($"p, 1, 1, {(transposedA ? 1 : 0)}, {(transposedB ? 0 : 1)};", program.Ptx);
        Assert.Contains(".target sm_90a", program.Ptx);
        Assert.DoesNotContain("mma.sync", program.Ptx);
    }

    /// <summary>The instruction's n for a product of N columns on one multiprocessor (0: the convolutions, N = 64).</summary>
    private static int InstructionN(int n) => n switch { >= 256 => 256, <= 64 => 64, _ => 128 };

    /// <summary>
    /// TF32 on the warpgroup tensor cores (<c>wgmma</c> m64n128k8, <c>--precision tf32</c>), which read both TF32 operands
    /// K-major: an operand with M or N contiguous (a weight [k, n], a convolution's HWIO filter, A stored [k, m]) is loaded
    /// into registers and stored K-major, a thread per k so the 4-byte stores fall in distinct banks; vector loads where
    /// the rows allow, element loads otherwise (131 columns); K long enough for the ring to wrap. On inputs already in
    /// TF32 the products are exact, so only the summation order differs from the interpreter's.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(200, 300, 260, false, false)]
    [InlineData(130, 70, 136, true, true)]
    [InlineData(129, 37, 131, false, false)]
    [InlineData(136, 64, 130, false, true)]
    [InlineData(0, 0, 0, false, false)]
    public void WgmmaTf32MatchesTheInterpreter(int m, int k, int n, bool transposedB, bool transposedA)
    {
        var options = Options with { Gpu = new CudaTarget("sm_90a") { Multiprocessors = 1, AllowTf32 = true } };
        var placed = PlaceOnGpu(m == 0
            ? ConvBiasRelu("f32", "2x9x9x32", "3x3x32x64", "b01f_01io->b01f", "padding_low = [1, 1], padding_high = [1, 1]", "2x9x9x64", 3)
            : Contraction("f32", 0, m, k, n, transposedB, transposedA));
        var inputs = RandomInputs(placed.Entry, m + n + 1).Select(ToTf32).ToArray();
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, options: options, inputs: inputs);
        Assert.Contains($"wgmma.mma_async.sync.aligned.m64n{InstructionN(n)}k8.f32.tf32.tf32", program.Ptx);
        Assert.DoesNotContain("mma.sync", program.Ptx);
    }

    /// <summary>
    /// Seeded random contractions on the warpgroup kernel: element type (bf16, f16, TF32), each operand's orientation,
    /// a batch or none, and M, N, K drawn across tile, warpgroup and stage edges (K from one element to past the ring's
    /// wrap), each against the interpreter. TF32 inputs are rounded to TF32 first, so every product is exact.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void RandomContractionsOnTheWarpgroupKernelMatchTheInterpreter(int seed)
    {
        var rng = new Random(seed * 7919);
        var element = new[] { "bf16", "f16", "f32" }[rng.Next(3)];
        int batch = rng.Next(3) == 0 ? rng.Next(2, 4) : 0;
        int m = rng.Next(1, 300), n = rng.Next(1, 300), k = rng.Next(1, 400);
        bool transposedA = rng.Next(2) == 0, transposedB = rng.Next(2) == 0;
        var options = Options with { Gpu = new CudaTarget("sm_90a") { Multiprocessors = 1, AllowTf32 = element == "f32" } };
        var placed = PlaceOnGpu(Contraction(element, batch, m, k, n, transposedB, transposedA));
        var inputs = RandomInputs(placed.Entry, seed).Select(t => t.Type.Element == ElementType.F32 && element == "f32" ? ToTf32(t) : t).ToArray();
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, options: options, inputs: inputs);
        Assert.Contains("wgmma.mma_async", program.Ptx);
    }

    /// <summary>
    /// An in-process compile (the C# driver's JIT, as <c>run</c>/<c>check --backend cuda</c>) asks the driver for its device
    /// and compiles for it where the options name no architecture: compute capability 9.0 takes sm_90a and wgmma (the
    /// kernels shaped for its 4 multiprocessors), 8.0 sm_80 and mma.sync, a later GPU portable sm_90; a driver that does not
    /// say keeps the default; an architecture the options name wins. Each result against the interpreter.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(9, 0, null, "sm_90a", "wgmma.mma_async.sync.aligned.m64n128k16")]
    [InlineData(8, 0, null, "sm_80", "mma.sync.aligned.m16n8k16")]
    [InlineData(10, 0, null, "sm_90", "mma.sync.aligned.m16n8k16")]
    [InlineData(0, 0, null, "sm_80", "mma.sync.aligned.m16n8k16")]
    [InlineData(9, 0, "sm_90", "sm_90", "mma.sync.aligned.m16n8k16")]
    public void TheJitCompilesForTheDeviceTheDriverDescribes(int major, int minor, string? declared, string arch, string instruction)
    {
        var model = IrTest.Parse(Contraction("bf16", 0, 256, 96, 256, transposedB: false));
        var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions { Target = "cuda", Place = [".*=gpu"], GpuArch = declared }).Unwrap();
        var optimised = driver.Optimize(model).Unwrap();
        var inputs = RandomInputs(model.Entry, 3);
        var expected = new Interpreter(model).Run(null, inputs).Unwrap().Results[0];
        using (CudaEmulator.DescribeDevice(major, minor, 4))
        {
            var (actual, ptx) = RunThroughDriver(driver, optimised, inputs);
            IrTest.AssertTensor(expected, actual, 1e-4, 1e-4);
            Assert.Contains($".target {arch}\n", ptx);
            Assert.Contains(instruction, ptx);
        }
    }

    /// <summary>
    /// A product whose 128×128 tiles leave multiprocessors idle but whose 128×64 tiles fill them stays on wgmma with the
    /// narrower tiles (m64n64: 200 columns in 4 tiles, the last one partial); where even those leave some idle, mma.sync.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(6, "wgmma.mma_async.sync.aligned.m64n64k16")]
    [InlineData(4, "wgmma.mma_async.sync.aligned.m64n128k16")]
    [InlineData(9, "mma.sync.aligned.m16n8k16")]
    public void WgmmaTakesNarrowerTilesWhereOnlyTheyFillTheGpu(int multiprocessors, string instruction)
    {
        var placed = PlaceOnGpu(Contraction("bf16", 0, 130, 150, 200, transposedB: true));
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, seed: 9, options: Options with { Gpu = new CudaTarget("sm_90a") { Multiprocessors = multiprocessors } });
        Assert.Contains(instruction, program.Ptx);
    }

    /// <summary>The same GEMM on sm_90 (no wgmma) and on sm_90a where its 128×128 tiles leave multiprocessors idle: mma.sync, with its smaller tiles and split-K.</summary>
    [CudaEmulatorFact]
    public void WgmmaRunsOnlyWhereTheTargetHasItAndTheTilesFillTheGpu()
    {
        var placed = PlaceOnGpu(Contraction("bf16", 0, 200, 200, 260, false));
        foreach (var gpu in new[] { new CudaTarget("sm_90") { Multiprocessors = 1 }, new CudaTarget("sm_90a") })
        {
            var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, seed: 4, options: Options with { Gpu = gpu });
            Assert.Contains("mma.sync.aligned.m16n8k16", program.Ptx);
            Assert.DoesNotContain("wgmma", program.Ptx);
        }
    }
}
