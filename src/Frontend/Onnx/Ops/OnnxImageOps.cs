using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>
/// GridSample and RoiAlign. Their sampling positions come from tensors (the grid, the rois), so the
/// taps and weights are computed by elementwise ops in the graph, and each tap is one point gather;
/// the result is the weighted sum (or max) of the taps. Arithmetic is in f64 and rounded once.
/// </summary>
public static class OnnxImageOps
{
    private const ElementType F = ElementType.F64;

    // ---- GridSample --------------------------------------------------------------------------------

    private static void GridSample(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        var grid = n.Input(1);
        int r = x.Type.Rank - 2;
        if (r < 1) throw n.Error($"X must be N×C×spatial, got {x.Type}");
        if (grid.Type.Rank != r + 2 || grid.Type.Shape[r + 1] != r || grid.Type.Shape[0] != x.Type.Shape[0])
            throw n.Error($"grid must be [{x.Type.Shape[0]}, out..., {r}] for X {x.Type}, got {grid.Type}");
        if (n.Opset < 20 && r != 2) throw n.Error($"GridSample-{n.Opset} takes 4-D input only, got {x.Type}");
        // Opset 16 spells the modes bilinear/bicubic, opset 20 linear/cubic.
        var mode = n.String("mode", n.Opset < 20 ? "bilinear" : "linear") switch
        {
            "bilinear" or "linear" => "linear",
            "bicubic" or "cubic" => "cubic",
            "nearest" => "nearest",
            var m => throw n.Unsupported($"mode={m}"),
        };
        var padding = n.String("padding_mode", "zeros");
        if (padding is not ("zeros" or "border" or "reflection")) throw n.Unsupported($"padding_mode={padding}");
        bool align = n.Int("align_corners", 0) != 0;

        long batch = x.Type.Shape[0], channels = x.Type.Shape[1];
        var dims = x.Type.Shape.Skip(2).ToArray();
        var outSp = grid.Type.Shape.Skip(1).Take(r).ToArray();
        long[] coordShape = [batch, .. outSp];
        long[] outShape = [batch, channels, .. outSp];
        var g = l.Convert(grid, F);

        // Per spatial dim: its taps as (index, weight or null for 1), following the ONNX reference step by step.
        var taps = new List<(Value Index, Value? Weight)>[r];
        for (int i = 0; i < r; i++)
        {
            long d = dims[i];
            // The grid's last dimension lists coordinates innermost first (x, y, ...).
            var c = l.Reshape(OnnxT.SliceAxis(l, g, r + 1, r - 1 - i, r - i), coordShape);
            var p = align
                ? l.Binary("mul", l.Binary("add", c, S(l, 1)), S(l, (d - 1) / 2.0))
                : l.Binary("div", l.Binary("sub", l.Binary("mul", l.Binary("add", c, S(l, 1)), S(l, d)), S(l, 1)), S(l, 2));
            if (mode == "nearest") p = l.Emit("round", p);
            double lo = align ? 0 : -0.5, hi = align ? d - 1 : d - 0.5;
            if (padding == "border")
            {
                var outside = l.Emit("or", l.Compare("lt", p, S(l, lo)), l.Compare("gt", p, S(l, hi)));
                p = l.Select(outside, Clamp(l, p, 0, d - 1), p);
            }
            else if (padding == "reflection") p = Reflect(l, p, lo, hi);

            var list = new List<(Value, Value?)>();
            if (mode == "nearest") list.Add((l.Convert(p, ElementType.I64), null));
            else
            {
                var fl = l.Emit("floor", p);
                var t = l.Binary("sub", p, fl);
                var baseIdx = l.Convert(fl, ElementType.I64);
                var coeffs = mode == "linear" ? [l.Binary("sub", S(l, 1), t), t] : CubicCoefficients(l, t);
                long first = mode == "linear" ? 0 : -1;
                for (int k = 0; k < coeffs.Length; k++)
                    list.Add((l.Binary("add", baseIdx, l.Scalar(ElementType.I64, first + k)), coeffs[k]));
            }
            taps[i] = [.. list.Select(tp => Fetch(l, tp.Item1, tp.Item2, d, padding, lo, hi))];
        }

        // Σ over every combination of taps (1, 2^r or 4^r): weight product × X[n, c, i1, ..., ir].
        var v = l.Convert(x, F);
        var nIdx = OnnxT.Iota(l, new TensorType(ElementType.I64, outShape), 0);
        var cIdx = OnnxT.Iota(l, new TensorType(ElementType.I64, outShape), 1);
        long[] spread = [0, .. Enumerable.Range(2, r).Select(k => (long)k)];
        Value Spread(Value a) => l.Emit("broadcast_in_dim", [a], AttrMap.Of(("dims", A.Ints(spread))), a.Type.WithShape([.. outShape]));
        Value? acc = null;
        var pick = new int[r];
        while (true)
        {
            Value? w = null;
            var coords = new List<Value> { nIdx, cIdx };
            for (int i = 0; i < r; i++)
            {
                var (idx, wt) = taps[i][pick[i]];
                coords.Add(Spread(idx));
                if (wt is not null) w = w is null ? wt : l.Emit("mul", w, wt);
            }
            var val = OnnxT.GatherPoints(l, v, coords);
            var term = w is null ? val : l.Emit("mul", val, Spread(w));
            acc = acc is null ? term : l.Emit("add", acc, term);
            int carry = r - 1;
            while (carry >= 0 && ++pick[carry] == taps[carry].Count) pick[carry--] = 0;
            if (carry < 0) break;
        }
        n.Output(0, l.Convert(acc!, x.Type.Element));
    }

