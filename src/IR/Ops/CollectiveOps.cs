using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// The replica groups of a collective: <c>groups = [ids...], group_size = G</c> lists the replica ids of
/// each group in turn, G at a time (<c>groups = [0, 2, 1, 3], group_size = 2</c> is the groups {0, 2} and
/// {1, 3}). The attribute system has flat integer lists only, hence the flat list plus a size. The ids are
/// each replica 0..N-1 exactly once (groups disjoint, of one size, covering the world), so explicit groups
/// also fix the world size N. Absent, there is one group of all replicas, whatever their number. A
/// replica's position within its group (its rank there) is its place in the list: the order of
/// <c>all_gather</c>'s blocks, <c>reduce_scatter</c>'s shares, <c>collective_broadcast</c>'s root and the
/// reference reduction order.
/// </summary>
public sealed class ReplicaGroups
{
    private ReplicaGroups(ImmutableArray<long> ids, long groupSize)
    {
        Ids = ids;
        GroupSize = groupSize;
    }

    /// <summary>The flat id list (empty: one group of all replicas).</summary>
    public ImmutableArray<long> Ids { get; }

    /// <summary>Replicas per group as written (0 when the groups are absent).</summary>
    public long GroupSize { get; }

    /// <summary>Whether the groups are absent: one group of every replica.</summary>
    public bool All => Ids.IsEmpty;

    /// <summary>The world size explicit groups assume (null: any).</summary>
    public int? World => All ? null : Ids.Length;

    internal static readonly AttrSpec IdsSpec = AttrSpec.IntsOrEmpty("groups");
    internal static readonly AttrSpec SizeSpec = AttrSpec.Int("group_size", 0);

    public static ReplicaGroups Of(AttrReader a) => new(a.Ints("groups"), a.Int("group_size"));

    /// <summary>What is wrong with the groups, or null.</summary>
    public string? Problem()
    {
        if (All) return GroupSize == 0 ? null : $"group_size ({GroupSize}) is given without groups";
        if (GroupSize < 1) return "groups need a positive group_size";
        if (Ids.Length % GroupSize != 0) return $"groups list {Ids.Length} replicas, not a multiple of group_size {GroupSize}";
        var seen = new bool[Ids.Length];
        foreach (var id in Ids)
        {
            if (id < 0 || id >= Ids.Length) return $"replica id {id} is outside 0..{Ids.Length - 1}: groups must list each of the {Ids.Length} replicas once";
            if (seen[id]) return $"replica {id} is in two groups (or twice in one)";
            seen[id] = true;
        }
        return null;
    }

    /// <summary>The groups of a world of <paramref name="world"/> replicas, each in rank order.</summary>
    public IReadOnlyList<int[]> Groups(int world)
    {
        if (All) return [[.. Enumerable.Range(0, world)]];
        int g = checked((int)GroupSize);
        return [.. Enumerable.Range(0, Ids.Length / g).Select(i => Ids.Skip(i * g).Take(g).Select(v => (int)v).ToArray())];
    }

    /// <summary>The group holding <paramref name="replica"/>: its index, its members in rank order, and the replica's position in it.</summary>
    public (int Index, int[] Members, int Position) Find(int replica, int world)
    {
        var groups = Groups(world);
        for (int i = 0; i < groups.Count; i++)
        {
            int p = Array.IndexOf(groups[i], replica);
            if (p >= 0) return (i, groups[i], p);
        }
        throw new IrException($"replica {replica} is in no group");
    }
}

/// <summary>
/// What every collective shares: the replica groups, the traits and the cost. A collective's value depends
/// on the other replicas' operands, so it is <see cref="OpTraits.HasSideEffects"/> (never folded, merged,
/// hoisted or removed: every replica must reach the same collectives in the same order, or they wait for
/// each other forever) and not fusible (it is a kernel of its own). Each op's <see cref="Combine"/> is its
/// reference semantics over the group's operands in rank order; the interpreter's
/// <see cref="Interpreter.RunReplicated"/> exchanges them, and a plain run is a world of one replica.
/// </summary>
public abstract class CollectiveOp(string name) : OpDef(name)
{
    public override int MinOperands => 1;

