using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>ONNX ops that generate or mask by position: EyeLike, Trilu, Range, CumSum, Det, the window functions, MelWeightMatrix.</summary>
public static class OnnxGeneratorOps
{
    private static ElementType DataType(OnnxNode n, string attr, ElementType dflt)
    {
        if (!n.HasAttr(attr)) return dflt;
        if (!FrameworkElementTypes.TryFromOnnx((int)n.Int(attr), out var t, out var reason)) throw n.Unsupported($"{attr}: {reason}");
        return t;
    }

    /// <summary>col - row over the last two dimensions of <paramref name="shape"/> (i64).</summary>
    private static Value Diagonal(Lowerer l, IReadOnlyList<long> shape)
    {
        var t = new TensorType(ElementType.I64, shape[^2], shape[^1]);
        return l.Binary("sub", OnnxT.Iota(l, t, 1), OnnxT.Iota(l, t, 0));
    }

    private static void EyeLike(OnnxNode n)
    {
        var x = n.Input(0);
        if (x.Type.Rank != 2) throw n.Error($"expects a rank-2 input, got {x.Type}");
        var e = DataType(n, "dtype", x.Type.Element);
        var on = n.L.Compare("eq", Diagonal(n.L, x.Type.Shape), n.L.Scalar(ElementType.I64, n.Int("k", 0)));
        n.Output(0, n.L.Convert(on, e));
    }

    /// <summary>Trilu keeps col - row &gt;= k (upper) or &lt;= k (lower); k may be a runtime value.</summary>
    private static void Trilu(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        if (x.Type.Rank < 2) throw n.Error($"expects rank >= 2, got {x.Type}");
        var k = n.Has(1) ? l.Reshape(l.Convert(n.Input(1), ElementType.I64)) : l.Scalar(ElementType.I64, 0);
        var keep = l.Compare(n.Int("upper", 1) != 0 ? "ge" : "le", Diagonal(l, x.Type.Shape), k);
        n.Output(0, l.Select(l.Broadcast(keep, x.Type.Shape), x, l.Full(x, 0)));
    }

    /// <summary>Integer ranges longer than this become an <c>iota</c> expression instead of a literal.</summary>
    private const long LiteralRangeElements = 1 << 16;

    private static void Range(OnnxNode n)
    {
        var s = OnnxT.KnownTensor(n, 0, "start");
        var e = s.Element;
        if (e.IsInteger())
        {
            long start = s.GetInt64(0), limit = OnnxT.KnownTensor(n, 1, "limit").GetInt64(0), delta = OnnxT.KnownTensor(n, 2, "delta").GetInt64(0);
            if (delta == 0) throw n.Error("delta must not be 0");
            long count = Math.Max(0, (long)Math.Ceiling((double)(limit - start) / delta));
            if (count > LiteralRangeElements)
            {
                // A long range is computed (iota × delta + start), not stored: a literal of millions of
                // elements would cost memory and compile time for what one fused loop produces.
                var type = new TensorType(e, count);
                var iota = n.L.Emit("iota", [], AttrMap.Of(("dimension", new IntAttr(0))), type);
                var scaled = delta == 1 ? iota : n.L.Binary("mul", iota, n.L.Scalar(e, delta));
                n.Output(0, start == 0 ? scaled : n.L.Binary("add", scaled, n.L.Scalar(e, start)));
                return;
            }
            var values = new long[count];
            for (long i = 0; i < count; i++) values[i] = start + i * delta;
            n.Output(0, n.L.Constant(Tensor.FromInt64s(new TensorType(e, count), values)));
        }
        else
        {
            double start = s.GetDouble(0), limit = OnnxT.KnownScalar(n, 1, "limit"), delta = OnnxT.KnownScalar(n, 2, "delta");
            if (delta == 0) throw n.Error("delta must not be 0");
            long count = Math.Max(0, (long)Math.Ceiling((limit - start) / delta));
            n.Output(0, OnnxT.Constant(n.L, e, [count], [.. Enumerable.Range(0, (int)count).Select(i => start + i * delta)]));
        }
    }

    /// <summary>
    /// CumSum as a sum window as wide as the axis, padded before by width - 1 (width when exclusive): its
    /// elements combine first to last, as a running sum does.
    /// </summary>
    private static void CumSum(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        int r = x.Type.Rank;
        int axis = Lowerer.Axis((long)OnnxT.KnownScalar(n, 1, "axis"), r);
        bool exclusive = n.Int("exclusive", 0) != 0, reverse = n.Int("reverse", 0) != 0;
        long dim = x.Type.Shape[axis];
        if (dim == 0)
        {
            n.Output(0, x);
            return;
        }
        var v = reverse ? l.Emit("reverse", [x], ("dims", A.Ints(axis))) : x;
        var window = Enumerable.Repeat(1L, r).ToArray();
        var low = new long[r];
        var high = new long[r];
        window[axis] = dim;
        low[axis] = exclusive ? dim : dim - 1;
        high[axis] = exclusive ? -1 : 0;
        v = l.Emit("reduce_window", [v], AttrMap.Of(("kind", A.Enum("sum")), ("window", A.Ints(window)),
            ("padding_low", A.Ints(low)), ("padding_high", A.Ints(high))));
        n.Output(0, reverse ? l.Emit("reverse", [v], ("dims", A.Ints(axis))) : v);
    }

    private static void Det(OnnxNode n) => n.Output(0, n.L.Emit("determinant", n.Input(0)));

