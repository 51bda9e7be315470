using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// dot_general and implicit-GEMM convolutions of bf16/f16 operands on Hopper's warpgroup tensor cores
/// (<c>wgmma.mma_async</c>, sm_90a): where its 128×64 tiles fill the GPU, the kernel <see cref="MmaKernel"/> hands its
/// contraction to. mma.sync on an H100 leaves much of the tensor cores' throughput unused: its operands pass through
/// registers (ldmatrix) warp by warp, where wgmma reads both from shared memory for a whole warpgroup and runs
/// asynchronously to the issuing threads.
/// <para>
/// A block of two warpgroups computes a 128×256 tile of C where N has 256 and those tiles fill the GPU, 128×128 where
/// those do, else 128×64 (<see cref="BlockN"/>), each warpgroup 64 rows with one m64n256k16 (or m64n64k16, m64n128k16; k8 for TF32)
/// instruction per 32 bytes of K (128, 32 or 64 f32 accumulators a thread). K advances 64 at a time (one 128-byte row of 16-bit elements): each step's
/// A and B tiles are copied global → shared by <c>cp.async</c> into a ring of <see cref="MaxStages"/> stages in dynamic
/// shared memory, in the layouts wgmma's descriptors name (PTX ISA, "Shared Memory Matrix Layout", 128-byte swizzle):
/// an operand with K contiguous is K-major — row r's 64 elements in 128 bytes, its 16-byte chunk c at chunk c ⊕ (r mod 8),
/// 8 rows to a 1024-byte atom (the descriptor's stride offset); an operand with M or N contiguous is MN-major — atoms of
/// 8 K-rows × 64 elements, chunk c of K-row k at c ⊕ (k mod 8), the 8 atoms along K 1024 bytes apart (stride offset),
/// the next 64 elements of M or N 8192 bytes on (leading offset), read with the instruction's transpose bit. The
/// hardware applies the same XOR to address bits 4–6 from bits 7–9, so the ring starts on a 1024-byte boundary.
/// </para>
/// <para>
/// Each step: wait for this thread's copies of the step's stage, make them visible to the tensor cores (the async
/// proxy: <c>fence.proxy.async</c>), meet the block, start the copies of the step <c>stages − 2</c> ahead, issue the
/// four wgmmas, commit them as a group and wait until at most one group is in flight. The stage refilled at step s was
/// last read by step s − 2's group, which every warpgroup has waited for before the barrier of step s.
/// </para>
/// </summary>
internal static class WgmmaKernel
{
    private const int WarpgroupThreads = 128;
    private const int Warpgroups = 2;

    /// <summary>The instruction's M per warpgroup, and the block's M.</summary>
    private const int InstructionM = 64, Bm = Warpgroups * InstructionM;

    /// <summary>
    /// The block's N, the instruction's n: 256 where N has it and the 128×256 tiles still give every multiprocessor a block
    /// (B read once for twice the outputs: a third less shared-memory traffic per product, as CUTLASS's large Hopper
    /// tiles); 128 where those tiles do; else 64: where N has no more (ResNet's first stage: a 128-wide tile would multiply
    /// zeros in half its columns), or where only 128×64 tiles fill the GPU (ResNet's third stage at batch 32: 98 blocks of
    /// 128×128 for 132 multiprocessors, 196 of 128×64), which keeps those products on wgmma rather than mma.sync.
    /// </summary>
    private const int WideN = 256, NarrowN = 128, ThinN = 64;

    /// <summary>The 128-byte swizzle: a row of 8 chunks of 16 bytes, 8 rows to an atom.</summary>
    private const int SwizzleBytes = 128, Chunk = 16, AtomRows = 8, AtomBytes = AtomRows * SwizzleBytes;

    /// <summary>Bytes of K per instruction (k16 of 16-bit elements, k8 of TF32): two chunks.</summary>
    private const int InstructionKBytes = 2 * Chunk;

    /// <summary>An MN-major tile (16-bit elements: 64 K-rows): 64 elements of M or N take 8 atoms, the leading offset.</summary>
    private const int MnGroupBytes = SwizzleBytes / 2 / AtomRows * AtomBytes;

    /// <summary>A's tile in one stage: the block's 128 rows × one 128-byte swizzle row of K (64 16-bit elements, 32 TF32); B's is N rows of the same.</summary>
    private const int TileBytes = Bm * SwizzleBytes;

