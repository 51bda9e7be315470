using GraphCompiler.IR.Training;

namespace GraphCompiler.Tests.Training;

/// <summary>
/// Each optimizer's emitted update, run by the interpreter for a few steps with its state fed back, against the
/// textbook formula computed here in plain f64 arithmetic (independent of the IR code).
/// </summary>
public sealed class OptimizerTests
{
    private static readonly double[] W0 = [1.0, -2.0, 0.5];

    /// <summary>A different gradient for each of three steps, so a wrong state carry-over shows.</summary>
    private static readonly double[][] Grads = [[0.3, -0.1, 2.0], [-0.5, 0.4, 1.0], [0.2, 0.2, -0.7]];

    /// <summary>Runs <paramref name="steps"/> updates from W0 and zero state (1-based steps); returns the parameter after each.</summary>
    private static List<double[]> Run(Optimizer opt, int steps = 3, ElementType e = ElementType.F64)
    {
        var t = new TensorType(e, W0.Length);
        var fb = new FunctionBuilder("main");
        var p = fb.Arg(t, "param");
        var g = fb.Arg(t, "grad");
        var state = opt.StateNames.Select(n => fb.Arg(t, n)).ToList();
        var step = fb.Arg(TensorType.Scalar(ElementType.I64), "step");
        var u = opt.Update(fb.Body, p, g, state, step);
        Assert.Equal(opt.StateNames.Length, u.State.Length);
        var module = new Module([fb.Return([u.Param, .. u.State])]);
        Assert.Empty(Verifier.Verify(module));

        var w = Tensor.FromDoubles(t, W0);
        var s = opt.StateNames.Select(_ => Tensor.Zeros(t)).ToList();
        var history = new List<double[]>();
        for (int k = 0; k < steps; k++)
        {
            var r = new Interpreter(module).Run(null, [w, Tensor.FromDoubles(t, Grads[k]), .. s, Tensor.FromInt64s(TensorType.Scalar(ElementType.I64), [k + 1])]).Unwrap().Results;
            Assert.All(r, x => Assert.Equal(t, x.Type));
            w = r[0];
            s = [.. r.Skip(1)];
            history.Add(Doubles(w));
        }
        return history;
    }

    private static double[] Doubles(Tensor t) => [.. Enumerable.Range(0, (int)t.ElementCount).Select(i => t.GetDouble(i))];

    private static void Close(double[] expected, double[] actual, double tol = 1e-12)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    /// <summary>The reference: per element, one step at a time, state carried in <paramref name="state"/>.</summary>
    private static List<double[]> Reference(int stateCount, Func<int, double, double, double[], double> step)
    {
        var w = (double[])W0.Clone();
        var state = Enumerable.Range(0, W0.Length).Select(_ => new double[stateCount]).ToArray();
        var history = new List<double[]>();
        for (int k = 0; k < 3; k++)
        {
            for (int i = 0; i < w.Length; i++) w[i] = step(k + 1, w[i], Grads[k][i], state[i]);
            history.Add((double[])w.Clone());
        }
        return history;
    }