    private static Value S(Lowerer l, double v) => l.Scalar(F, v);

    private static Value Clamp(Lowerer l, Value v, double lo, double hi) =>
        l.Binary("min", l.Binary("max", v, l.Scalar(v.Type.Element, lo)), l.Scalar(v.Type.Element, hi));

    /// <summary>
    /// The reference's reflection: a coordinate outside [lo, hi] is folded back by the near border until
    /// inside (|dx| / range reflections, the parity deciding which border it ends up measured from).
    /// </summary>
    private static Value Reflect(Lowerer l, Value p, double lo, double hi)
    {
        double range = hi - lo;
        if (range <= 0) return l.Full(p, lo); // a one-pixel axis with align_corners: everything maps to it
        var below = l.Compare("lt", p, S(l, lo));
        var above = l.Compare("gt", p, S(l, hi));
        var dx = l.Select(below, l.Binary("sub", S(l, lo), p), l.Binary("sub", p, S(l, hi)));
        var q = l.Emit("floor", l.Binary("div", dx, S(l, range)));
        var rest = l.Binary("sub", dx, l.Binary("mul", q, S(l, range)));
        var even = l.Compare("eq", l.Binary("rem", q, S(l, 2)), S(l, 0));
        var fromLo = l.Binary("add", S(l, lo), rest);
        var fromHi = l.Binary("sub", S(l, hi), rest);
        var folded = l.Select(below, l.Select(even, fromLo, fromHi), l.Select(even, fromHi, fromLo));
        return l.Select(l.Emit("or", below, above), folded, p);
    }

    /// <summary>Keys' cubic convolution weights (a = −0.75) of the taps at floor − 1 … floor + 2, for t = p − floor(p).</summary>
    private static Value[] CubicCoefficients(Lowerer l, Value t)
    {
        const double a = -0.75;
        Value Poly(Value s, double c3, double c2, double c1, double c0) =>
            l.Binary("add", l.Binary("mul", l.Binary("add", l.Binary("mul", l.Binary("add", l.Binary("mul", s, S(l, c3)), S(l, c2)), s), S(l, c1)), s), S(l, c0));
        var t1 = l.Binary("add", t, S(l, 1));
        var u = l.Binary("sub", S(l, 1), t);
        var u1 = l.Binary("add", u, S(l, 1));
        // |s| in [1, 2]: a·s³ − 5a·s² + 8a·s − 4a;  |s| in [0, 1]: (a+2)·s³ − (a+3)·s² + 1.
        return [Poly(t1, a, -5 * a, 8 * a, -4 * a), Poly(t, a + 2, -(a + 3), 0, 1), Poly(u, a + 2, -(a + 3), 0, 1), Poly(u1, a, -5 * a, 8 * a, -4 * a)];
    }

    /// <summary>A tap's index made valid for the gather, and its weight with out-of-range taps zeroed (zeros padding).</summary>
    private static (Value, Value?) Fetch(Lowerer l, Value idx, Value? w, long d, string padding, double lo, double hi)
    {
        switch (padding)
        {
            case "zeros":
                var inside = l.Emit("and", l.Compare("ge", idx, l.Scalar(ElementType.I64, 0)), l.Compare("lt", idx, l.Scalar(ElementType.I64, d)));
                var mask = l.Convert(inside, F);
                return (Clamp(l, idx, 0, d - 1), w is null ? mask : l.Emit("mul", w, mask));
            case "border":
                return (Clamp(l, idx, 0, d - 1), w);
            default:
                var reflected = l.Convert(Reflect(l, l.Convert(idx, F), lo, hi), ElementType.I64);
                return (Clamp(l, reflected, 0, d - 1), w);
        }
    }

    // ---- RoiAlign ----------------------------------------------------------------------------------

