using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>
/// Resize and Upsample. The scales/sizes are known at import time, so every output position's source
/// taps and weights are computed here, exactly as the ONNX reference implementation does, and the
/// op becomes, per resized axis, one gather (nearest) or a weighted sum of gathers (linear, cubic).
/// </summary>
public static class OnnxResizeOps
{
    /// <summary>How one axis is resized: for each output position its taps (source indices) and weights; extrapolated positions.</summary>
    private sealed record AxisPlan(long[][] Taps, double[][] Weights, bool[] Extrapolated);

    private sealed record Settings(string Mode, string Coord, string Nearest, double CubicA, bool ExcludeOutside);

    private static void Resize(OnnxNode n)
    {
        var x = n.Input(0);
        int r = x.Type.Rank;
        var inShape = x.Type.Shape.ToArray();
        var mode = n.String("mode", "nearest");
        double[]? scales;
        long[]? sizes = null;
        double[]? roi = null;
        Settings s;
        if (n.Opset < 11)
        {
            // Resize-10 is Upsample-9: asymmetric coordinates, nearest rounds down.
            scales = OnnxT.KnownDoubles(n, 1, "scales");
            s = new Settings(mode, "asymmetric", "floor", -0.75, false);
        }
        else
        {
            if (n.Opset >= 18 && n.Int("antialias", 0) != 0) throw n.Unsupported("antialias=1");
            var coord = n.String("coordinate_transformation_mode", "half_pixel");
            if (coord is not ("half_pixel" or "pytorch_half_pixel" or "align_corners" or "asymmetric" or "tf_half_pixel_for_nn" or "tf_crop_and_resize"))
                throw n.Unsupported($"coordinate_transformation_mode={coord}");
            s = new Settings(mode, coord, n.String("nearest_mode", "round_prefer_floor"), n.Float("cubic_coeff_a", -0.75f), n.Int("exclude_outside", 0) != 0);
            if (coord == "tf_crop_and_resize") roi = n.Has(1) ? OnnxT.KnownDoubles(n, 1, "roi") : throw n.Error("tf_crop_and_resize needs roi");
            scales = n.Has(2) && n.Input(2).Type.ElementCount > 0 ? OnnxT.KnownDoubles(n, 2, "scales") : null;
            sizes = n.Has(3) && n.Input(3).Type.ElementCount > 0 ? OnnxT.KnownInts(n, 3, "sizes") : null;
            if ((scales is null) == (sizes is null)) throw n.Error("exactly one of scales and sizes must be given");
            if (n.Opset >= 18 && n.Ints("axes") is { } axesList)
            {
                var axes = OnnxT.NormalizeAxes(n, axesList, r);
                if (scales is not null) scales = Expand(axes, scales, r, _ => 1.0);
                if (sizes is not null) sizes = Expand(axes, sizes, r, d => inShape[d]);
                if (roi is not null)
                {
                    var full = Enumerable.Repeat(0.0, r).Concat(Enumerable.Repeat(1.0, r)).ToArray();
                    for (int i = 0; i < axes.Length; i++) (full[axes[i]], full[r + axes[i]]) = (roi[i], roi[axes.Length + i]);
                    roi = full;
                }
            }
            if (sizes is not null)
            {
                if (sizes.Length != r) throw n.Error($"sizes has {sizes.Length} entries for rank {r}");
                scales = [.. Enumerable.Range(0, r).Select(d => (double)sizes[d] / inShape[d])];
                var policy = n.Opset >= 18 ? n.String("keep_aspect_ratio_policy", "stretch") : "stretch";
                if (policy != "stretch")
                {
                    var resized = n.Opset >= 18 && n.Ints("axes") is { } al ? OnnxT.NormalizeAxes(n, al, r) : Enumerable.Range(0, r).ToArray();
                    double one = policy switch
                    {
                        "not_larger" => resized.Min(d => scales[d]),
                        "not_smaller" => resized.Max(d => scales[d]),
                        _ => throw n.Unsupported($"keep_aspect_ratio_policy={policy}"),
                    };
                    scales = [.. Enumerable.Range(0, r).Select(d => resized.Contains(d) ? one : 1.0)];
                    sizes = [.. Enumerable.Range(0, r).Select(d => resized.Contains(d) ? (long)(one * inShape[d] + 0.5) : inShape[d])];
                }
            }
        }
        if (scales is null || scales.Length != r) throw n.Error($"scales must have {r} entries");
        sizes ??= [.. Enumerable.Range(0, r).Select(d => (long)(scales[d] * inShape[d]))];
        if (roi is not null && roi.Length != 2 * r) throw n.Error($"roi has {roi.Length} entries, expected {2 * r}");
        n.Output(0, Interpolate(n, x, sizes, scales, roi, s, n.Float("extrapolation_value", 0)));
    }