    /// <summary>
    /// Stages in the ring: three steps of copies in flight and one group of wgmmas while the warpgroups issue the next
    /// (160 KB of the 227 KB an sm_90 block may opt in to with 128×128 tiles; the 48 KB stages of 128×256 fit four).
    /// </summary>
    private const int MaxStages = 5;

    /// <summary>The dynamic shared memory's start is aligned up to the swizzle atom at run time: this much more is asked for.</summary>
    private const int AlignmentSlack = AtomBytes;

    /// <summary>Descriptor fields (PTX ISA, "Matrix Descriptor Format"): 14-bit byte offsets in 16-byte units, the swizzle mode in bits 62–63.</summary>
    private const long Swizzle128 = 1L << 62;

    /// <summary>
    /// Whether wgmma takes a contraction <see cref="MmaKernel"/> has put on tensor cores (bf16/f16, or TF32 with
    /// <c>--precision tf32</c>): the target has it, and 128×64 tiles give every multiprocessor a block.
    /// </summary>
    public static bool Applies(CudaTarget target, MmaKernel.Extent size) => target.HasWgmma && Blocks(size, ThinN) >= target.Multiprocessors;

    private static int BlockN(MmaKernel.Extent size, int multiprocessors) =>
        size.N <= ThinN ? ThinN
        : size.N >= WideN && Blocks(size, WideN) >= multiprocessors ? WideN
        : Blocks(size, NarrowN) >= multiprocessors ? NarrowN : ThinN;

    private static long Blocks(MmaKernel.Extent size, int bn) => size.Blocks(Bm, bn);

