using System.Runtime.InteropServices;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>fold-batchnorm</c>: folds inference batch normalisation into the convolution before it. An
/// importer lowers batch-norm to conv(x, W) * scale + bias, or (ONNX) (conv(x, W) - mean) * scale + bias,
/// with mean, scale and bias per output feature (broadcast along the output's feature dimension); when
/// W, mean and scale are constants this pass rewrites conv(x, W) * scale into conv(x, W'), W' = W * scale
/// along the kernel's output-feature dimension, and (conv(x, W) - mean) * scale into
/// conv(x, W') - mean * scale, and leaves the bias add as it is. Grouped convolutions fold the same way: output feature o reads
/// only kernel slice o.
/// <para>
/// This is NOT exact, which is why it is its own pass and not a <c>simplify</c> rule: the original
/// rounds the convolution's sum and then the product with the scale, the folded form rounds W * scale
/// to the weight type and then the sum — a different rounding, typically within a few ulps. Every
/// inference compiler does it (the multiply disappears), so it is in the default pipeline, and its
/// differential test compares with a tolerance. Only float convolutions whose result type is the
/// kernel's are folded, and only when the convolution has no other use (else it would be computed
/// twice).
/// </para>
/// </summary>
public sealed class BatchNormFolding : FunctionPass
{
    public override string Name => "fold-batchnorm";
    public override string Description => "fold a per-channel scale after a convolution into its weights (changes rounding)";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options)
    {
        var uses = UseCounts.Of(f);
        return new RegionRewriter((op, rw) =>
        {
            if (op.Def == ElementwiseOps.Mul && (TryFold(op, 0, rw, uses) ?? TryFold(op, 1, rw, uses)
                    ?? TryFoldCentred(op, 0, rw, uses) ?? TryFoldCentred(op, 1, rw, uses)) is { } v)
                rw.Replace(op.Result, v);
            else rw.Emit(op);
        }).Rewrite(f);
    }

    // conv(x, W) * s => conv(x, W * s)
    private static Value? TryFold(Operation mul, int convSide, RegionRewriter rw, Dictionary<Value, int> uses)
    {
        if (Foldable(rw.DefiningOp(mul.Operands[convSide]), rw, uses) is not { } c) return null;
        if (PerChannel(mul.Operands[1 - convSide], rw, c.Type, c.OutFeature) is not { } scale) return null;
        var weights = Scaled(c.Weights, c.KernelOut, scale);
        return rw.Build(c.Conv, b => b.Emit("convolution", [c.Conv.Operands[0], b.Constant(weights)], c.Conv.Attributes, c.Type));
    }

    // (conv(x, W) - m) * s => conv(x, W * s) - m * s, the form ONNX's BatchNormalization lowers to
    // (the subtraction must have no other use, else the unscaled difference would still be needed)
    private static Value? TryFoldCentred(Operation mul, int subSide, RegionRewriter rw, Dictionary<Value, int> uses)
    {
        if (rw.DefiningOp(mul.Operands[subSide]) is not { } sub || sub.Def != ElementwiseOps.Sub || uses.GetValueOrDefault(sub.Result) != 1) return null;
        if (Foldable(rw.DefiningOp(sub.Operands[0]), rw, uses) is not { } c) return null;
        if (PerChannel(mul.Operands[1 - subSide], rw, c.Type, c.OutFeature) is not { } scale) return null;
        if (PerChannel(sub.Operands[1], rw, c.Type, c.OutFeature) is not { } mean) return null;
        var weights = Scaled(c.Weights, c.KernelOut, scale);
        var shift = new TensorBuffer(new TensorType(c.Type.Element, (long)scale.Length));
        for (int f = 0; f < scale.Length; f++) shift.SetDouble(f, mean[f] * scale[f]);
        var shifts = shift.ToTensor();
        return rw.Build(c.Conv, b =>
        {
            var folded = b.Emit("convolution", [c.Conv.Operands[0], b.Constant(weights)], c.Conv.Attributes, c.Type);
            return b.Emit("sub", folded, b.BroadcastInDim(b.Constant(shifts), c.Type, c.OutFeature));
        });
    }

    private sealed record FoldableConv(Operation Conv, TensorType Type, Tensor Weights, int KernelOut, int OutFeature);

    /// <summary>A float convolution with constant weights of its result's type and no other use than the one being folded.</summary>
    private static FoldableConv? Foldable(Operation? conv, RegionRewriter rw, Dictionary<Value, int> uses)
    {
        if (conv is not { Def: ConvolutionOp }) return null;
        var type = conv.ResultType();
        if (!type.Element.IsFloat() || conv.OperandTypes[1].Element != type.Element) return null;
        if (uses.GetValueOrDefault(conv.Result) != 1 || rw.ConstantValue(conv.Operands[1]) is not { } w) return null;
        var layout = GraphCompiler.IR.Ops.ConvLayout.Parse(conv.Attr.String("dims"), m => new IrException(m));
        return new FoldableConv(conv, type, w, layout.KernelOut, layout.OutFeature);
    }

    /// <summary>
    /// W with every output-feature slice o multiplied by scale[o] (in double, rounded once to W's type).
    /// f32 weights, the common case, go through a plain array: ResNet-50 has 25 M of them.
    /// </summary>
    private static Tensor Scaled(Tensor w, int kernelOut, double[] scale)
    {
        long stride = w.Type.Strides()[kernelOut], features = w.Type.Shape[kernelOut];
        if (w.Element == ElementType.F32)
        {
            var src = MemoryMarshal.Cast<byte, float>(w.Bytes);
            var dst = new float[src.Length];
            for (int k = 0; k < dst.Length; k++) dst[k] = (float)(src[k] * scale[k / stride % features]);
            return Tensor.FromBytes(w.Type, MemoryMarshal.AsBytes(dst.AsSpan()));
        }
        var folded = new TensorBuffer(w.Type);
        for (long k = 0; k < w.ElementCount; k++) folded.SetDouble(k, w.GetDouble(k) * scale[k / stride % features]);
        return folded.ToTensor();
    }

    /// <summary>
    /// The values of <paramref name="s"/> (of type <paramref name="type"/>) per index of dimension
    /// <paramref name="feature"/>, when it varies along no other dimension: a broadcast of a constant
    /// along that dimension (or of a scalar), or a constant that is one.
    /// </summary>
    private static double[]? PerChannel(Value s, RegionRewriter rw, TensorType type, int feature)
    {
        long n = type.Shape[feature];
        var scale = new double[n];
        if (rw.DefiningOp(s) is { Def: BroadcastInDimOp } bc && rw.ConstantValue(bc.Operands[0]) is { } c)
        {
            var dims = bc.Attr.Ints("dims");
            int along = -1;
            for (int i = 0; i < dims.Length; i++)
            {
                if (c.Type.Shape[i] == 1) continue;
                if (dims[i] != feature) return null;
                along = i;
            }
            // Only the 'along' dimension is longer than 1, so element f of it sits at linear position f.
            for (long f = 0; f < n; f++) scale[f] = c.GetDouble(along < 0 ? 0 : f);
            return scale;
        }
        if (rw.ConstantValue(s) is not { } t) return null;
        var strides = type.Strides();
        for (long f = 0; f < n; f++) scale[f] = t.GetDouble(f * strides[feature]);
        Span<long> idx = stackalloc long[type.Rank];
        for (long k = 0; k < t.ElementCount; k++)
        {
            Shapes.Unravel(k, type.Shape, idx);
            if (BitConverter.DoubleToInt64Bits(t.GetDouble(k)) != BitConverter.DoubleToInt64Bits(scale[idx[feature]])) return null;
        }
        return scale;
    }
}
