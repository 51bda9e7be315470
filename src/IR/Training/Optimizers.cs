using System.Collections.Immutable;

namespace GraphCompiler.IR.Training;

/// <summary>
/// A first-order optimizer as IR: <see cref="Update"/> emits the ops that compute one parameter's new value and
/// new state from its gradient, so that a training step (forward, <c>gradient</c>, update) is one graph the
/// compiler optimises and runs like any other. Hyperparameters are compile-time constants; the step count is a
/// value, because bias correction and decay depend on it and it changes every call.
/// </summary>
public abstract record Optimizer
{
    public double LearningRate { get; init; } = 0.01;

    /// <summary>L2 coefficient added to the gradient before the update (g + λ·w), as ONNX's norm_coefficient.</summary>
    public double WeightDecay { get; init; }

    public abstract string Name { get; }

    /// <summary>Names of the per-parameter state tensors, each of the parameter's type and zero-initialised (["velocity"], ["m", "v"], ["accumulator"]; [] for plain SGD).</summary>
    public abstract ImmutableArray<string> StateNames { get; }

    /// <summary>Emits one parameter's update into b. step: an i64 scalar, the 1-based number of this update (bias correction, decay).</summary>
    public abstract OptimizerUpdate Update(IrBuilder b, Value param, Value grad, IReadOnlyList<Value> state, Value step);

    /// <summary>"sgd", "momentum", "nesterov", "adam", "adagrad" with the given learning rate and defaults; null for an unknown name.</summary>
    public static Optimizer? Create(string name, double learningRate) => name switch
    {
        "sgd" => new Sgd { LearningRate = learningRate },
        "momentum" => new Sgd { LearningRate = learningRate, Momentum = 0.9 },
        "nesterov" => new Sgd { LearningRate = learningRate, Momentum = 0.9, Nesterov = true },
        "adam" => new Adam { LearningRate = learningRate },
        "adagrad" => new Adagrad { LearningRate = learningRate },
        _ => null,
    };

    public static ImmutableArray<string> Names { get; } = ["sgd", "momentum", "nesterov", "adam", "adagrad"];

    /// <summary>Rejects mismatched operands here, where the message can name the optimizer, rather than deep in an op.</summary>
    protected void CheckOperands(Value param, Value grad, IReadOnlyList<Value> state, Value step)
    {
        if (!param.Type.Element.IsFloat()) throw new ArgumentException($"{Name}: the parameter is {param.Type}, not a float tensor");
        if (grad.Type != param.Type) throw new ArgumentException($"{Name}: the gradient is {grad.Type}, the parameter {param.Type}");
        if (state.Count != StateNames.Length)
            throw new ArgumentException($"{Name}: {state.Count} state tensor(s) given, expected {StateNames.Length} ({string.Join(", ", StateNames)})");
        for (int i = 0; i < state.Count; i++)
            if (state[i].Type != param.Type) throw new ArgumentException($"{Name}: state '{StateNames[i]}' is {state[i].Type}, the parameter {param.Type}");
        if (step.Type.ElementCount != 1 || step.Type.Element.IsBool())
            throw new ArgumentException($"{Name}: the step is {step.Type}, expected an i64 scalar");
    }

    /// <summary>The learning rate and the step as rank-0 values of the type the update computes in.</summary>
    protected (Value Lr, Value Step) Scalars(IrBuilder b, Value param, Value step)
    {
        var e = UpdateRules.ComputeType(param.Type.Element);
        return (b.Scalar(e, LearningRate), UpdateRules.ScalarIn(b, step, e));
    }
}

/// <summary>An update's results: the parameter's new value and its new state, in <see cref="Optimizer.StateNames"/> order.</summary>
public sealed record OptimizerUpdate(Value Param, ImmutableArray<Value> State);

/// <summary>
/// Stochastic gradient descent, with heavy-ball or Nesterov momentum as PyTorch's SGD (dampening 0):
/// v ← μ·v + g, w ← w − lr·v, or w ← w − lr·(g + μ·v) with Nesterov.
/// </summary>
public sealed record Sgd : Optimizer
{
    public double Momentum { get; init; }
    public bool Nesterov { get; init; }

    public override string Name => Nesterov ? "nesterov" : Momentum != 0 ? "momentum" : "sgd";

    // Nesterov with μ = 0 degenerates to plain SGD but keeps its velocity, so the state layout follows the flags.
    public override ImmutableArray<string> StateNames => Momentum == 0 && !Nesterov ? [] : ["velocity"];

    public override OptimizerUpdate Update(IrBuilder b, Value param, Value grad, IReadOnlyList<Value> state, Value step)
    {
        CheckOperands(param, grad, state, step);
        var (lr, _) = Scalars(b, param, step);
        var velocity = state.Count > 0 ? state[0] : null;
        var (w, v) = UpdateRules.Momentum(b, param, grad, velocity, lr, Momentum, gradScale: null, Nesterov, WeightDecay);
        return new OptimizerUpdate(w, v is null ? [] : [v]);
    }
}

