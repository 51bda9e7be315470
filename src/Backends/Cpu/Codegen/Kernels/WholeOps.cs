using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// Whole-tensor kernels: ops whose output elements are not a function of their own index alone
/// (scatter's accumulation order, sort's lanes, per-matrix algorithms, collectives: Collectives.cs) write their results all at once.
/// </summary>
internal sealed partial class KernelEmitter
{
    internal static bool IsWhole(Operation op) => op.Def is ScatterOp or SortOp or TopKOp or DeterminantOp or MatrixInverseOp || CollectiveOps.IsCollective(op);

    private void EmitWhole(Operation op, KernelBuffer[] dests)
    {
        switch (op.Def)
        {
            case ScatterOp: Scatter(op, dests[0]); break;
            case SortOp: SortLanes(op.Operands[0], op.Attr.Int32("dimension"), op.Attr.Bool("descending"), dests); break;
            case TopKOp: SortLanes(op.Operands[0], op.Operands[0].Type.Rank - 1, op.Attr.Bool("largest"), dests); break;
            case DeterminantOp or MatrixInverseOp: SquareMatrix(op, dests[0]); break;
            case CollectiveOp or ReplicaIdOp or AllReduceDoneOp: Collective(op, dests[0]); break;
        }
    }

    /// <summary>Runs <paramref name="body"/> only when <paramref name="cond"/> holds (values it computes stay inside).</summary>
    private void When(string cond, Action body)
    {
        var then = _b.FreshLabel("then");
        var join = _b.FreshLabel("join");
        _b.CondBr(cond, then, join);
        _b.Block(then);
        _ev.Scoped(body);
        _b.Br(join);
        _b.Block(join);
    }

    /// <summary>An index element widened to i64; huge unsigned values saturate to the largest i64 (then out of bounds).</summary>
    private string IndexToI64(string raw, ElementType e)
    {
        if (e.BitWidth() == 64)
            return e.IsUnsignedInteger() ? _b.Let($"select i1 {_b.Let($"icmp slt i64 {raw}, 0")}, i64 {long.MaxValue}, i64 {raw}", "ix") : raw;
        return _b.Let($"{(e.IsUnsignedInteger() ? "zext" : "sext")} {LlvmTypes.Register(e)} {raw} to i64", "ix");
    }

    private void Scatter(Operation op, KernelBuffer dest)
    {
        var (x, idx, upd, a) = (op.Operands[0], op.Operands[1], op.Operands[2], op.Attr);
        var (uwd, map, kind) = (a.Ints("update_window_dims"), a.Ints("scatter_dims_to_operand_dims"), a.Enum("kind"));
        var (inBatch, idxBatch, ivd) = (a.Ints("input_batching_dims"), a.Ints("scatter_indices_batching_dims"), a.Int32("index_vector_dim"));
        var windowDims = IndexingDims.Window(x.Type.Rank, a.Ints("inserted_window_dims"), inBatch);
        var shape = x.Type.Shape;
        // The largest in-bounds start along each operand dimension: a window dimension leaves room for the update's extent.
        var maxStart = shape.Select(n => n - 1).ToArray();
        for (int i = 0; i < uwd.Length; i++) maxStart[windowDims[i]] = shape[windowDims[i]] - upd.Type.Shape[(int)uwd[i]];
        var scatterDims = Enumerable.Range(0, upd.Type.Rank).Where(d => !uwd.Contains(d)).ToArray();
        var e = x.Type.Element;

        StoreAll(dest, x);
        ForEachIndex(upd.Type.Shape, ui =>
        {
            var scatter = scatterDims.Select(d => ui[d]).ToArray();
            var xi = Enumerable.Repeat("0", shape.Length).ToArray();
            for (int j = 0; j < map.Length; j++)
            {
                var pos = new List<string>();
                for (int d = 0, bi = 0; d < idx.Type.Rank; d++) pos.Add(d == ivd ? j.ToString() : scatter[bi++]);
                xi[map[j]] = IndexToI64(At(idx, pos), idx.Type.Element);
            }
            for (int i = 0; i < inBatch.Length; i++) xi[inBatch[i]] = scatter[idxBatch[i] < ivd ? idxBatch[i] : idxBatch[i] - 1];
            var inside = "true";
            for (int d = 0; d < shape.Length; d++)
            {
                var ok = _b.Let($"and i1 {_b.Let($"icmp sge i64 {xi[d]}, 0")}, {_b.Let($"icmp sle i64 {xi[d]}, {maxStart[d]}")}");
                inside = _b.Let($"and i1 {inside}, {ok}");
            }
            When(inside, () =>
            {
                var at = (string[])xi.Clone();
                for (int i = 0; i < uwd.Length; i++) at[windowDims[i]] = _b.Let($"add nsw i64 {at[windowDims[i]]}, {ui[uwd[i]]}", "ix");
                var lin = Ravel(at, shape);
                var u = At(upd, ui);
                if (kind != "replace") u = _s.Binary(kind, e, Load(dest.Pointer, e, lin), u);
                Store(dest, lin, u);
            });
        });
    }

