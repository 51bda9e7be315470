using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// dot_general (one contracting dimension and one free dimension per operand, any batch dimensions) as a tiled GEMM, optionally with
/// the elementwise epilogue of an output fusion. A block of 16×16 threads computes a BM×BN tile of C,
/// each thread TM×TN elements strided by 16 (so shared-memory reads and the epilogue's stores are
/// contiguous across a warp). Per step of BK (8, or 32 when C has at most 64 rows) along K the block stages A (transposed, BK×BM) and B (BK×BN)
/// in shared memory with bounds-checked, coalesced loads, then every thread does TM·TN FMAs per k from
/// registers. Accumulation is f32 whatever the operand type (bf16/f16 widen on load).
/// </summary>
internal static class GemmKernel
{
    private const int Threads = 256;

    /// <summary>
    /// The operand layout of a supported dot_general: its batch dimensions (the result's leading ones; the grid's z
    /// walks them flattened) with A's and B's stride along each, and the strides of the M×K and K×N matrices.
    /// </summary>
    internal sealed record Layout(long[] BatchSizes, long[] SAb, long[] SBb, long[] RowSizes, long[] ColSizes, long K, long SAm, long SAk, long SBk, long SBn)
    {
        public long Batch => BatchSizes.Aggregate(1L, (p, s) => p * s);
        public long M => RowSizes.Aggregate(1L, (p, s) => p * s);
        public long N => ColSizes.Aggregate(1L, (p, s) => p * s);

        /// <summary>The output's index of C's element (<paramref name="row"/>, <paramref name="col"/>) in batch <paramref name="batchIndex"/>: merged free dimensions split again.</summary>
        public string[] OutputIndex(LlvmBuilder b, string[] batchIndex, string row, string col) =>
            [.. batchIndex, .. Split(b, row, RowSizes), .. Split(b, col, ColSizes)];

        private static string[] Split(LlvmBuilder b, string linear, long[] sizes)
        {
            if (sizes.Length == 1) return [linear];
            var parts = new string[sizes.Length];
            var rest = linear;
            for (int i = sizes.Length - 1; i > 0; i--)
            {
                parts[i] = b.Let($"urem i64 {rest}, {sizes[i]}", "ix");
                rest = b.Let($"udiv i64 {rest}, {sizes[i]}");
            }
            parts[0] = rest;
            return parts;
        }

        /// <summary>The flat batch index <paramref name="bz"/> as the result's batch indices, and A's and B's element offsets for it.</summary>
        public (string[] Index, string A, string B) BatchAt(LlvmBuilder b, string bz)
        {
            if (BatchSizes.Length <= 1)
            {
                long sa = BatchSizes.Length == 0 ? 0 : SAb[0], sb = BatchSizes.Length == 0 ? 0 : SBb[0];
                return (BatchSizes.Length == 0 ? [] : [bz], b.Let($"mul nuw nsw i64 {bz}, {sa}", "baseA"), b.Let($"mul nuw nsw i64 {bz}, {sb}", "baseB"));
            }
            var index = new string[BatchSizes.Length];
            var rest = bz;
            for (int i = BatchSizes.Length - 1; i >= 0; i--)
            {
                index[i] = i == 0 ? rest : b.Let($"urem i64 {rest}, {BatchSizes[i]}", "bi");
                if (i > 0) rest = b.Let($"udiv i64 {rest}, {BatchSizes[i]}");
            }
            string Offset(long[] strides) => Enumerable.Range(0, index.Length)
                .Aggregate("0", (acc, i) => b.Let($"add nuw nsw i64 {acc}, {b.Let($"mul nuw nsw i64 {index[i]}, {strides[i]}")}"));
            return (index, Offset(SAb), Offset(SBb));
        }
    }

