using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// A convolution as an implicit GEMM for the tensor-core kernel (<see cref="MmaKernel"/>) or, for f32 without TF32, the FMA
/// tiles (<see cref="GemmKernel.Tiled"/>), as cuDNN and CUTLASS compute it: M = batch × output positions, N = output features, K = window positions × input features, with A's element
/// (m, k) read straight from the input (zero where the window leaves it: padding) and B's from the kernel, so nothing
/// is copied (no im2col buffer). K runs over the window positions (spatial dimensions in order) and, innermost, the
/// input features: in NHWC those are contiguous, so A's loads are 16-byte vectors when the input features are a
/// multiple of 8 (bf16/f16; 4 for TF32), 8- or 4-byte ones when they are a multiple of 4 or 2 (the first layer's 3 RGB
/// features become 4 in the cuda pipeline: <c>pad-features</c>), and in HWIO the kernel's output features are, so B's are too.
/// Any layout works (the addresses come from <see cref="ConvLayout"/>); others only load element by element.
/// </summary>
internal static class ImplicitGemm
{
    /// <summary>
    /// A group's input and output features must each be at least this many for a grouped convolution to run as a GEMM per
    /// group: one mma tile's N (8), and one 16-byte copy of 16-bit features. Narrower groups (depthwise: 1; ResNeXt's 4)
    /// would leave most of every tile empty; they run as direct kernels, a thread per output over its window.
    /// </summary>
    public const long MinGroupFeatures = 8;

    /// <summary>
    /// Convolutions it computes: one batch group, no input dilation (transposed convolution), and one feature group or
    /// groups of at least <see cref="MinGroupFeatures"/> input and output features (ShuffleNet's grouped 1×1s), a GEMM
    /// per group along the grid's z.
    /// </summary>
    public static bool Supports(Operation conv)
    {
        if (conv.Def is not ConvolutionOp) return false;
        var a = conv.Attr;
        var (L, w) = ConvolutionOp.Geometry(conv);
        if (a.Int("batch_group_count") != 1 || !w.LhsDilation.All(d => d == 1)) return false;
        long groups = a.Int("feature_group_count");
        if (groups == 1) return true;
        return conv.Operands[1].Type.Shape[L.KernelIn] >= MinGroupFeatures && conv.Result.Type.Shape[L.OutFeature] / groups >= MinGroupFeatures;
    }

