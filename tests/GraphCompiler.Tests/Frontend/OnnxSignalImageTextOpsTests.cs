using GraphCompiler.Conformance;
using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Onnx;
using GraphCompiler.Frontend.Tensors;
using Google.Protobuf;
using P = GraphCompiler.Frontend.Proto.Onnx;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// DFT, STFT, GridSample, RoiAlign and TfIdfVectorizer in configurations the ONNX node cases leave out.
/// Expected values come from direct scalar formulas written here (sums, per-pixel loops), not from the lowerings.
/// </summary>
public sealed class OnnxSignalImageTextOpsTests
{
    /// <summary>An input: a graph input, or (Const) an initializer, known at import time.</summary>
    private sealed record In(Tensor T, bool Const = false);

    private static Tensor F(long[] shape, params double[] v) => Tensor.FromDoubles(new TensorType(ElementType.F32, shape), v);

    private static Tensor I(long[] shape, params long[] v) => Tensor.FromInt64s(new TensorType(ElementType.I64, shape), v);

    private static Tensor I32(long[] shape, params long[] v) => Tensor.FromInt64s(new TensorType(ElementType.I32, shape), v);

    private static int OnnxType(ElementType e) => e switch
    {
        ElementType.F32 => 1, ElementType.I64 => 7, ElementType.I32 => 6,
        _ => throw new ArgumentException(e.ToString()),
    };

    private static P.AttributeProto A(string name, long v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Int, I = v };

    private static P.AttributeProto A(string name, double v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Float, F = (float)v };

    private static P.AttributeProto A(string name, string v) =>
        new() { Name = name, Type = P.AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };

