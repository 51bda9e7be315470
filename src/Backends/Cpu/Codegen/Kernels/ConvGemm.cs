using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// f32 convolution as GEMM (im2col): per batch element and feature group, the input windows are copied
/// into a patch matrix and multiplied with the kernel by the packed GEMM. With the output's features
/// before its spatial dimensions (NCHW) C = W · P (rows are output features); with them after (NHWC)
/// C = Pᵀ · Wᵀ with the constant kernel packed at compile time. A 1×1, stride-1, unpadded convolution
/// reads the input directly as P. Depthwise convolutions have their own kernel (DepthwiseConv.cs); other
/// narrow-group convolutions keep the direct loops.
/// </summary>
internal sealed partial class KernelEmitter
{
    internal sealed record ConvPlan(ConvLayout L, long Groups, long CinPG, long CoutPG, long[] Strides, long[] PadLow, long[] Dilation,
        int[] KernelDims, bool FeatureFirst, bool Pointwise, long Spatial, long K, DepthwisePlan? Depthwise = null);

    internal static ConvPlan? PlanConv(Operation op)
    {
        if (op.Def is not ConvolutionOp) return null;
        var (input, kernel, output) = (op.Operands[0], op.Operands[1], op.Result);
        if (input.Type.Element != ElementType.F32 || kernel.Type.Element != ElementType.F32 || output.Type.Element != ElementType.F32) return null;
        var a = op.Attr;
        if (a.Int("batch_group_count") != 1) return null;
        var L = ConvLayout.Parse(a.String("dims"), m => new IrException(m));
        int n = L.SpatialCount;
        long[] Get(string name, long dflt) { var x = a.Ints(name); return x.IsDefaultOrEmpty ? [.. Enumerable.Repeat(dflt, n)] : [.. x]; }
        var (strides, padLow, padHigh, lhsDil, rhsDil) = (Get("window_strides", 1), Get("padding_low", 0), Get("padding_high", 0), Get("lhs_dilation", 1), Get("rhs_dilation", 1));
        if (lhsDil.Any(d => d != 1) || L.OutBatch != 0) return null;
        int rank = output.Type.Rank;
        bool featureFirst = L.OutFeature == 1 && L.OutSpatial.SequenceEqual(Enumerable.Range(2, n));
        bool featureLast = L.OutFeature == rank - 1 && L.OutSpatial.SequenceEqual(Enumerable.Range(1, n));
        if (!featureFirst && !featureLast) return null;
        int o = L.KernelOut;
        // W as a matrix (output features × window) needs the output-feature dimension outermost or innermost.
        if (o != 0 && o != kernel.Type.Rank - 1) return null;
        long groups = a.Int("feature_group_count");
        long cin = input.Type.Shape[L.InFeature], cout = kernel.Type.Shape[o];
        long cinPG = cin / groups, coutPG = cout / groups;
        long spatial = L.OutSpatial.Aggregate(1L, (p, d) => p * output.Type.Shape[d]);
        long k = cinPG * L.KernelSpatial.Aggregate(1L, (p, d) => p * kernel.Type.Shape[d]);
        var kernelDims = Enumerable.Range(0, kernel.Type.Rank).Where(d => d != o).ToArray();
        bool pointwise = ConvolutionOp.IsPointwise(op) && L.InBatch == 0 && L.InFeature == L.OutFeature && L.InSpatial.SequenceEqual(L.OutSpatial);
        if (groups > 1 && coutPG < 16)
        {
            // Too few output features per group for a GEMM: depthwise has its own kernel, other narrow groups keep the direct loops.
            var depthwise = PlanDepthwise(op, L, groups, strides, padLow, rhsDil);
            return depthwise is null ? null : new ConvPlan(L, groups, cinPG, coutPG, strides, padLow, rhsDil, kernelDims, featureFirst, false, spatial, k, depthwise);
        }
        return new ConvPlan(L, groups, cinPG, coutPG, strides, padLow, rhsDil, kernelDims, featureFirst, pointwise, spatial, k);
    }

