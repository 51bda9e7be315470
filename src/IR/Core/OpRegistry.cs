using System.Collections.Frozen;

namespace GraphCompiler.IR;

/// <summary>Every op kind, by name. Immutable; built once from the op families.</summary>
public static class OpRegistry
{
    private static readonly FrozenDictionary<string, OpDef> ByName = Build();

    private static FrozenDictionary<string, OpDef> Build()
    {
        IEnumerable<OpDef> all =
        [
            .. Ops.ElementwiseOps.All,
            .. Ops.StructureOps.All,
            .. Ops.ShapeOps.All,
            .. Ops.IndexingOps.All,
            .. Ops.ContractionOps.All,
            .. Ops.ReductionOps.All,
            .. Ops.ControlFlowOps.All,
            .. Ops.LinalgOps.All,
            .. Ops.RandomOps.All,
            .. Ops.FusionOps.All,
            .. Ops.TransferOps.All,
            .. Ops.AutodiffOps.All,
            .. Ops.CollectiveOps.All,
        ];
        var d = new Dictionary<string, OpDef>();
        foreach (var op in all)
        {
            if (!d.TryAdd(op.Name, op)) throw new InvalidOperationException($"op '{op.Name}' is defined twice");
            if (op.Has(OpTraits.Foldable | OpTraits.HasSideEffects))
                throw new InvalidOperationException($"op '{op.Name}' is Foldable and HasSideEffects: the folder would drop its effects");
        }
        return d.ToFrozenDictionary();
    }

    public static IEnumerable<OpDef> All => ByName.Values.OrderBy(o => o.Name, StringComparer.Ordinal);

    public static OpDef? Find(string name) => ByName.GetValueOrDefault(name);

    public static OpDef Get(string name) => Find(name) ?? throw new ArgumentException($"unknown op '{name}'");

    /// <summary>Whether <paramref name="def"/> is the registered definition of its name (not a stray instance).</summary>
    public static bool Contains(OpDef def) => ReferenceEquals(Find(def.Name), def);
}
