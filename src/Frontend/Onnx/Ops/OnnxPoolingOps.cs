using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;
using static GraphCompiler.Frontend.Onnx.Ops.OnnxMatMulOps;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>MaxPool (with Indices), AveragePool, LpPool, the Global* pools and MaxUnpool, on N×C×spatial tensors.</summary>
public static class OnnxPoolingOps
{
    /// <summary>One pooling node's window over the spatial dims.</summary>
    private sealed record Window(long[] Kernel, long[] Strides, long[] Dilations, long[] Lo, long[] Hi, long[] Extra, long[] Out);

    /// <summary>
    /// The window of a pooling node. <c>Extra</c> is padding past <c>Hi</c> that ceil_mode needs for the last
    /// window; a last window that would start past the input and the begin padding is dropped (as PyTorch
    /// and onnxruntime do), so every window covers at least one input or explicit-pad element.
    /// </summary>
    private static Window GetWindow(OnnxNode n, Value x)
    {
        int r = x.Type.Rank - 2;
        if (r < 1) throw n.Error($"pooling needs an N×C×spatial input, got {x.Type}");
        var kernel = n.Ints("kernel_shape") ?? throw n.Error("attribute 'kernel_shape' is required");
        if (kernel.Length != r) throw n.Error($"kernel_shape has {kernel.Length} entries for {r} spatial dims");
        var strides = OnnxConvOps.Attr(n, "strides", r, 1);
        var dil = OnnxConvOps.Attr(n, "dilations", r, 1);
        var inSp = x.Type.Shape.Skip(2).ToArray();
        var (lo, hi) = OnnxConvOps.Pads(n, inSp, kernel, strides, dil);
        bool ceil = n.Int("ceil_mode", 0) == 1;
        var extra = new long[r];
        var outSize = new long[r];
        for (int i = 0; i < r; i++)
        {
            long span = (kernel[i] - 1) * dil[i] + 1;
            long room = inSp[i] + lo[i] + hi[i] - span;
            if (room < 0) throw n.Error($"the window ({span}) is larger than the padded input ({inSp[i] + lo[i] + hi[i]})");
            long o = room / strides[i] + 1;
            if (ceil && room % strides[i] != 0)
            {
                o++;
                if ((o - 1) * strides[i] >= inSp[i] + lo[i]) o--;
            }
            outSize[i] = o;
            extra[i] = Math.Max(0, (o - 1) * strides[i] + span - (inSp[i] + lo[i] + hi[i]));
        }
        return new Window(kernel, strides, dil, lo, hi, extra, outSize);
    }

    private static long[] Full(long[] spatial, long fill) => [fill, fill, .. spatial];

    private static Value ReduceWindow(Lowerer l, Value x, string kind, Window w, long[] lo, long[] hi, long[] outSpatial) =>
        l.Emit("reduce_window", [x], AttrMap.Of(("kind", new EnumAttr(kind)), ("window", Ints(Full(w.Kernel, 1))),
            ("strides", Ints(Full(w.Strides, 1))), ("padding_low", Ints(Full(lo, 0))), ("padding_high", Ints(Full(hi, 0))),
            ("window_dilation", Ints(Full(w.Dilations, 1)))),
            x.Type.WithShape([x.Type.Shape[0], x.Type.Shape[1], .. outSpatial]));

    private static long[] HiWithExtra(Window w) => [.. w.Hi.Select((h, i) => h + w.Extra[i])];

    private static void MaxPool(OnnxNode n)
    {
        var x = n.Input(0);
        var w = GetWindow(n, x);
        var y = ReduceWindow(n.L, x, "max", w, w.Lo, HiWithExtra(w), w.Out);
        n.Output(0, y);
        if (n.WantsOutput(1)) n.Output(1, MaxPoolIndices(n, x, w, y));
    }

