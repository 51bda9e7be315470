using System.Collections.Immutable;

namespace GraphCompiler.IR;

/// <summary>Copies of ops with fresh values, for passes that duplicate computation (autodiff's recompute, rematerialization).</summary>
public static class Cloning
{
    /// <summary>
    /// Copies <paramref name="ops"/> with fresh result (and region argument) values, reading
    /// <paramref name="map"/>'s replacements for their operands and adding each original → copy to it.
    /// </summary>
    public static ImmutableArray<Operation> Clone(IEnumerable<Operation> ops, Dictionary<Value, Value> map)
    {
        var result = ImmutableArray.CreateBuilder<Operation>();
        foreach (var op in ops)
        {
            var operands = op.Operands.Select(v => map.GetValueOrDefault(v) ?? v).ToImmutableArray();
            var regions = op.Regions.Select(r =>
            {
                var args = r.Arguments.Select(a => map[a] = new Value(a.Type)).ToImmutableArray();
                return new Region(args, Clone(r.Operations, map));
            }).ToImmutableArray();
            var results = op.Results.Select(v => map[v] = new Value(v.Type)).ToImmutableArray();
            result.Add(new Operation(op.Def, operands, op.Attributes, results, regions, op.Location, op.SourceName));
        }
        return result.ToImmutable();
    }
}