    private static void RoiAlign(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        var rois = n.Input(1);
        var batchIdx = n.Input(2);
        if (x.Type.Rank != 4) throw n.Error($"X must be N×C×H×W, got {x.Type}");
        long numRois = batchIdx.Type.ElementCount;
        if (rois.Type.Rank != 2 || rois.Type.Shape[1] != 4 || rois.Type.Shape[0] != numRois)
            throw n.Error($"rois must be [{numRois}, 4], got {rois.Type}");
        var mode = n.String("mode", "avg");
        if (mode is not ("avg" or "max")) throw n.Unsupported($"mode={mode}");
        var ctm = n.Opset < 16 ? "output_half_pixel" : n.String("coordinate_transformation_mode", "half_pixel");
        if (ctm is not ("half_pixel" or "output_half_pixel")) throw n.Unsupported($"coordinate_transformation_mode={ctm}");
        bool half = ctm == "half_pixel";
        long ph = n.Int("output_height", 1), pw = n.Int("output_width", 1), ratio = n.Int("sampling_ratio", 0);
        if (ph < 1 || pw < 1) throw n.Error($"output_height/output_width must be positive, got {ph}×{pw}");
        if (ratio < 0) throw n.Error($"sampling_ratio {ratio} is negative");
        double scale = n.Float("spatial_scale", 1f), offset = half ? 0.5 : 0;
        long channels = x.Type.Shape[1], height = x.Type.Shape[2], width = x.Type.Shape[3];

        // Samples per bin, per roi. Adaptive sampling (ratio 0) takes ceil(roi size / bins), which shapes
        // the computation, so then the rois must be known at import time.
        var gridH = new long[numRois];
        var gridW = new long[numRois];
        if (ratio > 0)
        {
            Array.Fill(gridH, ratio);
            Array.Fill(gridW, ratio);
        }
        else
        {
            var known = n.RequireKnown(1, "rois (sampling_ratio=0 samples adaptively by roi size)");
            for (int i = 0; i < numRois; i++)
            {
                // In the input's precision (float), as the reference computes it.
                float Side(int a, int b) => (float)((float)known.GetDouble(i * 4 + b) * (float)scale - offset) - (float)((float)known.GetDouble(i * 4 + a) * (float)scale - offset);
                float rh = Side(1, 3), rw = Side(0, 2);
                if (!half) (rh, rw) = (Math.Max(rh, 1f), Math.Max(rw, 1f));
                gridH[i] = Math.Max(0, (long)Math.Ceiling(rh / ph));
                gridW[i] = Math.Max(0, (long)Math.Ceiling(rw / pw));
            }
        }
        long sh = Math.Max(1, gridH.DefaultIfEmpty().Max()), sw = Math.Max(1, gridW.DefaultIfEmpty().Max());
        bool ragged = gridH.Any(v => v != sh) || gridW.Any(v => v != sw);
        // Every sample of every bin is materialised: refuse sizes that would not fit rather than allocate them.
        double samples = (double)numRois * channels * ph * sh * pw * sw;
        if (samples > 1L << 26) throw n.Unsupported($"{samples:0} samples (rois × channels × bins × samples per bin) in one RoiAlign");

        var rv = l.Convert(rois, F);
        Value Col(int k) => l.Binary("sub", l.Binary("mul", l.Reshape(OnnxT.SliceAxis(l, rv, 1, k, k + 1), numRois), S(l, scale)), S(l, offset));
        var (x0, y0, x1, y1) = (Col(0), Col(1), Col(2), Col(3));
        var roiW = l.Binary("sub", x1, x0);
        var roiH = l.Binary("sub", y1, y0);
        if (!half) (roiW, roiH) = (l.Binary("max", roiW, S(l, 1)), l.Binary("max", roiH, S(l, 1)));
        var gh = OnnxT.Constant(l, F, [numRois], [.. gridH.Select(v => (double)v)]);
        var gw = OnnxT.Constant(l, F, [numRois], [.. gridW.Select(v => (double)v)]);
        var ay = Axis(l, y0, l.Binary("div", roiH, S(l, ph)), gh, ph, sh, height);
        var ax = Axis(l, x0, l.Binary("div", roiW, S(l, pw)), gw, pw, sw, width);

        // Everything below has shape [rois, C, ph, sh, pw, sw].
        long[] full = [numRois, channels, ph, sh, pw, sw];
        Value Y(Value a) => l.Emit("broadcast_in_dim", [a], AttrMap.Of(("dims", A.Ints(0, 2, 3))), a.Type.WithShape([.. full]));
        Value X(Value a) => l.Emit("broadcast_in_dim", [a], AttrMap.Of(("dims", A.Ints(0, 4, 5))), a.Type.WithShape([.. full]));
        var b = l.Emit("broadcast_in_dim", [l.Convert(batchIdx, ElementType.I64)], AttrMap.Of(("dims", A.Ints(0))), new TensorType(ElementType.I64, full));
        var c = OnnxT.Iota(l, new TensorType(ElementType.I64, full), 1);
        var v = l.Convert(x, F);
        var valid = l.Convert(l.Emit("and", Y(ay.Valid), X(ax.Valid)), F);
        Value? acc = null;
        foreach (var (yi, wy) in new[] { (ay.Low, ay.WLow), (ay.High, ay.WHigh) })
            foreach (var (xi, wx) in new[] { (ax.Low, ax.WLow), (ax.High, ax.WHigh) })
            {
                var w = l.Emit("mul", l.Emit("mul", Y(wy), X(wx)), valid);
                var term = l.Emit("mul", OnnxT.GatherPoints(l, v, [b, c, Y(yi), X(xi)]), w);
                acc = acc is null ? term : l.Emit(mode == "avg" ? "add" : "max", acc, term);
            }
        var inGrid = ragged ? l.Emit("and", Y(ay.InGrid), X(ax.InGrid)) : null;
        Value y;
        if (mode == "avg")
        {
            // A select, not a 0/1 product: a roi with no samples divides by a zero grid size (NaN positions).
            if (inGrid is not null) acc = l.Select(inGrid, acc!, l.Full(acc!, 0));
            var count = OnnxT.Constant(l, F, [numRois], [.. gridH.Zip(gridW, (h, w) => (double)Math.Max(1, h * w))]);
            var sum = l.Reduce(acc!, "sum", [3, 5], false);
            y = l.Emit("div", sum, l.Emit("broadcast_in_dim", [count], AttrMap.Of(("dims", A.Ints(0))), sum.Type));
        }
        else
        {
            // The reference's max mode: the largest weighted corner over the bin's samples (0 when it has none).
            if (inGrid is not null) acc = l.Select(inGrid, acc!, l.Full(acc!, double.NegativeInfinity));
            y = l.Reduce(acc!, "max", [3, 5], false);
            if (gridH.Zip(gridW).Any(p => p.First * p.Second == 0))
            {
                var empty = Tensor.FromInt64s(new TensorType(ElementType.Bool, numRois), [.. gridH.Zip(gridW, (h, w) => h * w == 0 ? 1L : 0L)]);
                var e = l.Emit("broadcast_in_dim", [l.Constant(empty)], AttrMap.Of(("dims", A.Ints(0))), y.Type.WithElement(ElementType.Bool));
                y = l.Select(e, l.Full(y, 0), y);
            }
        }
        n.Output(0, l.Convert(y, x.Type.Element));
    }

