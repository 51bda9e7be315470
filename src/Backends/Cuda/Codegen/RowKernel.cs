using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// A reduction fusion whose reduces all fold the trailing dimensions of one shape (softmax, layer
/// norm, row sums) as one kernel with one thread block per row. For each reduce in body order, the
/// threads stride over the row accumulating its input (computed by the element evaluator, so the
/// reduce's producers are fused in), combine across the warp with butterfly shuffles and across warps
/// through shared memory; every thread then holds the row's value, which later elements of the body
/// read as a register. Full-shape outputs are written by all threads in the same strided order,
/// row-shape outputs by thread 0. The row stays in L1/L2 between its passes, so device memory sees
/// about one read of the input and one write of the output.
/// </summary>
internal static class RowKernel
{
    public const int MaxBlock = 256;

    /// <summary>The row shape (kept dimensions) and the reduced trailing shape, when every reduce of <paramref name="ops"/> folds the same trailing dimensions of one shape.</summary>
    public static (ImmutableArray<long> Rows, ImmutableArray<long> Row)? Split(IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs)
    {
        ImmutableArray<long>? full = null;
        int reducedCount = -1;
        foreach (var op in ops.Where(o => o.Def is ReduceOp))
        {
            var x = op.Operands[0].Type.Shape;
            var dims = op.Attr.Ints("dims").Order().ToArray();
            for (int i = 0; i < dims.Length; i++)
                if (dims[i] != x.Length - dims.Length + i) return null;
            if (full is { } f && (!f.SequenceEqual(x) || reducedCount != dims.Length)) return null;
            full = x;
            reducedCount = dims.Length;
        }
        if (full is not { } shape || reducedCount <= 0) return null;
        var rows = shape[..^reducedCount];
        var row = shape[^reducedCount..];
        foreach (var o in outputs)
            if (!o.Type.Shape.SequenceEqual(shape) && !o.Type.Shape.SequenceEqual(rows)) return null;
        return (rows, row);
    }

    public static GpuKernel Emit(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs)
    {
        var (rowsShape, rowShape) = Split(ops, outputs) ?? throw new CodegenException("reduction is not over trailing dimensions");
        long rows = rowsShape.Aggregate(1L, (a, d) => a * d);
        long r = rowShape.Aggregate(1L, (a, d) => a * d);
        int block = (int)Math.Min(MaxBlock, Math.Max(32, (r + 31) / 32 * 32));
        int warps = block / 32;
        var reduces = ops.Where(o => o.Def is ReduceOp).ToList();

        var name = m.NextName("row");
        var b = new LlvmBuilder();
        var mc = m.Context;
        var smem = $"@{name}_smem";
        mc.Global($"{smem} = internal addrspace(3) global [{Math.Max(1, reduces.Count * warps)} x float] undef, align 4");
        mc.Declare("declare float @llvm.nvvm.shfl.sync.bfly.f32(i32, float, i32, i32) nounwind convergent");
        var ev = new ElementEvaluator(mc, b, inputs.Select((v, i) => (v, $"%p{outputs.Count + i}")), ops, constants);
        var tid = Sreg.Read(mc, b, "tid.x");
        var row = Sreg.Read(mc, b, "ctaid.x");
        var rowIdx = ev.Memory.Unravel(row, rowsShape);
        var lane = b.Let($"and i64 {tid}, 31", "lane");
        var warp = b.Let($"lshr i64 {tid}, 5", "warp");

        string[] Full(string j) => [.. rowIdx, .. ev.Memory.Unravel(j, rowShape)];
        var fullShape = rowsShape.AddRange(rowShape);

        for (int ri = 0; ri < reduces.Count; ri++)
        {
            var red = reduces[ri];
            var kind = red.Attr.Enum("kind");
            var e = red.Result.Type.Element;
            ev.NextElement();
            var acc = b.Reduce(tid, r.ToString(), "float", ElementEvaluator.IdentityOf(kind, e), (a, j) =>
            {
                ev.NextElement();
                return ev.Combine(kind, e, a, ev.Element(red.Operands[0], Full(j)));
            }, "col", block.ToString());
            ev.NextElement();
            for (int off = 16; off >= 1; off /= 2)
            {
                var other = b.Let($"call float @llvm.nvvm.shfl.sync.bfly.f32(i32 -1, float {acc}, i32 {off}, i32 31)", "sh");
                acc = ev.Combine(kind, e, acc, other);
            }
            if (warps > 1)
            {
                var write = b.FreshLabel("lane0");
                var joined = b.FreshLabel("joined");
                b.CondBr(b.Let($"icmp eq i64 {lane}, 0"), write, joined);
                b.Block(write);
                var slot = b.Let($"getelementptr inbounds float, ptr addrspace(3) {smem}, i64 {b.Let($"add i64 {warp}, {ri * warps}")}");
                b.Line($"store float {acc}, ptr addrspace(3) {slot}");
                b.Br(joined);
                b.Block(joined);
                Sreg.Barrier(mc, b);
                // Each reduce has its own slots, so no second barrier is needed before the next one.
                string total = b.Let($"load float, ptr addrspace(3) {b.Let($"getelementptr inbounds float, ptr addrspace(3) {smem}, i64 {ri * warps}")}");
                for (int w = 1; w < warps; w++)
                    total = ev.Combine(kind, e, total, b.Let($"load float, ptr addrspace(3) {b.Let($"getelementptr inbounds float, ptr addrspace(3) {smem}, i64 {ri * warps + w}")}"));
                acc = total;
            }
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
                    var lin = b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {row}, {r}")}, {j}", "lin");
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
}
