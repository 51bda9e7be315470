using System.Collections.Immutable;

namespace GraphCompiler.IR.Training;

// PLACEHOLDER until the optimizers branch lands (same public API).
public abstract record Optimizer
{
    public double LearningRate { get; init; } = 0.01;
    public double WeightDecay { get; init; }
    public abstract string Name { get; }
    public abstract ImmutableArray<string> StateNames { get; }
    public abstract OptimizerUpdate Update(IrBuilder b, Value param, Value grad, IReadOnlyList<Value> state, Value step);
    public static Optimizer? Create(string name, double learningRate) => name switch
    {
        "sgd" => new Sgd { LearningRate = learningRate },
        _ => null,
    };
    public static ImmutableArray<string> Names { get; } = ["sgd"];
}

public sealed record OptimizerUpdate(Value Param, ImmutableArray<Value> State);

public sealed record Sgd : Optimizer
{
    public double Momentum { get; init; }
    public bool Nesterov { get; init; }
    public override string Name => "sgd";
    public override ImmutableArray<string> StateNames => [];
    public override OptimizerUpdate Update(IrBuilder b, Value param, Value grad, IReadOnlyList<Value> state, Value step)
    {
        var lr = b.BroadcastInDim(b.Scalar(param.Type.Element, LearningRate), param.Type);
        return new(b.Emit("sub", param, b.Emit("mul", lr, grad)), []);
    }
}

public static class GradientClipping
{
    public static ImmutableArray<Value> ByGlobalNorm(IrBuilder b, IReadOnlyList<Value> grads, double maxNorm) => [.. grads];
}
