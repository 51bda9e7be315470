using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

public static class RandomOps
{
    public static readonly ImmutableArray<OpDef> All = [];
}
