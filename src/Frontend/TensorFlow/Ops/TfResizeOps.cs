using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>
/// ResizeBilinear and ResizeNearestNeighbor (NHWC, size known at import time) with align_corners and
/// half_pixel_centers, following TF's CPU kernels: source coordinates and interpolation weights are
/// computed here in float32, then the resize is gathers of rows/columns and a weighted sum.
/// </summary>
internal static class TfResizeOps
{
    public static void Resize(TfNode n, bool bilinear)
    {
        var x = n.Input(0);
        var size = n.KnownInts(1, "size");
        if (x.Type.Rank != 4 || size.Length != 2) throw n.Error($"needs a 4-D NHWC input and a 2-element size, got {x.Type}");
        bool align = n.Bool("align_corners", false), half = n.Bool("half_pixel_centers", false);
        if (align && half) throw n.Error("align_corners and half_pixel_centers cannot both be true");
        var v = bilinear ? n.L.Convert(x, ElementType.F32) : x;
        for (int axis = 1; axis <= 2; axis++)
        {
            long inSize = x.Type.Shape[axis], outSize = size[axis - 1];
            float scale = align && outSize > 1 ? (inSize - 1) / (float)(outSize - 1) : inSize / (float)outSize;
            if (!bilinear)
            {
                var idx = new long[outSize];
                for (long o = 0; o < outSize; o++)
                {
                    float s = half ? (o + 0.5f) * scale : o * scale;
                    long i = align ? (long)MathF.Round(s, MidpointRounding.AwayFromZero) : (long)MathF.Floor(s);
                    idx[o] = Math.Min(i, inSize - 1);
                }
                v = Take(n.L, v, axis, idx);
                continue;
            }
            var lo = new long[outSize];
            var hi = new long[outSize];
            var w = new double[outSize];
            for (long o = 0; o < outSize; o++)
            {
                float s = half ? (o + 0.5f) * scale - 0.5f : o * scale;
                float f = MathF.Floor(s);
                lo[o] = Math.Max((long)f, 0);
                hi[o] = Math.Min((long)MathF.Ceiling(s), inSize - 1);
                w[o] = s - f;
            }
            var a = Take(n.L, v, axis, lo);
            var b = Take(n.L, v, axis, hi);
            var wshape = new long[4];
            Array.Fill(wshape, 1L);
            wshape[axis] = outSize;
            var weights = n.L.Constant(Tensor.FromDoubles(new TensorType(ElementType.F32, wshape), w));
            v = n.L.Binary("add", a, n.L.Binary("mul", n.L.Emit("sub", b, a), weights));
        }
        n.Output(0, v);
    }

    /// <summary>x's slices at <paramref name="indices"/> along <paramref name="axis"/> (a gather with constant indices).</summary>
    private static Value Take(Lowerer l, Value x, int axis, long[] indices)
    {
        var idx = l.Constant(Tensor.FromInt64s(new TensorType(ElementType.I64, indices.Length), indices));
        var sizes = x.Type.Shape.ToArray();
        sizes[axis] = 1;
        var offset = Enumerable.Range(0, x.Type.Rank).Where(d => d != axis).Select(d => (long)d).ToArray();
        return l.Emit("gather", [x, idx], AttrMap.Of(("offset_dims", A.Ints(offset)), ("collapsed_slice_dims", A.Ints(axis)),
            ("start_index_map", A.Ints(axis)), ("index_vector_dim", A.Int(1)), ("slice_sizes", A.Ints(sizes))));
    }
}