    /// <summary>
    /// The flattened index (row-major over N×C×spatial, or with the spatial dims column-major when
    /// storage_order = 1) of each window's first maximum: every kernel tap becomes a strided slice of the
    /// padded input, stacked on a new last axis, where arg_reduce picks the first maximum.
    /// </summary>
    private static Value MaxPoolIndices(OnnxNode n, Value x, Window w, Value y)
    {
        var l = n.L;
        long storage = n.Int("storage_order", 0);
        if (storage is not (0 or 1)) throw n.Unsupported($"storage_order={storage}");
        var shape = x.Type.Shape.ToArray();
        int rank = shape.Length, r = rank - 2;
        // Flattened index of every element.
        var strideOf = new long[rank];
        long acc = 1;
        var order = storage == 0 ? Enumerable.Range(0, rank).Reverse() : Enumerable.Range(2, r).Concat([1, 0]);
        foreach (var d in order)
        {
            strideOf[d] = acc;
            acc *= shape[d];
        }
        var i64 = x.Type.WithElement(ElementType.I64);
        Value index = l.Fill(i64, 0);
        for (int d = 0; d < rank; d++)
        {
            var iota = l.Emit("iota", [], AttrMap.Of(("dimension", new IntAttr(d))), i64);
            index = l.Emit("add", index, l.Emit("mul", iota, l.Fill(i64, strideOf[d])));
        }
        var hi = HiWithExtra(w);
        var lowest = x.Type.Element switch
        {
            ElementType.I8 => sbyte.MinValue,
            ElementType.I16 => short.MinValue,
            ElementType.I32 => int.MinValue,
            ElementType.I64 => long.MinValue,
            _ when x.Type.Element.IsFloat() => double.NegativeInfinity,
            _ => 0.0,
        };
        Value Pad(Value v, double fill) => l.Emit("pad", [v, l.Scalar(v.Type.Element, fill)], AttrMap.Of(
            ("low", Ints(Full(w.Lo, 0))), ("high", Ints(Full(hi, 0))), ("interior", Ints(new long[rank]))),
            v.Type.WithShape([.. shape.Select((s, d) => d < 2 ? s : s + w.Lo[d - 2] + hi[d - 2])]));
        var px = Pad(x, lowest);
        var pi = Pad(index, -1);
        var outShape = y.Type.Shape.ToArray();
        long taps = w.Kernel.Aggregate(1L, (a, b) => a * b);
        var xs = new List<Value>();
        var ids = new List<Value>();
        for (long t = 0; t < taps; t++)
        {
            var start = new long[rank];
            var limit = new long[rank];
            var step = new long[rank];
            long rest = t;
            for (int d = rank - 1; d >= 0; d--)
            {
                if (d < 2)
                {
                    (start[d], limit[d], step[d]) = (0, shape[d], 1);
                    continue;
                }
                long k = rest % w.Kernel[d - 2];
                rest /= w.Kernel[d - 2];
                start[d] = k * w.Dilations[d - 2];
                step[d] = w.Strides[d - 2];
                limit[d] = start[d] + (outShape[d] - 1) * step[d] + 1;
            }
            var attrs = AttrMap.Of(("start", Ints(start)), ("limit", Ints(limit)), ("stride", Ints(step)));
            xs.Add(l.Reshape(l.Emit("slice", [px], attrs, px.Type.WithShape([.. outShape])), [.. outShape, 1]));
            ids.Add(l.Reshape(l.Emit("slice", [pi], attrs, pi.Type.WithShape([.. outShape])), [.. outShape, 1]));
        }
        Value Stack(List<Value> vs) => vs.Count == 1 ? vs[0] : l.Emit("concatenate", [.. vs], ("dimension", new IntAttr(rank)));
        var xstack = Stack(xs);
        var istack = Stack(ids);
        var arg = l.Emit("arg_reduce", [xstack], AttrMap.Of(("kind", new EnumAttr("max")), ("dimension", new IntAttr(rank))),
            new TensorType(ElementType.I64, outShape));
        var iotaT = l.Emit("iota", [], AttrMap.Of(("dimension", new IntAttr(rank))), istack.Type);
        var hit = l.Compare("eq", iotaT, l.Reshape(arg, [.. outShape, 1]));
        return l.Reduce(l.Select(hit, istack, l.Full(istack, 0)), "sum", [rank], keepDims: false);
    }

    /// <summary>
    /// AveragePool: a sum window divided by a count computed at import time: with count_include_pad the
    /// explicit pads count (the ceil_mode extension never does), without it only input elements count.
    /// </summary>
    private static void AveragePool(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        var w = GetWindow(n, x);
        var hi = HiWithExtra(w);
        var sum = ReduceWindow(l, x, "sum", w, w.Lo, hi, w.Out);
        var inSp = x.Type.Shape.Skip(2).ToArray();
        Value count;
        if (n.Int("count_include_pad", 0) == 1)
        {
            var ones = l.Fill(new TensorType(x.Type.Element, (long[])[1, 1, .. inSp.Select((s, i) => s + w.Lo[i] + w.Hi[i])]), 1);
            count = ReduceWindow(l, ones, "sum", w, new long[inSp.Length], w.Extra, w.Out);
        }
        else
        {
            var ones = l.Fill(new TensorType(x.Type.Element, (long[])[1, 1, .. inSp]), 1);
            count = ReduceWindow(l, ones, "sum", w, w.Lo, hi, w.Out);
        }
        n.Output(0, l.Binary("div", sum, count));
    }

