using System.Collections.Immutable;
using GraphCompiler.IR.Autodiff;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// The vector-Jacobian products of the contractions, each again a contraction: dot_general's cotangents
/// are dot_generals of the cotangent with the other operand (then a transpose into the operand's order),
/// convolution's are convolutions (as XLA and JAX transpose ConvGeneralDilated). When the result type is
/// wider than the operands, the backward contraction runs in the result type and is converted back.
/// </summary>
internal static class ContractionGradients
{
    /// <summary>
    /// dy has the dimensions (batch, lhs free, rhs free). Contracting it with one operand over that
    /// operand's free dimensions (and batching the batch dimensions) leaves (batch, the other operand's
    /// free dimensions, this operand's contracting dimensions): all of the other operand's dimensions,
    /// which a transpose puts back in its order.
    /// </summary>
    public static readonly VjpRule DotGeneral = c =>
    {
        var (lhs, rhs) = (c.X(0), c.X(1));
        var (lb, rb) = (c.Attr.Ints("lhs_batch"), c.Attr.Ints("rhs_batch"));
        var (lc, rc) = (c.Attr.Ints("lhs_contract"), c.Attr.Ints("rhs_contract"));
        var lf = Free(lhs.Type.Rank, lb, lc);
        var rf = Free(rhs.Type.Rank, rb, rc);
        int nb = lb.Length;
        var e = c.Y().Type.Element;
        var dy = c.Dy;
        long[] dyBatch = [.. Enumerable.Range(0, nb).Select(i => (long)i)];
        Value? dl = null, dr = null;
        if (c.Needs(0))
        {
            // dlhs = dy · rhsᵀ: dy's rhs-free dims meet rhs's free dims; left over are rhs's contracting
            // dims in rhs order, each standing for the lhs dim it was contracted with.
            long[] dyContract = [.. rf.Select((_, i) => (long)(nb + lf.Length + i))];
            var rest = rc.OrderBy(d => d).Select(d => lc[rc.IndexOf(d)]);
            long[] source = [.. lb, .. lf, .. rest];
            dl = Contract(c, dy, c.Convert(rhs, e), dyBatch, [.. rb], dyContract, rf, source, lhs.Type);
        }
        if (c.Needs(1))
        {
            // drhs = lhsᵀ · dy: lhs's free dims meet dy's lhs-free dims; lhs's contracting dims are left.
            long[] dyContract = [.. lf.Select((_, i) => (long)(nb + i))];
            var rest = lc.OrderBy(d => d).Select(d => rc[lc.IndexOf(d)]);
            long[] source = [.. rb, .. rest, .. rf];
            dr = Contract(c, c.Convert(lhs, e), dy, [.. lb], dyBatch, lf, dyContract, source, rhs.Type);
        }
        return [dl, dr];
    };

    private static long[] Free(int rank, ImmutableArray<long> batch, ImmutableArray<long> contract) =>
        [.. Enumerable.Range(0, rank).Select(d => (long)d).Where(d => !batch.Contains(d) && !contract.Contains(d))];

    /// <summary>
    /// A dot_general whose result dimension k is <paramref name="target"/>'s dimension source[k], transposed and
    /// converted into <paramref name="target"/>. When the operands in the other order give the target's order
    /// directly (a weight gradient xᵀ·dy for a weight stored [out, in], say), they are swapped instead, so no
    /// transpose is materialised.
    /// </summary>
    private static Value Contract(VjpContext c, Value a, Value b, long[] batchA, long[] batchB, long[] contractA, long[] contractB,
        long[] source, TensorType target)
    {
        int nb = batchA.Length;
        int freeA = a.Type.Rank - nb - contractA.Length;
        long[] swapped = [.. source[..nb], .. source[(nb + freeA)..], .. source[nb..(nb + freeA)]];
        if (!IsIdentity(source) && IsIdentity(swapped))
            return Contract(c, b, a, batchB, batchA, contractB, contractA, swapped, target);
        var type = new TensorType(a.Type.Element, source.Select(d => target.Shape[(int)d]).ToArray());
        var r = c.B.Emit("dot_general", [a, b], AttrMap.Of(
            ("lhs_batch", A.Ints(batchA)), ("rhs_batch", A.Ints(batchB)),
            ("lhs_contract", A.Ints(contractA)), ("rhs_contract", A.Ints(contractB))), type);
        var perm = new long[source.Length];
        for (int k = 0; k < source.Length; k++) perm[source[k]] = k;
        return c.Convert(c.Transpose(r, perm), target.Element);
    }

    private static bool IsIdentity(long[] order) => order.Select((d, i) => d == i).All(x => x);

