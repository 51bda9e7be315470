using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

public static class ContractionOps
{
    public static readonly ImmutableArray<OpDef> All = [];
}
