using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// Picks the kernel template for a GPU op: column reduction (a thread per output, coalesced), split reduction (few outputs
/// of many elements: chunks, then their partials combined) or row reduction (a block per output), argmax/argmin (a block
/// per output), GEMM (a dot_general of floats or integers and its epilogue), implicit GEMM (a convolution of one group or of wide
/// groups, and its epilogue; tensor cores or FMA tiles), depthwise convolution (strips of outputs reusing their loads), sort and top_k (a rank per element, or a bitonic network for long lanes), or pointwise for everything else: the other convolutions, pooling, and
/// products of other layouts included, each output element a loop on its own thread (see <see cref="CudaCapabilities"/>).
/// </summary>
internal static class GpuCodegen
{
    /// <summary>
    /// The convolution of an output fusion that runs as an implicit GEMM (<see cref="ImplicitGemm.Supports"/>: one group,
    /// or a GEMM per group when the groups are wide enough), f32/f16/bf16 operands and result or integer ones (a quantised
    /// model's), read straight from the fusion's inputs, one output of its shape. On tensor cores when its operands take
    /// them (16-bit, or f32 with TF32 allowed), else on the FMA tiles (integers in i32 or i64). Depthwise convolutions have
    /// their own kernel (<see cref="DepthwiseKernel"/>); narrowly grouped, transposed (input-dilated) and f64 ones run as
    /// direct kernels (a thread per output element).
    /// </summary>
    private static Operation? ImplicitConvolution(IReadOnlyList<Operation> ops, IReadOnlyList<Value> inputs, IReadOnlyList<Value> outputs)
    {
        if (ops.Count(o => o.Def is ConvolutionOp) != 1) return null;
        var conv = ops.Single(o => o.Def is ConvolutionOp);
        if (!ImplicitGemm.Supports(conv)) return null;
        bool floats = conv.Operands.Append(conv.Result).All(v => v.Type.Element is ElementType.F32 or ElementType.F16 or ElementType.BF16);
        if (!floats && !CudaCapabilities.AllInteger(conv)) return null;
        if (!conv.Operands.All(inputs.Contains) || outputs.Count != 1 || !outputs[0].Type.Shape.SequenceEqual(conv.Result.Type.Shape)) return null;
        return conv;
    }

    public static IReadOnlyList<GpuKernel> Emit(DeviceModule m, Operation op, IReadOnlyDictionary<Value, Tensor> outerConstants)
    {
        // Nothing to compute: no launch (a block per output element would still run one block, writing out of bounds).
        if (op.Results.All(r => r.Type.ElementCount == 0)) return [];
        if (op.Def is ScatterOp) return ScatterKernel.Emit(m, op, outerConstants);
        if (op.Def is SortOp or TopKOp) return SortKernel.Emit(m, op);
        if (op.Def is DeterminantOp or MatrixInverseOp) return [SquareMatrixKernel.Emit(m, op)];
        var body = KernelBody.Of(op);
        var (inputs, ops, outputs, outerInputs) = (body.Inputs, body.Ops, body.Outputs, body.OuterInputs);
        var constants = body.Constants(outerConstants);
        var kind = op.Def is FusionOp ? op.Attr.Enum("kind") : op.Def switch { ReduceOp => "reduction", DotGeneralOp or ConvolutionOp => "output", _ => "loop" };
        var split = kind == "reduction" ? RowKernel.Split(ops, outputs) : null;
        switch (kind)
        {
            case "reduction" when split is not null && ColumnKernel.Applies(split, outputs, m.Target.Multiprocessors):
                return [ColumnKernel.Emit(m, inputs, ops, outputs, constants, op.Results, outerInputs, split)];
            case "reduction" when split is not null && SplitReduction.Applies(split, ops, outputs, m.Target.Multiprocessors):
                return SplitReduction.Emit(m, inputs, ops, outputs, constants, op.Results, outerInputs, split);
            case "reduction":
                return [RowKernel.Emit(m, inputs, ops, outputs, constants, op.Results, outerInputs)];
            case "loop" when op.Def is ArgReduceOp && !ArgReduceKernel.ThreadPerOutput(op, m.Target.Multiprocessors):
                return ArgReduceKernel.Emit(m, op, inputs, constants, outerInputs);
            case "output" when ops.FirstOrDefault(o => o.Def is DotGeneralOp) is { } dot && CudaCapabilities.OnGemmTiles(dot):
                return GemmKernel.Emit(m, inputs, ops, outputs, constants, op.Results, outerInputs);
            case "output" when ImplicitConvolution(ops, inputs, outputs) is { } conv:
                return MmaKernel.For(conv.Operands[0].Type.Element, conv.Operands[1].Type.Element, m.Target) is { } tensorCores
                    ? MmaKernel.Emit(m, inputs, ops, outputs, constants, op.Results, outerInputs, conv, tensorCores, ImplicitGemm.Describe(conv))
                    : GemmKernel.Tiled(m, inputs, ops, outputs, constants, op.Results, outerInputs, conv, ImplicitGemm.Describe(conv));
            case "output" when DepthwiseKernel.Convolution(ops, inputs, outputs) is { } depthwise:
                return [DepthwiseKernel.Emit(m, inputs, ops, outputs, constants, op.Results, outerInputs, depthwise)];
            default:
                // One kernel per output shape: a kernel's threads walk one index space.
                var kernels = new List<GpuKernel>();
                foreach (var group in Enumerable.Range(0, outputs.Count).GroupBy(i => string.Join("x", outputs[i].Type.Shape)))
                {
                    var which = group.ToList();
                    kernels.Add(PointwiseKernel.Emit(m, inputs, ops, [.. which.Select(i => outputs[i])], constants,
                        [.. which.Select(i => op.Results[i])], outerInputs));
                }
                return kernels;
        }
    }
}
