using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// scatter on the GPU, with the IR's sequential semantics (updates applied in row-major order: with duplicate
/// indices, <c>replace</c>'s last update wins and <c>add</c> sums in that order), in two kernels: a copy of the operand
/// into the result, then a thread per window element that walks the scatter positions in order and applies its
/// element of each. Two threads never touch one operand element when the index vectors address only inserted (size-1)
/// dimensions, which makes windows of two positions either the same or disjoint: embeddings' gradients (a row per
/// index), ScatterND over leading dimensions, ScatterElements. Scatters whose indices move a window along one of its
/// own dimensions (overlapping windows) stay on the CPU. Parallel over the window, serial over the positions: an
/// embedding gradient's rows are fast, a scatter of single elements runs on one thread.
/// </summary>
internal static class ScatterKernel
{
    private const int Block = 256;

    /// <summary>Whether windows of two positions can only coincide or be disjoint (indices address inserted dimensions only).</summary>
    public static bool Supports(Operation op)
    {
        if (op.Def is not ScatterOp) return false;
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

        // 2: a thread per window element, every position in order.
        var name = m.NextName("scatter");
        var b = new LlvmBuilder();
        var mem = new MemoryAccess(b, m.Context);
        var scalars = new ScalarEmitter(b, m.Context);
        var w = Sreg.GlobalThread(m.Context, b, Block, "w");
        var body = b.FreshLabel("window");
        var done = b.FreshLabel("done");
        b.CondBr(b.Let($"icmp slt i64 {w}, {window}"), body, done);
        b.Block(body);
        var wi = mem.Unravel(w, windowShape);
        // Parameters: %p0 the result, then the op's operands (%p1 operand, %p2 indices, %p3 updates).
        b.For("0", positions.ToString(), p =>
        {
            var scatter = mem.Unravel(p, scatterShape);
            var ui = new string[upd.Type.Rank];
            for (int i = 0; i < scatterDims.Length; i++) ui[scatterDims[i]] = scatter[i];
            for (int i = 0; i < uwd.Length; i++) ui[uwd[i]] = wi[i];
            var xi = Enumerable.Repeat("0", shape.Length).ToArray();
            for (int j = 0; j < map.Length; j++)
            {
                var pos = new List<string>();
                for (int d = 0, bi = 0; d < idx.Type.Rank; d++) pos.Add(d == ivd ? j.ToString() : scatter[bi++]);
                var raw = mem.Load("%p2", idx.Type.Element, mem.Ravel(pos, idx.Type.Shape));
                xi[map[j]] = idx.Type.Element == ElementType.I64 ? raw : b.Let($"{(idx.Type.Element.IsUnsignedInteger() ? "zext" : "sext")} {LlvmTypes.Memory(idx.Type.Element)} {raw} to i64", "ix");
            }
            for (int i = 0; i < inBatch.Length; i++) xi[inBatch[i]] = scatter[idxBatch[i] < ivd ? idxBatch[i] : idxBatch[i] - 1];
            // A window not wholly inside the operand is skipped (XLA's rule): starts along window dimensions are 0 here,
            // so only the indexed (inserted) and batching dimensions can leave it.
            var inside = "true";
            for (int d = 0; d < shape.Length; d++)
                if (!windowDims.Contains(d))
                    inside = b.Let($"and i1 {inside}, {b.Let($"icmp ult i64 {xi[d]}, {shape[d]}")}");
            var apply = b.FreshLabel("apply");
            var skip = b.FreshLabel("skip");
            b.CondBr(inside, apply, skip);
            b.Block(apply);
            for (int i = 0; i < uwd.Length; i++) xi[windowDims[i]] = wi[i];
            var at = mem.Ravel(xi, shape);
            var u = mem.Load("%p3", e, mem.Ravel(ui, upd.Type.Shape));
            if (kind != "replace") u = scalars.Binary(kind, e, mem.Load("%p0", e, at), u);
            mem.Store(new KernelBuffer("%p0", x.Type), at, u);
            b.Br(skip);
            b.Block(skip);
        }, "pos");
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, 1 + op.Operands.Length, b.Body());
        return [copy, new GpuKernel(name, Math.Max(1, (window + Block - 1) / Block), 1, 1, Block, [.. op.Results, .. op.Operands])];
    }
}
