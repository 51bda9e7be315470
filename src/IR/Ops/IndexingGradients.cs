using GraphCompiler.IR.Autodiff;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// The vector-Jacobian products of the indexing ops: gather ↔ scatter-add with the same dimension
/// numbers, scatter (add, replace) ↔ gather, sort and top_k ↔ a scatter-add through the indices result,
/// dynamic_slice ↔ dynamic_update_slice into zeros. Integer operands (indices, start positions) get none.
/// </summary>
internal static class IndexingGradients
{
    /// <summary>
    /// Every result element of gather copies one operand element, so the operand's cotangent is the sum of
    /// the cotangents of its copies: a scatter-add of dy into zeros with gather's dimension numbers. Gather
    /// clamps a start so its slice fits while scatter skips a window that does not, so the indices are
    /// clamped the same way first.
    /// </summary>
    public static readonly VjpRule Gather = c =>
    {
        var x = c.X(0).Type;
        var a = c.Attr;
        var map = a.Ints("start_index_map");
        var sizes = a.Ints("slice_sizes");
        var clamped = ClampStarts(c, c.X(1), a.Int32("index_vector_dim"), [.. map.Select(d => x.Shape[(int)d] - sizes[(int)d])]);
        var dx = c.Emit("scatter", [c.Zeros(x), clamped, c.Dy],
            ("update_window_dims", A.Ints([.. a.Ints("offset_dims")])),
            ("inserted_window_dims", A.Ints([.. a.Ints("collapsed_slice_dims")])),
            ("scatter_dims_to_operand_dims", A.Ints([.. map])),
            ("index_vector_dim", A.Int(a.Int("index_vector_dim"))),
            ("input_batching_dims", A.Ints([.. a.Ints("operand_batching_dims")])),
            ("scatter_indices_batching_dims", A.Ints([.. a.Ints("start_indices_batching_dims")])),
            ("kind", A.Enum("add")));
        return [dx, null];
    };

    /// <summary>
    /// add: the operand passes dy through, each applied update gets dy at its target (a gather with the
    /// scatter's dimension numbers). replace: the operand gets dy with every written position zeroed (a
    /// replace-scatter of zeros), and with duplicate indices only the update that wins — the last in
    /// row-major order of the updates, the op's rule — gets the cotangent; the overwritten ones get 0, as
    /// they do not affect the result. Updates whose window falls outside the operand were skipped and get 0.
    /// mul/max/min are not differentiated.
    /// </summary>
    public static readonly VjpRule Scatter = c =>
    {
        var kind = c.Attr.Enum("kind");
        if (kind is not ("add" or "replace"))
            throw c.Error($"scatter kind '{kind}' is not differentiable yet (only add and replace are)");
        var (idx, upd) = (c.X(1), c.X(2));
        var dims = ScatterDims(c);
        Value? dx = null, du = null;
        if (c.Needs(0))
            dx = kind == "add" ? c.Dy : c.Emit("scatter", [c.Dy, idx, c.Zeros(upd.Type)], [.. dims, ("kind", A.Enum("replace"))]);
        if (c.Needs(2))
        {
            var g = GatherWindows(c, c.Dy, upd.Type);
            du = c.Select(kind == "add" ? InBounds(c, upd.Type) : Winners(c, dims, upd.Type), g, c.Zeros(upd.Type));
        }
        return [dx, null, du];
    };

    private static (string, Attr)[] ScatterDims(VjpContext c) =>
    [
        .. new[] { "update_window_dims", "inserted_window_dims", "scatter_dims_to_operand_dims", "input_batching_dims", "scatter_indices_batching_dims" }
            .Select(n => (n, (Attr)A.Ints([.. c.Attr.Ints(n)]))),
        ("index_vector_dim", A.Int(c.Attr.Int("index_vector_dim"))),
    ];

    /// <summary>Operand dims a scatter window spans, with its size along each (1 for inserted and batching dims).</summary>
    private static long[] WindowSizes(VjpContext c, TensorType updates)
    {
        var x = c.X(0).Type;
        var uwd = c.Attr.Ints("update_window_dims");
        var windowDims = IndexingDims.Window(x.Rank, c.Attr.Ints("inserted_window_dims"), c.Attr.Ints("input_batching_dims"));
        var sizes = Enumerable.Repeat(1L, x.Rank).ToArray();
        for (int i = 0; i < uwd.Length; i++) sizes[windowDims[i]] = updates.Shape[(int)uwd[i]];
        return sizes;
    }

    /// <summary>The scatter's windows read back out of <paramref name="v"/> (operand-shaped): a gather with the same dimension numbers.</summary>
    private static Value GatherWindows(VjpContext c, Value v, TensorType updates)
    {
        var a = c.Attr;
        return c.Emit("gather", [v, c.X(1)],
            ("offset_dims", A.Ints([.. a.Ints("update_window_dims")])),
            ("collapsed_slice_dims", A.Ints([.. a.Ints("inserted_window_dims")])),
            ("start_index_map", A.Ints([.. a.Ints("scatter_dims_to_operand_dims")])),
            ("index_vector_dim", A.Int(a.Int("index_vector_dim"))),
            ("slice_sizes", A.Ints(WindowSizes(c, updates))),
            ("operand_batching_dims", A.Ints([.. a.Ints("input_batching_dims")])),
            ("start_indices_batching_dims", A.Ints([.. a.Ints("scatter_indices_batching_dims")])));
    }

