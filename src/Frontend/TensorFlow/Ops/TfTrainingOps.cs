using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>
/// The ops of TF1 training graphs (what <c>tf.gradients</c> and <c>Optimizer.minimize</c> emit):
/// activation gradients (*Grad), BiasAddGrad, Conv2DBackpropFilter, MaxPoolGrad/AvgPoolGrad (one term per
/// window offset, as slices, compares, selects and interior pads), SparseSoftmaxCrossEntropyWithLogits,
/// BroadcastGradientArgs (static shapes, folded) and the optimizer updates Apply*/ResourceApply*, which
/// write their variables (and accumulators) like Assign does (see <see cref="TfVariables"/>).
/// </summary>
public static class TfTrainingOps
{
    public static IEnumerable<(string, TfLowering)> All =>
    [
        // Activation gradients. The first pair takes (gradients, features); the second (y, dy) with y the forward output.
        ("ReluGrad", n => Grad(n, (l, g, x) => l.Select(l.Compare("gt", x, Zero(l, x)), g, Zero(l, g)))),
        ("Relu6Grad", n => Grad(n, (l, g, x) => l.Select(l.Binary("and", l.Compare("gt", x, Zero(l, x)), l.Compare("lt", x, l.Scalar(x.Type.Element, 6))), g, Zero(l, g)))),
        ("SoftplusGrad", n => Grad(n, (l, g, x) => l.Binary("mul", g, l.Emit("logistic", x)))),
        ("EluGrad", n => Grad(n, (l, g, y) => l.Select(l.Compare("lt", y, Zero(l, y)), l.Binary("mul", g, l.Binary("add", y, One(l, y))), g))),
        ("SigmoidGrad", n => Grad(n, (l, y, dy) => l.Binary("mul", dy, l.Binary("mul", y, l.Binary("sub", One(l, y), y))))),
        ("TanhGrad", n => Grad(n, (l, y, dy) => l.Binary("mul", dy, l.Binary("sub", One(l, y), l.Binary("mul", y, y))))),
        ("SqrtGrad", n => Grad(n, (l, y, dy) => l.Binary("div", l.Binary("mul", dy, l.Scalar(y.Type.Element, 0.5)), y))),
        ("RsqrtGrad", n => Grad(n, (l, y, dy) => l.Binary("mul", l.Binary("mul", dy, l.Scalar(y.Type.Element, -0.5)), l.Binary("mul", y, l.Binary("mul", y, y))))),
        ("ReciprocalGrad", n => Grad(n, (l, y, dy) => l.Emit("neg", l.Binary("mul", dy, l.Binary("mul", y, y))))),
        ("InvGrad", n => Grad(n, (l, y, dy) => l.Emit("neg", l.Binary("mul", dy, l.Binary("mul", y, y))))),
        ("BiasAddGrad", BiasAddGrad),
        ("Conv2DBackpropFilter", ConvBackpropFilter),
        ("MaxPoolGrad", MaxPoolGrad), ("AvgPoolGrad", AvgPoolGrad),
        ("SparseSoftmaxCrossEntropyWithLogits", SparseSoftmaxCrossEntropy),
        ("BroadcastGradientArgs", BroadcastGradientArgs), ("ConcatOffset", ConcatOffset), ("InvertPermutation", InvertPermutation),
        // Optimizer updates: the ref forms output the variable, the resource forms nothing.
        ("ApplyGradientDescent", GradientDescent), ("ResourceApplyGradientDescent", GradientDescent),
        ("ApplyMomentum", Momentum), ("ResourceApplyMomentum", Momentum),
        ("ApplyAdam", Adam), ("ResourceApplyAdam", Adam),
        ("ApplyAdagrad", Adagrad), ("ResourceApplyAdagrad", Adagrad),
    ];

    private static Value Zero(Lowerer l, Value like) => l.Scalar(like.Type.Element, 0);

    private static Value One(Lowerer l, Value like) => l.Scalar(like.Type.Element, 1);

