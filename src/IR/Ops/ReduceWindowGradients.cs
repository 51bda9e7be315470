using GraphCompiler.IR.Autodiff;

namespace GraphCompiler.IR.Ops;

internal static partial class ReductionGradients
{
    /// <summary>
    /// reduce_window, one term per window offset w (no scatter op needed, so every backend compiles it):
    /// output o of offset w reads the padded, base-dilated input at q = o·stride + w·window_dilation, so
    /// its share of dy goes back there, spread with interior padding (stride − 1) and summed over w.
    /// sum: every element of a window gets the window's cotangent (average pooling is a sum window
    /// divided by a count, so it is covered). max/min ("select and scatter"): the cotangent goes to the
    /// window's elements equal to its result, split evenly among ties (the rule reduce uses: a
    /// subgradient that keeps the window's total; for a pair it is what a central difference measures,
    /// for k > 2 ties a central difference gives each 1/2, not 1/k); padding never receives any. Holes from base_dilation read the
    /// kind's identity and their gradient is dropped by a strided slice at the end.
    /// </summary>
    public static readonly VjpRule ReduceWindow = c =>
    {
        var x = c.X(0);
        var kind = c.Attr.Enum("kind");
        if (kind is not ("sum" or "max" or "min")) throw c.Error($"kind {kind} is not differentiable yet");
        int rank = x.Type.Rank;
        long[] Get(string name, long dflt) { var v = c.Attr.Ints(name); return v.IsDefaultOrEmpty ? [.. Enumerable.Repeat(dflt, rank)] : [.. v]; }
        var (window, stride, lo, hi) = (Get("window", 1), Get("strides", 1), Get("padding_low", 0), Get("padding_high", 0));
        var (winDil, baseDil) = (Get("window_dilation", 1), Get("base_dilation", 1));
        var y = c.Y().Type;
        if (y.ElementCount == 0 || x.Type.ElementCount == 0) return [c.Zeros(x.Type)];
        if (Tiled(c, kind, window, stride, lo, hi, winDil, baseDil) is { } tiled) return [tiled];
        long[] dilated = [.. Enumerable.Range(0, rank).Select(d => Shapes.DilatedSize(x.Type.Shape[d], baseDil[d]))];
        var offsets = Offsets(window);

        // The share of dy each offset's element gets: dy itself for sum, dy/ties where it is the extreme.
        var shares = new Value[offsets.Count];
        if (kind == "sum") Array.Fill(shares, c.Dy);
        else
        {
            // The input as the windows see it: base-dilated and padded with the identity (±∞), which
            // equals a result only where a whole window is padding, and such a window's gradient is cropped.
            var identity = c.B.Scalar(x.Type.Element, kind == "max" ? double.NegativeInfinity : double.PositiveInfinity);
            var padded = Pad(c, x, identity, lo, hi, [.. baseDil.Select(b => b - 1)]);
            var hits = offsets.Select(w =>
            {
                long[] start = [.. w.Select((o, d) => o * winDil[d])];
                long[] limit = [.. start.Select((s, d) => s + (y.Shape[d] - 1) * stride[d] + 1)];
                var seen = c.Emit("slice", [padded], ("start", A.Ints(start)), ("limit", A.Ints(limit)), ("stride", A.Ints(stride)));
                return c.Compare(seen, c.Y(), "eq");
            }).ToList();
            Value? ties = null;
            foreach (var hit in hits)
            {
                var one = c.Select(hit, c.Const(1, y), c.Const(0, y));
                ties = ties is null ? one : c.Add(ties, one);
            }
            // At least one, so a NaN window (no element equals NaN) gives 0 rather than 0/0.
            var share = c.Div(c.Dy, c.Emit("max", ties!, c.Const(1, y)));
            for (int i = 0; i < hits.Count; i++) shares[i] = c.Select(hits[i], share, c.Const(0, y));
        }

        Value? sum = null;
        for (int i = 0; i < offsets.Count; i++)
            if (Scatter(c, shares[i], offsets[i], stride, winDil, lo, dilated) is { } term)
                sum = sum is null ? term : c.Add(sum, term);
        var dx = sum ?? c.Zeros(x.Type.WithShape([.. dilated]));
        if (baseDil.Any(b => b > 1))
            dx = c.Emit("slice", [dx], ("start", A.Ints(new long[rank])), ("limit", A.Ints(dilated)), ("stride", A.Ints(baseDil)));
        return [dx];
    };