    /// <summary>Generalised cosine windows Σ a_k·cos(2πkn/N), N = size (periodic) or size - 1.</summary>
    private static OnnxLowering Window(params double[] a) => n =>
    {
        long size = (long)OnnxT.KnownScalar(n, 0, "size");
        if (size < 0) throw n.Error($"size {size} is negative");
        var e = DataType(n, "output_datatype", ElementType.F32);
        double N = n.Int("periodic", 1) != 0 ? size : size - 1;
        var values = new double[size];
        for (long i = 0; i < size; i++)
            for (int k = 0; k < a.Length; k++) values[i] += a[k] * Math.Cos(2 * Math.PI * k * i / N);
        n.Output(0, OnnxT.Constant(n.L, e, [size], values));
    };

    /// <summary>MelWeightMatrix exactly as the ONNX reference computes it (triangles on integer FFT bins).</summary>
    private static void MelWeightMatrix(OnnxNode n)
    {
        long bins = (long)OnnxT.KnownScalar(n, 0, "num_mel_bins"), dft = (long)OnnxT.KnownScalar(n, 1, "dft_length");
        double rate = OnnxT.KnownScalar(n, 2, "sample_rate");
        double lo = OnnxT.KnownScalar(n, 3, "lower_edge_hertz"), hi = OnnxT.KnownScalar(n, 4, "upper_edge_hertz");
        var e = DataType(n, "output_datatype", ElementType.F32);
        long spec = dft / 2 + 1;
        double loMel = 2595 * Math.Log10(1 + lo / 700), hiMel = 2595 * Math.Log10(1 + hi / 700);
        double step = (hiMel - loMel) / (bins + 2);
        var f = new long[bins + 2];
        for (long i = 0; i < bins + 2; i++)
        {
            double hz = 700 * (Math.Pow(10, (i * step + loMel) / 2595) - 1);
            f[i] = (long)Math.Floor((dft + 1) * hz / rate);
        }
        var w = new double[spec * bins];
        void Set(long j, long i, double v)
        {
            if (j < 0 || j >= spec) throw n.Error($"mel bin {i} reaches FFT bin {j}, outside [0, {spec})");
            w[j * bins + i] = v;
        }
        for (long i = 0; i < bins; i++)
        {
            long left = f[i], center = f[i + 1], right = f[i + 2];
            if (center == left) Set(center, i, 1);
            else
                for (long j = left; j <= center; j++) Set(j, i, (double)(j - left) / (center - left));
            if (right > center)
                for (long j = center; j < right; j++) Set(j, i, (double)(right - j) / (right - center));
        }
        n.Output(0, OnnxT.Constant(n.L, e, [spec, bins], w));
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("EyeLike", EyeLike), ("Trilu", Trilu), ("Range", Range), ("CumSum", CumSum), ("Det", Det),
        ("HannWindow", Window(0.5, -0.5)), ("HammingWindow", Window(25.0 / 46, -(1 - 25.0 / 46))),
        ("BlackmanWindow", Window(0.42, -0.5, 0.08)), ("MelWeightMatrix", MelWeightMatrix),
    ];
}

/// <summary>Unique on an input known at import time: every output is a constant (its shape depends on the values).</summary>
internal static class OnnxUnique
{
    public static void Lower(OnnxNode n)
    {
        var t = OnnxT.KnownTensor(n, 0, "X");
        var x = n.Input(0);
        bool sorted = n.Int("sorted", 1) != 0;
        int axis = 0;
        if (n.HasAttr("axis")) axis = Lowerer.Axis(n.Int("axis"), t.Type.Rank);
        else x = n.L.Reshape(x, t.ElementCount);
        var shape = x.Type.Shape;
        long m = shape[axis];
        long inner = OnnxT.Product(shape.Skip(axis + 1)), outer = OnnxT.Product(shape.Take(axis));
        // Slice i of the axis, element p (outer-major, then inner), at linear index (o·m + i)·inner + in.
        long At(long i, long p) => (p / inner * m + i) * inner + p % inner;
        long per = outer * inner;
        int Cmp(long i, long j)
        {
            for (long p = 0; p < per; p++)
            {
                long a = At(i, p), b = At(j, p);
                int c = t.Element.IsFloat() ? t.GetDouble(a).CompareTo(t.GetDouble(b))
                    : t.Element.IsUnsignedInteger() ? t.GetUInt64(a).CompareTo(t.GetUInt64(b))
                    : t.GetInt64(a).CompareTo(t.GetInt64(b));
                if (c != 0) return c;
            }
            return 0;
        }
        var firsts = new List<long>();
        var inverse = new long[m];
        var counts = new List<long>();
        for (long i = 0; i < m; i++)
        {
            int g = firsts.FindIndex(f => Cmp(f, i) == 0);
            if (g < 0)
            {
                firsts.Add(i);
                counts.Add(0);
                g = firsts.Count - 1;
            }
            inverse[i] = g;
            counts[g]++;
        }
        var order = Enumerable.Range(0, firsts.Count).ToArray();
        if (sorted) Array.Sort(order, (a, b) => Cmp(firsts[a], firsts[b]));
        var rank = new long[order.Length];
        for (int k = 0; k < order.Length; k++) rank[order[k]] = k;
        var l = n.L;
        n.Output(0, OnnxIndexingOps.Take(l, x, axis, l.Ints(ElementType.I64, [.. order.Select(g => firsts[g])])));
        n.Output(1, l.Ints(ElementType.I64, [.. order.Select(g => firsts[g])]));
        n.Output(2, l.Ints(ElementType.I64, [.. inverse.Select(g => rank[g])]));
        n.Output(3, l.Ints(ElementType.I64, [.. order.Select(g => counts[g])]));
    }
}