    private static void Grad(TfNode n, Func<Lowerer, Value, Value, Value> f)
    {
        Value a = n.Input(0), b = n.Input(1);
        if (!a.Type.Element.IsFloat() || a.Type != b.Type) throw n.Error($"needs two float operands of one type, got {a.Type} and {b.Type}");
        n.Output(0, f(n.L, a, b));
    }

    /// <summary>BiasAddGrad: the sum of out_backprop over every dimension but the channel one (last for NHWC, 1 for NCHW).</summary>
    private static void BiasAddGrad(TfNode n)
    {
        var g = n.Input(0);
        if (g.Type.Rank < 2) throw n.Error($"needs out_backprop of rank 2 or more, got {g.Type}");
        int c = TfNnOps.Nchw(n) ? 1 : g.Type.Rank - 1;
        n.Output(0, n.L.Reduce(g, "sum", [.. Enumerable.Range(0, g.Type.Rank).Where(d => d != c)], keepDims: false));
    }

    /// <summary>
    /// Conv2DBackpropFilter as XLA writes it: a convolution of the input with out_backprop where the input's
    /// batch dimension is contracted (its role "f") and its channels are the batch ("b"), out_backprop's batch
    /// is the kernel input ("i") and its channels the kernel output ("o"); the forward strides become the
    /// kernel dilation, the forward dilations the window strides, and the high padding is chosen so the
    /// result has filter_sizes (negative: rows the forward convolution never reached are cropped).
    /// </summary>
    private static void ConvBackpropFilter(TfNode n)
    {
        var x = n.Input(0);
        var sizes = n.KnownInts(1, "filter_sizes");
        var dy = n.Input(2);
        if (sizes.Length != 4 || x.Type.Rank != 4 || dy.Type.Rank != 4) throw n.Error("needs a 4-D input, filter_sizes and out_backprop");
        bool nchw = TfNnOps.Nchw(n);
        var strides = TfNnOps.Spatial(n, n.Ints("strides"), "strides", 1);
        var dil = TfNnOps.Spatial(n, n.Ints("dilations"), "dilations", 1);
        long channels = x.Type.Shape[nchw ? 1 : 3];
        if (sizes[2] != channels) throw n.Unsupported($"grouped convolution (filter_sizes [{string.Join(", ", sizes)}] for {channels} input channels)");
        if (dy.Type.Shape[nchw ? 1 : 3] != sizes[3]) throw n.Error($"out_backprop {dy.Type} does not have the {sizes[3]} output channels of filter_sizes");
        var window = new[] { sizes[0], sizes[1] };
        var input = TfNnOps.SpatialDims(n, x);
        var outSp = TfNnOps.SpatialDims(n, dy);
        var (low, _) = TfNnOps.Padding(n, input, window, strides, dil);
        var high = new long[2];
        for (int i = 0; i < 2; i++) high[i] = (window[i] - 1) * dil[i] + (outSp[i] - 1) * strides[i] + 1 - input[i] - low[i];
        var attrs = AttrMap.Of(("dims", new StringAttr(nchw ? "fb01_io01->01bf" : "f01b_i01o->01bf")),
            ("window_strides", A.Ints(dil)), ("padding_low", A.Ints(low)), ("padding_high", A.Ints(high)), ("rhs_dilation", A.Ints(strides)));
        n.Output(0, n.L.Emit("convolution", [x, dy], attrs, new TensorType(x.Type.Element, sizes)));
    }

    /// <summary>Pooling windows in full rank (1 on the batch and channel dimensions).</summary>
    private sealed record Windows(long[] Size, long[] Strides, long[] Low, long[] High, long[] Output);

