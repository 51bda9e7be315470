using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>
/// Fake quantization (quantize then dequantize, in float): FakeQuantWithMinMaxArgs, FakeQuantWithMinMaxVars,
/// FakeQuantWithMinMaxVarsPerChannel (last dimension), following TF's fake_quant_ops_functor.h. The range
/// must be known at import (a constant or frozen variable, as in exported models): the nudging is done then.
/// </summary>
public static class TfQuantOps
{
    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("FakeQuantWithMinMaxArgs", n => FakeQuant(n, [n.Float("min", -6f)], [n.Float("max", 6f)])),
        ("FakeQuantWithMinMaxVars", n => FakeQuant(n, Range(n, 1, "min"), Range(n, 2, "max"))),
        ("FakeQuantWithMinMaxVarsPerChannel", n => FakeQuant(n, Range(n, 1, "min"), Range(n, 2, "max"))),
    ];

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
}
