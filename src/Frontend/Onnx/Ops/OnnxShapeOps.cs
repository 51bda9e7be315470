using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>ONNX ops that create constants or rearrange elements: Constant, Shape, Reshape, Squeeze, Transpose, Concat, Split, Slice, Expand, Tile, Pad, ...</summary>
public static class OnnxShapeOps
{
    private static void Constant(OnnxNode n)
    {
        Tensor t;
        if (n.HasAttr("value")) t = n.TensorAttr("value");
        else if (n.HasAttr("value_float")) t = Tensor.Scalar(ElementType.F32, n.Float("value_float", 0));
        else if (n.HasAttr("value_floats")) t = Vector(ElementType.F32, n.Floats("value_floats")!.Select(f => (double)f).ToArray());
        else if (n.HasAttr("value_int")) t = Tensor.FromInt64s(TensorType.Scalar(ElementType.I64), [n.Int("value_int")]);
        else if (n.HasAttr("value_ints")) t = Tensor.FromInt64s(new TensorType(ElementType.I64, n.Ints("value_ints")!.Length), n.Ints("value_ints")!);
        else if (n.HasAttr("sparse_value")) t = Sparse(n);
        else if (n.HasAttr("value_string") || n.HasAttr("value_strings")) throw n.Unsupported("string constants");
        else throw n.Error("has no value attribute");
        n.Output(0, n.L.Constant(t));
    }

    private static Tensor Vector(ElementType e, double[] values) => Tensor.FromDoubles(new TensorType(e, values.Length), values);

    /// <summary>A SparseTensorProto densified: indices are [NNZ] linear or [NNZ, rank] coordinates.</summary>
    private static Tensor Sparse(OnnxNode n)
    {
        var sp = n.Proto.Attribute.First(a => a.Name == "sparse_value").SparseTensor;
        var values = TensorProtoConverter.FromOnnx(sp.Values).Value ?? throw n.Error("sparse_value: unreadable values");
        var indices = TensorProtoConverter.FromOnnx(sp.Indices).Value ?? throw n.Error("sparse_value: unreadable indices");
        var type = new TensorType(values.Element, sp.Dims.ToArray());
        var strides = type.Strides();
        var bytes = new byte[type.ByteSize];
        int es = values.Element.ByteSize();
        long nnz = values.ElementCount;
        for (long k = 0; k < nnz; k++)
        {
            long linear = 0;
            if (indices.Type.Rank == 1) linear = indices.GetInt64(k);
            else
                for (int d = 0; d < type.Rank; d++) linear += indices.GetInt64(k * type.Rank + d) * strides[d];
            if (linear < 0 || linear >= type.ElementCount) throw n.Error($"sparse_value index {linear} is out of range for {type}");
            values.ElementBytes(k).CopyTo(bytes.AsSpan((int)(linear * es)));
        }
        return Tensor.FromBytes(type, bytes);
    }

    private static void ConstantOfShape(OnnxNode n)
    {
        var shape = OnnxT.KnownInts(n, 0, "shape");
        if (shape.Any(d => d < 0)) throw n.Error($"shape [{string.Join(", ", shape)}] has a negative dimension");
        var value = n.HasAttr("value") ? n.TensorAttr("value") : Tensor.Scalar(ElementType.F32, 0);
        if (value.ElementCount != 1) throw n.Error($"value must have one element, got {value.Type}");
        var scalar = n.L.Constant(Tensor.FromBytes(TensorType.Scalar(value.Element), value.Bytes));
        n.Output(0, n.L.Broadcast(scalar, [.. shape]));
    }

    private static void Shape(OnnxNode n)
    {
        var dims = n.Input(0).Type.Shape;
        int r = dims.Length;
        long Clamp(long v) => Math.Clamp(v < 0 ? v + r : v, 0, r);
        long start = Clamp(n.Int("start", 0)), end = n.HasAttr("end") ? Clamp(n.Int("end")) : r;
        n.Output(0, n.L.Ints(ElementType.I64, [.. dims.Skip((int)start).Take((int)Math.Max(0, end - start))]));
    }

    private static void Size(OnnxNode n) =>
        n.Output(0, n.L.Constant(Tensor.FromInt64s(TensorType.Scalar(ElementType.I64), [n.Input(0).Type.ElementCount])));