    /// <summary>
    /// Per spatial dimension, with x the input, k the kernel (dilated size K = (k−1)·rhs_dilation+1), y the
    /// output, s the stride, l the lhs_dilation and (lo, hi) the padding:
    /// <list type="bullet">
    /// <item>dx = conv(dy, reversed kernel with its in/out roles swapped), dy dilated by s (lhs_dilation),
    /// window stride l, padding low K−1−lo and high whatever makes the result x's size (an input past
    /// the last window, when s does not divide, gets zeros).</item>
    /// <item>dk = conv(x, dy) with batch and feature roles swapped in both (the sum over the batch becomes
    /// the contraction), dy's taps rhs_dilation apart as the stride and s apart as its dilation, padding
    /// low lo and high whatever makes the result the kernel's size.</item>
    /// </list>
    /// Feature groups: for dx the kernel's group axis moves from its output features into its input
    /// features (group-major), so the transposed convolution has the same groups. Batch groups likewise,
    /// and dx's features then carry the group, moved back into its batch; for dk they become feature
    /// groups of the transposed convolution (as in JAX). For dk of feature groups XLA uses
    /// batch_group_count, which the CPU backend does not compile; instead the rule contracts every input
    /// feature with every output feature (groups× the work) and keeps the block diagonal.
    /// </summary>
    public static readonly VjpRule Convolution = c =>
    {
        var (x, k) = (c.X(0), c.X(1));
        var a = c.Attr;
        var L = ConvLayout.Parse(a.String("dims"), c.Error);
        int n = L.SpatialCount;
        long g = a.Int("feature_group_count"), bg = a.Int("batch_group_count");
        long[] Get(string name, long dflt) { var v = a.Ints(name); return v.IsDefaultOrEmpty ? [.. Enumerable.Repeat(dflt, n)] : [.. v]; }
        var (stride, lo, lhsDil, rhsDil) = (Get("window_strides", 1), Get("padding_low", 0), Get("lhs_dilation", 1), Get("rhs_dilation", 1));
        var e = c.Y().Type.Element;
        var dy = c.Dy;
        var y = dy.Type;
        if (y.ElementCount == 0) return [c.Needs(0) ? c.Zeros(x.Type) : null, c.Needs(1) ? c.Zeros(k.Type) : null];

        long[] inSize = [.. L.InSpatial.Select(d => x.Type.Shape[d])];
        long[] kSize = [.. L.KernelSpatial.Select(d => k.Type.Shape[d])];
        long[] outSize = [.. L.OutSpatial.Select(d => y.Shape[d])];
        long[] inDilated = [.. inSize.Select((m, s) => Shapes.DilatedSize(m, lhsDil[s]))];
        long[] kDilated = [.. kSize.Select((m, s) => Shapes.DilatedSize(m, rhsDil[s]))];
        long[] outDilated = [.. outSize.Select((m, s) => Shapes.DilatedSize(m, stride[s]))];

        Value? dx = null, dk = null;
        if (c.Needs(0))
        {
            // dx = conv(dy ⊛ stride-dilated, reverse(k) with i↔o): the transpose of the forward index map.
            // Both kinds of group split the kernel's output features; either becomes feature groups here.
            var kernel = c.Convert(k, e);
            if (g * bg > 1) kernel = MoveGroupAxis(c, kernel, L.KernelOut, g * bg, L.KernelIn);
            kernel = c.Emit("reverse", [kernel], ("dims", A.Ints([.. L.KernelSpatial.Select(d => (long)d)])));
            long[] padLow = [.. kDilated.Select((m, s) => m - 1 - lo[s])];
            long[] padHigh = [.. Enumerable.Range(0, n).Select(s => inDilated[s] + kDilated[s] - 1 - outDilated[s] - padLow[s])];
            var dims = Labels(y.Rank, L.OutBatch, 'b', L.OutFeature, 'f', L.OutSpatial) + "_"
                + Labels(k.Type.Rank, L.KernelIn, 'o', L.KernelOut, 'i', L.KernelSpatial) + "->"
                + Labels(x.Type.Rank, L.InBatch, 'b', L.InFeature, 'f', L.InSpatial);
            var xShape = x.Type.Shape.ToArray();
            xShape[L.InFeature] *= bg;
            xShape[L.InBatch] /= bg;
            var r = Conv(c, dy, kernel, dims, new TensorType(e, xShape), lhsDil, padLow, padHigh, stride, rhsDil, g * bg);
            // Batch groups: output feature β·C + i belongs to input batch β·(N/groups) + n.
            if (bg > 1) r = MoveGroupAxis(c, r, L.InFeature, bg, L.InBatch);
            dx = c.Convert(r, x.Type.Element);
        }
        if (c.Needs(1))
        {
            // dk[i, o, t] = Σ_b Σ_p x[b, i, p·s + t·d − lo] · dy[b, o, p]: a convolution of x by dy over the
            // batch, with x's batch as the contracted feature and its features as the batch.
            long[] padHigh = [.. Enumerable.Range(0, n).Select(s => outDilated[s] - inDilated[s] + kDilated[s] - lo[s] - 1)];
            var dims = Labels(x.Type.Rank, L.InFeature, 'b', L.InBatch, 'f', L.InSpatial) + "_"
                + Labels(y.Rank, L.OutFeature, 'o', L.OutBatch, 'i', L.OutSpatial) + "->"
                + Labels(k.Type.Rank, L.KernelIn, 'b', L.KernelOut, 'f', L.KernelSpatial);
            var shape = k.Type.Shape.ToArray();
            shape[L.KernelIn] = x.Type.Shape[L.InFeature];
            // Batch groups split x's batch (the contracted dimension here) as output features are split: feature groups.
            var full = Conv(c, c.Convert(x, e), dy, dims, new TensorType(e, shape), rhsDil, lo, padHigh, lhsDil, stride, bg);
            var r = g > 1 ? BlockDiagonal(c, full, L.KernelIn, L.KernelOut, g, k.Type.WithElement(e)) : full;
            dk = c.Convert(r, k.Type.Element);
        }
        return [dx, dk];
    };

