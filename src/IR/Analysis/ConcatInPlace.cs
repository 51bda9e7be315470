using System.Collections.Immutable;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.IR.Analysis;

/// <summary>
/// One buffer shared by a chain of concatenations: every operand is written by its producer straight into
/// its slice, and every concatenation of the chain is a view of a prefix (or another run) of it, so none of
/// them copies anything. <see cref="Offsets"/> gives each member value's byte offset in the buffer of
/// <see cref="Root"/>'s size.
/// </summary>
public sealed record ConcatGroup(Operation Root, ImmutableArray<Operation> Concats, IReadOnlyDictionary<Value, long> Offsets);

/// <summary>
/// Which concatenations cost nothing: DenseNet's pattern, where layer k concatenates the block input and
/// the outputs of layers 1..k−1 and layer k+1 concatenates the same values plus one. Fused into its
/// consumer, each concatenation would read k operands per element (a select among them); materialised,
/// each would copy the growing prefix again. Instead the chain shares one buffer (<see cref="ConcatGroup"/>):
/// <c>fuse</c> keeps its concatenations out of kernels, buffer assignment lays the members out in it, and the
/// backend emits no code for them. A chain qualifies when
/// <list type="bullet">
/// <item>every dimension before the joined one has size 1 (batch 1, NCHW channels), so each operand's slice
/// is contiguous, and each slice starts at a multiple of the arena alignment;</item>
/// <item>the operands are distinct values computed by ops of the same region (no arguments or constants, no
/// transfers), and no operand is in two chains;</item>
/// <item>every concatenation's operand list is a run of the longest one's (the root), and there are at least
/// two concatenations: a lone one stays fusible, where its consumer reads each element once.</item>
/// </list>
/// The decision depends only on the region's structure, so <c>fuse</c> and buffer assignment make the same
/// one; where they would not (a later pass changed the chain), the backend copies any operand not in its
/// slice, so the result stays correct.
/// </summary>
public static class ConcatInPlace
{
    public static ImmutableArray<ConcatGroup> Groups(Region region, long alignment = ArenaModel.DefaultAlignment)
    {
        var cmp = ReferenceEqualityComparer.Instance;
        var definer = new Dictionary<Value, Operation>(cmp);
        foreach (var op in region.Operations)
            foreach (var r in op.Results)
                definer[r] = op;
        var concats = region.Operations.Where(op => Contiguous(op, definer)).ToList();

        // Chains: concatenations joined by a shared operand (union-find over their indices).
        var parent = Enumerable.Range(0, concats.Count).ToArray();
        int Find(int i) => parent[i] == i ? i : parent[i] = Find(parent[i]);
        var firstUser = new Dictionary<Value, int>(cmp);
        for (int i = 0; i < concats.Count; i++)
            foreach (var x in concats[i].Operands)
                if (firstUser.TryGetValue(x, out var j)) parent[Find(i)] = Find(j);
                else firstUser[x] = i;

        var groups = ImmutableArray.CreateBuilder<ConcatGroup>();
        foreach (var chain in Enumerable.Range(0, concats.Count).GroupBy(Find))
        {
            var members = chain.Select(i => concats[i]).ToList();
            if (members.Count < 2) continue;
            var root = members.MaxBy(c => c.Operands.Length)!;
            if (Layout(root, members, alignment) is { } offsets) groups.Add(new ConcatGroup(root, [.. members], offsets));
        }
        return groups.ToImmutable();
    }

    /// <summary>A concatenation whose operands are contiguous slices of its result, each computed by an op of the region.</summary>
    private static bool Contiguous(Operation op, Dictionary<Value, Operation> definer)
    {
        if (op.Def is not ConcatenateOp || op.Operands.Length < 2) return false;
        int d = op.Attr.Int32("dimension");
        var shape = op.Result.Type.Shape;
        for (int i = 0; i < d; i++)
            if (shape[i] != 1) return false;
        if (op.Operands.Distinct(ReferenceEqualityComparer.Instance).Count() != op.Operands.Length) return false;
        return op.Operands.All(x => definer.TryGetValue(x, out var p) && p.Def is not (ConstantOp or SendOp or RecvOp)
            && !p.Def.Has(OpTraits.AsyncDone) && x.Type.Element == op.Result.Type.Element);
    }

    /// <summary>Byte offsets of the root's operands and of every member's result; null when a member is not a run of the root's operands.</summary>
    private static Dictionary<Value, long>? Layout(Operation root, List<Operation> members, long alignment)
    {
        var offsets = new Dictionary<Value, long>(ReferenceEqualityComparer.Instance);
        var position = new Dictionary<Value, int>(ReferenceEqualityComparer.Instance);
        long at = 0;
        for (int i = 0; i < root.Operands.Length; i++)
        {
            var x = root.Operands[i];
            if (at % alignment != 0) return null;
            offsets[x] = at;
            position[x] = i;
            at += x.Type.ByteSize;
        }
        int d = root.Attr.Int32("dimension");
        foreach (var c in members)
        {
            if (c.Attr.Int32("dimension") != d || !position.TryGetValue(c.Operands[0], out var start)) return null;
            for (int i = 0; i < c.Operands.Length; i++)
                if (start + i >= root.Operands.Length || !ReferenceEquals(root.Operands[start + i], c.Operands[i])) return null;
            offsets[c.Result] = offsets[c.Operands[0]];
        }
        return offsets;
    }
}
