using System.Diagnostics;
using GraphCompiler.IR.Text;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Passes;

/// <summary>Properties of simplify, constant-fold, cse and canonicalize that need code rather than golden files.</summary>
public sealed class CanonicalizationTests
{
    private static readonly PassOptions Checked = new() { CheckEachPass = true };

    private static Module RunPipeline(Module m, params string[] passes) =>
        PassManager.Run(m, new Pipeline("test", [.. passes]), Checked).Unwrap();

    [Theory]
    [InlineData("canonicalize")]
    [InlineData("simplify")]
    [InlineData("constant-fold")]
    [InlineData("cse")]
    public void RandomGraphsComputeBitIdenticalResults(string pass)
    {
        int rewritten = 0;
        for (int seed = 0; seed < 60; seed++)
        {
            var (m, inputs) = new RandomGraphs(seed).Build(40);
            var before = RandomGraphs.Run(m, inputs);
            var after = RunPipeline(m, pass);
            if (!ReferenceEquals(after, m)) rewritten++;
            RandomGraphs.AssertBitwiseEqual(before, RandomGraphs.Run(after, inputs), $"seed {seed}\n{Printer.Print(m, PrintOptions.Full)}\n--- after {pass}:\n{Printer.Print(after, PrintOptions.Full)}");
        }
        Assert.True(rewritten > 30, $"only {rewritten} of 60 random graphs were rewritten: the generator no longer exercises {pass}");
    }

    [Fact]
    public void CanonicalizeShrinksRandomGraphs()
    {
        long before = 0, after = 0;
        for (int seed = 100; seed < 120; seed++)
        {
            var (m, _) = new RandomGraphs(seed).Build(60);
            before += m.Entry.Body.Operations.Length;
            after += RunPipeline(m, "canonicalize").Entry.Body.Operations.Length;
        }
        Assert.True(after < before * 0.8, $"{before} ops became {after}");
    }

    [Fact]
    public void CanonicalizeIsAFixedPoint()
    {
        for (int seed = 200; seed < 220; seed++)
        {
            var (m, _) = new RandomGraphs(seed).Build(50);
            var once = RunPipeline(m, "canonicalize");
            var r = PassRegistry.Find("canonicalize")!.Run(once, Checked);
            Assert.False(r.Changed, $"seed {seed}: a second canonicalize changed\n{Printer.Print(once)}\n---\n{Printer.Print(r.Module)}");
        }
    }