    /// <summary>
    /// Non-overlapping windows (stride = window, no padding or dilation: 2×2/2 pooling): each input element is
    /// in at most one window, so the input, seen as [..., n_d, window_d, ...], lines up with the result
    /// broadcast over the window dimensions. The same rule as the general case — dy (sum) or dy/ties where the
    /// element equals its window's result (max, min) — then becomes broadcasts, a compare and a select that
    /// fuse into one vectorisable loop, instead of one strided pad per window offset. Rows and columns past the
    /// last whole window are in no window and get 0. Null when the windows overlap or are padded.
    /// </summary>
    private static Value? Tiled(VjpContext c, string kind, long[] window, long[] stride, long[] lo, long[] hi, long[] winDil, long[] baseDil)
    {
        if (!window.SequenceEqual(stride) || lo.Any(p => p != 0) || hi.Any(p => p != 0) || winDil.Any(d => d != 1) || baseDil.Any(d => d != 1))
            return null;
        var x = c.X(0);
        var y = c.Y().Type;
        int rank = window.Length;
        if (2 * rank > TensorType.MaxRank) return null;
        // Split every dimension d into (n_d, window_d); the covered part of x is its first n_d·window_d elements.
        long[] covered = [.. Enumerable.Range(0, rank).Select(d => y.Shape[d] * window[d])];
        long[] split = [.. Enumerable.Range(0, rank).SelectMany(d => new[] { y.Shape[d], window[d] })];
        long[] outerDims = [.. Enumerable.Range(0, rank).Select(d => 2L * d)];
        long[] windowDims = [.. Enumerable.Range(0, rank).Select(d => 2L * d + 1)];
        var splitType = x.Type.WithShape([.. split]);
        Value Spread(Value v) => c.Broadcast(v, splitType.WithElement(v.Type.Element), outerDims);

        Value g;
        if (kind == "sum") g = Spread(c.Dy);
        else
        {
            var xc = covered.SequenceEqual(x.Type.Shape) ? x
                : c.Emit("slice", [x], ("start", A.Ints(new long[rank])), ("limit", A.Ints(covered)));
            var hit = c.Compare(c.Reshape(xc, splitType), Spread(c.Y()), "eq");
            var ones = c.Select(hit, c.Const(1, splitType), c.Const(0, splitType));
            // At least one, so a NaN window (no element equals NaN) gives 0 rather than 0/0.
            var ties = c.Emit("max", c.Reduce(ones, "sum", windowDims), c.Const(1, y));
            g = c.Select(hit, Spread(c.Div(c.Dy, ties)), c.Const(0, splitType));
        }
        var dx = c.Reshape(g, x.Type.WithShape([.. covered]));
        if (covered.SequenceEqual(x.Type.Shape)) return dx;
        return Pad(c, dx, c.B.Scalar(x.Type.Element, 0), new long[rank],
            [.. Enumerable.Range(0, rank).Select(d => x.Type.Shape[d] - covered[d])], new long[rank]);
    }

    /// <summary>Every offset in the window, row-major.</summary>
    private static List<long[]> Offsets(long[] window)
    {
        var result = new List<long[]> { new long[window.Length] };
        for (int d = 0; d < window.Length; d++)
            result = [.. result.SelectMany(w => Enumerable.Range(0, (int)window[d]).Select(i => { var v = w.ToArray(); v[d] = i; return v; }))];
        return result;
    }

    /// <summary>
    /// Places v[o] at base-dilated input position o·stride + w·dilation − lo (zeros elsewhere): the outputs
    /// whose position falls on padding are sliced off first, so the pad is never negative. Null when none is left.
    /// </summary>
    private static Value? Scatter(VjpContext c, Value v, long[] w, long[] stride, long[] winDil, long[] lo, long[] size)
    {
        int rank = w.Length;
        var (first, last) = (new long[rank], new long[rank]);
        var (low, high, interior) = (new long[rank], new long[rank], new long[rank]);
        for (int d = 0; d < rank; d++)
        {
            long offset = w[d] * winDil[d] - lo[d]; // position of output 0
            first[d] = Math.Max(0, CeilDiv(-offset, stride[d]));
            last[d] = Math.Min(v.Type.Shape[d] - 1, FloorDiv(size[d] - 1 - offset, stride[d]));
            if (first[d] > last[d]) return null;
            low[d] = first[d] * stride[d] + offset;
            interior[d] = stride[d] - 1;
            high[d] = size[d] - (low[d] + (last[d] - first[d]) * stride[d] + 1);
        }
        var inside = first.All(f => f == 0) && last.Select((l, d) => l == v.Type.Shape[d] - 1).All(b => b) ? v
            : c.Emit("slice", [v], ("start", A.Ints(first)), ("limit", A.Ints([.. last.Select(l => l + 1)])));
        return Pad(c, inside, c.B.Scalar(v.Type.Element, 0), low, high, interior);
    }

    private static Value Pad(VjpContext c, Value v, Value value, long[] low, long[] high, long[] interior) =>
        low.All(p => p == 0) && high.All(p => p == 0) && interior.All(p => p == 0) ? v
            : c.Emit("pad", [v, value], ("low", A.Ints(low)), ("high", A.Ints(high)), ("interior", A.Ints(interior)));

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);
    private static long CeilDiv(long a, long b) => -FloorDiv(-a, b);
}