    /// <summary>
    /// The layout of <paramref name="dot"/>, or null when the kernels cannot read it as a (batched) matrix product: one
    /// contracting dimension per operand, and each operand's free dimensions consecutive in memory, so they merge into
    /// one of M (or N) elements at one stride (a [batch, seq, hidden] activation times a weight: M = batch·seq).
    /// </summary>
    internal static Layout? TryDescribe(Operation dot)
    {
        var (a, bt) = (dot.Operands[0].Type.Shape, dot.Operands[1].Type.Shape);
        var attr = dot.Attr;
        if (attr.Ints("lhs_contract").Length != 1 || attr.Ints("rhs_contract").Length != 1) return null;
        int lc = (int)attr.Ints("lhs_contract")[0], rc = (int)attr.Ints("rhs_contract")[0];
        var lb = attr.Ints("lhs_batch");
        var rb = attr.Ints("rhs_batch");
        static long[] Strides(System.Collections.Immutable.ImmutableArray<long> s)
        {
            var st = new long[s.Length];
            long acc = 1;
            for (int i = s.Length - 1; i >= 0; i--) { st[i] = acc; acc *= s[i]; }
            return st;
        }
        var sa = Strides(a);
        var sb = Strides(bt);
        // The free dimensions as one: sizes, and the stride of the merged dimension (its innermost one's), if they merge.
        static (long[] Sizes, long Stride)? Free(System.Collections.Immutable.ImmutableArray<long> shape, long[] strides, int contract, System.Collections.Immutable.ImmutableArray<long> batch)
        {
            var free = Enumerable.Range(0, shape.Length).Where(d => d != contract && !batch.Contains(d)).ToArray();
            if (free.Length == 0) return null;
            for (int i = 0; i + 1 < free.Length; i++)
                if (free[i + 1] != free[i] + 1) return null;
            return ([.. free.Select(d => shape[d])], strides[free[^1]]);
        }
        if (Free(a, sa, lc, lb) is not { } rows || Free(bt, sb, rc, rb) is not { } cols) return null;
        return new Layout([.. lb.Select(d => a[(int)d])], [.. lb.Select(d => sa[d])], [.. rb.Select(d => sb[d])],
            rows.Sizes, cols.Sizes, a[lc], rows.Stride, sa[lc], sb[rc], cols.Stride);
    }

    private static Layout Describe(Operation dot) => TryDescribe(dot) ?? throw new CodegenException($"'{dot.Name}' is not a matrix product the GPU GEMM reads");

    /// <summary>What both GEMM templates start from: the kernel's name and builder, the element evaluator, and A's and B's parameters and element types.</summary>
    internal static (string Name, LlvmBuilder B, ModuleContext Mc, ElementEvaluator Ev, string PA, string PB, ElementType EA, ElementType EB) Begin(
        DeviceModule m, string what, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, Operation dot)
    {
        var name = m.NextName(what);
        var b = new LlvmBuilder();
        var ev = new ElementEvaluator(m.Context, b, inputs.Select((v, i) => (v, $"%p{outputs.Count + i}")), ops, constants);
        string Ptr(Value v) => $"%p{outputs.Count + inputs.ToList().IndexOf(v)}";
        return (name, b, m.Context, ev, Ptr(dot.Operands[0]), Ptr(dot.Operands[1]), dot.Operands[0].Type.Element, dot.Operands[1].Type.Element);
    }

    /// <summary>
    /// Elements per thread (TM×TN, tiles of 16·TM × 16·TN): 8×8 for large C, where a thread's 64 FMAs per k
    /// hide its shared-memory reads; halved, the larger side first, while the grid has fewer blocks than the
    /// GPU has multiprocessors: a 64×512 C in 64×128 tiles ran on 4 of 132, each block compute-bound. Not below
    /// <paramref name="floor"/>×<paramref name="floor"/> (split-K asks for 4×4 and fills the GPU with slices instead).
    /// </summary>
    private static (int Tm, int Tn) TileShape(long M, long N, long batch, int multiprocessors, int floor = 1)
    {
        int tm = 8, tn = 8;
        long Blocks() => (M + 16 * tm - 1) / (16 * tm) * ((N + 16 * tn - 1) / (16 * tn)) * batch;
        while (Blocks() < multiprocessors && (tm > floor || tn > floor))
        {
            if (tm >= tn) tm /= 2;
            else tn /= 2;
        }
        return (tm, tn);
    }

    private const int SkinnyRows = 16;
    private const int SkinnyColumns = 32;
    private const int SkinnySlices = 8;