    /// <summary>
    /// Which updates were applied: a window is in bounds when clamping its start (as gather does) leaves
    /// it unchanged; the per-index-vector answer is broadcast over the update's window.
    /// </summary>
    private static Value InBounds(VjpContext c, TensorType updates)
    {
        var x = c.X(0).Type;
        var idx = c.X(1);
        int ivd = c.Attr.Int32("index_vector_dim");
        var map = c.Attr.Ints("scatter_dims_to_operand_dims");
        var sizes = WindowSizes(c, updates);
        var same = c.Compare(ClampStarts(c, idx, ivd, [.. map.Select(d => x.Shape[(int)d] - sizes[d])]), idx, "eq");
        if (ivd < idx.Type.Rank) same = c.Reduce(same, "and", [ivd]);
        var uwd = c.Attr.Ints("update_window_dims");
        var scatterDims = Enumerable.Range(0, updates.Rank).Where(d => !uwd.Contains(d)).Select(d => (long)d).ToList();
        return c.Broadcast(same, updates.WithElement(ElementType.Bool), scatterDims);
    }

    /// <summary>
    /// Which updates survive in the result: every update scatters its own id (replace, so the op's
    /// winner writes last), and an update is a winner when its target holds its id afterwards. A skipped
    /// window writes nothing, so its id is never found.
    /// </summary>
    private static Value Winners(VjpContext c, (string, Attr)[] dims, TensorType updates)
    {
        var idType = updates.WithElement(ElementType.I64);
        Value ids = c.B.Scalar(ElementType.I64, 0);
        if (updates.Rank > 0)
        {
            long stride = 1;
            for (int d = updates.Rank - 1; d >= 0; d--)
            {
                var along = c.B.Emit("iota", [], AttrMap.Of(("dimension", A.Int(d))), idType);
                ids = d == updates.Rank - 1 ? along : c.Add(ids, c.Mul(along, c.Const(stride, idType)));
                stride *= updates.Shape[d];
            }
        }
        var written = c.Emit("scatter", [c.Const(-1, c.X(0).Type.WithElement(ElementType.I64)), c.X(1), ids], [.. dims, ("kind", A.Enum("replace"))]);
        return c.Compare(GatherWindows(c, written, updates), ids, "eq");
    }

    /// <summary>Index vector entry j (along <paramref name="ivd"/>) clamped to [0, <paramref name="upper"/>[j]].</summary>
    private static Value ClampStarts(VjpContext c, Value idx, int ivd, long[] upper)
    {
        var t = idx.Type;
        var lo = c.B.Scalar(t.Element, 0);
        Value hi;
        if (ivd == t.Rank) hi = c.B.Scalar(t.Element, upper[0]);
        else
        {
            var vector = c.B.Constant(Tensor.FromInt64s(new TensorType(t.Element, upper.Length), upper));
            hi = c.Broadcast(vector, t, [ivd]);
        }
        return c.Emit("clamp", lo, idx, hi);
    }

    /// <summary>
    /// sort and top_k: values[p] = x[p with dim d replaced by indices[p]], so each dy element goes back to
    /// the one position its value came from: a scatter-add along d, batched over the other dims. The
    /// indices are a permutation (a selection for top_k), so tied values each get their own element.
    /// </summary>
    public static readonly VjpRule Sort = c => [Unpermute(c, c.Attr.Int32("dimension"))];

    public static readonly VjpRule TopK = c => [Unpermute(c, c.X(0).Type.Rank - 1)];

    private static Value Unpermute(VjpContext c, int dim)
    {
        var x = c.X(0).Type;
        var batch = Enumerable.Range(0, x.Rank).Where(d => d != dim).Select(d => (long)d).ToArray();
        return c.Emit("scatter", [c.Zeros(x), c.Y(1), c.Dy],
            ("update_window_dims", A.Ints()),
            ("inserted_window_dims", A.Ints(dim)),
            ("scatter_dims_to_operand_dims", A.Ints(dim)),
            ("index_vector_dim", A.Int(x.Rank)),
            ("input_batching_dims", A.Ints(batch)),
            ("scatter_indices_batching_dims", A.Ints(batch)),
            ("kind", A.Enum("add")));
    }

    /// <summary>dynamic_slice: dy written at the (identically clamped) start into zeros.</summary>
    public static readonly VjpRule DynamicSlice = c =>
    {
        var result = new Value?[c.Op.Operands.Length];
        result[0] = c.Emit("dynamic_update_slice", [c.Zeros(c.X(0).Type), c.Dy, .. c.Op.Operands[1..]]);
        return result;
    };

    /// <summary>dynamic_update_slice: the operand gets dy outside the window, the update dy inside it.</summary>
    public static readonly VjpRule DynamicUpdateSlice = c =>
    {
        var result = new Value?[c.Op.Operands.Length];
        var starts = c.Op.Operands[2..];
        var u = c.X(1).Type;
        if (c.Needs(0)) result[0] = c.Emit("dynamic_update_slice", [c.Dy, c.Zeros(u), .. starts]);
        if (c.Needs(1)) result[1] = c.Emit("dynamic_slice", [c.Dy, .. starts], ("sizes", A.Ints([.. u.Shape])));
        return result;
    };
}
