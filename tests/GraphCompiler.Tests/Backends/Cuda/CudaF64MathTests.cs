using GraphCompiler.Backends.Cuda;
using GraphCompiler.IR;
using Xunit;
using static GraphCompiler.Tests.Backends.Cuda.CudaEmulatorTests;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// f64 math on the emulated GPU, which has no libm (FastMath.F64, F64Trig, F64Hyperbolic, F64Atan, F64Pow), in ulps against
/// the interpreter (.NET's functions, double-double series where those cancel), mpmath's correctly rounded values or exact
/// references where glibc itself is off, over the whole domain of each function, special values exactly.
/// </summary>
[Collection(CudaDriverCollection.Name)]
public sealed class CudaF64MathTests
{
    /// <summary>Runs a placed module of one f64 result on the emulated GPU: its elements.</summary>
    private static double[] RunF64(Module placed, params Tensor[] inputs)
    {
        using var _ = CudaEmulator.AsDriver();
        using var exe = CudaCompiler.Jit(placed, Options).Unwrap();
        return exe.Run(inputs).Unwrap()[0].AsSpan<double>().ToArray();
    }

    /// <summary>
    /// f64 exp, log, logistic, sin, cos, tan, expm1, log1p and the hyperbolic functions and their inverses on the GPU
    /// (FastMath.F64, F64Trig and F64Hyperbolic: the GPU has no libm) against the interpreter (.NET's Math functions), in
    /// ulps, over the whole domain: exp over [−750, 720] (overflow, gradual underflow to subnormals, 0), log over random bit
    /// patterns of every positive double (subnormals included), the trigonometric functions over every finite double, the
    /// others near 0 (where textbook formulas cancel) and across their range, and the special values, which must match exactly.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("exp", 1)]
    [InlineData("log", 1)]
    [InlineData("logistic", 2)]
    [InlineData("sin", 1)]
    [InlineData("cos", 1)]
    [InlineData("tan", 2)]
    [InlineData("expm1", 2)]
    [InlineData("log1p", 1)]
    [InlineData("sinh", 3)]
    [InlineData("cosh", 3)]
    [InlineData("tanh", 3)]
    [InlineData("asinh", 2)]
    [InlineData("acosh", 2)]
    [InlineData("atanh", 2)]
    [InlineData("atan", 1)]
    [InlineData("asin", 2)]
    [InlineData("acos", 2)]
    [InlineData("cbrt", 1)]
    [InlineData("erf", 1)]
    public void F64TranscendentalsOnTheGpuAreWithinAnUlpOrTwo(string op, long maxUlps)
    {
        const int n = 50000;
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<{{n}}xf64>) -> (tensor<{{n}}xf64>) {
              %r = {{op}} %x : tensor<{{n}}xf64>
              return %r
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var rng = new Random(op.Length);
        double[] specials = [0, -0.0, 1, -1, double.PositiveInfinity, double.NegativeInfinity, double.NaN, double.Epsilon, double.MaxValue,
            709.782712893384, 709.7827128933841, -745.1332191019411, -745.1332191019412, -708.4, 1e-300, Math.BitIncrement(1.0), Math.BitDecrement(1.0)];
        // Trigonometric functions: half over every finite double of either sign (huge arguments reduce by Payne–Hanek),
        // half within ±20, and 5.3e255, the double nearest a multiple of π/2 relative to its size (Kahan and McDonald).
        if (op is "sin" or "cos" or "tan") specials = [.. specials, 5.319372648326541e255, -5.319372648326541e255, 1e22, Math.PI / 2, Math.PI, 3 * Math.PI / 4, Math.PI / 4, 1e-310];
        double AnyFinite() => BitConverter.Int64BitsToDouble(rng.NextInt64(0, 0x7ff0000000000000));
        double Sign() => rng.Next(2) * 2 - 1;
        var xs = Enumerable.Range(0, n - specials.Length).Select(i => op switch
        {
            "log" => BitConverter.Int64BitsToDouble(rng.NextInt64(0, 0x7ff0000000000000)),
            "sin" or "cos" or "tan" => i % 2 == 0 ? AnyFinite() * Sign() : rng.NextDouble() * 40 - 20,
            // Near 0 (where the textbook formulas cancel), across the range, and (for the inverses) over every magnitude.
            "expm1" => i % 3 == 0 ? (rng.NextDouble() - 0.5) * Math.Pow(2, -rng.Next(1, 60)) : rng.NextDouble() * 780 - 60,
            "log1p" => i % 3 == 0 ? (rng.NextDouble() - 0.5) * Math.Pow(2, -rng.Next(0, 60)) : AnyFinite(),
            "sinh" or "cosh" or "tanh" => i % 3 == 0 ? (rng.NextDouble() - 0.5) * Math.Pow(2, -rng.Next(-5, 60)) : (rng.NextDouble() - 0.5) * 1440,
            "asinh" => i % 3 == 0 ? (rng.NextDouble() - 0.5) * Math.Pow(2, -rng.Next(-5, 60)) : AnyFinite() * Sign(),
            "acosh" => i % 3 == 0 ? 1 + rng.NextDouble() * Math.Pow(2, -rng.Next(-3, 60)) : 1 + AnyFinite(),
            "erf" => i % 2 == 0 ? (rng.NextDouble() - 0.5) * Math.Pow(2, -rng.Next(-3, 60)) : (rng.NextDouble() - 0.5) * 14,
            "atan" or "cbrt" => i % 2 == 0 ? AnyFinite() * Sign() : (rng.NextDouble() - 0.5) * 10,
            "asin" or "acos" => i % 3 == 0 ? (1 - rng.NextDouble() * Math.Pow(2, -rng.Next(0, 53))) * Sign() : rng.NextDouble() * 2 - 1,
            "atanh" => i % 3 == 0 ? (rng.NextDouble() - 0.5) * Math.Pow(2, -rng.Next(0, 60)) : (1 - rng.NextDouble() * Math.Pow(2, -rng.Next(0, 53))) * Sign(),
            _ => rng.NextDouble() * 1470 - 750,
        }).Concat(specials).ToArray();
        var input = Tensor.FromArray(xs, n);
        var expected = new Interpreter(placed).Run(null, [input]).Unwrap().Results[0].AsSpan<double>().ToArray();
        var actual = RunF64(placed, input);
        // At the Kahan–McDonald argument glibc (hence .NET) is 8 ulps off for cos; the reference there is the correctly
        // rounded value (mpmath at 3000 bits), for x and −x.
        const double hard = 5.319372648326541e255;
        var exact = new Dictionary<string, double> { ["sin"] = 1.0, ["cos"] = -4.687165924254628e-19, ["tan"] = -2.133485385753704e18 };
        for (int i = 0; i < n; i++)
            if (Math.Abs(xs[i]) == hard && exact.TryGetValue(op, out var value))
                expected[i] = op == "cos" || xs[i] > 0 ? value : -value;
        // glibc's (hence .NET's) cbrt is up to 3 ulps off; the reference there is exact: the cube of the result's neighbours
        // brackets x (BigInteger arithmetic on the doubles' exact values), which puts the result within an ulp of ∛x.
        if (op == "cbrt")
            for (int i = 0; i < n; i++)
                if (double.IsFinite(xs[i]) && xs[i] != 0 && WithinAnUlpOfCubeRoot(actual[i], xs[i])) expected[i] = actual[i];
        long worst = 0;
        int worstAt = 0;
        for (int i = 0; i < n; i++)
        {
            long ulps = double.IsNaN(expected[i]) || double.IsNaN(actual[i])
                ? (double.IsNaN(expected[i]) && double.IsNaN(actual[i]) ? 0 : long.MaxValue)
                : Math.Abs(Ordered(expected[i]) - Ordered(actual[i]));
            if (ulps > worst) (worst, worstAt) = (ulps, i);
            if (double.IsInfinity(expected[i]) || expected[i] == 0 || double.IsNaN(expected[i]) || Array.IndexOf(specials, xs[i]) >= 0 && !double.IsFinite(xs[i]))
                Assert.True(BitConverter.DoubleToInt64Bits(expected[i]) == BitConverter.DoubleToInt64Bits(actual[i]) || double.IsNaN(expected[i]) && double.IsNaN(actual[i]),
                    $"{op}({xs[i]:R}) = {actual[i]:R}, expected {expected[i]:R}");
        }
        Assert.True(worst <= maxUlps, $"{op}({xs[worstAt]:R}) = {actual[worstAt]:R}, expected {expected[worstAt]:R}: {worst} ulps");

        // Doubles as integers in the order of their values, so that the difference counts the doubles between two values.
        static long Ordered(double d) => BitConverter.DoubleToInt64Bits(d) is var b && b < 0 ? long.MinValue - b : b;
    }

