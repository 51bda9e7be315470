using System.Globalization;
using System.Text.RegularExpressions;
using GraphCompiler.IR;
using GraphCompiler.Passes;
using Xunit;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// An image model's first layer (3 input features) on tensor cores, through the driver on the emulated GPU: the cuda
/// pipeline's <c>pad-features</c> gives it 4, so its kernel stages the input in 16-byte (TF32) or 8-byte (bf16) copies,
/// not one element at a time, and the result is the unpadded convolution's, by the interpreter on the model as written.
/// </summary>
[Collection(CudaDriverCollection.Name)]
public sealed partial class CudaFeaturePaddingTests
{
    /// <summary>
    /// A 5×5, stride-2 NCHW convolution of 3 features with bias and relu, as ONNX gives it, its kernel a constant (folded
    /// padded) or an argument (trained weights: padded at run time). Inputs and weights are multiples of 2^-6 in [-1, 1]:
    /// exact in TF32 and bf16, so every product is exact and only the f32 sums' order differs from the interpreter.
    /// </summary>
    private static string FirstLayer(bool constantKernel)
    {
        // [8][3][25] nested as the text format writes a tensor<8x3x5x5> literal: rows of 5.
        string Row(int i) => "[" + string.Join(", ", Enumerable.Range(i, 5).Select(j => ((j * 37 % 129 - 64) / 64.0).ToString("R", CultureInfo.InvariantCulture))) + "]";
        string Nest(int count, int size, Func<int, string> inner) => "[" + string.Join(", ", Enumerable.Range(0, count).Select(i => inner(i * size))) + "]";
        var kernel = Nest(8, 75, o => Nest(3, 25, c => Nest(5, 5, r => Row(o + c + r))));
        var (argument, definition) = constantKernel
            ? ("", $"%k = constant {{value = dense<{kernel}>}} : tensor<8x3x5x5xf32>")
            : (", %k: tensor<8x3x5x5xf32>", "");
        return $$"""
            func @main(%x: tensor<2x3x20x20xf32>{{argument}}, %b: tensor<8xf32>) -> (tensor<2x8x10x10xf32>) {
              {{definition}}
              %c = convolution %x, %k {dims = "bf01_oi01->bf01", window_strides = [2, 2], padding_low = [2, 2], padding_high = [2, 2]} : tensor<2x8x10x10xf32> loc("conv1")
              %bb = broadcast_in_dim %b {dims = [1]} : tensor<2x8x10x10xf32>
              %s = add %c, %bb : tensor<2x8x10x10xf32>
              %z = constant {value = dense<0.0>} : tensor<f32>
              %zb = broadcast_in_dim %z {dims = []} : tensor<2x8x10x10xf32>
              %r = max %s, %zb : tensor<2x8x10x10xf32>
              return %r
            }
            """;
    }

    /// <summary>The copy sizes of the tensor-core kernel's input stagings: cp.async's bytes, and 2 for each element staged through a 16-bit load.</summary>
    private static List<int> CopyBytes(string kernel) =>
        [.. AsyncCopy().Matches(kernel).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)),
         .. Enumerable.Repeat(2, HalfLoad().Matches(kernel).Count)];

    /// <summary>
    /// Padded, TF32 copies only 16 bytes (4 features of a pixel; the kernel's 8 output features), bf16 copies 8 bytes
    /// for the input and 16 for the kernel; unpadded (the pass left out of the pipeline), the input goes one element
    /// at a time: 4-byte copies, or 2-byte loads. Both give the interpreter's result on the unpadded model.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("tf32", true, 16, 4)]
    [InlineData("tf32", false, 16, 4)]
    [InlineData("bf16", true, 8, 2)]
    [InlineData("bf16", false, 8, 2)]
    public void TheFirstLayerCopiesWholePixels(string precision, bool constantKernel, int paddedInputCopy, int unpaddedInputCopy)
    {
        var model = IrTest.Parse(FirstLayer(constantKernel));
        var rng = new Random(7);
        var inputs = model.Entry.Arguments.Select(a => Tensor.FromDoubles(a.Type,
            [.. Enumerable.Range(0, (int)a.Type.ElementCount).Select(_ => rng.Next(-64, 65) / 64.0)])).ToArray();
        var expected = new Interpreter(model).Run(null, inputs).Unwrap().Results[0];

        var cuda = PassRegistry.Cuda.Passes;
        foreach (var (passes, inputCopy) in new[] { (cuda, paddedInputCopy), (cuda.Remove(new FeaturePadding().Name), unpaddedInputCopy) })
        {
            var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions { Target = "cuda", Place = [".*=gpu"], Precision = precision, Passes = [.. passes] }).Unwrap();
            var optimised = driver.Optimize(model).Unwrap();
            var (actual, ptx) = CudaTensorCoreTests.RunThroughDriver(driver, optimised, inputs);
            IrTest.AssertTensor(expected, actual, 1e-5, 1e-5);
            var copies = CopyBytes(CudaDepthwiseTests.KernelBody(ptx, "gc_mma_"));
            Assert.Contains(inputCopy, copies);
            Assert.Contains(16, copies); // the kernel's output features: 8 a row
            Assert.All(copies, c => Assert.True(c >= inputCopy, $"a {c}-byte copy beside the input's {inputCopy}-byte ones: {string.Join(", ", copies.Distinct())}"));
        }
    }

    /// <summary>
    /// Where an operand's contiguous extent is no multiple of a whole 16-byte vector, its copies are the widest it divides
    /// into: a bf16 product over K = 36 copies A's rows in 8-byte pieces (4 elements) and B's 40 columns in 16-byte ones;
    /// K = 18 in 4-byte ones. An odd K still goes element by element. Each matches the interpreter.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(36, 8)]
    [InlineData(18, 4)]
    [InlineData(17, 2)]
    public void OperandsTakeTheWidestCopyTheyDivideInto(int k, int aCopy)
    {
        var placed = CudaEmulatorTests.PlaceOnGpu(CudaTensorCoreTests.Contraction("bf16", 0, 70, k, 40, transposedB: false));
        var program = CudaEmulatorTests.RunAndCompare(placed, rtol: 1e-2, atol: 1e-2);
        var copies = CopyBytes(CudaDepthwiseTests.KernelBody(program.Ptx, "gc_mma_"));
        Assert.Contains(aCopy, copies);
        Assert.Contains(16, copies);
        Assert.Equal([aCopy, 16], copies.Distinct().Order());
    }

    [GeneratedRegex(@"cp\.async\.c[ag]\.shared\.global(?:\.L2::\d+B)? \[[^\]]+\], \[[^\]]+\], (\d+)")]
    private static partial Regex AsyncCopy();

    [GeneratedRegex(@"ld\.global(?:\.nc)?\.[ub]16\b")]
    private static partial Regex HalfLoad();
}