    public static GpuKernel Emit(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs,
        Operation hero, MmaKernel.Shape shape, MmaKernel.Contraction contraction)
    {
        var (name, b, mc, ev, pa, pb, _, _) = GemmKernel.Begin(m, $"wgmma_{shape.Name}_", inputs, ops, outputs, constants, hero);
        var sizes = contraction.Size;
        var e = new Element(shape.Bits / 8);
        var P = contraction.Describe(b, pa, pb, Sreg.Read(mc, b, "ctaid.z"), e.Vector);
        int threads = Warpgroups * WarpgroupThreads;
        int Bn = BlockN(sizes, m.Target.Multiprocessors);
        int StageBytes = TileBytes + Bn * SwizzleBytes;
        int stages = Math.Min(MaxStages, (m.Target.MaxSharedBytesPerBlock - AlignmentSlack) / StageBytes);
        if (stages < 3) throw new CodegenException($"wgmma stages of {StageBytes} bytes leave no room for three");
        long steps = (sizes.K + e.Bk - 1) / e.Bk;

        // The ring, aligned up to the atom: its shared-memory address goes into the descriptors.
        var ring = $"@{name}_ring";
        mc.Global($"{ring} = external addrspace(3) global [0 x i8], align {AtomBytes}");
        var ringAddress = Wgmma.SharedAddress(mc, b, ring);
        var pad = b.Let($"and i64 {b.Let($"sub i64 0, {ringAddress}")}, {AtomBytes - 1}", "pad");
        var ringBase = b.Let($"getelementptr inbounds i8, ptr addrspace(3) {ring}, i64 {pad}", "ring");
        var ringStart = b.Let($"add nuw nsw i64 {ringAddress}, {pad}", "ringaddr");

        var tid = Sreg.Read(mc, b, "tid.x");
        var warpgroup = b.Let($"lshr i64 {tid}, 7", "wg");
        var n0 = b.Let($"mul nuw nsw i64 {Sreg.Read(mc, b, "ctaid.x")}, {Bn}", "n0");
        var m0 = b.Let($"mul nuw nsw i64 {Sreg.Read(mc, b, "ctaid.y")}, {Bm}", "m0");

        int accCount = InstructionM * Bn / WarpgroupThreads;
        var accSlot = b.Alloca($"[{accCount} x float]");
        string Acc(int i) => b.Let($"getelementptr inbounds [{accCount} x float], ptr {accSlot}, i64 0, i64 {i}");
        for (int i = 0; i < accCount; i++) b.Line($"store float 0.0, ptr {Acc(i)}");

        // Each operand's staging: MN-major stays MN-major for 16-bit elements (the transpose bit); TF32 has no transpose
        // bit, so an MN-major TF32 operand is loaded into registers and stored K-major (Transposed).
        var operands = new[] { new Staging(P.A, m0, 0, Bm), new Staging(P.B, n0, TileBytes, Bn) };
        foreach (var o in operands) o.Plan(b, e, tid, threads);

        // Starts the step at K offset kt into `stage`: its cp.async copies as one group; the transposed operands' loads
        // (their stores come later, once the step's wgmmas are issued, so the loads' latency hides behind them).
        List<(Staging, string Stage, string[][] Values)> Issue(string kt, string stage)
        {
            var stageBase = b.Let($"mul nuw nsw i64 {stage}, {StageBytes}", "sbase");
            var loaded = new List<(Staging, string, string[][])>();
            foreach (var o in operands)
            {
                if (o.Transposed)
                {
                    loaded.Add((o, stageBase, [.. o.Copies.Select(c => Load(o, c, kt))]));
                    continue;
                }
                foreach (var c in o.Copies)
                {
                    var (inside, off) = c.At(b.Let($"add nuw nsw i64 {kt}, {c.K}", "gk"));
                    var src = b.Let($"getelementptr inbounds {e.Type}, ptr {o.Operand.Pointer}, i64 {b.Let($"select i1 {inside}, i64 {off}, i64 0")}", "src");
                    var dst = b.Let($"getelementptr inbounds i8, ptr addrspace(3) {ringBase}, i64 {b.Let($"add nuw nsw i64 {stageBase}, {c.Slots[0]}")}", "dst");
                    int v = o.Operand.Vector;
                    AsyncCopy.Stage(mc, b, dst, src, v == 1 ? e.Type : $"<{v} x {e.Type}>", v * e.Bytes, inside);
                }
            }
            AsyncCopy.Commit(mc, b);
            return loaded;
        }
        // A transposed copy: its elements along rows (one vector load where the operand allows), zero outside the operand.
        string[] Load(Staging o, Copy c, string kt)
        {
            var (inside, off) = c.At(b.Let($"add nuw nsw i64 {kt}, {c.K}", "gk"));
            var src = b.Let($"getelementptr inbounds {e.Type}, ptr {o.Operand.Pointer}, i64 {b.Let($"select i1 {inside}, i64 {off}, i64 0")}", "src");
            int v = c.Slots.Length;
            if (v == 1) return [b.Let($"select i1 {inside}, {e.Type} {b.Let($"load {e.Type}, ptr {src}, align {e.Bytes}", "ld")}, {e.Type} 0")];
            var vector = $"<{v} x {e.Type}>";
            var x = b.Let($"select i1 {inside}, {vector} {b.Let($"load {vector}, ptr {src}, align {v * e.Bytes}", "ld")}, {vector} zeroinitializer");
            return [.. Enumerable.Range(0, v).Select(i => b.Let($"extractelement {vector} {x}, i64 {i}", "el"))];
        }
        void Store(List<(Staging Operand, string Stage, string[][] Values)> loaded)
        {
            foreach (var (o, stageBase, values) in loaded)
                for (int c = 0; c < o.Copies.Count; c++)
                    for (int i = 0; i < values[c].Length; i++)
                    {
                        var dst = b.Let($"getelementptr inbounds i8, ptr addrspace(3) {ringBase}, i64 {b.Let($"add nuw nsw i64 {stageBase}, {o.Copies[c].Slots[i]}")}", "dst");
                        b.Line($"store {e.Type} {values[c][i]}, ptr addrspace(3) {dst}, align {e.Bytes}");
                    }
        }

        // The descriptors' constant fields: K-major strides 8 rows by 1024 bytes (the leading offset is unused: 1);
        // MN-major strides K's 8-row atoms by 1024 bytes and M or N's 64-element groups by 8 atoms.
        static long Fields(bool kMajor) => Swizzle128 | (long)(AtomBytes >> 4) << 32 | (kMajor ? 1L : MnGroupBytes >> 4) << 16;
        // Where a warpgroup's instruction j of a step starts in an operand's tile: its rows (A: the warpgroup's 64, B: all),
        // then K's j-th 32 bytes — along a K-major row, or two 1024-byte atoms down an MN-major tile.
        string Descriptor(Staging o, string tileStart, string rows, int j)
        {
            var rowOffset = o.KMajor ? b.Let($"mul nuw nsw i64 {rows}, {SwizzleBytes}") : b.Let($"mul nuw nsw i64 {b.Let($"lshr i64 {rows}, 6")}, {MnGroupBytes}");
            var start = b.Let($"add nuw nsw i64 {tileStart}, {b.Let($"add nuw nsw i64 {rowOffset}, {(o.KMajor ? j * InstructionKBytes : j * 2 * AtomBytes)}")}");
            return b.Let($"or i64 {b.Let($"lshr i64 {b.Let($"and i64 {start}, {(1 << 18) - 1}")}, 4")}, {Fields(o.KMajor)}", "desc");
        }
        var warpgroupRows = b.Let($"mul nuw nsw i64 {warpgroup}, {InstructionM}", "wgrows");
        var instruction = Wgmma.Instruction(mc, shape.Name, Bn, transposeA: !operands[0].KMajor, transposeB: !operands[1].KMajor);

        for (int s = 0; s < stages - 2; s++) Store(Issue((s * e.Bk).ToString(), s.ToString()));
        b.For("0", steps.ToString(), step =>
        {
            AsyncCopy.Wait(mc, b, stages - 3);
            Wgmma.FenceProxyAsync(mc, b);
            Sreg.Barrier(mc, b);
            var ahead = b.Let($"add nuw nsw i64 {step}, {stages - 2}", "ahead");
            var loaded = Issue(b.Let($"mul nuw nsw i64 {ahead}, {e.Bk}", "kt"), b.Let($"urem i64 {ahead}, {stages}", "stage"));
            var stageStart = b.Let($"add nuw nsw i64 {ringStart}, {b.Let($"mul nuw nsw i64 {b.Let($"urem i64 {step}, {stages}", "stage")}, {StageBytes}")}");
            var bStart = b.Let($"add nuw nsw i64 {stageStart}, {TileBytes}");
            var acc = new string[accCount];
            for (int i = 0; i < accCount; i++) acc[i] = b.Let($"load float, ptr {Acc(i)}", "acc");
            Wgmma.Fence(mc, b);
            for (int j = 0; j < SwizzleBytes / InstructionKBytes; j++)
                acc = Wgmma.Multiply(b, instruction, Descriptor(operands[0], stageStart, warpgroupRows, j), Descriptor(operands[1], bStart, "0", j), acc);
            Wgmma.Commit(mc, b);
            Store(loaded);
            Wgmma.Wait(mc, b, 1);
            for (int i = 0; i < accCount; i++) b.Line($"store float {acc[i]}, ptr {Acc(i)}");
        }, "kstep");
        Wgmma.Wait(mc, b, 0);
        var held = Wgmma.Hold(mc, b, [.. Enumerable.Range(0, accCount).Select(i => b.Let($"load float, ptr {Acc(i)}", "acc"))]);
        // No copy may still be writing the block's shared memory when it exits.
        AsyncCopy.WaitAll(mc, b);

        // The accumulators (PTX ISA, "Register Fragment for Matrix D", m64nNk16 and m64nNk8): thread (warp w, lane 4g + t)
        // holds, per 8 columns j, the elements at rows 16w + g (+ 8) and columns 8j + 2t (+ 1).
        var inGroup = b.Let($"and i64 {tid}, {WarpgroupThreads - 1}");
        var lane = b.Let($"and i64 {inGroup}, 31", "lane");
        var rowBase = b.Let($"add nuw nsw i64 {b.Let($"add nuw nsw i64 {m0}, {warpgroupRows}")}, {b.Let($"add nuw nsw i64 {b.Let($"shl nuw nsw i64 {b.Let($"lshr i64 {inGroup}, 5")}, 4")}, {b.Let($"lshr i64 {lane}, 2")}")}", "mrow");
        var colBase = b.Let($"add nuw nsw i64 {n0}, {b.Let($"shl nuw nsw i64 {b.Let($"and i64 {lane}, 3")}, 1")}", "ncol");
        for (int i = 0; i < accCount; i++)
        {
            var row = b.Let($"add nuw nsw i64 {rowBase}, {8 * (i % 4 / 2)}", "m");
            var col = b.Let($"add nuw nsw i64 {colBase}, {8 * (i / 4) + i % 2}", "n");
            var value = held[i];
            GemmKernel.StoreResult(b, ev, ops, hero, outputs[0], row, col, sizes.M, sizes.N, P.OutputIndex(row, col), () => value);
        }
        ev.ClearSeeds();
        b.Line("ret void");
        m.AddKernel(name, outerOutputs.Count + outerInputs.Count, b.Body());
        return new GpuKernel(name, (sizes.N + Bn - 1) / Bn, (sizes.M + Bm - 1) / Bm, sizes.Batch, threads, [.. outerOutputs, .. outerInputs],
            0, DynamicSharedBytes: stages * StageBytes + AlignmentSlack);
    }

