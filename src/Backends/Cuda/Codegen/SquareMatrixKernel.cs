using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// determinant and matrix_inverse on the GPU: a thread per matrix of the batch copies its matrix (widened to f64, and
/// for the inverse an identity beside it) into its own part of the device scratch and runs the interpreter's algorithm
/// on it — LU with partial pivoting, or Gauss–Jordan — through the same LLVM helpers the CPU calls
/// (<see cref="MatrixHelpers"/>), so both targets compute the same bits. Sequential within a matrix (n³ steps on one
/// thread): right for the small matrices models take determinants and inverses of, not a dense-linear-algebra kernel.
/// </summary>
internal static class SquareMatrixKernel
{
    private const int Block = 64;

    public static GpuKernel Emit(DeviceModule m, Operation op)
    {
        var x = op.Operands[0];
        var shape = x.Type.Shape;
        long n = shape[^1];
        var batchShape = ImmutableArray.CreateRange(shape.Take(shape.Length - 2));
        long batch = batchShape.Aggregate(1L, (a, d) => a * d);
        bool det = op.Def is DeterminantOp;
        var e = x.Type.Element;
        long matrixBytes = n * n * sizeof(double);

        var name = m.NextName(det ? "det" : "inverse");
        var b = new LlvmBuilder();
        var mc = m.Context;
        var mem = new MemoryAccess(b, mc);
        var scalars = new ScalarEmitter(b, mc);
        var helper = det ? MatrixHelpers.Determinant(mc) : MatrixHelpers.Inverse(mc);
        // Parameters: %p0 the result, %p1 the operand, %p2 the scratch (a matrix per thread, two for the inverse).
        var (t, done) = Sreg.GuardedThread(mc, b, Block, batch, "matrix", "mine");
        var a = b.Let($"getelementptr inbounds i8, ptr %p2, i64 {b.Let($"mul nuw nsw i64 {t}, {(det ? 1 : 2) * matrixBytes}")}", "a");
        var inv = det ? null : b.Let($"getelementptr inbounds i8, ptr {a}, i64 {matrixBytes}", "inv");
        var first = b.Let($"mul nuw nsw i64 {t}, {n * n}", "first");
        b.For("0", (n * n).ToString(), k =>
        {
            var v = scalars.Convert(e, ElementType.F64, mem.Load("%p1", e, b.Let($"add nuw nsw i64 {first}, {k}")));
            b.Line($"store double {v}, ptr {b.Let($"getelementptr inbounds double, ptr {a}, i64 {k}")}");
            if (inv is null) return;
            var diagonal = b.Let($"icmp eq i64 {b.Let($"urem i64 {k}, {n + 1}")}, 0");
            b.Line($"store double {b.Let($"select i1 {diagonal}, double 1.0, double 0.0")}, ptr {b.Let($"getelementptr inbounds double, ptr {inv}, i64 {k}")}");
        }, "load");
        if (det)
            mem.Store(new KernelBuffer("%p0", op.Result.Type), t, mem.RoundFromDouble(e, b.Let($"call double @{helper}(ptr {a}, i64 {n})")));
        else
        {
            b.Line($"call void @{helper}(ptr {a}, ptr {inv}, i64 {n})");
            b.For("0", (n * n).ToString(), k =>
                mem.Store(new KernelBuffer("%p0", op.Result.Type), b.Let($"add nuw nsw i64 {first}, {k}"),
                    mem.RoundFromDouble(e, b.Let($"load double, ptr {b.Let($"getelementptr inbounds double, ptr {inv}, i64 {k}")}"))), "store");
        }
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, 3, b.Body());
        // At least a word of scratch, so that the launch passes the pointer the kernel takes even for 0×0 matrices.
        return new GpuKernel(name, Math.Max(1, (batch + Block - 1) / Block), 1, 1, Block, [op.Result, x], Math.Max(sizeof(double), batch * (det ? 1 : 2) * matrixBytes));
    }
}