    private static Windows PoolWindows(TfNode n, long[] input)
    {
        if (input.Length != 4) throw n.Error($"needs a 4-D input, got rank {input.Length}");
        bool nchw = TfNnOps.Nchw(n);
        var ks = TfNnOps.Spatial(n, n.Ints("ksize"), "ksize", 1);
        var st = TfNnOps.Spatial(n, n.Ints("strides"), "strides", 1);
        long[] sp = nchw ? [input[2], input[3]] : [input[1], input[2]];
        var (low, high) = TfNnOps.Padding(n, sp, ks, st, [1, 1]);
        long[] Full(long[] v, long fill) => nchw ? [fill, fill, v[0], v[1]] : [fill, v[0], v[1], fill];
        var size = Full(ks, 1);
        var strides = Full(st, 1);
        var lo = Full(low, 0);
        var hi = Full(high, 0);
        var output = new long[4];
        for (int d = 0; d < 4; d++) output[d] = (input[d] + lo[d] + hi[d] - size[d]) / strides[d] + 1;
        return new Windows(size, strides, lo, hi, output);
    }

    private static AttrMap WindowAttrs(Windows w, string kind) => AttrMap.Of(("kind", A.Enum(kind)), ("window", A.Ints(w.Size)),
        ("strides", A.Ints(w.Strides)), ("padding_low", A.Ints(w.Low)), ("padding_high", A.Ints(w.High)));

    /// <summary>Every window offset, row-major (the order TF's pooling kernels scan a window in).</summary>
    private static IEnumerable<long[]> Offsets(long[] size)
    {
        var o = new long[size.Length];
        while (true)
        {
            yield return (long[])o.Clone();
            int d = size.Length - 1;
            while (d >= 0 && ++o[d] == size[d]) o[d--] = 0;
            if (d < 0) yield break;
        }
    }

    /// <summary>
    /// Where the window element at <paramref name="offset"/> of every output position lies in the input:
    /// the output-shaped <paramref name="term"/> spread <c>stride</c> apart (interior padding) and shifted by
    /// offset − padding_low; positions in the padding are cropped (negative pads).
    /// </summary>
    private static Value Place(Lowerer l, Value term, long[] offset, Windows w, long[] input)
    {
        var low = new long[4];
        var high = new long[4];
        var interior = new long[4];
        for (int d = 0; d < 4; d++)
        {
            low[d] = offset[d] - w.Low[d];
            interior[d] = w.Strides[d] - 1;
            high[d] = input[d] - (low[d] + (w.Output[d] - 1) * w.Strides[d] + 1);
        }
        return l.Emit("pad", [term, Zero(l, term)], AttrMap.Of(("low", A.Ints(low)), ("high", A.Ints(high)), ("interior", A.Ints(interior))),
            new TensorType(term.Type.Element, input));
    }

    /// <summary>
    /// MaxPoolGrad: each window's gradient goes wholly to the window's first maximum in row-major window order
    /// (TF's CPU kernel keeps the first of equal maxima). The max is recomputed from orig_input (as that kernel
    /// does; orig_output is not read). For each window offset in order: the input element there (padding reads
    /// −∞) is chosen when it equals the max and no earlier offset was; the gradient of the chosen windows is
    /// placed at that element.
    /// </summary>
    private static void MaxPoolGrad(TfNode n)
    {
        Value x = n.Input(0), g = n.Input(2);
        var l = n.L;
        var input = x.Type.Shape.ToArray();
        var w = PoolWindows(n, input);
        if (!g.Type.Shape.SequenceEqual(w.Output)) throw n.Error($"grad {g.Type} does not have the pooled shape [{string.Join(", ", w.Output)}]");
        var max = l.Emit("reduce_window", [x], WindowAttrs(w, "max"));
        var padded = w.Low.Any(p => p != 0) || w.High.Any(p => p != 0)
            ? l.Emit("pad", [x, l.Scalar(x.Type.Element, double.NegativeInfinity)], ("low", A.Ints(w.Low)), ("high", A.Ints(w.High)))
            : x;
        Value? taken = null, sum = null;
        var zeros = l.Fill(g.Type, 0);
        foreach (var o in Offsets(w.Size))
        {
            var limit = new long[4];
            for (int d = 0; d < 4; d++) limit[d] = o[d] + (w.Output[d] - 1) * w.Strides[d] + 1;
            var at = l.Emit("slice", [padded], ("start", A.Ints(o)), ("limit", A.Ints(limit)), ("stride", A.Ints(w.Strides)));
            var eq = l.Compare("eq", at, max);
            var chosen = taken is null ? eq : l.Binary("and", eq, l.Emit("not", taken));
            taken = taken is null ? eq : l.Binary("or", taken, eq);
            var term = Place(l, l.Select(chosen, g, zeros), o, w, input);
            sum = sum is null ? term : l.Binary("add", sum, term);
        }
        n.Output(0, sum!);
    }