    /// <summary>The operand element: its size, LLVM type, K per stage (one 128-byte row) and elements per 16-byte copy.</summary>
    private sealed record Element(int Bytes)
    {
        public string Type => Bytes == 2 ? "i16" : "i32";
        public int Bk => SwizzleBytes / Bytes;
        public int Vector => Chunk / Bytes;
    }

    /// <summary>
    /// One thread's copy of a stage: its K offset within the step, its step → (inside, element offset) code, and where
    /// its elements land in the stage (bytes): one slot for a copy that keeps the operand's orientation, one per element
    /// (consecutive rows at one k) for a transposed one.
    /// </summary>
    private sealed record Copy(string K, Func<string, (string Inside, string Offset)> At, string[] Slots);

    /// <summary>How one operand reaches its tile: K-major or MN-major in shared memory, whether through registers (Transposed), and each thread's copies.</summary>
    private sealed class Staging(MmaKernel.Operand operand, string origin, int tileOffset, int rows)
    {
        public MmaKernel.Operand Operand => operand;
        public bool Transposed { get; private set; }
        public bool KMajor => operand.AlongK || Transposed;
        public List<Copy> Copies { get; } = [];

        /// <summary>
        /// Consecutive threads take consecutive vectors along the operand's contiguous dimension — except a transposed
        /// operand, whose consecutive threads take consecutive k (each a vector of rows), so that their 4-byte stores into
        /// a K-major row fall in distinct banks. Each element lands at its swizzled place: K-major (row r, byte x of K)
        /// at r·128 + ((x/16 ⊕ r mod 8)·16) + x mod 16; MN-major (k, row) in atom (row/64, k/8) at
        /// (k mod 8)·128 + ((row/8 mod 8 ⊕ k mod 8)·16) + (row mod 8)·2.
        /// </summary>
        public void Plan(LlvmBuilder b, Element e, string tid, int threads)
        {
            Transposed = !operand.AlongK && e.Bytes != 2;
            int v = operand.Vector, count = e.Bk * rows / v, across = Transposed ? e.Bk : (operand.AlongK ? e.Bk : rows) / v;
            for (int q = 0; q < count / threads; q++)
            {
                var l = b.Let($"add nuw nsw i64 {tid}, {q * threads}", "l");
                var first = b.Let($"urem i64 {l}, {across}");
                var second = b.Let($"udiv i64 {l}, {across}");
                string k, row;
                if (Transposed) (k, row) = (first, b.Let($"mul nuw nsw i64 {second}, {v}"));
                else
                {
                    var along = b.Let($"mul nuw nsw i64 {first}, {v}");
                    (k, row) = operand.AlongK ? (along, second) : (second, along);
                }
                string[] slots = Transposed
                    ? [.. Enumerable.Range(0, v).Select(i => KMajorSlot(b, e, b.Let($"add nuw nsw i64 {row}, {i}"), k))]
                    : [operand.AlongK ? KMajorSlot(b, e, row, k) : MnMajorSlot(b, k, row)];
                Copies.Add(new Copy(k, operand.Address(b.Let($"add nuw nsw i64 {origin}, {row}", "go")), slots));
            }
        }

