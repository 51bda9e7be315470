using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// Picks the kernel template for a GPU op: row reduction, GEMM (a dot_general and its epilogue), or pointwise for
/// everything else, convolutions and pooling included (see <see cref="CudaCapabilities"/>).
/// </summary>
internal static class GpuCodegen
{
    public static IReadOnlyList<GpuKernel> Emit(DeviceModule m, Operation op, IReadOnlyDictionary<Value, Tensor> outerConstants)
    {
        var body = KernelBody.Of(op);
        var (inputs, ops, outputs, outerInputs) = (body.Inputs, body.Ops, body.Outputs, body.OuterInputs);
        var constants = body.Constants(outerConstants);
        var kind = op.Def is FusionOp ? op.Attr.Enum("kind") : op.Def switch { ReduceOp => "reduction", DotGeneralOp => "output", _ => "loop" };
        switch (kind)
        {
            case "reduction":
                return [RowKernel.Emit(m, inputs, ops, outputs, constants, op.Results, outerInputs)];
            case "output" when ops.Any(o => o.Def is DotGeneralOp):
                return [GemmKernel.Emit(m, inputs, ops, outputs, constants, op.Results, outerInputs)];
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
