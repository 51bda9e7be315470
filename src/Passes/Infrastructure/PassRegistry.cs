using System.Collections.Frozen;
using System.Collections.Immutable;

namespace GraphCompiler.Passes;

/// <summary>Every pass by name, and the named pipelines.</summary>
public static class PassRegistry
{
    private static readonly FrozenDictionary<string, Pass> ByName = new Pass[]
    {
        new DeadCodeElimination(),
        new MemoryScheduling(),
    }.ToFrozenDictionary(p => p.Name);

    public static Pass? Find(string name) => ByName.GetValueOrDefault(name);

    public static IEnumerable<string> Names => ByName.Keys.Order(StringComparer.Ordinal);

    public static IEnumerable<Pass> All => Names.Select(n => ByName[n]);

    /// <summary>The pipeline <c>compile</c> uses.</summary>
    public static readonly Pipeline Default = new("default", ["dce", "schedule"]);

    public static readonly ImmutableArray<Pipeline> Pipelines = [Default];
}