    public override OpTraits Traits => OpTraits.HasSideEffects;

    /// <summary>Each byte an op reads or writes also crosses the interconnect about once (ring algorithms send each byte about twice over a group).</summary>
    public const double WireBytesPerByte = 1;

    public override OpCost Cost(Operation op)
    {
        double bytes = OpCost.OperandAndResultBytes(op);
        return new(op.Operands.Sum(v => (double)v.Type.ElementCount), bytes * (1 + WireBytesPerByte));
    }

    /// <summary>
    /// The group size the op's shapes imply when its groups are absent (an all_gather's result dimension over
    /// its operand's), or null when any size fits.
    /// </summary>
    public virtual long? ImpliedGroupSize(Operation op) => null;

    /// <summary>The group size: the written one, else the one the shapes imply (null: any, decided by the world).</summary>
    public long? GroupSize(Operation op)
    {
        var groups = ReplicaGroups.Of(op.Attr);
        return groups.All ? ImpliedGroupSize(op) : groups.GroupSize;
    }

    protected static void CheckGroups(OpSignature sig)
    {
        if (ReplicaGroups.Of(sig.Attr).Problem() is { } p) throw sig.Error(p);
    }

    protected static void CheckFloat(OpSignature sig)
    {
        if (!sig.Operand(0).Element.IsFloat()) throw sig.Error($"operand is {sig.Operand(0)}; {sig.Def.Name} reduces float tensors");
    }

    /// <summary>The problem with running <paramref name="op"/> in a world of <paramref name="world"/> replicas, or null (the MPI transport checks the same).</summary>
    public string? WorldProblem(Operation op, int world)
    {
        var groups = ReplicaGroups.Of(op.Attr);
        if (groups.World is { } n && n != world) return $"'{op.Name}': its groups list {n} replicas, the world has {world}";
        if (groups.All && ImpliedGroupSize(op) is { } g && g != world) return $"'{op.Name}': its shapes assume {g} replicas, the world has {world}";
        return null;
    }

    public sealed override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var replica = ctx.Interpreter.Replica;
        if (WorldProblem(ctx.Op, replica.Count) is { } problem) throw new IrException(problem, ctx.Op.Location);
        var (index, members, position) = ReplicaGroups.Of(ctx.Attr).Find(replica.Index, replica.Count);
        var all = replica.Exchange(ctx.Op, index, members, position, ctx.Operand(0));
        return [Combine(ctx, all, position)];
    }

    /// <summary>This replica's result from the operands of its group (in rank order) and its position there.</summary>
    protected abstract Tensor Combine(EvalContext ctx, IReadOnlyList<Tensor> group, int position);

    /// <summary>Element k of the reduction of <paramref name="group"/>'s element k, in rank order, in f64 (mean: the sum over the group size).</summary>
    protected static double Reduce(string kind, IReadOnlyList<Tensor> group, long k)
    {
        double acc = group[0].GetDouble(k);
        for (int j = 1; j < group.Count; j++)
        {
            double v = group[j].GetDouble(k);
            acc = kind switch { "max" => Math.Max(acc, v), "min" => Math.Min(acc, v), _ => acc + v }; // NaN propagates
        }
        return kind == "mean" ? acc / group.Count : acc;
    }

    /// <summary>Elements before, along and after dimension <paramref name="dim"/> of <paramref name="shape"/>.</summary>
    public static (long Outer, long Along, long Inner) Split(ImmutableArray<long> shape, int dim)
    {
        long outer = 1, inner = 1;
        for (int d = 0; d < dim; d++) outer *= shape[d];
        for (int d = dim + 1; d < shape.Length; d++) inner *= shape[d];
        return (outer, shape[dim], inner);
    }

    protected static void CheckDim(OpSignature sig, int dim)
    {
        if (dim < 0 || dim >= sig.Operand(0).Rank) throw sig.Error($"dim {dim} is out of range for {sig.Operand(0)}");
    }

    internal static readonly AttrSpec Kind = AttrSpec.Enum("kind", null, "sum", "mean", "max", "min");
}

