using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>overlap-collectives</c>: moves the two halves of every asynchronous pair apart, so that the work a start
/// issued (an <c>all_reduce_start</c>'s reduction, a <c>send</c>'s message) runs while the ops between them
/// compute — XLA's latency-hiding scheduling, reduced to its core. In each region, after <c>schedule</c>:
/// <list type="bullet">
/// <item>each <see cref="OpTraits.AsyncStart"/> op is issued as soon as its operands exist, together with the
/// side-effect-free ops that feed only it (a gradient bucket's flatten and concatenation, and the weight gradients
/// nothing else reads): a data-parallel step starts averaging a bucket as soon as the backward pass has produced
/// the activation gradients it needs;</item>
/// <item>each <see cref="OpTraits.AsyncDone"/> op is issued right before the first op that reads its result (the
/// terminator included): the wait comes as late as the program allows.</item>
/// </list>
/// Every other op keeps its order, so the memory schedule stands except for the moved ops. Every replica runs
/// the same program, so every replica still issues the collectives in one order. A region without pairs is
/// returned as it is.
/// </summary>
public sealed class CollectiveOverlap : FunctionPass
{
    public override string Name => "overlap-collectives";
    public override string Description => "issue asynchronous starts early and their dones late, so communication overlaps compute";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options)
    {
        var body = Reorder(f.Body);
        return ReferenceEquals(body, f.Body) ? f : f.WithBody(body);
    }

    /// <summary><paramref name="region"/> with its pairs (and those of nested regions) moved apart, or the same object.</summary>
    public static Region Reorder(Region region)
    {
        var ops = region.Operations.Select(op => op.Regions.IsEmpty ? op : op.With(regions: [.. op.Regions.Select(Reorder)])).ToImmutableArray();
        var body = ops.Take(ops.Length - 1).ToList(); // the terminator stays last
        var producer = new Dictionary<Value, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < body.Count; i++)
            foreach (var r in body[i].Results) producer[r] = i;

        var reads = body.Select(Reads).ToList();
        var terminatorReads = Reads(ops[^1]);
        bool anyPair = body.Any(op => op.Def.HasAny(OpTraits.AsyncStart | OpTraits.AsyncDone));
        if (!anyPair) return ops.SequenceEqual(region.Operations) ? region : region.WithOperations(ops);

        var owner = Owners(body, reads, terminatorReads, producer);
        var chains = Enumerable.Range(0, body.Count).Where(i => owner[i] == i)
            .Select(s => Enumerable.Range(0, body.Count).Where(i => owner[i] == s).ToArray()).ToList();
        var chainOf = chains.ToDictionary(c => c[^1]);
        var order = new List<int>(body.Count);
        var placed = new bool[body.Count];
        void Place(int i)
        {
            order.Add(i);
            placed[i] = true;
        }
        // A chain is issued whole, as soon as every value it reads from outside itself exists.
        bool ChainReady(int[] chain) => chain.All(i => reads[i].All(v =>
            !producer.TryGetValue(v, out var p) || placed[p] || owner[p] == owner[i]));
        void IssueReadyChains()
        {
            foreach (var chain in chains)
                if (!placed[chain[^1]] && ChainReady(chain))
                    foreach (var i in chain) Place(i);
        }
        // Places what defines v, and first what that needs: a done (late until now) after its start's chain, a
        // chain (not ready before, as it reads a done) after its inputs.
        void Require(Value v)
        {
            if (!producer.TryGetValue(v, out var p) || placed[p]) return;
            var members = owner[p] >= 0 ? chainOf[owner[p]] : [p];
            foreach (var i in members)
                foreach (var w in reads[i])
                    if (producer.TryGetValue(w, out var q) && !members.Contains(q)) Require(w);
            foreach (var i in members)
                if (!placed[i]) Place(i);
        }

        IssueReadyChains();
        for (int i = 0; i < body.Count; i++)
        {
            if (placed[i] || owner[i] >= 0 || body[i].Def.Has(OpTraits.AsyncDone)) continue;
            foreach (var v in reads[i]) Require(v);
            Place(i);
            IssueReadyChains();
        }
        foreach (var v in terminatorReads) Require(v);
        // Dones nothing reads still finish their work, last (in an order that respects what they need).
        for (int i = 0; i < body.Count; i++)
            foreach (var v in body[i].Results) Require(v);

        if (order.Select((o, k) => o == k).All(same => same)) return ops.SequenceEqual(region.Operations) ? region : region.WithOperations(ops);
        return region.WithOperations([.. order.Select(i => body[i]), ops[^1]]);
    }

    /// <summary>
    /// Which start each op belongs to (its index), or -1: a start belongs to itself, and a side-effect-free op
    /// belongs to a start when everything that reads it does — the chain only that start needs (a bucket's
    /// flatten and concatenation, the weight gradients in it), found from the back. Ops that other work also
    /// reads (the backward pass's activation gradients) belong to none and keep their place.
    /// </summary>
    private static int[] Owners(List<Operation> body, List<HashSet<Value>> reads, HashSet<Value> terminatorReads, Dictionary<Value, int> producer)
    {
        var owner = new int[body.Count];
        var readers = new List<int>[body.Count];
        for (int i = 0; i < body.Count; i++) readers[i] = [];
        for (int i = 0; i < body.Count; i++)
            foreach (var v in reads[i])
                if (producer.TryGetValue(v, out var p)) readers[p].Add(i);
        for (int i = body.Count - 1; i >= 0; i--)
        {
            var op = body[i];
            owner[i] = -1;
            if (op.Def.Has(OpTraits.AsyncStart)) owner[i] = i;
            else if (!op.HasSideEffects && !op.Def.Has(OpTraits.AsyncDone) && readers[i].Count > 0
                     && !op.Results.Any(terminatorReads.Contains) && owner[readers[i][0]] >= 0 && readers[i].All(r => owner[r] == owner[readers[i][0]]))
                owner[i] = owner[readers[i][0]];
        }
        return owner;
    }

    /// <summary>
    /// The values <paramref name="op"/> reads (<see cref="ArenaModel.ForEachUse"/>: its operands and what its regions
    /// read; values defined inside them are never a producer in the enclosing region, so they are harmless here).
    /// </summary>
    private static HashSet<Value> Reads(Operation op)
    {
        var set = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        ArenaModel.ForEachUse(op, v => set.Add(v));
        return set;
    }
}