    /// <summary>Whether r's neighbours cubed bracket x exactly, i.e. |r − ∛x| &lt; one ulp of r (x finite and nonzero).</summary>
    private static bool WithinAnUlpOfCubeRoot(double r, double x)
    {
        if (!double.IsFinite(r) || Math.Sign(r) != Math.Sign(x)) return false;
        (r, x) = (Math.Abs(r), Math.Abs(x));
        // A positive double as m·2^e with m an integer; a³ ≤ x compared on a common power of two.
        static (System.Numerics.BigInteger M, int E) Exact(double d)
        {
            long bits = BitConverter.DoubleToInt64Bits(d);
            int biased = (int)(bits >> 52);
            long m = bits & 0xFFFFFFFFFFFFFL;
            return biased == 0 ? (m, -1074) : (m | (1L << 52), biased - 1075);
        }
        static int CompareCube(double a, double x)
        {
            var (ma, ea) = Exact(a);
            var (mx, ex) = Exact(x);
            var cube = ma * ma * ma;
            int e = 3 * ea;
            return e >= ex ? (cube << (e - ex)).CompareTo(mx) : cube.CompareTo(mx << (ex - e));
        }
        return CompareCube(Math.BitDecrement(r), x) <= 0 && CompareCube(Math.BitIncrement(r), x) >= 0;
    }

