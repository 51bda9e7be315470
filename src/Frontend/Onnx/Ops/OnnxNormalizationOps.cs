using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>BatchNormalization (inference and opset-14 training mode), InstanceNormalization, LayerNormalization, LRN, MeanVarianceNormalization.</summary>
public static class OnnxNormalizationOps
{
    /// <summary>A per-channel [C] vector reshaped to [1, C, 1, ...] for an N×C×... tensor of rank <paramref name="rank"/>.</summary>
    private static Value PerChannel(Lowerer l, Value v, int rank)
    {
        var shape = Enumerable.Repeat(1L, rank).ToArray();
        shape[1] = v.Type.ElementCount;
        return l.Reshape(v, shape);
    }

    private static void BatchNormalization(OnnxNode n)
    {
        var l = n.L;
        if (n.Int("training_mode", 0) != 0)
        {
            if (n.Opset < 14) throw n.Unsupported($"training_mode=1 at opset {n.Opset}");
            BatchNormalizationTraining(n);
            return;
        }
        if (n.Opset < 9 && n.Int("spatial", 1) != 1) throw n.Unsupported("spatial=0");
        if (n.Opset < 7 && n.Int("is_test", 0) == 0) throw n.Unsupported("is_test=0 (training)");
        for (int i = 1; i < n.OutputCount; i++)
            if (n.WantsOutput(i)) throw n.Unsupported($"output #{i} (training statistics)");
        var x = n.Input(0);
        int r = x.Type.Rank;
        var e = x.Type.Element;
        var scale = PerChannel(l, n.Input(1), r);
        var bias = PerChannel(l, n.Input(2), r);
        var mean = PerChannel(l, n.Input(3), r);
        var variance = PerChannel(l, n.Input(4), r);
        var eps = l.Scalar(variance.Type.Element, n.Float("epsilon", 1e-5f));
        var inv = l.Emit("rsqrt", l.Binary("add", variance, eps));
        var y = l.Binary("mul", l.Binary("sub", x, l.Convert(mean, e)), l.Convert(l.Binary("mul", inv, scale), e));
        n.Output(0, l.Binary("add", y, l.Convert(bias, e)));
    }

    /// <summary>
    /// Training mode (opset 14+): normalises with the batch's statistics, the mean and population variance over every
    /// dim but the channel, and outputs the running ones moved towards them: running · momentum + batch · (1 − momentum).
    /// </summary>
    private static void BatchNormalizationTraining(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        int r = x.Type.Rank;
        var e = x.Type.Element;
        if (r < 2) throw n.Error($"X must have rank >= 2 (N, C, ...), got {x.Type}");
        int[] axes = [0, .. Enumerable.Range(2, r - 2)];
        var cnt = l.Scalar(e, axes.Aggregate(1L, (c, a) => c * x.Type.Shape[a]));
        var mean = l.Binary("div", l.Reduce(x, "sum", axes, keepDims: true), cnt);
        var diff = l.Binary("sub", x, mean);
        var variance = l.Binary("div", l.Reduce(l.Emit("mul", diff, diff), "sum", axes, keepDims: true), cnt);
        var inv = l.Emit("rsqrt", l.Binary("add", variance, l.Scalar(e, n.Float("epsilon", 1e-5f))));
        var scale = l.Convert(PerChannel(l, n.Input(1), r), e);
        var bias = l.Convert(PerChannel(l, n.Input(2), r), e);
        n.Output(0, l.Binary("add", l.Binary("mul", l.Binary("mul", diff, inv), scale), bias));

        double momentum = n.Float("momentum", 0.9f);
        Value Running(Value current, Value batch)
        {
            var b = l.Convert(l.Reshape(batch, current.Type.Shape.ToArray()), current.Type.Element);
            var kept = l.Binary("mul", current, l.Scalar(current.Type.Element, momentum));
            return l.Binary("add", kept, l.Binary("mul", b, l.Scalar(current.Type.Element, 1 - momentum)));
        }
        n.Output(1, Running(n.Input(3), mean));
        n.Output(2, Running(n.Input(4), variance));
        for (int i = 3; i < n.OutputCount; i++)
            if (n.WantsOutput(i)) throw n.Unsupported($"output #{i} in training mode");
    }

