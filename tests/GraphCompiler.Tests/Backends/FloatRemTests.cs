using GraphCompiler.Backends.Cpu;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// The float remainder helper (src/Backends/Llvm/Codegen/Math/FloatRem.cs), compiled by the CPU backend, against .NET's
/// <c>%</c> (the C runtime's fmod): bit for bit, since fmod is exact, over pairs drawn from every binade of both signs —
/// subnormals, quotients up to 2^277 (f32) and 2^2000 (f64), exact multiples — and the special cases (y = ±0, infinite x,
/// infinite y, NaNs, signed zeros). The GPU runs the same helper (it has no libm).
/// </summary>
public sealed class FloatRemTests
{
    private static float[] Compiled(float[] x, float[] y) => Run("f32", Tensor.FromArray(x, x.Length), Tensor.FromArray(y, y.Length)).AsSpan<float>().ToArray();

    private static double[] Compiled(double[] x, double[] y) => Run("f64", Tensor.FromArray(x, x.Length), Tensor.FromArray(y, y.Length)).AsSpan<double>().ToArray();

    private static Tensor Run(string element, Tensor x, Tensor y)
    {
        var n = x.Type.ElementCount;
        var m = PassManager.Run(IrTest.Parse($"func @main(%x: tensor<{n}x{element}>, %y: tensor<{n}x{element}>) -> (tensor<{n}x{element}>) {{\n  %r = rem %x, %y : tensor<{n}x{element}>\n  return %r\n}}\n"),
            PassRegistry.Default).Unwrap();
        var llvm = CpuCompiler.Generate(m, new CpuCompileOptions()).Unwrap().LlvmIr;
        Assert.DoesNotContain("fmod", llvm.Replace("gc.fmod", "")); // the helper, not libm
        Assert.DoesNotContain("frem", llvm);
        using var exe = CpuCompiler.Jit(m).Unwrap();
        return exe.Run([x, y]).Unwrap()[0];
    }

    private static (T[] X, T[] Y) Pairs<T>(int seed, Func<Random, T> any, T[] specials)
    {
        var rng = new Random(seed);
        var xs = new List<T>();
        var ys = new List<T>();
        for (int i = 0; i < 40000; i++)
        {
            xs.Add(any(rng));
            ys.Add(any(rng));
        }
        foreach (var a in specials)
            foreach (var b in specials)
            {
                xs.Add(a);
                ys.Add(b);
            }
        return ([.. xs], [.. ys]);
    }

    private static readonly float[] FloatSpecials =
        [0f, -0f, 1f, -1f, 3f, -7.5f, 0.1f, float.Epsilon, -float.Epsilon, 1.17549435e-38f, float.MaxValue, -float.MaxValue,
         float.PositiveInfinity, float.NegativeInfinity, float.NaN, 6f, 1.5f, 16777216f, 1e30f];

    private static readonly double[] DoubleSpecials =
        [0d, -0d, 1d, -1d, 3d, -7.5d, 0.1d, double.Epsilon, -double.Epsilon, 2.2250738585072014e-308, double.MaxValue, -double.MaxValue,
         double.PositiveInfinity, double.NegativeInfinity, double.NaN, 6d, 1.5d, 9007199254740992d, 1e300d];

    [Fact]
    public void F32RemainderIsFmodBitForBit()
    {
        // Random bit patterns (every binade, subnormals included), and multiples: x = k·y exactly, and k·y plus one ulp.
        var (x, y) = Pairs(1, rng => BitConverter.Int32BitsToSingle(rng.Next() & 0x7f7fffff | (rng.Next(2) << 31)), FloatSpecials);
        var rng = new Random(2);
        for (int i = 0; i < x.Length / 4; i++)
        {
            y[i] = (float)(rng.NextDouble() * 10 + 0.01);
            x[i] = y[i] * rng.Next(1, 1 << 20) * (i % 2 == 0 ? 1 : -1);
            if (i % 3 == 0) x[i] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(x[i]) + 1);
        }
        var actual = Compiled(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            float expected = x[i] % y[i];
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual[i]) || (float.IsNaN(expected) && float.IsNaN(actual[i])),
                $"rem({x[i]:R}, {y[i]:R}) = {actual[i]:R}, fmod gives {expected:R}");
        }
    }

    [Fact]
    public void F64RemainderIsFmodBitForBit()
    {
        var (x, y) = Pairs(3, rng => BitConverter.Int64BitsToDouble(rng.NextInt64() & 0x7fefffffffffffff | ((long)rng.Next(2) << 63)), DoubleSpecials);
        var rng = new Random(4);
        for (int i = 0; i < x.Length / 4; i++)
        {
            y[i] = rng.NextDouble() * 10 + 0.01;
            x[i] = y[i] * rng.NextInt64(1, 1L << 40) * (i % 2 == 0 ? 1 : -1);
            if (i % 3 == 0) x[i] = BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(x[i]) + 1);
        }
        var actual = Compiled(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double expected = x[i] % y[i];
            Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual[i]) || (double.IsNaN(expected) && double.IsNaN(actual[i])),
                $"rem({x[i]:R}, {y[i]:R}) = {actual[i]:R}, fmod gives {expected:R}");
        }
    }
}