    private static void Reshape(OnnxNode n)
    {
        var x = n.Input(0);
        var shape = n.Opset < 5 ? n.Ints("shape") ?? throw n.Error("attribute 'shape' is required") : OnnxT.KnownInts(n, 1, "shape");
        bool allowZero = n.Opset >= 14 && n.Int("allowzero", 0) != 0;
        n.Output(0, n.L.Reshape(x, ReshapeTarget(n, x.Type.Shape.ToArray(), shape, allowZero)));
    }

    /// <summary>ONNX's reshape rule: 0 copies the input dimension (unless allowzero), one -1 is inferred.</summary>
    internal static long[] ReshapeTarget(OnnxNode n, long[] input, long[] shape, bool allowZero)
    {
        var t = shape.ToArray();
        int infer = -1;
        for (int i = 0; i < t.Length; i++)
        {
            if (t[i] == 0 && !allowZero)
            {
                if (i >= input.Length) throw n.Error($"shape [{string.Join(", ", shape)}] copies dimension {i}, but the input has rank {input.Length}");
                t[i] = input[i];
            }
            else if (t[i] == -1)
            {
                if (infer >= 0) throw n.Error($"shape [{string.Join(", ", shape)}] has more than one -1");
                infer = i;
            }
            else if (t[i] < 0) throw n.Error($"shape [{string.Join(", ", shape)}] has a negative dimension");
        }
        long count = OnnxT.Product(input);
        if (infer >= 0)
        {
            long rest = OnnxT.Product(t.Where((_, i) => i != infer));
            if (rest == 0 || count % rest != 0)
                throw n.Error($"cannot infer the -1 in [{string.Join(", ", shape)}] for {count} elements");
            t[infer] = count / rest;
        }
        if (OnnxT.Product(t) != count) throw n.Error($"cannot reshape [{string.Join(", ", input)}] to [{string.Join(", ", t)}]");
        return t;
    }

    private static void Flatten(OnnxNode n)
    {
        var x = n.Input(0);
        int r = x.Type.Rank;
        long axis = n.Int("axis", 1);
        if (axis < -r || axis > r) throw n.Error($"axis {axis} is out of range for rank {r}");
        if (axis < 0) axis += r;
        var s = x.Type.Shape;
        n.Output(0, n.L.Reshape(x, OnnxT.Product(s.Take((int)axis)), OnnxT.Product(s.Skip((int)axis))));
    }

    private static void Squeeze(OnnxNode n)
    {
        var x = n.Input(0);
        var s = x.Type.Shape;
        var axesList = OnnxT.AxesAttrOrInput(n, "axes", 1, 13);
        var axes = axesList is null
            ? Enumerable.Range(0, s.Length).Where(d => s[d] == 1).ToArray()
            : OnnxT.NormalizeAxes(n, axesList, s.Length);
        foreach (var a in axes)
            if (s[a] != 1) throw n.Error($"cannot squeeze axis {a} of size {s[a]}");
        n.Output(0, n.L.Reshape(x, [.. s.Where((_, d) => !axes.Contains(d))]));
    }

    private static void Unsqueeze(OnnxNode n)
    {
        var x = n.Input(0);
        var s = x.Type.Shape;
        var axesList = OnnxT.AxesAttrOrInput(n, "axes", 1, 13) ?? throw n.Error("axes are required");
        int outRank = s.Length + axesList.Length;
        var axes = OnnxT.NormalizeAxes(n, axesList, outRank);
        var shape = new long[outRank];
        for (int d = 0, k = 0; d < outRank; d++) shape[d] = axes.Contains(d) ? 1 : s[k++];
        n.Output(0, n.L.Reshape(x, shape));
    }

    private static void Transpose(OnnxNode n)
    {
        var x = n.Input(0);
        int r = x.Type.Rank;
        var perm = n.Ints("perm") ?? [.. Enumerable.Range(0, r).Select(i => (long)(r - 1 - i))];
        if (perm.Length != r || perm.Order().Where((p, i) => p != i).Any()) throw n.Error($"perm [{string.Join(", ", perm)}] is not a permutation of rank {r}");
        n.Output(0, n.L.Transpose(x, perm));
    }

    private static void Concat(OnnxNode n)
    {
        var inputs = n.Inputs;
        if (inputs.Count == 0) throw n.Error("needs at least one input");
        int axis = Lowerer.Axis(n.Opset < 4 ? n.Int("axis", 1) : n.Int("axis"), inputs[0].Type.Rank);
        n.Output(0, OnnxT.Concat(n.L, inputs, axis));
    }