    /// <summary>(x − mean) / sqrt(var + eps) over <paramref name="axes"/> (population variance), with mean and 1/std kept.</summary>
    private static (Value Diff, Value Mean, Value InvStd) Standardize(Lowerer l, Value x, int[] axes, double epsilon)
    {
        long count = axes.Aggregate(1L, (c, a) => c * x.Type.Shape[a]);
        var cnt = l.Scalar(x.Type.Element, count);
        var mean = l.Binary("div", l.Reduce(x, "sum", axes, keepDims: true), cnt);
        var diff = l.Binary("sub", x, mean);
        var variance = l.Binary("div", l.Reduce(l.Emit("mul", diff, diff), "sum", axes, keepDims: true), cnt);
        var invStd = l.Binary("div", l.Scalar(x.Type.Element, 1), l.Emit("sqrt", l.Binary("add", variance, l.Scalar(x.Type.Element, epsilon))));
        return (diff, mean, invStd);
    }

    private static void InstanceNormalization(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        int r = x.Type.Rank;
        var (diff, _, invStd) = Standardize(l, x, [.. Enumerable.Range(2, r - 2)], n.Float("epsilon", 1e-5f));
        var y = l.Binary("mul", l.Binary("mul", diff, invStd), PerChannel(l, n.Input(1), r));
        n.Output(0, l.Binary("add", y, PerChannel(l, n.Input(2), r)));
    }

    /// <summary>
    /// LayerNormalization over dims [axis, rank): statistics in the stash type (stash_type 1 = float32),
    /// normalized values cast back, then · Scale + B (broadcast). Mean and InvStdDev keep the reduced dims as 1.
    /// </summary>
    private static void LayerNormalization(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        int r = x.Type.Rank;
        int axis = Lowerer.Axis(n.Int("axis", -1), r);
        long stash = n.Int("stash_type", 1);
        var stashType = stash switch
        {
            1 => ElementType.F32,
            11 => ElementType.F64,
            10 => ElementType.F16,
            16 => ElementType.BF16,
            _ => throw n.Unsupported($"stash_type={stash}"),
        };
        var xs = l.Convert(x, stashType);
        var (diff, mean, invStd) = Standardize(l, xs, [.. Enumerable.Range(axis, r - axis)], n.Float("epsilon", 1e-5f));
        var y = l.Convert(l.Binary("mul", diff, invStd), x.Type.Element);
        y = l.Binary("mul", y, n.Input(1));
        if (n.Optional(2) is { } b) y = l.Binary("add", y, b);
        n.Output(0, y);
        n.Output(1, mean);
        n.Output(2, invStd);
    }

    /// <summary>LRN: x / (bias + alpha/size · sum of x² over channels [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉])^beta.</summary>
    private static void Lrn(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        int r = x.Type.Rank;
        long size = n.Int("size");
        var e = x.Type.Element;
        var window = Enumerable.Repeat(1L, r).ToArray();
        window[1] = size;
        var lo = new long[r];
        var hi = new long[r];
        lo[1] = (size - 1) / 2;
        hi[1] = size - 1 - lo[1];
        var sq = l.Emit("mul", x, x);
        var sum = l.Emit("reduce_window", [sq], AttrMap.Of(("kind", new EnumAttr("sum")), ("window", OnnxMatMulOps.Ints(window)),
            ("padding_low", OnnxMatMulOps.Ints(lo)), ("padding_high", OnnxMatMulOps.Ints(hi))), x.Type);
        var scaled = l.Binary("add", l.Scalar(e, n.Float("bias", 1f)), l.Binary("mul", sum, l.Scalar(e, n.Float("alpha", 1e-4f) / (double)size)));
        n.Output(0, l.Binary("div", x, l.Binary("pow", scaled, l.Scalar(e, n.Float("beta", 0.75f)))));
    }

    /// <summary>MeanVarianceNormalization as its function body: (X − E[X]) / (sqrt(E[X²] − E[X]²) + 1e-9).</summary>
    private static void MeanVarianceNormalization(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        var e = x.Type.Element;
        var axes = (n.Ints("axes") ?? [0, 2, 3]).Select(a => Lowerer.Axis(a, x.Type.Rank, "axes")).Distinct().ToArray();
        var cnt = l.Scalar(e, axes.Aggregate(1L, (c, a) => c * x.Type.Shape[a]));
        var mean = l.Binary("div", l.Reduce(x, "sum", axes, keepDims: true), cnt);
        var meanSq = l.Binary("div", l.Reduce(l.Emit("mul", x, x), "sum", axes, keepDims: true), cnt);
        var std = l.Emit("sqrt", l.Binary("sub", meanSq, l.Emit("mul", mean, mean)));
        n.Output(0, l.Binary("div", l.Binary("sub", x, mean), l.Binary("add", std, l.Scalar(e, 1e-9))));
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("BatchNormalization", BatchNormalization), ("InstanceNormalization", InstanceNormalization),
        ("LayerNormalization", LayerNormalization), ("LRN", Lrn), ("MeanVarianceNormalization", MeanVarianceNormalization),
    ];
}
