using System.Collections.Immutable;
using GraphCompiler.IR;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>canonicalize</c>: runs <c>simplify</c>, <c>constant-fold</c>, <c>cse</c> and <c>dce</c> in turn,
/// round after round, until a whole round changes nothing (or <see cref="MaxRounds"/> rounds have run).
/// They feed each other — folding makes constants that rules match, simplification exposes equal
/// ops to CSE, CSE makes operands identical for rules such as select(p, x, x) — so one pass of each is
/// not a fixed point. Each pass is exact, so the group is.
/// </summary>
public sealed class Canonicalize : Pass
{
    public override string Name => "canonicalize";
    public override string Description => "simplify, constant-fold, cse and dce to a fixed point";

    /// <summary>A cap on rounds; real graphs settle in two or three.</summary>
    public const int MaxRounds = 8;

    private static readonly ImmutableArray<Pass> Group =
        [new AlgebraicSimplification(), new ConstantFolding(), new CommonSubexpressionElimination(), new DeadCodeElimination()];

    public override PassResult Run(Module module, PassOptions options)
    {
        var m = module;
        for (int round = 0; round < MaxRounds; round++)
        {
            bool changed = false;
            foreach (var pass in Group)
            {
                var r = pass.Run(m, options);
                changed |= r.Changed;
                m = r.Module;
            }
            if (!changed) break;
        }
        return new PassResult(m, !ReferenceEquals(m, module));
    }
}
