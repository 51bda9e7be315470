using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// A reduction fusion whose reduces all fold the same dimensions of one shape (softmax and layer norm over the
/// trailing ones, column sums, batch-norm statistics over N, H, W, full reductions) as one kernel with one
/// thread block per output element (a row when the folded dimensions are trailing). For each reduce in body
/// order, the threads stride over the folded elements accumulating its input (computed by the element
/// evaluator, so the reduce's producers are fused in), combine across the warp with butterfly shuffles and
/// across warps through shared memory; every thread then holds the output element's value, which later
/// elements of the body read as a register. Full-shape outputs are written by all threads in the same strided
/// order, reduced-shape outputs by thread 0. Over trailing dimensions a warp reads contiguous memory and the
/// row stays in L1/L2 between its passes; over leading ones the reads are strided (correct, not coalesced).
/// </summary>
internal static class RowKernel
{
    public const int MaxBlock = 256;

    /// <summary>
    /// How a reduction fusion's shape splits: the full shape, the kept dimensions (the output elements, one block
    /// each) and the folded ones, by position. Null unless every reduce of <paramref name="ops"/> folds the same
    /// dimensions of one shape and every output has the full or the kept shape.
    /// </summary>
    public sealed record Shape(ImmutableArray<long> Full, ImmutableArray<int> Kept, ImmutableArray<int> Folded)
    {
        public ImmutableArray<long> KeptShape => [.. Kept.Select(d => Full[d])];
        public ImmutableArray<long> FoldedShape => [.. Folded.Select(d => Full[d])];

        /// <summary>The full index of an element from its kept and folded indices (registers), placed by dimension.</summary>
        public string[] Index(string[] keptIdx, string[] foldedIdx)
        {
            var idx = new string[Full.Length];
            for (int i = 0; i < Kept.Length; i++) idx[Kept[i]] = keptIdx[i];
            for (int i = 0; i < Folded.Length; i++) idx[Folded[i]] = foldedIdx[i];
            return idx;
        }
    }

    public static Shape? Split(IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs)
    {
        ImmutableArray<long>? full = null;
        int[]? folded = null;
        foreach (var op in ops.Where(o => o.Def is ReduceOp))
        {
            var x = op.Operands[0].Type.Shape;
            var dims = op.Attr.Ints("dims").Select(d => (int)d).Order().ToArray();
            if (full is { } f && (!f.SequenceEqual(x) || !folded!.SequenceEqual(dims))) return null;
            full = x;
            folded = dims;
        }
        if (full is not { } shape || folded is not { Length: > 0 }) return null;
        var kept = Enumerable.Range(0, shape.Length).Where(d => Array.IndexOf(folded, d) < 0).ToImmutableArray();
        var split = new Shape(shape, kept, [.. folded]);
        foreach (var o in outputs)
            if (!o.Type.Shape.SequenceEqual(shape) && !o.Type.Shape.SequenceEqual(split.KeptShape)) return null;
        return split;
    }

