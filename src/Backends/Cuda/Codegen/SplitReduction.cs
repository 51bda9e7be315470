using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// A reduction fusion with few output elements over many folded ones (a full sum, a mean over a whole tensor, a norm,
/// statistics of a few channels), as two kernels: <c>split</c> cuts each output element's folded range into chunks, a
/// block per (output element, chunk) combining its chunk of every reduce into a partial in the device scratch; then
/// <c>combine</c>, a block per output element, combines the partials in chunk order and computes the outputs. Where
/// <see cref="RowKernel"/> would run one block per output element (one multiprocessor reading a whole tensor), this
/// spreads the reads over about twice as many blocks as the GPU has multiprocessors. The order of the sums is fixed
/// by the chunking, so results are the same on every run (no atomics).
/// </summary>
internal static class SplitReduction
{
    private const int Block = RowKernel.MaxBlock;

    /// <summary>Fewer folded elements than this stay in one block per output element: a block reads them in a few microseconds.</summary>
    private const long MinFolded = 1 << 16;

    /// <summary>Each chunk is at least 16 elements per thread, so a block's loop outweighs its launch and combine.</summary>
    private const long MinChunk = 16L * Block;

    /// <summary>Blocks of the first kernel per multiprocessor: two keep each one busy while the other's loads are in flight.</summary>
    private const int BlocksPerMultiprocessor = 2;

    /// <summary>
    /// Whether the fusion splits: fewer output elements than multiprocessors, at least <see cref="MinFolded"/> folded per
    /// output element, every output of the kept shape, and no reduce reading another reduce's result (the
    /// first kernel computes every reduce's partials before any total is known).
    /// </summary>
    public static bool Applies(RowKernel.Shape split, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs, int multiprocessors)
    {
        long rows = split.KeptShape.Aggregate(1L, (a, d) => a * d), folded = split.FoldedShape.Aggregate(1L, (a, d) => a * d);
        if (rows >= multiprocessors || folded < MinFolded) return false;
        if (!outputs.All(o => o.Type.Shape.SequenceEqual(split.KeptShape))) return false;
        var reduces = ops.Where(o => o.Def is ReduceOp).ToList();
        var producer = new Dictionary<Value, Operation>(ReferenceEqualityComparer.Instance);
        foreach (var op in ops)
            foreach (var r in op.Results) producer[r] = op;
        bool ReadsAReduce(Value v, HashSet<Operation> seen)
        {
            if (!producer.TryGetValue(v, out var p) || !seen.Add(p)) return false;
            return p.Def is ReduceOp || p.Operands.Any(x => ReadsAReduce(x, seen));
        }
        return !reduces.Any(r => ReadsAReduce(r.Operands[0], new HashSet<Operation>(ReferenceEqualityComparer.Instance)));
    }

