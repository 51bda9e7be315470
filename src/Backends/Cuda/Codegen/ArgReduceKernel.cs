using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// arg_reduce (argmax, argmin) as one thread block per output element: each thread scans a strided share of the reduced
/// dimension keeping its best (value, index), then the pairs meet across the warp by butterfly shuffles and across warps
/// through shared memory; few outputs over long rows split each row into chunks, a block each, whose pairs a second
/// launch combines (<see cref="Emit"/>). A pair beats another when its value is strictly better (NaN beats every number, as the
/// interpreter's order; <see cref="LoopElementOps.ArgCompare"/>), or on a tie when its index is the smaller (tie = first)
/// or the larger (tie = last), so the combine is associative and commutative and every interleaving gives the
/// interpreter's index. Where a thread per output element reads coalesced memory and fills the GPU (the reduced dimension
/// not innermost, many outputs, short rows: <see cref="ColumnKernel.Applies"/>), the pointwise kernel computes each output
/// element as the CPU's loop instead (<see cref="ThreadPerOutput"/>).
/// </summary>
internal static class ArgReduceKernel
{
    private const string NoIndex = "-1";

    /// <summary>The reduced dimension as a reduction's shape: the other dimensions kept, one output element each.</summary>
    private static RowKernel.Shape Shape(Operation arg)
    {
        var full = arg.Operands[0].Type.Shape;
        int dim = arg.Attr.Int32("dimension");
        return new RowKernel.Shape(full, [.. Enumerable.Range(0, full.Length).Where(d => d != dim)], [dim]);
    }

    /// <summary>Whether the pointwise kernel's thread per output element is the better shape for <paramref name="arg"/>.</summary>
    public static bool ThreadPerOutput(Operation arg, int multiprocessors) => ColumnKernel.Applies(Shape(arg), arg.Results, multiprocessors);

    /// <summary>
    /// A chunk of a row the split's first kernel takes at least (so each block's scan amortises its combine), and the blocks
    /// per multiprocessor the split aims at; fewer rows than that many multiprocessors' worth split their rows.
    /// </summary>
    private const long MinChunk = 8192, BlocksPerMultiprocessor = 2;

    /// <summary>
    /// The kernels: one block per output element; or, for few outputs over long rows (a vocabulary's argmax at batch 1), two
    /// launches: a block per (row, chunk) finds its chunk's best pair into the device scratch, then a block per row combines
    /// the row's chunk pairs (an empty chunk's index −1 loses, as inside a block), the same order either way.
    /// </summary>
    public static IReadOnlyList<GpuKernel> Emit(DeviceModule m, Operation arg, IReadOnlyList<Value> inputs, IReadOnlyDictionary<Value, Tensor> constants,
        IReadOnlyList<Value> outerInputs)
    {
        var split = Shape(arg);
        long rows = Math.Max(1, split.KeptShape.Aggregate(1L, (a, d) => a * d)), n = split.FoldedShape[0];
        long chunks = Math.Min(BlocksPerMultiprocessor * m.Target.Multiprocessors / rows, n / MinChunk);
        if (chunks <= 1) return [Block(m, arg, inputs, constants, outerInputs, n, chunks: 1, Source.Elements)];
        return [Block(m, arg, inputs, constants, outerInputs, n, chunks, Source.Elements), Block(m, arg, inputs, constants, outerInputs, n, chunks, Source.Partials)];
    }

    /// <summary>What a block scans: a row's elements (all, or its chunk's), or a row's chunk pairs from the scratch.</summary>
    private enum Source { Elements, Partials }