    public static GpuKernel Emit(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs)
    {
        var split = Split(ops, outputs) ?? throw new CodegenException("the reduces of a GPU reduction must fold the same dimensions of one shape");
        var (rowsShape, rowShape, fullShape) = (split.KeptShape, split.FoldedShape, split.Full);
        long rows = rowsShape.Aggregate(1L, (a, d) => a * d);
        long r = rowShape.Aggregate(1L, (a, d) => a * d);
        int block = (int)Math.Min(MaxBlock, Math.Max(32, (r + 31) / 32 * 32));
        int warps = block / 32;
        var reduces = ops.Where(o => o.Def is ReduceOp).ToList();

        var name = m.NextName("row");
        var b = new LlvmBuilder();
        var mc = m.Context;
        var smem = $"@{name}_smem";
        var slotType = SlotType(reduces);
        SharedSlots(mc, smem, reduces.Count * warps, slotType);
        var ev = new ElementEvaluator(mc, b, inputs.Select((v, i) => (v, $"%p{outputs.Count + i}")), ops, constants);
        var tid = Sreg.Read(mc, b, "tid.x");
        var row = Sreg.Read(mc, b, "ctaid.x");
        var rowIdx = ev.Memory.Unravel(row, rowsShape);
        var lane = b.Let($"and i64 {tid}, 31", "lane");
        var warp = b.Let($"lshr i64 {tid}, 5", "warp");

        // The full index of folded element j of this block's output element.
        string[] Full(string j) => split.Index(rowIdx, ev.Memory.Unravel(j, rowShape));
        bool trailing = split.Folded.SequenceEqual(Enumerable.Range(fullShape.Length - split.Folded.Length, split.Folded.Length));

        for (int ri = 0; ri < reduces.Count; ri++)
        {
            var red = reduces[ri];
            var kind = red.Attr.Enum("kind");
            var e = red.Result.Type.Element;
            ev.NextElement();
            var acc = b.Reduce(tid, r.ToString(), LlvmTypes.Compute(e), ElementEvaluator.IdentityOf(kind, e), (a, j) =>
            {
                ev.NextElement();
                return ev.Combine(kind, e, a, ev.Element(red.Operands[0], Full(j)));
            }, "col", block.ToString());
            ev.NextElement();
            acc = AcrossBlock(mc, b, ev, kind, e, acc, lane, warp, smem, slotType, ri * warps, warps);
            ev.Seed(red.Result, rowIdx, acc);
        }

        for (int o = 0; o < outputs.Count; o++)
        {
            var output = outputs[o];
            ev.NextElement();
            if (output.Type.Shape.SequenceEqual(fullShape))
            {
                b.For(tid, r.ToString(), j =>
                {
                    ev.NextElement();
                    var idx = Full(j);
                    var lin = trailing ? b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {row}, {r}")}, {j}", "lin") : ev.Memory.Ravel(idx, fullShape);
                    ev.Memory.Store(new KernelBuffer($"%p{o}", output.Type), lin, ev.Element(output, idx));
                }, "out", step: block.ToString());
                ev.NextElement();
            }
            else
            {
                var write = b.FreshLabel("thread0");
                var skip = b.FreshLabel("written");
                b.CondBr(b.Let($"icmp eq i64 {tid}, 0"), write, skip);
                b.Block(write);
                ev.Memory.Store(new KernelBuffer($"%p{o}", output.Type), row, ev.Element(output, rowIdx));
                b.Br(skip);
                b.Block(skip);
                ev.NextElement();
            }
        }
        b.Line("ret void");
        m.AddKernel(name, outerOutputs.Count + outerInputs.Count, b.Body());
        return new GpuKernel(name, Math.Max(1, rows), 1, 1, block, [.. outerOutputs, .. outerInputs]);
    }

    /// <summary>
    /// The element type of a kernel's shared-memory (or scratch) slots for <paramref name="reduces"/>' partial values: f32
    /// words (f32, f16, bf16, 32-bit and narrower integers, bool), or 64-bit ones when any reduce accumulates f64 or a
    /// 64-bit integer. Each slot holds one value of its reduce's compute type.
    /// </summary>
    internal static string SlotType(IEnumerable<Operation> reduces) => SlotType(reduces.Select(r => LlvmTypes.Compute(r.Result.Type.Element)));

    /// <summary>The slot type for values of these compute types (see above).</summary>
    internal static string SlotType(IEnumerable<string> computeTypes) => computeTypes.Any(t => SlotBytes(t) == 8) ? "i64" : "float";

    internal static int SlotBytes(string type) => type is "double" or "i64" ? 8 : 4;

    /// <summary>Declares <paramref name="global"/>, <paramref name="count"/> shared-memory slots of <paramref name="slotType"/>.</summary>
    internal static void SharedSlots(ModuleContext mc, string global, long count, string slotType) =>
        mc.Global($"{global} = internal addrspace(3) global [{Math.Max(1, count)} x {slotType}] undef, align {SlotBytes(slotType)}");

    /// <summary>
    /// Combines each thread's <paramref name="acc"/> over the block: butterfly shuffles within each warp, then through
    /// <paramref name="warps"/> shared-memory slots from <paramref name="slot"/> (one per warp; callers give each reduce
    /// its own slots, so no barrier is needed before the next). Every thread gets the block's value.
    /// </summary>
    internal static string AcrossBlock(ModuleContext mc, LlvmBuilder b, ElementEvaluator ev, string kind, ElementType e, string acc,
        string lane, string warp, string smem, string slotType, int slot, int warps)
    {
        var t = LlvmTypes.Compute(e);
        for (int off = 16; off >= 1; off /= 2)
            acc = ev.Combine(kind, e, acc, WarpShuffle.Butterfly(mc, b, t, acc, off));
        if (warps == 1) return acc;
        var write = b.FreshLabel("lane0");
        var joined = b.FreshLabel("joined");
        b.CondBr(b.Let($"icmp eq i64 {lane}, 0"), write, joined);
        b.Block(write);
        var at = b.Let($"getelementptr inbounds {slotType}, ptr addrspace(3) {smem}, i64 {b.Let($"add i64 {warp}, {slot}")}");
        b.Line($"store {t} {acc}, ptr addrspace(3) {at}");
        b.Br(joined);
        b.Block(joined);
        Sreg.Barrier(mc, b);
        string total = b.Let($"load {t}, ptr addrspace(3) {b.Let($"getelementptr inbounds {slotType}, ptr addrspace(3) {smem}, i64 {slot}")}");
        for (int w = 1; w < warps; w++)
            total = ev.Combine(kind, e, total, b.Let($"load {t}, ptr addrspace(3) {b.Let($"getelementptr inbounds {slotType}, ptr addrspace(3) {smem}, i64 {slot + w}")}"));
        return total;
    }
}
