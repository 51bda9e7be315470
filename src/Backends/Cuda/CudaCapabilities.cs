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

    /// <summary>Integer binary ops beyond <see cref="Binary"/>: the scalar lowering defines their edge cases (x % 0, shifts past the width) itself.</summary>
    private static readonly FrozenSet<OpDef> IntegerBinary = Defs("rem", "pow", "shift_left", "shift_right_logical", "shift_right_arithmetic");

    /// <summary>The registered definitions of these ops: a name that is no op fails here, when the class is first used.</summary>
    private static FrozenSet<OpDef> Defs(params string[] names) => names.Select(OpRegistry.Get).ToFrozenSet();

    /// <summary>
    /// Ops whose GPU code needs no scalar math lowering: element generators, index remapping (dynamic_slice and
    /// dynamic_update_slice read their start indices from device memory, clamped as the interpreter clamps them) and the
    /// elementwise ops that only convert, compare or select.
    /// </summary>
    private static bool IndexOnly(Operation op) =>
        op.Def is ConstantOp or IotaOp or DynamicUpdateSliceOp
        || op.Def.Has(OpTraits.IndexRemap)
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
                "output" => body.All(o => o.Def is DotGeneralOp || ElementSupported(o)) && body.Count(o => o.Def is DotGeneralOp) <= 1,
                _ => false,
            };
        }
        return op.Def switch
        {
            ReduceOp => ReductionSupported(op),
            // On the GEMM kernels (OnGemmTiles: f32 and narrower in f32, f64 in f64, integers in i32 or i64); any other layout a thread per output element.
            DotGeneralOp => true,
            ScatterOp => Codegen.ScatterKernel.Supports(op),
            SortOp or TopKOp => Codegen.SortKernel.Supports(op),
            DeterminantOp or MatrixInverseOp => true, // a thread per matrix (Codegen.SquareMatrixKernel)
            ConstantOp => false,
            _ => ElementSupported(op),
        };
    }

    /// <summary>No f64 value: the GEMM kernels' f32 accumulators serve these (tensor cores, skinny and FMA tiles).</summary>
    private static bool NoF64(Operation op) => op.Results.All(r => r.Type.Element != ElementType.F64) && op.Operands.All(o => o.Type.Element != ElementType.F64);

    private static bool ElementSupported(Operation op)
    {
        if (IndexOnly(op) || Binary.Contains(op.Def)) return true;
        if (op.Def is BinaryOp && !op.Operands[0].Type.Element.IsFloat()) return IntegerBinary.Contains(op.Def);
        // Float math: whatever the shared scalar lowering writes without a libm call (src/Backends/Llvm/Codegen/Math).
        if (op.Def is UnaryOp or BinaryOp && op.Operands[0].Type.Element is var e && e.IsFloat()) return ScalarEmitter.SelfContained(op.Def.Name, e);
        if (op.Def is UnaryOp) return IntegerUnary.Contains(op.Def);
        // Direct convolution and pooling: a thread per output element looping over its window (LoopElementOps).
        if (op.Def is ConvolutionOp) return LoopElementOps.Computes(op);
        if (op.Def is ReduceWindowOp) return op.Attr.Enum("kind") is "sum" or "max" or "min";
        // argmax/argmin: a block per output element, or a thread per output element in a loop fusion (Codegen.ArgReduceKernel).
        if (op.Def is ArgReduceOp) return true;
        // Gather (embeddings, take): each output element reads its start index from device memory, clamped as XLA's.
        if (op.Def is GatherOp) return true;
        // rng: each element a Philox draw of its index, normal draws through the GPU's own f64 log and cos (KernelElementOps).
        if (op.Def is RngOp) return true;
        return false;
    }

    /// <summary>
    /// Reductions over any dimensions, of every element type and kind (sum, prod, max, min, and, or), accumulating in the
    /// element's compute type: the row, column and split kernels. One that folds nothing is a copy, left to the simplifier.
    /// </summary>
    private static bool ReductionSupported(Operation op) => op.Attr.Ints("dims").Length > 0;

    /// <summary>
    /// Whether a dot_general runs on the GEMM kernels (FMA tiles or tensor cores): one contracting dimension, any batch
    /// dimensions (attention's batch × heads) and free dimensions that merge into one (a [batch, seq, hidden] activation
    /// times a weight), floats of at most 32 bits accumulating in f32, or f64 throughout (the FMA tiles in f64). Others
    /// (integers, mixed f64, several contracting dimensions) compute each output element as a loop on its own thread.
    /// </summary>
    internal static bool OnGemmTiles(Operation op) =>
        ((NoF64(op) || AllF64(op)) && op.Results[0].Type.Element.IsFloat() || AllInteger(op)) && Codegen.GemmKernel.TryDescribe(op) is not null;

    /// <summary>Integer operands and result (quantised models' products and convolutions: the tiles accumulate in i32 or i64).</summary>
    internal static bool AllInteger(Operation op) => op.Results.Append(op.Operands[0]).Append(op.Operands[1]).All(v => v.Type.Element.IsInteger());

    private static bool AllF64(Operation op) => op.Results.All(r => r.Type.Element == ElementType.F64) && op.Operands.All(o => o.Type.Element == ElementType.F64);
}