    /// <summary>
    /// One launch: a block per row (per (row, chunk) for a split's first); each thread offers its strided share, the pairs
    /// meet by shuffles and across warps, thread 0 writes the result (or the chunk's pair to the scratch: values, then indices).
    /// </summary>
    private static GpuKernel Block(DeviceModule m, Operation arg, IReadOnlyList<Value> inputs, IReadOnlyDictionary<Value, Tensor> constants,
        IReadOnlyList<Value> outerInputs, long n, long chunks, Source source)
    {
        var split = Shape(arg);
        var x = arg.Operands[0];
        var e = x.Type.Element;
        var t = LlvmTypes.Compute(e);
        bool max = arg.Attr.Enum("kind") == "max", last = arg.Attr.Enum("tie") == "last";
        long rows = split.KeptShape.Aggregate(1L, (a, d) => a * d);
        long chunk = (n + chunks - 1) / chunks;
        long scanned = source == Source.Partials ? chunks : chunk;
        int block = (int)Math.Min(RowKernel.MaxBlock, Math.Max(32, (scanned + 31) / 32 * 32));
        int warps = block / 32;
        bool first = chunks > 1 && source == Source.Elements, second = source == Source.Partials;
        // The scratch: rows × chunks values (8-byte slots), then as many i64 indices.
        long pairs = Math.Max(1, rows) * chunks, scratchBytes = chunks > 1 ? 2 * pairs * sizeof(long) : 0;
        var scratch = $"%p{1 + outerInputs.Count}";
        string ValueSlot(LlvmBuilder b, string at) => b.Let($"getelementptr inbounds i64, ptr {scratch}, i64 {at}");
        string IndexSlot(LlvmBuilder b, string at) => b.Let($"getelementptr inbounds i64, ptr {scratch}, i64 {b.Let($"add nuw nsw i64 {at}, {pairs}")}");

        var name = m.NextName(first ? "argreduce_chunks" : second ? "argreduce_combine" : "argreduce");
        var b = new LlvmBuilder();
        var mc = m.Context;
        var ev = new ElementEvaluator(mc, b, inputs.Select((v, i) => (v, $"%p{1 + i}")), [arg], constants);
        var tid = Sreg.Read(mc, b, "tid.x");
        var blockId = Sreg.Read(mc, b, "ctaid.x");
        var row = first ? b.Let($"udiv i64 {blockId}, {chunks}", "row") : blockId;
        var rowIdx = ev.Memory.Unravel(row, split.KeptShape);

        // (value, index) pairs; index -1 is "no element yet" and loses to any candidate.
        var bestValue = b.Alloca(t);
        var bestIndex = b.Alloca("i64");
        b.Line($"store {t} {LlvmTypes.Literal(e, 0)}, ptr {bestValue}");
        b.Line($"store i64 {NoIndex}, ptr {bestIndex}");
        void Offer(string value, string index)
        {
            var cur = b.Let($"load {t}, ptr {bestValue}");
            var curIndex = b.Let($"load i64, ptr {bestIndex}");
            var (strictly, tie) = LoopElementOps.ArgCompare(ev, e, max, value, cur);
            var tieWins = b.Let($"and i1 {tie}, {b.Let($"icmp {(last ? "sgt" : "slt")} i64 {index}, {curIndex}")}");
            var wins = b.Let($"or i1 {b.Let($"icmp eq i64 {curIndex}, {NoIndex}")}, {b.Let($"or i1 {strictly}, {tieWins}")}");
            wins = b.Let($"and i1 {b.Let($"icmp ne i64 {index}, {NoIndex}")}, {wins}");
            b.Line($"store {t} {b.Let($"select i1 {wins}, {t} {value}, {t} {cur}")}, ptr {bestValue}");
            b.Line($"store i64 {b.Let($"select i1 {wins}, i64 {index}, i64 {curIndex}")}, ptr {bestIndex}");
        }
        // A value as the scratch's 8-byte slot holds it (its bits, zero-extended) and back.
        string ToSlot(string v) => t switch
        {
            "double" => b.Let($"bitcast double {v} to i64"),
            "i64" => v,
            "float" => b.Let($"zext i32 {b.Let($"bitcast float {v} to i32")} to i64"),
            _ => b.Let($"zext {t} {v} to i64"),
        };
        string FromSlot(string s) => t switch
        {
            "double" => b.Let($"bitcast i64 {s} to double"),
            "i64" => s,
            "float" => b.Let($"bitcast i32 {b.Let($"trunc i64 {s} to i32")} to float"),
            _ => b.Let($"trunc i64 {s} to {t}"),
        };

        if (second)
        {
            var firstPair = b.Let($"mul nuw nsw i64 {row}, {chunks}", "pairs");
            b.For(tid, chunks.ToString(), c =>
            {
                var at = b.Let($"add nuw nsw i64 {firstPair}, {c}");
                Offer(FromSlot(b.Let($"load i64, ptr {ValueSlot(b, at)}")), b.Let($"load i64, ptr {IndexSlot(b, at)}"));
            }, "scan", step: block.ToString());
        }
        else
        {
            var (lo, hi) = ("0", n.ToString());
            if (first)
            {
                lo = b.Let($"mul nuw nsw i64 {b.Let($"urem i64 {blockId}, {chunks}")}, {chunk}", "lo");
                var end = b.Let($"add nuw nsw i64 {lo}, {chunk}");
                hi = b.Let($"select i1 {b.Let($"icmp slt i64 {end}, {n}")}, i64 {end}, i64 {n}", "hi");
            }
            b.For(b.Let($"add nuw nsw i64 {lo}, {tid}"), hi, j => ev.Scoped(() => Offer(ev.Element(x, split.Index(rowIdx, [j])), j)), "scan", step: block.ToString());
        }

        bool narrowIndex = n <= int.MaxValue;
        for (int off = 16; off >= 1; off /= 2)
        {
            var value = WarpShuffle.Butterfly(mc, b, t, b.Let($"load {t}, ptr {bestValue}"), off);
            var index = b.Let($"load i64, ptr {bestIndex}");
            // One 32-bit shuffle for an index below 2^31 (−1 sign-extends back), else two.
            index = narrowIndex
                ? b.Let($"sext i32 {WarpShuffle.Butterfly(mc, b, "i32", b.Let($"trunc i64 {index} to i32"), off)} to i64")
                : WarpShuffle.Butterfly(mc, b, "i64", index, off);
            Offer(value, index);
        }
        if (warps > 1)
        {
            var slotType = RowKernel.SlotType([t]);
            var values = $"@{name}_values";
            var indices = $"@{name}_indices";
            RowKernel.SharedSlots(mc, values, warps, slotType);
            RowKernel.SharedSlots(mc, indices, warps, "i64");
            string Slot(string array, string type, string w) => b.Let($"getelementptr inbounds {type}, ptr addrspace(3) {array}, i64 {w}");
            var warp = b.Let($"lshr i64 {tid}, 5", "warp");
            var write = b.FreshLabel("lane0");
            var joined = b.FreshLabel("joined");
            b.CondBr(b.Let($"icmp eq i64 {b.Let($"and i64 {tid}, 31", "lane")}, 0"), write, joined);
            b.Block(write);
            b.Line($"store {t} {b.Let($"load {t}, ptr {bestValue}")}, ptr addrspace(3) {Slot(values, slotType, warp)}");
            b.Line($"store i64 {b.Let($"load i64, ptr {bestIndex}")}, ptr addrspace(3) {Slot(indices, "i64", warp)}");
            b.Br(joined);
            b.Block(joined);
            Sreg.Barrier(mc, b);
            for (int w = 1; w < warps; w++)
                Offer(b.Let($"load {t}, ptr addrspace(3) {Slot(values, slotType, w.ToString())}"), b.Let($"load i64, ptr addrspace(3) {Slot(indices, "i64", w.ToString())}"));
        }

        var store = b.FreshLabel("thread0");
        var done = b.FreshLabel("done");
        b.CondBr(b.Let($"icmp eq i64 {tid}, 0"), store, done);
        b.Block(store);
        if (first)
        {
            b.Line($"store i64 {ToSlot(b.Let($"load {t}, ptr {bestValue}"))}, ptr {ValueSlot(b, blockId)}");
            b.Line($"store i64 {b.Let($"load i64, ptr {bestIndex}")}, ptr {IndexSlot(b, blockId)}");
        }
        else ev.Memory.Store(new KernelBuffer("%p0", arg.Result.Type), row, ev.Narrow(b.Let($"load i64, ptr {bestIndex}"), arg.Result.Type.Element));
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, 1 + outerInputs.Count + (chunks > 1 ? 1 : 0), b.Body());
        return new GpuKernel(name, Math.Max(1, first ? rows * chunks : rows), 1, 1, block, [arg.Result, .. outerInputs], scratchBytes);
    }
}
