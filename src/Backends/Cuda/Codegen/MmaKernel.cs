using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// dot_general on tensor cores: <c>mma.sync.aligned</c> (sm_80, also run by sm_90) through LLVM's NVPTX
/// intrinsics, f32 accumulation, the output fusion's epilogue applied from the accumulator registers.
/// bf16 and f16 operands use m16n8k16; f32 operands use m16n8k8 on TF32 (operands rounded to a 10-bit
/// mantissa) only when the target allows it (<see cref="CudaTarget.AllowTf32"/>), as PyTorch and JAX leave it
/// to the user. A block of warps computes a BM×BN tile of C, each warp a grid of 16×8 mma tiles.
/// <para>
/// Staging: each operand's tile of a K step is copied into shared memory in the operand's own orientation — K
/// contiguous ([rows][Bk]) when K is its contiguous dimension, else [Bk][rows] — by <c>cp.async</c> (16, 8 or 4
/// bytes per copy, zero-filled outside the operand), so no copy passes through registers and no tile is
/// transposed on the way. Stages form a ring (<see cref="Stages"/>): while the warps multiply one stage, the
/// copies of the next ones are in flight, and one barrier per step separates a stage's last reader from its next
/// writer. An operand whose contiguous extent or strides are not multiples of a whole vector takes the widest copy they
/// divide (<see cref="Widest"/>: 8 or 4 bytes); an odd extent of 16-bit elements is copied element by element (2 bytes:
/// no cp.async size) with plain loads and stores into the same ring, of TF32 elements by 4-byte copies.
/// </para>
/// <para>
/// Fragments: 16-bit operands are read with <c>ldmatrix.x4</c> — four 8×8 matrices per instruction, <c>.trans</c> for
/// a tile stored [Bk][rows] — which hands each lane exactly the registers the PTX ISA's fragment tables ("Matrix
/// Fragments for mma.m16n8k16") give it: A (row, k) = (g, 2t), (g+8, 2t), (g, 2t+8), (g+8, 2t+8), B (k, n) = (2t, g),
/// (2t+8, g), lane = 4g + t. TF32 fragments are single 32-bit loads (k halved), rounded as <c>cvt.rna</c> when read.
/// Rows are padded so that the eight 16-byte rows an ldmatrix phase reads, or the 32 words of a TF32 fragment load,
/// fall in distinct banks. C's fragment is (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1).
/// </para>
/// </summary>
internal static class MmaKernel
{
    /// <summary>One mma.sync shape and operand type: its intrinsic, K per instruction, bits per element, the fragment register's LLVM type, K per staged step.</summary>
    internal sealed record Shape(string Name, string Intrinsic, int K, int Bits, string Fragment, int Bk);

    // K per stage: 32 for 16-bit operands (two m16n8k16), 16 for TF32 (two m16n8k8), so that two stages of the
    // 128×128 tiles fit the static shared memory in either case.
    private static readonly Shape Bf16 = new("bf16", "llvm.nvvm.mma.m16n8k16.row.col.bf16", 16, 16, "i32", 32);
    private static readonly Shape F16 = new("f16", "llvm.nvvm.mma.m16n8k16.row.col.f32.f32", 16, 16, "<2 x half>", 32);
    private static readonly Shape Tf32 = new("tf32", "llvm.nvvm.mma.m16n8k8.row.col.tf32", 8, 32, "i32", 16);

    /// <summary>The tensor-core shape for these operands, or null (f64, integers, mixed types, f32 without TF32): the FMA GEMM's.</summary>
    public static Shape? For(ElementType a, ElementType b, CudaTarget target) => (a, b) switch
    {
        (ElementType.BF16, ElementType.BF16) => Bf16,
        (ElementType.F16, ElementType.F16) => F16,
        (ElementType.F32, ElementType.F32) when target.AllowTf32 => Tf32,
        _ => null,
    };

