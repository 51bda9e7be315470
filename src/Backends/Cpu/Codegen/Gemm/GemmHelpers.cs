using System.Text;
using GraphCompiler.Backends.Llvm.Codegen;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// Register and cache blocking of the f32 GEMM for one vector width. A micro-kernel keeps an
/// <see cref="MR"/> × <see cref="NR"/> block of C in registers (MR rows × NR/Lanes vectors: 24 of the 32
/// zmm registers with AVX-512, 12 of the 16 ymm with AVX2); <see cref="KC"/> rows of a packed B panel
/// (KC·NR·4 = 32 KiB) stay in L1 while the MR-row A panels stream from an <see cref="MC"/> × KC block in L2.
/// </summary>
internal sealed record GemmShape(int Lanes, int MR, int NR, int KC, int MC, int DirectAColumnTiles)
{
    /// <summary>
    /// The blocking for a GEMM whose C has <paramref name="n"/> columns. With AVX-512 and up to 128 columns (most
    /// convolutions' output channels, per group) a 24 × 16 tile reading A in place: 24 accumulators as 12 × 32 has,
    /// half the padding on a partial last tile, and each A element broadcast straight from memory into one FMA, so
    /// A needs no packing. Zen 5, 1 thread: 1×1 convolutions 56×56×256 → 64 0.97 → 0.56 ms, 56×56×64 → 64 0.24 → 0.15,
    /// 28×28×128 → 128 0.18 → 0.13, ShuffleNet's 28×28×80 → 20 (three groups) 0.20 → 0.09 against 12 × 32 with
    /// A packed; from 256 columns on, 12 × 32 with A packed is as fast or faster (each A panel is read per column tile).
    /// </summary>
    public static GemmShape For(int lanes, long n = long.MaxValue) => lanes switch
    {
        >= 16 when n <= WideTileColumns => new(16, 24, 16, 256, 384, WideTileColumns / 16),
        >= 16 => new(16, 12, 32, 256, 384, 1),
        8 => new(8, 6, 16, 256, 384, 4),
        _ => new(4, 4, 8, 256, 384, 4),
    };

    /// <summary>Most columns of C that AVX-512 computes in 24 × 16 tiles (see <see cref="For"/>).</summary>
    private const int WideTileColumns = 128;

    // DirectAColumnTiles: column tiles of C up to which the micro-kernel broadcasts A from where it lies instead of
    // packing it; a packed A panel is used once per column tile, so with few of them packing can cost more than it
    // saves. Measured where each blocking runs. AVX2 (Zen 1): M = 3136, K = 1152, N = 32 17 % faster in place,
    // N = 16 27 %, equal from N = 128 up: 4. AVX-512 (Zen 5): from two column tiles up, packed is faster (1×1
    // convolutions 56×56×256 → 64: 67 against 40 G multiply-adds/s; 28×28×320 → 128: 76 against 41); with one,
    // each packed panel is used once and in place wins on the whole (benchmark CNN, K = 27 and 144: 0.245 → 0.190 ms;
    // SqueezeNet −2.5 %, DenseNet-121 +2 %, one 56×56×64 → 32 layer +10 %): 1 for 12 × 32 tiles, which broadcast
    // each A element into a register for two FMAs; 24 × 16 tiles read A in place up to 128 columns (see For).

    /// <summary>Names the helpers of this blocking: the vector width, and the tile width when it is not two vectors.</summary>
    public string Tag => NR == 2 * Lanes ? $"{Lanes}" : $"{Lanes}n{NR}";

    public string Vector => $"<{Lanes} x float>";
    public string Suffix => $"v{Lanes}f32";
    public int Vectors => NR / Lanes;
}

/// <summary>
/// The module-level pieces of the f32 GEMM (BLIS's structure): micro-kernels for every row count
/// 1..MR, A and B packing, and a worker that one thread runs over its share of C. Kernels call
/// <see cref="Worker"/> through <see cref="Parallel"/> with a context of <see cref="Field"/>s.
/// </summary>
internal static partial class GemmHelpers
{
    /// <summary>The worker's context: i64 or pointer fields, 8 bytes each, in this order.</summary>
    /// <remarks>
    /// K may come in segments of <see cref="SegK"/> (a divisor of K) whose A columns lie
    /// <see cref="SegStrideA"/> elements apart: element (i, s·SegK + j) of A at a[i·RsA + s·SegStrideA + j·CsA]. An
    /// implicit-GEMM convolution reads each kernel row's window this way straight from the (padded) input. No
    /// K block straddles a segment. A plain GEMM has one segment (SegK = K).
    /// <see cref="Epilogue"/>, when not null, is <c>void (ptr ctx, i64 m0, i64 m1, i64 n0, i64 n1)</c>, called with
    /// <see cref="EpilogueCtx"/> on each block of C once its last K block is done: the kernel's elementwise epilogue
    /// (bias, activation) rewrites the block in place while it is still in cache. Its columns are those of batch
    /// element bi's C shifted by bi · <see cref="EpilogueBatchColumns"/>: batches side by side in one output (the
    /// groups of a grouped convolution) share one epilogue over the whole width; its rows are shifted by
    /// bi · <see cref="EpilogueBatchRows"/>: batches one below the other (a convolution's output rows) share one too.
    /// <see cref="PackedBatches"/> is 1 where every batch has its own pre-packed B, 0 where they share one.
    /// <see cref="PackA"/>, when not null, is <c>void (ptr ctx, ptr dst, i64 m0, i64 k0, i64 mc, i64 kc)</c>, called with
    /// <see cref="PackACtx"/> instead of packing A from memory: it writes rows m0.. and columns k0.. of A, computed, in the
    /// packed layout of <c>@gc.sgemm.packA</c> (a convolution's input computed while it is packed: a batch norm and ReLU
    /// before a 1 × 1 convolution, read from NCHW). A is then never read from <see cref="A"/>.
    /// </remarks>
    public enum Field { A, RsA, CsA, BsA, B, RsB, CsB, BsB, BPacked, C, Ldc, BsC, M, N, K, Batch, Split, NPad, Workspace, WorkspaceStride, SegK, SegStrideA, Epilogue, EpilogueCtx, EpilogueBatchColumns, EpilogueBatchRows, PackedBatches, PackA, PackACtx, StreamAhead, Count }