    private static T[] Expand<T>(int[] axes, T[] given, int rank, Func<int, T> other)
    {
        var full = Enumerable.Range(0, rank).Select(other).ToArray();
        for (int i = 0; i < axes.Length; i++) full[axes[i]] = given[i];
        return full;
    }

    private static void Upsample(OnnxNode n)
    {
        if (n.Opset < 7) throw n.Unsupported("opset < 7 (height_scale/width_scale)");
        var x = n.Input(0);
        var mode = n.String("mode", "nearest");
        var scales = n.Opset < 9 ? (n.Floats("scales") ?? throw n.Error("attribute 'scales' is required")).Select(f => (double)f).ToArray()
            : OnnxT.KnownDoubles(n, 1, "scales");
        if (scales.Length != x.Type.Rank) throw n.Error($"scales has {scales.Length} entries for rank {x.Type.Rank}");
        if (mode == "bilinear") mode = "linear";
        var sizes = Enumerable.Range(0, x.Type.Rank).Select(d => (long)(scales[d] * x.Type.Shape[d])).ToArray();
        n.Output(0, Interpolate(n, x, sizes, scales, null, new Settings(mode, "asymmetric", "floor", -0.75, false), 0));
    }

    private static Value Interpolate(OnnxNode n, Value x, long[] sizes, double[] scales, double[]? roi, Settings s, double extrapolation)
    {
        if (s.Mode is not ("nearest" or "linear" or "cubic")) throw n.Unsupported($"mode={s.Mode}");
        if (s.Mode == "nearest" && s.Nearest is not ("round_prefer_floor" or "round_prefer_ceil" or "floor" or "ceil"))
            throw n.Unsupported($"nearest_mode={s.Nearest}");
        var l = n.L;
        int r = x.Type.Rank;
        var element = x.Type.Element;
        // Weighted sums are formed in double and rounded once, as the reference does.
        var v = s.Mode == "nearest" ? x : l.Convert(x, ElementType.F64);
        var extrapolated = new List<(int Axis, bool[] Mask)>();
        for (int d = r - 1; d >= 0; d--)
        {
            long inW = x.Type.Shape[d];
            if (sizes[d] < 0) throw n.Error($"output size {sizes[d]} is negative");
            if (sizes[d] == 0)
            {
                v = OnnxT.SliceAxis(l, v, d, 0, 0);
                continue;
            }
            if (inW == 0) throw n.Error($"cannot resize an empty dimension {d} to {sizes[d]}");
            var plan = Plan(inW, sizes[d], scales[d], roi is null ? null : (roi[d], roi[r + d]), s);
            if (plan.Extrapolated.Any(e => e)) extrapolated.Add((d, plan.Extrapolated));
            if (IsIdentity(plan, inW)) continue;
            v = ApplyAxis(l, v, d, plan);
        }
        if (extrapolated.Count > 0)
        {
            Value? mask = null;
            foreach (var (axis, m) in extrapolated)
            {
                var c = l.Constant(Tensor.FromInt64s(new TensorType(ElementType.Bool, m.Length), [.. m.Select(b => b ? 1L : 0L)]));
                var b = l.Emit("broadcast_in_dim", [c], AttrMap.Of(("dims", A.Ints(axis))), v.Type.WithElement(ElementType.Bool));
                mask = mask is null ? b : l.Emit("or", mask, b);
            }
            v = l.Select(mask!, l.Scalar(v.Type.Element, extrapolation), v);
        }
        return l.Convert(v, element);
    }

    private static bool IsIdentity(AxisPlan p, long inW) =>
        p.Taps.Length == inW && Enumerable.Range(0, (int)inW).All(j =>
            !p.Extrapolated[j] && Enumerable.Range(0, p.Taps[j].Length).All(t => p.Weights[j][t] == 0 || (p.Weights[j][t] == 1 && p.Taps[j][t] == j)));

    /// <summary>Nearest: one gather of the tap with weight 1. Otherwise Σ_t gather(tap t) · weight t.</summary>
    private static Value ApplyAxis(Lowerer l, Value v, int d, AxisPlan p)
    {
        long outW = p.Taps.Length;
        int taps = p.Taps[0].Length;
        var shape = v.Type.Shape.ToArray();
        shape[d] = outW;
        if (p.Weights.All(w => w.All(c => c is 0 or 1) && w.Count(c => c == 1) == 1))
        {
            var pick = p.Taps.Select((t, j) => t[Array.IndexOf(p.Weights[j], 1.0)]).ToArray();
            return OnnxIndexingOps.Take(l, v, d, l.Ints(ElementType.I64, pick));
        }
        Value? acc = null;
        for (int t = 0; t < taps; t++)
        {
            var g = OnnxIndexingOps.Take(l, v, d, l.Ints(ElementType.I64, [.. p.Taps.Select(tp => tp[t])]));
            var w = OnnxT.Constant(l, v.Type.Element, [outW], [.. p.Weights.Select(wt => wt[t])]);
            var wb = l.Emit("broadcast_in_dim", [w], AttrMap.Of(("dims", A.Ints(d))), g.Type);
            var term = l.Emit("mul", g, wb);
            acc = acc is null ? term : l.Emit("add", acc, term);
        }
        return acc!;
    }

