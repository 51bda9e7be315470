using GraphCompiler.IR;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>fold-batchnorm</c>: folds inference batch normalisation into the convolution before it. An
/// importer lowers batch-norm to conv(x, W) * scale + bias with scale and bias per output feature
/// (broadcast along the output's feature dimension); when W and scale are constants this pass rewrites
/// conv(x, W) * scale into conv(x, W'), W' = W * scale along the kernel's output-feature dimension,
/// and leaves the bias add as it is. Grouped convolutions fold the same way: output feature o reads
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
            if (op.Name == "mul" && (TryFold(op, 0, rw, uses) ?? TryFold(op, 1, rw, uses)) is { } v) rw.Replace(op.Result, v);
            else rw.Emit(op);
        }).Rewrite(f);
    }

    /// <summary>mul(conv, scale) with the convolution as operand <paramref name="convSide"/>: the folded convolution, or null.</summary>
    private static Value? TryFold(Operation mul, int convSide, RegionRewriter rw, Dictionary<Value, int> uses)
    {
        if (rw.DefiningOp(mul.Operands[convSide]) is not { Name: "convolution" } conv) return null;
        var type = conv.ResultType();
        if (!type.Element.IsFloat() || conv.OperandTypes[1].Element != type.Element) return null;
        if (uses.GetValueOrDefault(conv.Result) != 1 || rw.ConstantValue(conv.Operands[1]) is not { } w) return null;
        var layout = GraphCompiler.IR.Ops.ConvLayout.Parse(conv.Attr.String("dims"), m => new IrException(m));
        int kernelOut = layout.KernelOut, outFeature = layout.OutFeature;
        if (PerChannel(mul.Operands[1 - convSide], rw, type, outFeature) is not { } scale) return null;

        var folded = new TensorBuffer(w.Type);
        Span<long> idx = stackalloc long[w.Type.Rank];
        for (long k = 0; k < w.ElementCount; k++)
        {
            Shapes.Unravel(k, w.Type.Shape, idx);
            folded.SetDouble(k, w.GetDouble(k) * scale[idx[kernelOut]]);
        }
        var newWeights = folded.ToTensor();
        return rw.Build(conv, b => b.Emit("convolution", [conv.Operands[0], b.Constant(newWeights)], conv.Attributes, type));
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
        if (rw.DefiningOp(s) is { Name: "broadcast_in_dim" } bc && rw.ConstantValue(bc.Operands[0]) is { } c)
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
