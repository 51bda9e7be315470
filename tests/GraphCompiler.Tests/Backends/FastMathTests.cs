using GraphCompiler.Backends.Cpu;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// The straight-line f32 math helpers (src/Backends/Llvm/Codegen/Math), compiled by the CPU backend, against
/// the interpreter computing in f64 (an exact reference for f32 arguments): the error in ulps of the f32
/// result over a spread of every binade, and the special cases C99 Annex F gives. The same helpers are the
/// GPU's only libm, so these bounds are the GPU's too.
/// </summary>
public sealed class FastMathTests
{
    /// <summary>Bit patterns spread over every binade of both signs, plus the specials.</summary>
    private static float[] Arguments(int seed, float limit = float.PositiveInfinity)
    {
        var rng = new Random(seed);
        var xs = new List<float>();
        for (uint u = 0; u < 0x7f800000u; u += 4099 + (uint)rng.Next(64))
        {
            var x = BitConverter.UInt32BitsToSingle(u);
            if (x > limit) break;
            xs.Add(x);
            xs.Add(-x);
        }
        xs.AddRange([0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1f, -1f, float.Epsilon]);
        if (limit >= float.MaxValue) xs.AddRange([float.MaxValue, -float.MaxValue]);
        return [.. xs];
    }

    private static double[] Reference(string op, float[] x, float[]? y = null)
    {
        var args = y is null ? "%x: tensor<NxTY>" : "%x: tensor<NxTY>, %y: tensor<NxTY>";
        var text = $"func @main({args}) -> (tensor<NxTY>) {{\n  %r = {op} %x{(y is null ? "" : ", %y")} : tensor<NxTY>\n  return %r\n}}\n";
        var m = IrTest.Parse(text.Replace("N", x.Length.ToString()).Replace("TY", "f64"));
        Tensor[] inputs = y is null
            ? [Tensor.FromArray(x.Select(v => (double)v).ToArray(), x.Length)]
            : [Tensor.FromArray(x.Select(v => (double)v).ToArray(), x.Length), Tensor.FromArray(y.Select(v => (double)v).ToArray(), y.Length)];
        return new Interpreter(m).Run(null, inputs).Unwrap().Results[0].AsSpan<double>().ToArray();
    }

    private static float[] Compiled(string op, float[] x, float[]? y = null)
    {
        var args = y is null ? "%x: tensor<NxTY>" : "%x: tensor<NxTY>, %y: tensor<NxTY>";
        var text = $"func @main({args}) -> (tensor<NxTY>) {{\n  %r = {op} %x{(y is null ? "" : ", %y")} : tensor<NxTY>\n  return %r\n}}\n";
        var m = PassManager.Run(IrTest.Parse(text.Replace("N", x.Length.ToString()).Replace("TY", "f32")), PassRegistry.Default).Unwrap();
        var llvm = CpuCompiler.Generate(m, new CpuCompileOptions()).Unwrap().LlvmIr;
        Assert.DoesNotContain("declare float @" + op, llvm); // inline code, not a libm call
        using var exe = CpuCompiler.Jit(m).Unwrap();
        Tensor[] inputs = y is null ? [Tensor.FromArray(x, x.Length)] : [Tensor.FromArray(x, x.Length), Tensor.FromArray(y, y.Length)];
        return exe.Run(inputs).Unwrap()[0].AsSpan<float>().ToArray();
    }

    private const float SmallestNormal = 1.17549435e-38f;

    /// <summary>|got − reference| in units of the last place of the reference rounded to f32; 0 for matching specials, +inf for a mismatch.</summary>
    private static double UlpError(float got, double reference)
    {
        if (double.IsNaN(reference)) return float.IsNaN(got) ? 0 : double.PositiveInfinity;
        var rounded = (float)reference;
        if (float.IsNaN(got)) return double.PositiveInfinity;
        if (float.IsInfinity(rounded) || float.IsInfinity(got)) return got == rounded ? 0 : double.PositiveInfinity;
        var a = Math.Abs(rounded);
        var ulp = a < SmallestNormal ? Math.Pow(2, -149) : Math.Pow(2, Math.ILogB(a) - 23);
        return Math.Abs(got - reference) / ulp;
    }

