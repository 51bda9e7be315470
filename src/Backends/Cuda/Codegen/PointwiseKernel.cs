using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// A loop fusion (or one elementwise/shape op, a convolution or a pooling window with what is fused after it) as
/// one kernel: each thread computes
/// <see cref="PerThread"/> consecutive elements of every output, so the loads and stores of contiguous
/// operands become 16-byte vector accesses (LLVM's load/store vectoriser merges them: the parameters
/// are 16-byte aligned and the first element a multiple of four), and a warp touches 512 contiguous
/// bytes. Elements come from the shared element evaluator, so broadcasts, transposes and slices cost
/// index arithmetic, not memory.
/// </summary>
internal static class PointwiseKernel
{
    public const int PerThread = 4;
    public const int Block = 256;

    public static GpuKernel Emit(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs)
    {
        var name = m.NextName("loop");
        var shape = outputs[0].Type.Shape;
        long n = outputs[0].Type.ElementCount;
        var b = new LlvmBuilder();
        // Convolution and pooling elements are loops over their window (LoopElementOps): a thread per output element;
        // rng's elements are Philox draws of their index (KernelElementOps).
        var ev = new ElementEvaluator(m.Context, b,
            inputs.Select((v, i) => (v, $"%p{outputs.Count + i}")), ops, constants, KernelElementOps.Instance);
        var tid = Sreg.Read(m.Context, b, "tid.x");
        var bid = Sreg.Read(m.Context, b, "ctaid.x");
        var first = b.Let($"mul nuw nsw i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {bid}, {Block}")}, {tid}")}, {PerThread}", "first");

        // Full groups of four: operands of the output's shape are read, and f32 outputs written, as one
        // 16-byte vector each (the evaluator takes the loaded elements as seeds).
        void Full()
        {
            var es = new string[PerThread];
            var idxs = new string[PerThread][];
            for (int c = 0; c < PerThread; c++)
            {
                es[c] = b.Let($"add nuw nsw i64 {first}, {c}", "e");
                idxs[c] = ev.Memory.Unravel(es[c], shape);
            }
            for (int i = 0; i < inputs.Count; i++)
            {
                var v = inputs[i];
                if (!Vectorisable(v.Type) || constants.ContainsKey(v)) continue;
                var p = b.Let($"getelementptr inbounds float, ptr %p{outputs.Count + i}, i64 {first}");
                var vec = b.Let($"load <4 x float>, ptr {p}, align 16", "vec");
                for (int c = 0; c < PerThread; c++) ev.Seed(v, idxs[c], b.Let($"extractelement <4 x float> {vec}, i64 {c}"));
            }
            var values = new string[outputs.Count, PerThread];
            for (int c = 0; c < PerThread; c++)
            {
                ev.NextElement();
                for (int o = 0; o < outputs.Count; o++) values[o, c] = ev.Element(outputs[o], idxs[c]);
            }
            for (int o = 0; o < outputs.Count; o++)
            {
                if (Vectorisable(outputs[o].Type))
                {
                    var vec = "undef";
                    for (int c = 0; c < PerThread; c++) vec = b.Let($"insertelement <4 x float> {vec}, float {values[o, c]}, i64 {c}", "vec");
                    b.Line($"store <4 x float> {vec}, ptr {b.Let($"getelementptr inbounds float, ptr %p{o}, i64 {first}")}, align 16");
                }
                else
                    for (int c = 0; c < PerThread; c++) ev.Memory.Store(new KernelBuffer($"%p{o}", outputs[o].Type), es[c], values[o, c]);
            }
            ev.ClearSeeds();
        }

        bool Vectorisable(TensorType t) => t.Element == ElementType.F32 && t.Shape.SequenceEqual(shape);

        void Edge()
        {
            for (int c = 0; c < PerThread; c++)
            {
                var e = b.Let($"add nuw nsw i64 {first}, {c}", "e");
                var body = b.FreshLabel("in");
                var skip = b.FreshLabel("next");
                b.CondBr(b.Let($"icmp slt i64 {e}, {n}"), body, skip);
                b.Block(body);
                ev.NextElement();
                var idx = ev.Memory.Unravel(e, shape);
                for (int o = 0; o < outputs.Count; o++)
                    ev.Memory.Store(new KernelBuffer($"%p{o}", outputs[o].Type), ev.Memory.Ravel(idx, outputs[o].Type.Shape), ev.Element(outputs[o], idx));
                b.Br(skip);
                b.Block(skip);
            }
        }

        var fast = b.FreshLabel("full");
        var slow = b.FreshLabel("edge");
        var done = b.FreshLabel("done");
        b.CondBr(b.Let($"icmp sle i64 {b.Let($"add nuw nsw i64 {first}, {PerThread}")}, {n}"), fast, slow);
        b.Block(fast);
        Full();
        b.Br(done);
        b.Block(slow);
        Edge();
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, outerOutputs.Count + outerInputs.Count, b.Body());
        long grid = Math.Max(1, (n + (long)Block * PerThread - 1) / ((long)Block * PerThread));
        return new GpuKernel(name, grid, 1, 1, Block, [.. outerOutputs, .. outerInputs]);
    }
}
