using System.Numerics;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// An ascending bitonic sort of unsigned 64-bit keys in device memory (a kernel's scratch): the sorting network of
/// <see cref="BitonicSort"/> without its values, positions and element orders, for keys a kernel composed to be distinct
/// (scatter's target and position in one word). The count is padded to a power of two of at least <see cref="Span"/>; the
/// padding keys must be the largest. A <c>local</c> launch sorts each Span keys in shared memory (every merge up to
/// k = Span), then for each larger k one <c>step</c> launch per distance j ≥ Span (global memory, a thread per pair) and
/// one <c>local</c> launch for all j &lt; Span together.
/// </summary>
internal static class KeySort
{
    private const int Threads = BitonicNetwork.Threads, StepBlock = BitonicNetwork.StepBlock;
    private const long Span = BitonicNetwork.Span;
    private static readonly int SpanLog = BitonicNetwork.SpanLog;

    /// <summary>How many keys a sort of <paramref name="count"/> handles: the next power of two, at least <see cref="Span"/>.</summary>
    public static long Padded(long count) => Math.Max(Span, (long)BitOperations.RoundUpToPowerOf2((ulong)Math.Max(count, 1)));

    /// <summary>
    /// The launches that sort the <paramref name="n"/> (<see cref="Padded"/>) keys at <paramref name="keys"/> (a parameter of
    /// the kernels, which take <paramref name="parameters"/> pointer parameters, and are launched over
    /// <paramref name="launchParameters"/> with <paramref name="scratchBytes"/> of scratch).
    /// </summary>
    public static IEnumerable<GpuKernel> Emit(DeviceModule m, long n, int parameters, string keys, IReadOnlyList<Value> launchParameters, long scratchBytes)
    {
        if (n != Padded(n)) throw new CodegenException($"a key sort needs a power of two of at least {Span} keys, got {n}");
        int nLog = BitOperations.Log2((ulong)n);
        var local = Local(m, parameters, keys);
        var step = nLog > SpanLog ? Step(m, parameters, keys) : null;
        foreach (var (first, last, j) in BitonicNetwork.Schedule(nLog))
            yield return j is { } d
                ? new GpuKernel(step!, n / 2 / StepBlock, 1, 1, StepBlock, launchParameters, scratchBytes, [first, d])
                : new GpuKernel(local, n / Span, 1, 1, Threads, launchParameters, scratchBytes, [first, last]);
    }

    /// <summary>Whether keys <paramref name="x"/> (at place i) and <paramref name="y"/> (at i + j) swap: out of order for the direction (<paramref name="up"/>: ascending).</summary>
    private static string Swaps(LlvmBuilder b, string up, string x, string y) =>
        b.Let($"select i1 {up}, i1 {b.Let($"icmp ugt i64 {x}, {y}")}, i1 {b.Let($"icmp ult i64 {x}, {y}")}", "swap");

    /// <summary>A block per Span keys: into shared memory, the merges of sizes 2^%s0 … 2^%s1 over the distances below Span, back.</summary>
    private static string Local(DeviceModule m, int parameters, string keys)
    {
        var name = m.NextName("keysort_local");
        var b = new LlvmBuilder();
        var mc = m.Context;
        var shared = $"@{name}_k";
        mc.Global($"{shared} = internal addrspace(3) global [{Span} x i64] undef, align 8");
        string Slot(string i) => b.Let($"getelementptr inbounds [{Span} x i64], ptr addrspace(3) {shared}, i64 0, i64 {i}");
        string Global(string i) => b.Let($"getelementptr inbounds i64, ptr {keys}, i64 {i}");
        var tid = Sreg.Read(mc, b, "tid.x");
        var origin = b.Let($"mul nuw nsw i64 {Sreg.Read(mc, b, "ctaid.x")}, {Span}", "origin");
        // Each thread moves keys tid and tid + Threads: consecutive threads, consecutive keys.
        for (int h = 0; h < 2; h++)
        {
            var i = b.Let($"add nuw nsw i64 {tid}, {h * Threads}", "i");
            b.Line($"store i64 {b.Let($"load i64, ptr {Global(b.Let($"add nuw nsw i64 {origin}, {i}"))}")}, ptr addrspace(3) {Slot(i)}");
        }
        BitonicNetwork.LocalMerges(b, mc, tid, origin, (i, q, up) =>
        {
            var (si, sq) = (Slot(i), Slot(q));
            var (x, y) = (b.Let($"load i64, ptr addrspace(3) {si}"), b.Let($"load i64, ptr addrspace(3) {sq}"));
            var swap = Swaps(b, up, x, y);
            b.Line($"store i64 {b.Let($"select i1 {swap}, i64 {y}, i64 {x}")}, ptr addrspace(3) {si}");
            b.Line($"store i64 {b.Let($"select i1 {swap}, i64 {x}, i64 {y}")}, ptr addrspace(3) {sq}");
        });
        for (int h = 0; h < 2; h++)
        {
            var i = b.Let($"add nuw nsw i64 {tid}, {h * Threads}", "i");
            b.Line($"store i64 {b.Let($"load i64, ptr addrspace(3) {Slot(i)}")}, ptr {Global(b.Let($"add nuw nsw i64 {origin}, {i}"))}");
        }
        b.Line("ret void");
        m.AddKernel(name, parameters, b.Body(), scalars: 2);
        return name;
    }

