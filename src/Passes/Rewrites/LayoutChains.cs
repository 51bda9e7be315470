using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes.Rewrites;

/// <summary>
/// A chain of reshapes and transposes only moves elements: it is one permutation of the factors of the
/// input's dimensions, so it can always be written as reshape → transpose → reshape, each dropped when it is
/// the identity. ShuffleNet's channel shuffle after <c>layout</c> is five such ops (to NCHW, split the
/// channels into groups, swap, join, back to NHWC) and becomes reshape [.., 3, 20] → swap the last two →
/// reshape [.., 60]: a fused kernel then computes one index permutation instead of dividing and multiplying
/// through five shapes per element.
/// <para>
/// Method: the input's elements are indexed by "atoms" (factors of its dimensions, row-major). Each current
/// dimension is a run of atoms; a transpose reorders the runs; a reshape regroups the atoms in order,
/// splitting an atom (outer × inner, in the input too) where a new dimension ends inside it. At the end,
/// atoms adjacent and in order in both the input and the result merge, which gives the smallest reshape and
/// transpose. A reshape whose boundary does not divide an atom (sizes 6 → 4 × … after a transpose) is not a
/// factor permutation: no canonical form then.
/// </para>
/// </summary>
public static class LayoutChains
{
    /// <summary>The longest chain looked at; a longer one is simplified piece by piece.</summary>
    private const int MaxChain = 8;

    /// <summary>The ops of the chain ending at <paramref name="op"/>, first first (only <paramref name="op"/> when it is not a reshape or transpose).</summary>
    public static List<Operation> Chain(Operation op, Func<Value, Operation?> def)
    {
        var chain = new List<Operation>();
        for (var cur = op; cur is not null && IsLayout(cur) && chain.Count < MaxChain; cur = def(cur.Operands[0]))
            chain.Insert(0, cur);
        return chain;
    }

    private static bool IsLayout(Operation op) => op.Def == ShapeOps.Reshape || op.Def == ShapeOps.Transpose;

    /// <summary>The canonical form of a chain from a value of <paramref name="input"/>'s shape: reshape to, transpose by, reshape to (each null when not needed); null when the chain is not a factor permutation.</summary>
    public static (long[]? First, long[]? Perm, long[]? Last)? Canonical(ImmutableArray<long> input, IReadOnlyList<Operation> chain)
    {
        var size = new List<long>();
        var inOrder = new List<int>();
        var dims = new List<List<int>>();
        foreach (var n in input)
        {
            var run = new List<int>();
            if (n != 1)
            {
                size.Add(n);
                inOrder.Add(size.Count - 1);
                run.Add(size.Count - 1);
            }
            dims.Add(run);
        }
        foreach (var op in chain)
        {
            if (op.Def == ShapeOps.Transpose)
            {
                var perm = op.Attr.Ints("perm");
                dims = [.. perm.Select(p => dims[(int)p])];
                continue;
            }
            var atoms = new Queue<int>(dims.SelectMany(d => d));
            var next = new List<List<int>>();
            foreach (var target in op.Result.Type.Shape)
            {
                var run = new List<int>();
                long have = 1;
                while (have < target)
                {
                    if (atoms.Count == 0) return null;
                    int a = atoms.Dequeue();
                    long need = target / have;
                    if (target % have != 0) return null;
                    if (size[a] <= need)
                    {
                        run.Add(a);
                        have *= size[a];
                        continue;
                    }
                    if (size[a] % need != 0) return null;
                    // Split atom a into outer (need) × inner (size / need), in the input's order as well.
                    int inner = size.Count;
                    size.Add(size[a] / need);
                    size[a] = need;
                    inOrder.Insert(inOrder.IndexOf(a) + 1, inner);
                    run.Add(a);
                    have *= need;
                    atoms = new Queue<int>(atoms.Prepend(inner));
                }
                if (have != target) return null;
                next.Add(run);
            }
            if (atoms.Count != 0) return null;
            dims = next;
        }

        // Merge atoms that follow each other in both orders.
        var outOrder = dims.SelectMany(d => d).ToList();
        var outAt = new int[size.Count];
        for (int i = 0; i < outOrder.Count; i++) outAt[outOrder[i]] = i;
        var groupOf = new int[size.Count];
        var groupSize = new List<long>();
        for (int i = 0; i < inOrder.Count; i++)
        {
            int a = inOrder[i];
            if (i > 0 && outAt[a] == outAt[inOrder[i - 1]] + 1) groupSize[^1] *= size[a];
            else groupSize.Add(size[a]);
            groupOf[a] = groupSize.Count - 1;
        }
        var groupPerm = outOrder.Select(a => (long)groupOf[a]).Distinct().ToArray();
        long[] first = [.. groupSize];
        long[] transposed = [.. groupPerm.Select(g => groupSize[(int)g])];
        var result = chain[^1].Result.Type.Shape;
        bool identity = groupPerm.Select((g, i) => g == i).All(x => x);
        return (input.SequenceEqual(first) ? null : first, identity ? null : groupPerm, result.SequenceEqual(identity ? first : transposed) ? null : [.. result]);
    }

    /// <summary>How many ops the canonical form takes.</summary>
    public static int Count((long[]? First, long[]? Perm, long[]? Last) form) =>
        (form.First is null ? 0 : 1) + (form.Perm is null ? 0 : 1) + (form.Last is null ? 0 : 1);
}