    private void Conv(Operation op, ConvPlan p, KernelBuffer dest)
    {
        if (p.Depthwise is { } depthwise)
        {
            DepthwiseConv(op, depthwise, dest);
            return;
        }
        var (input, kernel, output) = (op.Operands[0], op.Operands[1], op.Result);
        var L = p.L;
        long cin = input.Type.Shape[L.InFeature], cout = p.CoutPG * p.Groups;
        long batch = input.Type.Shape[L.InBatch];
        if (batch == 0 || p.Spatial == 0 || cout == 0) return;
        var g = GemmShape.For(_module.Lanes, p.CoutPG);
        bool oFirst = L.KernelOut == 0;
        // Wᵀ per group: B[group, k, oc] with k in the kernel's memory order.
        string PackedWeights(Tensor w) => _module.Constant(Prepack(g, p.Groups, p.K, p.CoutPG, w,
            (gi, kk, oc) => oFirst ? (gi * p.CoutPG + oc) * p.K + kk : kk * cout + gi * p.CoutPG + oc));
        if (ComputedInputTranspose(p, input, batch) is { } computed && _constants.TryGetValue(kernel, out var wt))
        {
            ConvComputedInput(computed, PackedWeights(wt), dest, cin, cout, g);
            return;
        }
        var inPtr = Materialise(input);
        string packed = "null", wPtr = "null";
        if (!p.FeatureFirst && _constants.TryGetValue(kernel, out var wc) && PlanWinograd(op, p, g) is { } winograd)
        {
            ConvWinograd(winograd, inPtr, wc, dest, batch, g);
            return;
        }
        if (!p.FeatureFirst && _constants.TryGetValue(kernel, out var wk) && PlanImplicit(op, p, g) is { } implicitPlan)
        {
            // W as [K, Cout] in HWIO order, blocked per kernel row as the segmented worker reads it.
            packed = _module.Constant(Prepack(g, 1, p.K, cout, wk, (_, kk, oc) => kk * cout + oc, implicitPlan.KW * implicitPlan.C));
            ConvImplicit(implicitPlan, inPtr, packed, dest, batch);
            return;
        }
        if (!p.FeatureFirst && _constants.TryGetValue(kernel, out var ws) && PlanStacked(op, p, g) is { } stacked)
        {
            ConvStacked(stacked, inPtr, _module.Constant(PrepackStacked(stacked, g, ws, cout)), dest, batch, cout);
            return;
        }
        if (!p.FeatureFirst && _constants.TryGetValue(kernel, out var w)) packed = PackedWeights(w);
        else wPtr = Materialise(kernel);
        long npad = (p.CoutPG + g.NR - 1) / g.NR * g.NR;
        if (packed != "null" && !p.Pointwise && RowsIm2col(op, p) is { } rows)
        {
            // NHWC, one group: the patches of all images are one matrix, [batch · positions, K], and one GEMM
            // (C's rows are the output positions of every image, in order) covers the whole batch.
            var all = Malloc(new TensorType(ElementType.F32, batch * p.Spatial * p.K));
            Im2colRows(rows, inPtr, all, batch);
            CallGemm(new GemmCall(all, p.K, 1, 0, "null", 0, 0, 0, packed, dest.Pointer, cout, 0, 1, batch * p.Spatial, cout, p.K));
            return;
        }
        if (packed != "null" && p.Pointwise)
        {
            // NHWC 1×1: the input is already [batch · positions, C]; one GEMM covers the batch, batched over the groups
            // (group g reads the input's and writes the output's columns of that group), the epilogue over all of them.
            CallGemm(new GemmCall(inPtr, cin, 1, p.CinPG, "null", 0, 0, 0, packed, dest.Pointer, cout, p.CoutPG, p.Groups,
                batch * p.Spatial, p.CoutPG, p.CinPG));
            return;
        }
        var patches = p.Pointwise ? null : Malloc(new TensorType(ElementType.F32, p.K * p.Spatial));

        _b.For("0", $"{batch}", nb =>
        {
            _b.For("0", $"{p.Groups}", gi =>
            {
                _ev.NextElement();
                string pm;
                long rsP;
                if (patches is null)
                {
                    // The input itself: features × positions (NCHW) or positions × features (NHWC), rows cin apart in the latter.
                    var at = _b.Let($"add i64 {_b.Let($"mul i64 {nb}, {cin * p.Spatial}")}, {_b.Let($"mul i64 {gi}, {(p.FeatureFirst ? p.CinPG * p.Spatial : p.CinPG)}")}", "at");
                    pm = _b.Let($"getelementptr inbounds float, ptr {inPtr}, i64 {at}", "p");
                    rsP = p.FeatureFirst ? p.Spatial : cin;
                }
                else
                {
                    Im2col(op, p, inPtr, patches, nb, gi);
                    pm = patches;
                    rsP = p.FeatureFirst ? p.Spatial : p.K;
                }
                var cAt = _b.Let($"add i64 {_b.Let($"mul i64 {nb}, {cout * p.Spatial}")}, {_b.Let($"mul i64 {gi}, {(p.FeatureFirst ? p.CoutPG * p.Spatial : p.CoutPG)}")}", "at");
                var c = _b.Let($"getelementptr inbounds float, ptr {dest.Pointer}, i64 {cAt}", "c");
                if (p.FeatureFirst)
                {
                    var wa = _b.Let($"getelementptr inbounds float, ptr {wPtr}, i64 {_b.Let($"mul i64 {gi}, {(oFirst ? p.CoutPG * p.K : p.CoutPG)}")}", "w");
                    CallGemm(new GemmCall(wa, oFirst ? p.K : 1, oFirst ? 1 : cout, 0, pm, rsP, 1, 0, "null", c, p.Spatial, 0, 1, p.CoutPG, p.Spatial, p.K));
                }
                else if (packed != "null")
                {
                    var bp = _b.Let($"getelementptr inbounds float, ptr {packed}, i64 {_b.Let($"mul i64 {gi}, {p.K * npad}")}", "w");
                    CallGemm(new GemmCall(pm, rsP, 1, 0, "null", 0, 0, 0, bp, c, cout, 0, 1, p.Spatial, p.CoutPG, p.K));
                }
                else
                {
                    var wb = _b.Let($"getelementptr inbounds float, ptr {wPtr}, i64 {_b.Let($"mul i64 {gi}, {(oFirst ? p.CoutPG * p.K : p.CoutPG)}")}", "w");
                    CallGemm(new GemmCall(pm, rsP, 1, 0, wb, oFirst ? 1 : cout, oFirst ? p.K : 1, 0, "null", c, cout, 0, 1, p.Spatial, p.CoutPG, p.K));
                }
            }, "grp");
        }, "img");
    }

