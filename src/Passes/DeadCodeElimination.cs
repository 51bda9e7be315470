using System.Collections.Immutable;
using GraphCompiler.IR;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>dce</c>: removes ops whose results are never used, inside regions too, and unused
/// loop-independent region work. An op is dead exactly when no live op or terminator reads its results
/// and it has no side effects (<see cref="OpTraits.HasSideEffects"/>: the collectives, which every replica
/// must run even when this one ignores the result; variable updates are function results).
/// Arguments and results are the interface and are kept.
/// </summary>
public sealed class DeadCodeElimination : FunctionPass
{
    public override string Name => "dce";
    public override string Description => "remove ops whose results are unused";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options) => f.WithBody(Sweep(f.Body));

    private static Region Sweep(Region region)
    {
        // Walk backwards: an op is live if a later live op (or a nested region of one) uses it.
        var live = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        var kept = new List<Operation>();
        for (int i = region.Operations.Length - 1; i >= 0; i--)
        {
            var op = region.Operations[i];
            if (!op.Def.IsTerminator && !op.HasSideEffects && !op.Results.Any(live.Contains)) continue;
            var swept = op.Regions.IsEmpty ? op : op.With(regions: [.. op.Regions.Select(Sweep)]);
            foreach (var v in swept.Operands) live.Add(v);
            foreach (var r in swept.Regions) MarkUses(r, live);
            kept.Add(swept);
        }
        kept.Reverse();
        return region.WithOperations([.. kept]);
    }

    /// <summary>Values of enclosing regions read inside a nested region stay live.</summary>
    private static void MarkUses(Region r, HashSet<Value> live)
    {
        foreach (var op in r.Operations)
        {
            foreach (var v in op.Operands) live.Add(v);
            foreach (var inner in op.Regions) MarkUses(inner, live);
        }
    }
}
