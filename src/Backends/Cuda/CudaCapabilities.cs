using System.Collections.Frozen;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda;

/// <summary>
/// Which ops the CUDA backend has kernels for: the <c>place-devices</c> pass keeps everything else on
/// the CPU (fallback, with transfers around it). One predicate, so placement and code generation can
/// never disagree.
/// </summary>
public static class CudaCapabilities
{
    /// <summary>Integer unary ops the GPU lowers.</summary>
    private static readonly FrozenSet<OpDef> IntegerUnary = Defs("neg", "abs", "not", "sign");

    private static readonly FrozenSet<OpDef> Binary = Defs("add", "sub", "mul", "div", "max", "min", "and", "or", "xor");

    /// <summary>The registered definitions of these ops: a name that is no op fails here, when the class is first used.</summary>
    private static FrozenSet<OpDef> Defs(params string[] names) => names.Select(OpRegistry.Get).ToFrozenSet();

    /// <summary>
    /// Ops whose GPU code needs no scalar math lowering: element generators, index remapping (all but
    /// dynamic_slice) and the elementwise ops that only convert, compare or select.
    /// </summary>
    private static bool IndexOnly(Operation op) =>
        op.Def is ConstantOp or IotaOp
        || (op.Def.Has(OpTraits.IndexRemap) && op.Def is not DynamicSliceOp)
        || (op.Def.Has(OpTraits.Elementwise) && op.Def is not (UnaryOp or BinaryOp));

    /// <summary>Whether the CUDA backend compiles <paramref name="op"/> (a top-level op or a fusion) into GPU kernels.</summary>
    public static bool Supports(Operation op)
    {
        if (op.Def is FusionOp)
        {
            var body = op.Regions[0].Operations.Where(o => !o.Def.IsTerminator).ToList();
            return op.Attr.Enum("kind") switch
            {
                "loop" => body.All(ElementSupported),
                "reduction" => body.All(o => o.Def is ReduceOp ? ReductionSupported(o) : ElementSupported(o))
                    && Codegen.RowKernel.Split(body, op.Regions[0].Yielded) is not null,
                "output" => body.All(o => o.Def is DotGeneralOp ? GemmSupported(o) : ElementSupported(o)) && body.Count(o => o.Def is DotGeneralOp) <= 1,
                _ => false,
            };
        }
        return op.Def switch
        {
            ReduceOp => ReductionSupported(op),
            DotGeneralOp => GemmSupported(op),
            ScatterOp => TypesSupported(op) && Codegen.ScatterKernel.Supports(op),
            ConstantOp => false,
            _ => ElementSupported(op),
        };
    }

    private static bool TypeSupported(TensorType t) =>
        t.Element is ElementType.F32 or ElementType.F16 or ElementType.BF16 or ElementType.F64 or ElementType.Bool or ElementType.I32 or ElementType.I64;

    /// <summary>The row and GEMM kernels accumulate in f32 registers and shuffle f32: f64 stays in pointwise kernels.</summary>
    private static bool NoF64(Operation op) => op.Results.All(r => r.Type.Element != ElementType.F64) && op.Operands.All(o => o.Type.Element != ElementType.F64);

    private static bool TypesSupported(Operation op) => op.Results.All(r => TypeSupported(r.Type)) && op.Operands.All(o => TypeSupported(o.Type));

    private static bool ElementSupported(Operation op)
    {
        if (!TypesSupported(op)) return false;
        if (IndexOnly(op) || Binary.Contains(op.Def)) return true;
        // Float math: whatever the shared scalar lowering writes without a libm call (src/Backends/Llvm/Codegen/Math).
        if (op.Def is UnaryOp or BinaryOp && op.Operands[0].Type.Element is var e && e.IsFloat()) return ScalarEmitter.SelfContained(op.Def.Name, e);
        if (op.Def is UnaryOp) return IntegerUnary.Contains(op.Def);
        // Direct convolution and pooling: a thread per output element looping over its window (LoopElementOps).
        if (op.Def is ConvolutionOp) return op.Results[0].Type.Element.IsFloat() && LoopElementOps.Computes(op);
        if (op.Def is ReduceWindowOp) return op.Attr.Enum("kind") is "sum" or "max" or "min";
        // Gather (embeddings, take): each output element reads its start index from device memory, clamped as XLA's.
        if (op.Def is GatherOp) return true;
        return false;
    }

    /// <summary>Reductions over any dimensions, floats, sum/max/min: a block per output element (<c>RowKernel</c>).</summary>
    private static bool ReductionSupported(Operation op)
    {
        var x = op.Operands[0].Type;
        if (!TypesSupported(op) || !NoF64(op) || !x.Element.IsFloat()) return false;
        if (op.Attr.Enum("kind") is not ("sum" or "max" or "min")) return false;
        return op.Attr.Ints("dims").Length > 0;
    }

    /// <summary>
    /// dot_general with one contracting dimension, any batch dimensions (attention's batch × heads) and free dimensions
    /// that merge into one (a [batch, seq, hidden] activation times a weight), floats: the tiled GEMM.
    /// </summary>
    private static bool GemmSupported(Operation op) =>
        TypesSupported(op) && NoF64(op) && op.Results[0].Type.Element.IsFloat() && Codegen.GemmKernel.TryDescribe(op) is not null;
}
