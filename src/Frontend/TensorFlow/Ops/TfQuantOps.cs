using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>
/// Fake quantization (quantize then dequantize, in float): FakeQuantWithMinMaxArgs, FakeQuantWithMinMaxVars,
/// FakeQuantWithMinMaxVarsPerChannel (last dimension), following TF's fake_quant_ops_functor.h. The range
/// must be known at import (a constant or frozen variable, as in exported models): the nudging is done then.
/// QuantizeAndDequantize (V1..V4) follow quantize_and_dequantize_op.h, computed in the graph (the range may
/// be a runtime value, or the input's own min and max).
/// </summary>
public static class TfQuantOps
{
    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("FakeQuantWithMinMaxArgs", n => FakeQuant(n, [n.Float("min", -6f)], [n.Float("max", 6f)])),
        ("FakeQuantWithMinMaxVars", n => FakeQuant(n, Range(n, 1, "min"), Range(n, 2, "max"))),
        ("FakeQuantWithMinMaxVarsPerChannel", n => FakeQuant(n, Range(n, 1, "min"), Range(n, 2, "max"))),
        // V1 takes its range as attributes; V3 takes num_bits as an input and always rounds half to even; V4 differs from V2 only in its gradient.
        ("QuantizeAndDequantize", n => QuantizeAndDequantize(n, (int)n.Int("num_bits", DefaultBits), HalfToEven, rangeGivenDefault: false,
            n.L.Scalar(ElementType.F32, n.Float("input_min", 0)), n.L.Scalar(ElementType.F32, n.Float("input_max", 0)))),
        ("QuantizeAndDequantizeV2", n => QuantizeAndDequantize(n, (int)n.Int("num_bits", DefaultBits), n.String("round_mode", HalfToEven), rangeGivenDefault: false)),
        ("QuantizeAndDequantizeV3", n => QuantizeAndDequantize(n, NumBitsInput(n), HalfToEven, rangeGivenDefault: true)),
        ("QuantizeAndDequantizeV4", n => QuantizeAndDequantize(n, (int)n.Int("num_bits", DefaultBits), n.String("round_mode", HalfToEven), rangeGivenDefault: false)),
    ];

    private const int DefaultBits = 8;
    private const string HalfToEven = "HALF_TO_EVEN", HalfUp = "HALF_UP";

    private static float[] Range(TfNode n, int i, string what)
    {
        var t = n.Known(i) ?? throw n.Unsupported($"{what} not known at import time (the quantization range must be a constant)");
        return [.. Enumerable.Range(0, (int)t.ElementCount).Select(k => (float)t.GetDouble(k))];
    }

    /// <summary>
    /// TF's Nudge, in float as TF computes it: the range is shifted so that zero is exactly representable.
    /// Returns (nudged_min, nudged_max, scale, inv_scale).
    /// </summary>
    public static (float Min, float Max, float Scale, float InvScale) Nudge(float min, float max, int numBits, bool narrowRange)
    {
        float quantMin = narrowRange ? 1 : 0, quantMax = (1 << numBits) - 1;
        float scale = (max - min) / (quantMax - quantMin);
        float invScale = (quantMax - quantMin) / (max - min);
        float zeroPointFromMin = quantMin - min / scale;
        // std::round: halves away from zero.
        float zeroPoint = zeroPointFromMin < quantMin ? quantMin : zeroPointFromMin > quantMax ? quantMax : MathF.Round(zeroPointFromMin, MidpointRounding.AwayFromZero);
        return ((quantMin - zeroPoint) * scale, (quantMax - zeroPoint) * scale, scale, invScale);
    }

    /// <summary>y = floor((clamp(x, nmin, nmax) − nmin)·inv_scale + 0.5)·scale + nmin, per tensor or per last-dim channel.</summary>
    private static void FakeQuant(TfNode n, float[] min, float[] max)
    {
        var x = n.Input(0);
        if (x.Type.Element != ElementType.F32) throw n.Unsupported($"input of type {x.Type.Element.Name()} (TF takes float32)");
        if (min.Length != max.Length) throw n.Error($"min has {min.Length} values, max {max.Length}");
        int bits = (int)n.Int("num_bits", 8);
        if (bits is < 2 or > 16) throw n.Error($"num_bits must be in [2, 16], got {bits}");
        bool narrow = n.Bool("narrow_range", false);
        bool perChannel = n.Op.EndsWith("PerChannel", StringComparison.Ordinal);
        if (perChannel && (x.Type.Rank == 0 || x.Type.Shape[^1] != min.Length))
            throw n.Error($"per-channel min/max have {min.Length} values; the input's last dimension is {(x.Type.Rank == 0 ? "missing" : x.Type.Shape[^1])}");
        if (!perChannel && min.Length != 1) throw n.Error("min and max must be scalars");
        for (int c = 0; c < min.Length; c++)
            if (!(min[c] < max[c])) throw n.Error($"min ({min[c]}) must be less than max ({max[c]})");
        var nudged = min.Zip(max, (a, b) => Nudge(a, b, bits, narrow)).ToArray();
        Value V(Func<(float Min, float Max, float Scale, float InvScale), float> pick)
        {
            var values = nudged.Select(v => (double)pick(v)).ToArray();
            return perChannel ? n.L.Constant(Tensor.FromDoubles(new TensorType(ElementType.F32, values.Length), values)) : n.L.Scalar(ElementType.F32, values[0]);
        }
        Value nmin = V(v => v.Min), nmax = V(v => v.Max), scale = V(v => v.Scale), inv = V(v => v.InvScale);
        var clamped = n.L.Binary("min", n.L.Binary("max", x, nmin), nmax);
        var q = n.L.Emit("floor", n.L.Binary("add", n.L.Binary("mul", n.L.Binary("sub", clamped, nmin), inv), n.L.Scalar(ElementType.F32, 0.5)));
        n.Output(0, n.L.Binary("add", n.L.Binary("mul", q, scale), nmin));
    }

    private static int NumBitsInput(TfNode n)
    {
        var bits = n.Known(3) ?? throw n.Unsupported("num_bits not known at import time (it must be a constant)");
        return bits.ElementCount == 1 ? checked((int)bits.GetInt64(0)) : throw n.Error($"num_bits must be a scalar, got {bits.Type}");
    }

    /// <summary>
    /// QuantizeAndDequantize*: the range [min, max] (given, or the input's own min and max; per slice along
    /// <c>axis</c> when it is not -1) is widened on one side so that 0 stays exact, giving scale s and inverse
    /// scale 1/s as TF's ComputeQuantizationRange does; then y = round(x·s)·(1/s), x first clamped to the widened
    /// range when the range is given. Round is half to even, or floor(v + 0.5) for HALF_UP.
    /// </summary>
    private static void QuantizeAndDequantize(TfNode n, int bits, string roundMode, bool rangeGivenDefault, Value? minAttr = null, Value? maxAttr = null)
    {
        var l = n.L;
        var x = n.Input(0);
        var e = x.Type.Element;
        if (e is not (ElementType.F32 or ElementType.F64)) throw n.Unsupported($"input of type {e.Name()} (float32 and float64 are taken)");
        bool signed = n.Bool("signed_input", true), narrow = n.Bool("narrow_range", false), rangeGiven = n.Bool("range_given", rangeGivenDefault);
        // TF's limits: the quantized range must fit in an int64 with room for the sign.
        if (bits < 1 || bits >= (signed ? 62 : 63)) throw n.Error($"num_bits is {bits}; it must be in [1, {(signed ? 61 : 62)}] with signed_input={signed}");
        if (roundMode is not (HalfToEven or HalfUp)) throw n.Error($"round_mode '{roundMode}' (takes {HalfToEven} or {HalfUp})");
        long axis = n.Int("axis", -1);
        if (axis < -1 || axis >= x.Type.Rank) throw n.Error($"axis {axis} is out of range for {x.Type} (-1 means one range for the whole tensor)");
        long depth = axis == -1 ? 1 : x.Type.Shape[(int)axis];
        // The range as a value broadcasting against x: a scalar, or [1.., depth, ..1] with depth at axis.
        long[] rangeShape = axis == -1 ? [] : [.. Enumerable.Range(0, x.Type.Rank).Select(d => d == axis ? depth : 1L)];
        Value Given(Value v, string what)
        {
            if (v.Type.Element != e) v = minAttr is null ? throw n.Error($"{what} is {v.Type}; it must have the input's type {e.Name()}") : l.Convert(v, e);
            if (v.Type.ElementCount != depth) throw n.Error($"{what} has {v.Type.ElementCount} values; {(axis == -1 ? "it must be a scalar" : $"dimension {axis} of the input has {depth}")}");
            return l.Reshape(v, rangeShape);
        }
        var others = Enumerable.Range(0, x.Type.Rank).Where(d => d != axis).ToList();
        Value Own(string kind) => l.Reshape(others.Count == 0 ? x : l.Reduce(x, kind, others, keepDims: true), rangeShape);
        Value minR = rangeGiven ? Given(minAttr ?? n.Input(1), "input_min") : Own("min");
        Value maxR = rangeGiven ? Given(maxAttr ?? n.Input(2), "input_max") : Own("max");
        if (rangeGiven && l.Known(minR) is { } kmin && l.Known(maxR) is { } kmax)
            for (long c = 0; c < depth; c++)
                if (kmin.GetDouble(c) > kmax.GetDouble(c)) throw n.Error($"input_min {kmin.GetDouble(c)} is greater than input_max {kmax.GetDouble(c)}");

        long qmin = signed ? (narrow ? -(1L << (bits - 1)) + 1 : -(1L << (bits - 1))) : 0;
        long qmax = signed ? (1L << (bits - 1)) - 1 : (1L << bits) - 1;
        Value C(double v) => l.Scalar(e, v);
        Value qMin = C(qmin), qMax = C(qmax), zero = C(0), largest = C(e == ElementType.F32 ? float.MaxValue : double.MaxValue);
        // The largest scale that maps [min, max] into [qmin, qmax] keeping 0 at 0; a side that cannot bound it gives the largest value.
        var fromMin = l.Select(l.Compare("gt", l.Binary("mul", qMin, minR), zero), l.Binary("div", qMin, minR), largest);
        var fromMax = l.Select(l.Compare("gt", l.Binary("mul", qMax, maxR), zero), l.Binary("div", qMax, maxR), largest);
        // The side that determines the scale keeps its end; the other end moves.
        var minSide = l.Compare("lt", fromMin, fromMax);
        var scale = l.Select(minSide, fromMin, fromMax);
        var inverse = l.Select(minSide, l.Binary("div", minR, qMin), l.Binary("div", maxR, qMax));
        var v = x;
        if (rangeGiven)
        {
            var lo = l.Select(minSide, minR, l.Binary("mul", qMin, inverse));
            var hi = l.Select(minSide, l.Binary("mul", qMax, inverse), maxR);
            v = l.Binary("max", l.Binary("min", v, hi), lo);
        }
        v = l.Binary("mul", v, scale);
        v = roundMode == HalfUp ? l.Emit("floor", l.Binary("add", v, C(0.5))) : l.Emit("round", v);
        n.Output(0, l.Binary("mul", v, inverse));
    }
}
