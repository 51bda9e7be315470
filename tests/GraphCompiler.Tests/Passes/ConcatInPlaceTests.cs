using GraphCompiler.Backends.Cpu;
using GraphCompiler.IR.Analysis;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Passes;

/// <summary>
/// Concatenation chains in one buffer (<see cref="ConcatInPlace"/>): which chains qualify, where buffer
/// assignment puts their members, and that the compiled program (no copies for members in their slices,
/// copies for the rest) computes what the interpreter does.
/// </summary>
public sealed class ConcatInPlaceTests
{
    /// <summary>
    /// A dense block as the ONNX importer writes DenseNet's (NCHW, batch 1): layer k concatenates the block
    /// input and layers 1..k−1's outputs, then batch norm, relu and a 1×1 convolution make 8 new channels.
    /// <paramref name="alsoReturnLayer1"/> returns layer 1's output too, so the backend writes it to the
    /// caller's buffer and must copy it into its slice.
    /// </summary>
    private static string DenseBlock(int layers, bool alsoReturnLayer1 = false, int batch = 1)
    {
        var sb = new System.Text.StringBuilder();
        int c = 16;
        sb.AppendLine($"  %x0 = exp %x : tensor<{batch}x16x6x5xf32>");
        var parts = new List<string> { "%x0" };
        for (int k = 1; k <= layers; k++)
        {
            string input = parts.Count == 1 ? "%x0" : $"%cat{k}";
            if (parts.Count > 1)
                sb.AppendLine($"  %cat{k} = concatenate {string.Join(", ", parts)} {{dimension = 1}} : tensor<{batch}x{c}x6x5xf32>");
            sb.AppendLine($$"""
                  %i{{k}} = iota {dimension = 1} : tensor<8x{{c}}x1x1xf32>
                  %o{{k}} = iota {dimension = 0} : tensor<8x{{c}}x1x1xf32>
                  %d{{k}} = sub %i{{k}}, %o{{k}} : tensor<8x{{c}}x1x1xf32>
                  %s{{k}} = constant {value = dense<0.03>} : tensor<8x{{c}}x1x1xf32>
                  %w{{k}} = mul %d{{k}}, %s{{k}} : tensor<8x{{c}}x1x1xf32>
                  %g{{k}} = constant {value = dense<0.9>} : tensor<{{batch}}x{{c}}x6x5xf32>
                  %n{{k}} = mul {{input}}, %g{{k}} : tensor<{{batch}}x{{c}}x6x5xf32>
                  %z{{k}} = constant {value = dense<0.0>} : tensor<{{batch}}x{{c}}x6x5xf32>
                  %r{{k}} = max %n{{k}}, %z{{k}} : tensor<{{batch}}x{{c}}x6x5xf32>
                  %y{{k}} = convolution %r{{k}}, %w{{k}} {dims = "bf01_oi01->bf01"} : tensor<{{batch}}x8x6x5xf32>
                """);
            parts.Add($"%y{k}");
            c += 8;
        }
        // The block's output goes on to the next layer (here a relu), as in the network.
        sb.AppendLine($"  %out = concatenate {string.Join(", ", parts)} {{dimension = 1}} : tensor<{batch}x{c}x6x5xf32>");
        sb.AppendLine($"  %zo = constant {{value = dense<0.0>}} : tensor<{batch}x{c}x6x5xf32>");
        sb.AppendLine($"  %next = max %out, %zo : tensor<{batch}x{c}x6x5xf32>");
        var results = alsoReturnLayer1 ? $"tensor<{batch}x{c}x6x5xf32>, tensor<{batch}x8x6x5xf32>" : $"tensor<{batch}x{c}x6x5xf32>";
        sb.AppendLine(alsoReturnLayer1 ? "  return %next, %y1" : "  return %next");
        return $"func @main(%x: tensor<{batch}x16x6x5xf32>) -> ({results}) {{\n{sb}}}\n";
    }

    private static Function Optimised(string text) => PassManager.Run(IrTest.Parse(text), PassRegistry.Default).Unwrap().Entry;

    [Fact]
    public void ADenseBlockIsOneChainAfterThePipeline()
    {
        var f = Optimised(DenseBlock(4));
        var g = Assert.Single(ConcatInPlace.Groups(f.Body));
        // cat2, cat3, cat4 and out: the block input and four layer outputs, out being the root.
        Assert.Equal(4, g.Concats.Length);
        Assert.Equal(5, g.Root.Operands.Length);
        long at = 0;
        foreach (var x in g.Root.Operands)
        {
            Assert.Equal(at, g.Offsets[x]);
            at += x.Type.ByteSize;
        }
        Assert.All(g.Concats, c => Assert.Equal(0, g.Offsets[c.Result]));
        // fuse kept the concatenations out of kernels.
        Assert.All(g.Concats, c => Assert.Contains(c, f.Body.Operations));
    }