    /// <summary>Warps along M and N, and each warp's 16×8 mma tiles along M and N.</summary>
    private sealed record Tiling(int WarpsM, int WarpsN, int TilesM, int TilesN)
    {
        public int Bm => WarpsM * TilesM * 16;
        public int Bn => WarpsN * TilesN * 8;
        public int Threads => 32 * WarpsM * WarpsN;
    }

    /// <summary>
    /// 128×128 tiles (8 warps of 64×32) where they fill the GPU; for N of 64 or less (ResNet's first stage, a first layer's
    /// 64 features) 256×64 (8 warps of 64×32: the same work per warp and per block, where a 128-wide tile would multiply
    /// zeros in half its columns); else 64×64 (4 warps of 32×32), which give 4× the blocks.
    /// </summary>
    private static readonly Tiling Large = new(2, 4, 4, 4);
    private static readonly Tiling Narrow = new(4, 2, 4, 4);
    private static readonly Tiling Small = new(2, 2, 2, 4);

    private static Tiling TilingFor(Extent size, int multiprocessors)
    {
        var wide = size.N <= Narrow.Bn ? Narrow : Large;
        return size.Blocks(wide.Bm, wide.Bn) >= multiprocessors ? wide : Small;
    }

    /// <summary>The static shared memory a block may declare on every architecture (more needs dynamic shared memory and an opt-in).</summary>
    private const int StaticSharedBytes = 48 * 1024;

    /// <summary>
    /// At most this many stages in the ring: three steps of copies in flight while the warps multiply the fourth, as
    /// CUTLASS's sm_80 tensor-core GEMMs with 32-wide K steps keep 4 or 5. Where the ring passes the 48 KB of static
    /// shared memory (the 128×128 tiles: 80 KB) it is dynamic shared memory, within the target's per-block limit.
    /// </summary>
    private const int MaxStages = 4;

    /// <summary>
    /// The ring's bytes at most: what lets two blocks share an A100 multiprocessor (164 KB of shared memory), as the
    /// 128×128 tiles' four stages do (74–80 KB); the 256×64 tiles' larger stages (25 KB) then keep three, not one block
    /// of four per multiprocessor.
    /// </summary>
    private const int MaxRingBytes = 80 * 1024;

    private const int Warp = 32;

    /// <summary>The widest copy (cp.async 16, ld.global.v4.b32): 8 bf16/f16 or 4 f32 elements.</summary>
    internal const int VectorBytes = 16;

    /// <summary>
    /// Elements per copy of an operand: the widest power of two up to <paramref name="vector"/> that divides its contiguous
    /// extent and every other stride (so each copy is aligned and wholly inside or outside the operand): whole 16-byte
    /// vectors where they fit, else halves and quarters (8- and 4-byte copies), element by element only where nothing wider divides.
    /// </summary>
    internal static int Widest(int vector, params IEnumerable<long> multiples)
    {
        for (int v = vector; v > 1; v /= 2)
            if (multiples.All(x => x % v == 0)) return v;
        return 1;
    }

    /// <summary>
    /// An operand's tile in one stage: K contiguous ([rows][Bk + pad]) or rows contiguous ([Bk][rows + pad]). Padding:
    /// 16 bytes for 16-bit tiles (rows then start 4 banks apart, so ldmatrix's 8 rows of 16 bytes hit all 32 banks);
    /// for TF32 4 words with K contiguous (a fragment load's (g, t) lands on bank 20g + t, distinct) and 8 words otherwise (8t + g).
    /// </summary>
    private sealed record Tile(bool KMajor, int Rows, int Bk, int Stride)
    {
        public int Elements => KMajor ? Rows * Stride : Bk * Stride;

        public static Tile For(Operand op, int rows, Shape shape) =>
            new(op.AlongK, rows, shape.Bk, op.AlongK ? shape.Bk + (shape.Bits == 16 ? 8 : 4) : rows + 8);

