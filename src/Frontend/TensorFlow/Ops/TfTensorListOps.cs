using System.Collections.Immutable;
using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>
/// A TensorList (the DT_VARIANT value of TF2's list ops and <c>tf.TensorArray</c>), decided while importing as
/// the ONNX importer decides sequences: compiled code has static shapes, so the list's length and every
/// position it is read or written at are known, and its items are IR tensors. It never reaches the IR.
/// </summary>
/// <param name="ElementDType">The list's <c>element_dtype</c>.</param>
/// <param name="ElementShape">The list's element shape: null for an unknown rank, -1 for an unknown dimension.</param>
/// <param name="Items">The items; null for one not set yet, which TF reads as zeros of the element shape.</param>
public sealed record TfTensorList(DataType ElementDType, long[]? ElementShape, ImmutableArray<Value?> Items)
{
    public override string ToString() => $"TensorList of {Items.Length} (element_dtype {FrameworkElementTypes.TensorFlowName(ElementDType)})";
}

/// <summary>
/// TensorList ops lowered at import time (see <see cref="TfTensorList"/>): what reaches the IR are the item
/// tensors and the slices, reshapes and concatenations that split and join them. A position or length that
/// depends on runtime values, or a list carried through a <c>While</c>, is a clear error naming the node.
/// </summary>
public static class TfTensorListOps
{
    /// <summary>TF's element_shape for "unknown rank" (a scalar -1).</summary>
    private const long UnknownDim = -1;

    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("EmptyTensorList", Empty), ("TensorListReserve", Reserve), ("TensorListFromTensor", FromTensor),
        ("TensorListSetItem", SetItem), ("TensorListGetItem", GetItem), ("TensorListStack", Stack), ("TensorListGather", Gather),
        ("TensorListLength", Length), ("TensorListPushBack", PushBack), ("TensorListPopBack", PopBack),
        ("TensorListElementShape", ElementShapeOp), ("TensorListConcatV2", ConcatV2), ("TensorListResize", Resize),
        ("TensorListSplit", Split),
    ];

    /// <summary>The ops whose output 0 is a list (DT_VARIANT), not a tensor: never a default fetch.</summary>
    public static bool GivesList(string op) => op is "EmptyTensorList" or "TensorListReserve" or "TensorListFromTensor"
        or "TensorListSetItem" or "TensorListPushBack" or "TensorListPopBack" or "TensorListResize" or "TensorListSplit";

    // ---- making lists ------------------------------------------------------------------------------

    private static void Empty(TfNode n) => n.Output(0, new TfTensorList(n.DType("element_dtype"), ShapeInput(n, 0), []));

    private static void Reserve(TfNode n)
    {
        long count = Position(n, 1, "num_elements");
        if (count < 0) throw n.Error($"num_elements is {count}; it must not be negative");
        n.Output(0, new TfTensorList(n.DType("element_dtype"), ShapeInput(n, 0), [.. new Value?[count]]));
    }

    /// <summary>TensorListFromTensor: the slices of the tensor along dimension 0.</summary>
    private static void FromTensor(TfNode n)
    {
        var x = n.Input(0);
        if (x.Type.Rank == 0) throw n.Error("the tensor must have at least one dimension");
        long[] itemShape = [.. x.Type.Shape.Skip(1)];
        var shape = Merge(n, itemShape, ShapeInput(n, 1));
        var items = Enumerable.Range(0, (int)x.Type.Shape[0]).Select(i => (Value?)n.L.Reshape(TfArrayOps.SliceAxis(n.L, x, 0, i, i + 1), itemShape));
        n.Output(0, new TfTensorList(n.DType("element_dtype"), shape, [.. items]));
    }

    /// <summary>TensorListSplit: consecutive pieces of the tensor along dimension 0, of the given lengths.</summary>
    private static void Split(TfNode n)
    {
        var x = n.Input(0);
        if (x.Type.Rank == 0) throw n.Error("the tensor must have at least one dimension");
        var lengths = Known(n, 2, "lengths");
        if (lengths.Any(l => l < 0) || lengths.Sum() != x.Type.Shape[0])
            throw n.Error($"lengths [{string.Join(", ", lengths)}] do not add up to dimension 0 of {x.Type}");
        var elementShape = ShapeInput(n, 1);
        var items = new List<Value?>();
        long start = 0;
        foreach (var l in lengths)
        {
            items.Add(TfArrayOps.SliceAxis(n.L, x, 0, start, start + l));
            start += l;
        }
        var rest = Merge(n, [UnknownDim, .. x.Type.Shape.Skip(1)], elementShape);
        n.Output(0, new TfTensorList(n.DType("element_dtype"), rest, [.. items]));
    }

    // ---- changing lists ----------------------------------------------------------------------------

    private static void SetItem(TfNode n)
    {
        var list = ListInput(n, 0);
        var item = Item(n, list, 2);
        long i = Position(n, 1, "index");
        var items = list.Items;
        if (i >= items.Length && n.Bool("resize_if_index_out_of_bounds", false)) items = items.AddRange(new Value?[i + 1 - items.Length]);
        if (i < 0 || i >= items.Length) throw n.Error($"index {i} is out of range for a list of {items.Length}");
        n.Output(0, list with { Items = items.SetItem((int)i, item) });
    }

    private static void PushBack(TfNode n)
    {
        var list = ListInput(n, 0);
        n.Output(0, list with { Items = list.Items.Add(Item(n, list, 1)) });
    }

    private static void PopBack(TfNode n)
    {
        var list = ListInput(n, 0);
        if (list.Items.Length == 0) throw n.Error("popping from an empty list");
        n.Output(0, list with { Items = list.Items.RemoveAt(list.Items.Length - 1) });
        n.Output(1, Materialize(n, list, list.Items.Length - 1, Merge(n, list.ElementShape, ShapeInput(n, 1))));
    }

    /// <summary>TensorListResize: truncates, or pads with items not set yet.</summary>
    private static void Resize(TfNode n)
    {
        var list = ListInput(n, 0);
        long size = Position(n, 1, "size");
        if (size < 0) throw n.Error($"size is {size}; it must not be negative");
        IEnumerable<Value?> items = size <= list.Items.Length ? list.Items.Take((int)size) : list.Items.AddRange(new Value?[size - list.Items.Length]);
        n.Output(0, list with { Items = [.. items] });
    }

    // ---- reading lists -----------------------------------------------------------------------------

    private static void GetItem(TfNode n)
    {
        var list = ListInput(n, 0);
        long i = Position(n, 1, "index");
        if (i < 0 || i >= list.Items.Length) throw n.Error($"index {i} is out of range for a list of {list.Items.Length}");
        n.Output(0, Materialize(n, list, (int)i, Merge(n, list.ElementShape, ShapeInput(n, 2))));
    }

    // The length is static by construction, so it is a constant.
    private static void Length(TfNode n) => n.Output(0, n.L.Constant(Tensor.Scalar(ElementType.I32, ListInput(n, 0).Items.Length)));

    /// <summary>TensorListElementShape: the list's element shape as a tensor (-1 for an unknown dimension; a scalar -1 for an unknown rank).</summary>
    private static void ElementShapeOp(TfNode n)
    {
        var shape = ListInput(n, 0).ElementShape;
        var e = n.Type("shape_type");
        n.Output(0, n.L.Constant(shape is null ? Tensor.Scalar(e, UnknownDim) : Tensor.FromInt64s(new TensorType(e, shape.Length), shape)));
    }

    /// <summary>TensorListStack: the items stacked along a new dimension 0 (items not set are zeros).</summary>
    private static void Stack(TfNode n)
    {
        var list = ListInput(n, 0);
        long expected = n.Int("num_elements", UnknownDim);
        if (expected != UnknownDim && expected != list.Items.Length)
            throw n.Error($"num_elements is {expected}, but the list has {list.Items.Length}");
        n.Output(0, Stacked(n, list, [.. Enumerable.Range(0, list.Items.Length)], ShapeInput(n, 1)));
    }

    /// <summary>TensorListGather: the items at the given positions, stacked.</summary>
    private static void Gather(TfNode n)
    {
        var list = ListInput(n, 0);
        var indices = Known(n, 1, "indices");
        foreach (var i in indices)
            if (i < 0 || i >= list.Items.Length) throw n.Error($"index {i} is out of range for a list of {list.Items.Length}");
        n.Output(0, Stacked(n, list, [.. indices.Select(i => (int)i)], ShapeInput(n, 2)));
    }

    /// <summary>
    /// TensorListConcatV2: the items joined along their dimension 0, and each item's length along it. An item not
    /// set is zeros of the element shape, its dimension 0 taken from <c>leading_dims</c> when the shape leaves it open.
    /// </summary>
    private static void ConcatV2(TfNode n)
    {
        var list = ListInput(n, 0);
        var shape = Merge(n, list.ElementShape, ShapeInput(n, 1));
        var leading = Known(n, 2, "leading_dims");
        foreach (var v in list.Items) if (v is not null) shape = Merge(n, shape, [UnknownDim, .. v.Type.Shape.Skip(1)]);
        var parts = new List<Value>();
        for (int i = 0; i < list.Items.Length; i++)
        {
            if (list.Items[i] is { } v)
            {
                if (v.Type.Rank == 0) throw n.Error($"item {i} is a scalar; concatenation needs items of rank 1 or more");
                parts.Add(v);
                continue;
            }
            if (shape is null or []) throw n.Error($"item {i} was never set and the element shape {Describe(shape)} does not say its size");
            long first = shape[0] != UnknownDim ? shape[0] : i < leading.Length ? leading[i] : UnknownDim;
            parts.Add(Materialize(n, list, i, [first, .. shape.Skip(1)]));
        }
        if (parts.Count == 0)
        {
            if (shape is null || shape.Skip(1).Any(d => d == UnknownDim))
                throw n.Error($"concatenating an empty list needs a known element shape past dimension 0, got {Describe(shape)}");
            parts.Add(n.L.Fill(new TensorType(ElementTypeOf(n, list), (long[])[0, .. shape.Skip(1)]), 0));
        }
        n.Output(0, parts.Count == 1 ? parts[0] : n.L.Emit("concatenate", [.. parts], ("dimension", A.Int(0))));
        var lengths = list.Items.Length == 0 ? [] : parts.Select(p => p.Type.Shape[0]).ToArray();
        n.Output(1, n.L.Constant(Tensor.FromInt64s(new TensorType(ElementType.I64, lengths.Length), lengths)));
    }

    // ---- shared ------------------------------------------------------------------------------------

    private static TfTensorList ListInput(TfNode n, int i) => n.Raw(i) switch
    {
        TfTensorList l => l,
        Value v => throw n.Error($"input #{i} is a tensor {v.Type}, not a TensorList"),
        var o => throw n.Error($"input #{i} is {o}, not a TensorList"),
    };

    /// <summary>A known integer input (a position, length, list of indices): TensorLists are resolved at import time.</summary>
    private static long[] Known(TfNode n, int i, string what)
    {
        var t = n.Known(i) ?? throw n.Error($"{what} (input #{i}) depends on runtime values; TensorLists are resolved at import time, so their positions and lengths must be constants");
        return [.. Enumerable.Range(0, (int)t.ElementCount).Select(k => t.GetInt64(k))];
    }

    private static long Position(TfNode n, int i, string what)
    {
        var v = Known(n, i, what);
        return v.Length == 1 ? v[0] : throw n.Error($"{what} must be a scalar, got {v.Length} values");
    }

    /// <summary>An element_shape input: a scalar -1 (unknown rank) or a vector with -1 for unknown dimensions.</summary>
    private static long[]? ShapeInput(TfNode n, int i)
    {
        var t = n.Known(i) ?? throw n.Error($"element_shape (input #{i}) must be known at import time");
        if (t.Type.Rank == 0)
            return t.GetInt64(0) == UnknownDim ? null : throw n.Error($"element_shape is the scalar {t.GetInt64(0)}; only -1 (unknown rank) is a scalar shape");
        var dims = Enumerable.Range(0, (int)t.ElementCount).Select(k => t.GetInt64(k)).ToArray();
        return dims.All(d => d >= UnknownDim) ? dims : throw n.Error($"element_shape {Describe(dims)} has a dimension below -1");
    }

    /// <summary>The more specific of two partial shapes (TF's PartialTensorShape::MergeWith); they must agree.</summary>
    private static long[]? Merge(TfNode n, long[]? a, long[]? b)
    {
        if (a is null) return b;
        if (b is null) return a;
        if (a.Length != b.Length) throw n.Error($"element shapes {Describe(a)} and {Describe(b)} have different ranks");
        var m = new long[a.Length];
        for (int d = 0; d < a.Length; d++)
        {
            if (a[d] != UnknownDim && b[d] != UnknownDim && a[d] != b[d])
                throw n.Error($"element shapes {Describe(a)} and {Describe(b)} do not agree in dimension {d}");
            m[d] = a[d] == UnknownDim ? b[d] : a[d];
        }
        return m;
    }

    private static string Describe(long[]? shape) => shape is null ? "(unknown rank)" : $"[{string.Join(", ", shape.Select(d => d == UnknownDim ? "?" : d.ToString()))}]";

    private static ElementType ElementTypeOf(TfNode n, TfTensorList list) =>
        FrameworkElementTypes.TryFromTensorFlow(list.ElementDType, out var e, out var reason) ? e
            : throw n.Unsupported($"element_dtype {FrameworkElementTypes.TensorFlowName(list.ElementDType)}: {reason}");

    /// <summary>Input <paramref name="i"/> as an item of <paramref name="list"/>: of its element type and compatible with its element shape.</summary>
    private static Value Item(TfNode n, TfTensorList list, int i)
    {
        if (n.Raw(i) is TfTensorList) throw n.Unsupported("a TensorList as a list item (lists of lists)");
        var v = n.Input(i);
        if (v.Type.Element != ElementTypeOf(n, list)) throw n.Error($"item {v.Type} does not have the list's element type {ElementTypeOf(n, list).Name()}");
        Merge(n, list.ElementShape, [.. v.Type.Shape]);
        return v;
    }

    /// <summary>Item <paramref name="i"/>, or zeros of <paramref name="shape"/> for an item not set yet (TF's reading of it).</summary>
    private static Value Materialize(TfNode n, TfTensorList list, int i, long[]? shape)
    {
        if (list.Items[i] is { } v)
        {
            Merge(n, shape, [.. v.Type.Shape]);
            return v;
        }
        if (shape is null || shape.Contains(UnknownDim))
            throw n.Error($"item {i} was never set and the element shape {Describe(shape)} is not fully known, so its zeros have no shape");
        return n.L.Fill(new TensorType(ElementTypeOf(n, list), shape), 0);
    }

    /// <summary>Items at <paramref name="positions"/> stacked along a new dimension 0; the shape of unset items comes from the list, the input and the set items.</summary>
    private static Value Stacked(TfNode n, TfTensorList list, int[] positions, long[]? inputShape)
    {
        var shape = Merge(n, list.ElementShape, inputShape);
        foreach (var v in list.Items) if (v is not null) shape = Merge(n, shape, [.. v.Type.Shape]);
        if (positions.Length == 0)
        {
            if (shape is null || shape.Contains(UnknownDim))
                throw n.Error($"stacking an empty list needs a fully known element shape, got {Describe(shape)}");
            return n.L.Fill(new TensorType(ElementTypeOf(n, list), (long[])[0, .. shape]), 0);
        }
        var rows = positions.Select(i => Materialize(n, list, i, shape)).Select(v => n.L.Reshape(v, [1, .. v.Type.Shape])).ToArray();
        return rows.Length == 1 ? rows[0] : n.L.Emit("concatenate", rows, ("dimension", A.Int(0)));
    }
}