    public static MmaKernel.Contraction Describe(Operation conv)
    {
        var (input, kernel, output) = (conv.Operands[0].Type, conv.Operands[1].Type, conv.Result.Type);
        var a = conv.Attr;
        var (L, w) = ConvolutionOp.Geometry(conv);
        int n = L.SpatialCount;
        var (strides, padLow, dilation) = (w.Strides, w.PadLow, w.RhsDilation);
        long Stride(TensorType t, int dim) => t.Shape.Skip(dim + 1).Aggregate(1L, (p, s) => p * s);
        // Per group: cin input features from group·cin on, cout output features from group·cout on (one group: all).
        long groups = a.Int("feature_group_count");
        long cin = input.Shape[L.InFeature] / groups, cout = kernel.Shape[L.KernelOut] / groups;
        var window = L.KernelSpatial.Select(d => kernel.Shape[d]).ToArray();
        var outSpatial = L.OutSpatial.Select(d => output.Shape[d]).ToArray();
        long batch = output.Shape[L.OutBatch], M = batch * outSpatial.Aggregate(1L, (p, s) => p * s), K = window.Aggregate(cin, (p, s) => p * s);

        return new(new MmaKernel.Extent(groups, M, cout, K), (b, pa, pb, group, vector) =>
        {
            // The group's first output feature (the grid's z is the group).
            var groupOut = groups > 1 ? b.Let($"mul nuw nsw i64 {group}, {cout}", "gout") : "0";

            // k → (window position per spatial dimension, input feature): input feature innermost. A 1×1 window (a ResNet
            // bottleneck's projections) has k = the input feature: no division.
            bool unitWindow = window.All(w => w == 1);
            string[] SplitK(string k)
            {
                var parts = new string[n + 1];
                if (unitWindow)
                {
                    for (int s = 0; s < n; s++) parts[s] = "0";
                    parts[n] = k;
                    return parts;
                }
                parts[n] = b.Let($"urem i64 {k}, {cin}", "ci");
                var rest = b.Let($"udiv i64 {k}, {cin}");
                for (int s = n - 1; s >= 0; s--)
                {
                    parts[s] = s == 0 ? rest : b.Let($"urem i64 {rest}, {window[s]}", "kw");
                    if (s > 0) rest = b.Let($"udiv i64 {rest}, {window[s]}");
                }
                return parts;
            }
            // m → (batch, output position per spatial dimension), the last spatial dimension fastest.
            string[] SplitM(string m)
            {
                var parts = new string[n + 1];
                var rest = m;
                for (int s = n - 1; s >= 0; s--)
                {
                    parts[s + 1] = b.Let($"urem i64 {rest}, {outSpatial[s]}", "o");
                    rest = b.Let($"udiv i64 {rest}, {outSpatial[s]}");
                }
                parts[0] = rest;
                return parts;
            }

            // A (the input): contiguous along K when the input features are innermost.
            long inFeatureStride = Stride(input, L.InFeature);
            var inOthers = L.InSpatial.Select(d => Stride(input, d)).Append(Stride(input, L.InBatch)).ToArray();
            bool aAlongK = inFeatureStride == 1;
            int aVector = aAlongK ? MmaKernel.Widest(vector, [cin, .. inOthers]) : 1;
            var A = new MmaKernel.Operand(pa, aAlongK, aVector, m =>
            {
                var parts = SplitM(m);
                var rowInside = b.Let($"icmp slt i64 {m}, {M}");
                // Row-invariant: the batch's base and each window origin o·stride − pad_low.
                var rowBase = b.Let($"mul nsw i64 {parts[0]}, {Stride(input, L.InBatch)}", "abase");
                if (groups > 1) rowBase = b.Let($"add nsw i64 {rowBase}, {b.Let($"mul nuw nsw i64 {group}, {cin * inFeatureStride}")}", "abase");
                var origin = Enumerable.Range(0, n).Select(s => b.Let($"sub nsw i64 {b.Let($"mul nsw i64 {parts[s + 1]}, {strides[s]}")}, {padLow[s]}", "org")).ToArray();
                return k =>
                {
                    var w = SplitK(k);
                    var inside = b.Let($"and i1 {rowInside}, {b.Let($"icmp slt i64 {k}, {K}")}");
                    var offset = b.Let($"add nsw i64 {rowBase}, {b.Let($"mul nsw i64 {w[n]}, {inFeatureStride}")}");
                    for (int s = 0; s < n; s++)
                    {
                        var pos = b.Let($"add nsw i64 {origin[s]}, {b.Let($"mul nsw i64 {w[s]}, {dilation[s]}")}", "pos");
                        // Unsigned compare: a position left of the input (negative) is out too.
                        inside = b.Let($"and i1 {inside}, {b.Let($"icmp ult i64 {pos}, {input.Shape[L.InSpatial[s]]}")}");
                        offset = b.Let($"add nsw i64 {offset}, {b.Let($"mul nsw i64 {pos}, {Stride(input, L.InSpatial[s])}")}");
                    }
                    return (inside, offset);
                };
            });

            // B (the kernel): contiguous along K when its input features are innermost, along N when its output features are.
            long kiStride = Stride(kernel, L.KernelIn), koStride = Stride(kernel, L.KernelOut);
            var kSpatial = L.KernelSpatial.Select(d => Stride(kernel, d)).ToArray();
            bool bAlongK = kiStride == 1;
            int bVector = bAlongK ? MmaKernel.Widest(vector, [cin, .. kSpatial, koStride])
                : koStride == 1 ? MmaKernel.Widest(vector, [cout, .. kSpatial, kiStride]) : 1;
            // The kernel's K dimensions row-major in K's order (HWIO: window, then input features): its offset is linear in k.
            bool bLinear = Enumerable.Range(0, n).All(s => kSpatial[s] == (s == n - 1 ? cin * kiStride : kSpatial[s + 1] * window[s + 1]));
            var B = new MmaKernel.Operand(pb, bAlongK, bVector, co =>
            {
                var colInside = b.Let($"icmp slt i64 {co}, {cout}");
                var colBase = b.Let($"mul nuw nsw i64 {(groups > 1 ? b.Let($"add nuw nsw i64 {groupOut}, {co}") : co)}, {koStride}", "bbase");
                if (bLinear)
                    return k => (b.Let($"and i1 {colInside}, {b.Let($"icmp slt i64 {k}, {K}")}"), b.Let($"add nuw nsw i64 {colBase}, {b.Let($"mul nuw nsw i64 {k}, {kiStride}")}"));
                return k =>
                {
                    var w = SplitK(k);
                    var offset = b.Let($"add nuw nsw i64 {colBase}, {b.Let($"mul nuw nsw i64 {w[n]}, {kiStride}")}");
                    for (int s = 0; s < n; s++) offset = b.Let($"add nuw nsw i64 {offset}, {b.Let($"mul nuw nsw i64 {w[s]}, {kSpatial[s]}")}");
                    return (b.Let($"and i1 {colInside}, {b.Let($"icmp slt i64 {k}, {K}")}"), offset);
                };
            });

            return new MmaKernel.Problem(A, B, (row, col) =>
            {
                var parts = SplitM(row);
                var idx = new string[output.Rank];
                idx[L.OutBatch] = parts[0];
                for (int s = 0; s < n; s++) idx[L.OutSpatial[s]] = parts[s + 1];
                idx[L.OutFeature] = groups > 1 ? b.Let($"add nuw nsw i64 {groupOut}, {col}") : col;
                return idx;
            });
        });
    }
}