    /// <summary>
    /// f64 erf on the GPU against correctly rounded values from mpmath (200-bit arithmetic, computed once; external data):
    /// within an ulp at 128 points over [−7, 7] (the other test's reference, the interpreter, is within an ulp of them too).
    /// </summary>
    [CudaEmulatorFact]
    public void F64ErfOnTheGpuMatchesMpmath()
    {
        var table = MpmathValues.Erf;
        int n = 2 * table.Length;
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<{{n}}xf64>) -> (tensor<{{n}}xf64>) {
              %r = erf %x : tensor<{{n}}xf64>
              return %r
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var xs = table.Select(t => t.X).Concat(table.Select(t => -t.X)).ToArray();
        var actual = RunF64(placed, Tensor.FromArray(xs, n));
        for (int i = 0; i < n; i++)
        {
            double expected = i < table.Length ? table[i].Value : -table[i - table.Length].Value;
            Assert.True(Math.Abs(BitConverter.DoubleToInt64Bits(expected) - BitConverter.DoubleToInt64Bits(actual[i])) <= 1,
                $"erf({xs[i]:R}) = {actual[i]:R}, expected {expected:R}");
        }
    }

    /// <summary>
    /// f64 atan2 on the GPU (FastMath.F64Atan) against .NET's Math.Atan2: within 2 ulp over pairs of every magnitude and sign,
    /// and C99's special values exactly (signed zeros, infinities, NaN).
    /// </summary>
    [CudaEmulatorFact]
    public void F64Atan2OnTheGpuIsWithinTwoUlpsAndHasTheSpecialValues()
    {
        const int n = 20000;
        var placed = PlaceOnGpu($$"""
            func @main(%y: tensor<{{n}}xf64>, %x: tensor<{{n}}xf64>) -> (tensor<{{n}}xf64>) {
              %r = atan2 %y, %x : tensor<{{n}}xf64>
              return %r
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var rng = new Random(17);
        double[] special = [0.0, -0.0, 1.0, -1.0, double.PositiveInfinity, double.NegativeInfinity, double.NaN, double.Epsilon, double.MaxValue];
        double Any() => rng.Next(3) switch
        {
            0 => BitConverter.Int64BitsToDouble(rng.NextInt64(0, 0x7ff0000000000000)) * (rng.Next(2) * 2 - 1),
            1 => (rng.NextDouble() - 0.5) * 8,
            _ => special[rng.Next(special.Length)],
        };
        var (ys, xs) = (new double[n], new double[n]);
        for (int i = 0; i < n; i++) (ys[i], xs[i]) = i < special.Length * special.Length ? (special[i / special.Length], special[i % special.Length]) : (Any(), Any());
        var actual = RunF64(placed, Tensor.FromArray(ys, n), Tensor.FromArray(xs, n));
        for (int i = 0; i < n; i++)
        {
            double expected = Math.Atan2(ys[i], xs[i]);
            if (double.IsNaN(expected) || !double.IsFinite(ys[i]) || !double.IsFinite(xs[i]) || ys[i] == 0 || xs[i] == 0)
                Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual[i]) || double.IsNaN(expected) && double.IsNaN(actual[i]),
                    $"atan2({ys[i]:R}, {xs[i]:R}) = {actual[i]:R}, expected {expected:R}");
            else
                Assert.True(Math.Abs(BitConverter.DoubleToInt64Bits(expected) - BitConverter.DoubleToInt64Bits(actual[i])) <= 2,
                    $"atan2({ys[i]:R}, {xs[i]:R}) = {actual[i]:R}, expected {expected:R}");
        }
    }

    /// <summary>
    /// f64 pow on the GPU (FastMath.F64Pow) against .NET's Math.Pow (glibc's, correctly rounded but in rare cases): within an
    /// ulp where y·log|x| is large (up to the overflow and the subnormal underflow, where log's error would be magnified
    /// 745-fold in double), for bases near 1 with huge exponents, negative bases with integer exponents, and every pair of
    /// C99's special values exactly (signed zeros, infinities, NaN, ±1, odd and even and non-integer exponents).
    /// </summary>
    [CudaEmulatorFact]
    public void F64PowOnTheGpuIsWithinAnUlpAndHasTheSpecialValues()
    {
        const int n = 20000;
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<{{n}}xf64>, %y: tensor<{{n}}xf64>) -> (tensor<{{n}}xf64>) {
              %r = pow %x, %y : tensor<{{n}}xf64>
              return %r
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var rng = new Random(23);
        double[] special = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 2.5, -2.5, double.PositiveInfinity, double.NegativeInfinity,
            double.NaN, double.Epsilon, double.MaxValue, 1e-300, -1e300];
        double AnyPositive() => BitConverter.Int64BitsToDouble(rng.NextInt64(1, 0x7ff0000000000000));
        // An exponent putting y·ln x uniformly in [−lo, hi] (|y·ln x| up to 745 reaches the subnormals and the overflow).
        double Exponent(double x, double lo, double hi) => (rng.NextDouble() * (hi + lo) - lo) / Math.Log(x);
        var (xs, ys) = (new double[n], new double[n]);
        for (int i = 0; i < n; i++)
        {
            if (i < special.Length * special.Length)
            {
                (xs[i], ys[i]) = (special[i / special.Length], special[i % special.Length]);
                continue;
            }
            double x;
            (xs[i], ys[i]) = (i % 4) switch
            {
                // Any positive double, the result anywhere in range (and just past it).
                0 => (x = AnyPositive(), Exponent(x, 750, 712)),
                // Bases within 2^-k of 1 and the exponents that make them large.
                1 => (x = 1 + (rng.NextDouble() - 0.5) * Math.Pow(2, -rng.Next(1, 52)), x == 1 ? 3.0 : Exponent(x, 745, 709)),
                // Negative bases with integer exponents: the sign from the exponent's parity.
                2 => (-(rng.NextDouble() * 20 + 1e-3), rng.Next(-230, 231)),
                // Results in the subnormal range and at the overflow's edge.
                _ => (x = rng.NextDouble() * 4 + 1e-3, Exponent(x, 745, -700) is var y && x != 1 ? y : 2.0),
            };
        }
        var actual = RunF64(placed, Tensor.FromArray(xs, n), Tensor.FromArray(ys, n));
        long worst = 0;
        int worstAt = 0;
        for (int i = 0; i < n; i++)
        {
            double expected = Math.Pow(xs[i], ys[i]);
            bool specialCase = !double.IsFinite(xs[i]) || !double.IsFinite(ys[i]) || xs[i] == 0 || ys[i] == 0 || Math.Abs(xs[i]) == 1;
            if (double.IsNaN(expected) || double.IsInfinity(expected) || expected == 0 || specialCase)
            {
                Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual[i]) || double.IsNaN(expected) && double.IsNaN(actual[i]),
                    $"pow({xs[i]:R}, {ys[i]:R}) = {actual[i]:R}, expected {expected:R}");
                continue;
            }
            long ulps = Math.Abs(BitConverter.DoubleToInt64Bits(expected) - BitConverter.DoubleToInt64Bits(actual[i]));
            if (Math.Sign(expected) != Math.Sign(actual[i])) ulps = long.MaxValue;
            if (ulps > worst) (worst, worstAt) = (ulps, i);
        }
        Assert.True(worst <= 1, $"pow({xs[worstAt]:R}, {ys[worstAt]:R}) = {actual[worstAt]:R}, expected {Math.Pow(xs[worstAt], ys[worstAt]):R}: {worst} ulps");
    }
}