/// <summary>
/// <c>%y = all_reduce %x {kind = sum|mean|max|min[, groups = [...], group_size = G]} : T</c>: every replica
/// of a group gets the elementwise reduction of the group's operands (float tensors, one type and shape on
/// every replica). Reference semantics: each element is reduced in f64 in rank order (the group's order as
/// listed), <c>mean</c> is that sum divided by the group size, and the result is rounded once to the element
/// type, so it is deterministic and the same on every replica. A transport (MPI) reduces in the element type
/// in its own order: equal up to rounding. NaN propagates through max and min.
/// </summary>
public sealed class AllReduceOp() : CollectiveOp("all_reduce")
{
    public override ImmutableArray<AttrSpec> Attributes => [Kind, ReplicaGroups.IdsSpec, ReplicaGroups.SizeSpec];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        CheckGroups(sig);
        CheckFloat(sig);
        return [sig.Operand(0)];
    }

    protected override Tensor Combine(EvalContext ctx, IReadOnlyList<Tensor> group, int position) => ReduceAll(ctx, group);

    /// <summary>The group's elementwise reduction, as <c>all_reduce</c> and <c>all_reduce_start</c> define it.</summary>
    internal static Tensor ReduceAll(EvalContext ctx, IReadOnlyList<Tensor> group)
    {
        var kind = ctx.Attr.Enum("kind");
        var o = new TensorBuffer(ctx.ResultType());
        for (long k = 0; k < o.Type.ElementCount; k++) o.SetDouble(k, Reduce(kind, group, k));
        return o.ToTensor();
    }
}

/// <summary>
/// <c>%s = all_reduce_start %x {kind, groups...} : T</c> and <c>%y = all_reduce_done %s : T</c>: an
/// <c>all_reduce</c> split in two, as XLA's all-reduce-start/done, so that the reduction runs while the ops
/// between them compute (a data-parallel step's gradient buckets, while the rest of the backward pass runs).
/// The start issues it (MPI_Iallreduce); its result is in flight, read only by its done, which waits for it
/// (MPI_Wait) and yields the reduction. The pair means exactly what one <c>all_reduce</c> with the start's
/// attributes means; <c>overlap-collectives</c> issues the start early and the done late.
/// </summary>
public sealed class AllReduceStartOp() : CollectiveOp("all_reduce_start")
{
    public override OpTraits Traits => OpTraits.HasSideEffects | OpTraits.AsyncStart;

    public override ImmutableArray<AttrSpec> Attributes => CollectiveOps.AllReduce.Attributes;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig) => CollectiveOps.AllReduce.InferResultTypes(sig);

    protected override Tensor Combine(EvalContext ctx, IReadOnlyList<Tensor> group, int position) => AllReduceOp.ReduceAll(ctx, group);
}

/// <summary>
/// <c>%y = all_reduce_done %s : T</c>: waits for the reduction its operand, an <c>all_reduce_start</c>,
/// issued, and yields it (see <see cref="AllReduceStartOp"/>). Side effects: it completes its start, so it
/// is never removed or merged.
/// </summary>
public sealed class AllReduceDoneOp() : OpDef("all_reduce_done")
{
    public override int MinOperands => 1;

    public override OpTraits Traits => OpTraits.HasSideEffects | OpTraits.AsyncDone;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig) => [sig.Operand(0)];

    public override string? PairProblem(Operation done, Operation? start) =>
        start?.Def is AllReduceStartOp ? null : "all_reduce_done's operand must be the result of an all_reduce_start";

    // The start computed the reduction; waiting adds nothing to the value.
    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx) => ctx.Operands;

    public override OpCost Cost(Operation op) => new(0, OpCost.OperandAndResultBytes(op));
}

