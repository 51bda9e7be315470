using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>pad-features</c> (cuda pipeline): pads a convolution's input features with zeros where their count leaves the target
/// only narrow copies of the input (<see cref="PassOptions.ContractionCopyBytes"/>). The first layer of an image model
/// reads 3 features (RGB) per pixel, so its tensor-core kernel stages the input one 4-byte TF32 or 2-byte bf16 element at
/// a time, each with its own address arithmetic (the window position divided out of K); padded to 4 features it stages
/// one 16-byte (TF32) or 8-byte (bf16) copy per pixel. XLA pads its cuDNN convolutions' features the same way.
/// <para>The input gets a <c>pad</c> (fusion puts it in its producer's kernel: an ONNX model's NCHW → NHWC transpose);
/// the kernel gets zero input features (a constant kernel is padded here, once). Each added product is 0 · 0, so
/// every sum, and every result, is unchanged.</para>
/// <para>Padding goes to the widest copy that costs at most <see cref="MaxGrowth"/> of the input (3 → 4, 6 → 8): it
/// adds that many products and input bytes. Only where copies would be a quarter of the widest or narrower (a 4-byte
/// TF32, a 2- or 4-byte 16-bit copy): halves are wide enough not to pay for more products.</para>
/// </summary>
public sealed class FeaturePadding : FunctionPass
{
    /// <summary>Padded features may be at most this many times the features: a third more products and input bytes.</summary>
    public const double MaxGrowth = 4.0 / 3;

    public override string Name => "pad-features";
    public override string Description => "pad convolutions' input features with zeros so the GPU copies them in wide vectors (3 RGB features → 4)";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options)
    {
        if (options.ContractionCopyBytes is not { } copyBytes) return f;
        return new RegionRewriter((op, rw) =>
        {
            if (op.Def is not ConvolutionOp || Padded(op, copyBytes) is not { } to)
            {
                rw.Emit(op);
                return;
            }
            var (L, _) = ConvolutionOp.Geometry(op);
            // convolution(x: […, c], k: […, c, o]) => convolution(pad(x, features to `to`), pad(k, input features to `to`))
            rw.Replace(op.Result, rw.Build(op, b =>
            {
                var input = op.Operands[0];
                b.SourceName = rw.DefiningOp(input)?.SourceName ?? op.SourceName;
                var x = Pad(b, input, L.InFeature, to);
                b.SourceName = op.SourceName;
                var k = rw.ConstantValue(op.Operands[1]) is { } weights
                    ? b.Constant(PadConstant(module, weights, op.Operands[1], L.KernelIn, to))
                    : Pad(b, op.Operands[1], L.KernelIn, to);
                return b.Emit(op.Def.Name, [x, k], op.Attributes, op.ResultType());
            }));
        }).Rewrite(f);
    }

    /// <summary>
    /// The input features <paramref name="conv"/> is padded to, or null: one feature and batch group, no input dilation,
    /// the features innermost (what a copy runs along), both operands copied by the target, and a wider copy within
    /// <see cref="MaxGrowth"/> where the features allow only a quarter of the widest or less.
    /// </summary>
    private static long? Padded(Operation conv, Func<ElementType, int?> copyBytes)
    {
        var (L, w) = ConvolutionOp.Geometry(conv);
        var (input, kernel) = (conv.Operands[0].Type, conv.Operands[1].Type);
        if (conv.Attr.Int("feature_group_count") != 1 || conv.Attr.Int("batch_group_count") != 1 || !w.LhsDilation.All(d => d == 1)) return null;
        if (L.InFeature != input.Rank - 1 || copyBytes(input.Element) is not { } bytes || copyBytes(kernel.Element) is null) return null;
        int widest = bytes / Math.Max(input.Element.ByteSize(), kernel.Element.ByteSize());
        long features = input.Shape[L.InFeature];
        int now = 1;
        while (now < widest && features % (now * 2) == 0) now *= 2;
        if (features == 0 || now * 4 > widest) return null;
        for (int v = widest; v > now; v /= 2)
        {
            long to = (features + v - 1) / v * v;
            if (to <= features * MaxGrowth) return to;
        }
        return null;
    }

    /// <summary><paramref name="x"/> with zeros after its elements along <paramref name="axis"/>, to <paramref name="to"/>.</summary>
    private static Value Pad(IrBuilder b, Value x, int axis, long to)
    {
        var high = new long[x.Type.Rank];
        high[axis] = to - x.Type.Shape[axis];
        return b.Emit("pad", [x, b.Scalar(x.Type.Element, 0)], ("low", A.Ints(new long[x.Type.Rank])), ("high", A.Ints(high)));
    }

    /// <summary>A constant padded at compile time: the same <c>pad</c>, evaluated by the op's own rule (the interpreter's).</summary>
    private static Tensor PadConstant(Module module, Tensor weights, Value kernel, int axis, long to)
    {
        var scratch = new IrBuilder();
        Pad(scratch, kernel, axis, to);
        var pad = scratch.LastOperation!;
        return new Interpreter(module).EvaluateOperation(pad, [weights, Tensor.Scalar(weights.Type.Element, 0)])[0];
    }
}
