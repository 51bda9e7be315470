using GraphCompiler.IR.Text;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Passes;

/// <summary><c>layout</c>: canonical conv/dot layouts, bitwise-identical results, folded weights.</summary>
public sealed class LayoutTests
{
    private static readonly string[] ConvDims =
    [
        "bf01_oi01->bf01", "b01f_01io->b01f", "bf01_01io->b01f", "b01f_oi01->bf01", "fb01_io01->01bf", "bf0_oi0->bf0", "b0f_0io->b0f",
    ];

    /// <summary>Random convolutions in random layouts (strides, padding, dilations, groups): same bits after layout.</summary>
    [Fact]
    public void RandomConvolutionsGiveBitwiseIdenticalResults()
    {
        int rewritten = 0;
        for (int seed = 0; seed < 60; seed++)
        {
            var rng = new Random(seed);
            var dims = ConvDims[rng.Next(ConvDims.Length)];
            int n = dims.Split('_')[0].Length - 2;
            long groups = rng.Next(2) + 1, batch = rng.Next(1, 3), inF = 2 * groups, outF = groups * rng.Next(1, 3);
            var spatial = Enumerable.Range(0, n).Select(_ => (long)rng.Next(3, 7)).ToArray();
            var window = Enumerable.Range(0, n).Select(_ => (long)rng.Next(1, 3)).ToArray();
            string Ints(Func<int, long> f) => "[" + string.Join(", ", Enumerable.Range(0, n).Select(f)) + "]";
            var attrs = $"dims = \"{dims}\", window_strides = {Ints(_ => rng.Next(1, 3))}, padding_low = {Ints(_ => rng.Next(0, 2))}, " +
                        $"padding_high = {Ints(_ => rng.Next(0, 2))}, rhs_dilation = {Ints(_ => rng.Next(1, 3))}, feature_group_count = {groups}";
            var parts = dims.Split("->")[0].Split('_');
            var xShape = Place(parts[0], 'b', batch, 'f', inF, spatial);
            var kShape = Place(parts[1], 'i', inF / groups, 'o', outF, window);
            var xType = new TensorType(ElementType.F32, xShape);
            var kType = new TensorType(ElementType.F32, kShape);
            var outType = InferConv(xType, kType, attrs);
            if (outType is null) continue; // window does not fit
            var text = $$"""
                func @main(%x: {{xType}}, %k: {{kType}}) -> ({{outType}}) {
                  %y = convolution %x, %k {{{attrs}}} : {{outType}}
                  return %y
                }
                """;
            var m = IrTest.Parse(text);
            var laid = FusionTests.RunPasses(m, "layout");
            var conv = laid.Entry.Body.Operations.Single(o => o.Name == "convolution");
            Assert.StartsWith("b", conv.Attr.String("dims"));
            Assert.EndsWith("f", conv.Attr.String("dims"));
            if (!ReferenceEquals(m, laid)) rewritten++;
            var inputs = m.Entry.ArgumentTypes.Select(t => FusionTests.RandomTensor(rng, t)).ToList();
            FusionTests.AssertBitwiseEqual(FusionTests.Run(m, inputs), FusionTests.Run(laid, inputs), $"seed {seed}\n{Printer.Print(laid)}");
        }
        Assert.True(rewritten > 20, $"only {rewritten} convolutions were rewritten");
    }

    private static long[] Place(string labels, char a, long aSize, char b, long bSize, long[] spatial) =>
        [.. labels.Select(c => c == a ? aSize : c == b ? bSize : spatial[c - '0'])];

