using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// The loop nests that store every element of a value, and their split over threads: the outermost
/// dimension longer than 1 is cut into one range per thread, each range's nest in a function of its own
/// that <see cref="Parallel"/> runs.
/// </summary>
internal static class ThreadSplit
{
    /// <summary>Loops over every element of <paramref name="v"/> and stores it into <paramref name="dest"/>.</summary>
    public static void StoreAll(ElementEvaluator ev, KernelBuffer dest, Value v) => StoreAll(ev, [(dest, v)]);

    /// <summary>
    /// One loop nest over the common shape of <paramref name="stores"/>' values storing each into its buffer:
    /// per element every value is computed before any is stored, so they share their subexpressions and
    /// loads, and a value may overwrite an input it reads elementwise (an in-place variable update).
    /// </summary>
    public static void StoreAll(ElementEvaluator ev, IReadOnlyList<(KernelBuffer Dest, Value Value)> stores)
    {
        (stores, var shape) = BeforeReshapes(ev, stores);
        Nests(ev, stores, shape, 0, null);
    }

    /// <summary>
    /// The loop nest over dimensions <paramref name="first"/>.. of <paramref name="shape"/> (those before it at index 0)
    /// storing every value of <paramref name="stores"/>; dimension <paramref name="first"/> runs over a thread's
    /// <paramref name="rows"/> when given. Other loops are split at concatenation boundaries.
    /// </summary>
    private static void Nests(ElementEvaluator ev, IReadOnlyList<(KernelBuffer Dest, Value Value)> stores, ImmutableArray<long> shape,
        int first, (string Lo, string Hi)? rows)
    {
        var b = ev.B;
        var idx = new string[shape.Length];
        for (int d = 0; d < first; d++) idx[d] = "0";
        var cuts = ConcatenationCuts(ev, shape);
        void Nest(int d)
        {
            if (d == shape.Length)
            {
                ev.NextElement();
                StoreElement(ev, stores, idx, shape);
                return;
            }
            if (d == first && rows is { } range)
            {
                // The thread's rows: one range, never split at concatenation boundaries.
                b.For(range.Lo, range.Hi, i =>
                {
                    idx[d] = i;
                    Nest(d + 1);
                }, $"d{d}.");
                return;
            }
            foreach (var (lo, hi) in Pieces(shape[d], cuts[d]))
                b.For(lo.ToString(), hi.ToString(), i =>
                {
                    idx[d] = i;
                    if (cuts[d] is not null) ev.KnowRange(i, lo, hi);
                    Nest(d + 1);
                }, $"d{d}.", InnerLoopMetadata(ev.Module, shape.Length, d, hi - lo));
        }
        Nest(first);
    }

    /// <summary>Most pieces a loop is split into at concatenation boundaries; past it the loop selects per element.</summary>
    private const int MostPieces = 16;

    /// <summary>
    /// Per dimension of <paramref name="shape"/>, where the concatenations of that shape the kernel computes join their
    /// operands along it (null: nowhere). A loop split there has pieces in which each concatenation reads one operand
    /// at a shifted index: plain loads LLVM vectorises, where one loop over the joined dimension reads every operand at a
    /// clamped index and selects (gathers, as Inception's and SqueezeNet's channel concatenations in NHWC had).
    /// </summary>
    private static long[]?[] ConcatenationCuts(ElementEvaluator ev, ImmutableArray<long> shape)
    {
        var cuts = new SortedSet<long>?[shape.Length];
        foreach (var op in ev.Definitions)
        {
            if (op.Def is not ConcatenateOp || !op.Result.Type.Shape.SequenceEqual(shape)) continue;
            int d = op.Attr.Int32("dimension");
            long offset = 0;
            foreach (var x in op.Operands.SkipLast(1))
            {
                offset += x.Type.Shape[d];
                if (offset > 0 && offset < shape[d]) (cuts[d] ??= []).Add(offset);
            }
        }
        return [.. cuts.Select(c => c is null || c.Count + 1 > MostPieces ? null : c.ToArray())];
    }

    private static IEnumerable<(long Lo, long Hi)> Pieces(long length, long[]? cuts)
    {
        long lo = 0;
        foreach (var c in cuts ?? [])
        {
            yield return (lo, c);
            lo = c;
        }
        yield return (lo, length);
    }

    /// <summary>
    /// The values to store with the reshapes they end in (computed in the kernel) taken off, and the shape the loop
    /// nest runs over: theirs, when they share one. Memory order is the same, and indices in the shape the values are
    /// computed in need no splitting: a channel shuffle (reshape, transpose, reshape) becomes a nest over the
    /// transposed shape whose innermost loops LLVM vectorises, instead of a division per element.
    /// </summary>
    private static (IReadOnlyList<(KernelBuffer Dest, Value Value)> Stores, ImmutableArray<long> Shape) BeforeReshapes(
        ElementEvaluator ev, IReadOnlyList<(KernelBuffer Dest, Value Value)> stores)
    {
        Value Source(Value v)
        {
            while (ev.DefinitionOf(v) is { Def: ReshapeOp } op) v = op.Operands[0];
            return v;
        }
        var sources = stores.Select(s => (s.Dest, Value: Source(s.Value))).ToList();
        var shape = sources[0].Value.Type.Shape;
        return sources.All(s => s.Value.Type.Shape.SequenceEqual(shape)) ? (sources, shape) : (stores, stores[0].Value.Type.Shape);
    }

