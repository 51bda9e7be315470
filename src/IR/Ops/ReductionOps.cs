using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

public static class ReductionOps
{
    public static readonly ImmutableArray<OpDef> All = [];
}
