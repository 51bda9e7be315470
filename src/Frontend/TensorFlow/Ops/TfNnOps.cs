using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>Neural-network ops: BiasAdd, convolutions, pooling, FusedBatchNorm (inference), LRN, softmax cross-entropy.</summary>
public static class TfNnOps
{
    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("BiasAdd", BiasAdd), ("BiasAddV1", BiasAdd), ("Conv2D", n => Conv(n, depthwise: false)), ("DepthwiseConv2dNative", n => Conv(n, depthwise: true)),
        ("Conv2DBackpropInput", ConvBackpropInput),
        ("MaxPool", n => Pool(n, "max", n.Ints("ksize"), n.Ints("strides"))), ("AvgPool", n => Pool(n, "avg", n.Ints("ksize"), n.Ints("strides"))),
        ("MaxPoolV2", n => Pool(n, "max", n.KnownInts(1, "ksize"), n.KnownInts(2, "strides"))),
        ("FusedBatchNorm", FusedBatchNorm), ("FusedBatchNormV2", FusedBatchNorm), ("FusedBatchNormV3", FusedBatchNorm),
        ("BatchNormWithGlobalNormalization", BatchNormGlobal),
        ("LRN", Lrn), ("SoftmaxCrossEntropyWithLogits", SoftmaxCrossEntropy),
        ("ResizeBilinear", n => TfResizeOps.Resize(n, bilinear: true)), ("ResizeNearestNeighbor", n => TfResizeOps.Resize(n, bilinear: false)),
    ];

    internal static bool Nchw(TfNode n)
    {
        var f = n.String("data_format", "NHWC");
        return f switch
        {
            "NHWC" => false,
            "NCHW" => true,
            _ => throw n.Unsupported($"data_format={f}"),
        };
    }

    private static void BiasAdd(TfNode n)
    {
        Value x = n.Input(0), b = n.Input(1);
        int c = n.Op == "BiasAdd" && Nchw(n) ? 1 : x.Type.Rank - 1;
        if (b.Type.Rank != 1 || x.Type.Rank < 2 || b.Type.Shape[0] != x.Type.Shape[c]) throw n.Error($"bias {b.Type} does not match dimension {c} of {x.Type}");
        var bb = n.L.Emit("broadcast_in_dim", [b], AttrMap.Of(("dims", A.Ints(c))), x.Type);
        n.Output(0, n.L.Emit("add", x, bb));
    }

    /// <summary>The spatial entries (H, W) of a 4-entry attribute in the node's data format.</summary>
    internal static long[] Spatial(TfNode n, long[]? v, string what, long dflt)
    {
        if (v is null) return [dflt, dflt];
        if (v.Length != 4) throw n.Error($"'{what}' must have 4 entries");
        bool nchw = Nchw(n);
        if ((nchw ? v[0] * v[1] : v[0] * v[3]) != 1) throw n.Unsupported($"{what} on the batch or channel dimension");
        return nchw ? [v[2], v[3]] : [v[1], v[2]];
    }

    /// <summary>SAME/VALID/EXPLICIT padding (low, high) per spatial dim, as TF computes it.</summary>
    internal static (long[] Low, long[] High) Padding(TfNode n, long[] input, long[] window, long[] strides, long[] dilations)
    {
        var pad = n.String("padding", "VALID");
        var low = new long[input.Length];
        var high = new long[input.Length];
        if (pad == "VALID") return (low, high);
        if (pad == "EXPLICIT")
        {
            var e = n.Ints("explicit_paddings") ?? throw n.Error("padding=EXPLICIT needs explicit_paddings");
            int first = Nchw(n) ? 2 : 1;
            for (int i = 0; i < input.Length; i++) { low[i] = e[2 * (first + i)]; high[i] = e[2 * (first + i) + 1]; }
            return (low, high);
        }
        if (pad != "SAME") throw n.Unsupported($"padding={pad}");
        for (int i = 0; i < input.Length; i++)
        {
            long outSize = (input[i] + strides[i] - 1) / strides[i];
            long k = (window[i] - 1) * dilations[i] + 1;
            long total = Math.Max((outSize - 1) * strides[i] + k - input[i], 0);
            low[i] = total / 2;
            high[i] = total - low[i];
        }
        return (low, high);
    }

    internal static long[] SpatialDims(TfNode n, Value x) => Nchw(n) ? [x.Type.Shape[2], x.Type.Shape[3]] : [x.Type.Shape[1], x.Type.Shape[2]];

    /// <summary>Conv2D (HWIO kernel) and DepthwiseConv2dNative (HWCM kernel → feature groups), NHWC or NCHW.</summary>
    private static void Conv(TfNode n, bool depthwise)
    {
        Value x = n.Input(0), k = n.Input(1);
        if (x.Type.Rank != 4 || k.Type.Rank != 4) throw n.Error($"needs 4-D input and filter, got {x.Type} and {k.Type}");
        var strides = Spatial(n, n.Ints("strides"), "strides", 1);
        var dil = Spatial(n, n.Ints("dilations"), "dilations", 1);
        var window = new[] { k.Type.Shape[0], k.Type.Shape[1] };
        var (low, high) = Padding(n, SpatialDims(n, x), window, strides, dil);
        long channels = x.Type.Shape[Nchw(n) ? 1 : 3];
        long groups = 1;
        if (depthwise)
        {
            k = n.L.Reshape(k, k.Type.Shape[0], k.Type.Shape[1], 1, k.Type.Shape[2] * k.Type.Shape[3]);
            groups = channels;
        }
        else if (k.Type.Shape[2] != channels)
        {
            if (k.Type.Shape[2] == 0 || channels % k.Type.Shape[2] != 0) throw n.Error($"filter {k.Type} does not match {channels} input channels");
            groups = channels / k.Type.Shape[2]; // grouped convolution
        }
        var attrs = new List<(string, Attr)>
        {
            ("dims", new StringAttr(Nchw(n) ? "bf01_01io->bf01" : "b01f_01io->b01f")), ("window_strides", A.Ints(strides)),
            ("padding_low", A.Ints(low)), ("padding_high", A.Ints(high)), ("rhs_dilation", A.Ints(dil)),
        };
        if (groups != 1) attrs.Add(("feature_group_count", A.Int(groups)));
        var type = ConvResult(x, Nchw(n), k.Type.Shape[3], window, strides, low, high, [1, 1], dil);
        n.Output(0, n.L.Emit("convolution", [x, k], AttrMap.Of([.. attrs]), type));
    }

    /// <summary>
    /// Conv2DBackpropInput (the gradient of Conv2D, a transposed convolution): out_backprop dilated by
    /// the strides, convolved with the spatially flipped filter (in/out features swapped), padded so the
    /// result has input_sizes.
    /// </summary>
    private static void ConvBackpropInput(TfNode n)
    {
        var sizes = n.KnownInts(0, "input_sizes");
        Value k = n.Input(1), dy = n.Input(2);
        if (sizes.Length != 4 || k.Type.Rank != 4 || dy.Type.Rank != 4) throw n.Error("needs 4-D input_sizes, filter and out_backprop");
        var strides = Spatial(n, n.Ints("strides"), "strides", 1);
        var dil = Spatial(n, n.Ints("dilations"), "dilations", 1);
        bool nchw = Nchw(n);
        long[] input = nchw ? [sizes[2], sizes[3]] : [sizes[1], sizes[2]];
        long[] outSp = SpatialDims(n, dy);
        var window = new[] { k.Type.Shape[0], k.Type.Shape[1] };
        var (fLow, _) = Padding(n, input, window, strides, dil);
        var low = new long[2];
        var high = new long[2];
        for (int i = 0; i < 2; i++)
        {
            long kd = (window[i] - 1) * dil[i] + 1;
            low[i] = kd - 1 - fLow[i];
            high[i] = input[i] - ((outSp[i] - 1) * strides[i] + 1) - low[i] + kd - 1;
        }
        var flipped = n.L.Emit("reverse", [k], ("dims", A.Ints(0, 1)));
        var attrs = AttrMap.Of(("dims", new StringAttr(nchw ? "bf01_01oi->bf01" : "b01f_01oi->b01f")),
            ("padding_low", A.Ints(low)), ("padding_high", A.Ints(high)), ("lhs_dilation", A.Ints(strides)), ("rhs_dilation", A.Ints(dil)));
        var r = n.L.Emit("convolution", [dy, flipped], attrs, ConvResult(dy, nchw, k.Type.Shape[2], window, [1, 1], low, high, strides, dil));
        if (!r.Type.Shape.SequenceEqual(sizes)) throw n.Error($"result {r.Type} does not have input_sizes [{string.Join(", ", sizes)}]");
        n.Output(0, r);
    }

    /// <summary>The convolution's result type (XLA's output size rule), in the input's element type.</summary>
    private static TensorType ConvResult(Value x, bool nchw, long features, long[] kernel, long[] strides, long[] low, long[] high, long[] lhsDil, long[] rhsDil)
    {
        var s = x.Type.Shape;
        long[] sp = nchw ? [s[2], s[3]] : [s[1], s[2]];
        var o = new long[2];
        for (int i = 0; i < 2; i++)
        {
            long padded = (sp[i] - 1) * lhsDil[i] + 1 + low[i] + high[i];
            long kd = (kernel[i] - 1) * rhsDil[i] + 1;
            o[i] = padded < kd ? 0 : (padded - kd) / strides[i] + 1;
        }
        return new TensorType(x.Type.Element, nchw ? new long[] { s[0], features, o[0], o[1] } : new long[] { s[0], o[0], o[1], features });
    }

    /// <summary>MaxPool/AvgPool; AvgPool SAME divides by the number of real (unpadded) elements in each window.</summary>
    private static void Pool(TfNode n, string kind, long[]? ksize, long[]? stridesAttr)
    {
        var x = n.Input(0);
        if (x.Type.Rank != 4) throw n.Error($"needs a 4-D input, got {x.Type}");
        bool nchw = Nchw(n);
        var ks = Spatial(n, ksize, "ksize", 1);
        var st = Spatial(n, stridesAttr, "strides", 1);
        var (low, high) = Padding(n, SpatialDims(n, x), ks, st, [1, 1]);
        long[] Full(long[] sp, long fill) => nchw ? [fill, fill, sp[0], sp[1]] : [fill, sp[0], sp[1], fill];
        AttrMap Attrs(string k) => AttrMap.Of(("kind", A.Enum(k)), ("window", A.Ints(Full(ks, 1))), ("strides", A.Ints(Full(st, 1))),
            ("padding_low", A.Ints(Full(low, 0))), ("padding_high", A.Ints(Full(high, 0))));
        if (kind == "max") { n.Output(0, n.L.Emit("reduce_window", [x], Attrs("max"))); return; }
        var sum = n.L.Emit("reduce_window", [x], Attrs("sum"));
        // The count of real elements per window: the same window summed over ones (constant, folded).
        var count = n.L.Emit("reduce_window", [n.L.Fill(x.Type, 1)], Attrs("sum"));
        n.Output(0, n.L.Emit("div", sum, count));
    }

    /// <summary>FusedBatchNorm for inference: (x − mean)·rsqrt(variance + epsilon)·scale + offset along the channel dim.</summary>
    private static void FusedBatchNorm(TfNode n)
    {
        if (n.Bool("is_training", true)) throw n.Unsupported("is_training=true");
        Value x = n.Input(0), scale = n.Input(1), offset = n.Input(2), mean = n.Input(3), variance = n.Input(4);
        int c = Nchw(n) ? 1 : x.Type.Rank - 1;
        var e = scale.Type.Element;
        var xf = n.L.Convert(x, e);
        var shape = xf.Type;
        Value B(Value v) => n.L.Emit("broadcast_in_dim", [v], AttrMap.Of(("dims", A.Ints(c))), shape);
        var inv = n.L.Emit("rsqrt", n.L.Binary("add", variance, n.L.Scalar(e, n.Float("epsilon", 1e-4f))));
        var y = n.L.Binary("add", n.L.Emit("mul", n.L.Emit("sub", xf, B(mean)), B(n.L.Emit("mul", inv, scale))), B(offset));
        n.Output(0, n.L.Convert(y, x.Type.Element));
        n.Output(1, mean);
        n.Output(2, variance);
        n.Output(3, mean);
        n.Output(4, variance);
        n.Output(5, mean);
    }

    /// <summary>
    /// BatchNormWithGlobalNormalization (TF1's deprecated inference batch norm; inputs t, m, v, beta, gamma):
    /// (t − m)·rsqrt(v + variance_epsilon)·(gamma if scale_after_normalization) + beta, along the last dim.
    /// </summary>
    private static void BatchNormGlobal(TfNode n)
    {
        Value t = n.Input(0), m = n.Input(1), v = n.Input(2), beta = n.Input(3), gamma = n.Input(4);
        var e = t.Type.Element;
        var inv = n.L.Emit("rsqrt", n.L.Binary("add", v, n.L.Scalar(e, n.Float("variance_epsilon", 1e-3f))));
        if (n.Bool("scale_after_normalization", false)) inv = n.L.Binary("mul", inv, gamma);
        n.Output(0, n.L.Binary("add", n.L.Binary("mul", n.L.Binary("sub", t, m), inv), beta));
    }

    /// <summary>LRN (NHWC): x / (bias + alpha·Σ x² over depth_radius neighbouring channels)^beta.</summary>
    private static void Lrn(TfNode n)
    {
        var x = n.Input(0);
        if (x.Type.Rank != 4) throw n.Error($"needs a 4-D input, got {x.Type}");
        long r = n.Int("depth_radius", 5);
        var e = x.Type.Element;
        var sq = n.L.Emit("mul", x, x);
        var sum = n.L.Emit("reduce_window", [sq], AttrMap.Of(("kind", A.Enum("sum")), ("window", A.Ints(1, 1, 1, 2 * r + 1)),
            ("padding_low", A.Ints(0, 0, 0, r)), ("padding_high", A.Ints(0, 0, 0, r))));
        var d = n.L.Binary("add", n.L.Scalar(e, n.Float("bias", 1f)), n.L.Binary("mul", n.L.Scalar(e, n.Float("alpha", 1f)), sum));
        n.Output(0, n.L.Emit("div", x, n.L.Binary("pow", d, n.L.Scalar(e, n.Float("beta", 0.5f)))));
    }

    /// <summary>SoftmaxCrossEntropyWithLogits: loss = −Σ labels·log_softmax(logits), backprop = softmax − labels (last axis).</summary>
    private static void SoftmaxCrossEntropy(TfNode n)
    {
        Value logits = n.Input(0), labels = n.Input(1);
        var shape = Lowerer.BroadcastShape(logits.Type.Shape, labels.Type.Shape);
        if (shape.Length != 2) throw n.Error($"needs [batch, classes] operands, got {logits.Type} and {labels.Type}");
        logits = n.L.Broadcast(logits, shape);
        labels = n.L.Broadcast(labels, shape);
        var logp = TfElementwiseOps.Softmax(n.L, logits, log: true);
        var loss = n.L.Emit("neg", n.L.Reduce(n.L.Emit("mul", labels, logp), "sum", [1], keepDims: false));
        n.Output(0, loss);
        n.Output(1, n.L.Emit("sub", n.L.Emit("exp", logp), labels));
    }
}
