using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// sort and top_k on the GPU. Lanes of up to <see cref="MaxRankLane"/> elements are sorted as a rank per element: a thread
/// per element of the input counts the elements of its lane that come before it — those that compare before it
/// (ascending, or descending), and those that tie with it at a lower position — and that count is its place in the
/// sorted lane, so the thread writes its value and position there (for top_k only when the place is below K). Each
/// thread reads its whole lane (n² comparisons per lane, in one launch). Longer lanes (a vocabulary's top_k, an argsort
/// of a long sequence) go through a bitonic network (<see cref="BitonicSort"/>, n·log²n comparisons over several
/// launches). The order is the interpreter's (<c>IndexingSupport.SortLanes</c>) in both: NaN after every number, −0
/// equal to +0, ties by position (a stable sort, also descending). The places of a lane are a permutation, so no two
/// threads write one element and the result does not depend on their order.
/// </summary>
internal static class SortKernel
{
    private const int Block = 256;

    /// <summary>The longest lane ranked in one launch: 8192² comparisons is about 10⁸, a few tens of microseconds of an H100's lanes.</summary>
    public const long MaxRankLane = 8192;

    public static bool Supports(Operation op) => op.Def is SortOp or TopKOp && op.Operands[0].Type.Shape[Lane(op)] <= BitonicSort.MaxLane;

    /// <summary>The dimension sorted: sort's attribute, top_k's last.</summary>
    private static int Lane(Operation op) => op.Def is SortOp ? op.Attr.Int32("dimension") : op.Operands[0].Type.Rank - 1;

    /// <summary>
    /// What a sort kernel needs of the op: the lane's dimension and length N, how many places it keeps (N, or top_k's K),
    /// the lanes as (Outer, Inner) (element (a, j, c) at (a·N + j)·Inner + c), the direction and the element type.
    /// </summary>
    internal sealed record Lanes(long N, long Keep, long Outer, long Inner, bool Descending, ElementType Element)
    {
        public static Lanes Of(Operation op)
        {
            var shape = op.Operands[0].Type.Shape;
            int dim = Lane(op);
            long inner = 1;
            for (int d = dim + 1; d < shape.Length; d++) inner *= shape[d];
            return new(shape[dim], op.Results[0].Type.Shape[dim], op.Operands[0].Type.ElementCount / Math.Max(1, shape[dim] * inner), inner,
                op.Def is SortOp ? op.Attr.Bool("descending") : op.Attr.Bool("largest"), op.Operands[0].Type.Element);
        }
    }

    public static IReadOnlyList<GpuKernel> Emit(DeviceModule m, Operation op)
    {
        var lanes = Lanes.Of(op);
        return lanes.N <= MaxRankLane ? [Rank(m, op, lanes)] : BitonicSort.Emit(m, op, lanes);
    }

    private static GpuKernel Rank(DeviceModule m, Operation op, Lanes lanes)
    {
        var x = op.Operands[0];
        var (n, keep, inner, descending, e) = (lanes.N, lanes.Keep, lanes.Inner, lanes.Descending, lanes.Element);
        long total = x.Type.ElementCount;

        var name = m.NextName("sort");
        var b = new LlvmBuilder();
        var mc = m.Context;
        var mem = new MemoryAccess(b, mc);
        var scalars = new ScalarEmitter(b, mc);
        // Parameters: %p0 the values, %p1 the positions, %p2 the operand.
        var (g, done) = Sreg.GuardedThread(mc, b, Block, total, "g");
        // g = (a·n + j)·inner + c: lane (a, c), position j.
        var c = b.Let($"urem i64 {g}, {inner}", "c");
        var aj = b.Let($"udiv i64 {g}, {inner}", "aj");
        var j = b.Let($"urem i64 {aj}, {n}", "j");
        var a = b.Let($"udiv i64 {aj}, {n}", "a");
        var laneStart = b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {b.Let($"mul nuw nsw i64 {a}, {n}")}, {inner}")}, {c}", "lane");
        var mine = mem.Load("%p2", e, g);
        var rank = b.Reduce("0", n.ToString(), "i64", "0", (count, k) =>
        {
            var other = mem.Load("%p2", e, b.Let($"add nuw nsw i64 {laneStart}, {b.Let($"mul nuw nsw i64 {k}, {inner}")}"));
            var (before, tie) = Order(b, scalars, e, descending, other, mine);
            var earlierTie = b.Let($"and i1 {tie}, {b.Let($"icmp slt i64 {k}, {j}")}");
            return b.Let($"add nuw nsw i64 {count}, {b.Let($"zext i1 {b.Let($"or i1 {before}, {earlierTie}")} to i64")}");
        }, "k");
        var write = b.FreshLabel("kept");
        b.CondBr(b.Let($"icmp slt i64 {rank}, {keep}"), write, done);
        b.Block(write);
        var at = b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {a}, {keep}")}, {rank}")}, {inner}")}, {c}", "at");
        mem.Store(new KernelBuffer("%p0", op.Results[0].Type), at, mine);
        mem.Store(new KernelBuffer("%p1", op.Results[1].Type), at, j);
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, 3, b.Body());
        return new GpuKernel(name, Math.Max(1, (total + Block - 1) / Block), 1, 1, Block, [.. op.Results, x]);
    }

    /// <summary>Whether <paramref name="p"/> comes before <paramref name="q"/> in the sorted lane, and whether they tie (the interpreter's Compare: NaN last ascending, first descending).</summary>
    internal static (string Before, string Tie) Order(LlvmBuilder b, ScalarEmitter scalars, ElementType e, bool descending, string p, string q)
    {
        if (!e.IsFloat())
            return (scalars.Compare(descending ? "gt" : "lt", e, p, q), scalars.Compare("eq", e, p, q));
        var t = LlvmTypes.Compute(e);
        var pNan = b.Let($"fcmp uno {t} {p}, {p}");
        var qNan = b.Let($"fcmp uno {t} {q}, {q}");
        var tie = b.Let($"or i1 {b.Let($"fcmp oeq {t} {p}, {q}")}, {b.Let($"and i1 {pNan}, {qNan}")}");
        // Ascending: p a number and (q NaN or p < q). Descending: q a number and (p NaN or p > q).
        var before = descending
            ? b.Let($"and i1 {b.Let($"xor i1 {qNan}, true")}, {b.Let($"or i1 {pNan}, {b.Let($"fcmp ogt {t} {p}, {q}")}")}")
            : b.Let($"and i1 {b.Let($"xor i1 {pNan}, true")}, {b.Let($"or i1 {qNan}, {b.Let($"fcmp olt {t} {p}, {q}")}")}");
        return (before, tie);
    }
}