    [Fact]
    public void BufferAssignmentPutsEveryMemberInItsSlice()
    {
        var f = Optimised(DenseBlock(3));
        var g = Assert.Single(ConcatInPlace.Groups(f.Body));
        var plan = BufferAssignment.Compute(f);
        var at = plan.Values.ToDictionary(v => v.Value, v => v, (IEqualityComparer<Value>)ReferenceEqualityComparer.Instance);
        var root = at[g.Root.Result];
        Assert.Equal(BufferKind.Arena, root.Kind);
        foreach (var (v, offset) in g.Offsets)
        {
            Assert.Equal(BufferKind.Arena, at[v].Kind);
            Assert.Equal(root.Offset + offset, at[v].Offset);
            Assert.Equal(root.Buffer, at[v].Buffer);
        }
        // Nothing else overlaps the shared buffer while it is live.
        var shared = at[g.Root.Result];
        int start = g.Offsets.Keys.Min(v => at[v].Start), end = g.Offsets.Keys.Max(v => at[v].End);
        foreach (var v in plan.InArena.Where(v => v.Buffer != shared.Buffer && v.Bytes > 0))
        {
            bool timeOverlap = v.Start <= end && start <= v.End;
            bool spaceOverlap = v.Offset < shared.Offset + shared.Size && shared.Offset < v.Offset + v.Size;
            Assert.False(timeOverlap && spaceOverlap, $"{v.Name} overlaps the chain's buffer");
        }
    }

    [Theory]
    [InlineData(4, false)]
    [InlineData(3, true)]
    public void TheCompiledChainMatchesTheInterpreter(int layers, bool alsoReturnLayer1)
    {
        var text = DenseBlock(layers, alsoReturnLayer1);
        var m = IrTest.Parse(text);
        var rng = new Random(7);
        var input = Tensor.FromDoubles(m.Entry.Arguments[0].Type, [.. Enumerable.Range(0, (int)m.Entry.Arguments[0].Type.ElementCount).Select(_ => rng.NextDouble() - 0.5)]);
        var expected = new Interpreter(m).Run(null, [input]).Unwrap().Results;
        var optimised = PassManager.Run(m, PassRegistry.Default).Unwrap();
        var llvm = CpuCompiler.Generate(optimised).Unwrap().LlvmIr;
        // Members in their slices are not copied; a member returned to the caller is written there and copied in.
        if (alsoReturnLayer1) Assert.Contains("%slice", llvm);
        else Assert.DoesNotContain("%slice", llvm);
        using var exe = CpuCompiler.Jit(optimised).Unwrap();
        var actual = exe.Run([input]).Unwrap();
        for (int i = 0; i < expected.Length; i++)
            IrTest.AssertTensor(expected[i], actual[i], rtol: 1e-5, atol: 1e-5);
    }

    [Fact]
    public void ALoneConcatenationStaysFusible()
    {
        Assert.Empty(ConcatInPlace.Groups(Optimised(DenseBlock(1)).Body));
    }

    [Fact]
    public void SlicesThatAreNotContiguousDoNotQualify()
    {
        // Batch 2: each operand's slice is two runs, one per image.
        Assert.Empty(ConcatInPlace.Groups(Optimised(DenseBlock(3, batch: 2)).Body));
    }

    [Theory]
    // A member that is not a run of the root's operands (b, a against a, b, c).
    [InlineData("%c1 = concatenate %b, %a {dimension = 0} : tensor<32xf32>", "%c2 = concatenate %a, %b, %c {dimension = 0} : tensor<48xf32>")]
    // An argument as an operand: it lives in the caller's buffer.
    [InlineData("%c1 = concatenate %a, %x {dimension = 0} : tensor<32xf32>", "%c2 = concatenate %a, %x, %c {dimension = 0} : tensor<48xf32>")]
    // One value twice in a concatenation: it cannot be in two slices.
    [InlineData("%c1 = concatenate %a, %b {dimension = 0} : tensor<32xf32>", "%c2 = concatenate %a, %b, %a {dimension = 0} : tensor<48xf32>")]
    // A slice that does not start at a multiple of the alignment (a is 3 floats).
    [InlineData("%c1 = concatenate %t, %b {dimension = 0} : tensor<19xf32>", "%c2 = concatenate %t, %b, %c {dimension = 0} : tensor<35xf32>")]
    public void ChainsThatCannotShareABufferAreLeftAlone(string first, string second) => Assert.Empty(ConcatInPlace.Groups(Chain(first, second).Body));

    [Fact]
    public void APlainChainQualifies()
    {
        // The fixture of the test above with a chain that can share: c1 = (a, b) is the prefix of c2 = (a, b, c).
        var g = Assert.Single(ConcatInPlace.Groups(Chain("%c1 = concatenate %a, %b {dimension = 0} : tensor<32xf32>",
            "%c2 = concatenate %a, %b, %c {dimension = 0} : tensor<48xf32>").Body));
        Assert.Equal([0L, 64L, 128L, 0L, 0L], g.Root.Operands.Select(x => g.Offsets[x]).Concat(g.Concats.Select(c => g.Offsets[c.Result])));
    }

    private static Function Chain(string first, string second)
    {
        return IrTest.Parse($$"""
            func @main(%x: tensor<16xf32>) -> (tensor<{{(second.Contains("35") ? 35 : 48)}}xf32>, tensor<{{(first.Contains("19") ? 19 : 32)}}xf32>) {
              %a = exp %x : tensor<16xf32>
              %b = tanh %x : tensor<16xf32>
              %c = neg %x : tensor<16xf32>
              %ts = slice %x {start = [0], limit = [3], stride = [1]} : tensor<3xf32>
              %t = exp %ts : tensor<3xf32>
              {{first}}
              {{second}}
              return %c2, %c1
            }
            """).Entry;
    }
}