    /// <summary>AvgPoolGrad: each window's gradient divided by its count of real (unpadded) elements, added to each of them.</summary>
    private static void AvgPoolGrad(TfNode n)
    {
        var input = n.KnownInts(0, "orig_input_shape");
        var g = n.Input(1);
        var l = n.L;
        var w = PoolWindows(n, input);
        if (!g.Type.Shape.SequenceEqual(w.Output)) throw n.Error($"grad {g.Type} does not have the pooled shape [{string.Join(", ", w.Output)}]");
        var count = l.Emit("reduce_window", [l.Fill(new TensorType(g.Type.Element, input), 1)], WindowAttrs(w, "sum"));
        var share = l.Binary("div", g, count);
        Value? sum = null;
        foreach (var o in Offsets(w.Size))
        {
            var term = Place(l, share, o, w, input);
            sum = sum is null ? term : l.Binary("add", sum, term);
        }
        n.Output(0, sum!);
    }

    /// <summary>
    /// SparseSoftmaxCrossEntropyWithLogits: loss = −log_softmax(features)[label], backprop = softmax − one_hot(label).
    /// A label outside [0, classes) (an error in TF) gets an all-zero one-hot row.
    /// </summary>
    private static void SparseSoftmaxCrossEntropy(TfNode n)
    {
        Value logits = n.Input(0), labels = n.Input(1);
        var l = n.L;
        if (logits.Type.Rank != 2 || labels.Type.Rank != 1 || labels.Type.Shape[0] != logits.Type.Shape[0] || !labels.Type.Element.IsInteger())
            throw n.Error($"needs [batch, classes] features and [batch] integer labels, got {logits.Type} and {labels.Type}");
        var classes = l.Emit("iota", [], AttrMap.Of(("dimension", A.Int(1))), labels.Type.WithShape(logits.Type.Shape));
        var hot = l.Convert(l.Compare("eq", classes, l.Emit("broadcast_in_dim", [labels], AttrMap.Of(("dims", A.Ints(0))), classes.Type)), logits.Type.Element);
        var logp = TfElementwiseOps.Softmax(l, logits, log: true);
        n.Output(0, l.Emit("neg", l.Reduce(l.Emit("mul", hot, logp), "sum", [1], keepDims: false)));
        n.Output(1, l.Emit("sub", l.Emit("exp", logp), hot));
    }

    /// <summary>
    /// BroadcastGradientArgs(s0, s1) → (r0, r1): the dimensions of the broadcast shape each operand's gradient
    /// is summed over — those where its (right-aligned, 1-extended) shape has 1. Equal shapes give none.
    /// Both shapes must be known at import time; the results are constants.
    /// </summary>
    private static void BroadcastGradientArgs(TfNode n)
    {
        var s0 = n.KnownInts(0, "s0");
        var s1 = n.KnownInts(1, "s1");
        var e = n.Input(0).Type.Element;
        int rank = Math.Max(s0.Length, s1.Length);
        var r0 = new List<long>();
        var r1 = new List<long>();
        if (!s0.SequenceEqual(s1))
        {
            for (int d = 0; d < rank; d++)
            {
                long a = d - (rank - s0.Length) is var i && i >= 0 ? s0[i] : 1;
                long b = d - (rank - s1.Length) is var j && j >= 0 ? s1[j] : 1;
                if (a != b && a != 1 && b != 1) throw n.Error($"shapes [{string.Join(", ", s0)}] and [{string.Join(", ", s1)}] do not broadcast");
                if (a == 1) r0.Add(d);
                if (b == 1) r1.Add(d);
            }
        }
        n.Output(0, n.L.Constant(Tensor.FromInt64s(new TensorType(e, r0.Count), r0)));
        n.Output(1, n.L.Constant(Tensor.FromInt64s(new TensorType(e, r1.Count), r1)));
    }