        /// <summary>The element offset of (row, k) within a stage.</summary>
        public string At(LlvmBuilder b, string row, string k) =>
            KMajor ? b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {row}, {Stride}")}, {k}") : b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {k}, {Stride}")}, {row}");

        /// <summary>The offset of (row + dr, k + dk) relative to (row, k): a constant.</summary>
        public int Delta(int dr, int dk) => KMajor ? dr * Stride + dk : dk * Stride + dr;
    }

    /// <summary>
    /// The kernel for the contraction, and when its K is split (<see cref="SplitK"/>), the kernel that combines the slices;
    /// on sm_90a, where its tiles fill the GPU, Hopper's warpgroup kernel instead (<see cref="WgmmaKernel"/>).
    /// </summary>
    public static IReadOnlyList<GpuKernel> Emit(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs,
        Operation hero, Shape shape, Contraction contraction)
    {
        if (WgmmaKernel.Applies(m.Target, contraction.Size))
            return [WgmmaKernel.Emit(m, inputs, ops, outputs, constants, outerOutputs, outerInputs, hero, shape, contraction)];
        var (name, b, mc, ev, pa, pb, _, _) = GemmKernel.Begin(m, $"mma_{shape.Name}_", inputs, ops, outputs, constants, hero);
        var bz = Sreg.Read(mc, b, "ctaid.z");
        int vector = VectorBytes * 8 / shape.Bits;
        var sizes = contraction.Size;
        var tiling = TilingFor(sizes, m.Target.Multiprocessors);
        int bm = tiling.Bm, bn = tiling.Bn, threads = tiling.Threads, bk = shape.Bk, bytes = shape.Bits / 8;
        long steps = (sizes.K + bk - 1) / bk;
        var split = SplitK.Plan.For(sizes.Blocks(bm, bn), steps, m.Target.Multiprocessors);
        var (batch, kBase) = split.Locate(b, bz, bk);
        var P = contraction.Describe(b, pa, pb, batch, vector);
        string word = $"i{shape.Bits}";
        var tileA = Tile.For(P.A, bm, shape);
        var tileB = Tile.For(P.B, bn, shape);
        int stageBytes = (tileA.Elements + tileB.Elements) * bytes;
        int stages = Math.Min(MaxStages, Math.Min(m.Target.MaxSharedBytesPerBlock, MaxRingBytes) / stageBytes);
        if (stages < 2) throw new CodegenException($"mma tiles of {stageBytes} bytes leave no room for two stages");

        // The ring in static shared memory where it fits, else in the block's dynamic shared memory (A's stages, then B's).
        string asm, bsm;
        int dynamicBytes = stages * stageBytes > StaticSharedBytes ? stages * stageBytes : 0;
        if (dynamicBytes == 0)
        {
            asm = $"@{name}_as";
            bsm = $"@{name}_bs";
            mc.Global($"{asm} = internal addrspace(3) global [{stages * tileA.Elements} x {word}] undef, align 16");
            mc.Global($"{bsm} = internal addrspace(3) global [{stages * tileB.Elements} x {word}] undef, align 16");
        }
        else
        {
            asm = $"@{name}_ring";
            mc.Global($"{asm} = external addrspace(3) global [0 x i8], align 16");
            bsm = $"getelementptr inbounds (i8, ptr addrspace(3) {asm}, i64 {stages * tileA.Elements * bytes})";
        }
        mc.Declare($"declare {{float, float, float, float}} @{shape.Intrinsic}({string.Join(", ", Enumerable.Repeat(shape.Fragment, 6).Concat(Enumerable.Repeat("float", 4)))}) nounwind convergent");

        var tid = Sreg.Read(mc, b, "tid.x");
        var lane = b.Let($"and i64 {tid}, {Warp - 1}", "lane");
        var warp = b.Let($"lshr i64 {tid}, 5", "warp");
        var g = b.Let($"lshr i64 {lane}, 2", "g");
        var t = b.Let($"and i64 {lane}, 3", "t");
        var warpRow = b.Let($"mul nuw nsw i64 {b.Let($"udiv i64 {warp}, {tiling.WarpsN}")}, {tiling.TilesM * 16}", "wrow");
        var warpCol = b.Let($"mul nuw nsw i64 {b.Let($"urem i64 {warp}, {tiling.WarpsN}")}, {tiling.TilesN * 8}", "wcol");
        var n0 = b.Let($"mul nuw nsw i64 {Sreg.Read(mc, b, "ctaid.x")}, {bn}", "n0");
        var m0 = b.Let($"mul nuw nsw i64 {Sreg.Read(mc, b, "ctaid.y")}, {bm}", "m0");

        int accCount = tiling.TilesM * tiling.TilesN * 4;
        var accSlot = b.Alloca($"[{accCount} x float]");
        string Acc(int i) => b.Let($"getelementptr inbounds [{accCount} x float], ptr {accSlot}, i64 0, i64 {i}");
        for (int i = 0; i < accCount; i++) b.Line($"store float 0.0, ptr {Acc(i)}");

        // The copies of one stage: consecutive threads take consecutive vectors along the operand's contiguous
        // dimension. Where a copy lands within a stage, and the part of its global address that depends on its row
        // of the tile, do not depend on the step: computed once.
        var operands = new[] { Staging(true), Staging(false) };
        Staged Staging(bool isA)
        {
            var (op, tile) = isA ? (P.A, tileA) : (P.B, tileB);
            int v = op.Vector, count = bk * tile.Rows / v, across = (op.AlongK ? bk : tile.Rows) / v;
            if (count % threads != 0) throw new CodegenException($"mma tile of {count} copies does not divide over {threads} threads");
            var copies = new List<Copy>();
            for (int q = 0; q < count / threads; q++)
            {
                var l = b.Let($"add nuw nsw i64 {tid}, {q * threads}", "l");
                var along = b.Let($"mul nuw nsw i64 {b.Let($"urem i64 {l}, {across}")}, {v}");
                var other = b.Let($"udiv i64 {l}, {across}");
                var (k, row) = op.AlongK ? (along, other) : (other, along);
                copies.Add(new Copy(k, op.Address(b.Let($"add nuw nsw i64 {(isA ? m0 : n0)}, {row}", "go")), tile.At(b, row, k)));
            }
            return new Staged(op, tile, isA ? asm : bsm, v == 1 ? word : $"<{v} x {word}>", v * bytes, copies);
        }

        // Starts the copies of the step at K offset kt into stage `stage`, as one cp.async group.
        void Issue(string kt, string stage)
        {
            foreach (var s in operands)
            {
                var stageBase = b.Let($"mul nuw nsw i64 {stage}, {s.Tile.Elements}", "sbase");
                foreach (var c in s.Copies)
                {
                    var (inside, off) = c.At(b.Let($"add nuw nsw i64 {kt}, {c.K}", "gk"));
                    var src = b.Let($"getelementptr inbounds {word}, ptr {s.Operand.Pointer}, i64 {b.Let($"select i1 {inside}, i64 {off}, i64 0")}", "src");
                    var dst = b.Let($"getelementptr inbounds {word}, ptr addrspace(3) {s.Smem}, i64 {b.Let($"add nuw nsw i64 {stageBase}, {c.Slot}")}", "dst");
                    AsyncCopy.Stage(mc, b, dst, src, s.Type, s.Bytes, inside);
                }
            }
            AsyncCopy.Commit(mc, b);
        }

        var fragments = shape.Bits == 16 ? Ldmatrix(b, mc, shape, tiling, tileA, tileB, asm, bsm, lane, warpRow, warpCol) : Tf32Fragments(b, tiling, tileA, tileB, asm, bsm, g, t, warpRow, warpCol);

        // The ring: stages - 1 steps in flight before the first multiplies; then each step waits for its own copies,
        // meets the other warps (its stage is complete, and the stage it refills has been read by everyone), starts
        // the step stages - 1 ahead and multiplies. Steps past K copy zeros and read nothing.
        // A slice's last steps may pass K (zeros, as past K always) or reach into the next slice's (copied, never multiplied).
        string KAt(string kt) => split.Slices > 1 ? b.Let($"add nuw nsw i64 {kBase}, {kt}", "kt") : kt;
        for (int s = 0; s < stages - 1; s++) Issue(KAt((s * bk).ToString()), s.ToString());
        b.For("0", (split.Slices > 1 ? split.StepsPerSlice : steps).ToString(), step =>
        {
            AsyncCopy.Wait(mc, b, stages - 2);
            Sreg.Barrier(mc, b);
            var ahead = b.Let($"add nuw nsw i64 {step}, {stages - 1}", "ahead");
            Issue(KAt(b.Let($"mul nuw nsw i64 {ahead}, {bk}", "kt")), b.Let($"urem i64 {ahead}, {stages}", "stage"));
            var stage = b.Let($"urem i64 {step}, {stages}", "stage");
            var (aBase, bBase) = (b.Let($"mul nuw nsw i64 {stage}, {tileA.Elements}"), b.Let($"mul nuw nsw i64 {stage}, {tileB.Elements}"));
            var acc = new string[accCount];
            for (int i = 0; i < accCount; i++) acc[i] = b.Let($"load float, ptr {Acc(i)}", "acc");
            for (int kk = 0; kk < bk; kk += shape.K)
            {
                var (a, bf) = fragments(aBase, bBase, kk);
                for (int i = 0; i < tiling.TilesM; i++)
                    for (int j = 0; j < tiling.TilesN; j++)
                    {
                        int at = (i * tiling.TilesN + j) * 4;
                        var args = a[i].Concat(bf[j]).Select(f => $"{shape.Fragment} {f}").Concat(acc[at..(at + 4)].Select(x => $"float {x}"));
                        var d = b.Let($"call {{float, float, float, float}} @{shape.Intrinsic}({string.Join(", ", args)})", "mma");
                        for (int e = 0; e < 4; e++) acc[at + e] = b.Let($"extractvalue {{float, float, float, float}} {d}, {e}", "d");
                    }
            }
            for (int i = 0; i < accCount; i++) b.Line($"store float {acc[i]}, ptr {Acc(i)}");
        }, "kstep");
        // No copy may still be writing the block's shared memory when it exits.
        AsyncCopy.WaitAll(mc, b);

        // C's fragment: element e of tile (i, j) is at row g + 8·(e / 2), column 2t + e % 2 of the tile.
        var t2 = b.Let($"shl nuw nsw i64 {t}, 1", "t2");
        for (int i = 0; i < tiling.TilesM; i++)
            for (int j = 0; j < tiling.TilesN; j++)
                for (int e = 0; e < 4; e++)
                {
                    var row = b.Let($"add nuw nsw i64 {m0}, {b.Let($"add nuw nsw i64 {warpRow}, {b.Let($"add nuw nsw i64 {g}, {16 * i + 8 * (e / 2)}")}")}", "m");
                    var col = b.Let($"add nuw nsw i64 {n0}, {b.Let($"add nuw nsw i64 {warpCol}, {b.Let($"add nuw nsw i64 {t2}, {8 * j + e % 2}")}")}", "n");
                    int at = (i * tiling.TilesN + j) * 4 + e;
                    if (split.Slices > 1)
                        SplitK.StorePartial(b, $"%p{outerOutputs.Count + outerInputs.Count}", bz, row, col, sizes.M, sizes.N, b.Let($"load float, ptr {Acc(at)}", "acc"));
                    else
                        GemmKernel.StoreResult(b, ev, ops, hero, outputs[0], row, col, sizes.M, sizes.N, P.OutputIndex(row, col), () => b.Let($"load float, ptr {Acc(at)}", "acc"));
                }
        ev.ClearSeeds();
        b.Line("ret void");
        int parameters = outerOutputs.Count + outerInputs.Count;
        m.AddKernel(name, split.Slices > 1 ? parameters + 1 : parameters, b.Body());
        var kernel = new GpuKernel(name, (sizes.N + bn - 1) / bn, (sizes.M + bm - 1) / bm, sizes.Batch * split.Slices, threads, [.. outerOutputs, .. outerInputs],
            split.ScratchBytes(sizes.Batch, sizes.M, sizes.N), DynamicSharedBytes: dynamicBytes);
        return SplitK.Launches(kernel, m, inputs, ops, outputs, constants, outerOutputs, outerInputs, hero, contraction, split);
    }

    /// <summary>Given a stage's A and B base offsets and a K offset within the step: each mma tile's A registers (by tile row) and B registers (by tile column).</summary>
    private delegate (string[][] A, string[][] B) Fragments(string aBase, string bBase, int kk);

    /// <summary>
    /// 16-bit fragments by ldmatrix.x4: lane l addresses row l % 8 of matrix l / 8. A's four matrices are (rows 0–7 | 8–15) ×
    /// (k 0–7 | 8–15) of a 16×16 tile, in the order a0..a3; B's cover two 8-column tiles, (k 0–7, k 8–15) of each. A tile
    /// stored [Bk][rows] is read with .trans, which hands each lane the same elements from the transposed storage.
    /// </summary>
    private static Fragments Ldmatrix(LlvmBuilder b, ModuleContext mc, Shape shape, Tiling tiling, Tile tileA, Tile tileB, string asm, string bsm,
        string lane, string warpRow, string warpCol)
    {
        var q = b.Let($"lshr i64 {lane}, 3", "q");
        var r = b.Let($"and i64 {lane}, 7", "r");
        var qLow = b.Let($"and i64 {q}, 1");
        var qHigh = b.Let($"lshr i64 {q}, 1");
        var eight = (string x) => b.Let($"shl nuw nsw i64 {x}, 3");
        // A: matrix q covers rows 8·(q & 1) and k 8·(q >> 1); B: columns 8·(q >> 1) and k 8·(q & 1).
        var aLane = tileA.At(b, b.Let($"add nuw nsw i64 {warpRow}, {b.Let($"add nuw nsw i64 {eight(qLow)}, {(tileA.KMajor ? r : "0")}")}"),
            b.Let($"add nuw nsw i64 {eight(qHigh)}, {(tileA.KMajor ? "0" : r)}"));
        var bLane = tileB.At(b, b.Let($"add nuw nsw i64 {warpCol}, {b.Let($"add nuw nsw i64 {eight(qHigh)}, {(tileB.KMajor ? r : "0")}")}"),
            b.Let($"add nuw nsw i64 {eight(qLow)}, {(tileB.KMajor ? "0" : r)}"));
        string[] Load(string smem, Tile tile, string laneOffset, string stageBase, int delta)
        {
            var at = b.Let($"add nuw nsw i64 {b.Let($"add nuw nsw i64 {stageBase}, {laneOffset}")}, {delta}");
            var p = b.Let($"getelementptr inbounds i16, ptr addrspace(3) {smem}, i64 {at}");
            var regs = Ldmatrix4(mc, b, p, transposed: !tile.KMajor);
            return shape.Fragment == "i32" ? regs : [.. regs.Select(x => b.Let($"bitcast i32 {x} to {shape.Fragment}"))];
        }
        return (aBase, bBase, kk) =>
        {
            var a = Enumerable.Range(0, tiling.TilesM).Select(i => Load(asm, tileA, aLane, aBase, tileA.Delta(16 * i, kk))).ToArray();
            var bf = new string[tiling.TilesN][];
            for (int j = 0; j < tiling.TilesN; j += 2)
            {
                var x = Load(bsm, tileB, bLane, bBase, tileB.Delta(8 * j, kk));
                (bf[j], bf[j + 1]) = ([x[0], x[1]], [x[2], x[3]]);
            }
            return (a, bf);
        };
    }

    /// <summary>ldmatrix.sync.aligned.m8n8.x4(.trans).b16: four 32-bit registers.</summary>
    private static string[] Ldmatrix4(ModuleContext mc, LlvmBuilder b, string pointer, bool transposed)
    {
        var intrinsic = $"llvm.nvvm.ldmatrix.sync.aligned.m8n8.x4{(transposed ? ".trans" : "")}.b16";
        mc.Declare($"declare {{i32, i32, i32, i32}} @{intrinsic}(ptr addrspace(3)) nounwind convergent");
        var x = b.Let($"call {{i32, i32, i32, i32}} @{intrinsic}(ptr addrspace(3) {pointer})", "ldm");
        return [.. Enumerable.Range(0, 4).Select(i => b.Let($"extractvalue {{i32, i32, i32, i32}} {x}, {i}", "frag"))];
    }

    /// <summary>
    /// TF32 fragments, one 32-bit load each, rounded as cvt.rna: A (row, k) = (g, t), (g+8, t), (g, t+4), (g+8, t+4); B (k, n) = (t, g), (t+4, g).
    /// </summary>
    private static Fragments Tf32Fragments(LlvmBuilder b, Tiling tiling, Tile tileA, Tile tileB, string asm, string bsm,
        string g, string t, string warpRow, string warpCol)
    {
        var aLane = tileA.At(b, b.Let($"add nuw nsw i64 {warpRow}, {g}"), t);
        var bLane = tileB.At(b, b.Let($"add nuw nsw i64 {warpCol}, {g}"), t);
        string Load(string smem, string laneOffset, string stageBase, int delta)
        {
            var at = b.Let($"add nuw nsw i64 {b.Let($"add nuw nsw i64 {stageBase}, {laneOffset}")}, {delta}");
            var bits = b.Let($"load i32, ptr addrspace(3) {b.Let($"getelementptr inbounds i32, ptr addrspace(3) {smem}, i64 {at}")}, align 4", "frag");
            return RoundToTf32(b, bits);
        }
        return (aBase, bBase, kk) =>
        (
            [.. Enumerable.Range(0, tiling.TilesM).Select(i => new[] { (0, 0), (8, 0), (0, 4), (8, 4) }
                .Select(d => Load(asm, aLane, aBase, tileA.Delta(16 * i + d.Item1, kk + d.Item2))).ToArray())],
            [.. Enumerable.Range(0, tiling.TilesN).Select(j => new[] { 0, 4 }.Select(dk => Load(bsm, bLane, bBase, tileB.Delta(8 * j, kk + dk))).ToArray())]
        );
    }

    /// <summary>
    /// How the kernel reads one operand: its pointer; whether consecutive memory runs along K (else along M or N);
    /// elements per load (a vector only where every load is aligned and wholly inside or outside the operand);
    /// and, given a tile row's global M (or N) index, the code that maps a global K index to whether the element
    /// exists and its element offset. The first half runs once per load slot, the second every step.
    /// </summary>
    internal sealed record Operand(string Pointer, bool AlongK, int Vector, Func<string, Func<string, (string Inside, string Offset)>> Address);

    /// <summary>A contraction's extent: C[batch] (M×N) = A (M×K) · B (K×N).</summary>
    internal readonly record struct Extent(long Batch, long M, long N, long K)
    {
        /// <summary>The blocks of a grid of <paramref name="bm"/>×<paramref name="bn"/> tiles over the product (batches along z).</summary>
        public long Blocks(long bm, long bn) => (M + bm - 1) / bm * ((N + bn - 1) / bn) * Batch;
    }

    /// <summary>How the kernel reads a contraction: its operands, and C's element (row, col) as the output's index.</summary>
    internal sealed record Problem(Operand A, Operand B, Func<string, string, string[]> OutputIndex);

    /// <summary>Describes the contraction with the kernel's builder, its operand pointers, the batch register and the widest vector in elements.</summary>
    internal delegate Problem Describe(LlvmBuilder b, string pa, string pb, string batch, int vector);

    /// <summary>
    /// A contraction to emit: its extent, known before any code (tiles, K's slices and the grid follow from it), and how to
    /// read it once the kernel's registers exist.
    /// </summary>
    internal sealed record Contraction(Extent Size, Describe Describe);

    /// <summary>
    /// dot_general (<see cref="GemmKernel.Layout"/>): A's and B's elements at batch·stride + row·stride + k·stride; vectors
    /// along the contiguous dimension, as wide as its extent and the other strides allow (<see cref="Widest"/>).
    /// </summary>
    public static Contraction Gemm(GemmKernel.Layout L) => new(new Extent(L.Batch, L.M, L.N, L.K), (b, pa, pb, bz, vector) =>
    {
        var (batchIndex, baseA, baseB) = L.BatchAt(b, bz);
        Operand Side(string pointer, long sk, long so, long[] sb, string batchBase, long extent)
        {
            bool alongK = sk == 1;
            var (contiguous, other) = alongK ? (L.K, so) : (extent, sk);
            int v = Widest(vector, [contiguous, other, .. sb]);
            return new Operand(pointer, alongK, v, go =>
            {
                var rowBase = b.Let($"add nuw nsw i64 {batchBase}, {b.Let($"mul nuw nsw i64 {go}, {so}")}", "rbase");
                var rowInside = b.Let($"icmp slt i64 {go}, {extent}");
                return gk => (b.Let($"and i1 {b.Let($"icmp slt i64 {gk}, {L.K}")}, {rowInside}"), b.Let($"add nuw nsw i64 {rowBase}, {b.Let($"mul nuw nsw i64 {gk}, {sk}")}"));
            });
        }
        return new Problem(Side(pa, L.SAk, L.SAm, L.SAb, baseA, L.M), Side(pb, L.SBk, L.SBn, L.SBb, baseB, L.N),
            (row, col) => L.OutputIndex(b, batchIndex, row, col));
    });

    /// <summary>One thread's copy of a staging step: its K offset in the tile, its step → (inside, offset) code, where it lands within a stage.</summary>
    private sealed record Copy(string K, Func<string, (string Inside, string Offset)> At, string Slot);

    private sealed record Staged(Operand Operand, Tile Tile, string Smem, string Type, int Bytes, List<Copy> Copies);

    /// <summary>
    /// f32 bits to TF32 (cvt.rna.tf32.f32's rounding: to nearest, ties away from zero, in the 13 bits mma.sync ignores);
    /// infinities stay, NaNs stay NaN (quiet bit set, so clearing the low bits cannot make an infinity).
    /// </summary>
    private static string RoundToTf32(LlvmBuilder b, string bits)
    {
        const int Exponent = 0x7F800000, Quiet = 0x00400000, Mantissa = 0x007FFFFF, Dropped = 13;
        int keep = -(1 << Dropped), half = 1 << (Dropped - 1);
        var special = b.Let($"icmp eq i32 {b.Let($"and i32 {bits}, {Exponent}")}, {Exponent}");
        var nan = b.Let($"and i1 {special}, {b.Let($"icmp ne i32 {b.Let($"and i32 {bits}, {Mantissa}")}, 0")}");
        var kept = b.Let($"select i1 {nan}, i32 {b.Let($"or i32 {bits}, {Quiet}")}, i32 {bits}");
        var rounded = b.Let($"select i1 {special}, i32 {kept}, i32 {b.Let($"add i32 {bits}, {half}")}");
        return b.Let($"and i32 {rounded}, {keep}", "tf32");
    }
}
