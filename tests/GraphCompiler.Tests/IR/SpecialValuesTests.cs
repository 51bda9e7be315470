using System.Globalization;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Tests.IR;

/// <summary>
/// The interpreter is the oracle, so its signed-zero, NaN and infinity rules are checked against NumPy's (not
/// against numbers it produced): every float elementwise op on f64, on every special value and pair of them.
/// Results must match bit for bit where either side is zero, infinite or NaN (NaN payloads aside), and within
/// 1e-14 relative elsewhere (NumPy's vectorised libm and .NET's differ in the last bits of transcendentals).
/// </summary>
public sealed class SpecialValuesTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static readonly double[] Values =
    [
        -0.0, 0.0, double.PositiveInfinity, double.NegativeInfinity, double.NaN, double.Epsilon, -double.Epsilon,
        1e-300, -1e-300, 1e-8, -1e-8, 0.5, -0.5, 1, -1, 2, -2, 3.5, -3.5, 30, -30, 710, -710, 1e300, -1e300,
    ];

    /// <summary>
    /// Our op name → the NumPy expression of the same function of x (and y). Two are written out: the IR's
    /// <c>sign(±0) = ±0</c> is XLA's (docs/ir.md; NumPy gives +0 for both), and logistic in the form that keeps
    /// e^x for very negative x (the naive 1/(1+e^-x) underflows to 0 below -709, where e^x is still a subnormal).
    /// </summary>
    private static readonly (string Op, string NumPy)[] Unary =
    [
        ("neg", "-x"), ("abs", "np.abs(x)"), ("sign", "np.where(x == 0, x, np.sign(x))"), ("exp", "np.exp(x)"), ("expm1", "np.expm1(x)"),
        ("log", "np.log(x)"), ("log1p", "np.log1p(x)"), ("sqrt", "np.sqrt(x)"), ("rsqrt", "1 / np.sqrt(x)"),
        ("cbrt", "np.cbrt(x)"), ("tanh", "np.tanh(x)"), ("logistic", "np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))"),
        ("erf", "np.vectorize(math.erf)(x)"), ("sin", "np.sin(x)"), ("cos", "np.cos(x)"), ("tan", "np.tan(x)"),
        ("asin", "np.arcsin(x)"), ("acos", "np.arccos(x)"), ("atan", "np.arctan(x)"), ("sinh", "np.sinh(x)"),
        ("cosh", "np.cosh(x)"), ("asinh", "np.arcsinh(x)"), ("acosh", "np.arccosh(x)"), ("atanh", "np.arctanh(x)"),
        ("floor", "np.floor(x)"), ("ceil", "np.ceil(x)"), ("round", "np.rint(x)"),
    ];

    private static readonly (string Op, string NumPy)[] Binary =
    [
        ("add", "x + y"), ("sub", "x - y"), ("mul", "x * y"), ("div", "x / y"), ("rem", "np.fmod(x, y)"),
        ("pow", "np.power(x, y)"), ("atan2", "np.arctan2(x, y)"), ("max", "np.maximum(x, y)"), ("min", "np.minimum(x, y)"),
    ];

    [SkippableNumPyFact]
    public void FloatElementwiseOpsAgreeWithNumPyOnSpecialValues()
    {
        var dir = _temp.Directory("special");
        int n = Values.Length;
        var x = Tensor.FromDoubles(new TensorType(ElementType.F64, n), Values);
        var xs = Tensor.FromDoubles(new TensorType(ElementType.F64, n * n), [.. Enumerable.Range(0, n * n).Select(k => Values[k / n])]);
        var ys = Tensor.FromDoubles(new TensorType(ElementType.F64, n * n), [.. Enumerable.Range(0, n * n).Select(k => Values[k % n])]);
        Npy.WriteFile(Path.Combine(dir, "x.npy"), x);
        Npy.WriteFile(Path.Combine(dir, "xs.npy"), xs);
        Npy.WriteFile(Path.Combine(dir, "ys.npy"), ys);
        var script = new System.Text.StringBuilder($$"""
            import math, numpy as np
            d = {{Quote(dir)}}
            x1, xs, ys = np.load(d + '/x.npy'), np.load(d + '/xs.npy'), np.load(d + '/ys.npy')
            def check(name, ours, theirs, x, y=None):
                for i in range(len(ours)):
                    a, b = ours[i], theirs[i]
                    if np.isnan(a) and np.isnan(b): continue
                    if a == 0 or b == 0 or np.isinf(a) or np.isinf(b) or np.isnan(a) or np.isnan(b):
                        ok = a == b and np.signbit(a) == np.signbit(b)
                    else:
                        ok = abs(a - b) <= 1e-14 * abs(b)
                    if not ok:
                        where = repr(x[i]) if y is None else repr(x[i]) + ', ' + repr(y[i])
                        print(f'{name}({where}): ours {a!r}, numpy {b!r}')
            np.seterr(all='ignore')

            """);
        foreach (var (op, np) in Unary)
        {
            Npy.WriteFile(Path.Combine(dir, $"{op}.npy"), Interpret(op, [x]));
            script.AppendLine($"x = x1; check('{op}', np.load(d + '/{op}.npy'), {np}, x1)");
        }
        foreach (var (op, np) in Binary)
        {
            Npy.WriteFile(Path.Combine(dir, $"{op}.npy"), Interpret(op, [xs, ys]));
            // max/min order -0 below +0 (XLA's rule, docs/ir.md); NumPy returns either zero there, so those pairs are left out.
            var keep = op is "max" or "min" ? "m = ~((xs == 0) & (ys == 0)); " : "m = np.ones(len(xs), bool); ";
            script.AppendLine($"{keep}x, y = xs[m], ys[m]; check('{op}', np.load(d + '/{op}.npy')[m], {np}, x, y)");
        }
        script.AppendLine("ours = np.load(d + '/is_finite.npy'); assert (ours == np.isfinite(x1)).all(), 'is_finite'");
        Npy.WriteFile(Path.Combine(dir, "is_finite.npy"), Interpret("is_finite", [x]));
        var mismatches = NumPy.Run(script.ToString()).Trim();
        Assert.True(mismatches.Length == 0, "the interpreter disagrees with NumPy:\n" + mismatches);
    }

    [Fact]
    public void Expm1KeepsTheSignOfZero()
    {
        var r = Interpret("expm1", [Tensor.FromDoubles(new TensorType(ElementType.F64, 2), [-0.0, 0.0])]);
        Assert.True(double.IsNegative(r.GetDouble(0)) && r.GetDouble(0) == 0, "expm1(-0) must be -0");
        Assert.False(double.IsNegative(r.GetDouble(1)));
    }

    private static Tensor Interpret(string op, Tensor[] inputs)
    {
        var type = inputs[0].Type;
        var args = string.Join(", ", inputs.Select((t, i) => $"%a{i}: {t.Type}"));
        var result = op == "is_finite" ? type.WithElement(ElementType.Bool) : type;
        var text = $"func @main({args}) -> ({result}) {{\n  %r = {op} {string.Join(", ", inputs.Select((_, i) => $"%a{i}"))} : {result}\n  return %r\n}}\n";
        var module = Parser.ParseModule(text, "special.ir").Unwrap();
        return new Interpreter(module).Run(null, inputs).Unwrap().Results[0];
    }

    private static string Quote(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";
}
