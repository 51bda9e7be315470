using GraphCompiler.IR;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>mixed-precision</c>: every f32 contraction (<see cref="OpTraits.Contraction"/>: dot_general, convolution) reads its
/// operands in 16 bits (<see cref="PassOptions.ContractionOperands"/>, bf16 or f16) and keeps its f32 result, as
/// XLA's and PyTorch's autocast do: the products are exact in f32 and the sums accumulate in f32, so the error is
/// the operands' rounding (2^-9 relative for bf16, 2^-11 for f16), while weights take half the memory and the GPU's
/// tensor cores run the contraction. Constant operands (weights) are converted here, once; other operands get a
/// <c>convert</c>, which fusion places in its producer's kernel, so the activation is stored in 16 bits where the
/// contraction is its only reader. Reductions, normalisations and everything elementwise stay f32.
/// <para>Not exact, so never in a default pipeline: the driver adds it after <c>fold-batchnorm</c> (which folds
/// scales into f32 weights first) when asked (<c>--precision bf16|f16</c>).</para>
/// </summary>
public sealed class MixedPrecision : FunctionPass
{
    public override string Name => "mixed-precision";
    public override string Description => "f32 contractions read bf16/f16 operands and accumulate in f32 (--precision; changes rounding)";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options)
    {
        if (options.ContractionOperands is not { } low) return f;
        if (low is not (ElementType.BF16 or ElementType.F16))
            throw new PassException(new Diagnostic($"mixed precision stores contraction operands in bf16 or f16, not {low.Name()}"));
        return new RegionRewriter((op, rw) =>
        {
            if (!op.Def.Has(OpTraits.Contraction) || op.Results.Any(r => r.Type.Element != ElementType.F32)
                || op.Operands.Any(v => v.Type.Element != ElementType.F32))
            {
                rw.Emit(op);
                return;
            }
            // contraction(a: f32, b: f32) : f32 => contraction(convert(a): low, convert(b): low) : f32
            rw.Replace(op.Result, rw.Build(op, b =>
            {
                var narrow = op.Operands.Select(v =>
                {
                    if (rw.ConstantValue(v) is { } t) return b.Constant(Narrow(t, low));
                    // The convert runs in its producer's kernel (fusion puts it there), so it takes the producer's source
                    // name: a fusion is named after its last op, and --place patterns and kernel tables read that name.
                    b.SourceName = rw.DefiningOp(v)?.SourceName ?? op.SourceName;
                    var narrowed = b.Convert(v, low);
                    b.SourceName = op.SourceName;
                    return narrowed;
                }).ToList();
                return b.Emit(op.Def.Name, narrow, op.Attributes, op.ResultType());
            }));
        }).Rewrite(f);
    }

    /// <summary>A constant in <paramref name="low"/>, each element rounded as <c>convert</c> rounds it.</summary>
    private static Tensor Narrow(Tensor t, ElementType low)
    {
        var r = new TensorBuffer(t.Type.WithElement(low));
        for (long i = 0; i < t.ElementCount; i++) r.SetDouble(i, t.GetDouble(i));
        return r.ToTensor();
    }
}
