using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// dot_general on tensor cores: <c>mma.sync.aligned</c> (sm_80, also run by sm_90) through LLVM's NVPTX
/// intrinsics, f32 accumulation, the output fusion's epilogue applied from the accumulator registers.
/// bf16 and f16 operands use m16n8k16; f32 operands use m16n8k8 on TF32 (operands rounded to a 10-bit
/// mantissa) only when the target allows it (<see cref="CudaTarget.AllowTf32"/>), as PyTorch and JAX leave it
/// to the user. A block of warps computes a BM×BN tile of C, each warp a grid of 16×8 mma tiles; per step of
/// 32 along K the block stages A as [BM][32] and B transposed as [BN][32] (K contiguous, so every fragment
/// register is one 32-bit shared-memory load) with rows padded by 16 bytes, which puts the eight rows a
/// fragment load touches in distinct banks. Fragment layouts are the PTX ISA's ("Matrix Fragments for mma.m16n8k16
/// / m16n8k8"): lane = 4·group + t, A's registers hold (row, k) = (g, 2t), (g+8, 2t), (g, 2t+8), (g+8, 2t+8)
/// (k halved for TF32), B's (k, n) = (2t, g), (2t+8, g), C's (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1).
/// </summary>
internal static class MmaKernel
{
    /// <summary>One mma.sync shape and operand type: its intrinsic, K per instruction, bits per element, the fragment register's LLVM type.</summary>
    internal sealed record Shape(string Name, string Intrinsic, int K, int Bits, string Fragment);

    private static readonly Shape Bf16 = new("bf16", "llvm.nvvm.mma.m16n8k16.row.col.bf16", 16, 16, "i32");
    private static readonly Shape F16 = new("f16", "llvm.nvvm.mma.m16n8k16.row.col.f32.f32", 16, 16, "<2 x half>");
    private static readonly Shape Tf32 = new("tf32", "llvm.nvvm.mma.m16n8k8.row.col.tf32", 8, 32, "i32");

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

    /// <summary>128×128 tiles (8 warps of 64×32) where they fill the GPU; else 64×64 (4 warps of 32×32), which give 4× the blocks.</summary>
    private static readonly Tiling Large = new(2, 4, 4, 4);
    private static readonly Tiling Small = new(2, 2, 2, 4);

    /// <summary>K per shared-memory stage: two m16n8k16 steps, four m16n8k8.</summary>
    private const int Bk = 32;

    /// <summary>Row padding of the staged tiles, bytes: rows 16 bytes apart in bank order, so a fragment load's 8 rows × 4 words hit 32 banks.</summary>
    private const int PadBytes = 16;

    private const int Warp = 32;

    /// <summary>The widest global load (ld.global.v4.b32): 8 bf16/f16 or 4 f32 elements.</summary>
    private const int VectorBytes = 16;