    /// <summary>The output type the verifier infers (read from its message for a deliberately wrong declared type).</summary>
    private static TensorType? InferConv(TensorType x, TensorType k, string attrs)
    {
        var text = $$"""
            func @main(%x: {{x}}, %k: {{k}}) -> (tensor<f32>) {
              %y = convolution %x, %k {{{attrs}}} : tensor<f32>
              return %y
            }
            """;
        var r = Parser.ParseModule(text, "infer.ir");
        var msg = string.Join("\n", r.Diagnostics);
        var i = msg.IndexOf("the inferred [", StringComparison.Ordinal);
        if (i < 0) return null;
        var shape = msg[(i + 14)..msg.IndexOf(']', i)].Split(", ", StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
        return shape.Any(d => d == 0) ? null : new TensorType(ElementType.F32, shape);
    }

    [Fact]
    public void RandomDotsGiveBitwiseIdenticalResultsWithCanonicalRhs()
    {
        for (int seed = 0; seed < 40; seed++)
        {
            var rng = new Random(seed);
            // rhs dims: one batch (3), one contracting (4), one free (5), in a random order.
            var order = new[] { 'b', 'k', 'n' }.OrderBy(_ => rng.Next()).ToArray();
            var rhsShape = order.Select(c => c == 'b' ? 3L : c == 'k' ? 4L : 5L).ToArray();
            var rhsType = new TensorType(ElementType.F32, rhsShape);
            var text = $$"""
                func @main(%x: tensor<3x2x4xf32>, %y: {{rhsType}}) -> (tensor<3x2x5xf32>) {
                  %z = dot_general %x, %y {lhs_batch = [0], rhs_batch = [{{Array.IndexOf(order, 'b')}}], lhs_contract = [2], rhs_contract = [{{Array.IndexOf(order, 'k')}}]} : tensor<3x2x5xf32>
                  return %z
                }
                """;
            var m = IrTest.Parse(text);
            var laid = FusionTests.RunPasses(m, "layout");
            var dot = laid.Entry.Body.Operations.Single(o => o.Name == "dot_general");
            Assert.Equal("0|1", $"{string.Join(",", dot.Attr.Ints("rhs_batch"))}|{string.Join(",", dot.Attr.Ints("rhs_contract"))}");
            var inputs = m.Entry.ArgumentTypes.Select(t => FusionTests.RandomTensor(rng, t)).ToList();
            FusionTests.AssertBitwiseEqual(FusionTests.Run(m, inputs), FusionTests.Run(laid, inputs), $"seed {seed}\n{Printer.Print(laid)}");
        }
    }

    [Fact]
    public void DefaultPipelineLeavesNoTransposeOfAConstantKernel()
    {
        var m = IrTest.Parse("""
            func @main(%x: tensor<1x2x4x4xf32>) -> (tensor<1x3x3x3xf32>) {
              %k = constant {value = dense<[[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]], [[[-1.0, -2.0], [-3.0, -4.0]], [[0.5, 0.25], [0.125, 2.0]]], [[[1.5, 2.5], [3.5, 4.5]], [[5.5, 6.5], [7.5, 8.5]]]]>} : tensor<3x2x2x2xf32>
              %w = constant {value = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]>} : tensor<2x3xf32>
              %y = convolution %x, %k {dims = "bf01_oi01->bf01"} : tensor<1x3x3x3xf32>
              return %y
            }
            """);
        var compiled = FusionTests.RunPasses(m, [.. PassRegistry.Default.Passes]);
        var ops = compiled.Entry.Body.Operations;
        var consts = ops.Where(o => o.Name == "constant").SelectMany(o => o.Results).ToHashSet();
        // Only the input (an argument) is transposed at run time; the kernel became a transposed constant, the old one is gone.
        Assert.DoesNotContain(ops, o => o.Name == "transpose" && consts.Contains(o.Operands[0]));
        Assert.Single(ops, o => o.Name == "constant");
        var x = FusionTests.RandomTensor(new Random(3), m.Entry.ArgumentTypes[0]);
        FusionTests.AssertBitwiseEqual(FusionTests.Run(m, [x]), FusionTests.Run(compiled, [x]), Printer.Print(compiled));
    }

    [Fact]
    public void CanonicalIrIsLeftAsItIs()
    {
        var m = IrTest.Parse("""
            func @main(%x: tensor<1x6x6x4xf32>, %k: tensor<3x3x4x8xf32>, %a: tensor<2x3xf32>, %w: tensor<3x4xf32>) -> (tensor<1x4x4x8xf32>, tensor<2x4xf32>) {
              %y = convolution %x, %k {dims = "b01f_01io->b01f"} : tensor<1x4x4x8xf32>
              %z = dot_general %a, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<2x4xf32>
              return %y, %z
            }
            """);
        var r = new LayoutAssignment().Run(m, PassOptions.Default);
        Assert.False(r.Changed);
        Assert.Same(m, r.Module);
    }
}