    /// <summary>ConcatOffset(concat_dim, shape_0, ..., shape_n-1) (the gradient of ConcatV2): where each operand starts in the result; known shapes, constants.</summary>
    private static void ConcatOffset(TfNode n)
    {
        var dim = n.KnownInts(0, "concat_dim");
        if (dim.Length != 1) throw n.Error("concat_dim must be a scalar");
        var shapes = Enumerable.Range(1, n.InputCount - 1).Select(i => n.KnownInts(i, $"shape {i - 1}")).ToList();
        if (shapes.Count == 0) throw n.Error("needs at least one shape");
        int rank = shapes[0].Length;
        int axis = Lowerer.Axis(dim[0], rank, "concat_dim");
        long offset = 0;
        for (int i = 0; i < shapes.Count; i++)
        {
            if (shapes[i].Length != rank) throw n.Error($"shape {i} has rank {shapes[i].Length}, shape 0 has {rank}");
            var o = new long[rank];
            o[axis] = offset;
            offset += shapes[i][axis];
            n.Output(i, n.L.Constant(Tensor.FromInt64s(new TensorType(n.Input(1).Type.Element, rank), o)));
        }
    }

    /// <summary>InvertPermutation (the gradient of Transpose): y[x[i]] = i; the permutation must be known at import time.</summary>
    private static void InvertPermutation(TfNode n)
    {
        var p = n.KnownInts(0, "x");
        var inv = new long[p.Length];
        var seen = new bool[p.Length];
        for (int i = 0; i < p.Length; i++)
        {
            if (p[i] < 0 || p[i] >= p.Length || seen[p[i]]) throw n.Error($"[{string.Join(", ", p)}] is not a permutation");
            seen[p[i]] = true;
            inv[p[i]] = i;
        }
        n.Output(0, n.L.Constant(Tensor.FromInt64s(n.Input(0).Type, inv)));
    }

    // ---- optimizer updates ---------------------------------------------------------------------------

    private static TfResource Var(TfNode n, int i) =>
        n.Raw(i) as TfResource ?? throw n.Error($"input #{i} is not a variable");

    /// <summary>A scalar hyperparameter (rank 0, or any shape that broadcasts to the variable) in the variable's type.</summary>
    private static Value Hyper(TfNode n, int i, Value like)
    {
        var v = n.Input(i);
        if (v.Type.Element != like.Type.Element) throw n.Error($"input #{i} is {v.Type}, the variable {like.Type}");
        return v;
    }

    private static Value Grad(TfNode n, int i, Value like)
    {
        var g = n.Input(i);
        if (g.Type != like.Type) throw n.Error($"gradient {g.Type} does not match the variable {like.Type}");
        return g;
    }

    private static void Done(TfNode n, TfResource var)
    {
        if (!n.Op.StartsWith("Resource", StringComparison.Ordinal)) n.Output(0, var);
    }

    /// <summary>ApplyGradientDescent(var, alpha, delta): var −= alpha·delta.</summary>
    private static void GradientDescent(TfNode n)
    {
        var r = Var(n, 0);
        var v = TfVariables.Read(n, r);
        var l = n.L;
        TfVariables.Write(n, r, l.Binary("sub", v, l.Binary("mul", Hyper(n, 1, v), Grad(n, 2, v))));
        Done(n, r);
    }