/// <summary>
/// Adam (Kingma and Ba; PyTorch's and Keras's defaults): m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g²,
/// w ← w − lr·m̂/(√v̂ + ε) with m̂ = m/(1−β1^t), v̂ = v/(1−β2^t).
/// </summary>
public sealed record Adam : Optimizer
{
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;

    public override string Name => "adam";
    public override ImmutableArray<string> StateNames => ["m", "v"];

    public override OptimizerUpdate Update(IrBuilder b, Value param, Value grad, IReadOnlyList<Value> state, Value step)
    {
        CheckOperands(param, grad, state, step);
        var (lr, t) = Scalars(b, param, step);
        var s = new TensorMath(b, t.Type);
        // lr/(1−β1^t) scales the step, 1/√(1−β2^t) the root of v: the bias corrections without dividing each element twice.
        var stepSize = s.Div(lr, s.Sub(s.Const(1), s.Pow(Beta1, t)));
        var rootScale = s.Div(s.Const(1), s.Sqrt(s.Sub(s.Const(1), s.Pow(Beta2, t))));
        var (w, m, v) = UpdateRules.Adam(b, param, grad, state[0], state[1], stepSize, rootScale, Beta1, Beta2, Epsilon, WeightDecay);
        return new OptimizerUpdate(w, [m, v]);
    }
}

/// <summary>
/// Adagrad (Duchi et al.; ONNX's and PyTorch's form): h ← h + g², w ← w − lr_t·g/(√h + ε) with
/// lr_t = lr/(1 + (t−1)·decay).
/// </summary>
public sealed record Adagrad : Optimizer
{
    public double Epsilon { get; init; } = 1e-10;
    public double DecayFactor { get; init; }

    public override string Name => "adagrad";
    public override ImmutableArray<string> StateNames => ["accumulator"];

    public override OptimizerUpdate Update(IrBuilder b, Value param, Value grad, IReadOnlyList<Value> state, Value step)
    {
        CheckOperands(param, grad, state, step);
        var (lr, t) = Scalars(b, param, step);
        var s = new TensorMath(b, t.Type);
        var rate = UpdateRules.DecayedRate(b, lr, s.Sub(t, s.Const(1)), DecayFactor);
        var (w, h) = UpdateRules.Adagrad(b, param, grad, state[0], rate, Epsilon, WeightDecay);
        return new OptimizerUpdate(w, [h]);
    }
}

/// <summary>
/// The update rules behind <see cref="Optimizer"/>, with the learning rate and the step-dependent factors given as
/// values (rank-0 tensors of <see cref="ComputeType"/>), because ONNX's training ops take the learning rate and the
/// update count as graph inputs; their lowerings emit these same ops. Parameters, gradients and state are in the
/// parameter's type; the arithmetic is in <see cref="ComputeType"/> and the results are converted back.
/// </summary>
public static class UpdateRules
{
    /// <summary>The element type an update of <paramref name="e"/> computes in: f16 and bf16 go through f32, whose rounding the moments need.</summary>
    public static ElementType ComputeType(ElementType e) => e is ElementType.F16 or ElementType.BF16 ? ElementType.F32 : e;

    /// <summary>A one-element value (learning rate, step count: [] or [1]) as a rank-0 value of <paramref name="e"/>.</summary>
    public static Value ScalarIn(IrBuilder b, Value v, ElementType e)
    {
        if (v.Type.ElementCount != 1) throw new ArgumentException($"expected a scalar, got {v.Type}");
        if (v.Type.Rank != 0) v = b.Reshape(v);
        return v.Type.Element == e ? v : b.Convert(v, e);
    }

    /// <summary>lr / (1 + count·decay): Adagrad's decayed learning rate, count being the number of earlier updates.</summary>
    public static Value DecayedRate(IrBuilder b, Value lr, Value count, double decay)
    {
        if (decay == 0) return lr;
        var s = new TensorMath(b, lr.Type);
        return s.Div(lr, s.Add(s.Const(1), s.Mul(count, s.Const(decay))));
    }

    /// <summary>
    /// SGD with momentum μ: g ← g + λ·w; v ← μ·v + β·g (β = <paramref name="gradScale"/>, 1 when null);
    /// w ← w − lr·v, or w ← w − lr·(g + μ·v) with Nesterov. Without a velocity, plain SGD: w ← w − lr·g.
    /// </summary>
    public static (Value Param, Value? Velocity) Momentum(IrBuilder b, Value param, Value grad, Value? velocity, Value lr,
        double momentum, Value? gradScale, bool nesterov, double weightDecay)
    {
        var m = TensorMath.For(b, param);
        var g = Regularized(m, param, grad, weightDecay);
        var w = m.In(param);
        if (velocity is null) return (m.Out(m.Sub(w, m.Mul(m.Splat(lr), g)), param), null);
        var scaled = gradScale is null ? g : m.Mul(m.Splat(gradScale), g);
        var v = m.Add(m.Scale(momentum, m.In(velocity)), scaled);
        var direction = nesterov ? m.Add(g, m.Scale(momentum, v)) : v;
        return (m.Out(m.Sub(w, m.Mul(m.Splat(lr), direction)), param), m.Out(v, param));
    }

