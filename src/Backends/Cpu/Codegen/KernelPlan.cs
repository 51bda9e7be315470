using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>How a kernel computes one op of its group before the outputs' loop nests run.</summary>
internal enum StepKind
{
    /// <summary>A packed GEMM (<see cref="KernelEmitter.GemmPlan"/>).</summary>
    Gemm,
    /// <summary>A convolution as im2col + GEMM (<see cref="KernelEmitter.ConvPlan"/>).</summary>
    Conv,
    /// <summary>A whole-tensor op (scatter, sort, top_k, determinant, inverse) writing all its results at once.</summary>
    Whole,
    /// <summary>An op whose elements each need a loop, read by other ops of the group: computed once into scratch.</summary>
    Scratch,
}

/// <summary>
/// One op computed ahead of the element loops. <paramref name="IntoOutput"/>: a GEMM or convolution
/// writes into <c>%out0</c> (as the output itself, or for an elementwise epilogue to rewrite in place);
/// a whole op writes its results straight into the outputs (the kernel is just that op). Otherwise the
/// results go to scratch that the rest of the group reads.
/// </summary>
internal sealed record KernelStep(Operation Op, StepKind Kind, bool IntoOutput, KernelEmitter.GemmPlan? Gemm = null, KernelEmitter.ConvPlan? Conv = null);

/// <summary>
/// Kernel planning: which ops of a group (a fusion body, or one op) are GEMMs, convolutions, whole-tensor
/// ops or scratch-computed, and where they write. Everything else is computed element by element, on
/// demand, by the element evaluator inside the outputs' loop nests.
/// </summary>
internal static class KernelPlan
{
    /// <summary>Ops whose elements each need a loop: computed once into a buffer when other ops of the group read them.</summary>
    private static bool IsHeavy(Operation op) => op.Def.HasAny(OpTraits.Contraction | OpTraits.Reduction);

    /// <param name="outputsOverwriteInputs">An output may be an input's buffer: it is written only with its own final elements.</param>
    public static List<KernelStep> Steps(IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs, bool outputsOverwriteInputs = false)
    {
        var steps = new List<KernelStep>();
        var usedInside = new HashSet<Value>(ops.SelectMany(o => o.Operands), ReferenceEqualityComparer.Instance);
        bool outputFree = outputs.Count == 1; // the single output's buffer, until a contraction writes into it
        bool outputAsScratch = outputFree && !outputsOverwriteInputs; // for a contraction whose epilogue then rewrites it
        foreach (var op in ops)
        {
            var gemm = KernelEmitter.PlanGemm(op);
            var conv = gemm is null ? KernelEmitter.PlanConv(op) : null;
            if (gemm is not null || conv is not null)
            {
                // The GEMM writes straight into the output when it is the output, or when the rest of the
                // group is an elementwise epilogue that then rewrites the output in place.
                bool into = false;
                if (outputFree && ReferenceEquals(outputs[0], op.Result)) into = true;
                else if (outputAsScratch && KernelEmitter.EpilogueInPlace(op, ops, outputs[0]))
                {
                    into = true;
                    outputFree = false;
                }
                steps.Add(new KernelStep(op, gemm is not null ? StepKind.Gemm : StepKind.Conv, into, gemm, conv));
                continue;
            }
            if (KernelEmitter.IsWhole(op))
            {
                // Whole-tensor ops write all their results at once: straight into the outputs when the
                // kernel is just this op, else into scratch that the rest of the group reads.
                steps.Add(new KernelStep(op, StepKind.Whole, ops.Count == 1 && op.Results.SequenceEqual(outputs)));
                continue;
            }
            if (!IsHeavy(op) || !usedInside.Contains(op.Result)) continue;
            steps.Add(new KernelStep(op, StepKind.Scratch, false));
        }
        return steps;
    }
}
