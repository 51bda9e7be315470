using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

public static class LinalgOps
{
    public static readonly ImmutableArray<OpDef> All = [];
}
