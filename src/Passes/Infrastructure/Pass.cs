using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;

namespace GraphCompiler.Passes;

/// <summary>The outcome of one pass: the (possibly same) module and whether anything changed.</summary>
public readonly record struct PassResult(Module Module, bool Changed)
{
    public static PassResult Unchanged(Module m) => new(m, false);
}

/// <summary>Settings passes read; one instance per compilation.</summary>
public sealed record PassOptions
{
    /// <summary>Constant folding leaves results with more elements than this unmaterialised.</summary>
    public long MaxFoldElements { get; init; } = 1 << 16;

    /// <summary>
    /// What computes <c>hoist-constants</c>' subgraphs at compile time: the reference interpreter with small
    /// limits unless the driver supplies a compiled one (it does when LLVM is available).
    /// </summary>
    public IConstantEvaluator ConstantEvaluator { get; init; } = InterpreterConstantEvaluator.Default;

    /// <summary>Verify after every pass and check that "unchanged" passes left the text identical.</summary>
    public bool CheckEachPass { get; init; }

    /// <summary>Devices, constraints and costs for <c>place-devices</c> and <c>insert-transfers</c>; by default there is no GPU.</summary>
    public PlacementOptions Placement { get; init; } = PlacementOptions.Default;

    /// <summary>
    /// The arena bytes <c>remat</c> tries to fit each function into by recomputing values instead of keeping them
    /// live; null: no budget, and <c>remat</c> does nothing.
    /// </summary>
    public long? MemoryBudget { get; init; }

    /// <summary>
    /// How arenas are planned, per function (the target's <c>MemoryPlan</c>; the driver supplies it), so that
    /// <c>remat</c>'s estimates are the memory report's; null: <see cref="BufferOptions.Default"/>.
    /// </summary>
    public Func<Function, BufferOptions?>? MemoryPlan { get; init; }

    /// <summary>
    /// How many micro-batches <c>micro-batch</c> splits the entry function's batch into (GPipe; docs/distributed.md,
    /// Pipelines); 1: the pass leaves the module as it is.
    /// </summary>
    public int MicroBatches { get; init; } = 1;

    /// <summary>
    /// The 16-bit float type (bf16 or f16) <c>mixed-precision</c> gives f32 contractions' operands (accumulation stays
    /// f32); null: the pass leaves the module as it is.
    /// </summary>
    public ElementType? ContractionOperands { get; init; }

    /// <summary>
    /// The target's widest copy of a contraction operand by element type (<see cref="IR.Targets.ITarget.ContractionCopyBytes"/>;
    /// the driver supplies it), which <c>pad-features</c> pads convolutions' input features toward; null: the pass
    /// leaves the module as it is.
    /// </summary>
    public Func<ElementType, int?>? ContractionCopyBytes { get; init; }

    /// <summary>
    /// Whether the target's convolution kernels may compute a pointwise convolution's channels-last input
    /// (<see cref="IR.Targets.ITarget.ComputesConvolutionInputs"/>; the driver supplies it): false turns off <c>fuse</c>'s
    /// <see cref="FusionCostModel.ComputedConvolutionInputs"/>.
    /// </summary>
    public bool ComputedConvolutionInputs { get; init; } = true;

    /// <summary>
    /// Whether the target's matrix-product kernels store an epilogue through order-keeping reshapes
    /// (<see cref="IR.Targets.ITarget.ReshapingEpilogues"/>; the driver supplies it): turns on <c>fuse</c>'s
    /// <see cref="FusionCostModel.ReshapingEpilogues"/>.
    /// </summary>
    public bool ReshapingEpilogues { get; init; }

    public static readonly PassOptions Default = new();
}

/// <summary>
/// A user error found while a pass runs (e.g. contradictory placement constraints): the pass manager
/// turns it into its one-line diagnostic. Never for bugs.
/// </summary>
public sealed class PassException(Diagnostic diagnostic) : Exception(diagnostic.Message)
{
    public Diagnostic Diagnostic { get; } = diagnostic;
}

/// <summary>
/// A transformation of a module. Its <see cref="Name"/> is its CLI flag and its test folder
/// (<c>tests/ir/NAME/</c>). <see cref="Run"/> returns the same module object when it changed nothing.
/// </summary>
public abstract class Pass
{
    public abstract string Name { get; }

    /// <summary>One line for <c>gcc-cli ir --list-passes</c>.</summary>
    public abstract string Description { get; }

    public abstract PassResult Run(Module module, PassOptions options);
}

/// <summary>A pass that rewrites each function independently.</summary>
public abstract class FunctionPass : Pass
{
    public sealed override PassResult Run(Module module, PassOptions options)
    {
        var m = module;
        foreach (var f in module.Functions)
        {
            var g = RunOnFunction(f, module, options);
            if (!ReferenceEquals(f, g)) m = m.WithFunction(g);
        }
        return new PassResult(m, !ReferenceEquals(m, module));
    }

    /// <summary>Returns <paramref name="f"/> itself when nothing changes.</summary>
    protected abstract Function RunOnFunction(Function f, Module module, PassOptions options);
}