    /// <summary>
    /// ApplyMomentum(var, accum, lr, grad, momentum): accum = accum·momentum + grad; var −= lr·accum, or with
    /// use_nesterov var −= grad·lr + accum·momentum·lr.
    /// </summary>
    private static void Momentum(TfNode n)
    {
        TfResource rv = Var(n, 0), ra = Var(n, 1);
        var l = n.L;
        var v = TfVariables.Read(n, rv);
        var acc = TfVariables.Read(n, ra);
        Value lr = Hyper(n, 2, v), g = Grad(n, 3, v), mom = Hyper(n, 4, v);
        var acc2 = l.Binary("add", l.Binary("mul", acc, mom), g);
        var step = n.Bool("use_nesterov", false)
            ? l.Binary("add", l.Binary("mul", g, lr), l.Binary("mul", l.Binary("mul", acc2, mom), lr))
            : l.Binary("mul", acc2, lr);
        TfVariables.Write(n, ra, acc2);
        TfVariables.Write(n, rv, l.Binary("sub", v, step));
        Done(n, rv);
    }

    /// <summary>
    /// ApplyAdam(var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad) as TF's kernel computes it:
    /// alpha = lr·√(1 − beta2_power)/(1 − beta1_power); m += (grad − m)(1 − beta1); v += (grad² − v)(1 − beta2);
    /// var −= alpha·m/(√v + epsilon), or with use_nesterov var −= alpha·(grad(1 − beta1) + beta1·m)/(√v + epsilon).
    /// </summary>
    private static void Adam(TfNode n)
    {
        TfResource rv = Var(n, 0), rm = Var(n, 1), rs = Var(n, 2);
        var l = n.L;
        var w = TfVariables.Read(n, rv);
        var m = TfVariables.Read(n, rm);
        var s = TfVariables.Read(n, rs);
        Value b1p = Hyper(n, 3, w), b2p = Hyper(n, 4, w), lr = Hyper(n, 5, w), b1 = Hyper(n, 6, w), b2 = Hyper(n, 7, w), eps = Hyper(n, 8, w), g = Grad(n, 9, w);
        Value one = One(l, w);
        var alpha = l.Binary("div", l.Binary("mul", lr, l.Emit("sqrt", l.Binary("sub", one, b2p))), l.Binary("sub", one, b1p));
        var m2 = l.Binary("add", m, l.Binary("mul", l.Binary("sub", g, m), l.Binary("sub", one, b1)));
        var s2 = l.Binary("add", s, l.Binary("mul", l.Binary("sub", l.Binary("mul", g, g), s), l.Binary("sub", one, b2)));
        var num = n.Bool("use_nesterov", false)
            ? l.Binary("add", l.Binary("mul", g, l.Binary("sub", one, b1)), l.Binary("mul", b1, m2))
            : m2;
        var step = l.Binary("div", l.Binary("mul", num, alpha), l.Binary("add", l.Emit("sqrt", s2), eps));
        TfVariables.Write(n, rm, m2);
        TfVariables.Write(n, rs, s2);
        TfVariables.Write(n, rv, l.Binary("sub", w, step));
        Done(n, rv);
    }

    /// <summary>ApplyAdagrad(var, accum, lr, grad): accum += grad² (unless update_slots=false); var −= lr·grad/√accum.</summary>
    private static void Adagrad(TfNode n)
    {
        TfResource rv = Var(n, 0), ra = Var(n, 1);
        var l = n.L;
        var v = TfVariables.Read(n, rv);
        var acc = TfVariables.Read(n, ra);
        Value lr = Hyper(n, 2, v), g = Grad(n, 3, v);
        if (n.Bool("update_slots", true))
        {
            acc = l.Binary("add", acc, l.Binary("mul", g, g));
            TfVariables.Write(n, ra, acc);
        }
        TfVariables.Write(n, rv, l.Binary("sub", v, l.Binary("mul", l.Binary("mul", g, lr), l.Emit("rsqrt", acc))));
        Done(n, rv);
    }
}