        private string KMajorSlot(LlvmBuilder b, Element e, string row, string k)
        {
            var x = b.Let($"mul nuw nsw i64 {k}, {e.Bytes}");
            var chunk = b.Let($"xor i64 {b.Let($"lshr i64 {x}, 4")}, {b.Let($"and i64 {row}, 7")}");
            var inRow = b.Let($"add nuw nsw i64 {b.Let($"shl nuw nsw i64 {chunk}, 4")}, {b.Let($"and i64 {x}, {Chunk - 1}")}");
            return b.Let($"add nuw nsw i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {row}, {SwizzleBytes}")}, {inRow}")}, {tileOffset}", "slot");
        }

        private string MnMajorSlot(LlvmBuilder b, string k, string row)
        {
            var chunk = b.Let($"xor i64 {b.Let($"and i64 {b.Let($"lshr i64 {row}, 3")}, 7")}, {b.Let($"and i64 {k}, 7")}");
            var inRow = b.Let($"add nuw nsw i64 {b.Let($"shl nuw nsw i64 {chunk}, 4")}, {b.Let($"shl nuw nsw i64 {b.Let($"and i64 {row}, 7")}, 1")}");
            var atom = b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {b.Let($"lshr i64 {row}, 6")}, {MnGroupBytes}")}, {b.Let($"mul nuw nsw i64 {k}, {SwizzleBytes}")}");
            return b.Let($"add nuw nsw i64 {b.Let($"add nuw nsw i64 {atom}, {inRow}")}, {tileOffset}", "slot");
        }
    }
}
