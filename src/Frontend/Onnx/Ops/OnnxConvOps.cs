using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>Conv, ConvTranspose, ConvInteger and QLinearConv (NCHW, via convolution's dims string).</summary>
public static class OnnxConvOps
{
    /// <summary>"bf01_oi01->bf01" for two spatial dims (<paramref name="kernel"/> gives the kernel's two roles).</summary>
    internal static string Labels(int spatial, string kernel = "oi")
    {
        var d = string.Concat(Enumerable.Range(0, spatial));
        return $"bf{d}_{kernel}{d}->bf{d}";
    }

    internal static long[] Attr(OnnxNode n, string name, int count, long dflt)
    {
        var v = n.Ints(name);
        if (v is null) return [.. Enumerable.Repeat(dflt, count)];
        if (v.Length != count) throw n.Error($"'{name}' has {v.Length} entries, expected {count}");
        return v;
    }

    /// <summary>
    /// Begin/end padding per spatial dim from auto_pad (SAME_UPPER puts the odd element at the end,
    /// SAME_LOWER at the start; output = ceil(in / stride)) or the pads attribute.
    /// </summary>
    internal static (long[] Lo, long[] Hi) Pads(OnnxNode n, long[] input, long[] kernel, long[] strides, long[] dilations)
    {
        int r = input.Length;
        var autoPad = n.String("auto_pad", "NOTSET");
        var lo = new long[r];
        var hi = new long[r];
        switch (autoPad)
        {
            case "NOTSET":
                var pads = Attr(n, "pads", 2 * r, 0);
                for (int i = 0; i < r; i++) (lo[i], hi[i]) = (pads[i], pads[r + i]);
                break;
            case "VALID":
                break;
            case "SAME_UPPER" or "SAME_LOWER":
                for (int i = 0; i < r; i++)
                {
                    long outSize = (input[i] + strides[i] - 1) / strides[i];
                    long total = Math.Max(0, (outSize - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - input[i]);
                    long small = total / 2;
                    (lo[i], hi[i]) = autoPad == "SAME_UPPER" ? (small, total - small) : (total - small, small);
                }
                break;
            default:
                throw n.Unsupported($"auto_pad={autoPad}");
        }
        return (lo, hi);
    }

    /// <summary>The convolution itself, shared by Conv, ConvInteger and QLinearConv.</summary>
    internal static Value Convolve(OnnxNode n, Value x, Value w, ElementType result)
    {
        var l = n.L;
        int r = x.Type.Rank - 2;
        if (r < 1 || w.Type.Rank != r + 2) throw n.Error($"Conv needs input and kernel of equal rank >= 3, got {x.Type} and {w.Type}");
        var inSp = x.Type.Shape.Skip(2).ToArray();
        var k = w.Type.Shape.Skip(2).ToArray();
        if (n.Ints("kernel_shape") is { } ks && !ks.SequenceEqual(k)) throw n.Error($"kernel_shape [{string.Join(", ", ks)}] differs from the weights' {w.Type}");
        var strides = Attr(n, "strides", r, 1);
        var dil = Attr(n, "dilations", r, 1);
        long group = n.Int("group", 1);
        var (lo, hi) = Pads(n, inSp, k, strides, dil);
        var shape = new long[r + 2];
        shape[0] = x.Type.Shape[0];
        shape[1] = w.Type.Shape[0];
        for (int i = 0; i < r; i++)
            shape[i + 2] = Math.Max(0, (inSp[i] + lo[i] + hi[i] - ((k[i] - 1) * dil[i] + 1)) / strides[i] + 1);
        return l.Emit("convolution", [x, w], AttrMap.Of(
            ("dims", new StringAttr(Labels(r))), ("window_strides", OnnxMatMulOps.Ints(strides)),
            ("padding_low", OnnxMatMulOps.Ints(lo)), ("padding_high", OnnxMatMulOps.Ints(hi)),
            ("rhs_dilation", OnnxMatMulOps.Ints(dil)), ("feature_group_count", new IntAttr(group))),
            new TensorType(result, shape));
    }

    /// <summary>Adds a per-output-channel bias [M] to an N×M×... tensor.</summary>
    internal static Value AddBias(Lowerer l, Value y, Value? bias)
    {
        if (bias is null) return y;
        var shape = Enumerable.Repeat(1L, y.Type.Rank).ToArray();
        shape[1] = bias.Type.ElementCount;
        return l.Binary("add", y, l.Reshape(bias, shape));
    }

    private static void Conv(OnnxNode n)
    {
        var x = n.Input(0);
        n.Output(0, AddBias(n.L, Convolve(n, x, n.Input(1), x.Type.Element), n.Optional(2)));
    }

    private static void ConvInteger(OnnxNode n)
    {
        var l = n.L;
        var x = OnnxMatMulOps.MinusZeroPoint(l, n.Input(0), n.Optional(2), perRowOfMatrix: false);
        var w = n.Input(1);
        var wi = l.Convert(w, ElementType.I32);
        if (n.Optional(3) is { } wz)
        {
            // Per-output-channel zero points ([M]) line up with the kernel's first dimension.
            var z = l.Convert(wz, ElementType.I32);
            if (z.Type.Rank == 1) z = l.Reshape(z, [z.Type.Shape[0], .. Enumerable.Repeat(1L, w.Type.Rank - 1)]);
            wi = l.Binary("sub", wi, z);
        }
        n.Output(0, Convolve(n, x, wi, ElementType.I32));
    }

    /// <summary>
    /// ConvTranspose as a convolution over the input dilated by the strides (lhs_dilation), with the
    /// kernel spatially reversed and its feature roles swapped ([C, M/group, k...] is "io" per group),
    /// padded by dilation·(k−1) minus the pads (plus output_padding at the end).
    /// </summary>
    private static void ConvTranspose(OnnxNode n)
    {
        var l = n.L;
        var (x, w) = (n.Input(0), n.Input(1));
        int r = x.Type.Rank - 2;
        if (r < 1 || w.Type.Rank != r + 2) throw n.Error($"ConvTranspose needs input and kernel of equal rank >= 3, got {x.Type} and {w.Type}");
        var inSp = x.Type.Shape.Skip(2).ToArray();
        var k = w.Type.Shape.Skip(2).ToArray();
        var strides = Attr(n, "strides", r, 1);
        var dil = Attr(n, "dilations", r, 1);
        var outPad = Attr(n, "output_padding", r, 0);
        long group = n.Int("group", 1);
        long c = x.Type.Shape[1], m = w.Type.Shape[1] * group;
        if (w.Type.Shape[0] != c) throw n.Error($"kernel {w.Type} does not match {c} input channels");
        var lo = new long[r];
        var hi = new long[r];
        var autoPad = n.String("auto_pad", "NOTSET");
        var outputShape = n.Ints("output_shape");
        if (outputShape is not null || autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            var target = outputShape is null ? inSp.Select((s, i) => s * strides[i]).ToArray() : outputShape[^r..];
            for (int i = 0; i < r; i++)
            {
                long total = strides[i] * (inSp[i] - 1) + outPad[i] + ((k[i] - 1) * dil[i] + 1) - target[i];
                long half = (long)Math.Floor(total / 2.0); // Python floor division (total may be negative)
                // The spec: SAME_UPPER puts the odd pad at the end, otherwise at the start.
                (lo[i], hi[i]) = autoPad == "SAME_UPPER" ? (half, total - half) : (total - half, half);
            }
        }
        else if (autoPad is "NOTSET")
        {
            var pads = Attr(n, "pads", 2 * r, 0);
            for (int i = 0; i < r; i++) (lo[i], hi[i]) = (pads[i], pads[r + i]);
        }
        else if (autoPad is not "VALID") throw n.Unsupported($"auto_pad={autoPad}");

        // Kernel [C, M/g, k...] → [g, C/g, M/g, k...] → [g, M/g, C/g, k...] → [M, C/g, k...], reversed spatially.
        var kernel = w;
        if (group != 1)
        {
            kernel = l.Reshape(kernel, [group, c / group, m / group, .. k]);
            kernel = l.Transpose(kernel, [0, 2, 1, .. Enumerable.Range(3, r).Select(i => (long)i)]);
            kernel = l.Reshape(kernel, [m, c / group, .. k]);
        }
        else kernel = l.Transpose(kernel, [1, 0, .. Enumerable.Range(2, r).Select(i => (long)i)]);
        kernel = l.Emit("reverse", [kernel], ("dims", OnnxMatMulOps.Ints(Enumerable.Range(2, r))));

        var pl = new long[r];
        var ph = new long[r];
        var shape = new long[r + 2];
        shape[0] = x.Type.Shape[0];
        shape[1] = m;
        for (int i = 0; i < r; i++)
        {
            long span = (k[i] - 1) * dil[i];
            pl[i] = span - lo[i];
            ph[i] = span - hi[i] + outPad[i];
            shape[i + 2] = (inSp[i] - 1) * strides[i] + 1 + pl[i] + ph[i] - span;
        }
        var y = l.Emit("convolution", [x, kernel], AttrMap.Of(
            ("dims", new StringAttr(Labels(r))), ("padding_low", OnnxMatMulOps.Ints(pl)), ("padding_high", OnnxMatMulOps.Ints(ph)),
            ("lhs_dilation", OnnxMatMulOps.Ints(strides)), ("rhs_dilation", OnnxMatMulOps.Ints(dil)),
            ("feature_group_count", new IntAttr(group))), new TensorType(x.Type.Element, shape));
        n.Output(0, AddBias(l, y, n.Optional(2)));
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("Conv", Conv), ("ConvTranspose", ConvTranspose), ("ConvInteger", ConvInteger),
    ];
}
