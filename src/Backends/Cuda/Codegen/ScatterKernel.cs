using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// scatter on the GPU, with the IR's sequential semantics (updates applied in row-major order: with duplicate
/// indices, <c>replace</c>'s last update wins and <c>add</c> sums in that order), in two kernels: a copy of the operand
/// into the result, then the updates:
/// <list type="bullet">
/// <item>when the index vectors address only inserted (size-1) dimensions, windows of two positions are either the same
/// or disjoint (embeddings' gradients, a row per index; ScatterND over leading dimensions; ScatterElements): a thread per
/// window element walks the positions in order and applies its element of each, parallel over the window, serial over
/// the positions (a scatter of single elements runs on one thread);</item>
/// <item>when the indices move a window along one of its own dimensions, windows of two positions may overlap partly
/// (a dynamic_update_slice as a scatter, sliding patches): one block applies the positions in order, its threads sharing
/// each window, with a barrier between positions, which orders the writes of every thread and makes them visible.</item>
/// </list>
/// A window not wholly inside the operand is skipped (XLA's rule).
/// </summary>
internal static class ScatterKernel
{
    private const int Block = 256;

    /// <summary>Threads of the one block that applies overlapping windows (the most a block may have).</summary>
    private const int OrderedBlock = 1024;

    public static bool Supports(Operation op) => op.Def is ScatterOp;

    /// <summary>Whether windows of two positions can only coincide or be disjoint (indices address inserted dimensions only).</summary>
    private static bool WindowsFixed(Operation op)
    {
        var inserted = op.Attr.Ints("inserted_window_dims");
        return op.Attr.Ints("scatter_dims_to_operand_dims").All(d => inserted.Contains(d));
    }

