using GraphCompiler.Backends.Cpu.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>Picks the kernel template for a GPU op: pointwise, row reduction or GEMM (see <see cref="CudaCapabilities"/>).</summary>
internal static class GpuCodegen
{
    public static IReadOnlyList<GpuKernel> Emit(DeviceModule m, Operation op, IReadOnlyDictionary<Value, Tensor> outerConstants)
    {
        IReadOnlyList<Value> inputs, outputs;
        IReadOnlyList<Operation> ops;
        var constants = new Dictionary<Value, Tensor>(ReferenceEqualityComparer.Instance);
        string kind;
        if (op.Def is FusionOp)
        {
            var body = op.Regions[0];
            inputs = body.Arguments;
            ops = [.. body.Operations.Where(o => !o.Def.IsTerminator)];
            outputs = body.Yielded;
            for (int i = 0; i < op.Operands.Length; i++)
                if (outerConstants.TryGetValue(op.Operands[i], out var t)) constants[body.Arguments[i]] = t;
            kind = op.Attr.Enum("kind");
        }
        else
        {
            inputs = op.Operands;
            ops = [op];
            outputs = op.Results;
            foreach (var (v, t) in outerConstants) constants[v] = t;
            kind = op.Def switch { ReduceOp => "reduction", DotGeneralOp => "output", _ => "loop" };
        }
        var outerInputs = op.Operands;
        switch (kind)
        {
            case "reduction":
                return [RowKernel.Emit(m, inputs, ops, outputs, constants, op.Results, outerInputs)];
            case "output":
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
