namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// <c>void @gc.arena.advise(ptr arena, i64 bytes)</c>: asks Linux for transparent huge pages over the whole
/// 2 MiB pages inside a caller's arena, once per arena (the last few advised are remembered). The caller allocates the
/// arena (malloc, <c>NativeMemory.AlignedAlloc</c>), so it comes in 4 KiB pages: the first call then takes one page
/// fault per 4 KiB it writes, about 10 µs each on this VM, and ResNet-50's 32 MB arena cost its first call 40 ms
/// more than a warm one (docs/performance.md, twelfth session); with huge pages, a handful of faults. Advice
/// changes neither the contents nor the size; where the kernel has huge pages off, or refuses, the call is a no-op.
/// </summary>
internal static class ArenaAdvice
{
    public const string Symbol = "gc.arena.advise";

    /// <summary>x86-64's and AArch64's (4 KiB granule) transparent huge page: one page-middle-directory entry.</summary>
    public const long HugePageBytes = 2 << 20;

    /// <summary>Linux's <c>MADV_HUGEPAGE</c> (asm-generic/mman-common.h).</summary>
    private const int MadvHugePage = 14;

    /// <summary>
    /// Arenas remembered as advised: a process whose concurrent calls each take an arena of their own (the JIT's pool of
    /// them) alternates between a few, and one remembered arena would make every such call a system call that takes the
    /// address space's lock for writing.
    /// </summary>
    private const int Remembered = 8;

    /// <summary>Declares the helper in <paramref name="module"/> (once) and returns its symbol.</summary>
    public static string Helper(ModuleContext module)
    {
        if (!module.FirstHelper(Symbol)) return Symbol;
        module.Declare("declare i32 @madvise(ptr, i64, i32) nounwind");
        module.Global($"@{Symbol}.seen = internal global [{Remembered} x ptr] zeroinitializer, align 8");
        module.Global($"@{Symbol}.next = internal global i64 0, align 8");
        var b = new LlvmBuilder();
        // Seen before: nothing to do. Rounded inwards to whole huge pages: only those can be huge, and the advice never
        // reaches memory beyond the arena (the allocator's neighbouring blocks). Threads racing with new arenas only
        // advise twice or forget one.
        for (int i = 0; i < Remembered; i++)
        {
            var slot = b.Let($"getelementptr inbounds [{Remembered} x ptr], ptr @{Symbol}.seen, i64 0, i64 {i}", "slot");
            var next = b.FreshLabel("look");
            b.CondBr(b.Let($"icmp eq ptr {b.Let($"load atomic ptr, ptr {slot} monotonic, align 8", "seen")}, %arena", "same"), "done", next);
            b.Block(next);
        }
        var a = b.Let("ptrtoint ptr %arena to i64", "a");
        var start = b.Let($"and i64 {b.Let($"add i64 {a}, {HugePageBytes - 1}", "up")}, {-HugePageBytes}", "start");
        var end = b.Let($"and i64 {b.Let($"add i64 {a}, %bytes", "e")}, {-HugePageBytes}", "end");
        b.CondBr(b.Let($"icmp ugt i64 {end}, {start}", "some"), "advise", "remember");
        b.Block("advise");
        b.Line($"call i32 @madvise(ptr {b.Let($"inttoptr i64 {start} to ptr", "p")}, i64 {b.Let($"sub i64 {end}, {start}", "len")}, i32 {MadvHugePage})");
        b.Br("remember");
        b.Block("remember");
        var k = b.Let($"atomicrmw add ptr @{Symbol}.next, i64 1 monotonic, align 8", "k");
        var at = b.Let($"getelementptr inbounds [{Remembered} x ptr], ptr @{Symbol}.seen, i64 0, i64 {b.Let($"and i64 {k}, {Remembered - 1}", "i")}", "slot");
        b.Line($"store atomic ptr %arena, ptr {at} monotonic, align 8");
        b.Br("done");
        b.Block("done");
        b.Line("ret void");
        module.AddFunction($"define internal void @{Symbol}(ptr %arena, i64 %bytes) nounwind {{\n{b.Body()}}}");
        return Symbol;
    }
}