    private static Value Conv(VjpContext c, Value input, Value kernel, string dims, TensorType type,
        long[] strides, long[] padLow, long[] padHigh, long[] lhsDilation, long[] rhsDilation, long groups) =>
        c.B.Emit("convolution", [input, kernel], AttrMap.Of(
            ("dims", new StringAttr(dims)), ("window_strides", A.Ints(strides)),
            ("padding_low", A.Ints(padLow)), ("padding_high", A.Ints(padHigh)),
            ("lhs_dilation", A.Ints(lhsDilation)), ("rhs_dilation", A.Ints(rhsDilation)),
            ("feature_group_count", A.Int(groups)), ("batch_group_count", A.Int(1))), type);

    /// <summary>A 'dims' operand label string: the two roles at their positions and spatial dimension s labelled by its digit.</summary>
    private static string Labels(int rank, int firstAt, char first, int secondAt, char second, int[] spatial)
    {
        var chars = new char[rank];
        chars[firstAt] = first;
        chars[secondAt] = second;
        for (int s = 0; s < spatial.Length; s++) chars[spatial[s]] = (char)('0' + s);
        return new string(chars);
    }

    /// <summary>
    /// Splits dimension <paramref name="from"/> of v into (groups, rest) and merges the group axis into
    /// dimension <paramref name="to"/> as its major part: w[.., to = γ·n + j, .., from = r, ..] = v[.., to = j, .., from = γ·rest + r, ..].
    /// </summary>
    private static Value MoveGroupAxis(VjpContext c, Value v, int from, long groups, int to)
    {
        var shape = v.Type.Shape;
        int rank = shape.Length;
        int Expanded(int d) => d <= from ? d : d + 1; // the group axis sits at 'from', the rest at from + 1
        var split = new List<long>();
        for (int d = 0; d < rank; d++)
        {
            if (d == from) { split.Add(groups); split.Add(shape[d] / groups); }
            else split.Add(shape[d]);
        }
        var perm = new List<long>();
        for (int d = 0; d < rank; d++)
        {
            if (d == to) perm.Add(from);
            perm.Add(d == from ? from + 1 : Expanded(d));
        }
        var merged = shape.ToArray();
        merged[from] /= groups;
        merged[to] *= groups;
        var expanded = c.Reshape(v, v.Type.WithShape([.. split]));
        return c.Reshape(c.Transpose(expanded, perm), v.Type.WithShape([.. merged]));
    }

    /// <summary>
    /// The grouped kernel gradient from the dense one: <paramref name="full"/> has every input feature at
    /// <paramref name="inDim"/>; output feature o of group γ keeps input features γ·(in/groups)…, so with
    /// both dimensions split group-major, an identity mask on the two group axes and a sum over the input
    /// one keep the diagonal blocks.
    /// </summary>
    private static Value BlockDiagonal(VjpContext c, Value full, int inDim, int outDim, long groups, TensorType target)
    {
        var shape = full.Type.Shape;
        var split = new List<long>();
        int inGroupAxis = -1, outGroupAxis = -1;
        for (int d = 0; d < shape.Length; d++)
        {
            if (d == inDim || d == outDim)
            {
                if (d == inDim) inGroupAxis = split.Count; else outGroupAxis = split.Count;
                split.Add(groups);
                split.Add(shape[d] / groups);
            }
            else split.Add(shape[d]);
        }
        var expanded = c.Reshape(full, full.Type.WithShape([.. split]));
        var eye = Tensor.FromDoubles(new TensorType(full.Type.Element, groups, groups),
            [.. Enumerable.Range(0, (int)(groups * groups)).Select(i => i / groups == i % groups ? 1.0 : 0.0)]);
        var mask = c.Broadcast(c.B.Constant(eye), expanded.Type, [Math.Min(inGroupAxis, outGroupAxis), Math.Max(inGroupAxis, outGroupAxis)]);
        var diagonal = c.Reduce(c.Mul(expanded, mask), "sum", [inGroupAxis]);
        return c.Reshape(diagonal, target);
    }
}
