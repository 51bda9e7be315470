using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

public static class ShapeOps
{
    public static readonly ImmutableArray<OpDef> All = [];
}
