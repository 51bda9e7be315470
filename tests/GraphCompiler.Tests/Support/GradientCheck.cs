using System.Collections.Immutable;
using GraphCompiler.IR.Autodiff;

namespace GraphCompiler.Tests;

/// <summary>
/// Checks reverse-mode gradients against central finite differences, in f64 on the reference interpreter:
/// numbers the autodiff code did not produce. The function's first result r is turned into the scalar
/// loss sum(r ⊙ W) with a fixed random W, so every element of the cotangent differs; each argument element
/// is then perturbed by ±h and (L(x+h) − L(x−h)) / 2h compared with the gradient.
/// </summary>
public static class GradientCheck
{
    /// <summary>Central-difference step: the error is O(h²)·f‴ from truncation plus O(ε/h) from rounding, about 1e-10 in f64.</summary>
    public const double Step = 1e-6;

    /// <summary>What the comparison allows: |analytic − numeric| ≤ Absolute + Relative·|numeric|.</summary>
    public const double Absolute = 1e-6, Relative = 1e-5;

    /// <summary>
    /// Differentiates the entry function of <paramref name="ir"/> (f64 arguments) with respect to the
    /// arguments <paramref name="wrt"/> (all float ones when null) at <paramref name="inputs"/> (random in
    /// [lo, hi] where null) and asserts agreement with finite differences. Returns the analytic gradients.
    /// </summary>
    public static ImmutableArray<Tensor> Check(string ir, IReadOnlyList<int>? wrt = null, Tensor[]? inputs = null,
        double lo = -1, double hi = 1, int seed = 1, double absolute = Absolute, double relative = Relative, double step = Step)
    {
        var module = IrTest.Parse(ir);
        var f = module.Entry;
        var rng = new Random(seed);
        inputs ??= [.. f.ArgumentTypes.Select(t => RandomTensor(t, rng, lo, hi))];
        wrt ??= [.. Enumerable.Range(0, f.Arguments.Length).Where(i => f.ArgumentTypes[i].Element.IsFloat())];
        var loss = WithWeightedSumLoss(f, rng);
        var lossModule = new Module([loss]);

        var grad = Gradients.Differentiate(loss, 0, wrt, "grad", lossModule.Find);
        var gradModule = new Module([loss, grad]);
        var problems = Verifier.Verify(gradModule);
        Assert.True(problems.Count == 0, "the gradient function does not verify:\n" + string.Join("\n", problems) + "\n" + grad);
        var run = new Interpreter(gradModule).Run("grad", inputs);
        Assert.True(run.Ok, "the gradient function failed: " + string.Join("\n", run.Diagnostics) + "\n" + grad);
        var analytic = run.Value!.Results[1..];

        double Loss(Tensor[] args)
        {
            var r = new Interpreter(lossModule).Run(null, args);
            Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
            return r.Value!.Results[0].GetDouble(0);
        }
        for (int k = 0; k < wrt.Count; k++)
        {
            int a = wrt[k];
            var g = analytic[k];
            Assert.Equal(inputs[a].Type, g.Type);
            for (long e = 0; e < inputs[a].ElementCount; e++)
            {
                double plus = Loss(Perturb(inputs, a, e, +step)), minus = Loss(Perturb(inputs, a, e, -step));
                double numeric = (plus - minus) / (2 * step);
                double got = g.GetDouble(e);
                Assert.True(Math.Abs(got - numeric) <= absolute + relative * Math.Abs(numeric),
                    $"d loss / d {f.ArgumentName(a)}[{e}]: autodiff {got:R}, finite difference {numeric:R}\n{grad}");
            }
        }
        return analytic;
    }

    public static Tensor RandomTensor(TensorType t, Random rng, double lo, double hi) =>
        t.Element.IsFloat()
            ? Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => lo + (hi - lo) * rng.NextDouble())])
            : Tensor.FromInt64s(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => (long)rng.Next(0, 2))]);

    private static Tensor[] Perturb(Tensor[] inputs, int arg, long element, double h)
    {
        var copy = inputs.ToArray();
        var values = Enumerable.Range(0, (int)inputs[arg].ElementCount).Select(i => inputs[arg].GetDouble(i)).ToArray();
        values[element] += h;
        copy[arg] = Tensor.FromDoubles(inputs[arg].Type, values);
        return copy;
    }

    /// <summary>f with its first result replaced by the scalar sum(result ⊙ W), W fixed random in [0.5, 1.5] with random signs.</summary>
    private static Function WithWeightedSumLoss(Function f, Random rng)
    {
        var b = new IrBuilder();
        var r = f.Body.Yielded[0];
        var w = Tensor.FromDoubles(r.Type, [.. Enumerable.Range(0, (int)r.Type.ElementCount)
            .Select(_ => (rng.Next(2) == 0 ? -1 : 1) * (0.5 + rng.NextDouble()))]);
        var weighted = b.Emit("mul", r, b.Constant(w));
        var loss = b.Emit("reduce", [weighted], ("kind", A.Enum("sum")), ("dims", A.Ints([.. Enumerable.Range(0, r.Type.Rank).Select(d => (long)d)])));
        b.Terminate("return", [loss]);
        return new Function("loss", new Region(f.Arguments, [.. f.Body.Operations.SkipLast(1), .. b.Operations]),
            [loss.Type], f.ArgumentInfos);
    }
}