    public static GpuKernel Emit(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs,
        Operation hero, Shape shape, Describe describe)
    {
        var (name, b, mc, ev, pa, pb, _, _) = GemmKernel.Begin(m, $"mma_{shape.Name}_", inputs, ops, outputs, constants, hero);
        var bz = Sreg.Read(mc, b, "ctaid.z");
        var P = describe(b, pa, pb, bz, VectorBytes * 8 / shape.Bits);
        var tiling = (P.M + Large.Bm - 1) / Large.Bm * ((P.N + Large.Bn - 1) / Large.Bn) * P.Batch >= m.Target.Multiprocessors ? Large : Small;
        int bm = tiling.Bm, bn = tiling.Bn, threads = tiling.Threads;
        string word = $"i{shape.Bits}";
        int stride = Bk + PadBytes * 8 / shape.Bits;

        var asm = $"@{name}_as";
        var bsm = $"@{name}_bs";
        mc.Global($"{asm} = internal addrspace(3) global [{bm * stride} x {word}] undef, align 16");
        mc.Global($"{bsm} = internal addrspace(3) global [{bn * stride} x {word}] undef, align 16");
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

        // Staging: a tile of rows×32 elements, row-major with K contiguous, whichever operand; consecutive threads
        // read consecutive memory along the operand's contiguous dimension (Operand.AlongK), Operand.Vector elements
        // (16 bytes where the operand allows it) at a time. Software-pipelined: a step's global loads go to registers
        // before the previous step's MMAs, so their latency hides behind tensor-core work; out-of-range elements load
        // offset 0 and become zero (selects, no branches). Where each load lands in shared memory, and the part of
        // its address that depends on its row of the tile, do not depend on the step: they are computed once.
        var operands = new[] { Staging(true), Staging(false) };
        Staged Staging(bool isA)
        {
            var op = isA ? P.A : P.B;
            int v = op.Vector, rows = isA ? bm : bn, count = Bk * rows / v, across = (op.AlongK ? Bk : rows) / v;
            if (count % threads != 0) throw new CodegenException($"mma tile of {count} loads does not divide over {threads} threads");
            var type = v == 1 ? word : $"<{v} x {word}>";
            var smem = isA ? asm : bsm;
            var loads = new List<Load>();
            for (int q = 0; q < count / threads; q++)
            {
                var l = b.Let($"add nuw nsw i64 {tid}, {q * threads}", "l");
                var along = b.Let($"mul nuw nsw i64 {b.Let($"urem i64 {l}, {across}")}, {v}");
                var other = b.Let($"udiv i64 {l}, {across}");
                var (k, o) = op.AlongK ? (along, other) : (other, along);
                // A vector along K is one store; one along M or N scatters to v rows.
                var slots = Enumerable.Range(0, op.AlongK ? 1 : v).Select(e =>
                {
                    var row = e == 0 ? o : b.Let($"add nuw nsw i64 {o}, {e}");
                    return b.Let($"getelementptr inbounds {word}, ptr addrspace(3) {smem}, i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {row}, {stride}")}, {k}")}", "slot");
                }).ToArray();
                var at = op.Address(b.Let($"add nuw nsw i64 {(isA ? m0 : n0)}, {o}", "go"));
                loads.Add(new Load(k, at, slots, b.Alloca(type)));
            }
            return new Staged(op, type, loads);
        }

        // Global → registers for the step starting at kt.
        void Fetch(string kt)
        {
            foreach (var s in operands)
                foreach (var ld in s.Loads)
                {
                    var (inside, off) = ld.At(b.Let($"add nuw nsw i64 {kt}, {ld.K}", "gk"));
                    var p = b.Let($"getelementptr inbounds {word}, ptr {s.Operand.Pointer}, i64 {b.Let($"select i1 {inside}, i64 {off}, i64 0")}");
                    var raw = b.Let($"load {s.Type}, ptr {p}, align {s.Operand.Vector * shape.Bits / 8}", "raw");
                    if (shape == Tf32) raw = MapVector(b, raw, s.Operand.Vector, word, y => RoundToTf32(b, y));
                    b.Line($"store {s.Type} {b.Let($"select i1 {inside}, {s.Type} {raw}, {s.Type} zeroinitializer")}, ptr {ld.Register}");
                }
        }

        // Registers → shared memory.
        void Deposit()
        {
            foreach (var s in operands)
                foreach (var ld in s.Loads)
                {
                    var value = b.Let($"load {s.Type}, ptr {ld.Register}", "staged");
                    if (s.Operand.AlongK || s.Operand.Vector == 1)
                        b.Line($"store {s.Type} {value}, ptr addrspace(3) {ld.Slots[0]}, align {(s.Operand.AlongK ? s.Operand.Vector : 1) * shape.Bits / 8}");
                    else
                        for (int e = 0; e < s.Operand.Vector; e++)
                            b.Line($"store {word} {b.Let($"extractelement {s.Type} {value}, i64 {e}")}, ptr addrspace(3) {ld.Slots[e]}");
                }
        }

        // A fragment register: the 32 bits at (row, column) of a staged tile (two adjacent 16-bit elements, or one TF32).
        string Fragment(string smem, string row, string column)
        {
            var p = b.Let($"getelementptr inbounds {word}, ptr addrspace(3) {smem}, i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {row}, {stride}")}, {column}")}");
            return b.Let($"load {shape.Fragment}, ptr addrspace(3) {p}, align 4", "frag");
        }

        var rowOf = Enumerable.Range(0, tiling.TilesM).Select(i => b.Let($"add nuw nsw i64 {warpRow}, {b.Let($"add nuw nsw i64 {g}, {16 * i}")}", "ar")).ToArray();
        var colOf = Enumerable.Range(0, tiling.TilesN).Select(j => b.Let($"add nuw nsw i64 {warpCol}, {b.Let($"add nuw nsw i64 {g}, {8 * j}")}", "bc")).ToArray();
        // Within an instruction's K: a thread's first k (2t, or t for TF32); its second register pair starts K/2 further.
        var k0 = shape.Bits == 16 ? b.Let($"shl nuw nsw i64 {t}, 1", "k0") : t;
        int half = shape.K / 2;

        long steps = (P.K + Bk - 1) / Bk;
        Fetch("0");
        b.For("0", steps.ToString(), step =>
        {
            Deposit();
            Sreg.Barrier(mc, b);
            Fetch(b.Let($"mul nuw nsw i64 {b.Let($"add nuw nsw i64 {step}, 1")}, {Bk}", "kt"));
            var acc = new string[accCount];
            for (int i = 0; i < accCount; i++) acc[i] = b.Let($"load float, ptr {Acc(i)}", "acc");
            for (int kk = 0; kk < Bk; kk += shape.K)
            {
                var c0 = b.Let($"add nuw nsw i64 {k0}, {kk}", "kc");
                var c1 = b.Let($"add nuw nsw i64 {k0}, {kk + half}", "kc");
                var a = rowOf.Select(r =>
                {
                    var r8 = b.Let($"add nuw nsw i64 {r}, 8");
                    return new[] { Fragment(asm, r, c0), Fragment(asm, r8, c0), Fragment(asm, r, c1), Fragment(asm, r8, c1) };
                }).ToArray();
                var bf = colOf.Select(c => new[] { Fragment(bsm, c, c0), Fragment(bsm, c, c1) }).ToArray();
                for (int i = 0; i < tiling.TilesM; i++)
                    for (int j = 0; j < tiling.TilesN; j++)
                    {
                        int at = (i * tiling.TilesN + j) * 4;
                        var operands = a[i].Concat(bf[j]).Select(f => $"{shape.Fragment} {f}").Concat(acc[at..(at + 4)].Select(x => $"float {x}"));
                        var d = b.Let($"call {{float, float, float, float}} @{shape.Intrinsic}({string.Join(", ", operands)})", "mma");
                        for (int e = 0; e < 4; e++) acc[at + e] = b.Let($"extractvalue {{float, float, float, float}} {d}, {e}", "d");
                    }
            }
            for (int i = 0; i < accCount; i++) b.Line($"store float {acc[i]}, ptr {Acc(i)}");
            Sreg.Barrier(mc, b);
        }, "kstep");

        // C's fragment: element e of tile (i, j) is at row g + 8·(e / 2), column 2t + e % 2 of the tile.
        var t2 = b.Let($"shl nuw nsw i64 {t}, 1", "t2");
        for (int i = 0; i < tiling.TilesM; i++)
            for (int j = 0; j < tiling.TilesN; j++)
                for (int e = 0; e < 4; e++)
                {
                    var row = b.Let($"add nuw nsw i64 {m0}, {b.Let($"add nuw nsw i64 {rowOf[i]}, {8 * (e / 2)}")}", "m");
                    var col = b.Let($"add nuw nsw i64 {n0}, {b.Let($"add nuw nsw i64 {warpCol}, {b.Let($"add nuw nsw i64 {t2}, {8 * j + e % 2}")}")}", "n");
                    int at = (i * tiling.TilesN + j) * 4 + e;
                    GemmKernel.StoreResult(b, ev, hero, outputs[0], row, col, P.M, P.N, P.OutputIndex(row, col), () => b.Let($"load float, ptr {Acc(at)}", "acc"));
                }
        ev.ClearSeeds();
        b.Line("ret void");
        m.AddKernel(name, outerOutputs.Count + outerInputs.Count, b.Body());
        return new GpuKernel(name, (P.N + bn - 1) / bn, (P.M + bm - 1) / bm, P.Batch, threads, [.. outerOutputs, .. outerInputs]);
    }

    /// <summary>
    /// How the kernel reads one operand: its pointer; whether consecutive memory runs along K (else along M or N);
    /// elements per load (a vector only where every load is aligned and wholly inside or outside the operand);
    /// and, given a tile row's global M (or N) index, the code that maps a global K index to whether the element
    /// exists and its element offset. The first half runs once per load slot, the second every step.
    /// </summary>
    internal sealed record Operand(string Pointer, bool AlongK, int Vector, Func<string, Func<string, (string Inside, string Offset)>> Address);

    /// <summary>A contraction as the kernel computes it: C[batch] (M×N) = A (M×K) · B (K×N), and C's element (row, col) as the output's index.</summary>
    internal sealed record Problem(long Batch, long M, long N, long K, Operand A, Operand B, Func<string, string, string[]> OutputIndex);

    /// <summary>Describes the contraction with the kernel's builder, its operand pointers, the batch register and the widest vector in elements.</summary>
    internal delegate Problem Describe(LlvmBuilder b, string pa, string pb, string batch, int vector);

    /// <summary>
    /// dot_general (<see cref="GemmKernel.Layout"/>): A's and B's elements at batch·stride + row·stride + k·stride; vectors
    /// along the contiguous dimension when its extent and the other strides are multiples of the vector.
    /// </summary>
    public static Describe Gemm(GemmKernel.Layout L) => (b, pa, pb, bz, vector) =>
    {
        var (batchIndex, baseA, baseB) = L.BatchAt(b, bz);
        Operand Side(string pointer, long sk, long so, long[] sb, string batchBase, long extent)
        {
            bool alongK = sk == 1;
            var (contiguous, other) = alongK ? (L.K, so) : (extent, sk);
            int v = contiguous % vector == 0 && other % vector == 0 && sb.All(s => s % vector == 0) ? vector : 1;
            return new Operand(pointer, alongK, v, go =>
            {
                var rowBase = b.Let($"add nuw nsw i64 {batchBase}, {b.Let($"mul nuw nsw i64 {go}, {so}")}", "rbase");
                var rowInside = b.Let($"icmp slt i64 {go}, {extent}");
                return gk => (b.Let($"and i1 {b.Let($"icmp slt i64 {gk}, {L.K}")}, {rowInside}"), b.Let($"add nuw nsw i64 {rowBase}, {b.Let($"mul nuw nsw i64 {gk}, {sk}")}"));
            });
        }
        return new Problem(L.Batch, L.M, L.N, L.K, Side(pa, L.SAk, L.SAm, L.SAb, baseA, L.M), Side(pb, L.SBk, L.SBn, L.SBb, baseB, L.N),
            (row, col) => L.OutputIndex(b, batchIndex, row, col));
    };

    /// <summary>One thread's load of a staging step: its K offset in the tile, its step → (inside, offset) code, where it lands in shared memory, the register holding it between steps.</summary>
    private sealed record Load(string K, Func<string, (string Inside, string Offset)> At, string[] Slots, string Register);

    private sealed record Staged(Operand Operand, string Type, List<Load> Loads);

    /// <summary>Applies <paramref name="f"/> to each of a vector's <paramref name="n"/> <paramref name="element"/>s.</summary>
    private static string MapVector(LlvmBuilder b, string vector, int n, string element, Func<string, string> f)
    {
        var type = $"<{n} x {element}>";
        if (n == 1) return f(vector);
        var r = "undef";
        for (int i = 0; i < n; i++) r = b.Let($"insertelement {type} {r}, {element} {f(b.Let($"extractelement {type} {vector}, i64 {i}"))}, i64 {i}");
        return r;
    }

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
