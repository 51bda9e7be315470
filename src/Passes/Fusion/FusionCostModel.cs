using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// The <c>fuse</c> pass's cost model (documented in docs/passes.md). A merge pays when it saves memory
/// traffic — an intermediate that is no longer written and read back, or a shared input read once — and
/// costs compute only when a producer is duplicated into several kernels. Bytes are weighed against
/// flops with a deliberately low machine balance, so duplication happens only when it clearly pays.
/// </summary>
public sealed record FusionCostModel
{
    /// <summary>Flops one byte of DRAM traffic is worth (CPU machine balance is ~10-20; 4 is conservative).</summary>
    public double FlopsPerByte { get; init; } = 4;

    /// <summary>Most fused copies of one producer (the duplication factor), besides its own kernel.</summary>
    public int MaxCopies { get; init; } = 3;

    /// <summary>Most ops in one fused kernel (compile time, register pressure).</summary>
    public int MaxFusionOps { get; init; } = 128;

    /// <summary>Most results of one multi-output fusion.</summary>
    public int MaxOutputs { get; init; } = 8;

    /// <summary>Constants with at most this many elements (or splats) are cloned into each kernel that uses them.</summary>
    public long InlineConstantElements { get; init; } = 16;

    /// <summary>
    /// A row kernel (reductions whose results feed later ops of the same kernel) walks each row once per
    /// dependent reduction. Rows up to this size stay in cache, so up to <see cref="MaxRowPassesInCache"/>
    /// passes are allowed; larger rows come from DRAM each pass, so at most <see cref="MaxRowPassesOutOfCache"/>.
    /// </summary>
    public long RowCacheBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// Whether a pointwise convolution's kernel may compute its channels-last input (the transpose from NCHW and the
    /// elementwise ops before it, DenseNet's batch norm and ReLU of each concatenation) instead of reading it from a
    /// buffer: the CPU's GEMM computes that input while it packs it, so the transposed copy is never written.
    /// </summary>
    public bool ComputedConvolutionInputs { get; init; } = true;

    /// <summary>
    /// Whether a matrix product's epilogue may run through reshapes that keep the elements' order (a transformer's
    /// projection and its bias split into heads), its kernel storing at the reshaped index; off where the target's GEMM
    /// kernels store only at the product's own (the CPU's, which rewrites its output in place).
    /// </summary>
    public bool ReshapingEpilogues { get; init; }

    public int MaxRowPassesInCache { get; init; } = 3;
    public int MaxRowPassesOutOfCache { get; init; } = 2;

    public static readonly FusionCostModel Default = new();

    /// <summary>
    /// What recomputing <paramref name="op"/> costs, in simple flops: the <see cref="OpCost.WeightedFlops"/> of
    /// the op's own <see cref="OpDef.Cost"/> (the estimate <see cref="DeviceCostModel"/> reads too): for loop
    /// ops 1 per element for index remapping and simple arithmetic, 8 for divisions, 32 for transcendentals,
    /// 0 for constants.
    /// </summary>
    public static double Flops(Operation op) => op.Def.Cost(op).WeightedFlops;

    /// <summary>Ops that may ever be recomputed in several kernels: loop ops. Never reduce, dot_general, convolution.</summary>
    public static bool IsDuplicable(Operation op) => FusionKinds.IsLoopOp(op);

    public bool IsInlinableConstant(Operation op)
    {
        if (op.Def is not ConstantOp) return false;
        if (op.Attributes["value"] is not TensorAttr t) return op.ResultType().ElementCount <= InlineConstantElements;
        return t.Value.ElementCount <= InlineConstantElements || t.Value.IsSplat;
    }

    /// <summary>
    /// Whether to fuse a copy of <paramref name="producer"/> (which has users outside the consumer kernel)
    /// into the consumer. The consumer then reads the producer's inputs instead of its result:
    /// saved = bytes(result) − bytes(inputs the consumer does not read already); the copy costs
    /// flops(producer). Duplicate iff saved &gt; 0 and flops ≤ FlopsPerByte × saved, and the producer has
    /// fewer than MaxCopies copies.
    /// </summary>
    public bool ShouldDuplicate(Operation producer, IReadOnlySet<Value> consumerInputs, int copiesSoFar,
        Func<Value, bool> isFreeInput)
    {
        if (!IsDuplicable(producer) || copiesSoFar >= MaxCopies) return false;
        double saved = producer.Results.Sum(r => (double)r.Type.ByteSize);
        foreach (var v in producer.Operands.Distinct())
            if (!consumerInputs.Contains(v) && !isFreeInput(v)) saved -= v.Type.ByteSize;
        double flops = Flops(producer);
        return saved > 0 && flops <= FlopsPerByte * saved;
    }

    public int MaxRowPasses(long rowBytes) => rowBytes <= RowCacheBytes ? MaxRowPassesInCache : MaxRowPassesOutOfCache;
}
