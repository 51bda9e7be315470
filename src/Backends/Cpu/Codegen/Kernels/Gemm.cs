using System.Collections.Immutable;
using System.Runtime.InteropServices;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// f32 <c>dot_general</c> as a packed, blocked GEMM (<see cref="GemmHelpers"/>): the operands are read
/// as strided, batched matrices straight from their buffers, a constant right-hand side is packed at
/// compile time, and the work is split over threads by rows or columns of C.
/// </summary>
internal sealed partial class KernelEmitter
{
    /// <summary>C[b] (M × N, row-major, rows N apart) = A[b] · B[b], with A(i, k) at i·RsA + k·CsA and B(k, j) at k·RsB + j·CsB.</summary>
    internal sealed record GemmPlan(long Batch, long M, long N, long K, long RsA, long CsA, long BsA, long RsB, long CsB, long BsB);

    /// <summary>The plan for an f32 dot whose dimension groups each collapse to one stride; null otherwise (the loop fallback).</summary>
    internal static GemmPlan? PlanGemm(Operation op)
    {
        if (op.Def is not DotGeneralOp) return null;
        var (lhs, rhs) = (op.Operands[0], op.Operands[1]);
        if (lhs.Type.Element != ElementType.F32 || rhs.Type.Element != ElementType.F32 || op.Result.Type.Element != ElementType.F32) return null;
        var a = op.Attr;
        var (lb, rb, lc, rc) = (a.Ints("lhs_batch"), a.Ints("rhs_batch"), a.Ints("lhs_contract"), a.Ints("rhs_contract"));
        var lfree = Enumerable.Range(0, lhs.Type.Rank).Where(d => !lb.Contains(d) && !lc.Contains(d)).Select(d => (long)d).ToImmutableArray();
        var rfree = Enumerable.Range(0, rhs.Type.Rank).Where(d => !rb.Contains(d) && !rc.Contains(d)).Select(d => (long)d).ToImmutableArray();
        if (Collapse(lhs.Type.Shape, lb) is not var (batch, bsA) ||
            Collapse(rhs.Type.Shape, rb) is not var (_, bsB) ||
            Collapse(lhs.Type.Shape, lfree) is not var (m, rsA) ||
            Collapse(lhs.Type.Shape, lc) is not var (k, csA) ||
            Collapse(rhs.Type.Shape, rc) is not var (_, rsB) ||
            Collapse(rhs.Type.Shape, rfree) is not var (n, csB))
            return null;
        return new GemmPlan(batch, m, n, k, rsA, csA, bsA, rsB, csB, bsB);
    }