    /// <summary>
    /// Bytes of packing space one thread needs: an MC × KC block of A (unless the worker reads A in place), and
    /// (unless B comes pre-packed) KC rows of B's padded width; at least one cache line, so that the allocation
    /// never asks for 0 bytes. The caller reserves it for every part in the kernel's scratch (the arena), so that
    /// no call maps fresh memory.
    /// </summary>
    public static long WorkspaceBytes(GemmShape g, long k, long npad, bool prepacked, bool directA)
    {
        long kc = Math.Max(1, Math.Min(k, g.KC));
        long a = directA ? 0 : (g.MC * kc * 4 + 63) / 64 * 64;
        long b = prepacked ? 0 : (kc * npad * 4 + 63) / 64 * 64;
        return Math.Max(a + b, 64);
    }

    private static string Get(LlvmBuilder b, Field f, string type = "i64")
    {
        var p = b.Let($"getelementptr inbounds i64, ptr %ctx, i64 {(int)f}", "f");
        return b.Let($"load {type}, ptr {p}", f.ToString().ToLowerInvariant());
    }

    private static string Min(LlvmBuilder b, string x, string y) => b.Let($"select i1 {b.Let($"icmp slt i64 {x}, {y}")}, i64 {x}, i64 {y}", "min");

    /// <summary>How the worker's parts divide the GEMM (<see cref="Field.Split"/>).</summary>
    public enum Split { Columns = 0, Rows = 1, Batches = 2 }

    /// <summary>Rows in the units a split of C by rows hands out (see <see cref="Worker"/>).</summary>
    internal const int SplitRows = 8;

    private static string CeilDiv(LlvmBuilder b, string x, long d) => b.Let($"udiv i64 {b.Let($"add i64 {x}, {d - 1}")}, {d}", "q");

    /// <summary>The vector FMA and masked load/store of the blocking's width.</summary>
    private static void DeclareVectorIntrinsics(ModuleContext module, GemmShape g)
    {
        var vt = g.Vector;
        module.Declare($"declare {vt} @llvm.fma.{g.Suffix}({vt}, {vt}, {vt})");
        module.Declare($"declare {vt} @llvm.masked.load.{g.Suffix}.p0(ptr, i32, <{g.Lanes} x i1>, {vt})");
        module.Declare($"declare void @llvm.masked.store.{g.Suffix}.p0({vt}, ptr, i32, <{g.Lanes} x i1>)");
    }

    private static string Offset(LlvmBuilder b, string ptr, string floats) => b.Let($"getelementptr inbounds float, ptr {ptr}, i64 {floats}", "p");

    /// <summary>
    /// The fewest rows whose micro-kernel prefetches the next B panel: with fewer, a step is a few multiply-adds per B
    /// load and the prefetches take load slots the stream needs (MLP at batch 1, one row: 0.033 → 0.038–0.051 ms).
    /// </summary>
    private const int PrefetchRows = 2;

    /// <summary>
    /// How far ahead in B's packed stream a one-row kernel prefetches into L1, in floats (4 KiB: 32 steps of a 32-wide
    /// panel), when B comes from the last-level cache. One row of A is a GEMV: each B element is used once, the whole
    /// of B streams from L3 or memory, and the hardware prefetcher alone left a 2.7 MB stream at 80 % of the bandwidth
    /// a plain read reaches. A C model of the batch-1 MLP's two layers on Zen 5: 29.2 µs without, 24.4 at 2 KiB, 24.2
    /// at 4 KiB, 24.7 at 8 KiB. The packed panels follow one another, so the prefetch runs on into the next panel and
    /// K block. The worker passes the kernel <c>b</c> + this (<see cref="Field.StreamAhead"/>) as <c>pf</c>.
    /// </summary>
    public const long CacheStreamAheadFloats = 1024;

    /// <summary>
    /// The same from memory (16 KiB): a miss there takes several times as long, and 4 KiB ahead no longer covers it.
    /// AlexNet, whose three batch-1 dense layers stream 234 MB: 11–15 % faster at one and two threads (`ab`, every
    /// one-row kernel at 16 KiB); the batch-1 MLP, whose 2.7 MB stay in L3, 7 % slower, so only for a B no cache holds
    /// (<see cref="MemoryStreamBytes"/>): AlexNet then 1.4–5.5 % faster at one thread in a slower phase, the MLP unchanged.
    /// A far <c>prefetcht1</c> on top of the near one instead: AlexNet unchanged, the MLP 25 % slower.
    /// </summary>
    public const long MemoryStreamAheadFloats = 4096;

    /// <summary>
    /// Packed B bytes from which a one-row GEMM's weights are taken to come from memory, not a cache, on every call:
    /// more than the last-level cache a core shares on the CPUs this targets (Zen 5: 32 MB per 8-core CCD; Intel
    /// servers: 1.5–2 MB per core), once the rest of a model's weights have streamed through it. Not queried: CPUID's
    /// L3 size is the package's (508 MB on this 16-CCD EPYC's VM), not what one core can keep. AlexNet's and VGG's
    /// dense layers (16–411 MB) are over it; the MLP's (≤ 1.6 MB), MobileNet's and ResNet's classifiers (5–8 MB) under.
    /// </summary>
    public const long MemoryStreamBytes = 12L << 20;

