using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>
/// DFT and STFT. Signals are real tensors whose last dimension is 1 (real) or 2 (real, imaginary).
/// The transform is one dot_general with a constant cos/sin matrix, so both backends and every pass
/// take it unchanged. That is O(N²) work and a 4·N·K-entry constant per transformed axis; an FFT
/// (O(N log N)) would pay from about N = 64 on, and the matrix stops being reasonable (tens of MB) near
/// N = 1024. The ONNX test signals have N ≤ 16.
/// </summary>
public static class OnnxSignalOps
{
    private static void Dft(OnnxNode n)
    {
        if (n.Opset < 17) throw n.Unsupported($"opset {n.Opset} (DFT starts at 17)");
        var x = n.Input(0);
        int r = x.Type.Rank;
        if (r < 2 || x.Type.Shape[r - 1] is not (1 or 2))
            throw n.Error($"input must have rank >= 2 and a last dimension of 1 (real) or 2 (complex), got {x.Type}");
        // Opset 17 names the axis as an attribute (default 1), opset 20 as input #2 (default -2).
        long axisRaw = n.Opset < 20 ? n.Int("axis", 1) : n.Has(2) ? OnnxT.KnownInts(n, 2, "axis").Single() : -2;
        int axis = Lowerer.Axis(axisRaw, r, "axis");
        if (axis == r - 1) throw n.Error($"axis {axisRaw} names the real/imaginary dimension");
        long length = x.Type.Shape[axis];
        if (n.Has(1) && n.Input(1).Type.ElementCount > 0)
        {
            length = OnnxT.KnownInts(n, 1, "dft_length").Single();
            if (length < 1) throw n.Error($"dft_length {length} must be positive");
        }
        bool inverse = n.Int("inverse", 0) != 0, onesided = n.Int("onesided", 0) != 0;
        CheckMatrixSize(n, Math.Min(x.Type.Shape[axis], length), x.Type.Shape[r - 1], onesided ? length / 2 + 1 : length);
        n.Output(0, n.L.Convert(Transform(n.L, n.L.Convert(x, ElementType.F64), axis, length, inverse, onesided), x.Type.Element));
    }

    /// <summary>The dense transform matrix is the limit of this lowering: past it, say so rather than build a huge constant.</summary>
    private static void CheckMatrixSize(OnnxNode n, long samples, long parts, long bins)
    {
        long entries = samples * parts * bins * 2;
        if (entries > Lowerer.MaxKnownElements)
            throw n.Unsupported($"a transform of {samples} samples into {bins} bins (its O(N²) matrix would have {entries} entries; an FFT lowering is not implemented)");
    }

    /// <summary>
    /// numpy.fft.fft (or ifft, scaled by 1/L) of length L along <paramref name="axis"/> of x (f64, [..., N, 1|2]):
    /// the first min(N, L) samples, zero-padded to L; the result is [..., K, 2] with K = L, or L/2 + 1 when onesided.
    /// </summary>
    internal static Value Transform(Lowerer l, Value x, int axis, long length, bool inverse, bool onesided)
    {
        int r = x.Type.Rank;
        long parts = x.Type.Shape[r - 1];
        long m = Math.Min(x.Type.Shape[axis], length);
        x = OnnxT.SliceAxis(l, x, axis, 0, m);
        long k = onesided ? length / 2 + 1 : length;
        // W[j, q, f, p]: input sample j, input part q (re, im), frequency f, output part p (re, im).
        // Forward: re = xr·cos + xi·sin, im = xi·cos − xr·sin; inverse flips the sin terms' sign and scales by 1/L.
        double sign = inverse ? -1 : 1, scale = inverse ? 1.0 / length : 1.0;
        var w = new double[m * parts * k * 2];
        for (long j = 0; j < m; j++)
            for (long f = 0; f < k; f++)
            {
                // (j·f) mod L first, so the angle stays small and exact for large j·f.
                double angle = 2 * Math.PI * (j * f % length) / length;
                double c = Math.Cos(angle) * scale, s = Math.Sin(angle) * sign * scale;
                long at = (j * parts * k + f) * 2;
                w[at] = c;
                w[at + 1] = -s;
                if (parts == 2)
                {
                    at += k * 2;
                    w[at] = s;
                    w[at + 1] = c;
                }
            }
        var wc = OnnxT.Constant(l, ElementType.F64, [m, parts, k, 2], w);
        var y = OnnxMatMulOps.Dot(l, x, wc, [], [], [axis, r - 1], [0, 1], ElementType.F64);
        // dot_general puts the free dims of x first, then (K, 2): move K back to where the axis was.
        var perm = new long[r];
        for (int i = 0; i < r - 1; i++) perm[i] = i < axis ? i : i == axis ? r - 2 : i - 1;
        perm[r - 1] = r - 1;
        return l.Transpose(y, perm);
    }

    /// <summary>STFT-17: frames of the signal (one gather), times the window, each transformed along the frame axis.</summary>
    private static void Stft(OnnxNode n)
    {
        if (n.Opset < 17) throw n.Unsupported($"opset {n.Opset} (STFT starts at 17)");
        var l = n.L;
        var x = n.Input(0);
        if (x.Type.Rank != 3 || x.Type.Shape[2] is not (1 or 2))
            throw n.Error($"signal must be [batch, length, 1 or 2], got {x.Type}");
        long len = x.Type.Shape[1];
        long step = (long)OnnxT.KnownScalar(n, 1, "frame_step");
        if (step < 1) throw n.Error($"frame_step {step} must be positive");
        var window = n.Optional(2);
        if (window is not null && window.Type.Rank != 1) throw n.Error($"window must be 1-D, got {window.Type}");
        long frameLength = n.Has(3) ? (long)OnnxT.KnownScalar(n, 3, "frame_length") : window?.Type.Shape[0] ?? len;
        if (frameLength < 1) throw n.Error($"frame_length {frameLength} must be positive");
        long windowSize = window?.Type.Shape[0] ?? frameLength;
        long frames = 1 + (len - frameLength) / step;
        if (len < frameLength || frames < 1) throw n.Error($"the signal ({len}) is shorter than frame_length ({frameLength})");
        bool onesided = n.Int("onesided", 1) != 0;
        CheckMatrixSize(n, Math.Min(windowSize, frameLength), x.Type.Shape[2], onesided ? frameLength / 2 + 1 : frameLength);

        var v = l.Convert(x, ElementType.F64);
        // A frame that runs past the end reads zeros (as the reference pads a short slice).
        long need = (frames - 1) * step + windowSize;
        if (need > len)
        {
            var zeros = l.Fill(new TensorType(ElementType.F64, x.Type.Shape[0], need - len, x.Type.Shape[2]), 0);
            v = OnnxT.Concat(l, [v, zeros], 1);
        }
        var idx = new long[frames * windowSize];
        for (long f = 0; f < frames; f++)
            for (long j = 0; j < windowSize; j++) idx[f * windowSize + j] = f * step + j;
        var framed = OnnxIndexingOps.Take(l, v, 1, l.Constant(Tensor.FromInt64s(new TensorType(ElementType.I64, frames, windowSize), idx)));
        if (window is not null)
        {
            var wb = l.Emit("broadcast_in_dim", [l.Convert(window, ElementType.F64)], AttrMap.Of(("dims", A.Ints(2))), framed.Type);
            framed = l.Emit("mul", framed, wb);
        }
        n.Output(0, l.Convert(Transform(l, framed, 2, frameLength, false, onesided), x.Type.Element));
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All = [("DFT", Dft), ("STFT", Stft)];
}
