using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// Split-K for the tensor-core kernel (<see cref="MmaKernel"/>) and the FMA tiles (<see cref="GemmKernel.Tiled"/>, f32): a contraction whose tiles leave most multiprocessors
/// idle (a CNN at batch 1: ResNet-50's last 3×3 convolutions are 49×512 outputs over K = 4608, 8 tiles of 64×64 on
/// 132 multiprocessors) runs each tile as several blocks, each over one slice of K, writing its f32 partial into the
/// device scratch without the epilogue; a second kernel (<see cref="Combine"/>), a thread per output element, sums the
/// slices in order (the same result on every run: no atomics) and applies the fusion's epilogue, as XLA's and
/// CUTLASS's "split-K serial reduction" do. The grid's z walks (batch, slice).
/// </summary>
internal static class SplitK
{
    /// <summary>
    /// Each slice covers at least this many K steps, so that filling the copy ring and writing the partial stay small
    /// beside the slice's multiplies.
    /// </summary>
    private const int MinStepsPerSlice = 4;

    private const int CombineBlock = 256;

    /// <summary>How K is cut: <see cref="Slices"/> blocks per tile, each over <see cref="StepsPerSlice"/> K steps.</summary>
    internal sealed record Plan(int Slices, long StepsPerSlice)
    {
        public static readonly Plan None = new(1, 0);

        /// <summary>
        /// No split when the tiles (<paramref name="blocks"/>, batch included) already give every multiprocessor one;
        /// else slices enough for about one block per multiprocessor, each at least <see cref="MinStepsPerSlice"/> of
        /// the <paramref name="steps"/> steps, with none left empty.
        /// </summary>
        public static Plan For(long blocks, long steps, int multiprocessors)
        {
            if (blocks >= multiprocessors) return None;
            long slices = Math.Min(multiprocessors / blocks, steps / MinStepsPerSlice);
            if (slices < 2) return None;
            long perSlice = (steps + slices - 1) / slices;
            return new((int)((steps + perSlice - 1) / perSlice), perSlice);
        }

        /// <summary>
        /// The grid's z as the kernel's batch register and its slice's first K offset (K steps of <paramref name="stepK"/>
        /// elements): z = batch·slices + slice; unsplit, z is the batch and K starts at 0.
        /// </summary>
        public (string Batch, string KBase) Locate(LlvmBuilder b, string z, int stepK) => Slices <= 1 ? (z, "0") :
            (b.Let($"udiv i64 {z}, {Slices}", "batch"), b.Let($"mul nuw nsw i64 {b.Let($"urem i64 {z}, {Slices}", "slice")}, {StepsPerSlice * stepK}", "kbase"));

        /// <summary>The scratch the partials take: one f32 M×N matrix per (batch, slice); none unsplit.</summary>
        public long ScratchBytes(long batch, long m, long n) => Slices > 1 ? batch * Slices * m * n * sizeof(float) : 0;
    }

    /// <summary>Stores a block's partial for C's element (row, col), when inside C, at [z][row][col] of the scratch (<paramref name="scratch"/>), z = batch·slices + slice.</summary>
    public static void StorePartial(LlvmBuilder b, string scratch, string z, string row, string col, long m, long n, string value)
    {
        var inside = b.Let($"and i1 {b.Let($"icmp slt i64 {row}, {m}")}, {b.Let($"icmp slt i64 {col}, {n}")}");
        b.If(inside, () =>
        {
            var at = b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {z}, {m}")}, {row}")}, {n}")}, {col}");
            b.Line($"store float {value}, ptr {b.Let($"getelementptr inbounds float, ptr {scratch}, i64 {at}")}");
        }, "part");
    }

    /// <summary>A split contraction's launches: its <paramref name="kernel"/>, then, when <paramref name="plan"/> splits K, <see cref="Combine"/>.</summary>
    public static IReadOnlyList<GpuKernel> Launches(GpuKernel kernel, DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops,
        IReadOnlyList<Value> outputs, IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs,
        Operation hero, MmaKernel.Contraction contraction, Plan plan) =>
        plan.Slices > 1 ? [kernel, Combine(m, inputs, ops, outputs, constants, outerOutputs, outerInputs, hero, contraction, plan)] : [kernel];

    /// <summary>
    /// The second kernel: a thread per element (batch, row, col) of the result sums its <paramref name="plan"/>'s slices in
    /// order from the scratch and runs the output fusion's epilogue on the sum (<see cref="GemmKernel.StoreResult"/>).
    /// Its parameters are the GEMM kernel's (the fusion's outputs and inputs, then the scratch).
    /// </summary>
    public static GpuKernel Combine(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs,
        Operation hero, MmaKernel.Contraction contraction, Plan plan)
    {
        var (name, b, mc, ev, pa, pb, _, _) = GemmKernel.Begin(m, "splitk_combine", inputs, ops, outputs, constants, hero);
        var scratch = $"%p{outerOutputs.Count + outerInputs.Count}";
        var sizes = contraction.Size;
        long total = sizes.Batch * sizes.M * sizes.N;
        var (g, done) = Sreg.GuardedThread(mc, b, CombineBlock, total, "g");
        var col = b.Let($"urem i64 {g}, {sizes.N}", "n");
        var rows = b.Let($"udiv i64 {g}, {sizes.N}");
        var row = b.Let($"urem i64 {rows}, {sizes.M}", "m");
        var batch = b.Let($"udiv i64 {rows}, {sizes.M}", "batch");
        var P = contraction.Describe(b, pa, pb, batch, 1);
        var first = b.Let($"mul nuw nsw i64 {batch}, {plan.Slices}", "z");
        GemmKernel.StoreResult(b, ev, ops, hero, outputs[0], row, col, sizes.M, sizes.N, P.OutputIndex(row, col), () =>
            b.Reduce("0", plan.Slices.ToString(), "float", "0.0", (sum, s) =>
            {
                var z = b.Let($"add nuw nsw i64 {first}, {s}");
                var at = b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {z}, {sizes.M}")}, {row}")}, {sizes.N}")}, {col}");
                return b.Let($"fadd float {sum}, {b.Let($"load float, ptr {b.Let($"getelementptr inbounds float, ptr {scratch}, i64 {at}")}", "part")}");
            }, "slice"));
        ev.ClearSeeds();
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, outerOutputs.Count + outerInputs.Count + 1, b.Body());
        return new GpuKernel(name, Math.Max(1, (total + CombineBlock - 1) / CombineBlock), 1, 1, CombineBlock, [.. outerOutputs, .. outerInputs],
            plan.ScratchBytes(sizes.Batch, sizes.M, sizes.N));
    }
}