    /// <summary>
    /// <c>void @gc.sgemm.ukrW.mR(i64 kc, ptr a, ptr b, ptr c, i64 ldc, i64 nvalid, i1 accumulate, i64 lda, ptr pf)</c>:
    /// C[0..R, 0..nvalid) (+)= A·B over kc, B packed as kc × NR; A packed as kc × R, or with
    /// <paramref name="directA"/> read where it is (element (i, k) at a[i·lda + k]) and broadcast from
    /// memory, as MLAS does. With few rows the FMA chains would wait on their latency, so k is split over
    /// several accumulator sets then summed. Each step also prefetches into L2 the same offset of <c>pf</c>, the
    /// B panel the worker reads next: a model's weights come from memory, not cache (in one process, one call
    /// after another, every layer's weights were last read a whole call ago), and the hardware's stream prefetch
    /// does not run ahead into the next panel while the tiles of this one re-read it. ResNet-50, Inception,
    /// SqueezeNet, DenseNet: 6–9 % faster at 1 and 2 threads; a GEMM alone, whose B stays in cache: unchanged. Only
    /// kernels of <see cref="PrefetchRows"/> rows or more prefetch so; a one-row kernel, which streams B, gets as
    /// <c>pf</c> its own B some way ahead (<see cref="CacheStreamAheadFloats"/>) and prefetches that into L1.
    /// </summary>
    public static string MicroKernel(ModuleContext module, GemmShape g, int rows, bool directA = false, bool narrow = false)
    {
        var name = $"gc.sgemm.ukr{g.Tag}{(directA ? "d" : "")}{(narrow ? "n" : "")}.m{rows}";
        if (!module.FirstHelper(name)) return name;
        var vt = g.Vector;
        DeclareVectorIntrinsics(module, g);
        // Narrow: the last column tile of C when at most one vector of it is valid (N = 20 is 16 + 4): one vector
        // of each packed B row (rows stay NR apart), half the multiply-adds of a full tile.
        int vecs = narrow ? 1 : g.Vectors;
        int sets = Math.Max(1, Math.Min(4, 8 / (rows * vecs)));
        var b = new LlvmBuilder();
        var acc = new string[sets, rows, vecs];
        for (int s = 0; s < sets; s++)
            for (int i = 0; i < rows; i++)
                for (int v = 0; v < vecs; v++)
                {
                    acc[s, i, v] = b.Alloca(vt);
                    b.Line($"store {vt} zeroinitializer, ptr {acc[s, i, v]}");
                }

        // C's rows are far apart: fetch the tile now so that the final read-modify-write does not wait on memory.
        module.Declare("declare void @llvm.prefetch.p0(ptr, i32, i32, i32)");
        for (int i = 0; i < rows; i++)
        {
            var row = b.Let($"mul i64 %ldc, {i}", "row");
            for (int v = 0; v < vecs; v++)
                b.Line($"call void @llvm.prefetch.p0(ptr {Offset(b, "%c", v == 0 ? row : b.Let($"add i64 {row}, {v * g.Lanes}", "col"))}, i32 1, i32 3, i32 1)");
        }

        void Step(int s, string k)
        {
            var bv = new string[vecs];
            var brow = b.Let($"mul i64 {k}, {g.NR}", "bk");
            for (int v = 0; v < vecs; v++)
            {
                var off = v == 0 ? brow : b.Let($"add i64 {brow}, {v * g.Lanes}", "bk");
                bv[v] = b.Let($"load {vt}, ptr {Offset(b, "%b", off)}, align 4", "bv");
                if (rows >= PrefetchRows) b.Line($"call void @llvm.prefetch.p0(ptr {Offset(b, "%pf", off)}, i32 0, i32 2, i32 1)");
                // Not inbounds: near the end of B the address is past it, which a prefetch may be and a GEP inbounds may not.
                else if (!narrow) b.Line($"call void @llvm.prefetch.p0(ptr {b.Let($"getelementptr float, ptr %pf, i64 {off}", "p")}, i32 0, i32 3, i32 1)");
            }
            var arow = directA ? k : b.Let($"mul i64 {k}, {rows}", "ak");
            for (int i = 0; i < rows; i++)
            {
                var at = i == 0 ? arow : b.Let($"add i64 {arow}, {(directA ? b.Let($"mul i64 %lda, {i}", "ar") : $"{i}")}", "ak");
                var a = b.Let($"load float, ptr {Offset(b, "%a", at)}", "a");
                var one = b.Let($"insertelement {vt} poison, float {a}, i64 0", "as");
                var splat = b.Let($"shufflevector {vt} {one}, {vt} poison, <{g.Lanes} x i32> zeroinitializer", "as");
                for (int v = 0; v < vecs; v++)
                {
                    var cur = b.Let($"load {vt}, ptr {acc[s, i, v]}", "c");
                    var next = b.Let($"call {vt} @llvm.fma.{g.Suffix}({vt} {splat}, {vt} {bv[v]}, {vt} {cur})", "c");
                    b.Line($"store {vt} {next}, ptr {acc[s, i, v]}");
                }
            }
        }

        var groups = sets == 1 ? "%kc" : b.Let($"udiv i64 %kc, {sets}", "groups");
        b.For("0", groups, gi =>
        {
            if (sets == 1)
            {
                Step(0, gi);
                return;
            }
            var k0 = b.Let($"mul i64 {gi}, {sets}", "k");
            for (int s = 0; s < sets; s++) Step(s, s == 0 ? k0 : b.Let($"add i64 {k0}, {s}", "k"));
        }, "k");
        if (sets > 1)
        {
            b.For(b.Let($"mul i64 {groups}, {sets}", "k"), "%kc", k => Step(0, k), "kr");
            for (int i = 0; i < rows; i++)
                for (int v = 0; v < vecs; v++)
                {
                    var sum = b.Let($"load {vt}, ptr {acc[0, i, v]}", "c");
                    for (int s = 1; s < sets; s++) sum = b.Let($"fadd {vt} {sum}, {b.Let($"load {vt}, ptr {acc[s, i, v]}", "c")}", "c");
                    b.Line($"store {vt} {sum}, ptr {acc[0, i, v]}");
                }
        }

        var result = new string[rows, vecs];
        var ptrs = new string[rows, vecs];
        for (int i = 0; i < rows; i++)
        {
            var row = b.Let($"mul i64 %ldc, {i}", "row");
            for (int v = 0; v < vecs; v++)
            {
                result[i, v] = b.Let($"load {vt}, ptr {acc[0, i, v]}", "r");
                ptrs[i, v] = Offset(b, "%c", v == 0 ? row : b.Let($"add i64 {row}, {v * g.Lanes}", "col"));
            }
        }
        var masks = new string[vecs];
        var lanes = new StringBuilder();
        for (int v = 0; v < vecs; v++)
        {
            lanes.Clear();
            for (int l = 0; l < g.Lanes; l++) lanes.Append(l == 0 ? "" : ", ").Append("i64 ").Append(v * g.Lanes + l);
            var limit = b.Let($"insertelement <{g.Lanes} x i64> poison, i64 %nvalid, i64 0", "n");
            var limits = b.Let($"shufflevector <{g.Lanes} x i64> {limit}, <{g.Lanes} x i64> poison, <{g.Lanes} x i32> zeroinitializer", "n");
            masks[v] = b.Let($"icmp ult <{g.Lanes} x i64> <{lanes}>, {limits}", "mask");
        }
        var full = b.Let($"icmp eq i64 %nvalid, {g.NR}", "full");
        void Store(string label, bool masked, bool accumulate)
        {
            b.Block(label);
            for (int i = 0; i < rows; i++)
                for (int v = 0; v < vecs; v++)
                {
                    var x = result[i, v];
                    if (accumulate)
                    {
                        var old = masked
                            ? b.Let($"call {vt} @llvm.masked.load.{g.Suffix}.p0(ptr {ptrs[i, v]}, i32 4, <{g.Lanes} x i1> {masks[v]}, {vt} zeroinitializer)", "old")
                            : b.Let($"load {vt}, ptr {ptrs[i, v]}, align 4", "old");
                        x = b.Let($"fadd {vt} {old}, {x}", "r");
                    }
                    if (masked) b.Line($"call void @llvm.masked.store.{g.Suffix}.p0({vt} {x}, ptr {ptrs[i, v]}, i32 4, <{g.Lanes} x i1> {masks[v]})");
                    else b.Line($"store {vt} {x}, ptr {ptrs[i, v]}, align 4");
                }
            b.Line("ret void");
        }
        b.CondBr(full, "full", "part");
        b.Block("full");
        b.CondBr("%accumulate", "full.acc", "full.set");
        b.Block("part");
        b.CondBr("%accumulate", "part.acc", "part.set");
        Store("full.acc", masked: false, accumulate: true);
        Store("full.set", masked: false, accumulate: false);
        Store("part.acc", masked: true, accumulate: true);
        Store("part.set", masked: true, accumulate: false);
        module.AddLibraryFunction($"define internal void @{name}(i64 %kc, ptr noalias %a, ptr noalias %b, ptr noalias %c, i64 %ldc, i64 %nvalid, i1 %accumulate, i64 %lda, ptr %pf) nounwind {{\n{b.Body()}}}");
        return name;
    }