    /// <summary>sort / top_k: each lane along <paramref name="dim"/> is sorted by the merge-sort helper; the first K entries are kept.</summary>
    private void SortLanes(Value x, int dim, bool descending, KernelBuffer[] dests)
    {
        var shape = x.Type.Shape;
        long n = shape[dim], keep = dests[0].Type.Shape[dim];
        long outer = 1, inner = 1;
        for (int d = 0; d < dim; d++) outer *= shape[d];
        for (int d = dim + 1; d < shape.Length; d++) inner *= shape[d];
        if (n == 0 || keep == 0 || outer * inner == 0) return;
        var e = x.Type.Element;
        var t = LlvmTypes.Compute(e);
        var helper = Helpers.Sort(_module, t, e.IsUnsignedInteger());
        var keyBytes = t switch { "i1" => 1, "double" or "i64" => 8, "float" or "i32" => 4, "i16" => 2, _ => 1 };
        var keys = Malloc(new TensorType(ElementType.U8, n * keyBytes));
        var order = Malloc(new TensorType(ElementType.I64, n));
        var tmp = Malloc(new TensorType(ElementType.I64, n));
        var outerShape = ImmutableArray.CreateRange(shape.Take(dim));
        var innerShape = ImmutableArray.CreateRange(shape.Skip(dim + 1));
        ForEachIndex(ImmutableArray.CreateRange(outerShape.Concat(innerShape)), lane =>
        {
            string[] Src(string j) => [.. lane.Take(dim), j, .. lane.Skip(dim)];
            _b.For("0", n.ToString(), j => _ev.Scoped(() =>
            {
                _b.Line($"store {t} {At(x, Src(j))}, ptr {_b.Let($"getelementptr inbounds {t}, ptr {keys}, i64 {j}")}");
                _b.Line($"store i64 {j}, ptr {_b.Let($"getelementptr inbounds i64, ptr {order}, i64 {j}")}");
            }), "s");
            _b.Line($"call void @{helper}(ptr {keys}, ptr {order}, ptr {tmp}, i64 {n}, i1 {(descending ? "true" : "false")})");
            _b.For("0", keep.ToString(), j =>
            {
                var pos = _b.Let($"load i64, ptr {_b.Let($"getelementptr inbounds i64, ptr {order}, i64 {j}")}");
                var key = _b.Let($"load {t}, ptr {_b.Let($"getelementptr inbounds {t}, ptr {keys}, i64 {pos}")}");
                var lin = Ravel(Src(j), dests[0].Type.Shape);
                Store(dests[0], lin, key);
                Store(dests[1], lin, pos);
            }, "w");
        });
    }

    /// <summary>determinant / matrix_inverse: each matrix is copied into doubles and handed to the helper.</summary>
    private void SquareMatrix(Operation op, KernelBuffer dest)
    {
        var x = op.Operands[0];
        var shape = x.Type.Shape;
        long n = shape[^1];
        var batch = ImmutableArray.CreateRange(shape.Take(shape.Length - 2));
        bool det = op.Def is DeterminantOp;
        var helper = det ? MatrixHelpers.Determinant(_module) : MatrixHelpers.Inverse(_module);
        var m = Malloc(new TensorType(ElementType.F64, n, n));
        var inv = det ? null : Malloc(new TensorType(ElementType.F64, n, n));
        var e = x.Type.Element;
        ForEachIndex(batch, bi =>
        {
            ForEachIndex([n, n], rc =>
            {
                var v = _s.Convert(e, ElementType.F64, At(x, [.. bi, rc[0], rc[1]]));
                var lin = Ravel(rc, [n, n]);
                _b.Line($"store double {v}, ptr {_b.Let($"getelementptr inbounds double, ptr {m}, i64 {lin}")}");
                if (inv is not null)
                {
                    var one = _b.Let($"select i1 {_b.Let($"icmp eq i64 {rc[0]}, {rc[1]}")}, double 1.0, double 0.0");
                    _b.Line($"store double {one}, ptr {_b.Let($"getelementptr inbounds double, ptr {inv}, i64 {lin}")}");
                }
            });
            if (det)
            {
                var d = _b.Let($"call double @{helper}(ptr {m}, i64 {n})");
                Store(dest, Ravel(bi, batch), _ev.Memory.RoundFromDouble(e, d));
                return;
            }
            _b.Line($"call void @{helper}(ptr {m}, ptr {inv}, i64 {n})");
            ForEachIndex([n, n], rc =>
            {
                var lin = Ravel(rc, [n, n]);
                var v = _b.Let($"load double, ptr {_b.Let($"getelementptr inbounds double, ptr {inv}, i64 {lin}")}");
                Store(dest, Ravel([.. bi, rc[0], rc[1]], shape), _ev.Memory.RoundFromDouble(e, v));
            });
        });
    }
}
