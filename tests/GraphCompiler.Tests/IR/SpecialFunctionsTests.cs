using GraphCompiler.IR.Text;

namespace GraphCompiler.Tests.IR;

/// <summary>
/// The interpreter is every backend's reference, so its f64 expm1, log1p and erf are checked against correctly rounded
/// values from mpmath (external data, <see cref="MpmathValues"/>), through the op itself: within half an ulp plus the
/// final rounding, i.e. one ulp at most, and at least 95% of the points exactly. The direct formulas lose up to 17 bits
/// (exp(x) − 1 near 1e-5) or 9 ulps (erf's alternating series near 2).
/// </summary>
public sealed class SpecialFunctionsTests
{
    public static TheoryData<string> Functions => new() { "expm1", "log1p", "erf" };

    [Theory]
    [MemberData(nameof(Functions))]
    public void F64MatchesMpmathWithinAnUlp(string op)
    {
        var table = op switch { "expm1" => MpmathValues.Expm1, "log1p" => MpmathValues.Log1p, _ => MpmathValues.Erf };
        // erf is odd: its table's points count for both signs.
        var points = op == "erf" ? [.. table, .. table.Select(t => (X: -t.X, Value: -t.Value))] : table;
        int n = points.Length;
        var module = Parser.ParseModule($"func @main(%x: tensor<{n}xf64>) -> (tensor<{n}xf64>) {{\n  %r = {op} %x : tensor<{n}xf64>\n  return %r\n}}\n", "f.ir").Unwrap();
        var actual = new Interpreter(module).Run(null, [Tensor.FromArray(points.Select(p => p.X).ToArray(), n)]).Unwrap().Results[0].AsSpan<double>().ToArray();
        int exact = 0;
        for (int i = 0; i < n; i++)
        {
            long ulps = Math.Abs(BitConverter.DoubleToInt64Bits(points[i].Value) - BitConverter.DoubleToInt64Bits(actual[i]));
            Assert.True(ulps <= 1 && Math.Sign(actual[i]) == Math.Sign(points[i].Value),
                $"{op}({points[i].X:R}) = {actual[i]:R}, mpmath {points[i].Value:R}");
            if (ulps == 0) exact++;
        }
        Assert.True(exact >= 0.95 * n, $"{op}: {exact} of {n} correctly rounded");
    }

    [Theory]
    [InlineData("expm1")]
    [InlineData("log1p")]
    [InlineData("erf")]
    public void SignedZerosAndSpecialValuesPassThrough(string op)
    {
        double[] xs = [0.0, -0.0, double.NaN, double.PositiveInfinity];
        var module = Parser.ParseModule($"func @main(%x: tensor<4xf64>) -> (tensor<4xf64>) {{\n  %r = {op} %x : tensor<4xf64>\n  return %r\n}}\n", "f.ir").Unwrap();
        var r = new Interpreter(module).Run(null, [Tensor.FromArray(xs, 4)]).Unwrap().Results[0].AsSpan<double>().ToArray();
        Assert.Equal(BitConverter.DoubleToInt64Bits(0.0), BitConverter.DoubleToInt64Bits(r[0]));
        Assert.Equal(BitConverter.DoubleToInt64Bits(-0.0), BitConverter.DoubleToInt64Bits(r[1]));
        Assert.True(double.IsNaN(r[2]));
        Assert.Equal(op == "erf" ? 1.0 : double.PositiveInfinity, r[3]);
    }
}