    [Fact]
    public void DefaultPipelineKeepsExamplesResults()
    {
        var dir = Path.Combine(GoldenFile.RepoRoot(), "examples");
        var files = Directory.GetFiles(dir, "*.ir");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var m = Parser.ParseModule(File.ReadAllText(file), file).Unwrap();
            var rng = new Random(7);
            var inputs = m.Entry.ArgumentTypes.Select(t => Tensor.FromDoubles(t,
                [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => Math.Round((rng.NextDouble() - 0.5) * 8, 3))])).ToArray();
            var expected = RandomGraphs.Run(m, inputs);
            var optimised = PassManager.Run(m, PassRegistry.Default, Checked).Unwrap();
            var actual = RandomGraphs.Run(optimised, inputs);
            // Exact, except that fold-batchnorm (in the default pipeline) may change rounding where an
            // example has a convolution followed by a per-channel scale.
            bool exact = !optimised.ToString().Contains("convolution");
            for (int i = 0; i < expected.Length; i++)
            {
                if (exact) RandomGraphs.AssertBitwiseEqual([expected[i]], [actual[i]], file);
                else IrTest.AssertTensor(expected[i], actual[i], rtol: 1e-5, atol: 1e-6);
            }
        }
    }

    [Fact]
    public void ConstantFoldHonoursTheSizeCap()
    {
        var m = IrTest.Parse("""
            func @main() -> (tensor<100xf32>) {
              %b = iota {dimension = 0} : tensor<100xf32>
              return %b
            }
            """);
        var capped = PassManager.Run(m, new Pipeline("t", ["constant-fold"]), Checked with { MaxFoldElements = 99 }).Unwrap();
        Assert.Contains("iota", capped.ToString());
        var folded = PassManager.Run(m, new Pipeline("t", ["constant-fold"]), Checked with { MaxFoldElements = 100 }).Unwrap();
        Assert.DoesNotContain("iota", folded.ToString());
    }

    [Fact]
    public void SliceOfABroadcastIsABroadcastWhenItTakesAllOfTheBroadcastValue()
    {
        // %b is 3·10⁹ elements: slicing it must not need it. Along dim 0 (x's own) the slice takes all 3.
        var m = IrTest.Parse("""
            func @main(%x: tensor<3x1xf32>) -> (tensor<3x2xf32>) {
              %b = broadcast_in_dim %x {dims = [0, 1]} : tensor<3x1000000000xf32>
              %s = slice %b {limit = [3, 7], start = [0, 5]} : tensor<3x2xf32>
              return %s
            }
            """);
        var simplified = RunPipeline(m, "simplify", "dce");
        Assert.Contains("broadcast_in_dim %arg0 {dims = [0, 1]} : tensor<3x2xf32>", simplified.ToString());
        Assert.DoesNotContain("slice", simplified.ToString());
        IrTest.AssertTensor(T.F32([3, 2], 1, 1, 2, 2, 3, 3), new Interpreter(simplified).Run(null, [T.F32([3, 1], 1, 2, 3)]).Unwrap().Results[0]);

        // A slice taking part of x along one of its own dimensions stays a slice.
        var part = IrTest.Parse("""
            func @main(%x: tensor<3x1xf32>) -> (tensor<2x2xf32>) {
              %b = broadcast_in_dim %x {dims = [0, 1]} : tensor<3x4xf32>
              %p = slice %b {limit = [2, 2], start = [0, 0]} : tensor<2x2xf32>
              return %p
            }
            """);
        Assert.Contains("slice", RunPipeline(part, "simplify").ToString());
    }

    [Fact]
    public void CompareOfHugeValueWithItselfIsNotMaterialised()
    {
        // compare(x, x) => true would be a 10^8-element constant: simplify emits a broadcast instead.
        var m = IrTest.Parse("""
            func @main(%x: tensor<10000x10000xi8>) -> (tensor<10000x10000xbool>) {
              %c = compare %x, %x {direction = eq} : tensor<10000x10000xbool>
              return %c
            }
            """);
        var text = RunPipeline(m, "canonicalize").ToString();
        Assert.Contains("broadcast_in_dim", text);
        Assert.Contains("dense<true> : tensor<bool>", text.Replace("{value = ", "").Replace("}", ""));
    }

    [Fact]
    public void ExactWideningMatchesTheInterpreter()
    {
        // Every pair the convert-convert rule treats as exact must round-trip extreme values.
        foreach (var from in Enum.GetValues<ElementType>())
        foreach (var to in Enum.GetValues<ElementType>())
        {
            if (!GraphCompiler.Passes.Rewrites.AlgebraicRules.IsExactWidening(from, to)) continue;
            double[] probes = from.IsBool() ? [0, 1] : from.IsFloat()
                ? [0, -0.0, 1, -1, 1e-7, 65504, 3.3895313892515355e38, double.PositiveInfinity, 0.1, 1.0000001]
                : [0, 1, -1, 127, -128, 255, 32767, -32768, 65535, int.MaxValue, int.MinValue, uint.MaxValue, long.MaxValue, long.MinValue];
            var t = new TensorType(from, probes.Length);
            var x = Tensor.FromDoubles(t, probes);
            if (!from.IsFloat() && !from.IsBool()) x = Tensor.FromInt64s(t, [.. probes.Select(p => p >= 9.2e18 ? long.MaxValue : p <= -9.2e18 ? long.MinValue : (long)p)]);
            var text = $"func @main(%x: {t}) -> ({t}) {{\n  %w = convert %x : {t.WithElement(to)}\n  %b = convert %w : {t}\n  return %b\n}}\n";
            var back = IrTest.Run(text, x)[0];
            Assert.True(x.Bytes.SequenceEqual(back.Bytes), $"{from.Name()} -> {to.Name()} is not exact: {x} came back as {back}");
        }
    }

    [Theory]
    [InlineData("cse")]
    [InlineData("simplify")]
    [InlineData("constant-fold")]
    [InlineData("canonicalize")]
    public void LongChainsAreNotQuadratic(string pass)
    {
        // 20k ops: x -> neg -> add 0 -> neg -> ..., with duplicated constants and a duplicate of every op.
        var fb = new FunctionBuilder();
        var b = fb.Body;
        var x = fb.Arg(ElementType.I32, 8);
        var v = x;
        for (int k = 0; k < 4000; k++)
        {
            var zero = b.Constant(Tensor.Zeros(x.Type));
            var n = b.Emit("neg", v);
            b.Emit("neg", v);
            var a = b.Emit("add", n, zero);
            v = b.Emit("mul", a, b.Emit("neg", a));
        }
        var m = new Module([fb.Return(v)]);
        Assert.True(m.Entry.Body.Operations.Length >= 20_000);
        var sw = Stopwatch.StartNew();
        var r = PassManager.Run(m, new Pipeline("t", [pass]), PassOptions.Default).Unwrap();
        sw.Stop();
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"{pass} took {sw.Elapsed.TotalSeconds:F1} s on {m.Entry.Body.Operations.Length} ops");
        if (pass != "constant-fold") Assert.NotSame(m, r);
    }
}