    [Theory]
    [InlineData("log", 1.0, float.PositiveInfinity)]
    [InlineData("log1p", 2.0, float.PositiveInfinity)]
    [InlineData("expm1", 3.0, float.PositiveInfinity)]
    [InlineData("sin", 2.0, float.PositiveInfinity)]
    [InlineData("cos", 2.0, float.PositiveInfinity)]
    [InlineData("tan", 3.0, float.PositiveInfinity)]
    [InlineData("asin", 3.0, float.PositiveInfinity)]
    [InlineData("acos", 2.0, float.PositiveInfinity)]
    [InlineData("atan", 3.0, float.PositiveInfinity)]
    [InlineData("sinh", 3.0, float.PositiveInfinity)]
    [InlineData("cosh", 3.0, float.PositiveInfinity)]
    [InlineData("asinh", 2.0, float.PositiveInfinity)]
    [InlineData("acosh", 3.0, float.PositiveInfinity)]
    [InlineData("atanh", 3.0, float.PositiveInfinity)]
    [InlineData("cbrt", 1.0, float.PositiveInfinity)]
    [InlineData("erf", 3.0, float.PositiveInfinity)]
    [InlineData("exp", 2.0, float.PositiveInfinity)]
    [InlineData("tanh", 3.0, float.PositiveInfinity)]
    public void UnaryWithinItsUlpBound(string op, double maxUlps, float limit)
    {
        var x = Arguments(op.Length, limit);
        var want = Reference(op, x);
        var got = Compiled(op, x);
        double worst = 0;
        int at = 0;
        for (int i = 0; i < x.Length; i++)
        {
            var e = UlpError(got[i], want[i]);
            if (e > worst) (worst, at) = (e, i);
        }
        Assert.True(worst <= maxUlps, $"{op}({x[at]:R}) = {got[at]:R}, want {want[at]:R}: {worst:F2} ulp > {maxUlps}");
        // Signed zeros: odd functions keep the sign of zero, as C does.
        if (op is "log1p" or "expm1" or "sin" or "tan" or "asin" or "atan" or "sinh" or "asinh" or "atanh" or "cbrt" or "erf" or "tanh")
            Assert.True(float.IsNegative(got[Array.IndexOf(x, -0f, 1)]) || float.IsNegative(got[Array.LastIndexOf(x, -0f)]), $"{op}(-0) lost its sign");
    }

    [Fact]
    public void Atan2WithinItsUlpBoundAndCSpecialCases()
    {
        var rng = new Random(7);
        var pool = Arguments(3);
        var y = new float[pool.Length * 2];
        var x = new float[pool.Length * 2];
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = pool[rng.Next(pool.Length)];
            // Half the pairs within a few binades of each other, where the quotient is not trivially 0 or ∞.
            x[i] = i % 2 == 0 ? pool[rng.Next(pool.Length)] : y[i] * (float)(rng.NextDouble() * 8 - 4);
        }
        float[] specials = [0f, -0f, float.PositiveInfinity, float.NegativeInfinity, 1f, -1f];
        var ys = specials.SelectMany(a => specials.Select(_ => a)).ToArray();
        var xs = specials.SelectMany(_ => specials).ToArray();
        y = [.. y, .. ys];
        x = [.. x, .. xs];
        var want = Reference("atan2", y, x);
        var got = Compiled("atan2", y, x);
        for (int i = 0; i < y.Length; i++)
        {
            var e = UlpError(got[i], want[i]);
            Assert.True(e <= 3.5, $"atan2({y[i]:R}, {x[i]:R}) = {got[i]:R}, want {want[i]:R}: {e:F2} ulp");
            if (want[i] == 0) Assert.Equal(double.IsNegative(want[i]), float.IsNegative(got[i]));
        }
    }

    /// <summary>
    /// pow over bases of every binade with exponents that keep most results finite, integer and half-integer
    /// exponents (negative bases: sign or NaN), and the full grid of C99 special values.
    /// </summary>
    [Fact]
    public void PowWithinHalfAnUlpAndCSpecialCases()
    {
        var rng = new Random(11);
        var pool = Arguments(5);
        var xs = new List<float>();
        var ys = new List<float>();
        foreach (var x in pool)
        {
            if (float.IsNaN(x) || float.IsInfinity(x) || x == 0) continue;
            // An exponent whose result lands within the f32 range (|y·log2|x|| < 120), then an integer and a half-integer.
            var l = Math.Abs(Math.Log2(Math.Abs(x)));
            var limit = l < 1e-3 ? 1000 : 120 / l;
            xs.AddRange([x, x, x]);
            ys.AddRange([(float)((rng.NextDouble() * 2 - 1) * limit), MathF.Round((float)((rng.NextDouble() * 2 - 1) * Math.Min(limit, 40))), MathF.Round((float)(rng.NextDouble() * 8 - 4)) + 0.5f]);
        }
        float[] specials = [0f, -0f, 1f, -1f, 0.5f, -0.5f, 2f, -2f, 3f, -3f, 2.5f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.Epsilon, float.MaxValue];
        foreach (var x in specials)
            foreach (var y in specials) { xs.Add(x); ys.Add(y); }
        var want = Reference("pow", [.. xs], [.. ys]);
        var got = Compiled("pow", [.. xs], [.. ys]);
        for (int i = 0; i < xs.Count; i++)
        {
            var e = UlpError(got[i], want[i]);
            Assert.True(e <= 0.501, $"pow({xs[i]:R}, {ys[i]:R}) = {got[i]:R}, want {want[i]:R}: {e:F3} ulp");
            if (want[i] == 0) Assert.True(double.IsNegative(want[i]) == float.IsNegative(got[i]), $"pow({xs[i]:R}, {ys[i]:R}): the sign of zero");
        }
    }
}