    /// <summary>
    /// The element count and element stride of a group of dimensions (in the given order) of a row-major
    /// tensor, when stepping through the group in order is one constant stride; null when it is not.
    /// Dimensions of size 1 do not matter.
    /// </summary>
    private static (long Size, long Stride)? Collapse(ImmutableArray<long> shape, ImmutableArray<long> dims)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            strides[d] = s;
            s *= shape[d];
        }
        var used = dims.IsDefault ? [] : dims.Where(d => shape[(int)d] != 1).Select(d => (int)d).ToArray();
        long size = dims.IsDefault ? 1 : dims.Aggregate(1L, (p, d) => p * shape[(int)d]);
        if (used.Length == 0) return (size, 0);
        for (int i = 0; i + 1 < used.Length; i++)
            if (strides[used[i]] != strides[used[i + 1]] * shape[used[i + 1]]) return null;
        return (size, strides[used[^1]]);
    }

    /// <summary>A pointer to <paramref name="v"/>'s elements: its buffer, or a scratch copy computed now.</summary>
    private string Materialise(Value v)
    {
        if (_ev.TryGetBuffer(v, out var buf)) return buf.Pointer;
        var buffer = new KernelBuffer(Malloc(v.Type), v.Type);
        // A convolution's channels-last input computed in its kernel (fuse's ComputedConvolutionInputs) that the GEMM
        // does not compute while packing (its kernel is not a constant): the blocked transpose, not an element loop.
        if (IsChannelsLastTranspose(v, out var transpose)) ChannelsLastStore(buffer, transpose);
        else StoreAll(buffer, v);
        _ev.SetBuffer(v, buffer);
        return buffer.Pointer;
    }

    private void Gemm(Operation op, GemmPlan p, KernelBuffer dest)
    {
        var g = GemmShape.For(_module.Lanes, p.N);
        var (lhs, rhs) = (op.Operands[0], op.Operands[1]);
        var a = Materialise(lhs);
        string b = "null", packed = "null";
        if (_constants.TryGetValue(rhs, out var weights))
            packed = _module.Constant(Prepack(g, p.Batch, p.K, p.N, weights, (bi, k, n) => bi * p.BsB + k * p.RsB + n * p.CsB));
        else b = Materialise(rhs);
        CallGemm(new GemmCall(a, p.RsA, p.CsA, p.BsA, b, p.RsB, p.CsB, p.BsB, packed, dest.Pointer, p.N, p.M * p.N, p.Batch, p.M, p.N, p.K));
    }

    /// <summary>
    /// Rows of A up to which a GEMM whose B is not packed ahead of time reads B in place
    /// (<see cref="GemmHelpers.GemvWorker"/>) instead of packing it: packing costs a pass over B that only
    /// pays for itself when several rows use the packed panels.
    /// </summary>
    private const long GemvRows = 2;

    /// <summary>
    /// One GEMM call: pointers are LLVM values, the rest compile-time numbers (in elements). K may come in
    /// segments (<see cref="GemmHelpers.Field.SegK"/>; 0: one). With <paramref name="SharedPacked"/>, every batch
    /// multiplies by the one pre-packed B (else each batch has its own, one after another).
    /// </summary>
    private sealed record GemmCall(string A, long RsA, long CsA, long BsA, string B, long RsB, long CsB, long BsB, string Packed,
        string C, long Ldc, long BsC, long Batch, long M, long N, long K, long SegK = 0, long SegStrideA = 0, bool SharedPacked = false,
        string PackA = "null", string PackACtx = "null");

    /// <summary>
    /// Whether rows of A <paramref name="rowStride"/> floats apart fall into at most two sets of a 4 KiB-per-way L1 (a
    /// stride that is a multiple of 2 KiB): a micro-tile's rows read in place then evict each other, and A is packed.
    /// Measured on Zen 5, 1024 × 1024 × 256: 3.6 ms packed, 14.2 in place (rows 4 KiB apart); 1024 × 512 × 256: 1.7 and
    /// 1.9 (2 KiB).
    /// </summary>
    private static bool RowsShareCacheSets(long rowStride) => rowStride * sizeof(float) % AliasingStrideBytes == 0;

    private const long AliasingStrideBytes = 2048;

    /// <summary>
    /// Fewest batches split whole over threads (<see cref="GemmHelpers.Split.Batches"/>). A Winograd convolution's batched
    /// GEMM split by columns had each part read all of A for its one column tile, 36 batches of it: ResNet-50's
    /// 28 × 28 × 128 3 × 3 convolution took 0.40 ms at one thread and 0.43 at two.
    /// </summary>
    private const long BatchSplitLeast = 16;

    /// <summary>Fills the worker's context and runs it over the threads the work pays for, with packing space in the scratch.</summary>
    private void CallGemm(GemmCall c)
    {
        if (c.Batch == 0 || c.M == 0 || c.N == 0) return;
        var g = GemmShape.For(_module.Lanes, c.N);
        long tilesM = (c.M + g.MR - 1) / g.MR, tilesN = (c.N + g.NR - 1) / g.NR;
        // One row of A with k stride 1 is its own packed panel (kc × 1): packing would copy it for nothing.
        bool directA = c.PackA == "null" && c.CsA == 1 && (c.M == 1 || tilesN <= g.DirectAColumnTiles && !RowsShareCacheSets(c.RsA));
        var worker = GemmHelpers.Worker(_module, g, directA);
        // Many batches (a Winograd convolution's 16 or 36 transform positions): whole batches per part, so that no part
        // reads another's A or B. Otherwise the dimension with more micro-tiles; each thread packs the other operand whole.
        bool splitBatch = c.Batch >= BatchSplitLeast;
        bool splitM = !splitBatch && tilesM > tilesN;
        var ctx = _b.Alloca($"[{(int)GemmHelpers.Field.Count} x i64]");
        void Set(GemmHelpers.Field f, string value, string type = "i64") =>
            _b.Line($"store {type} {value}, ptr {_b.Let($"getelementptr inbounds i64, ptr {ctx}, i64 {(int)f}", "f")}");
        Set(GemmHelpers.Field.A, c.A, "ptr");
        Set(GemmHelpers.Field.RsA, $"{c.RsA}");
        Set(GemmHelpers.Field.CsA, $"{c.CsA}");
        Set(GemmHelpers.Field.BsA, $"{c.BsA}");
        Set(GemmHelpers.Field.B, c.B, "ptr");
        Set(GemmHelpers.Field.RsB, $"{c.RsB}");
        Set(GemmHelpers.Field.CsB, $"{c.CsB}");
        Set(GemmHelpers.Field.BsB, $"{c.BsB}");
        Set(GemmHelpers.Field.BPacked, c.Packed, "ptr");
        Set(GemmHelpers.Field.C, c.C, "ptr");
        Set(GemmHelpers.Field.Ldc, $"{c.Ldc}");
        Set(GemmHelpers.Field.BsC, $"{c.BsC}");
        Set(GemmHelpers.Field.M, $"{c.M}");
        Set(GemmHelpers.Field.N, $"{c.N}");
        Set(GemmHelpers.Field.K, $"{c.K}");
        Set(GemmHelpers.Field.Batch, $"{c.Batch}");
        var split = splitBatch ? GemmHelpers.Split.Batches : splitM ? GemmHelpers.Split.Rows : GemmHelpers.Split.Columns;
        Set(GemmHelpers.Field.Split, $"{(int)split}");
        Set(GemmHelpers.Field.NPad, $"{tilesN * g.NR}");
        Set(GemmHelpers.Field.SegK, $"{(c.SegK > 0 ? c.SegK : Math.Max(c.K, 1))}");
        Set(GemmHelpers.Field.SegStrideA, $"{c.SegStrideA}");
        // C is the whole epilogue output, row-major with its last dimension as columns (the batch's Cs side by side in
        // it, as a grouped convolution's): the worker applies it per block.
        bool sideBySide = c.Batch > 1 && c.BsC == c.N && c.Ldc == c.Batch * c.N;
        bool stacked = c.Batch > 1 && c.Ldc == c.N && c.BsC == c.M * c.N;
        bool epilogue = (c.Batch == 1 && c.Ldc == c.N || sideBySide || stacked) && EpilogueFits(c.C, stacked ? c.Batch * c.M : c.M, c.Ldc)
            && !(c.Packed == "null" && c.CsB == 1 && c.M <= GemvRows);
        if (epilogue)
        {
            var (fn, epilogueCtx) = EpilogueFunction(_epilogue!);
            Set(GemmHelpers.Field.Epilogue, $"@{fn}", "ptr");
            Set(GemmHelpers.Field.EpilogueCtx, epilogueCtx, "ptr");
            _epilogueApplied = true;
        }
        else
        {
            Set(GemmHelpers.Field.Epilogue, "null", "ptr");
            Set(GemmHelpers.Field.EpilogueCtx, "null", "ptr");
        }
        Set(GemmHelpers.Field.EpilogueBatchColumns, epilogue && sideBySide ? $"{c.BsC}" : "0");
        Set(GemmHelpers.Field.EpilogueBatchRows, epilogue && stacked ? $"{c.M}" : "0");
        Set(GemmHelpers.Field.PackedBatches, c.SharedPacked ? "0" : "1");
        Set(GemmHelpers.Field.PackA, c.PackA, "ptr");
        Set(GemmHelpers.Field.PackACtx, c.PackACtx, "ptr");
        Set(GemmHelpers.Field.StreamAhead, $"{(c.K * tilesN * g.NR * sizeof(float) >= GemmHelpers.MemoryStreamBytes ? GemmHelpers.MemoryStreamAheadFloats : GemmHelpers.CacheStreamAheadFloats)}");
        if (c.Packed == "null" && c.CsB == 1 && c.M <= GemvRows)
        {
            // One or two rows of A against a B that is not packed ahead of time: read B in place.
            long chunk = GemmHelpers.GemvVectors * g.Lanes;
            long chunks = (c.N + chunk - 1) / chunk;
            Parallel.Split(_b, _module, $"@{GemmHelpers.GemvWorker(_module, g)}", ctx, Parallel.Threads(_b, c.Batch * c.M * c.N * Math.Max(c.K, 1), chunks), chunks);
            return;
        }
        // At most one thread per pool worker and the caller: each thread slot's packing space is reserved in the scratch.
        long tiles = Math.Min(splitBatch ? c.Batch : splitM ? tilesM : tilesN, Parallel.MaxWorkers + 1);
        long work = c.Batch * c.M * c.N * Math.Max(c.K, 1);
        var threads = Parallel.Threads(_b, work, tiles);
        // Several parts per thread where a part packs only its own share (rows against a prepacked B, columns against an A
        // read in place); otherwise each part would pack the other operand whole again. Each thread slot has its own
        // packing space.
        bool sharesPacking = splitBatch || (splitM ? c.Packed != "null" : directA);
        long units = splitBatch ? c.Batch : splitM ? (c.M + GemmHelpers.SplitRows - 1) / GemmHelpers.SplitRows : tilesN;
        var parts = Parallel.Parts(_b, threads, units, sharesPacking ? Parallel.PartsPerThread : 1);
        var perThread = GemmHelpers.WorkspaceBytes(g, c.K, tilesN * g.NR, c.Packed != "null", directA);
        long mostThreads = parts == "1" ? 1 : Parallel.MostThreads(work, tiles);
        Set(GemmHelpers.Field.Workspace, Scratch(mostThreads * perThread), "ptr");
        Set(GemmHelpers.Field.WorkspaceStride, $"{perThread}");
        Parallel.Call(_b, _module, $"@{worker}", ctx, parts, threads);
    }

    /// <summary>
    /// Whether the pending epilogue (<see cref="_epilogue"/>) can run on <paramref name="dest"/> seen as rows × columns:
    /// it is the kernel's output buffer and the epilogue's output is that many rows of its last dimension.
    /// </summary>
    private bool EpilogueFits(string dest, long rows, long columns) =>
        _epilogue is { } output && dest == "%out0" && output.Type.Rank >= 1 && output.Type.Shape[^1] == columns && output.Type.ElementCount == rows * columns;

    /// <summary>
    /// <c>@KERNEL.epiN(ptr ctx, i64 m0, i64 m1, i64 n0, i64 n1)</c>: <paramref name="output"/>'s elements in rows
    /// m0..m1 (its dimensions before the last, flattened) and columns n0..n1 (its last), computed by a fork of the
    /// element evaluator and stored into <c>%out0</c>; ctx holds the kernel's buffer pointers.
    /// </summary>
    private (string Function, string Ctx) EpilogueFunction(Value output)
    {
        var stores = new[] { (new KernelBuffer("%out0", output.Type), output) };
        var (ctx, part) = ThreadSplit.Fork(_ev, ["%out0"]);
        var fn = $"{_name}.epi{_extraFunctions.Count}";
        var b = part.B;
        var shape = output.Type.Shape;
        int rank = shape.Length;
        var idx = new string[rank];
        b.For("%m0", "%m1", m =>
        {
            // The row's index in the dimensions before the last.
            part.Memory.Unravel(m, [.. shape[..^1]]).CopyTo(idx, 0);
            b.For("%n0", "%n1", n =>
            {
                idx[rank - 1] = n;
                part.NextElement();
                ThreadSplit.StoreElement(part, stores, idx, shape);
            }, "n", _module.NoUnrollLoop());
        }, "m");
        b.Line("ret void");
        _extraFunctions.Add($"define internal void @{fn}(ptr %ctx, i64 %m0, i64 %m1, i64 %n0, i64 %n1) nounwind {{\n{b.Body()}}}");
        return (fn, ctx);
    }

    /// <summary>A constant B in the worker's packed layout; <paramref name="index"/> maps (batch, k, n) to an element of <paramref name="weights"/>.</summary>
    private static Tensor Prepack(GemmShape g, long batch, long k, long n, Tensor weights, Func<long, long, long, long> index, long segK = 0)
    {
        var w = MemoryMarshal.Cast<byte, float>(weights.Bytes).ToArray();
        var packed = GemmHelpers.PrepackB(g, batch, k, n, (bi, kk, nn) => w[index(bi, kk, nn)], segK);
        return Tensor.FromBytes(new TensorType(ElementType.F32, packed.LongLength), MemoryMarshal.AsBytes(packed.AsSpan()));
    }

    /// <summary>
    /// Whether <paramref name="dot"/>'s result may live in <paramref name="output"/>'s buffer while the
    /// rest of the group computes the output from it: every op between them is elementwise over the same
    /// shape, so output element i is written only after dot element i has been read.
    /// </summary>
    internal static bool EpilogueInPlace(Operation dot, IReadOnlyList<Operation> ops, Value output)
    {
        if (output.Type != dot.Result.Type) return false;
        var reach = new HashSet<Value>(ReferenceEqualityComparer.Instance) { dot.Result };
        foreach (var op in ops)
        {
            if (ReferenceEquals(op, dot) || !op.Operands.Any(reach.Contains)) continue;
            if (op.Def is not (UnaryOp or BinaryOp or CompareOp or SelectOp or ClampOp or ConvertOp)) return false;
            if (op.Results.Length != 1 || !op.Result.Type.Shape.SequenceEqual(dot.Result.Type.Shape)) return false;
            reach.Add(op.Result);
        }
        return reach.Contains(output);
    }
}
