using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// A reduction fusion that keeps the innermost dimension (a column sum, global average pooling over H and W in NHWC,
/// statistics per channel) and writes only kept-shape outputs, as one thread per output element: consecutive threads
/// take consecutive output elements, so each step of their loops over the folded elements reads consecutive memory
/// (coalesced), where <see cref="RowKernel"/>'s block per output element would read one strided element per thread.
/// Used when there are enough output elements to fill the GPU and few enough folded ones per thread
/// (<see cref="Applies"/>); otherwise the row kernel's cooperative reduction is the better shape.
/// </summary>
internal static class ColumnKernel
{
    private const int Block = 256;

    /// <summary>At most this many folded elements per thread: beyond, a block per output element splits the work.</summary>
    private const long MaxFolded = 4096;

    /// <summary>Whether the column shape fits: innermost dimension kept, every output of the kept shape, and the work spread over at least a block per multiprocessor.</summary>
    public static bool Applies(RowKernel.Shape split, IReadOnlyList<Value> outputs, int multiprocessors)
    {
        if (split.Folded.Contains(split.Full.Length - 1)) return false;
        if (!outputs.All(o => o.Type.Shape.SequenceEqual(split.KeptShape))) return false;
        long kept = split.KeptShape.Aggregate(1L, (a, d) => a * d), folded = split.FoldedShape.Aggregate(1L, (a, d) => a * d);
        return folded <= MaxFolded && kept >= (long)Block * multiprocessors;
    }

    public static GpuKernel Emit(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs, RowKernel.Shape split)
    {
        var (keptShape, foldedShape) = (split.KeptShape, split.FoldedShape);
        long kept = keptShape.Aggregate(1L, (a, d) => a * d), folded = foldedShape.Aggregate(1L, (a, d) => a * d);
        var name = m.NextName("column");
        var b = new LlvmBuilder();
        var mc = m.Context;
        var ev = new ElementEvaluator(mc, b, inputs.Select((v, i) => (v, $"%p{outputs.Count + i}")), ops, constants);
        var tid = Sreg.Read(mc, b, "tid.x");
        var block = Sreg.Read(mc, b, "ctaid.x");
        var at = b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {block}, {Block}")}, {tid}", "out");
        var inside = b.FreshLabel("inside");
        var done = b.FreshLabel("done");
        b.CondBr(b.Let($"icmp slt i64 {at}, {kept}"), inside, done);
        b.Block(inside);
        var keptIdx = ev.Memory.Unravel(at, keptShape);

        string[] Full(string j) => split.Index(keptIdx, ev.Memory.Unravel(j, foldedShape));
        foreach (var red in ops.Where(o => o.Def is ReduceOp))
        {
            var kind = red.Attr.Enum("kind");
            var e = red.Result.Type.Element;
            ev.NextElement();
            var acc = b.Reduce("0", folded.ToString(), LlvmTypes.Compute(e), ElementEvaluator.IdentityOf(kind, e), (a, j) =>
            {
                ev.NextElement();
                return ev.Combine(kind, e, a, ev.Element(red.Operands[0], Full(j)));
            }, "fold");
            ev.NextElement();
            ev.Seed(red.Result, keptIdx, acc);
        }
        for (int o = 0; o < outputs.Count; o++)
        {
            ev.Memory.Store(new KernelBuffer($"%p{o}", outputs[o].Type), at, ev.Element(outputs[o], keptIdx));
            ev.NextElement();
        }
        ev.ClearSeeds();
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, outerOutputs.Count + outerInputs.Count, b.Body());
        return new GpuKernel(name, (kept + Block - 1) / Block, 1, 1, Block, [.. outerOutputs, .. outerInputs]);
    }
}
