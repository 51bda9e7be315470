using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul, QLinearConv.</summary>
public static class OnnxQuantizationOps
{
    private static (double Lo, double Hi) Range(OnnxNode n, ElementType e) => e switch
    {
        ElementType.U8 => (0, 255),
        ElementType.I8 => (-128, 127),
        ElementType.U16 => (0, 65535),
        ElementType.I16 => (-32768, 32767),
        ElementType.I32 => (int.MinValue, int.MaxValue),
        _ => throw n.Unsupported($"quantized type {e}"),
    };

    /// <summary>A per-axis (1-D) scale or zero point reshaped to line up with <paramref name="axis"/> of a rank-<paramref name="rank"/> tensor.</summary>
    private static Value PerAxis(Lowerer l, Value v, int rank, int axis)
    {
        if (v.Type.Rank != 1 || rank <= 1) return v;
        var shape = Enumerable.Repeat(1L, rank).ToArray();
        shape[axis] = v.Type.Shape[0];
        return l.Reshape(v, shape);
    }

    /// <summary>The per-axis axis; only checked when the scale is 1-D (a per-tensor scale ignores it).</summary>
    private static int QuantAxis(OnnxNode n, Value x) =>
        n.Input(1).Type.Rank == 1 && x.Type.Rank > 1 ? Lowerer.Axis(n.Int("axis", 1), x.Type.Rank) : 0;

    /// <summary>saturate(round_half_even(v) + zero point) converted to <paramref name="to"/>; v is a float tensor.</summary>
    private static Value RoundSaturate(OnnxNode n, Value v, Value? zp, ElementType to)
    {
        var l = n.L;
        var e = v.Type.Element;
        var r = l.Emit("round", v);
        if (zp is not null) r = l.Binary("add", r, l.Convert(zp, e));
        var (lo, hi) = Range(n, to);
        r = l.Binary("min", l.Binary("max", r, l.Scalar(e, lo)), l.Scalar(e, hi));
        return l.Convert(r, to);
    }

    private static void QuantizeLinear(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        int axis = QuantAxis(n, x);
        var zp = n.Optional(2);
        var to = zp?.Type.Element ?? ElementType.U8;
        var scale = PerAxis(l, n.Input(1), x.Type.Rank, axis);
        var zpa = zp is null ? null : PerAxis(l, zp, x.Type.Rank, axis);
        // x / scale in x's float type (f32 like the reference), then round half to even.
        var q = l.Binary("div", x, l.Convert(scale, x.Type.Element));
        n.Output(0, RoundSaturate(n, q, zpa, to));
    }

    private static void DequantizeLinear(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        int axis = QuantAxis(n, x);
        var scale = PerAxis(l, n.Input(1), x.Type.Rank, axis);
        var e = scale.Type.Element;
        var v = l.Convert(l.Convert(x, ElementType.I32), e);
        if (n.Optional(2) is { } zp) v = l.Binary("sub", v, l.Convert(l.Convert(PerAxis(l, zp, x.Type.Rank, axis), ElementType.I32), e));
        n.Output(0, l.Binary("mul", v, scale));
    }

    /// <summary>DynamicQuantizeLinear: uint8 with scale = (max(0, max x) − min(0, min x)) / 255 and the matching zero point.</summary>
    private static void DynamicQuantizeLinear(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        var e = x.Type.Element;
        var all = Enumerable.Range(0, x.Type.Rank).ToArray();
        var zero = l.Scalar(e, 0);
        var hi = l.Emit("max", l.Reduce(x, "max", all, keepDims: false), zero);
        var lo = l.Emit("min", l.Reduce(x, "min", all, keepDims: false), zero);
        var scale = l.Emit("div", l.Emit("sub", hi, lo), l.Scalar(e, 255));
        var zp = RoundSaturate(n, l.Emit("div", l.Emit("sub", zero, lo), scale), null, ElementType.U8);
        n.Output(0, RoundSaturate(n, l.Binary("div", x, scale), zp, ElementType.U8));
        n.Output(1, scale);
        n.Output(2, zp);
    }

    /// <summary>Requantizes an i32 accumulator: round(acc · scale) + y_zero_point, saturated to y's type.</summary>
    private static Value Requantize(OnnxNode n, Value acc, Value scale, Value? yzp, ElementType to)
    {
        var l = n.L;
        var v = l.Binary("mul", l.Convert(acc, scale.Type.Element), scale);
        return RoundSaturate(n, v, yzp, to);
    }

    private static void QLinearMatMul(OnnxNode n)
    {
        var l = n.L;
        var a = OnnxMatMulOps.MinusZeroPoint(l, n.Input(0), n.Input(2), perRowOfMatrix: true);
        var b = OnnxMatMulOps.MinusZeroPoint(l, n.Input(3), n.Input(5), perRowOfMatrix: false);
        var acc = OnnxMatMulOps.MatMul(l, a, b, ElementType.I32);
        var (aScale, bScale, yScale) = (n.Input(1), n.Input(4), n.Input(6));
        if (aScale.Type.Rank == 1 && aScale.Type.Shape[0] != 1) aScale = l.Reshape(aScale, aScale.Type.Shape[0], 1);
        var scale = l.Binary("div", l.Binary("mul", aScale, bScale), yScale);
        var yzp = n.Input(7);
        n.Output(0, Requantize(n, acc, scale, yzp, yzp.Type.Element));
    }

    private static void QLinearConv(OnnxNode n)
    {
        var l = n.L;
        var x = OnnxMatMulOps.MinusZeroPoint(l, n.Input(0), n.Input(2), perRowOfMatrix: false);
        var w = n.Input(3);
        var wi = l.Convert(w, ElementType.I32);
        var wzp = n.Input(5);
        var z = l.Convert(wzp, ElementType.I32);
        int rank = w.Type.Rank;
        if (z.Type.Rank == 1) z = l.Reshape(z, [z.Type.Shape[0], .. Enumerable.Repeat(1L, rank - 1)]);
        wi = l.Binary("sub", wi, z);
        var acc = OnnxConvOps.AddBias(l, OnnxConvOps.Convolve(n, x, wi, ElementType.I32), n.Optional(8));
        var wScale = n.Input(4);
        if (wScale.Type.Rank == 1) wScale = l.Reshape(wScale, [1, wScale.Type.Shape[0], .. Enumerable.Repeat(1L, rank - 2)]);
        var scale = l.Binary("div", l.Binary("mul", n.Input(1), wScale), n.Input(6));
        var yzp = n.Input(7);
        n.Output(0, Requantize(n, acc, scale, yzp, yzp.Type.Element));
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("QuantizeLinear", QuantizeLinear), ("DequantizeLinear", DequantizeLinear), ("DynamicQuantizeLinear", DynamicQuantizeLinear),
        ("QLinearMatMul", QLinearMatMul), ("QLinearConv", QLinearConv),
    ];
}