    private static void Split(OnnxNode n)
    {
        var x = n.Input(0);
        int axis = Lowerer.Axis(n.Int("axis", 0), x.Type.Rank);
        long dim = x.Type.Shape[axis];
        long[]? sizes = n.Opset < 13 ? n.Ints("split") is { Length: > 0 } s ? s : null : n.Has(1) ? OnnxT.KnownInts(n, 1, "split") : null;
        if (sizes is null)
        {
            int parts = n.Opset >= 18 && n.HasAttr("num_outputs") ? (int)n.Int("num_outputs") : n.OutputCount;
            if (parts <= 0) throw n.Error($"cannot split into {parts} parts");
            if (n.Opset >= 18 && n.HasAttr("num_outputs"))
            {
                // Opset 18: chunks of ceil(dim / n), the last one smaller.
                long chunk = (dim + parts - 1) / parts;
                sizes = [.. Enumerable.Range(0, parts).Select(i => Math.Clamp(dim - i * chunk, 0, chunk))];
            }
            else
            {
                if (dim % parts != 0) throw n.Error($"dimension {dim} does not split into {parts} equal parts");
                sizes = [.. Enumerable.Repeat(dim / parts, parts)];
            }
        }
        if (sizes.Any(v => v < 0) || sizes.Sum() != dim) throw n.Error($"split sizes [{string.Join(", ", sizes)}] do not add up to dimension {dim}");
        if (sizes.Length != n.OutputCount) throw n.Error($"{sizes.Length} split sizes for {n.OutputCount} outputs");
        long start = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            if (n.WantsOutput(i)) n.Output(i, OnnxT.SliceAxis(n.L, x, axis, start, start + sizes[i]));
            start += sizes[i];
        }
    }

    private static void Slice(OnnxNode n)
    {
        var x = n.Input(0);
        int r = x.Type.Rank;
        long[] starts, ends, axesList, steps;
        if (n.Opset < 10)
        {
            starts = n.Ints("starts") ?? throw n.Error("attribute 'starts' is required");
            ends = n.Ints("ends") ?? throw n.Error("attribute 'ends' is required");
            axesList = n.Ints("axes") ?? [.. Enumerable.Range(0, starts.Length).Select(i => (long)i)];
            steps = [.. Enumerable.Repeat(1L, starts.Length)];
        }
        else
        {
            starts = OnnxT.KnownInts(n, 1, "starts");
            ends = OnnxT.KnownInts(n, 2, "ends");
            axesList = n.Has(3) ? OnnxT.KnownInts(n, 3, "axes") : [.. Enumerable.Range(0, starts.Length).Select(i => (long)i)];
            steps = n.Has(4) ? OnnxT.KnownInts(n, 4, "steps") : [.. Enumerable.Repeat(1L, starts.Length)];
        }
        if (ends.Length != starts.Length || axesList.Length != starts.Length || steps.Length != starts.Length)
            throw n.Error("starts, ends, axes and steps must have the same length");
        var axes = OnnxT.NormalizeAxes(n, axesList, r);
        var start = new long[r];
        var limit = x.Type.Shape.ToArray();
        var stride = Enumerable.Repeat(1L, r).ToArray();
        var reversed = new List<long>();
        for (int i = 0; i < axes.Length; i++)
        {
            int a = axes[i];
            long dim = limit[a], step = steps[i];
            if (step == 0) throw n.Error("steps must not be 0");
            long s = starts[i] < 0 ? starts[i] + dim : starts[i];
            long e = ends[i] < 0 ? ends[i] + dim : ends[i];
            if (step > 0)
            {
                s = Math.Clamp(s, 0, dim);
                e = Math.Clamp(e, 0, dim);
                (start[a], limit[a], stride[a]) = (s, Math.Max(s, e), step);
            }
            else
            {
                // Negative steps walk down from s to above e: the same elements, counted up, in the reversed axis.
                s = Math.Clamp(s, 0, Math.Max(dim - 1, 0));
                e = Math.Clamp(e, -1, dim - 1);
                long rs = dim == 0 ? 0 : dim - 1 - s, rl = dim == 0 ? 0 : dim - 1 - e;
                (start[a], limit[a], stride[a]) = (rs, Math.Max(rs, rl), step == long.MinValue ? long.MaxValue : -step);
                reversed.Add(a);
            }
        }
        if (reversed.Count > 0) x = n.L.Emit("reverse", [x], ("dims", A.Ints([.. reversed.Order()])));
        n.Output(0, OnnxT.Slice(n.L, x, start, limit, stride));
    }

    private static void Expand(OnnxNode n)
    {
        var x = n.Input(0);
        var shape = OnnxT.KnownInts(n, 1, "shape");
        var target = Lowerer.BroadcastShape(x.Type.Shape, [.. shape]);
        n.Output(0, n.L.Broadcast(x, target));
    }

    private static void Tile(OnnxNode n)
    {
        if (n.Opset < 6) throw n.Unsupported("opset < 6 (tiles/axis inputs)");
        var x = n.Input(0);
        var reps = OnnxT.KnownInts(n, 1, "repeats");
        var s = x.Type.Shape;
        if (reps.Length != s.Length || reps.Any(v => v < 0)) throw n.Error($"repeats [{string.Join(", ", reps)}] do not fit rank {s.Length}");
        n.Output(0, TileBy(n.L, x, reps));
    }

    /// <summary>Tiling as a broadcast to [r0, d0, r1, d1, ...] and a reshape to [r0·d0, r1·d1, ...].</summary>
    internal static Value TileBy(Lowerer l, Value x, long[] reps)
    {
        if (reps.All(v => v == 1)) return x;
        var s = x.Type.Shape;
        var shape = new List<long>();
        for (int d = 0; d < s.Length; d++) shape.AddRange([reps[d], s[d]]);
        var dims = Enumerable.Range(0, s.Length).Select(d => 2L * d + 1).ToArray();
        var b = l.Emit("broadcast_in_dim", [x], AttrMap.Of(("dims", A.Ints(dims))), x.Type.WithShape([.. shape]));
        return l.Reshape(b, [.. Enumerable.Range(0, s.Length).Select(d => reps[d] * s[d])]);
    }

    private static void Pad(OnnxNode n)
    {
        var x = n.Input(0);
        var l = n.L;
        int r = x.Type.Rank;
        var mode = n.String("mode", "constant");
        long[] pads;
        Value value;
        int[] axes = [.. Enumerable.Range(0, r)];
        if (n.Opset < 11)
        {
            pads = (n.Opset < 2 ? n.Ints("paddings") : n.Ints("pads")) ?? throw n.Error("attribute 'pads' is required");
            value = l.Scalar(x.Type.Element, n.Float("value", 0));
        }
        else
        {
            pads = OnnxT.KnownInts(n, 1, "pads");
            value = n.Has(2) ? l.Reshape(l.Convert(n.Input(2), x.Type.Element)) : l.Scalar(x.Type.Element, 0);
            if (value.Type.Rank != 0) throw n.Error($"constant_value must have one element, got {value.Type}");
            if (n.Has(3)) axes = OnnxT.NormalizeAxes(n, OnnxT.KnownInts(n, 3, "axes"), r);
        }
        if (pads.Length != 2 * axes.Length) throw n.Error($"pads has {pads.Length} entries, expected {2 * axes.Length}");
        var low = new long[r];
        var high = new long[r];
        for (int i = 0; i < axes.Length; i++) (low[axes[i]], high[axes[i]]) = (pads[i], pads[i + axes.Length]);
        if (mode == "constant")
        {
            n.Output(0, PadOp(l, x, value, low, high, null));
            return;
        }
        if (mode is not ("reflect" or "edge")) throw n.Unsupported($"mode={mode}");
        // Negative pads crop first; the padding modes then only add.
        var s = x.Type.Shape;
        var cs = Enumerable.Range(0, r).Select(d => Math.Max(0, -low[d])).ToArray();
        var ce = Enumerable.Range(0, r).Select(d => s[d] - Math.Max(0, -high[d])).ToArray();
        if (Enumerable.Range(0, r).Any(d => ce[d] < cs[d])) throw n.Error("negative pads crop more than the dimension");
        x = OnnxT.Slice(l, x, cs, ce);
        low = [.. low.Select(v => Math.Max(0, v))];
        high = [.. high.Select(v => Math.Max(0, v))];
        for (int d = 0; d < r; d++)
        {
            long size = x.Type.Shape[d];
            if (mode == "reflect" && (low[d] > 0 || high[d] > 0) && (low[d] >= size || high[d] >= size))
                throw n.Unsupported($"reflect padding of {Math.Max(low[d], high[d])} on a dimension of size {size} (repeated reflection)");
            if (mode == "edge" && (low[d] > 0 || high[d] > 0) && size == 0) throw n.Error("edge padding of an empty dimension");
        }
        n.Output(0, PadOp(l, x, l.Scalar(x.Type.Element, 0), low, high, mode));
    }

    private static Value PadOp(Lowerer l, Value x, Value value, long[] low, long[] high, string? mode)
    {
        if (low.All(v => v == 0) && high.All(v => v == 0)) return x;
        var attrs = new List<(string, Attr)> { ("low", A.Ints(low)), ("high", A.Ints(high)) };
        if (mode is not null) attrs.Add(("mode", A.Enum(mode)));
        return l.Emit("pad", [x, value], AttrMap.Of([.. attrs]));
    }

    private static void SpaceToDepth(OnnxNode n)
    {
        var x = n.Input(0);
        long b = n.Int("blocksize");
        if (x.Type.Rank != 4) throw n.Error($"expects a rank-4 NCHW input, got {x.Type}");
        var (N, C, H, W) = (x.Type.Shape[0], x.Type.Shape[1], x.Type.Shape[2], x.Type.Shape[3]);
        if (b <= 0 || H % b != 0 || W % b != 0) throw n.Error($"blocksize {b} does not divide {H}x{W}");
        var t = n.L.Reshape(x, N, C, H / b, b, W / b, b);
        t = n.L.Transpose(t, 0, 3, 5, 1, 2, 4);
        n.Output(0, n.L.Reshape(t, N, C * b * b, H / b, W / b));
    }

    private static void DepthToSpace(OnnxNode n)
    {
        var x = n.Input(0);
        long b = n.Int("blocksize");
        var mode = n.Opset >= 11 ? n.String("mode", "DCR") : "DCR";
        if (x.Type.Rank != 4) throw n.Error($"expects a rank-4 NCHW input, got {x.Type}");
        var (N, C, H, W) = (x.Type.Shape[0], x.Type.Shape[1], x.Type.Shape[2], x.Type.Shape[3]);
        if (b <= 0 || C % (b * b) != 0) throw n.Error($"blocksize {b} squared does not divide {C} channels");
        Value t;
        if (mode == "DCR")
        {
            t = n.L.Transpose(n.L.Reshape(x, N, b, b, C / (b * b), H, W), 0, 3, 4, 1, 5, 2);
        }
        else if (mode == "CRD")
        {
            t = n.L.Transpose(n.L.Reshape(x, N, C / (b * b), b, b, H, W), 0, 1, 4, 2, 5, 3);
        }
        else throw n.Unsupported($"mode={mode}");
        n.Output(0, n.L.Reshape(t, N, C / (b * b), H * b, W * b));
    }

    /// <summary>Dropout at inference is the identity with an all-true mask; real (random) training dropout is not taken.</summary>
    private static void Dropout(OnnxNode n)
    {
        var x = n.Input(0);
        if (n.Opset < 7 && n.Int("is_test", 0) == 0 && n.Float("ratio", 0.5f) > 0)
            throw n.Unsupported("training mode (is_test=0) draws random numbers");
        if (n.Opset >= 12 && n.Has(2))
        {
            var training = OnnxT.KnownTensor(n, 2, "training_mode");
            if (training.GetBool(0))
            {
                double ratio = n.Has(1) ? OnnxT.KnownScalar(n, 1, "ratio") : 0.5;
                if (ratio != 0) throw n.Unsupported($"training_mode=true with ratio {ratio} draws random numbers");
            }
        }
        n.Output(0, x);
        if (n.WantsOutput(1))
            n.Output(1, n.L.Fill(x.Type.WithElement(n.Opset >= 10 ? ElementType.Bool : x.Type.Element), 1));
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("Constant", Constant), ("ConstantOfShape", ConstantOfShape), ("Shape", Shape), ("Size", Size),
        ("Reshape", Reshape), ("Flatten", Flatten), ("Squeeze", Squeeze), ("Unsqueeze", Unsqueeze),
        ("Transpose", Transpose), ("Concat", Concat), ("Split", Split), ("Slice", Slice), ("Expand", Expand),
        ("Tile", Tile), ("Pad", Pad), ("SpaceToDepth", SpaceToDepth), ("DepthToSpace", DepthToSpace), ("Dropout", Dropout),
    ];
}