    /// <summary>
    /// Copies the windows of batch element <paramref name="nb"/>, group <paramref name="gi"/> into
    /// <paramref name="dst"/>: K × positions (NCHW) or positions × K (NHWC), zeros where a window
    /// overhangs the padding; K runs over the kernel's dimensions in its memory order.
    /// </summary>
    private void Im2col(Operation op, ConvPlan p, string src, string dst, string nb, string gi)
    {
        var (input, kernel, output) = (op.Operands[0], op.Operands[1], op.Result);
        var L = p.L;
        int n = L.SpatialCount;
        var kSizes = p.KernelDims.Select(d => d == L.KernelIn ? p.CinPG : kernel.Type.Shape[d]).ToArray();
        var sSizes = L.OutSpatial.Select(d => output.Type.Shape[d]).ToArray();
        var kIdx = new string[kSizes.Length];
        var sIdx = new string[n];
        void Body()
        {
            var ii = new string[input.Type.Rank];
            var valid = "true";
            ii[L.InBatch] = nb;
            for (int s = 0; s < n; s++)
            {
                var kk = kIdx[Array.IndexOf(p.KernelDims, L.KernelSpatial[s])];
                var pos = _b.Let($"add nsw i64 {_b.Let($"sub nsw i64 {_b.Let($"mul nsw i64 {sIdx[s]}, {p.Strides[s]}")}, {p.PadLow[s]}")}, {_b.Let($"mul nsw i64 {kk}, {p.Dilation[s]}")}", "pos");
                var inside = _b.Let($"icmp ult i64 {pos}, {input.Type.Shape[L.InSpatial[s]]}");
                valid = _b.Let($"and i1 {valid}, {inside}");
                ii[L.InSpatial[s]] = _b.Let($"select i1 {inside}, i64 {pos}, i64 0", "ix");
            }
            var ci = kIdx[Array.IndexOf(p.KernelDims, L.KernelIn)];
            ii[L.InFeature] = _b.Let($"add nsw i64 {_b.Let($"mul nsw i64 {gi}, {p.CinPG}")}, {ci}", "ix");
            var x = Load(src, ElementType.F32, Ravel(ii, input.Type.Shape));
            var v = _b.Let($"select i1 {valid}, float {x}, float 0.0", "x");
            var kLin = Ravel(kIdx, [.. kSizes]);
            var sLin = Ravel(sIdx, [.. sSizes]);
            var at = p.FeatureFirst
                ? _b.Let($"add nsw i64 {_b.Let($"mul nsw i64 {kLin}, {p.Spatial}")}, {sLin}", "at")
                : _b.Let($"add nsw i64 {_b.Let($"mul nsw i64 {sLin}, {p.K}")}, {kLin}", "at");
            _b.Line($"store float {v}, ptr {_b.Let($"getelementptr inbounds float, ptr {dst}, i64 {at}", "p")}");
        }
        void Nest(int level)
        {
            // NCHW: window dimensions outside, positions inside (rows of P are contiguous); NHWC: the reverse.
            int total = kSizes.Length + n;
            if (level == total)
            {
                Body();
                return;
            }
            bool kLevel = p.FeatureFirst ? level < kSizes.Length : level >= n;
            int d = p.FeatureFirst ? (kLevel ? level : level - kSizes.Length) : (kLevel ? level - n : level);
            long size = kLevel ? kSizes[d] : sSizes[d];
            _b.For("0", $"{size}", i =>
            {
                if (kLevel) kIdx[d] = i;
                else sIdx[d] = i;
                Nest(level + 1);
            }, kLevel ? "win" : "pos");
        }
        Nest(0);
    }

