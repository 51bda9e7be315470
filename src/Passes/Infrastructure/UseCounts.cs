using GraphCompiler.IR;

namespace GraphCompiler.Passes;

/// <summary>How many operands read each value of a function, nested regions included: a rewrite that
/// bypasses an op may only do so when it is the op's sole user.</summary>
public static class UseCounts
{
    public static Dictionary<Value, int> Of(Function f)
    {
        var uses = new Dictionary<Value, int>(ReferenceEqualityComparer.Instance);
        Count(f.Body, uses);
        return uses;
    }

    private static void Count(Region region, Dictionary<Value, int> uses)
    {
        foreach (var op in region.Operations)
        {
            foreach (var v in op.Operands) uses[v] = uses.GetValueOrDefault(v) + 1;
            foreach (var r in op.Regions) Count(r, uses);
        }
    }
}
