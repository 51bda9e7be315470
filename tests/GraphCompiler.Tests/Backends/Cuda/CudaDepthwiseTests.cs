using System.Text.RegularExpressions;
using GraphCompiler.Backends.Cuda;
using Xunit;
using static GraphCompiler.Tests.Backends.Cuda.CudaEmulatorTests;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// Depthwise convolutions on the GPU (<c>gc_depthwise</c>: a thread per feature vector × strip of outputs along the last
/// spatial dimension, reusing the columns and weights the strip shares) against the interpreter, on the emulated driver.
/// </summary>
[Collection(CudaDriverCollection.Name)]
public sealed partial class CudaDepthwiseTests
{
    /// <summary>
    /// Depthwise convolutions with bias and relu fused after: NHWC with features a multiple of 4 (vector loads), others
    /// (one feature a thread), channel multipliers, NCHW (NHWC after the layout pass), 1-D and 3-D, strides, dilations,
    /// asymmetric padding, 5×5 and 7×7 windows, 16-bit operands (8 features a thread), and strips of 2 and 4 outputs (on a
    /// GPU described as one multiprocessor, so that small tensors fill it) whose last strip runs past the edge. The
    /// kernel's f32 fma count is rows × window columns × strip × features a thread: the strip and vector it chose; and it
    /// keeps everything in registers (no .local), 7×7 strips of 8 bf16 features included.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("f32", "2x9x13x8", "3x3x1x8", "b01f_01io->b01f", "feature_group_count = 8, padding_low = [1, 1], padding_high = [1, 1]", "2x9x13x8", 3, 132, 1, 4)]
    [InlineData("f32", "2x16x30x32", "3x3x1x32", "b01f_01io->b01f", "feature_group_count = 32, padding_low = [1, 1], padding_high = [1, 1]", "2x16x30x32", 3, 1, 4, 4)]
    [InlineData("f32", "2x32x62x32", "3x3x1x32", "b01f_01io->b01f", "feature_group_count = 32, window_strides = [2, 2], padding_low = [1, 1], padding_high = [0, 0]", "2x16x31x32", 3, 1, 4, 4)]
    [InlineData("f32", "2x16x9x64", "3x3x1x64", "b01f_01io->b01f", "feature_group_count = 64, padding_low = [1, 1], padding_high = [1, 1]", "2x16x9x64", 3, 1, 2, 4)]
    [InlineData("f32", "2x32x40x32", "5x5x1x32", "b01f_01io->b01f", "feature_group_count = 32, rhs_dilation = [2, 2], padding_low = [4, 3], padding_high = [4, 5]", "2x32x40x32", 3, 1, 4, 4)]
    [InlineData("f32", "1x11x10x12", "7x7x1x12", "b01f_01io->b01f", "feature_group_count = 12, padding_low = [3, 3], padding_high = [3, 3]", "1x11x10x12", 3, 132, 1, 4)]
    [InlineData("bf16", "2x40x40x64", "7x7x1x64", "b01f_01io->b01f", "feature_group_count = 64, padding_low = [3, 3], padding_high = [3, 3]", "2x40x40x64", 3, 1, 4, 8)]
    [InlineData("f32", "2x7x9x6", "3x3x1x6", "b01f_01io->b01f", "feature_group_count = 6, window_strides = [1, 2], padding_low = [1, 1], padding_high = [1, 1]", "2x7x5x6", 3, 132, 1, 1)]
    [InlineData("f32", "1x8x8x4", "3x3x1x8", "b01f_01io->b01f", "feature_group_count = 4, padding_low = [1, 1], padding_high = [1, 1]", "1x8x8x8", 3, 132, 1, 1)]
    [InlineData("f32", "1x8x9x9", "8x1x3x3", "bf01_oi01->bf01", "feature_group_count = 8, window_strides = [2, 2], padding_low = [1, 1], padding_high = [1, 1]", "1x8x5x5", 1, 132, 1, 4)]
    [InlineData("f32", "2x20x12", "5x1x12", "b0f_0io->b0f", "feature_group_count = 12, padding_low = [2], padding_high = [2]", "2x20x12", 2, 132, 1, 4)]
    [InlineData("f32", "1x4x6x6x8", "3x3x3x1x8", "b012f_012io->b012f", "feature_group_count = 8, padding_low = [1, 1, 1], padding_high = [1, 1, 1]", "1x4x6x6x8", 4, 132, 1, 4)]
    [InlineData("f16", "2x9x10x16", "3x3x1x16", "b01f_01io->b01f", "feature_group_count = 16, padding_low = [1, 1], padding_high = [1, 1]", "2x9x10x16", 3, 132, 1, 8)]
    [InlineData("bf16", "2x16x30x32", "3x3x1x32", "b01f_01io->b01f", "feature_group_count = 32, window_strides = [2, 2], padding_low = [1, 1], padding_high = [1, 1]", "2x8x15x32", 3, 1, 1, 8)]
    public void DepthwiseConvolutionsMatchTheInterpreter(string element, string input, string kernel, string layout, string attrs, string output,
        int featureDim, int multiprocessors, int strip, int vector)
    {
        var options = Options with { Gpu = new CudaTarget("sm_80") { Multiprocessors = multiprocessors } };
        var placed = PlaceOnGpu(ConvBiasRelu(element, input, kernel, layout, attrs, output, featureDim));
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, seed: input.Length + kernel.Length, options: options);
        var body = KernelBody(program.Ptx, "gc_depthwise");
        Assert.DoesNotContain(".local", body); // the strip's accumulators, weights and columns all in registers
        var window = kernel.Split('x').Select(long.Parse).Where((_, d) => layout.Split("->")[0].Split('_')[1][d] is >= '0' and <= '9').ToArray();
        Assert.Equal(window.Aggregate(1L, (p, w) => p * w) * strip * vector, Fma().Matches(body).Count);
    }

    /// <summary>
    /// A bf16 depthwise convolution with a bf16 result and the epilogue in bf16: each output rounded once from the f32
    /// sum, then by every op after it, element by element (no vector store of a 16-bit output).
    /// </summary>
    [CudaEmulatorFact]
    public void SixteenBitResultsRoundAsTheInterpreterRounds()
    {
        var placed = PlaceOnGpu("""
            func @main(%x: tensor<2x6x7x8xbf16>, %k: tensor<3x3x1x8xbf16>, %b: tensor<8xbf16>) -> (tensor<2x6x7x8xbf16>) {
              %c = convolution %x, %k {dims = "b01f_01io->b01f", feature_group_count = 8, padding_low = [1, 1], padding_high = [1, 1]} : tensor<2x6x7x8xbf16>
              %bb = broadcast_in_dim %b {dims = [3]} : tensor<2x6x7x8xbf16>
              %s = add %c, %bb : tensor<2x6x7x8xbf16>
              return %s
            }
            """);
        var program = RunAndCompare(placed, rtol: 1e-2, atol: 1e-2);
        Assert.Contains(".entry gc_depthwise", program.Ptx);
    }

    /// <summary>A window too large to unroll (17×17: 289 loads a thread) stays one thread per output, a loop over its window.</summary>
    [CudaEmulatorFact]
    public void WindowsTooLargeToUnrollLoopOnePerThread()
    {
        var placed = PlaceOnGpu(ConvBiasRelu("f32", "1x12x12x4", "17x17x1x4", "b01f_01io->b01f", "feature_group_count = 4, padding_low = [8, 8], padding_high = [8, 8]", "1x12x12x4", 3));
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4);
        Assert.DoesNotContain(".entry gc_depthwise", program.Ptx);
        Assert.Contains(".entry gc_loop", program.Ptx);
    }

    /// <summary>
    /// A JIT shapes the strip for the device the driver describes: its multiprocessors and their resident threads
    /// (cuDeviceGetAttribute 16 and 39). One multiprocessor of 2048 threads is filled by this layer's 2048 threads of strip 4;
    /// one of 4096 is not (strip 2 gives 3840 threads), so each thread computes one position.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(2048, 4)]
    [InlineData(4096, 1)]
    public void TheJitShapesTheStripForTheDevice(int residentThreads, int strip)
    {
        var model = IrTest.Parse(ConvBiasRelu("f32", "2x16x30x32", "3x3x1x32", "b01f_01io->b01f", "feature_group_count = 32, padding_low = [1, 1], padding_high = [1, 1]", "2x16x30x32", 3));
        var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions { Target = "cuda", Place = [".*=gpu"] }).Unwrap();
        var optimised = driver.Optimize(model).Unwrap();
        var inputs = RandomInputs(model.Entry, 5);
        var expected = new GraphCompiler.IR.Interpreter(model).Run(null, inputs).Unwrap().Results[0];
        using (CudaEmulator.DescribeDevice(8, 0, 1, residentThreads))
        {
            var (actual, ptx) = CudaTensorCoreTests.RunThroughDriver(driver, optimised, inputs);
            IrTest.AssertTensor(expected, actual, 1e-4, 1e-4);
            Assert.Equal(9 * strip * 4, Fma().Matches(KernelBody(ptx, "gc_depthwise")).Count);
        }
    }

    /// <summary>The PTX of kernel <paramref name="prefix"/>*: from its entry to the next.</summary>
    internal static string KernelBody(string ptx, string prefix)
    {
        int start = ptx.IndexOf($".entry {prefix}", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no {prefix} kernel in the PTX");
        int end = ptx.IndexOf(".entry ", start + 7, StringComparison.Ordinal);
        return end < 0 ? ptx[start..] : ptx[start..end];
    }

    [GeneratedRegex(@"\bfma\.rn\.f32\b")]
    private static partial Regex Fma();
}