    internal static void StoreElement(ElementEvaluator ev, IReadOnlyList<(KernelBuffer Dest, Value Value)> stores, string[] idx, ImmutableArray<long> shape)
    {
        var xs = stores.Select(s => ev.Element(s.Value, idx)).ToList();
        var at = ev.Memory.Ravel(idx, shape);
        for (int i = 0; i < stores.Count; i++) ev.Memory.Store(stores[i].Dest, at, xs[i]);
    }

    /// <summary>
    /// <see cref="StoreAll(ElementEvaluator, IReadOnlyList{ValueTuple{KernelBuffer, Value}})"/> split over threads
    /// along the outermost dimension longer than 1, when the work pays for threads: the loop nest moves into
    /// <c>@KERNEL.parN(ptr ctx, i32 t, i32 n, i32 slot)</c> (added to <paramref name="functions"/>), which reloads the
    /// kernel's buffer pointers from <c>ctx</c> under their own names and evaluates elements with a fork of
    /// <paramref name="ev"/> on its own builder.
    /// </summary>
    public static void StoreAllParallel(ElementEvaluator ev, string kernel, int index, IReadOnlyList<(KernelBuffer Dest, Value Value)> stores,
        int opsPerElement, List<string> functions)
    {
        var outer = ev.B;
        (stores, var shape) = BeforeReshapes(ev, stores);
        int split = Enumerable.Range(0, shape.Length).FirstOrDefault(d => shape[d] > 1, -1);
        // Each element costs its ops plus storing it (memory-bound loops are not free per element).
        var threads = split < 0 ? "1" : Parallel.Threads(outer, stores[0].Value.Type.ElementCount * (Math.Max(1, opsPerElement) + Parallel.ElementMoveCost), shape[split]);
        if (threads == "1")
        {
            StoreAll(ev, stores);
            return;
        }
        var (ctx, part) = Fork(ev, stores.Select(s => s.Dest.Pointer));
        var body = $"{kernel}.par{index}";
        Parallel.Split(outer, ev.Module, $"@{body}", ctx, threads, shape[split]);
        var b = part.B;
        Nests(part, stores, shape, split, Parallel.PartRows(b, shape[split]));
        b.Line("ret void");
        functions.Add($"define internal void @{body}(ptr %ctx, {Parallel.PartParameters}) nounwind {{\n{b.Body()}}}");
    }

    /// <summary>
    /// For evaluating elements in a function of their own: stores the kernel's buffer pointers (and
    /// <paramref name="more"/>) into a context array on <paramref name="ev"/>'s builder, and returns it with a fork of
    /// <paramref name="ev"/> on a new builder that reloads them from <c>%ctx</c> under their own names.
    /// </summary>
    public static (string Ctx, ElementEvaluator Part) Fork(ElementEvaluator ev, IEnumerable<string> more)
    {
        var outer = ev.B;
        var captured = ev.Buffers.Select(x => x.Pointer).Concat(more).Where(p => p.StartsWith('%')).Distinct().ToList();
        var ctx = outer.Alloca($"[{captured.Count} x ptr]");
        for (int i = 0; i < captured.Count; i++)
            outer.Line($"store ptr {captured[i]}, ptr {outer.Let($"getelementptr inbounds ptr, ptr {ctx}, i64 {i}", "slot")}");
        var part = ev.Fork(new LlvmBuilder(outer.NextName));
        var b = part.B;
        // Dotted names: the builder's temporaries (t64, ...) never contain a dot.
        for (int i = 0; i < captured.Count; i++)
            b.Line($"{captured[i]} = load ptr, ptr {b.Let($"getelementptr inbounds ptr, ptr %ctx, i64 {i}", "slot")}");
        return (ctx, part);
    }

    /// <summary>
    /// Vector iterations a long innermost loop interleaves (<see cref="ModuleContext.InterleavedLoop"/>). Zen 1, 16 M
    /// elements through tanh, logistic, exp and sqrt: 176 → 114 ms with 2, 107 ms with 4; a memory-bound chain and
    /// the CNNs' epilogues unchanged.
    /// </summary>
    private const int InterleavedVectors = 4;

    /// <summary>
    /// Keeps a short innermost loop of a nest a loop, so that LLVM vectorises it (see <see cref="ModuleContext.NoUnrollLoop"/>),
    /// and has a long one interleave vectors.
    /// </summary>
    private static string? InnerLoopMetadata(ModuleContext module, int rank, int d, long trips) =>
        d != rank - 1 ? null
        : trips > 256 ? module.InterleavedLoop(InterleavedVectors)
        : d > 0 && trips >= 16 ? module.NoUnrollLoop()
        : null;
}