    /// <summary>
    /// <c>void @gc.sgemm.packA.R(ptr dst, ptr a, i64 rs, i64 cs, i64 mc, i64 kc)</c>: the mc × kc block
    /// of A (element (i, k) at a[i·rs + k·cs]) as panels of R rows, each kc × R (the last may be shorter).
    /// </summary>
    public static string PackA(ModuleContext module, GemmShape g)
    {
        var name = $"gc.sgemm.packA.{g.MR}";
        if (!module.FirstHelper(name)) return name;
        DeclareVectorIntrinsics(module, g);
        var b = new LlvmBuilder();
        var panels = CeilDiv(b, "%mc", g.MR);
        b.Line("%unit = icmp eq i64 %cs, 1");
        b.For("0", panels, q =>
        {
            var p0 = b.Let($"mul i64 {q}, {g.MR}", "p0");
            var rows = Min(b, $"{g.MR}", b.Let($"sub i64 %mc, {p0}", "r"));
            var dst = Offset(b, "%dst", b.Let($"mul i64 {p0}, %kc", "o"));
            var src = Offset(b, "%a", b.Let($"mul i64 {p0}, %rs", "o"));
            var isFull = b.Let($"icmp eq i64 {rows}, {g.MR}", "isfull");
            var fullL = b.FreshLabel("full");
            var partL = b.FreshLabel("part");
            var join = b.FreshLabel("join");
            b.CondBr(isFull, fullL, partL);
            b.Block(fullL);
            // Rows along k (A's usual layout): whole blocks of Lanes columns transposed in registers, the rest one by one.
            var kv = b.Let($"select i1 %unit, i64 {b.Let($"and i64 %kc, {-g.Lanes}")}, i64 0", "kv");
            b.For("0", kv, k0 => TransposeBlock(b, g, src, dst, k0), "pkv", step: $"{g.Lanes}");
            b.For(kv, "%kc", k =>
            {
                var kcol = b.Let($"mul i64 {k}, %cs", "kc");
                var drow = b.Let($"mul i64 {k}, {g.MR}", "dk");
                for (int i = 0; i < g.MR; i++)
                {
                    var x = b.Let($"load float, ptr {Offset(b, src, b.Let($"add i64 {kcol}, {b.Let($"mul i64 %rs, {i}", "o")}", "o"))}", "x");
                    b.Line($"store float {x}, ptr {Offset(b, dst, b.Let($"add i64 {drow}, {i}", "o"))}");
                }
            }, "pk");
            b.Br(join);
            b.Block(partL);
            b.For("0", "%kc", k =>
            {
                var kcol = b.Let($"mul i64 {k}, %cs", "kc");
                var drow = b.Let($"mul i64 {k}, {rows}", "dk");
                b.For("0", rows, i =>
                {
                    var x = b.Let($"load float, ptr {Offset(b, src, b.Let($"add i64 {kcol}, {b.Let($"mul i64 %rs, {i}", "o")}", "o"))}", "x");
                    b.Line($"store float {x}, ptr {Offset(b, dst, b.Let($"add i64 {drow}, {i}", "o"))}");
                }, "pi");
            }, "pk");
            b.Br(join);
            b.Block(join);
        }, "pa");
        b.Line("ret void");
        module.AddLibraryFunction($"define internal void @{name}(ptr noalias %dst, ptr noalias %a, i64 %rs, i64 %cs, i64 %mc, i64 %kc) nounwind {{\n{b.Body()}}}");
        return name;
    }