    /// <summary>LpPool: (sum over the window of |x|^p)^(1/p); padding contributes 0.</summary>
    private static void LpPool(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        var w = GetWindow(n, x);
        double p = n.Int("p", 2);
        var e = x.Type.Element;
        var powed = l.Binary("pow", l.Emit("abs", x), l.Scalar(e, p));
        var sum = ReduceWindow(l, powed, "sum", w, w.Lo, HiWithExtra(w), w.Out);
        n.Output(0, l.Binary("pow", sum, l.Scalar(e, 1 / p)));
    }

    private static OnnxLowering Global(string kind) => n =>
    {
        var l = n.L;
        var x = n.Input(0);
        if (x.Type.Rank < 3) throw n.Error($"needs an N×C×spatial input, got {x.Type}");
        var axes = Enumerable.Range(2, x.Type.Rank - 2).ToArray();
        long count = axes.Aggregate(1L, (c, a) => c * x.Type.Shape[a]);
        var e = x.Type.Element;
        switch (kind)
        {
            case "max":
                n.Output(0, l.Reduce(x, "max", axes, keepDims: true));
                break;
            case "avg":
                n.Output(0, l.Binary("div", l.Reduce(x, "sum", axes, keepDims: true), l.Scalar(e, count)));
                break;
            default:
                double p = n.Int("p", 2);
                var s = l.Reduce(l.Binary("pow", l.Emit("abs", x), l.Scalar(e, p)), "sum", axes, keepDims: true);
                n.Output(0, l.Binary("pow", s, l.Scalar(e, 1 / p)));
                break;
        }
    };

    /// <summary>
    /// MaxUnpool: zeros of the output shape (output_shape input when given, else the inferred
    /// (in − 1)·stride + kernel − pads) with X scattered to the flattened indices I, which address the
    /// inferred shape (the ONNX reference keeps each element's coordinates when output_shape is larger).
    /// </summary>
    private static void MaxUnpool(OnnxNode n)
    {
        var l = n.L;
        var (x, idx) = (n.Input(0), n.Input(1));
        int r = x.Type.Rank - 2;
        var kernel = n.Ints("kernel_shape") ?? throw n.Error("attribute 'kernel_shape' is required");
        var strides = OnnxConvOps.Attr(n, "strides", r, 1);
        var pads = OnnxConvOps.Attr(n, "pads", 2 * r, 0);
        long[] inferred = [x.Type.Shape[0], x.Type.Shape[1],
            .. Enumerable.Range(0, r).Select(i => (x.Type.Shape[i + 2] - 1) * strides[i] + kernel[i] - pads[i] - pads[r + i])];
        long[] outShape = n.Has(2) ? n.KnownInts(2, "output_shape") : inferred;
        long total = outShape.Aggregate(1L, (a, b) => a * b);
        long k = x.Type.ElementCount;
        var flat = l.Fill(new TensorType(x.Type.Element, total), 0);
        var flatIndices = l.Convert(idx, ElementType.I64);
        if (!outShape.SequenceEqual(inferred))
        {
            // Indices address the inferred shape; each element keeps its coordinates in the larger output.
            Value? moved = null;
            long inStride = 1, outStride = 1;
            for (int d = inferred.Length - 1; d >= 0; d--)
            {
                var coord = l.Binary("rem", l.Binary("div", flatIndices, l.Scalar(ElementType.I64, inStride)), l.Scalar(ElementType.I64, inferred[d]));
                var term = l.Binary("mul", coord, l.Scalar(ElementType.I64, outStride));
                moved = moved is null ? term : l.Binary("add", moved, term);
                inStride *= inferred[d];
                outStride *= outShape[d];
            }
            flatIndices = moved!;
        }
        var indices = l.Reshape(flatIndices, k, 1);
        var updates = l.Reshape(x, k);
        var y = l.Emit("scatter", [flat, indices, updates], AttrMap.Of(("update_window_dims", Ints(Array.Empty<long>())),
            ("inserted_window_dims", Ints([0L])), ("scatter_dims_to_operand_dims", Ints([0L])), ("index_vector_dim", new IntAttr(1))),
            flat.Type);
        n.Output(0, l.Reshape(y, outShape));
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("MaxPool", MaxPool), ("AveragePool", AveragePool), ("LpPool", LpPool),
        ("GlobalMaxPool", Global("max")), ("GlobalAveragePool", Global("avg")), ("GlobalLpPool", Global("lp")),
        ("MaxUnpool", MaxUnpool),
    ];
}