    /// <summary>Adagrad: g ← g + λ·w; h ← h + g²; w ← w − lr·g/(√h + ε), lr already decayed (<see cref="DecayedRate"/>).</summary>
    public static (Value Param, Value Accumulator) Adagrad(IrBuilder b, Value param, Value grad, Value accumulator, Value lr,
        double epsilon, double weightDecay)
    {
        var m = TensorMath.For(b, param);
        var g = Regularized(m, param, grad, weightDecay);
        var h = m.Add(m.In(accumulator), m.Mul(g, g));
        var update = m.Div(m.Mul(m.Splat(lr), g), m.Add(m.Sqrt(h), m.Const(epsilon)));
        return (m.Out(m.Sub(m.In(param), update), param), m.Out(h, param));
    }

    /// <summary>
    /// Adam's moments and step: g ← g + λ·w; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
    /// w ← w − stepSize·m/(√v·rootScale + ε). The bias corrections are in the two scalars: PyTorch puts
    /// 1/√(1−β2^t) in rootScale, ONNX folds √(1−β2^t) into stepSize and passes no rootScale (ε then meets the
    /// uncorrected root).
    /// </summary>
    public static (Value Param, Value M, Value V) Adam(IrBuilder b, Value param, Value grad, Value m1, Value m2, Value stepSize,
        Value? rootScale, double beta1, double beta2, double epsilon, double weightDecay)
    {
        var m = TensorMath.For(b, param);
        var g = Regularized(m, param, grad, weightDecay);
        var mean = m.Add(m.Scale(beta1, m.In(m1)), m.Scale(1 - beta1, g));
        var square = m.Add(m.Scale(beta2, m.In(m2)), m.Scale(1 - beta2, m.Mul(g, g)));
        var root = m.Sqrt(square);
        if (rootScale is not null) root = m.Mul(root, m.Splat(rootScale));
        var update = m.Div(m.Mul(m.Splat(stepSize), mean), m.Add(root, m.Const(epsilon)));
        return (m.Out(m.Sub(m.In(param), update), param), m.Out(mean, param), m.Out(square, param));
    }

    /// <summary>g + λ·w, the gradient of the loss plus λ/2·‖w‖².</summary>
    private static Value Regularized(TensorMath m, Value param, Value grad, double weightDecay) =>
        weightDecay == 0 ? m.In(grad) : m.Add(m.In(grad), m.Scale(weightDecay, m.In(param)));
}

/// <summary>Elementwise arithmetic on tensors of one type; rank-0 values and constants are broadcast to it.</summary>
internal sealed class TensorMath(IrBuilder b, TensorType type)
{
    public TensorType Type => type;

    /// <summary>Arithmetic in the compute type of <paramref name="like"/> (<see cref="UpdateRules.ComputeType"/>), at its shape.</summary>
    public static TensorMath For(IrBuilder b, Value like) => new(b, like.Type.WithElement(UpdateRules.ComputeType(like.Type.Element)));

    /// <summary><paramref name="v"/> in this type's element (operands come in the parameter's type).</summary>
    public Value In(Value v) => v.Type.Element == type.Element ? v : b.Convert(v, type.Element);

    /// <summary><paramref name="v"/> back in <paramref name="like"/>'s element.</summary>
    public Value Out(Value v, Value like) => v.Type.Element == like.Type.Element ? v : b.Convert(v, like.Type.Element);

    public Value Const(double v) => Splat(b.Scalar(type.Element, v));
    public Value Splat(Value scalar) => type.Rank == 0 ? scalar : b.BroadcastInDim(scalar, type);
    public Value Add(Value x, Value y) => b.Emit("add", x, y);
    public Value Sub(Value x, Value y) => b.Emit("sub", x, y);
    public Value Mul(Value x, Value y) => b.Emit("mul", x, y);
    public Value Div(Value x, Value y) => b.Emit("div", x, y);
    public Value Sqrt(Value x) => b.Emit("sqrt", x);
    public Value Max(Value x, Value y) => b.Emit("max", x, y);

    /// <summary>c·x, without an op when c is 1.</summary>
    public Value Scale(double c, Value x) => c == 1 ? x : Mul(Const(c), x);

    /// <summary>c^x for a constant base.</summary>
    public Value Pow(double c, Value x) => b.Emit("pow", Const(c), x);
}