    /// <summary>
    /// Packs columns k0..k0+Lanes of a full panel of MR rows (A's k stride 1), Lanes rows at a time: each row's Lanes
    /// columns are one vector load, the rows (zeros up to Lanes) are transposed in registers (<see cref="RegisterTranspose"/>),
    /// and column k's lanes are stored at dst + k·MR + the group's first row (masked to the
    /// group's rows when fewer than Lanes). LLVM vectorised the one-by-one copy with scatters: 5.6 % of the MLP's time.
    /// </summary>
    private static void TransposeBlock(LlvmBuilder b, GemmShape g, string src, string dst, string k0)
    {
        int e = g.Lanes;
        var vt = g.Vector;
        var first = b.Let($"mul i64 {k0}, {g.MR}", "o");
        for (int g0 = 0; g0 < g.MR; g0 += e)
        {
            int rows = Math.Min(e, g.MR - g0);
            var r = RegisterTranspose.Emit(b, [.. Enumerable.Range(0, e).Select(i => i >= rows ? "zeroinitializer"
                : b.Let($"load {vt}, ptr {Offset(b, src, b.Let($"add i64 {k0}, {b.Let($"mul i64 %rs, {g0 + i}", "o")}", "o"))}, align 4", "row"))]);
            var mask = string.Join(", ", Enumerable.Range(0, e).Select(l => l < rows ? "i1 true" : "i1 false"));
            for (int j = 0; j < e; j++)
            {
                var at = Offset(b, dst, b.Let($"add i64 {first}, {j * g.MR + g0}", "o"));
                if (rows == e) b.Line($"store {vt} {r[j]}, ptr {at}, align 4");
                else b.Line($"call void @llvm.masked.store.{g.Suffix}.p0({vt} {r[j]}, ptr {at}, i32 4, <{e} x i1> <{mask}>)");
            }
        }
    }

    /// <summary>
    /// <c>void @gc.sgemm.packB.NR(ptr dst, ptr b, i64 rs, i64 cs, i64 kc, i64 nc)</c>: the kc × nc block of
    /// B (element (k, j) at b[k·rs + j·cs]) as panels of NR columns, each kc × NR, zero-padded past nc.
    /// </summary>
    public static string PackB(ModuleContext module, GemmShape g)
    {
        var name = $"gc.sgemm.packB.{g.NR}";
        if (!module.FirstHelper(name)) return name;
        var b = new LlvmBuilder();
        var panels = CeilDiv(b, "%nc", g.NR);
        var unit = b.Let("icmp eq i64 %cs, 1", "unit");
        b.For("0", panels, q =>
        {
            var j0 = b.Let($"mul i64 {q}, {g.NR}", "j0");
            var cols = Min(b, $"{g.NR}", b.Let($"sub i64 %nc, {j0}", "c"));
            var dst = Offset(b, "%dst", b.Let($"mul i64 {j0}, %kc", "o"));
            var src = Offset(b, "%b", b.Let($"mul i64 {j0}, %cs", "o"));
            var fast = b.Let($"and i1 {unit}, {b.Let($"icmp eq i64 {cols}, {g.NR}", "isfull")}", "fast");
            var fastL = b.FreshLabel("fast");
            var slowL = b.FreshLabel("slow");
            var join = b.FreshLabel("join");
            b.CondBr(fast, fastL, slowL);
            b.Block(fastL);
            b.For("0", "%kc", k =>
            {
                var s = Offset(b, src, b.Let($"mul i64 {k}, %rs", "o"));
                var d = Offset(b, dst, b.Let($"mul i64 {k}, {g.NR}", "o"));
                for (int v = 0; v < g.Vectors; v++)
                {
                    var x = b.Let($"load {g.Vector}, ptr {(v == 0 ? s : Offset(b, s, $"{v * g.Lanes}"))}, align 4", "x");
                    b.Line($"store {g.Vector} {x}, ptr {(v == 0 ? d : Offset(b, d, $"{v * g.Lanes}"))}, align 4");
                }
            }, "pk");
            b.Br(join);
            b.Block(slowL);
            b.For("0", "%kc", k =>
            {
                var s = Offset(b, src, b.Let($"mul i64 {k}, %rs", "o"));
                var d = Offset(b, dst, b.Let($"mul i64 {k}, {g.NR}", "o"));
                b.For("0", $"{g.NR}", j =>
                {
                    var inside = b.Let($"icmp slt i64 {j}, {cols}", "in");
                    var jj = b.Let($"select i1 {inside}, i64 {j}, i64 0", "j");
                    var x = b.Let($"load float, ptr {Offset(b, s, b.Let($"mul i64 {jj}, %cs", "o"))}", "x");
                    var y = b.Let($"select i1 {inside}, float {x}, float 0.0", "x");
                    b.Line($"store float {y}, ptr {Offset(b, d, j)}");
                }, "pj");
            }, "pk");
            b.Br(join);
            b.Block(join);
        }, "pb");
        b.Line("ret void");
        module.AddLibraryFunction($"define internal void @{name}(ptr noalias %dst, ptr noalias %b, i64 %rs, i64 %cs, i64 %kc, i64 %nc) nounwind {{\n{b.Body()}}}");
        return name;
    }

