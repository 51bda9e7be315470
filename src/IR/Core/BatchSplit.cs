using System.Collections.Immutable;

namespace GraphCompiler.IR;

/// <summary>
/// How a value relates to the batch that the <c>micro-batch</c> pass splits (docs/distributed.md, Pipelines):
/// batched along <see cref="Dim"/> (each micro-batch computes its own slice of it along that dimension), or
/// shared by all micro-batches (computed once: weights, constants). A shared value with a
/// <see cref="Broadcast"/> bit set is a pure broadcast along that dimension (a splat constant, a
/// <c>broadcast_in_dim</c> of a bias): the pass can make it again at the micro-batch's size for a batched op
/// that reads it elementwise, which is how <c>x + bias</c> and <c>max(x, 0)</c> split.
/// </summary>
public readonly record struct BatchDim(int? Dim, ulong Broadcast = 0)
{
    /// <summary>Shared by every micro-batch, and not a broadcast.</summary>
    public static readonly BatchDim Shared = new(null);

    public bool IsBatched => Dim is not null;

    /// <summary>Whether the value is shared and repeats the same elements along dimension <paramref name="d"/>.</summary>
    public bool BroadcastsAlong(int d) => Dim is null && d < sizeof(ulong) * 8 && ((Broadcast >> d) & 1) != 0;

    /// <summary>The mask with one bit per dimension in <paramref name="dims"/>.</summary>
    public static ulong Mask(IEnumerable<int> dims) => dims.Aggregate(0UL, (m, d) => m | (1UL << d));
}

/// <summary>
/// An op's answer to <see cref="OpDef.SplitBatch"/>: how its result relates to the batch given how its operands
/// do, or why it cannot be computed one micro-batch at a time (<see cref="Refusal"/>).
/// </summary>
public sealed record BatchSplit
{
    /// <summary>The result's relation to the batch.</summary>
    public BatchDim Result { get; init; }

    /// <summary>Why the op cannot run per micro-batch; null when it can.</summary>
    public string? Refusal { get; init; }

    /// <summary>
    /// Bit i: operand i is a shared broadcast (<see cref="BatchDim.BroadcastsAlong"/>) that each micro-batch's copy
    /// must read at the micro-batch's size along the result's batch dimension (the pass re-makes it per micro-batch).
    /// </summary>
    public ulong ResizedOperands { get; init; }

    /// <summary>
    /// The attributes of a copy of the op whose results have the given (micro-batch) types, for ops whose
    /// attributes name sizes (a slice's limits, a splat constant's value); null: the attributes stay as they are.
    /// </summary>
    public Func<Operation, ImmutableArray<TensorType>, AttrMap>? Attributes { get; init; }

    public static BatchSplit Batched(int dim) => new() { Result = new BatchDim(dim) };

    public static readonly BatchSplit Shared = new() { Result = BatchDim.Shared };

    public static BatchSplit Refuse(string reason) => new() { Refusal = reason };

    /// <summary>The default of <see cref="OpDef.SplitBatch"/>: the op has not said how it treats a batch.</summary>
    public static readonly BatchSplit Unknown = Refuse("the op does not say how it treats the batch dimension");
}

/// <summary>The batch rules that several op families share (<see cref="OpDef.SplitBatch"/> overrides call them).</summary>
public static class BatchRules
{
    /// <summary>The first batched operand's batch dimension, or null when none is batched.</summary>
    public static int? FirstBatched(ReadOnlySpan<BatchDim> operands)
    {
        foreach (var o in operands)
            if (o.Dim is { } d) return d;
        return null;
    }

    /// <summary>
    /// Ops whose operands line up element for element (elementwise ops, and concatenate along another
    /// dimension): batched operands must agree on the batch dimension; a shared operand must be rank 0, or
    /// a broadcast along that dimension (re-made at the micro-batch's size), never a whole-batch tensor.
    /// </summary>
    public static BatchSplit Aligned(Operation op, ReadOnlySpan<BatchDim> operands)
    {
        if (FirstBatched(operands) is not { } d) return BatchSplit.Shared;
        ulong resized = 0;
        for (int i = 0; i < operands.Length; i++)
        {
            var o = operands[i];
            if (o.Dim is { } other)
            {
                if (other != d) return BatchSplit.Refuse($"operand #{i} is batched along dimension {other} but operand #0 along {d}");
            }
            else if (o.BroadcastsAlong(d)) resized |= 1UL << i;
            else if (op.Operands[i].Type.Rank != 0)
                return BatchSplit.Refuse($"operand #{i} ({op.Operands[i].Type}) is the same for every micro-batch but spans the whole batch along dimension {d} without being a broadcast");
        }
        return new BatchSplit { Result = new BatchDim(d), ResizedOperands = resized };
    }

    /// <summary>A batched result when the single operand is batched and the batch dimension keeps its index; shared otherwise.</summary>
    public static BatchSplit SameDim(ReadOnlySpan<BatchDim> operands) =>
        operands[0].Dim is { } d ? BatchSplit.Batched(d) : BatchSplit.Shared;

    /// <summary>The reason an op that reads the batch dimension as a window or a contraction refuses.</summary>
    public static string Across(int d, string what) =>
        $"it {what} across the batch dimension {d}: a result such as a mean loss cannot be assembled from micro-batches (GPipe for training is out of scope)";
}