    /// <summary>One axis of RoiAlign's sampling, each [rois, bins, samples]: the two taps, their weights, validity, in-grid mask.</summary>
    private sealed record RoiAxis(Value Low, Value High, Value WLow, Value WHigh, Value Valid, Value InGrid);

    private static RoiAxis Axis(Lowerer l, Value start, Value bin, Value grid, long bins, long samples, long size)
    {
        var t = new TensorType(F, start.Type.Shape[0], bins, samples);
        Value R(Value a) => l.Emit("broadcast_in_dim", [a], AttrMap.Of(("dims", A.Ints(0))), t);
        var binIdx = OnnxT.Iota(l, t, 1);
        var sample = OnnxT.Iota(l, t, 2);
        // start + bin·b + (s + 0.5)·bin / grid
        var p = l.Emit("add", l.Emit("add", R(start), l.Emit("mul", binIdx, R(bin))),
            l.Emit("div", l.Emit("mul", l.Binary("add", sample, S(l, 0.5)), R(bin)), R(grid)));
        var valid = l.Emit("not", l.Emit("or", l.Compare("lt", p, S(l, -1)), l.Compare("gt", p, S(l, size))));
        p = l.Binary("max", p, S(l, 0));
        var low = l.Emit("floor", p);
        var atEdge = l.Compare("ge", low, S(l, size - 1));
        low = l.Select(atEdge, S(l, size - 1), low);
        p = l.Select(atEdge, low, p);
        var high = l.Select(atEdge, low, l.Binary("add", low, S(l, 1)));
        var frac = l.Emit("sub", p, low);
        var inGrid = l.Compare("lt", sample, R(grid));
        return new RoiAxis(l.Convert(low, ElementType.I64), l.Convert(high, ElementType.I64), l.Binary("sub", S(l, 1), frac), frac, valid, inGrid);
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All = [("GridSample", GridSample), ("RoiAlign", RoiAlign)];
}