    /// <summary>
    /// C with at most 16 rows (a batch of a few inputs through a dense layer): tiles would waste most of
    /// their rows, and too few blocks would share N. Instead a block of 32 columns × 8 slices of K: each
    /// thread keeps one accumulator per row of C, reads B along its column (coalesced across the warp)
    /// and A's rows (the same address across the warp: broadcast); the slices' partial sums meet in
    /// shared memory and slice 0 runs the epilogue.
    /// </summary>
    private static GpuKernel Skinny(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs, Operation dot, Layout L)
    {
        var (name, b, mc, ev, pa, pb, ea, eb) = Begin(m, "gemv", inputs, ops, outputs, constants, dot);
        int rows = (int)L.M;
        var smem = $"@{name}_partial";
        mc.Global($"{smem} = internal addrspace(3) global [{SkinnySlices * SkinnyColumns * rows} x float] undef, align 16");
        mc.Declare("declare float @llvm.fma.f32(float, float, float)");
        var tid = Sreg.Read(mc, b, "tid.x");
        var col = b.Let($"and i64 {tid}, {SkinnyColumns - 1}", "col");
        var slice = b.Let($"lshr i64 {tid}, 5", "slice");
        var n = b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {Sreg.Read(mc, b, "ctaid.x")}, {SkinnyColumns}")}, {col}", "n");
        var bz = Sreg.Read(mc, b, "ctaid.z");
        var (batchIndex, baseA, batchB) = L.BatchAt(b, bz);
        var baseB = b.Let($"add nuw nsw i64 {batchB}, {b.Let($"mul nuw nsw i64 {n}, {L.SBn}")}", "baseB");
        var inside = b.Let($"icmp slt i64 {n}, {L.N}", "inside");
        var accSlot = b.Alloca($"[{rows} x float]");
        for (int i = 0; i < rows; i++)
            b.Line($"store float 0.0, ptr {b.Let($"getelementptr inbounds [{rows} x float], ptr {accSlot}, i64 0, i64 {i}")}");
        var loop = b.FreshLabel("kloop");
        var after = b.FreshLabel("kdone");
        b.CondBr(inside, loop, after);
        b.Block(loop);
        b.For(slice, L.K.ToString(), k =>
        {
            var bv = ev.Memory.Load(pb, eb, b.Let($"add nuw nsw i64 {baseB}, {b.Let($"mul nuw nsw i64 {k}, {L.SBk}")}"));
            for (int i = 0; i < rows; i++)
            {
                var a = ev.Memory.Load(pa, ea, b.Let($"add nuw nsw i64 {baseA}, {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {k}, {L.SAk}")}, {i * L.SAm}")}"));
                var slot = b.Let($"getelementptr inbounds [{rows} x float], ptr {accSlot}, i64 0, i64 {i}");
                b.Line($"store float {b.Let($"call float @llvm.fma.f32(float {a}, float {bv}, float {b.Let($"load float, ptr {slot}")})")}, ptr {slot}");
            }
        }, "k", step: SkinnySlices.ToString());
        b.Br(after);
        b.Block(after);
        string Partial(string s, int i) => b.Let($"getelementptr inbounds float, ptr addrspace(3) {smem}, i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {s}, {SkinnyColumns * rows}")}, {b.Let($"add nuw nsw i64 {col}, {i * SkinnyColumns}")}")}");
        for (int i = 0; i < rows; i++)
            b.Line($"store float {b.Let($"load float, ptr {b.Let($"getelementptr inbounds [{rows} x float], ptr {accSlot}, i64 0, i64 {i}")}")}, ptr addrspace(3) {Partial(slice, i)}");
        Sreg.Barrier(mc, b);
        var epi = b.FreshLabel("epi");
        var done = b.FreshLabel("done");
        b.CondBr(b.Let($"and i1 {inside}, {b.Let($"icmp eq i64 {slice}, 0")}"), epi, done);
        b.Block(epi);
        var output = outputs[0];
        for (int i = 0; i < rows; i++)
        {
            string total = b.Let($"load float, ptr addrspace(3) {Partial("0", i)}");
            for (int s2 = 1; s2 < SkinnySlices; s2++)
                total = b.Let($"fadd float {total}, {b.Let($"load float, ptr addrspace(3) {Partial(s2.ToString(), i)}")}");
            string[] idx = L.OutputIndex(b, batchIndex, i.ToString(), n);
            var dotValue = dot.Result.Type.Element is ElementType.F32 ? total : ev.Scalars.Convert(ElementType.F32, dot.Result.Type.Element, total);
            StoreEpilogue(ev, ops, dot, output, idx, dotValue);
        }
        ev.ClearSeeds();
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, outerOutputs.Count + outerInputs.Count, b.Body());
        return new GpuKernel(name, (L.N + SkinnyColumns - 1) / SkinnyColumns, 1, L.Batch, SkinnyColumns * SkinnySlices, [.. outerOutputs, .. outerInputs]);
    }

    public static IReadOnlyList<GpuKernel> Emit(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs)
    {
        var dot = ops.Single(o => o.Def is DotGeneralOp);
        // One output, of the product's shape or, through order-keeping reshapes (StoreEpilogue), its element count.
        if (outputs.Count != 1 || outputs[0].Type.ElementCount != dot.Result.Type.ElementCount)
            throw new CodegenException("a GPU output fusion must have one output of the contraction's elements");
        var L = Describe(dot);
        // f64 and integer products on the tiles in f64 or in integers (no such tensor-core or skinny kernel).
        if (dot.Operands[0].Type.Element is ElementType.F64 || dot.Operands[0].Type.Element.IsInteger())
            return Tiled(m, inputs, ops, outputs, constants, outerOutputs, outerInputs, dot, MmaKernel.Gemm(L));
        if (L.M <= SkinnyRows) return [Skinny(m, inputs, ops, outputs, constants, outerOutputs, outerInputs, dot, L)];
        if (MmaKernel.For(dot.Operands[0].Type.Element, dot.Operands[1].Type.Element, m.Target) is { } tensorCores)
            return MmaKernel.Emit(m, inputs, ops, outputs, constants, outerOutputs, outerInputs, dot, tensorCores, MmaKernel.Gemm(L));
        return Tiled(m, inputs, ops, outputs, constants, outerOutputs, outerInputs, dot, MmaKernel.Gemm(L));
    }

    /// <summary>
    /// The FMA tiles for any <paramref name="contraction"/>: a dot_general's layout, or a convolution as an
    /// implicit GEMM (<see cref="ImplicitGemm"/>: f32 convolutions without TF32 read their input in place, no im2col).
    /// With f32 accumulators, where 64×64 tiles leave multiprocessors idle and K is long (a CNN's last convolutions at
    /// batch 1), K is split (<see cref="SplitK"/>) rather than the tiles shrunk further: a thread keeps its 4×4 outputs
    /// (16 FMAs per 8 shared loads, where a 1×1 tile does one per two) and the slices fill the GPU; then the combine kernel.
    /// </summary>
    internal static IReadOnlyList<GpuKernel> Tiled(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs,
        Operation hero, MmaKernel.Contraction contraction)
    {
        var (name, b, mc, ev, pa, pb, ea, eb) = Begin(m, "gemm", inputs, ops, outputs, constants, hero);
        var accumulator = Accumulator(hero);
        string t = LlvmTypes.Compute(accumulator), zero = accumulator.IsFloat() ? "0.0" : "0";
        // Operands widen to the accumulator as they are staged (integers by their signedness).
        string Widen(string x, ElementType e) =>
            !e.IsInteger() || LlvmTypes.Memory(e) == t ? x : b.Let($"{(e.IsUnsignedInteger() ? "zext" : "sext")} {LlvmTypes.Memory(e)} {x} to {t}");
        // Multiply-add: fused for floats; for integers wrapping, exact in any order (the interpreter's sum, truncated).
        string MulAdd(string x, string y, string c) => accumulator.IsFloat()
            ? b.Let($"call {t} @llvm.fma.{(accumulator == ElementType.F64 ? "f64" : "f32")}({t} {x}, {t} {y}, {t} {c})", "c")
            : b.Let($"add {t} {c}, {b.Let($"mul {t} {x}, {y}")}", "c");
        var bz = Sreg.Read(mc, b, "ctaid.z");
        var sizes = contraction.Size;
        // Each step along K costs a global-load latency and two barriers, which dominate when C is short
        // and few blocks run: those take K in steps of 32 (the batch-64 MLP walked K = 784 in 98 steps of 8).
        int BK = sizes.M <= 64 ? 32 : 8;
        long steps = (sizes.K + BK - 1) / BK;
        long Blocks(int tm, int tn) => sizes.Blocks(16 * tm, 16 * tn);
        var (tm, tn) = TileShape(sizes.M, sizes.N, sizes.Batch, m.Target.Multiprocessors);
        var split = SplitK.Plan.None;
        if (accumulator == ElementType.F32)
        {
            // Split only where the slices give at least as many blocks as the shrunk tiles would: the same parallelism
            // with 4× the FMAs per shared load (a 128×128×128 product keeps its 64 blocks of 16×16).
            var (fm, fn) = TileShape(sizes.M, sizes.N, sizes.Batch, m.Target.Multiprocessors, floor: SplitFloor);
            var plan = SplitK.Plan.For(Blocks(fm, fn), steps, m.Target.Multiprocessors);
            if (plan.Slices > 1 && Blocks(fm, fn) * plan.Slices >= Blocks(tm, tn)) (tm, tn, split) = (fm, fn, plan);
        }
        int bm = 16 * tm, bn = 16 * tn;
        var (batch, kBase) = split.Locate(b, bz, BK);
        // Element loads (each widened to the accumulator's type as it is staged): vector 1.
        var P = contraction.Describe(b, pa, pb, batch, 1);

        var asm = $"@{name}_as";
        var bsm = $"@{name}_bs";
        mc.Global($"{asm} = internal addrspace(3) global [{BK * bm} x {t}] undef, align 16");
        mc.Global($"{bsm} = internal addrspace(3) global [{BK * bn} x {t}] undef, align 16");

        var tid = Sreg.Read(mc, b, "tid.x");
        var tx = b.Let($"and i64 {tid}, 15", "tx");
        var ty = b.Let($"lshr i64 {tid}, 4", "ty");
        var n0 = b.Let($"mul nuw nsw i64 {Sreg.Read(mc, b, "ctaid.x")}, {bn}", "n0");
        var m0 = b.Let($"mul nuw nsw i64 {Sreg.Read(mc, b, "ctaid.y")}, {bm}", "m0");

        var acc = new string[tm * tn];
        var accSlot = b.Alloca($"[{tm * tn} x {t}]");
        for (int i = 0; i < tm * tn; i++)
            b.Line($"store {t} {zero}, ptr {b.Let($"getelementptr inbounds [{tm * tn} x {t}], ptr {accSlot}, i64 0, i64 {i}")}");

        // Staging a tile (BK×rows, stored [k][row]): each thread loads a few elements, consecutive threads consecutive
        // memory along the operand's contiguous dimension. Which elements a thread loads, where they land and the part
        // of their address that depends on their row do not depend on the step: computed once.
        List<Staged> Plan(MmaKernel.Operand op, ElementType e, string smem, int rowsOf, bool isA)
        {
            int count = BK * rowsOf;
            var plan = new List<Staged>();
            for (int q = 0; q < (count + Threads - 1) / Threads; q++)
            {
                var l = b.Let($"add nuw nsw i64 {tid}, {q * Threads}", "l");
                string k, o;
                if (op.AlongK) { k = b.Let($"urem i64 {l}, {BK}", "kl"); o = b.Let($"udiv i64 {l}, {BK}", "ol"); }
                else { o = b.Let($"urem i64 {l}, {rowsOf}", "ol"); k = b.Let($"udiv i64 {l}, {rowsOf}", "kl"); }
                var at = op.Address(b.Let($"add nuw nsw i64 {(isA ? m0 : n0)}, {o}", "go"));
                var slot = b.Let($"getelementptr inbounds {t}, ptr addrspace(3) {smem}, i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {k}, {rowsOf}")}, {o}")}");
                plan.Add(new Staged(op.Pointer, e, k, at, slot, count % Threads == 0 ? "" : b.Let($"icmp slt i64 {l}, {count}")));
            }
            return plan;
        }
        var planA = Plan(P.A, ea, asm, bm, isA: true);
        var planB = Plan(P.B, eb, bsm, bn, isA: false);

        // Every load of the step is issued before any store to shared memory, and out-of-range elements load from
        // offset 0 and are replaced by zero (a select, no branch), so a thread has all its loads in flight at once.
        List<(string Value, Staged Where)> Load(string kt, List<Staged> plan) => [.. plan.Select(s =>
        {
            var (inside, off) = s.At(b.Let($"add nuw nsw i64 {kt}, {s.K}", "gk"));
            if (s.Lane != "") inside = b.Let($"and i1 {inside}, {s.Lane}");
            var x = Widen(ev.Memory.Load(s.Pointer, s.Element, b.Let($"select i1 {inside}, i64 {off}, i64 0")), s.Element);
            return (b.Let($"select i1 {inside}, {t} {x}, {t} {zero}"), s);
        })];

        void Store(List<(string Value, Staged Where)> loaded)
        {
            foreach (var (v, s) in loaded)
            {
                if (s.Lane == "")
                {
                    b.Line($"store {t} {v}, ptr addrspace(3) {s.Slot}");
                    continue;
                }
                // The last pass over a tile that 256 threads do not divide: the spare threads store nothing.
                var st = b.FreshLabel("st");
                var stj = b.FreshLabel("stj");
                b.CondBr(s.Lane, st, stj);
                b.Block(st);
                b.Line($"store {t} {v}, ptr addrspace(3) {s.Slot}");
                b.Br(stj);
                b.Block(stj);
            }
        }

        b.For("0", (split.Slices > 1 ? split.StepsPerSlice : steps).ToString(), step =>
        {
            var kt = b.Let($"add nuw nsw i64 {kBase}, {b.Let($"mul nuw nsw i64 {step}, {BK}")}", "kt");
            var loadedA = Load(kt, planA);
            var loadedB = Load(kt, planB);
            Store(loadedA);
            Store(loadedB);
            Sreg.Barrier(mc, b);
            for (int i = 0; i < tm * tn; i++)
                acc[i] = b.Let($"load {t}, ptr {b.Let($"getelementptr inbounds [{tm * tn} x {t}], ptr {accSlot}, i64 0, i64 {i}")}", "acc");
            if (accumulator.IsFloat()) mc.Declare($"declare {t} @llvm.fma.{(accumulator == ElementType.F64 ? "f64" : "f32")}({t}, {t}, {t})");
            for (int kk = 0; kk < BK; kk++)
            {
                var av = new string[tm];
                var bv = new string[tn];
                for (int i = 0; i < tm; i++)
                    av[i] = b.Let($"load {t}, ptr addrspace(3) {b.Let($"getelementptr inbounds {t}, ptr addrspace(3) {asm}, i64 {b.Let($"add nuw nsw i64 {ty}, {kk * bm + 16 * i}")}")}", "a");
                for (int j = 0; j < tn; j++)
                    bv[j] = b.Let($"load {t}, ptr addrspace(3) {b.Let($"getelementptr inbounds {t}, ptr addrspace(3) {bsm}, i64 {b.Let($"add nuw nsw i64 {tx}, {kk * bn + 16 * j}")}")}", "b");
                for (int i = 0; i < tm; i++)
                    for (int j = 0; j < tn; j++)
                        acc[i * tn + j] = MulAdd(av[i], bv[j], acc[i * tn + j]);
            }
            for (int i = 0; i < tm * tn; i++)
                b.Line($"store {t} {acc[i]}, ptr {b.Let($"getelementptr inbounds [{tm * tn} x {t}], ptr {accSlot}, i64 0, i64 {i}")}");
            Sreg.Barrier(mc, b);
        }, "kstep");

        for (int i = 0; i < tm; i++)
            for (int j = 0; j < tn; j++)
            {
                var mi = b.Let($"add nuw nsw i64 {m0}, {b.Let($"add nuw nsw i64 {ty}, {16 * i}")}", "m");
                var nj = b.Let($"add nuw nsw i64 {n0}, {b.Let($"add nuw nsw i64 {tx}, {16 * j}")}", "n");
                int at = i * tn + j;
                string Accumulated() => b.Let($"load {t}, ptr {b.Let($"getelementptr inbounds [{tm * tn} x {t}], ptr {accSlot}, i64 0, i64 {at}")}", "acc");
                if (split.Slices > 1)
                    SplitK.StorePartial(b, $"%p{outerOutputs.Count + outerInputs.Count}", bz, mi, nj, sizes.M, sizes.N, Accumulated());
                else
                    StoreResult(b, ev, ops, hero, outputs[0], mi, nj, sizes.M, sizes.N, P.OutputIndex(mi, nj), Accumulated, accumulator);
            }
        ev.ClearSeeds();
        b.Line("ret void");
        int parameters = outerOutputs.Count + outerInputs.Count;
        m.AddKernel(name, split.Slices > 1 ? parameters + 1 : parameters, b.Body());
        var kernel = new GpuKernel(name, (sizes.N + bn - 1) / bn, (sizes.M + bm - 1) / bm, sizes.Batch * split.Slices, Threads, [.. outerOutputs, .. outerInputs],
            split.ScratchBytes(sizes.Batch, sizes.M, sizes.N));
        return SplitK.Launches(kernel, m, inputs, ops, outputs, constants, outerOutputs, outerInputs, hero, contraction, split);
    }

    /// <summary>The smallest tiles (in 16×16 steps per side) the FMA GEMM keeps when it splits K instead: 64×64.</summary>
    private const int SplitFloor = 4;

    /// <summary>
    /// The tiles' accumulator for <paramref name="contraction"/>: f32 for f32 and narrower floats, f64 for f64, and for
    /// integers i64 when an operand or the result is 64-bit, else i32 (wrapping sums: the low bits of the interpreter's
    /// 64-bit sum, which is all a narrower result keeps).
    /// </summary>
    private static ElementType Accumulator(Operation contraction)
    {
        var elements = contraction.Operands.Select(v => v.Type.Element).Append(contraction.Result.Type.Element).ToList();
        if (elements[0].IsInteger()) return elements.Any(e => e.ByteSize() == 8) ? ElementType.I64 : ElementType.I32;
        return elements[0] == ElementType.F64 ? ElementType.F64 : ElementType.F32;
    }

    /// <summary>One thread's element of a staged tile: the operand, its K offset in the tile, its step → (inside, offset) code, its shared-memory slot, and the condition that the thread has one (empty: always).</summary>
    private sealed record Staged(string Pointer, ElementType Element, string K, Func<string, (string Inside, string Offset)> At, string Slot, string Lane);

    /// <summary>
    /// The epilogue for element (<paramref name="row"/>, <paramref name="col"/>) of the M×N result when it is inside it:
    /// the accumulator (of type <paramref name="accumulated"/>; <paramref name="accumulator"/> emits its read) as the contraction's value at the output's index
    /// <paramref name="idx"/>, the fusion's elementwise ops after it, one store.
    /// </summary>
    internal static void StoreResult(LlvmBuilder b, ElementEvaluator ev, IReadOnlyList<Operation> ops, Operation dot, Value output, string row, string col, long M, long N,
        string[] idx, Func<string> accumulator, ElementType accumulated = ElementType.F32)
    {
        var inside = b.Let($"and i1 {b.Let($"icmp slt i64 {row}, {M}")}, {b.Let($"icmp slt i64 {col}, {N}")}");
        var st = b.FreshLabel("epi");
        var skip = b.FreshLabel("epij");
        b.CondBr(inside, st, skip);
        b.Block(st);
        var value = accumulator();
        var dotValue = dot.Result.Type.Element == accumulated ? value : ev.Scalars.Convert(accumulated, dot.Result.Type.Element, value);
        StoreEpilogue(ev, ops, dot, output, idx, dotValue);
        b.Br(skip);
        b.Block(skip);
    }

    /// <summary>
    /// Stores the output fusion's element for the product's element <paramref name="idx"/>: the product's value seeded there
    /// and the epilogue evaluated from it. An epilogue that reshapes (order kept: <c>fuse</c>'s reshaping epilogues, a
    /// projection split into heads) gives every value of its chain the element's linear index, so each reshape's result is
    /// seeded at its own shape's index from its operand's and the output is stored at the linear index: the evaluator never
    /// derives the product's index anew, which would miss the seed.
    /// </summary>
    internal static void StoreEpilogue(ElementEvaluator ev, IReadOnlyList<Operation> ops, Operation dot, Value output, string[] idx, string dotValue)
    {
        ev.ClearSeeds();
        ev.Seed(dot.Result, idx, dotValue);
        var product = dot.Result.Type.Shape;
        string? linear = null;
        var indices = new List<(ImmutableArray<long> Shape, string[] Idx)> { (product, idx) };
        string[] At(ImmutableArray<long> shape)
        {
            foreach (var (s, i) in indices)
                if (s.SequenceEqual(shape)) return i;
            linear ??= ev.Memory.Ravel(idx, product);
            var unravelled = ev.Memory.Unravel(linear, shape);
            indices.Add((shape, unravelled));
            return unravelled;
        }
        var reached = new HashSet<Value>(ReferenceEqualityComparer.Instance) { dot.Result };
        foreach (var op in ops)
        {
            if (!op.Operands.Any(reached.Contains)) continue;
            foreach (var r in op.Results) reached.Add(r);
            if (op.Def is ReshapeOp) ev.Seed(op.Result, At(op.Result.Type.Shape), ev.Element(op.Operands[0], At(op.Operands[0].Type.Shape)));
        }
        var at = At(output.Type.Shape);
        ev.Memory.Store(new KernelBuffer("%p0", output.Type), linear ?? ev.Memory.Ravel(at, output.Type.Shape), ev.Element(output, at));
    }
}