    public static IReadOnlyList<GpuKernel> Emit(DeviceModule m, Operation op, IReadOnlyDictionary<Value, Tensor> constants)
    {
        var (x, idx, upd) = (op.Operands[0], op.Operands[1], op.Operands[2]);
        IReadOnlyList<Value> inputs = [x, idx, upd];
        // 1: the result starts as the operand (the pointwise kernel's copy, or its constant's elements).
        var copy = PointwiseKernel.Emit(m, inputs, [], [x], constants, op.Results, op.Operands);

        var a = op.Attr;
        var (uwd, map, kind) = (a.Ints("update_window_dims"), a.Ints("scatter_dims_to_operand_dims"), a.Enum("kind"));
        var (inBatch, idxBatch, ivd) = (a.Ints("input_batching_dims"), a.Ints("scatter_indices_batching_dims"), a.Int32("index_vector_dim"));
        var windowDims = IndexingDims.Window(x.Type.Rank, a.Ints("inserted_window_dims"), inBatch);
        var shape = x.Type.Shape;
        var scatterDims = Enumerable.Range(0, upd.Type.Rank).Where(d => !uwd.Contains(d)).ToArray();
        var windowShape = System.Collections.Immutable.ImmutableArray.CreateRange(uwd.Select(d => upd.Type.Shape[(int)d]));
        var scatterShape = System.Collections.Immutable.ImmutableArray.CreateRange(scatterDims.Select(d => upd.Type.Shape[d]));
        long window = windowShape.Aggregate(1L, (p, s) => p * s), positions = scatterShape.Aggregate(1L, (p, s) => p * s);
        var e = x.Type.Element;
        bool fixedWindows = WindowsFixed(op);

        var name = m.NextName("scatter");
        var b = new LlvmBuilder();
        var mem = new MemoryAccess(b, m.Context);
        var scalars = new ScalarEmitter(b, m.Context);
        // Parameters: %p0 the result, then the op's operands (%p1 operand, %p2 indices, %p3 updates).
        // The window's start in the operand at scatter position `scatter`, and whether the window lies wholly inside.
        (string[] Start, string Inside) Locate(string[] scatter)
        {
            var xi = Enumerable.Repeat("0", shape.Length).ToArray();
            for (int j = 0; j < map.Length; j++)
            {
                var pos = new List<string>();
                for (int d = 0, bi = 0; d < idx.Type.Rank; d++) pos.Add(d == ivd ? j.ToString() : scatter[bi++]);
                var raw = mem.Load("%p2", idx.Type.Element, mem.Ravel(pos, idx.Type.Shape));
                xi[map[j]] = idx.Type.Element == ElementType.I64 ? raw : b.Let($"{(idx.Type.Element.IsUnsignedInteger() ? "zext" : "sext")} {LlvmTypes.Memory(idx.Type.Element)} {raw} to i64", "ix");
            }
            for (int i = 0; i < inBatch.Length; i++) xi[inBatch[i]] = scatter[idxBatch[i] < ivd ? idxBatch[i] : idxBatch[i] - 1];
            // Unsigned compares: a negative start is out too. Along a window dimension the start leaves room for the window.
            var inside = "true";
            for (int d = 0; d < shape.Length; d++)
            {
                int w = Array.IndexOf(windowDims, d);
                long room = w < 0 ? shape[d] : shape[d] - windowShape[w] + 1;
                if (w >= 0 && !map.Contains(d)) continue; // start 0
                inside = b.Let($"and i1 {inside}, {b.Let($"icmp ult i64 {xi[d]}, {room}")}");
            }
            return (xi, inside);
        }
        // Applies window element `wi` of the update at position `scatter`, whose window starts at `start`.
        void Apply(string[] scatter, string[] start, string[] wi)
        {
            var ui = new string[upd.Type.Rank];
            for (int i = 0; i < scatterDims.Length; i++) ui[scatterDims[i]] = scatter[i];
            for (int i = 0; i < uwd.Length; i++) ui[uwd[i]] = wi[i];
            var xi = (string[])start.Clone();
            for (int i = 0; i < uwd.Length; i++) xi[windowDims[i]] = start[windowDims[i]] == "0" ? wi[i] : b.Let($"add i64 {start[windowDims[i]]}, {wi[i]}");
            var at = mem.Ravel(xi, shape);
            var u = mem.Load("%p3", e, mem.Ravel(ui, upd.Type.Shape));
            if (kind != "replace") u = scalars.Binary(kind, e, mem.Load("%p0", e, at), u);
            mem.Store(new KernelBuffer("%p0", x.Type), at, u);
        }
        if (fixedWindows)
        {
            // 2: a thread per window element, every position in order.
            var w = Sreg.GlobalThread(m.Context, b, Block, "w");
            var body = b.FreshLabel("window");
            var done = b.FreshLabel("done");
            b.CondBr(b.Let($"icmp slt i64 {w}, {window}"), body, done);
            b.Block(body);
            var wi = mem.Unravel(w, windowShape);
            b.For("0", positions.ToString(), p =>
            {
                var scatter = mem.Unravel(p, scatterShape);
                var (start, inside) = Locate(scatter);
                b.If(inside, () => Apply(scatter, start, wi), "apply");
            }, "pos");
            b.Br(done);
            b.Block(done);
            b.Line("ret void");
            m.AddKernel(name, 1 + op.Operands.Length, b.Body());
            return [copy, new GpuKernel(name, Math.Max(1, (window + Block - 1) / Block), 1, 1, Block, [.. op.Results, .. op.Operands])];
        }

        // 2: one block, every position in order; its threads share the window, then meet at a barrier.
        var tid = Sreg.Read(m.Context, b, "tid.x");
        long chunks = (window + OrderedBlock - 1) / OrderedBlock;
        b.For("0", positions.ToString(), p =>
        {
            var scatter = mem.Unravel(p, scatterShape);
            var (start, inside) = Locate(scatter);
            b.If(inside, () => b.For("0", chunks.ToString(), c =>
            {
                var w = b.Let($"add i64 {b.Let($"mul i64 {c}, {OrderedBlock}")}, {tid}", "w");
                b.If(b.Let($"icmp ult i64 {w}, {window}"), () => Apply(scatter, start, mem.Unravel(w, windowShape)), "mine");
            }, "chunk"), "apply");
            // Every thread's writes for this position land before any thread's for the next (overlaps are ordered).
            Sreg.Barrier(m.Context, b);
        }, "pos");
        b.Line("ret void");
        m.AddKernel(name, 1 + op.Operands.Length, b.Body());
        return [copy, new GpuKernel(name, 1, 1, 1, OrderedBlock, [.. op.Results, .. op.Operands])];
    }
}
