using GraphCompiler.IR.Ops;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Tests.IR;

public sealed class RandomOpsTests
{
    private static string Text(string attrs, string type) => IrTest.Func($"  %0 = rng {{{attrs}}} : {type}\n  return %0", type);

    private static Tensor Run(string attrs, string type) => IrTest.Run(Text(attrs, type))[0];

    // ---- the raw generator: Random123 known-answer tests (kat_vectors) ----------------------------

    [Fact]
    public void PhiloxZeroCounterZeroKey() =>
        Assert.Equal((0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u), RngOp.Philox4x32(0, 0, 0, 0, 0, 0));

    [Fact]
    public void PhiloxAllOnes() =>
        Assert.Equal((0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu),
            RngOp.Philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff));

    [Fact]
    public void PhiloxPiDigits() =>
        Assert.Equal((0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u),
            RngOp.Philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0));

    // ---- exact values from the documented recipe ---------------------------------------------------

    [Fact]
    public void UniformF32SeedZeroMatchesRecipe()
    {
        // Element 0 of seed 0 is the first KAT word 0x6627e8d5: top 24 bits 0x6627e8 = 6694888, / 2^24.
        var r = Run("distribution = uniform, seed = 0", "tensor<4xf32>");
        Assert.Equal(6694888 / 16777216.0, r.GetDouble(0));
        // Elements 1..3 use counters 1..3 (first words 0xf8e4cca4, 0x04faa329, 0xc990ef29).
        Assert.Equal(0xf8e4cc / 16777216.0, r.GetDouble(1));
        Assert.Equal(0x04faa3 / 16777216.0, r.GetDouble(2));
        Assert.Equal(0xc990ef / 16777216.0, r.GetDouble(3));
        // Rank 0 is element 0.
        Assert.Equal(6694888 / 16777216.0, Run("distribution = uniform, seed = 0", "tensor<f32>").GetDouble(0));
    }

    [Fact]
    public void UniformF64UsesFiftyThreeBits()
    {
        // Words 0x6627e8d5, 0xe169c58d → (0x6627e8d5e169c58d >> 11) / 2^53.
        var r = Run("distribution = uniform, seed = 0", "tensor<f64>");
        Assert.Equal((0x6627e8d5e169c58dUL >> 11) / 9007199254740992.0, r.GetDouble(0));
        Assert.Equal(0.3990464708489645, r.GetDouble(0));
    }

    [Fact]
    public void SeedIsTheKeyLowWordFirst()
    {
        // seed 0x299f31d0a4093822 → key (0xa4093822, 0x299f31d0); Philox(0; key) starts 0x0e847852.
        var r = Run("distribution = uniform, seed = 2999170649027065890", "tensor<f32>");
        Assert.Equal((0x0e847852u >> 8) / 16777216.0, r.GetDouble(0));
        Assert.Equal(0x0e847852u, RngOp.Philox4x32(0, 0, 0, 0, 0xa4093822, 0x299f31d0).R0);
        // A negative seed is its two's complement: -1 → key (0xffffffff, 0xffffffff).
        var n = Run("distribution = uniform, seed = -1", "tensor<f32>");
        Assert.Equal((RngOp.Philox4x32(0, 0, 0, 0, 0xffffffff, 0xffffffff).R0 >> 8) / 16777216.0, n.GetDouble(0));
    }

    [Fact]
    public void UniformScalesToRange()
    {
        // u = (w0 >> 8) / 2^24 for seed 7, x = -2 + 5u rounded to f32.
        var r = Run("distribution = uniform, seed = 7, a = -2, b = 3", "tensor<3xf32>");
        IrTest.AssertTensor(T.F32([3], 2.7729854583740234, 0.03480184078216553, -1.9696245193481445), r, rtol: 0);
    }

    [Fact]
    public void NormalMatchesBoxMuller()
    {
        // z = sqrt(-2 ln(1 - U(w0))) cos(2π U(w1)), x = 1 + 2z, from an independent implementation of the recipe.
        var r = Run("distribution = normal, seed = 5, a = 1, b = 2", "tensor<3xf32>");
        IrTest.AssertTensor(T.F32([3], 4.0869011878967285, 2.0270752906799316, -0.9315674901008606), r, rtol: 1e-6);
        var d = Run("distribution = normal, seed = 5", "tensor<f64>");
        Assert.Equal(1.6954323714373645, d.GetDouble(0), 1e-13);
    }

    // ---- determinism and order independence --------------------------------------------------------

    [Fact]
    public void DeterministicAndShapeIndependent()
    {
        var a = Run("distribution = normal, seed = 42", "tensor<10000xf32>");
        var b = Run("distribution = normal, seed = 42", "tensor<10000xf32>");
        var c = Run("distribution = normal, seed = 42", "tensor<100x100xf32>");
        var prefix = Run("distribution = normal, seed = 42", "tensor<2x3xf32>");
        Assert.Equal(a, b);
        Assert.True(a.Bytes.SequenceEqual(c.Bytes), "element k depends only on k, not on the shape");
        Assert.True(a.Bytes[..24].SequenceEqual(prefix.Bytes), "a smaller tensor is a prefix of a larger one");
        var other = Run("distribution = normal, seed = 43", "tensor<10000xf32>");
        Assert.True(T.Doubles(a).Zip(T.Doubles(other)).Count(p => p.First == p.Second) < 10, "different seeds give different streams");
    }

    [Fact]
    public void EmptyResult() => Assert.Equal(0, Run("distribution = uniform, seed = 1", "tensor<0x3xf32>").ElementCount);

    // ---- range and statistics over 10000 samples ------------------------------------------------------

    private static (double Mean, double Std) Stats(double[] v)
    {
        double mean = v.Average();
        return (mean, Math.Sqrt(v.Select(x => (x - mean) * (x - mean)).Sum() / (v.Length - 1)));
    }

    [Fact]
    public void UniformRangeAndMoments()
    {
        var v = T.Doubles(Run("distribution = uniform, seed = 123", "tensor<10000xf32>"));
        Assert.All(v, x => Assert.True(x >= 0 && x < 1, $"{x} outside [0, 1)"));
        var (mean, std) = Stats(v);
        // U[0,1): mean 1/2, sd 1/sqrt(12) = 0.2887; bounds are about 4 standard errors.
        Assert.InRange(mean, 0.5 - 0.012, 0.5 + 0.012);
        Assert.InRange(std, 0.2887 - 0.007, 0.2887 + 0.007);

        var w = T.Doubles(Run("distribution = uniform, seed = 9, a = -3, b = 5", "tensor<10000xf64>"));
        Assert.All(w, x => Assert.True(x >= -3 && x < 5, $"{x} outside [-3, 5)"));
        var (wm, ws) = Stats(w);
        Assert.InRange(wm, 1 - 0.1, 1 + 0.1);
        Assert.InRange(ws, 8 * 0.2887 - 0.06, 8 * 0.2887 + 0.06);
    }

    [Theory]
    [InlineData("f16")]
    [InlineData("bf16")]
    public void UniformStaysBelowBWhenRoundingWouldReachIt(string type)
    {
        // In [1, 2) f16 keeps 10 fraction bits and bf16 7, so u close to 1 rounds a + (b - a)u up to 2;
        // those values must become the largest value below 2 instead.
        var v = T.Doubles(Run("distribution = uniform, seed = 3, a = 1, b = 2", $"tensor<10000x{type}>"));
        Assert.All(v, x => Assert.True(x >= 1 && x < 2, $"{x} outside [1, 2)"));
        double largest = type == "f16" ? 2 - 1.0 / 1024 : 2 - 1.0 / 128;
        Assert.Contains(largest, v);
    }

    [Fact]
    public void UniformSnapsIntoNarrowRanges()
    {
        // [0.1, 0.2) in f16: 0.1 itself is not an f16 value; every result is an f16 value inside the range.
        var v = T.Doubles(Run("distribution = uniform, seed = 11, a = 0.1, b = 0.2", "tensor<1000xf16>"));
        Assert.All(v, x => Assert.True(x >= 0.1 && x < 0.2, $"{x} outside [0.1, 0.2)"));
    }

    [Fact]
    public void NormalMoments()
    {
        var v = T.Doubles(Run("distribution = normal, seed = 2024", "tensor<10000xf32>"));
        var (mean, std) = Stats(v);
        // Standard errors: mean 0.01, sd about 0.007.
        Assert.InRange(mean, -0.04, 0.04);
        Assert.InRange(std, 0.97, 1.03);
        Assert.InRange(v.Count(x => Math.Abs(x) < 1) / 10000.0, 0.6827 - 0.02, 0.6827 + 0.02);

        var w = T.Doubles(Run("distribution = normal, seed = 77, a = 3, b = 2", "tensor<100x100xf64>"));
        var (wm, ws) = Stats(w);
        Assert.InRange(wm, 3 - 0.08, 3 + 0.08);
        Assert.InRange(ws, 2 - 0.06, 2 + 0.06);
        Assert.All(w, x => Assert.True(double.IsFinite(x)));
    }

    [Fact]
    public void NormalWithZeroDeviationIsTheMean()
    {
        var r = Run("distribution = normal, seed = 1, a = 2.5, b = 0", "tensor<5xbf16>");
        IrTest.AssertTensor(T.BF16([5], 2.5, 2.5, 2.5, 2.5, 2.5), r);
    }

    // ---- printing -----------------------------------------------------------------------------------

    [Fact]
    public void DefaultBoundsAreNotPrinted()
    {
        var m = IrTest.Parse(Text("distribution = uniform, seed = 1, a = 0, b = 1", "tensor<2xf32>"));
        Assert.Contains("rng {distribution = uniform, seed = 1} : tensor<2xf32>", Printer.Print(m, PrintOptions.Full));
        var n = IrTest.Parse(Text("distribution = normal, seed = 1, a = -1, b = 0.5", "tensor<2xf32>"));
        IrTest.AssertRoundTrip(n);
        Assert.Contains("a = -1.0", Printer.Print(n, PrintOptions.Full));
    }

    // ---- verifier ---------------------------------------------------------------------------------

    [Fact]
    public void Rejects()
    {
        IrTest.Rejects(Text("distribution = uniform, seed = 1", "tensor<2xi32>"), "result must have a float element type, got tensor<2xi32>");
        IrTest.Rejects(Text("distribution = uniform, seed = 1, a = 1, b = 1", "tensor<2xf32>"), "uniform needs a < b, got a = 1 and b = 1");
        IrTest.Rejects(Text("distribution = uniform, seed = 1, a = 2, b = -1", "tensor<2xf32>"), "uniform needs a < b");
        IrTest.Rejects(Text("distribution = uniform, seed = 1, a = -1e308, b = 1e308", "tensor<2xf64>"), "uniform range b - a overflows");
        IrTest.Rejects(Text("distribution = uniform, seed = 1, a = 1.0001, b = 1.0002", "tensor<2xf16>"), "no f16 value lies in [1.0001, 1.0002)");
        IrTest.Rejects(Text("distribution = normal, seed = 1, b = -1", "tensor<2xf32>"), "normal needs a standard deviation b >= 0, got -1");
        IrTest.Rejects(Text("distribution = normal, seed = 1, a = inf", "tensor<2xf32>"), "'a' and 'b' must be finite");
        IrTest.Rejects(Text("distribution = normal, seed = 1, b = nan", "tensor<2xf32>"), "'a' and 'b' must be finite");
        IrTest.Rejects(Text("seed = 1", "tensor<2xf32>"), "missing required attribute 'distribution'");
        IrTest.Rejects(Text("distribution = uniform", "tensor<2xf32>"), "missing required attribute 'seed'");
        IrTest.Rejects(Text("distribution = poisson, seed = 1", "tensor<2xf32>"), "attribute 'distribution' must be one of uniform|normal");
        IrTest.Rejects(IrTest.Func("  %0 = rng %arg0 {distribution = uniform, seed = 1} : tensor<2xf32>\n  return %0", "tensor<2xf32>", "tensor<f32>"),
            "takes 0 operand(s), got 1");
    }
}
