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
        Operation dot, GemmKernel.Layout L, Shape shape)
    {
        var tiling = (L.M + Large.Bm - 1) / Large.Bm * ((L.N + Large.Bn - 1) / Large.Bn) * L.Batch >= m.Target.Multiprocessors ? Large : Small;
        int bm = tiling.Bm, bn = tiling.Bn, threads = tiling.Threads;
        string word = $"i{shape.Bits}";
        int stride = Bk + PadBytes * 8 / shape.Bits;

        var (name, b, mc, ev, pa, pb, _, _) = GemmKernel.Begin(m, $"mma_{shape.Name}_", inputs, ops, outputs, constants, dot);
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
        var bz = Sreg.Read(mc, b, "ctaid.z");
        var baseA = b.Let($"mul nuw nsw i64 {bz}, {L.SAb}", "baseA");
        var baseB = b.Let($"mul nuw nsw i64 {bz}, {L.SBb}", "baseB");

        int accCount = tiling.TilesM * tiling.TilesN * 4;
        var accSlot = b.Alloca($"[{accCount} x float]");
        string Acc(int i) => b.Let($"getelementptr inbounds [{accCount} x float], ptr {accSlot}, i64 0, i64 {i}");
        for (int i = 0; i < accCount; i++) b.Line($"store float 0.0, ptr {Acc(i)}");

        // Staging: a tile of rows×32 elements, row-major with K contiguous, whichever operand; consecutive threads
        // read consecutive memory along the operand's contiguous dimension, 16 bytes at a time where every such
        // vector is aligned and wholly inside or outside the operand (its contiguous extent and other strides
        // multiples of the vector), else an element at a time. Software-pipelined: a step's global loads go to
        // registers before the previous step's MMAs, so their latency hides behind tensor-core work; out-of-range
        // elements load offset 0 and become zero (selects, no branches). Where each load lands in shared memory
        // does not depend on the step, so those addresses are computed once.
        int vector = VectorBytes * 8 / shape.Bits;
        var operands = new[] { Staging(true), Staging(false) };
        Staged Staging(bool isA)
        {
            var (sk, so, sb, extent) = isA ? (L.SAk, L.SAm, L.SAb, L.M) : (L.SBk, L.SBn, L.SBb, L.N);
            bool alongK = sk == 1;
            var (contiguousExtent, otherStride) = alongK ? (L.K, so) : (extent, sk);
            int v = contiguousExtent % vector == 0 && otherStride % vector == 0 && sb % vector == 0 ? vector : 1;
            int rows = isA ? bm : bn, count = Bk * rows / v, across = (alongK ? Bk : rows) / v;
            if (count % threads != 0) throw new CodegenException($"mma tile of {count} loads does not divide over {threads} threads");
            var type = v == 1 ? word : $"<{v} x {word}>";
            var smem = isA ? asm : bsm;
            var loads = new List<Load>();
            for (int q = 0; q < count / threads; q++)
            {
                var l = b.Let($"add nuw nsw i64 {tid}, {q * threads}", "l");
                var along = b.Let($"mul nuw nsw i64 {b.Let($"urem i64 {l}, {across}")}, {v}");
                var other = b.Let($"udiv i64 {l}, {across}");
                var (k, o) = alongK ? (along, other) : (other, along);
                // A vector along K is one store; one along M or N scatters to v rows.
                var slots = Enumerable.Range(0, alongK ? 1 : v).Select(e =>
                {
                    var row = e == 0 ? o : b.Let($"add nuw nsw i64 {o}, {e}");
                    return b.Let($"getelementptr inbounds {word}, ptr addrspace(3) {smem}, i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {row}, {stride}")}, {k}")}", "slot");
                }).ToArray();
                loads.Add(new Load(k, b.Let($"add nuw nsw i64 {(isA ? m0 : n0)}, {o}", "go"), slots, b.Alloca(type)));
            }
            return new Staged(isA ? pa : pb, sk, so, isA ? baseA : baseB, extent, v, type, alongK, loads);
        }

        // Global → registers for the step starting at kt.
        void Fetch(string kt)
        {
            foreach (var s in operands)
                foreach (var ld in s.Loads)
                {
                    var gk = b.Let($"add nuw nsw i64 {kt}, {ld.K}", "gk");
                    var inside = b.Let($"and i1 {b.Let($"icmp slt i64 {gk}, {L.K}")}, {b.Let($"icmp slt i64 {ld.Go}, {s.Extent}")}");
                    var off = b.Let($"add nuw nsw i64 {s.Base}, {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {gk}, {s.Sk}")}, {b.Let($"mul nuw nsw i64 {ld.Go}, {s.So}")}")}");
                    var p = b.Let($"getelementptr inbounds {word}, ptr {s.Pointer}, i64 {b.Let($"select i1 {inside}, i64 {off}, i64 0")}");
                    var raw = b.Let($"load {s.Type}, ptr {p}, align {s.Vector * shape.Bits / 8}", "raw");
                    if (shape == Tf32) raw = MapVector(b, raw, s.Vector, word, y => RoundToTf32(b, y));
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
                    if (s.AlongK || s.Vector == 1)
                        b.Line($"store {s.Type} {value}, ptr addrspace(3) {ld.Slots[0]}, align {(s.AlongK ? s.Vector : 1) * shape.Bits / 8}");
                    else
                        for (int e = 0; e < s.Vector; e++)
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

        long steps = (L.K + Bk - 1) / Bk;
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
                    GemmKernel.StoreResult(b, ev, dot, outputs[0], L, bz, row, col, () => b.Let($"load float, ptr {Acc((i * tiling.TilesN + j) * 4 + e)}", "acc"));
                }
        ev.ClearSeeds();
        b.Line("ret void");
        m.AddKernel(name, outerOutputs.Count + outerInputs.Count, b.Body());
        return new GpuKernel(name, (L.N + bn - 1) / bn, (L.M + bm - 1) / bm, L.Batch, threads, [.. outerOutputs, .. outerInputs]);
    }

    /// <summary>One thread's load of a staging step: its K and M/N offsets in the tile, where it lands in shared memory, the register holding it between steps.</summary>
    private sealed record Load(string K, string Go, string[] Slots, string Register);

    /// <summary>An operand's staging: its pointer, strides and base, extent along M or N, elements per load and their type, whether loads run along K.</summary>
    private sealed record Staged(string Pointer, long Sk, long So, string Base, long Extent, int Vector, string Type, bool AlongK, List<Load> Loads);

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