    /// <summary>The sizes an NHWC im2col by rows needs: input [b, ih, iw, c], kernel [kh, kw, c, o], 2-D, one group, no dilation.</summary>
    private sealed record RowsPlan(long IH, long IW, long C, long OH, long OW, long KH, long KW, long SH, long SW, long PH, long PW, long K);

    private static RowsPlan? RowsIm2col(Operation op, ConvPlan p)
    {
        var L = p.L;
        if (L.SpatialCount != 2 || p.Groups != 1 || p.FeatureFirst || p.Dilation.Any(d => d != 1)) return null;
        if (L.InBatch != 0 || L.InSpatial[0] != 1 || L.InSpatial[1] != 2 || L.InFeature != 3) return null;
        if (L.KernelSpatial[0] != 0 || L.KernelSpatial[1] != 1 || L.KernelIn != 2 || L.KernelOut != 3) return null;
        var (x, w, y) = (op.Operands[0].Type.Shape, op.Operands[1].Type.Shape, op.Result.Type.Shape);
        return new RowsPlan(x[1], x[2], x[3], y[1], y[2], w[0], w[1], p.Strides[0], p.Strides[1], p.PadLow[0], p.PadLow[1], p.K);
    }

    /// <summary>
    /// Fills <paramref name="dst"/> = [batch · OH · OW, KH · KW · C] (K in the HWIO kernel's order) from the
    /// NHWC input, split over threads by output rows (image, oh). For each output position and kernel row the
    /// KW · C inputs are contiguous in both, so a window inside the image is one copy per kernel row; only
    /// windows on the border go column by column, with zeros for the padding.
    /// </summary>
    private void Im2colRows(RowsPlan r, string src, string dst, long batch)
    {
        _module.Declare("declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)");
        _module.Declare("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)");
        long run = r.KW * r.C;
        RowsInParallel("im2col", batch * r.OH, r.OW * r.K, [src, dst], (b, row, p) =>
        {
            var (source, target) = (p[0], p[1]);
            var img = b.Let($"udiv i64 {row}, {r.OH}", "img");
            var oh = b.Let($"urem i64 {row}, {r.OH}", "oh");
            b.For("0", $"{r.OW}", ow =>
            {
                var outRow = b.Let($"add i64 {b.Let($"mul i64 {row}, {r.OW}")}, {ow}", "orow");
                var iw0 = b.Let($"sub i64 {b.Let($"mul i64 {ow}, {r.SW}")}, {r.PW}", "iw");
                var whole = b.Let($"and i1 {b.Let($"icmp sge i64 {iw0}, 0")}, {b.Let($"icmp sle i64 {iw0}, {r.IW - r.KW}")}", "whole");
                b.For("0", $"{r.KH}", kh =>
                {
                    var d = b.Let($"getelementptr inbounds float, ptr {target}, i64 {b.Let($"add i64 {b.Let($"mul i64 {outRow}, {r.K}")}, {b.Let($"mul i64 {kh}, {run}")}")}", "d");
                    var ih = b.Let($"add i64 {b.Let($"sub i64 {b.Let($"mul i64 {oh}, {r.SH}")}, {r.PH}")}, {kh}", "ih");
                    var inside = b.Let($"icmp ult i64 {ih}, {r.IH}", "in");
                    var (copy, edge, zero, next) = (b.FreshLabel("row.copy"), b.FreshLabel("row.edge"), b.FreshLabel("row.zero"), b.FreshLabel("row.next"));
                    var pick = b.FreshLabel("row.pick");
                    b.CondBr(inside, pick, zero);
                    b.Block(pick);
                    var line = b.Let($"mul i64 {b.Let($"add i64 {b.Let($"mul i64 {img}, {r.IH}")}, {ih}")}, {r.IW}", "line");
                    b.CondBr(whole, copy, edge);
                    b.Block(copy);
                    var s0 = b.Let($"getelementptr inbounds float, ptr {source}, i64 {b.Let($"mul i64 {b.Let($"add i64 {line}, {iw0}")}, {r.C}")}", "s");
                    b.Line($"call void @llvm.memcpy.p0.p0.i64(ptr {d}, ptr {s0}, i64 {run * 4}, i1 false)");
                    b.Br(next);
                    b.Block(edge);
                    b.For("0", $"{r.KW}", kw =>
                    {
                        var iw = b.Let($"add i64 {iw0}, {kw}", "iw");
                        var dk = b.Let($"getelementptr inbounds float, ptr {d}, i64 {b.Let($"mul i64 {kw}, {r.C}")}", "d");
                        var (cc, cz, cn) = (b.FreshLabel("col.copy"), b.FreshLabel("col.zero"), b.FreshLabel("col.next"));
                        b.CondBr(b.Let($"icmp ult i64 {iw}, {r.IW}", "in"), cc, cz);
                        b.Block(cc);
                        var sk = b.Let($"getelementptr inbounds float, ptr {source}, i64 {b.Let($"mul i64 {b.Let($"add i64 {line}, {iw}")}, {r.C}")}", "s");
                        b.Line($"call void @llvm.memcpy.p0.p0.i64(ptr {dk}, ptr {sk}, i64 {r.C * 4}, i1 false)");
                        b.Br(cn);
                        b.Block(cz);
                        b.Line($"call void @llvm.memset.p0.i64(ptr {dk}, i8 0, i64 {r.C * 4}, i1 false)");
                        b.Br(cn);
                        b.Block(cn);
                    }, "kw");
                    b.Br(next);
                    b.Block(zero);
                    b.Line($"call void @llvm.memset.p0.i64(ptr {d}, i8 0, i64 {run * 4}, i1 false)");
                    b.Br(next);
                    b.Block(next);
                }, "kh");
            }, "ow");
        });
    }
}