    public static IReadOnlyList<GpuKernel> Emit(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs, RowKernel.Shape split)
    {
        var (keptShape, foldedShape) = (split.KeptShape, split.FoldedShape);
        long rows = keptShape.Aggregate(1L, (a, d) => a * d), folded = foldedShape.Aggregate(1L, (a, d) => a * d);
        var reduces = ops.Where(o => o.Def is ReduceOp).ToList();
        // Kept dimensions trailing (per-channel statistics in NHWC): a block per chunk takes every row, consecutive threads on
        // consecutive rows, so its reads are consecutive memory; else a block per (row, chunk), strided over the chunk
        // (contiguous for a single row: a full sum keeps that kernel and its shuffles).
        bool columns = rows >= 2 && rows <= Block / 2 && split.Kept.SequenceEqual(Enumerable.Range(split.Full.Length - split.Kept.Length, split.Kept.Length));
        long wanted = columns ? BlocksPerMultiprocessor * (long)m.Target.Multiprocessors : (BlocksPerMultiprocessor * (long)m.Target.Multiprocessors + rows - 1) / rows;
        long chunks = Math.Clamp(wanted, 2, columns ? folded * rows / MinChunk : folded / MinChunk);
        long chunkLength = (folded + chunks - 1) / chunks;
        var slotType = RowKernel.SlotType(reduces);
        long scratchBytes = reduces.Count * rows * chunks * RowKernel.SlotBytes(slotType);
        var mc = m.Context;

        var first = columns ? Columns(m, inputs, ops, constants, split, reduces, rows, chunks, chunkLength, slotType) : m.NextName("split");
        // split: block (row, chunk) folds elements [chunk·length, min((chunk+1)·length, folded)) of each reduce's input.
        if (!columns)
        {
            var b = new LlvmBuilder();
            var ev = new ElementEvaluator(mc, b, inputs.Select((v, i) => (v, $"%p{i}")), ops, constants);
            var scratch = $"%p{inputs.Count}";
            int warps = Block / 32;
            var smem = $"@{first}_smem";
            RowKernel.SharedSlots(mc, smem, reduces.Count * warps, slotType);
            var tid = Sreg.Read(mc, b, "tid.x");
            var blockId = Sreg.Read(mc, b, "ctaid.x");
            var row = b.Let($"udiv i64 {blockId}, {chunks}", "row");
            var chunk = b.Let($"urem i64 {blockId}, {chunks}", "chunk");
            var rowIdx = ev.Memory.Unravel(row, keptShape);
            var (lo, hi) = ChunkBounds(mc, b, chunk, chunkLength, folded);
            var lane = b.Let($"and i64 {tid}, 31", "lane");
            var warp = b.Let($"lshr i64 {tid}, 5", "warp");
            for (int ri = 0; ri < reduces.Count; ri++)
            {
                var red = reduces[ri];
                var (kind, e) = (red.Attr.Enum("kind"), red.Result.Type.Element);
                ev.NextElement();
                var t = LlvmTypes.Compute(e);
                var acc = b.Reduce(b.Let($"add nuw nsw i64 {lo}, {tid}"), hi, t, ElementEvaluator.IdentityOf(kind, e), (a, j) =>
                {
                    ev.NextElement();
                    return ev.Combine(kind, e, a, ev.Element(red.Operands[0], split.Index(rowIdx, ev.Memory.Unravel(j, foldedShape))));
                }, "chunk", Block.ToString());
                ev.NextElement();
                acc = RowKernel.AcrossBlock(mc, b, ev, kind, e, acc, lane, warp, smem, slotType, ri * warps, warps);
                b.If(b.Let($"icmp eq i64 {tid}, 0"), () => StorePartial(b, scratch, slotType, t, acc, row, ri * rows, chunks, chunk), "thread0");
            }
            b.Line("ret void");
            m.AddKernel(first, inputs.Count + 1, b.Body());
        }

        // combine: block per row; partials in chunk order, then the outputs from the totals.
        var second = m.NextName("combine");
        int block = (int)Math.Min(Block, Math.Max(32, (chunks + 31) / 32 * 32));
        {
            var b = new LlvmBuilder();
            var ev = new ElementEvaluator(mc, b, inputs.Select((v, i) => (v, $"%p{outputs.Count + i}")), ops, constants);
            var scratch = $"%p{outputs.Count + inputs.Count}";
            int warps = block / 32;
            var smem = $"@{second}_smem";
            RowKernel.SharedSlots(mc, smem, reduces.Count * warps, slotType);
            var tid = Sreg.Read(mc, b, "tid.x");
            var row = Sreg.Read(mc, b, "ctaid.x");
            var rowIdx = ev.Memory.Unravel(row, keptShape);
            var lane = b.Let($"and i64 {tid}, 31", "lane");
            var warp = b.Let($"lshr i64 {tid}, 5", "warp");
            var partials = Global(b, scratch);
            for (int ri = 0; ri < reduces.Count; ri++)
            {
                var red = reduces[ri];
                var (kind, e) = (red.Attr.Enum("kind"), red.Result.Type.Element);
                var start = b.Let($"mul nuw nsw i64 {b.Let($"add nuw nsw i64 {row}, {ri * rows}")}, {chunks}", "partials");
                var t = LlvmTypes.Compute(e);
                var acc = b.Reduce(tid, chunks.ToString(), t, ElementEvaluator.IdentityOf(kind, e), (a, c) =>
                    ev.Combine(kind, e, a, b.Let($"load {t}, ptr addrspace(1) {b.Let($"getelementptr inbounds {slotType}, ptr addrspace(1) {partials}, i64 {b.Let($"add nuw nsw i64 {start}, {c}")}")}")),
                    "part", block.ToString());
                acc = RowKernel.AcrossBlock(mc, b, ev, kind, e, acc, lane, warp, smem, slotType, ri * warps, warps);
                ev.Seed(red.Result, rowIdx, acc);
            }
            var write = b.FreshLabel("thread0");
            var done = b.FreshLabel("done");
            b.CondBr(b.Let($"icmp eq i64 {tid}, 0"), write, done);
            b.Block(write);
            for (int o = 0; o < outputs.Count; o++)
            {
                ev.Memory.Store(new KernelBuffer($"%p{o}", outputs[o].Type), row, ev.Element(outputs[o], rowIdx));
                ev.NextElement();
            }
            ev.ClearSeeds();
            b.Br(done);
            b.Block(done);
            b.Line("ret void");
            m.AddKernel(second, outerOutputs.Count + outerInputs.Count + 1, b.Body());
        }
        return [
            new GpuKernel(first, columns ? chunks : rows * chunks, 1, 1, Block, [.. outerInputs], scratchBytes),
            new GpuKernel(second, rows, 1, 1, block, [.. outerOutputs, .. outerInputs], scratchBytes),
        ];
    }