    /// <summary>The ONNX reference's 1-D interpolation for every output position of one axis.</summary>
    private static AxisPlan Plan(long inW, long outInt, double scale, (double Start, double End)? roi, Settings s)
    {
        var taps = new long[outInt][];
        var weights = new double[outInt][];
        var extra = new bool[outInt];
        double outW = scale * inW;
        for (long j = 0; j < outInt; j++)
        {
            double xo;
            switch (s.Coord)
            {
                case "align_corners": xo = outW == 1 ? 0 : j * (double)(inW - 1) / (outW - 1); break;
                case "asymmetric": xo = j / scale; break;
                case "pytorch_half_pixel": xo = outW == 1 ? -0.5 : (j + 0.5) / scale - 0.5; break;
                case "tf_half_pixel_for_nn": xo = (j + 0.5) / scale; break;
                case "tf_crop_and_resize":
                    var (r0, r1) = roi!.Value;
                    xo = outW == 1 ? (r1 - r0) * (inW - 1) / 2 : j * (r1 - r0) * (inW - 1) / (outW - 1);
                    xo += r0 * (inW - 1);
                    break;
                default: xo = (j + 0.5) / scale - 0.5; break;
            }
            if (s.Coord == "tf_crop_and_resize" && (xo < 0 || xo > inW - 1))
            {
                extra[j] = true;
                taps[j] = new long[s.Mode == "cubic" ? 4 : 2];
                weights[j] = new double[taps[j].Length];
                continue;
            }
            double fl = Math.Floor(xo);
            double ratio = xo == fl ? 1 : xo - fl;
            var c = Coefficients(ratio, xo == fl, s);
            var idx = Neighbors(xo, c.Length, inW);
            if (s.ExcludeOutside)
            {
                for (int t = 0; t < c.Length; t++)
                    if (idx[t] < 0 || idx[t] >= inW) c[t] = 0;
                double sum = c.Sum();
                for (int t = 0; t < c.Length; t++) c[t] /= sum;
            }
            taps[j] = [.. idx.Select(i => Math.Clamp(i, 0, inW - 1))];
            weights[j] = c;
        }
        return new AxisPlan(taps, weights, extra);
    }

    private static double[] Coefficients(double ratio, bool integral, Settings s)
    {
        if (s.Mode == "nearest")
        {
            if (integral) return [0, 1];
            bool ceil = s.Nearest switch
            {
                "round_prefer_floor" => ratio > 0.5,
                "round_prefer_ceil" => ratio >= 0.5,
                "floor" => false,
                _ => true,
            };
            return ceil ? [0, 1] : [1, 0];
        }
        if (s.Mode == "linear") return [1 - ratio, ratio];
        double a = s.CubicA;
        return
        [
            ((a * (ratio + 1) - 5 * a) * (ratio + 1) + 8 * a) * (ratio + 1) - 4 * a,
            ((a + 2) * ratio - (a + 3)) * ratio * ratio + 1,
            ((a + 2) * (1 - ratio) - (a + 3)) * (1 - ratio) * (1 - ratio) + 1,
            ((a * ((1 - ratio) + 1) - 5 * a) * ((1 - ratio) + 1) + 8 * a) * ((1 - ratio) + 1) - 4 * a,
        ];
    }

    /// <summary>
    /// The n indices nearest to x (ties to the smaller) among the edge-padded axis [-p, inW + p), p = ceil(n/2),
    /// ascending, in unpadded coordinates (they may lie outside [0, inW); the padding repeats the edge).
    /// </summary>
    private static long[] Neighbors(double x, int n, long inW)
    {
        long p = (n + 1) / 2;
        double xp = x + p;
        long limit = inW + 2 * p;
        long c = (long)Math.Clamp(Math.Floor(xp), 0, limit - 1);
        var cand = new List<long>();
        for (long i = Math.Max(0, c - n); i <= Math.Min(limit - 1, c + n); i++) cand.Add(i);
        return [.. cand.OrderBy(i => Math.Abs(xp - i)).ThenBy(i => i).Take(n).Order().Select(i => i - p)];
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All = [("Resize", Resize), ("Upsample", Upsample)];
}