    /// <summary>One step of merge size 2^%s0 and distance 2^%s1 ≥ Span in global memory: a thread per pair, writing only when it swaps.</summary>
    private static string Step(DeviceModule m, int parameters, string keys)
    {
        var name = m.NextName("keysort_step");
        var b = new LlvmBuilder();
        var mc = m.Context;
        var t = Sreg.GlobalThread(mc, b, StepBlock, "t");
        var (i, q) = BitonicNetwork.Pair(b, t, "%s1", b.Let("shl nuw nsw i64 1, %s1", "j"));
        var (pi, pq) = (b.Let($"getelementptr inbounds i64, ptr {keys}, i64 {i}"), b.Let($"getelementptr inbounds i64, ptr {keys}, i64 {q}"));
        var (x, y) = (b.Let($"load i64, ptr {pi}"), b.Let($"load i64, ptr {pq}"));
        b.If(Swaps(b, BitonicNetwork.Ascending(b, i, b.Let("shl nuw nsw i64 1, %s0", "k")), x, y), () =>
        {
            b.Line($"store i64 {y}, ptr {pi}");
            b.Line($"store i64 {x}, ptr {pq}");
        }, "swap");
        b.Line("ret void");
        m.AddKernel(name, parameters, b.Body(), scalars: 2);
        return name;
    }
}

/// <summary>
/// What the two bitonic sorts (<see cref="BitonicSort"/>, <see cref="KeySort"/>) share: the block shapes, the schedule of
/// launches, and which places a step compares.
/// </summary>
internal static class BitonicNetwork
{
    /// <summary>Threads of a shared-memory block; each holds two elements, so a block's span is twice this.</summary>
    public const int Threads = 512;

    /// <summary>The elements one block sorts in shared memory: 2 × <see cref="Threads"/>.</summary>
    public const long Span = 2 * Threads;

    public static readonly int SpanLog = BitOperations.Log2((ulong)Span);

    /// <summary>Threads per block of a global step (a thread per compared pair).</summary>
    public const int StepBlock = 256;

    /// <summary>
    /// The launches for 2^<paramref name="pLog"/> elements: a local one for merge sizes 2^1 … 2^SpanLog, then for each larger
    /// merge size 2^k a global step per distance 2^j ≥ Span (J set) and a local one for the distances below (J null).
    /// </summary>
    public static IEnumerable<(int First, int Last, int? J)> Schedule(int pLog)
    {
        yield return (1, SpanLog, null);
        for (int k = SpanLog + 1; k <= pLog; k++)
        {
            for (int j = k - 1; j >= SpanLog; j--) yield return (k, k, j);
            yield return (k, k, null);
        }
    }

    /// <summary>Whether the pair at <paramref name="place"/> sorts ascending in a merge of size <paramref name="k"/>: bit k of its place is clear.</summary>
    public static string Ascending(LlvmBuilder b, string place, string k) => b.Let($"icmp eq i64 {b.Let($"and i64 {place}, {k}")}, 0", "up");

    /// <summary>
    /// A local launch's network over its block's Span elements in shared memory: merge sizes k = 2^%s0 … 2^%s1 (the launch's
    /// scalars), distances j = 2^jj below min(k, Span), largest first, a barrier before each step and one after the last.
    /// <paramref name="compareExchange"/> emits one thread's compare-exchange of places i and i + j (within the block) and is
    /// told whether the pair sorts ascending (by its place <paramref name="origin"/> + i in the whole sequence).
    /// </summary>
    public static void LocalMerges(LlvmBuilder b, ModuleContext mc, string tid, string origin, Action<string, string, string> compareExchange)
    {
        b.For("%s0", b.Let("add nsw i64 %s1, 1"), kk =>
        {
            var k = b.Let($"shl nuw nsw i64 1, {kk}", "k");
            var top = b.Let($"select i1 {b.Let($"icmp slt i64 {kk}, {SpanLog}")}, i64 {kk}, i64 {SpanLog}", "top");
            b.For("0", top, r =>
            {
                var jj = b.Let($"sub nsw i64 {b.Let($"sub nsw i64 {top}, 1")}, {r}", "jj");
                var j = b.Let($"shl nuw nsw i64 1, {jj}", "j");
                Sreg.Barrier(mc, b);
                var (i, q) = Pair(b, tid, jj, j);
                compareExchange(i, q, Ascending(b, b.Let($"add nuw nsw i64 {origin}, {i}"), k));
            }, "jstep");
        }, "kstep");
        Sreg.Barrier(mc, b);
    }

    /// <summary>Pair <paramref name="t"/> of a step of distance 2^<paramref name="jj"/>: place i (t with a zero inserted at bit jj) and its partner i + j.</summary>
    public static (string I, string Q) Pair(LlvmBuilder b, string t, string jj, string j)
    {
        var low = b.Let($"and i64 {t}, {b.Let($"sub nuw nsw i64 {j}, 1")}");
        var i = b.Let($"or i64 {b.Let($"shl nuw nsw i64 {b.Let($"lshr i64 {t}, {jj}")}, {b.Let($"add nuw nsw i64 {jj}, 1")}")}, {low}", "pi");
        return (i, b.Let($"or i64 {i}, {j}", "pq"));
    }
}