    /// <summary>
    /// The first kernel when the kept dimensions trail (element (f, row) at f·rows + row): block `chunk` folds
    /// [chunk·length, min((chunk+1)·length, folded)) for every row at once. Thread t takes row t mod rows and every
    /// S-th folded index from the chunk's t div rows (S = threads per row), so a warp reads consecutive memory; the S
    /// partials of a row meet in shared memory and are combined in order by the row's first thread, which writes the
    /// chunk's partial where the per-row kernel would (the combine kernel is the same).
    /// </summary>
    private static string Columns(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyDictionary<Value, Tensor> constants,
        RowKernel.Shape split, List<Operation> reduces, long rows, long chunks, long chunkLength, string slotType)
    {
        var name = m.NextName("split_columns");
        var mc = m.Context;
        var b = new LlvmBuilder();
        var ev = new ElementEvaluator(mc, b, inputs.Select((v, i) => (v, $"%p{i}")), ops, constants);
        var scratch = $"%p{inputs.Count}";
        long perRow = Block / rows, active = perRow * rows, folded = split.FoldedShape.Aggregate(1L, (a, d) => a * d);
        var smem = $"@{name}_smem";
        RowKernel.SharedSlots(mc, smem, reduces.Count * active, slotType);
        var tid = Sreg.Read(mc, b, "tid.x");
        var chunk = Sreg.Read(mc, b, "ctaid.x");
        var row = b.Let($"urem i64 {tid}, {rows}", "row");
        var part = b.Let($"udiv i64 {tid}, {rows}", "part");
        var rowIdx = ev.Memory.Unravel(row, split.KeptShape);
        var (lo, hi) = ChunkBounds(mc, b, chunk, chunkLength, folded);
        // Threads past the last whole set of rows fold nothing and write no slot.
        var working = b.Let($"icmp ult i64 {tid}, {active}", "working");
        var start = b.Let($"select i1 {working}, i64 {b.Let($"add nuw nsw i64 {lo}, {part}")}, i64 {hi}");
        var slot = (int ri, string p, string r) => b.Let($"getelementptr inbounds {slotType}, ptr addrspace(3) {smem}, i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {b.Let($"add nuw nsw i64 {p}, {ri * perRow}")}, {rows}")}, {r}")}");
        for (int ri = 0; ri < reduces.Count; ri++)
        {
            var red = reduces[ri];
            var (kind, e) = (red.Attr.Enum("kind"), red.Result.Type.Element);
            var t = LlvmTypes.Compute(e);
            ev.NextElement();
            var acc = b.Reduce(start, hi, t, ElementEvaluator.IdentityOf(kind, e), (a, j) =>
            {
                ev.NextElement();
                return ev.Combine(kind, e, a, ev.Element(red.Operands[0], split.Index(rowIdx, ev.Memory.Unravel(j, split.FoldedShape))));
            }, "chunk", perRow.ToString());
            ev.NextElement();
            b.If(working, () => b.Line($"store {t} {acc}, ptr addrspace(3) {slot(ri, part, row)}"), "slot");
        }
        Sreg.Barrier(mc, b);
        var first = b.FreshLabel("rowfirst");
        var done = b.FreshLabel("done");
        b.CondBr(b.Let($"icmp ult i64 {tid}, {rows}"), first, done);
        b.Block(first);
        for (int ri = 0; ri < reduces.Count; ri++)
        {
            var red = reduces[ri];
            var (kind, e) = (red.Attr.Enum("kind"), red.Result.Type.Element);
            var t = LlvmTypes.Compute(e);
            // The row's partials in order of their first folded index: the same sums on every run.
            var total = b.Reduce("0", perRow.ToString(), t, ElementEvaluator.IdentityOf(kind, e),
                (a, p) => ev.Combine(kind, e, a, b.Let($"load {t}, ptr addrspace(3) {slot(ri, p, tid)}")), "parts");
            StorePartial(b, scratch, slotType, t, total, tid, ri * rows, chunks, chunk);
        }
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, inputs.Count + 1, b.Body());
        return name;
    }

    /// <summary>Stores a chunk's partial of reduce ri for a row where the combine kernel reads it: slot ((ri·rows + row)·chunks + chunk).</summary>
    private static void StorePartial(LlvmBuilder b, string scratch, string slotType, string type, string value, string row, long reduceBase, long chunks, string chunk)
    {
        var at = b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {b.Let($"add nuw nsw i64 {row}, {reduceBase}")}, {chunks}")}, {chunk}");
        b.Line($"store {type} {value}, ptr addrspace(1) {b.Let($"getelementptr inbounds {slotType}, ptr addrspace(1) {Global(b, scratch)}, i64 {at}")}");
    }

    /// <summary>Chunk <paramref name="chunk"/>'s folded range [lo, hi): [chunk·length, min((chunk+1)·length, folded)).</summary>
    private static (string Lo, string Hi) ChunkBounds(ModuleContext mc, LlvmBuilder b, string chunk, long chunkLength, long folded)
    {
        var lo = b.Let($"mul nuw nsw i64 {chunk}, {chunkLength}", "lo");
        mc.Declare("declare i64 @llvm.smin.i64(i64, i64)");
        return (lo, b.Let($"call i64 @llvm.smin.i64(i64 {b.Let($"add nuw nsw i64 {lo}, {chunkLength}")}, i64 {folded})", "hi"));
    }

    /// <summary>A kernel parameter as a global-memory pointer.</summary>
    private static string Global(LlvmBuilder b, string parameter) => b.Let($"addrspacecast ptr {parameter} to ptr addrspace(1)", "scratch");
}