    private static void Matches(List<double[]> expected, List<double[]> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int k = 0; k < expected.Count; k++) Close(expected[k], actual[k]);
    }

    [Fact]
    public void PlainSgd()
    {
        const double lr = 0.1;
        Matches(Reference(0, (_, w, g, _) => w - lr * g), Run(new Sgd { LearningRate = lr }));
    }

    [Fact]
    public void HeavyBallMomentum()
    {
        const double lr = 0.1, mu = 0.9;
        var expected = Reference(1, (_, w, g, s) =>
        {
            s[0] = mu * s[0] + g;
            return w - lr * s[0];
        });
        Matches(expected, Run(new Sgd { LearningRate = lr, Momentum = mu }));
    }

    [Fact]
    public void NesterovMomentumLooksAhead()
    {
        const double lr = 0.1, mu = 0.9;
        var expected = Reference(1, (_, w, g, s) =>
        {
            s[0] = mu * s[0] + g;
            return w - lr * (g + mu * s[0]);
        });
        var nesterov = Run(new Sgd { LearningRate = lr, Momentum = mu, Nesterov = true });
        Matches(expected, nesterov);
        // Not the heavy-ball update: already the first step moves by lr·(1 + μ)·g instead of lr·g.
        var standard = Run(new Sgd { LearningRate = lr, Momentum = mu });
        Assert.NotEqual(standard[0][0], nesterov[0][0], 6);
        Close([W0[0] - lr * (1 + mu) * Grads[0][0]], [nesterov[0][0]]);
    }

    [Fact]
    public void AdamWithBiasCorrection()
    {
        const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        var expected = Reference(2, (t, w, g, s) =>
        {
            s[0] = b1 * s[0] + (1 - b1) * g;
            s[1] = b2 * s[1] + (1 - b2) * g * g;
            double mHat = s[0] / (1 - Math.Pow(b1, t)), vHat = s[1] / (1 - Math.Pow(b2, t));
            return w - lr * mHat / (Math.Sqrt(vHat) + eps);
        });
        Matches(expected, Run(new Adam { LearningRate = lr }));
        // The first step of bias-corrected Adam moves every coordinate by about lr, whatever the gradient's scale.
        Close([W0[2] - lr], [Run(new Adam { LearningRate = lr }, steps: 1)[0][2]], 1e-6);
    }

    [Fact]
    public void AdamWithOtherBetasAndEpsilon()
    {
        const double lr = 0.05, b1 = 0.5, b2 = 0.75, eps = 0.1;
        var expected = Reference(2, (t, w, g, s) =>
        {
            s[0] = b1 * s[0] + (1 - b1) * g;
            s[1] = b2 * s[1] + (1 - b2) * g * g;
            return w - lr * (s[0] / (1 - Math.Pow(b1, t))) / (Math.Sqrt(s[1] / (1 - Math.Pow(b2, t))) + eps);
        });
        Matches(expected, Run(new Adam { LearningRate = lr, Beta1 = b1, Beta2 = b2, Epsilon = eps }));
    }

    [Fact]
    public void AdagradWithLearningRateDecay()
    {
        const double lr = 0.1, eps = 1e-10, decay = 0.5;
        var expected = Reference(1, (t, w, g, s) =>
        {
            double rate = lr / (1 + (t - 1) * decay);
            s[0] += g * g;
            return w - rate * g / (Math.Sqrt(s[0]) + eps);
        });
        Matches(expected, Run(new Adagrad { LearningRate = lr, DecayFactor = decay }));
    }

    [Fact]
    public void WeightDecayAddsTheL2GradientFirst()
    {
        const double lr = 0.1, mu = 0.9, wd = 0.05;
        var momentum = Reference(1, (_, w, g, s) =>
        {
            double gr = g + wd * w;
            s[0] = mu * s[0] + gr;
            return w - lr * s[0];
        });
        Matches(momentum, Run(new Sgd { LearningRate = lr, Momentum = mu, WeightDecay = wd }));

        const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
        var adam = Reference(2, (t, w, g, s) =>
        {
            double gr = g + wd * w;
            s[0] = b1 * s[0] + (1 - b1) * gr;
            s[1] = b2 * s[1] + (1 - b2) * gr * gr;
            return w - lr * (s[0] / (1 - Math.Pow(b1, t))) / (Math.Sqrt(s[1] / (1 - Math.Pow(b2, t))) + eps);
        });
        Matches(adam, Run(new Adam { LearningRate = lr, WeightDecay = wd }));

        var adagrad = Reference(1, (_, w, g, s) =>
        {
            double gr = g + wd * w;
            s[0] += gr * gr;
            return w - lr * gr / (Math.Sqrt(s[0]) + 1e-10);
        });
        Matches(adagrad, Run(new Adagrad { LearningRate = lr, WeightDecay = wd }));
    }

    /// <summary>f32 and f16 parameters keep their type; f16 is computed in f32 and rounded once.</summary>
    [Theory]
    [InlineData(ElementType.F32, 1e-5)]
    [InlineData(ElementType.F16, 2e-3)]
    public void NarrowFloatParameters(ElementType e, double tol)
    {
        foreach (var name in Optimizer.Names)
        {
            var opt = Optimizer.Create(name, 0.1)!;
            var wide = Run(opt);
            var narrow = Run(opt, e: e);
            for (int k = 0; k < 3; k++) Close(wide[k], narrow[k], tol);
        }
    }

    [Fact]
    public void MismatchedOperandsAreRejected()
    {
        var t = new TensorType(ElementType.F32, 3);
        var fb = new FunctionBuilder();
        var (p, g, step) = (fb.Arg(t), fb.Arg(t), fb.Arg(TensorType.Scalar(ElementType.I64)));
        Assert.Throws<ArgumentException>(() => new Adam().Update(fb.Body, p, g, [fb.Arg(t)], step));
        Assert.Throws<ArgumentException>(() => new Sgd().Update(fb.Body, p, fb.Arg(ElementType.F32, 4), [], step));
        Assert.Throws<ArgumentException>(() => new Sgd().Update(fb.Body, p, g, [], fb.Arg(ElementType.I64, 2)));
    }

    [Fact]
    public void CreateKnowsEveryName()
    {
        Assert.Equal<string>(["sgd", "momentum", "nesterov", "adam", "adagrad"], Optimizer.Names);
        foreach (var name in Optimizer.Names)
        {
            var opt = Optimizer.Create(name, 0.25);
            Assert.NotNull(opt);
            Assert.Equal(name, opt.Name);
            Assert.Equal(0.25, opt.LearningRate);
            Assert.Equal(0, opt.WeightDecay);
        }
        Assert.Equal(new Sgd { LearningRate = 0.25 }, Optimizer.Create("sgd", 0.25));
        Assert.Empty(Optimizer.Create("sgd", 1)!.StateNames);
        var momentum = Assert.IsType<Sgd>(Optimizer.Create("momentum", 1));
        Assert.Equal((0.9, false), (momentum.Momentum, momentum.Nesterov));
        Assert.Equal<string>(["velocity"], momentum.StateNames);
        var nesterov = Assert.IsType<Sgd>(Optimizer.Create("nesterov", 1));
        Assert.Equal((0.9, true), (nesterov.Momentum, nesterov.Nesterov));
        var adam = Assert.IsType<Adam>(Optimizer.Create("adam", 1));
        Assert.Equal((0.9, 0.999, 1e-8), (adam.Beta1, adam.Beta2, adam.Epsilon));
        Assert.Equal<string>(["m", "v"], adam.StateNames);
        var adagrad = Assert.IsType<Adagrad>(Optimizer.Create("adagrad", 1));
        Assert.Equal((1e-10, 0.0), (adagrad.Epsilon, adagrad.DecayFactor));
        Assert.Equal<string>(["accumulator"], adagrad.StateNames);
        Assert.Null(Optimizer.Create("rmsprop", 1));
        Assert.Null(Optimizer.Create("SGD", 1));
    }

    // ---- gradient clipping ------------------------------------------------------------------------

    private static List<double[]> Clip(double maxNorm, params (ElementType E, double[] Values)[] grads)
    {
        var fb = new FunctionBuilder();
        var args = grads.Select(g => fb.Arg(g.E, g.Values.Length)).ToList();
        var clipped = GradientClipping.ByGlobalNorm(fb.Body, args, maxNorm);
        var module = new Module([fb.Return([.. clipped])]);
        Assert.Empty(Verifier.Verify(module));
        var r = new Interpreter(module).Run(null, [.. grads.Select(g => Tensor.FromDoubles(new TensorType(g.E, g.Values.Length), g.Values))]).Unwrap().Results;
        for (int i = 0; i < grads.Length; i++) Assert.Equal(args[i].Type, r[i].Type);
        return [.. r.Select(Doubles)];
    }

    [Fact]
    public void ClippingBelowTheNormLeavesGradientsAlone()
    {
        double[] a = [0.3, -0.4], b = [1.2];
        // Global norm √(0.09 + 0.16 + 1.44) = 1.3 < 2.
        var r = Clip(2, (ElementType.F64, a), (ElementType.F64, b));
        Close(a, r[0]);
        Close(b, r[1]);
    }

    [Fact]
    public void ClippingAboveTheNormScalesAllGradientsTogether()
    {
        double[] a = [3, -4], b = [12, 0, 0];
        // Global norm √(9 + 16 + 144) = 13: every gradient is scaled by 6.5/13, keeping the direction.
        var r = Clip(6.5, (ElementType.F64, a), (ElementType.F64, b));
        Close([.. a.Select(x => x * 0.5)], r[0]);
        Close([.. b.Select(x => x * 0.5)], r[1]);
        Assert.Equal(6.5, Math.Sqrt(r.SelectMany(x => x).Sum(x => x * x)), 12);
    }

    [Fact]
    public void ClippingMixedTypesAndZeroGradients()
    {
        var r = Clip(1, (ElementType.F32, [0, 0]), (ElementType.F16, [0]));
        Assert.All(r.SelectMany(x => x), x => Assert.Equal(0, x));
        r = Clip(1, (ElementType.F32, [3]), (ElementType.F64, [4]));
        Close([0.6], r[0], 1e-7);
        Close([0.8], r[1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ByGlobalNorm(new IrBuilder(), [], 0));
        Assert.Empty(GradientClipping.ByGlobalNorm(new IrBuilder(), [], 1));
    }
}