    private static P.AttributeProto Is(string name, params long[] v)
    {
        var a = new P.AttributeProto { Name = name, Type = P.AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    private static P.AttributeProto Fs(string name, params float[] v)
    {
        var a = new P.AttributeProto { Name = name, Type = P.AttributeProto.Types.AttributeType.Floats };
        a.Floats.AddRange(v);
        return a;
    }

    private static P.AttributeProto Ss(string name, params string[] v)
    {
        var a = new P.AttributeProto { Name = name, Type = P.AttributeProto.Types.AttributeType.Strings };
        a.Strings.AddRange(v.Select(ByteString.CopyFromUtf8));
        return a;
    }

    private static P.TensorProto Proto(string name, Tensor t)
    {
        var p = new P.TensorProto { Name = name, DataType = OnnxType(t.Element) };
        p.Dims.AddRange(t.Type.Shape);
        for (int i = 0; i < t.ElementCount; i++)
        {
            if (t.Element == ElementType.F32) p.FloatData.Add((float)t.GetDouble(i));
            else if (t.Element == ElementType.I64) p.Int64Data.Add(t.GetInt64(i));
            else p.Int32Data.Add((int)t.GetInt64(i));
        }
        return p;
    }

    /// <summary>Imports a one-node model (inputs in0, in1, …; null = omitted) and runs it on the interpreter.</summary>
    private static Result<InterpreterOutput> Run(string op, long opset, In?[] inputs, params P.AttributeProto[] attrs)
    {
        var node = new P.NodeProto { OpType = op, Name = "n" };
        node.Attribute.AddRange(attrs);
        var g = new P.GraphProto { Name = "g" };
        var args = new List<Tensor>();
        for (int i = 0; i < inputs.Length; i++)
        {
            var x = inputs[i];
            node.Input.Add(x is null ? "" : $"in{i}");
            if (x is null) continue;
            if (x.Const)
            {
                g.Initializer.Add(Proto($"in{i}", x.T));
                continue;
            }
            var shape = new P.TensorShapeProto();
            foreach (var d in x.T.Type.Shape) shape.Dim.Add(new P.TensorShapeProto.Types.Dimension { DimValue = d });
            g.Input.Add(new P.ValueInfoProto { Name = $"in{i}", Type = new P.TypeProto { TensorType = new P.TypeProto.Types.Tensor { ElemType = OnnxType(x.T.Element), Shape = shape } } });
            args.Add(x.T);
        }
        node.Output.Add("out0");
        g.Output.Add(new P.ValueInfoProto { Name = "out0" });
        g.Node.Add(node);
        var model = new P.ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new P.OperatorSetIdProto { Domain = "", Version = opset });
        var m = OnnxImporter.Import(model, null, new ImportOptions());
        if (!m.Ok) return Result<InterpreterOutput>.Failure(m.Diagnostics);
        return new Interpreter(m.Value!).Run(null, args);
    }

    private static void Expect(Result<InterpreterOutput> r, long[] shape, IReadOnlyList<double> expected, double tol = 1e-5)
    {
        Assert.True(r.Ok, r.Ok ? "" : r.Diagnostics[0].Message);
        var t = r.Value!.Results[0];
        Assert.Equal(shape, t.Type.Shape.ToArray());
        Assert.Equal(expected.Count, (int)t.ElementCount);
        for (int i = 0; i < expected.Count; i++)
        {
            double a = t.GetDouble(i), e = expected[i];
            Assert.True(Math.Abs(a - e) <= tol + tol * Math.Abs(e), $"element {i}: {a}, expected {e}");
        }
    }

    private static void ExpectFailure(Result<InterpreterOutput> r, string text)
    {
        Assert.False(r.Ok);
        Assert.Contains(text, string.Join("; ", r.Diagnostics.Select(d => d.Message)));
    }

    private static double[] Ramp(int count, double scale = 1, double shift = 0) => [.. Enumerable.Range(0, count).Select(i => Math.Sin(i * 1.7 + 0.3) * scale + shift)];

    /// <summary>X[k] = Σ_{j &lt; min(N, L)} x[j]·e^{∓2πi·jk/L} (÷L when inverse), k &lt; count: complex samples as (re, im).</summary>
    private static (double Re, double Im)[] DirectDft((double Re, double Im)[] x, long length, long count, bool inverse)
    {
        var y = new (double, double)[count];
        double sign = inverse ? 1 : -1;
        for (long k = 0; k < count; k++)
        {
            double re = 0, im = 0;
            for (long j = 0; j < Math.Min(x.Length, length); j++)
            {
                double a = sign * 2 * Math.PI * j * k / length;
                re += x[j].Re * Math.Cos(a) - x[j].Im * Math.Sin(a);
                im += x[j].Re * Math.Sin(a) + x[j].Im * Math.Cos(a);
            }
            y[k] = inverse ? (re / length, im / length) : (re, im);
        }
        return y;
    }

    // ---- DFT / STFT ----------------------------------------------------------------------------------

    [Fact]
    public void DftOnesidedRealInputZeroPaddedToDftLength()
    {
        // Two real signals of 5 samples along axis 1, transformed with length 8: 8/2 + 1 = 5 bins.
        var v = Ramp(10);
        var expected = new List<double>();
        for (int b = 0; b < 2; b++)
            foreach (var (re, im) in DirectDft([.. v.Skip(b * 5).Take(5).Select(s => (s, 0.0))], 8, 5, false))
                expected.AddRange([re, im]);
        Expect(Run("DFT", 17, [new(F([2, 5, 1], v)), new(I([], 8), true)], A("axis", 1), A("onesided", 1)), [2, 5, 2], expected);
    }

    [Fact]
    public void DftInverseOfComplexTruncatedAlongAxis0()
    {
        // [3, 2, 2]: the transform runs along axis 0, three complex samples cut to dft_length 2, inverse.
        var v = Ramp(12);
        var y = new double[12];
        for (int c = 0; c < 2; c++)
        {
            var col = Enumerable.Range(0, 3).Select(j => (v[j * 4 + c * 2], v[j * 4 + c * 2 + 1])).ToArray();
            var t = DirectDft(col, 2, 2, true);
            for (int k = 0; k < 2; k++) (y[k * 4 + c * 2], y[k * 4 + c * 2 + 1]) = t[k];
        }
        Expect(Run("DFT", 17, [new(F([3, 2, 2], v)), new(I([], 2), true)], A("axis", 0), A("inverse", 1)), [2, 2, 2], y[..8]);
    }

    [Fact]
    public void StftWithWindowAndFrameLength()
    {
        // Signal of 11, frames of 4 every 3 samples → 1 + (11 − 4) / 3 = 3 frames; Hann window; onesided: 3 bins.
        var s = Ramp(11);
        var w = Enumerable.Range(0, 4).Select(j => 0.5 - 0.5 * Math.Cos(2 * Math.PI * j / 4)).ToArray();
        var expected = new List<double>();
        for (int f = 0; f < 3; f++)
            foreach (var (re, im) in DirectDft([.. Enumerable.Range(0, 4).Select(j => (s[f * 3 + j] * w[j], 0.0))], 4, 3, false))
                expected.AddRange([re, im]);
        Expect(Run("STFT", 17, [new(F([1, 11, 1], s)), new(I([], 3), true), new(F([4], w)), new(I([], 4), true)]), [1, 3, 3, 2], expected);
    }

    [Fact]
    public void StftFrameStepFedAtRuntimeMustBeBoundAtCompileTime() =>
        ExpectFailure(Run("STFT", 17, [new(F([1, 8, 1], Ramp(8))), new(I([], 2))]), "'in1' must be known at compile time");

    // ---- GridSample ----------------------------------------------------------------------------------

    /// <summary>PyTorch's reflect_coordinates: fold |v − lo| by the span; odd folds measure from hi.</summary>
    private static double ReflectRef(double v, double lo, double hi)
    {
        double span = hi - lo, dist = Math.Abs(v - lo), extra = dist % span;
        return Math.Floor(dist / span) % 2 == 0 ? lo + extra : hi - extra;
    }

    /// <summary>GridSample on one H×W plane at normalised (gx, gy): nearest, bilinear or bicubic; zeros, border or reflection padding.</summary>
    private static double GridSampleRef(double[] img, int h, int w, double gx, double gy, bool align, string mode, string padding)
    {
        double Den(double g, int d) => align ? (g + 1) / 2 * (d - 1) : ((g + 1) * d - 1) / 2;
        double lo(int d) => align ? 0 : -0.5;
        double hi(int d) => align ? d - 1 : d - 0.5;
        double px = Den(gx, w), py = Den(gy, h);
        if (mode == "nearest") (px, py) = (Math.Round(px, MidpointRounding.ToEven), Math.Round(py, MidpointRounding.ToEven));
        if (padding == "reflection") (px, py) = (ReflectRef(px, lo(w), hi(w)), ReflectRef(py, lo(h), hi(h)));
        if (padding == "border")
        {
            if (px < lo(w) || px > hi(w)) px = Math.Clamp(px, 0, w - 1);
            if (py < lo(h) || py > hi(h)) py = Math.Clamp(py, 0, h - 1);
        }
        double Pixel(long iy, long ix)
        {
            if (padding == "reflection") (iy, ix) = ((long)ReflectRef(iy, lo(h), hi(h)), (long)ReflectRef(ix, lo(w), hi(w)));
            if (padding == "border") (iy, ix) = (Math.Clamp(iy, 0, h - 1), Math.Clamp(ix, 0, w - 1));
            return iy < 0 || iy >= h || ix < 0 || ix >= w ? 0 : img[iy * w + ix];
        }
        if (mode == "nearest") return Pixel((long)py, (long)px);
        long x0 = (long)Math.Floor(px), y0 = (long)Math.Floor(py);
        double fx = px - x0, fy = py - y0;
        if (mode == "bicubic")
        {
            // Keys' kernel, a = -0.75, at distances |s| of the taps floor − 1 … floor + 2.
            static double K(double s)
            {
                const double a = -0.75;
                s = Math.Abs(s);
                return s <= 1 ? (a + 2) * s * s * s - (a + 3) * s * s + 1 : s < 2 ? a * s * s * s - 5 * a * s * s + 8 * a * s - 4 * a : 0;
            }
            double sum = 0;
            for (int j = -1; j <= 2; j++)
                for (int i = -1; i <= 2; i++) sum += K(fy - j) * K(fx - i) * Pixel(y0 + j, x0 + i);
            return sum;
        }
        return (1 - fy) * ((1 - fx) * Pixel(y0, x0) + fx * Pixel(y0, x0 + 1)) + fy * ((1 - fx) * Pixel(y0 + 1, x0) + fx * Pixel(y0 + 1, x0 + 1));
    }

    private static readonly double[] GridPoints = [-1.3, 0.4, 1.2, -1.7, 0.1, 0.2, 2.5, 3.1, -0.95, -1.0, 0.77, 0.99];

    [Theory]
    [InlineData("bilinear", "reflection", 0)]
    [InlineData("bilinear", "reflection", 1)]
    [InlineData("nearest", "reflection", 0)]
    [InlineData("nearest", "zeros", 1)]
    [InlineData("bicubic", "border", 0)]
    [InlineData("bicubic", "reflection", 1)]
    public void GridSampleMatchesPerPixelReference(string mode, string padding, int align)
    {
        // X: 2 channels of 3×4; grid: 2×3 points (x, y), several outside [-1, 1].
        var img = Ramp(24, 3, 1);
        var expected = new List<double>();
        for (int c = 0; c < 2; c++)
            for (int p = 0; p < 6; p++)
                expected.Add(GridSampleRef(img[(c * 12)..(c * 12 + 12)], 3, 4, GridPoints[2 * p], GridPoints[2 * p + 1], align != 0, mode, padding));
        Expect(Run("GridSample", 16, [new(F([1, 2, 3, 4], img)), new(F([1, 2, 3, 2], GridPoints))],
            A("mode", mode), A("padding_mode", padding), A("align_corners", align)), [1, 2, 2, 3], expected);
    }

    [Fact]
    public void GridSampleRejectsAnUnknownPaddingMode() =>
        ExpectFailure(Run("GridSample", 16, [new(F([1, 1, 2, 2], 1, 2, 3, 4)), new(F([1, 1, 1, 2], 0, 0))], A("padding_mode", "mirror")),
            "padding_mode=mirror");

    // ---- RoiAlign ------------------------------------------------------------------------------------

    /// <summary>One output bin of RoiAlign as the operator text describes it: bilinear samples on a regular grid per bin.</summary>
    private static double RoiRef(double[] img, int h, int w, double[] roi, int ph, int pw, int oh, int ow, int ratio, bool half, bool max)
    {
        double off = half ? 0.5 : 0, sx = roi[0] - off, sy = roi[1] - off, rw = roi[2] - off - sx, rh = roi[3] - off - sy;
        if (!half) (rw, rh) = (Math.Max(rw, 1), Math.Max(rh, 1));
        double bh = rh / oh, bw = rw / ow;
        int gh = ratio > 0 ? ratio : (int)Math.Ceiling(rh / oh), gw = ratio > 0 ? ratio : (int)Math.Ceiling(rw / ow);
        double acc = max ? double.NegativeInfinity : 0;
        for (int iy = 0; iy < gh; iy++)
            for (int ix = 0; ix < gw; ix++)
            {
                double y = sy + ph * bh + (iy + 0.5) * bh / gh, x = sx + pw * bw + (ix + 0.5) * bw / gw;
                var corners = new List<double>();
                if (!(y < -1 || y > h || x < -1 || x > w))
                {
                    y = Math.Max(y, 0);
                    x = Math.Max(x, 0);
                    int y0 = Math.Min((int)y, h - 1), x0 = Math.Min((int)x, w - 1);
                    int y1 = Math.Min(y0 + 1, h - 1), x1 = Math.Min(x0 + 1, w - 1);
                    double ly = y0 == h - 1 ? 0 : y - y0, lx = x0 == w - 1 ? 0 : x - x0;
                    corners.AddRange([(1 - ly) * (1 - lx) * img[y0 * w + x0], (1 - ly) * lx * img[y0 * w + x1], ly * (1 - lx) * img[y1 * w + x0], ly * lx * img[y1 * w + x1]]);
                }
                else corners.Add(0);
                acc = max ? Math.Max(acc, corners.Max()) : acc + corners.Sum();
            }
        return max ? (gh * gw == 0 ? 0 : acc) : acc / Math.Max(gh * gw, 1);
    }

    [Theory]
    [InlineData("max", "half_pixel")]
    [InlineData("avg", "output_half_pixel")]
    public void RoiAlignAdaptiveSamplingWithKnownRois(string mode, string ctm)
    {
        // Rois of different sizes get different sample grids (sampling_ratio 0), so they must be constants.
        var img = Ramp(20, 2, 1);
        // The last roi is empty: with half_pixel it has no samples at all (the result is 0).
        double[][] rois = [[0.5, 0.5, 1.5, 1.5], [1, 0, 4.6, 3.5], [-1, 2, 2, 5], [2, 1, 2, 1]];
        var expected = new List<double>();
        for (int r = 0; r < 4; r++)
            for (int ph = 0; ph < 2; ph++)
                for (int pw = 0; pw < 2; pw++)
                    expected.Add(RoiRef(img, 4, 5, rois[r], ph, pw, 2, 2, 0, ctm == "half_pixel", mode == "max"));
        Expect(Run("RoiAlign", 16, [new(F([1, 1, 4, 5], img)), new(F([4, 4], [.. rois.SelectMany(x => x)]), true), new(I([4], 0, 0, 0, 0))],
            A("mode", mode), A("coordinate_transformation_mode", ctm), A("output_height", 2), A("output_width", 2)), [4, 1, 2, 2], expected);
    }

    [Fact]
    public void RoiAlignFixedSamplingTakesRoisAtRuntime()
    {
        // Two images; each roi reads the one its batch index names.
        var img = Ramp(40, 2);
        double[][] rois = [[0.2, 0.7, 3.1, 2.2], [1.5, 0.5, 4.5, 3.5]];
        long[] batch = [1, 0];
        var expected = new List<double>();
        for (int r = 0; r < 2; r++)
            for (int ph = 0; ph < 3; ph++)
                for (int pw = 0; pw < 2; pw++)
                    expected.Add(RoiRef(img[(int)(batch[r] * 20)..(int)(batch[r] * 20 + 20)], 4, 5, rois[r], ph, pw, 3, 2, 3, true, false));
        Expect(Run("RoiAlign", 16, [new(F([2, 1, 4, 5], img)), new(F([2, 4], [.. rois.SelectMany(x => x)])), new(I([2], batch))],
            A("output_height", 3), A("output_width", 2), A("sampling_ratio", 3)), [2, 1, 3, 2], expected);
    }

    [Fact]
    public void RoiAlignAdaptiveSamplingNeedsTheRoisAtCompileTime() =>
        ExpectFailure(Run("RoiAlign", 16, [new(F([1, 1, 2, 2], 1, 2, 3, 4)), new(F([1, 4], 0, 0, 1, 1)), new(I([1], 0))]),
            "'in1' must be known at compile time");

    // ---- TfIdfVectorizer -----------------------------------------------------------------------------

    // Pool: unigrams 1, 3; bigrams (1, 2), (2, 1); they go to output slots 3, 0, 1, 2.
    private static readonly P.AttributeProto[] Pool =
        [Is("ngram_counts", 0, 2), Is("pool_int64s", 1, 3, 1, 2, 2, 1), Is("ngram_indexes", 3, 0, 1, 2), A("min_gram_length", 1), A("max_gram_length", 2), A("max_skip_count", 1)];

    [Fact]
    public void TfIdfWeightedCountsWithSkips()
    {
        // X = 1 2 1 3 1 2. Unigram 1: 3, unigram 3: 1. Bigrams at distance 1: (1,2) ×2, (2,1) ×1; at distance 2
        // (1,1) (2,3) (1,1) (3,2): none. Slots [3→1, 0..2] = [1, 2, 1, 3], times weights [0.5, 2, 3, 4].
        Expect(Run("TfIdfVectorizer", 9, [new(I([6], 1, 2, 1, 3, 1, 2))], [.. Pool, A("mode", "TFIDF"), Fs("weights", 0.5f, 2, 3, 4)]),
            [4], [0.5, 4, 3, 12]);
    }

    [Fact]
    public void TfIdfIdfMarksPresenceOnBatchedInt32() =>
        Expect(Run("TfIdfVectorizer", 9, [new(I32([2, 6], 1, 2, 1, 3, 1, 2, 3, 3, 3, 3, 3, 3))], [.. Pool, A("mode", "IDF")]),
            [2, 4], [1, 1, 1, 1, 1, 0, 0, 0]);

    [Fact]
    public void TfIdfStringPoolIsUnsupported() =>
        ExpectFailure(Run("TfIdfVectorizer", 9, [new(I([2], 1, 2))],
            [Is("ngram_counts", 0), Ss("pool_strings", "a", "b"), Is("ngram_indexes", 0, 1), A("min_gram_length", 1), A("max_gram_length", 1), A("max_skip_count", 0), A("mode", "TF")]),
            "pool_strings");
}