    /// <summary>
    /// <c>void @gc.sgemm.worker.W(ptr ctx, i32 t, i32 n)</c>: thread t of n computes its share of every
    /// batch's C = A·B (whole batches, rows or columns in whole micro-tiles, as <see cref="Field.Split"/> says). B comes
    /// pre-packed (<see cref="Field.BPacked"/>, laid out as <see cref="PrepackB"/> does) or is packed here.
    /// A is packed per MC × KC block, or with <paramref name="directA"/> (<c>worker.Wd</c>, A's k stride 1)
    /// read in place by the micro-kernels. Packing space is thread t's slice of <see cref="Field.Workspace"/>.
    /// </summary>
    public static string Worker(ModuleContext module, GemmShape g, bool directA = false)
    {
        var name = $"gc.sgemm.worker.{g.Tag}{(directA ? "d" : "")}";
        if (!module.FirstHelper(name)) return name;
        // The kernel library's text is its cache key: a model that needs one variant gets both, so models share one library.
        module.KeepLibraryEntry(name);
        Worker(module, g, !directA);
        module.Declare("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)");
        var packA = directA ? null : PackA(module, g);
        var packB = PackB(module, g);
        var kernels = Enumerable.Range(1, g.MR).Select(r => MicroKernel(module, g, r, directA)).ToArray();
        var narrowKernels = g.Vectors > 1 ? Enumerable.Range(1, g.MR).Select(r => MicroKernel(module, g, r, directA, narrow: true)).ToArray() : null;
        var b = new LlvmBuilder();
        var (A, rsA, csA, bsA) = (Get(b, Field.A, "ptr"), Get(b, Field.RsA), Get(b, Field.CsA), Get(b, Field.BsA));
        var (B, rsB, csB, bsB) = (Get(b, Field.B, "ptr"), Get(b, Field.RsB), Get(b, Field.CsB), Get(b, Field.BsB));
        var (bpre, C, ldc, bsC) = (Get(b, Field.BPacked, "ptr"), Get(b, Field.C, "ptr"), Get(b, Field.Ldc), Get(b, Field.BsC));
        var (M, N, K, batch) = (Get(b, Field.M), Get(b, Field.N), Get(b, Field.K), Get(b, Field.Batch));
        var (split, npad) = (Get(b, Field.Split), Get(b, Field.NPad));
        var byRows = b.Let($"icmp eq i64 {split}, {(int)Split.Rows}", "byrows");
        var byBatch = b.Let($"icmp eq i64 {split}, {(int)Split.Batches}", "bybatch");
        var wholeRows = b.Let($"or i1 {byRows}, {byBatch}", "wholerows");

        // This thread's share: whole micro-tiles of columns, or runs of SplitRows rows (a part may end in a partial
        // row tile, which costs in proportion to its rows: 49 rows over two threads are 25 and 24, not 48 and 1).
        var tile = b.Let($"select i1 {byBatch}, i64 1, i64 {b.Let($"select i1 {byRows}, i64 {Math.Min(SplitRows, g.MR)}, i64 {g.NR}")}", "tile");
        var extent = b.Let($"select i1 {byBatch}, i64 {batch}, i64 {b.Let($"select i1 {byRows}, i64 {M}, i64 {N}")}", "extent");
        var units = b.Let($"udiv i64 {b.Let($"add i64 {extent}, {b.Let($"sub i64 {tile}, 1")}")}, {tile}", "units");
        var n64 = b.Let("zext i32 %n to i64", "nt");
        var t64 = b.Let("zext i32 %t to i64", "t");
        var per = b.Let($"udiv i64 {b.Let($"add i64 {units}, {b.Let($"sub i64 {n64}, 1")}")}, {n64}", "per");
        var u0 = b.Let($"mul i64 {t64}, {per}", "u0");
        var u1 = Min(b, units, b.Let($"add i64 {u0}, {per}"));
        var lo = Min(b, extent, b.Let($"mul i64 {u0}, {tile}"));
        var hi = Min(b, extent, b.Let($"mul i64 {u1}, {tile}"));
        var m0 = b.Let($"select i1 {byRows}, i64 {lo}, i64 0", "m0");
        var m1 = b.Let($"select i1 {byRows}, i64 {hi}, i64 {M}", "m1");
        var n0 = b.Let($"select i1 {wholeRows}, i64 0, i64 {lo}", "n0");
        var n1 = b.Let($"select i1 {wholeRows}, i64 {N}, i64 {hi}", "n1");
        var b0 = b.Let($"select i1 {byBatch}, i64 {lo}, i64 0", "b0");
        var b1 = b.Let($"select i1 {byBatch}, i64 {hi}, i64 {batch}", "b1");
        var empty = b.Let($"or i1 {b.Let($"or i1 {b.Let($"icmp sge i64 {m0}, {m1}")}, {b.Let($"icmp sge i64 {n0}, {n1}")}")}, {b.Let($"icmp sge i64 {b0}, {b1}")}", "empty");
        b.CondBr(empty, "done", "work");
        b.Block("work");
        var nc = b.Let($"sub i64 {n1}, {n0}", "nc");
        var (ws, wsStride) = (Get(b, Field.Workspace, "ptr"), Get(b, Field.WorkspaceStride));
        // Packing space per thread slot: parts running at the same time have different slots.
        var aBuf = Offset(b, ws, b.Let($"mul i64 {b.Let("zext i32 %slot to i64", "slot")}, {b.Let($"udiv i64 {wsStride}, 4")}"));
        var kcmax = Min(b, K, $"{g.KC}");
        // B's packing space follows A's (none when A is read in place), as WorkspaceBytes lays them out.
        var bBuf = packA is null ? aBuf : Offset(b, aBuf, b.Let($"and i64 {b.Let($"add i64 {b.Let($"mul i64 {kcmax}, {g.MC}")}, 15")}, -16", "afloats"));
        var needB = b.Let($"icmp eq ptr {bpre}, null", "needb");
        var (epilogue, epilogueCtx) = (Get(b, Field.Epilogue, "ptr"), Get(b, Field.EpilogueCtx, "ptr"));
        var hasEpilogue = b.Let($"icmp ne ptr {epilogue}, null", "hasepi");
        var epilogueBatchColumns = Get(b, Field.EpilogueBatchColumns);
        var epilogueBatchRows = Get(b, Field.EpilogueBatchRows);
        var packedBatches = Get(b, Field.PackedBatches);
        var (customPack, customCtx) = (Get(b, Field.PackA, "ptr"), Get(b, Field.PackACtx, "ptr"));
        var streamAhead = Get(b, Field.StreamAhead);
        var computedA = b.Let($"icmp ne ptr {customPack}, null", "computeda");
        b.For(b0, b1, bi =>
        {
            var epilogueShift = b.Let($"mul i64 {bi}, {epilogueBatchColumns}", "epishift");
            var epilogueRows = b.Let($"mul i64 {bi}, {epilogueBatchRows}", "epirows");
            var packedBatch = b.Let($"mul i64 {bi}, {packedBatches}", "pbatch");
            var Ab = Offset(b, A, b.Let($"mul i64 {bi}, {bsA}"));
            var Bb = Offset(b, B, b.Let($"mul i64 {bi}, {bsB}"));
            var Cb = Offset(b, C, b.Let($"mul i64 {bi}, {bsC}"));
            var noK = b.Let($"icmp eq i64 {K}, 0", "nok");
            var zeroL = b.FreshLabel("zero");
            var mainL = b.FreshLabel("main");
            var nextL = b.FreshLabel("next");
            b.CondBr(noK, zeroL, mainL);
            b.Block(zeroL);
            b.For(m0, m1, i =>
            {
                var row = Offset(b, Cb, b.Let($"add i64 {b.Let($"mul i64 {i}, {ldc}")}, {n0}"));
                b.Line($"call void @llvm.memset.p0.i64(ptr {row}, i8 0, i64 {b.Let($"mul i64 {nc}, 4")}, i1 false)");
            }, "z");
            b.Br(nextL);
            b.Block(mainL);
            var (segK, segStrideA) = (Get(b, Field.SegK), Get(b, Field.SegStrideA));
            // K blocks of equal size (at most KC) per segment: K = 288 is two blocks of 144, not 256 and a 32-row tail.
            var blocks = CeilDiv(b, segK, g.KC);
            var kcb = b.Let($"udiv i64 {b.Let($"add i64 {segK}, {b.Let($"sub i64 {blocks}, 1")}")}, {blocks}", "kcb");
            b.For("0", b.Let($"udiv i64 {K}, {segK}", "segs"), si =>
            b.For("0", blocks, pq =>
            {
                var pj = b.Let($"mul i64 {pq}, {kcb}", "pj");
                var pc = b.Let($"add i64 {b.Let($"mul i64 {si}, {segK}")}, {pj}", "pc");
                var kc = Min(b, kcb, b.Let($"sub i64 {segK}, {pj}"));
                var accumulate = b.Let($"icmp ne i64 {pc}, 0", "acc");
                var acol = b.Let($"add i64 {b.Let($"mul i64 {si}, {segStrideA}")}, {b.Let($"mul i64 {pj}, {csA}")}", "acol");
                // Pre-packed B: block pc of batch bi starts at (bi·K + pc)·NPad floats (pc·NPad when the batches share
                // it), this thread's panels at n0·kc.
                var pre = Offset(b, bpre, b.Let($"add i64 {b.Let($"mul i64 {b.Let($"add i64 {b.Let($"mul i64 {packedBatch}, {K}")}, {pc}")}, {npad}")}, {b.Let($"mul i64 {n0}, {kc}")}"));
                var packL = b.FreshLabel("packb");
                var joinL = b.FreshLabel("packed");
                var from = b.CurrentBlock;
                b.CondBr(needB, packL, joinL);
                b.Block(packL);
                var src = Offset(b, Bb, b.Let($"add i64 {b.Let($"mul i64 {pc}, {rsB}")}, {b.Let($"mul i64 {n0}, {csB}")}"));
                b.Line($"call void @{packB}(ptr {bBuf}, ptr {src}, i64 {rsB}, i64 {csB}, i64 {kc}, i64 {nc})");
                b.Br(joinL);
                b.Block(joinL);
                var Bp = b.Let($"phi ptr [ {pre}, %{from} ], [ {bBuf}, %{packL} ]", "bp");
                b.For("0", CeilDiv(b, b.Let($"sub i64 {m1}, {m0}"), g.MC), iq =>
                {
                    var ic = b.Let($"add i64 {m0}, {b.Let($"mul i64 {iq}, {g.MC}")}", "ic");
                    var mc = Min(b, $"{g.MC}", b.Let($"sub i64 {m1}, {ic}"));
                    var asrc = Offset(b, Ab, b.Let($"add i64 {b.Let($"mul i64 {ic}, {rsA}")}, {acol}"));
                    if (packA is not null)
                        b.IfElse(computedA,
                            () => b.Line($"call void {customPack}(ptr {customCtx}, ptr {aBuf}, i64 {ic}, i64 {pc}, i64 {mc}, i64 {kc})"),
                            () => b.Line($"call void @{packA}(ptr {aBuf}, ptr {asrc}, i64 {rsA}, i64 {csA}, i64 {mc}, i64 {kc})"), "packa");
                    b.For("0", CeilDiv(b, nc, g.NR), jq =>
                    {
                        var jr = b.Let($"mul i64 {jq}, {g.NR}", "jr");
                        var nv = Min(b, $"{g.NR}", b.Let($"sub i64 {nc}, {jr}"));
                        var bpanel = Offset(b, Bp, b.Let($"mul i64 {jr}, {kc}"));
                        var nextPanel = Offset(b, bpanel, b.Let($"mul i64 {kc}, {g.NR}"));
                        var ccol = b.Let($"add i64 {n0}, {jr}", "ccol");
                        b.For("0", CeilDiv(b, mc, g.MR), rq =>
                        {
                            var ir = b.Let($"mul i64 {rq}, {g.MR}", "ir");
                            var mr = Min(b, $"{g.MR}", b.Let($"sub i64 {mc}, {ir}"));
                            var apanel = packA is null ? Offset(b, asrc, b.Let($"mul i64 {ir}, {rsA}")) : Offset(b, aBuf, b.Let($"mul i64 {ir}, {kc}"));
                            var crow = b.Let($"add i64 {ic}, {ir}", "crow");
                            var cptr = Offset(b, Cb, b.Let($"add i64 {b.Let($"mul i64 {crow}, {ldc}")}, {ccol}"));
                            // One call per row count: the full-tile kernel for all but the last panel; a narrow
                            // kernel for a last column tile of at most one vector.
                            var after = b.FreshLabel("tile.done");
                            void Calls(string[] table)
                            {
                                var labels = Enumerable.Range(1, g.MR).Select(r => b.FreshLabel($"m{r}.")).ToArray();
                                var cases = string.Join(" ", Enumerable.Range(1, g.MR - 1).Select(r => $"i64 {r}, label %{labels[r - 1]}"));
                                b.Line($"switch i64 {mr}, label %{labels[g.MR - 1]} [ {cases} ]");
                                for (int r = 1; r <= g.MR; r++)
                                {
                                    b.Block(labels[r - 1]);
                                    // One row streams B: its kernel prefetches StreamAhead floats ahead of where it reads.
                                    var pf = r == 1 ? b.Let($"getelementptr float, ptr {bpanel}, i64 {streamAhead}", "stream") : nextPanel;
                                    b.Line($"call void @{table[r - 1]}(i64 {kc}, ptr {apanel}, ptr {bpanel}, ptr {cptr}, i64 {ldc}, i64 {nv}, i1 {accumulate}, i64 {rsA}, ptr {pf})");
                                    b.Br(after);
                                }
                            }
                            if (narrowKernels is null) Calls(kernels);
                            else
                            {
                                var (wideL, narrowL) = (b.FreshLabel("tile.wide"), b.FreshLabel("tile.narrow"));
                                b.CondBr(b.Let($"icmp ule i64 {nv}, {g.Lanes}", "narrow"), narrowL, wideL);
                                b.Block(wideL);
                                Calls(kernels);
                                b.Block(narrowL);
                                Calls(narrowKernels);
                            }
                            b.Block(after);
                        }, "ir");
                    }, "jr");
                    // This block of C is final after the last K block: the epilogue, if any, while it is in cache.
                    var (epiL, epiNext) = (b.FreshLabel("epilogue"), b.FreshLabel("epilogue.done"));
                    var final = b.Let($"and i1 {hasEpilogue}, {b.Let($"icmp eq i64 {b.Let($"add i64 {pc}, {kc}")}, {K}")}", "final");
                    b.CondBr(final, epiL, epiNext);
                    b.Block(epiL);
                    var em0 = b.Let($"add i64 {ic}, {epilogueRows}", "em0");
                    b.Line($"call void {epilogue}(ptr {epilogueCtx}, i64 {em0}, i64 {b.Let($"add i64 {em0}, {mc}")}, i64 {b.Let($"add i64 {n0}, {epilogueShift}")}, i64 {b.Let($"add i64 {n1}, {epilogueShift}")})");
                    b.Br(epiNext);
                    b.Block(epiNext);
                }, "ic");
            }, "pc"), "seg");
            b.Br(nextL);
            b.Block(nextL);
        }, "batch");
        b.Br("done");
        b.Block("done");
        b.Line("ret void");
        module.AddLibraryFunction($"define internal void @{name}(ptr %ctx, {Parallel.PartParameters}) nounwind {{\n{b.Body()}}}");
        return name;
    }

