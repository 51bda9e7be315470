using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

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
        var b = ev.B;
        var shape = stores[0].Value.Type.Shape;
        var idx = new string[shape.Length];
        void Nest(int d)
        {
            if (d == shape.Length)
            {
                ev.NextElement();
                StoreElement(ev, stores, idx, shape);
                return;
            }
            b.For("0", shape[d].ToString(), i =>
            {
                idx[d] = i;
                Nest(d + 1);
            }, $"d{d}.", InnerLoopMetadata(ev.Module, shape, d));
        }
        Nest(0);
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
    /// <c>@KERNEL.parN(ptr ctx, i32 t, i32 n)</c> (added to <paramref name="functions"/>), which reloads the
    /// kernel's buffer pointers from <c>ctx</c> under their own names and evaluates elements with a fork of
    /// <paramref name="ev"/> on its own builder.
    /// </summary>
    public static void StoreAllParallel(ElementEvaluator ev, string kernel, int index, IReadOnlyList<(KernelBuffer Dest, Value Value)> stores,
        int opsPerElement, List<string> functions)
    {
        var outer = ev.B;
        var shape = stores[0].Value.Type.Shape;
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
        var (lo, hi) = Parallel.PartRows(b, shape[split]);
        var idx = new string[shape.Length];
        for (int d = 0; d < split; d++) idx[d] = "0";
        void Nest(int d)
        {
            if (d == shape.Length)
            {
                part.NextElement();
                StoreElement(part, stores, idx, shape);
                return;
            }
            b.For(d == split ? lo : "0", d == split ? hi : shape[d].ToString(), i =>
            {
                idx[d] = i;
                Nest(d + 1);
            }, $"d{d}.", d == split ? null : InnerLoopMetadata(ev.Module, shape, d));
        }
        Nest(split);
        b.Line("ret void");
        functions.Add($"define internal void @{body}(ptr %ctx, i32 %t, i32 %n) nounwind {{\n{b.Body()}}}");
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
    private static string? InnerLoopMetadata(ModuleContext module, ImmutableArray<long> shape, int d) =>
        d != shape.Length - 1 ? null
        : shape[d] > 256 ? module.InterleavedLoop(InterleavedVectors)
        : d > 0 && shape[d] >= 16 ? module.NoUnrollLoop()
        : null;
}
