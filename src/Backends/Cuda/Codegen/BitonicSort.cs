using System.Numerics;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// sort and top_k along lanes longer than <see cref="SortKernel.MaxRankLane"/>: a bitonic sorting network over each lane
/// padded to a power of two P, on (value, position) pairs in the device scratch. The network compares pairs by the
/// interpreter's order with ties broken by position, and puts the padding after everything, so every key is distinct
/// and the network's result is the interpreter's stable order. A network step with distance j and merge size k
/// compare-exchanges elements i and i + j (i with bit j clear), ascending where bit k of i is clear.
/// <para>
/// Launches, for lanes of P elements with blocks of <see cref="Span"/>: <c>local</c> loads Span elements of a lane per
/// block from the operand into shared memory, runs every step of the merges up to k = Span there, and writes the pairs
/// to the scratch; then for each larger k, a <c>step</c> launch (a thread per pair, global memory) for each distance
/// j ≥ Span, and one <c>local</c> launch for all j &lt; Span together, the last of which (k = P) writes the kept places
/// into the results. One kernel per role serves every k and j: they are the launch's i64 scalars. P = 65 536 (a 50k
/// vocabulary) takes 28 launches (21 global steps) and P/2 · 16 · 17/2 ≈ 4.5·10⁶ compare-exchanges per lane, against the
/// rank kernel's n² = 2.5·10⁹ comparisons.
/// </para>
/// </summary>
internal static class BitonicSort
{
    private const int Threads = BitonicNetwork.Threads, StepBlock = BitonicNetwork.StepBlock;
    private const long Span = BitonicNetwork.Span;
    private static readonly int SpanLog = BitonicNetwork.SpanLog;

    /// <summary>Positions travel through the scratch as i32: lanes are padded to at most 2³⁰ elements.</summary>
    public const long MaxLane = 1L << 30;

    /// <summary>Where a local launch reads its pairs from and writes them to.</summary>
    private enum Source { Operand, Scratch }
    private enum Destination { Scratch, Results }

    public static IReadOnlyList<GpuKernel> Emit(DeviceModule m, Operation op, SortKernel.Lanes lanes)
    {
        long p = (long)BitOperations.RoundUpToPowerOf2((ulong)lanes.N);
        int pLog = BitOperations.Log2((ulong)p);
        if (p <= Span) throw new CodegenException($"a bitonic sort needs lanes longer than {Span} elements (this one has {lanes.N}): the rank kernel takes them");
        var layout = new Scratch(lanes.Outer * lanes.Inner, p, lanes.Element.ByteSize());
        IReadOnlyList<Value> parameters = [.. op.Results, op.Operands[0]];
        long blocks = layout.Lanes * (p / Span);

        GpuKernel LocalLaunch(string name, int firstLog, int lastLog) =>
            new(name, blocks, 1, 1, Threads, parameters, layout.Bytes, [firstLog, lastLog]);

        var first = Local(m, op, lanes, layout, Source.Operand, Destination.Scratch);
        var last = Local(m, op, lanes, layout, Source.Scratch, Destination.Results);
        var middle = pLog > SpanLog + 1 ? Local(m, op, lanes, layout, Source.Scratch, Destination.Scratch) : null;
        var step = Step(m, op, lanes, layout);
        return [.. BitonicNetwork.Schedule(pLog).Select(l => l.J is { } j
            ? new GpuKernel(step, layout.Lanes * (p / 2) / StepBlock, 1, 1, StepBlock, parameters, layout.Bytes, [l.First, j])
            : LocalLaunch(l.Last == SpanLog ? first : l.First == pLog ? last : middle!, l.First, l.Last))];
    }

    /// <summary>The scratch: every lane's P values (the element's memory type), then, 16-byte aligned, their P positions (i32).</summary>
    private sealed record Scratch(long Lanes, long P, int ElementBytes)
    {
        public long ValueBytes => Lanes * P * ElementBytes;
        public long PositionsOffset => (ValueBytes + 15) / 16 * 16;
        public long Bytes => PositionsOffset + Lanes * P * sizeof(int);
    }

    /// <summary>
    /// Whether pair (pv, pp) comes before (qv, qp): the op's order on the values with ties by position; a padding
    /// position (≥ N) after every element, and padding among itself by position.
    /// </summary>
    private static string Before(LlvmBuilder b, ScalarEmitter scalars, SortKernel.Lanes lanes, string pv, string pp, string qv, string qp)
    {
        var (before, tie) = SortKernel.Order(b, scalars, lanes.Element, lanes.Descending, pv, qv);
        var earlier = b.Let($"icmp slt i32 {pp}, {qp}");
        var ordered = b.Let($"or i1 {before}, {b.Let($"and i1 {tie}, {earlier}")}");
        var padP = b.Let($"icmp sge i32 {pp}, {lanes.N}");
        var padQ = b.Let($"icmp sge i32 {qp}, {lanes.N}");
        var padded = b.Let($"and i1 {padQ}, {b.Let($"or i1 {b.Let($"xor i1 {padP}, true")}, {earlier}")}");
        return b.Let($"select i1 {b.Let($"or i1 {padP}, {padQ}")}, i1 {padded}, i1 {ordered}", "before");
    }