    /// <summary>The K block of a segment of <paramref name="segK"/>: equal blocks of at most KC, as the worker cuts them.</summary>
    public static long BlockK(GemmShape g, long segK)
    {
        long blocks = Math.Max(1, (segK + g.KC - 1) / g.KC);
        return (segK + blocks - 1) / blocks;
    }

    /// <summary>
    /// B packed at compile time in the worker's layout: per batch, per KC block (blocks restart at each
    /// segment of <paramref name="segK"/>, as the worker's do; 0: one segment), panels of NR columns (kc × NR
    /// each, zero-padded), so block pc of batch b starts at (b·K + pc)·NPad floats. <paramref name="at"/>
    /// gives B[b, k, n] as a float.
    /// </summary>
    public static float[] PrepackB(GemmShape g, long batch, long k, long n, Func<long, long, long, float> at, long segK = 0)
    {
        long npad = (n + g.NR - 1) / g.NR * g.NR;
        if (segK <= 0) segK = Math.Max(k, 1);
        var packed = new float[checked(batch * k * npad)];
        long o = 0;
        for (long bi = 0; bi < batch; bi++)
            for (long pc = 0; pc < k; pc += Math.Min(BlockK(g, segK), segK - pc % segK))
            {
                long kc = Math.Min(BlockK(g, segK), segK - pc % segK);
                for (long j0 = 0; j0 < npad; j0 += g.NR)
                    for (long kk = 0; kk < kc; kk++)
                        for (long j = 0; j < g.NR; j++, o++)
                            packed[o] = j0 + j < n ? at(bi, pc + kk, j0 + j) : 0f;
            }
        return packed;
    }
}
