using System.Collections.Immutable;
using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Import;

/// <summary>Thrown by a TF1 Merge none of whose inputs is live: the node is dead, not an error.</summary>
internal sealed class DeadBranchException() : Exception("every input of the Merge is on a dead branch");

/// <summary>
/// The Switch branches a tensor of a TF1 conditional lies on: (predicate, branch) pairs. Both branches
/// are computed (dataflow ops are pure) and the Merge selects; a branch whose predicate is known at
/// import time and differs is dead, and its nodes are not imported at all (so their shapes may differ).
/// </summary>
public sealed class TfGuard
{
    public static readonly TfGuard None = new([]);

    public ImmutableList<(Value Pred, bool Branch)> Items { get; }

    private TfGuard(ImmutableList<(Value, bool)> items) => Items = items;

    public bool IsEmpty => Items.IsEmpty;

    public TfGuard With(Value pred, bool branch) =>
        Items.Any(i => ReferenceEquals(i.Pred, pred) && i.Branch == branch) ? this : new(Items.Add((pred, branch)));

    public TfGuard Union(TfGuard other)
    {
        var g = this;
        foreach (var (p, b) in other.Items) g = g.With(p, b);
        return g;
    }

    public TfGuard Without(Value pred) => new(Items.RemoveAll(i => ReferenceEquals(i.Pred, pred)));

    public bool IsDead(Lowerer l) =>
        Items.Any(i => l.Known(i.Pred) is { } k && k.GetBool(0) != i.Branch
            || Items.Any(j => ReferenceEquals(i.Pred, j.Pred) && i.Branch != j.Branch));
}