/// <summary>
/// <c>%y = all_gather %x {dim = d[, groups, group_size]} : T'</c>: every replica of a group gets the group's
/// operands concatenated along dimension d in rank order, so T' is x's type with dimension d multiplied by
/// the group size (any element type). Without groups the result type is given, and its dimension d over x's
/// (at least 1) is the world size the op assumes; with groups it must be x's dimension times group_size.
/// </summary>
public sealed class AllGatherOp() : CollectiveOp("all_gather")
{
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Int("dim"), ReplicaGroups.IdsSpec, ReplicaGroups.SizeSpec];
    public override bool TakesResultTypes => true;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        CheckGroups(sig);
        var x = sig.Operand(0);
        int dim = sig.Attr.Int32("dim");
        CheckDim(sig, dim);
        var declared = sig.DeclaredType();
        var groups = ReplicaGroups.Of(sig.Attr);
        long g = groups.All ? (x.Shape[dim] > 0 ? declared.Shape.ElementAtOrDefault(dim) / x.Shape[dim] : 0) : groups.GroupSize;
        if (g < 1) throw sig.Error($"the result's dimension {dim} must be a positive multiple of the operand's ({x.Shape[dim]}): it fixes the group size");
        var expected = new TensorType(x.Element, x.Shape.Select((n, d) => d == dim ? n * g : n).ToArray());
        if (declared != expected) throw sig.Error($"result must be {expected} (dim {dim} times the group size {g}), declared {declared}");
        return [expected];
    }

    public override long? ImpliedGroupSize(Operation op) =>
        op.Operands[0].Type.Shape[op.Attr.Int32("dim")] is > 0 and var n ? op.Result.Type.Shape[op.Attr.Int32("dim")] / n : null;

    protected override Tensor Combine(EvalContext ctx, IReadOnlyList<Tensor> group, int position)
    {
        var (outer, along, inner) = Split(group[0].Type.Shape, ctx.Attr.Int32("dim"));
        var o = new TensorBuffer(ctx.ResultType());
        long block = along * inner;
        for (long i = 0; i < outer; i++)
            for (int j = 0; j < group.Count; j++)
                for (long e = 0; e < block; e++) o.CopyElement((i * group.Count + j) * block + e, group[j], i * block + e);
        return o.ToTensor();
    }
}

/// <summary>
/// <c>%y = reduce_scatter %x {kind = sum|mean|max|min, dim = d[, groups, group_size]} : T'</c>: the group's
/// operands are reduced as by <see cref="AllReduceOp"/> (same order and rounding), then dimension d of the
/// reduction is cut into group-size equal blocks and the replica at position p gets block p: T' is x's type
/// with dimension d divided by the group size (it must divide). Without groups the result type is given;
/// x's dimension d over the result's is the world size the op assumes.
/// </summary>
public sealed class ReduceScatterOp() : CollectiveOp("reduce_scatter")
{
    public override ImmutableArray<AttrSpec> Attributes => [Kind, AttrSpec.Int("dim"), ReplicaGroups.IdsSpec, ReplicaGroups.SizeSpec];
    public override bool TakesResultTypes => true;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        CheckGroups(sig);
        CheckFloat(sig);
        var x = sig.Operand(0);
        int dim = sig.Attr.Int32("dim");
        CheckDim(sig, dim);
        var declared = sig.DeclaredType();
        var groups = ReplicaGroups.Of(sig.Attr);
        long share = declared.Shape.ElementAtOrDefault(dim);
        long g = groups.All ? (share > 0 && x.Shape[dim] % share == 0 ? x.Shape[dim] / share : 0) : groups.GroupSize;
        if (groups.All && g < 1) throw sig.Error($"the result's dimension {dim} ({share}) must divide the operand's ({x.Shape[dim]}): the quotient is the group size");
        if (x.Shape[dim] % g != 0) throw sig.Error($"dimension {dim} ({x.Shape[dim]}) is not divisible by the group size {g}");
        var expected = new TensorType(x.Element, x.Shape.Select((n, d) => d == dim ? n / g : n).ToArray());
        if (declared != expected) throw sig.Error($"result must be {expected} (dim {dim} over the group size {g}), declared {declared}");
        return [expected];
    }

    public override long? ImpliedGroupSize(Operation op) =>
        op.Result.Type.Shape[op.Attr.Int32("dim")] is > 0 and var n ? op.Operands[0].Type.Shape[op.Attr.Int32("dim")] / n : null;

    protected override Tensor Combine(EvalContext ctx, IReadOnlyList<Tensor> group, int position)
    {
        var kind = ctx.Attr.Enum("kind");
        var (outer, along, inner) = Split(group[0].Type.Shape, ctx.Attr.Int32("dim"));
        long share = along / group.Count;
        var o = new TensorBuffer(ctx.ResultType());
        for (long i = 0; i < outer; i++)
            for (long a = 0; a < share; a++)
                for (long e = 0; e < inner; e++)
                    o.SetDouble((i * share + a) * inner + e, Reduce(kind, group, (i * along + position * share + a) * inner + e));
        return o.ToTensor();
    }
}