    /// <summary>
    /// A block per Span elements of a lane: load them into shared memory, run the merges of sizes 2^s0 … 2^s1 (scalars
    /// %s0, %s1) over the distances below Span, store them. Parameters: %p0, %p1 the results, %p2 the operand, %p3 the scratch.
    /// </summary>
    private static string Local(DeviceModule m, Operation op, SortKernel.Lanes lanes, Scratch layout, Source source, Destination destination)
    {
        var name = m.NextName("bitonic_local");
        var b = new LlvmBuilder();
        var mc = m.Context;
        var mem = new MemoryAccess(b, mc);
        var scalars = new ScalarEmitter(b, mc);
        var e = lanes.Element;
        // Shared memory holds values in their compute type (bool as a byte).
        var type = e == ElementType.Bool ? "i8" : LlvmTypes.Compute(e);
        var values = $"@{name}_v";
        var positions = $"@{name}_p";
        mc.Global($"{values} = internal addrspace(3) global [{Span} x {type}] undef, align 8");
        mc.Global($"{positions} = internal addrspace(3) global [{Span} x i32] undef, align 4");
        string Slot(string array, string t, string i) => b.Let($"getelementptr inbounds [{Span} x {t}], ptr addrspace(3) {array}, i64 0, i64 {i}");
        (string V, string P) Read(string i)
        {
            var v = b.Let($"load {type}, ptr addrspace(3) {Slot(values, type, i)}");
            return (e == ElementType.Bool ? b.Let($"icmp ne i8 {v}, 0") : v, b.Let($"load i32, ptr addrspace(3) {Slot(positions, "i32", i)}"));
        }
        void Write(string i, string v, string p)
        {
            b.Line($"store {type} {(e == ElementType.Bool ? b.Let($"zext i1 {v} to i8") : v)}, ptr addrspace(3) {Slot(values, type, i)}");
            b.Line($"store i32 {p}, ptr addrspace(3) {Slot(positions, "i32", i)}");
        }

        var tid = Sreg.Read(mc, b, "tid.x");
        var block = Sreg.Read(mc, b, "ctaid.x");
        long chunks = layout.P / Span;
        var lane = b.Let($"udiv i64 {block}, {chunks}", "lane");
        var origin = b.Let($"mul nuw nsw i64 {b.Let($"urem i64 {block}, {chunks}")}, {Span}", "origin");
        var a = b.Let($"udiv i64 {lane}, {lanes.Inner}", "a");
        var c = b.Let($"urem i64 {lane}, {lanes.Inner}", "c");
        var pairs = ScratchPairs(b, layout, lane);

        // Each thread moves elements tid and tid + Threads: consecutive threads, consecutive elements.
        for (int h = 0; h < 2; h++)
        {
            var i = b.Let($"add nuw nsw i64 {tid}, {h * Threads}", "i");
            var at = b.Let($"add nuw nsw i64 {origin}, {i}", "at");
            if (source == Source.Operand)
            {
                var inside = b.Let($"icmp slt i64 {at}, {lanes.N}");
                var offset = b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {a}, {lanes.N}")}, {at}")}, {lanes.Inner}")}, {c}");
                // Padding reads element 0 and is replaced by zero: no read past the operand, no undefined value.
                var v = mem.Load("%p2", e, b.Let($"select i1 {inside}, i64 {offset}, i64 0"));
                Write(i, b.Let($"select i1 {inside}, {LlvmTypes.Compute(e)} {v}, {LlvmTypes.Compute(e)} {Zero(e)}"), b.Let($"trunc i64 {at} to i32"));
            }
            else
            {
                var (v, p) = pairs.Load(mem, e, at);
                Write(i, v, p);
            }
        }

        BitonicNetwork.LocalMerges(b, mc, tid, origin, (i, q, up) =>
        {
            var (iv, ip) = Read(i);
            var (qv, qp) = Read(q);
            var swap = b.Let($"select i1 {up}, i1 {Before(b, scalars, lanes, qv, qp, iv, ip)}, i1 {Before(b, scalars, lanes, iv, ip, qv, qp)}", "swap");
            var t = LlvmTypes.Compute(e);
            Write(i, b.Let($"select i1 {swap}, {t} {qv}, {t} {iv}"), b.Let($"select i1 {swap}, i32 {qp}, i32 {ip}"));
            Write(q, b.Let($"select i1 {swap}, {t} {iv}, {t} {qv}"), b.Let($"select i1 {swap}, i32 {ip}, i32 {qp}"));
        });

        var done = b.FreshLabel("done");
        for (int h = 0; h < 2; h++)
        {
            var i = b.Let($"add nuw nsw i64 {tid}, {h * Threads}", "i");
            var at = b.Let($"add nuw nsw i64 {origin}, {i}", "at");
            var (v, p) = Read(i);
            if (destination == Destination.Scratch)
            {
                pairs.Store(mem, e, at, v, p);
                continue;
            }
            // The kept places (all of sort's, top_k's first K) into the results at (a, place, c).
            var kept = b.FreshLabel("kept");
            var next = h == 0 ? b.FreshLabel("second") : done;
            b.CondBr(b.Let($"icmp slt i64 {at}, {lanes.Keep}"), kept, next);
            b.Block(kept);
            var result = b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {a}, {lanes.Keep}")}, {at}")}, {lanes.Inner}")}, {c}", "out");
            mem.Store(new KernelBuffer("%p0", op.Results[0].Type), result, v);
            mem.Store(new KernelBuffer("%p1", op.Results[1].Type), result, b.Let($"zext i32 {p} to i64"));
            b.Br(next);
            if (h == 0) b.Block(next);
        }
        if (destination == Destination.Scratch) b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, 4, b.Body(), scalars: 2);
        return name;
    }

    /// <summary>
    /// One step of merge size 2^%s0 and distance 2^%s1 ≥ Span over the scratch: a thread per compared pair of every lane,
    /// which writes only when the pair swaps.
    /// </summary>
    private static string Step(DeviceModule m, Operation op, SortKernel.Lanes lanes, Scratch layout)
    {
        var name = m.NextName("bitonic_step");
        var b = new LlvmBuilder();
        var mc = m.Context;
        var mem = new MemoryAccess(b, mc);
        var scalars = new ScalarEmitter(b, mc);
        var e = lanes.Element;
        var g = Sreg.GlobalThread(mc, b, StepBlock, "g");
        var lane = b.Let($"udiv i64 {g}, {layout.P / 2}", "lane");
        var t = b.Let($"urem i64 {g}, {layout.P / 2}", "t");
        var j = b.Let("shl nuw nsw i64 1, %s1", "j");
        var (i, q) = BitonicNetwork.Pair(b, t, "%s1", j);
        var up = BitonicNetwork.Ascending(b, i, b.Let("shl nuw nsw i64 1, %s0"));
        var pairs = ScratchPairs(b, layout, lane);
        var (iv, ip) = pairs.Load(mem, e, i);
        var (qv, qp) = pairs.Load(mem, e, q);
        var swap = b.Let($"select i1 {up}, i1 {Before(b, scalars, lanes, qv, qp, iv, ip)}, i1 {Before(b, scalars, lanes, iv, ip, qv, qp)}", "swap");
        var write = b.FreshLabel("swap");
        var done = b.FreshLabel("done");
        b.CondBr(swap, write, done);
        b.Block(write);
        pairs.Store(mem, e, i, qv, qp);
        pairs.Store(mem, e, q, iv, ip);
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, 4, b.Body(), scalars: 2);
        return name;
    }

    private static string Zero(ElementType e) => e.IsFloat() ? LlvmTypes.FloatLiteral(LlvmTypes.Compute(e), 0) : e == ElementType.Bool ? "false" : "0";

    /// <summary>One lane's pairs in the scratch (%p3): value and position of place i.</summary>
    private sealed class Pairs(LlvmBuilder b, Scratch layout, string first, string positions)
    {
        private string At(string i) => b.Let($"add nuw nsw i64 {first}, {i}");

        public (string Value, string Position) Load(MemoryAccess mem, ElementType e, string i)
        {
            var at = At(i);
            return (mem.Load("%p3", e, at), b.Let($"load i32, ptr {b.Let($"getelementptr inbounds i32, ptr {positions}, i64 {at}")}"));
        }

        public void Store(MemoryAccess mem, ElementType e, string i, string v, string p)
        {
            var at = At(i);
            mem.Store(new KernelBuffer("%p3", new TensorType(e, layout.Lanes * layout.P)), at, v);
            b.Line($"store i32 {p}, ptr {b.Let($"getelementptr inbounds i32, ptr {positions}, i64 {at}")}");
        }
    }

    private static Pairs ScratchPairs(LlvmBuilder b, Scratch layout, string lane) =>
        new(b, layout, b.Let($"mul nuw nsw i64 {lane}, {layout.P}", "first"), b.Let($"getelementptr inbounds i8, ptr %p3, i64 {layout.PositionsOffset}", "positions"));
}
