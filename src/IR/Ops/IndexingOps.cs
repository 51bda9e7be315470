using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

public static class IndexingOps
{
    public static readonly ImmutableArray<OpDef> All = [];
}