/// <summary>
/// <c>%y = collective_broadcast %x {root = r[, groups, group_size]} : T</c> (StableHLO's name; <c>broadcast</c>
/// would read as broadcast_in_dim): every replica of a group gets the operand of the replica at position r of
/// its group (default 0). Any element type. r must be below the group size (the world size when the groups
/// are absent, checked when it runs).
/// </summary>
public sealed class CollectiveBroadcastOp() : CollectiveOp("collective_broadcast")
{
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Int("root", 0), ReplicaGroups.IdsSpec, ReplicaGroups.SizeSpec];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        CheckGroups(sig);
        long root = sig.Attr.Int("root");
        var groups = ReplicaGroups.Of(sig.Attr);
        if (root < 0 || (!groups.All && root >= groups.GroupSize))
            throw sig.Error($"root {root} is not a position in a group{(groups.All ? "" : $" of {groups.GroupSize}")}");
        return [sig.Operand(0)];
    }

    protected override Tensor Combine(EvalContext ctx, IReadOnlyList<Tensor> group, int position)
    {
        long root = ctx.Attr.Int("root");
        if (root >= group.Count) throw ctx.Error($"root {root} is not a position in a group of {group.Count}");
        return group[(int)root];
    }
}

/// <summary>
/// <c>%r = replica_id : tensor&lt;i32&gt;</c>: this replica's index in the world (0..N-1; 0 in a run that is not
/// replicated), for a program to pick its share of the data. Pure within a replica, but not foldable: its
/// value is decided when the program runs, not when it is compiled.
/// </summary>
public sealed class ReplicaIdOp() : OpDef("replica_id")
{
    public override OpTraits Traits => OpTraits.None;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig) => [TensorType.Scalar(ElementType.I32)];

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx) =>
        [Tensor.FromInt64s(TensorType.Scalar(ElementType.I32), [ctx.Interpreter.Replica.Index])];
}

public static class CollectiveOps
{
    public static readonly AllReduceOp AllReduce = new();
    public static readonly AllGatherOp AllGather = new();
    public static readonly ReduceScatterOp ReduceScatter = new();
    public static readonly CollectiveBroadcastOp Broadcast = new();
    public static readonly ReplicaIdOp ReplicaId = new();
    public static readonly AllReduceStartOp AllReduceStart = new();
    public static readonly AllReduceDoneOp AllReduceDone = new();

    public static readonly ImmutableArray<OpDef> All = [AllReduce, AllGather, ReduceScatter, Broadcast, ReplicaId, AllReduceStart, AllReduceDone];

    /// <summary>Whether <paramref name="op"/> talks to other replicas, waits for them, or asks which one it is (a target then needs a transport).</summary>
    public static bool IsCollective(Operation op) => op.Def is CollectiveOp or ReplicaIdOp or AllReduceDoneOp;

    /// <summary>Whether a function of <paramref name="module"/> (or a region in one) uses a collective or replica_id.</summary>
    public static bool Uses(Module module) => module.Functions.Any(f => Uses(f.Body));

    private static bool Uses(Region r) => r.Operations.Any(o => IsCollective(o) || o.Regions.Any(Uses));
}
