namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// <c>void @gc.arena.advise(ptr arena, i64 bytes)</c>: asks Linux for transparent huge pages over the whole
/// 2 MiB pages inside a caller's arena, once per arena (the last one advised is kept). The caller allocates the
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

    /// <summary>Declares the helper in <paramref name="module"/> (once) and returns its symbol.</summary>
    public static string Helper(ModuleContext module)
    {
        if (!module.FirstHelper(Symbol)) return Symbol;
        module.Declare("declare i32 @madvise(ptr, i64, i32) nounwind");
        module.Global($"@{Symbol}.last = internal global ptr null, align 8");
        // Rounded inwards to whole huge pages: only those can be huge, and the advice never reaches memory
        // beyond the arena (the allocator's neighbouring blocks). A race between two threads that call with new
        // arenas at once only advises twice.
        module.AddFunction($$"""
            define internal void @{{Symbol}}(ptr %arena, i64 %bytes) nounwind {
            entry:
              %last = load atomic ptr, ptr @{{Symbol}}.last monotonic, align 8
              %same = icmp eq ptr %last, %arena
              br i1 %same, label %done, label %round
            round:
              %a = ptrtoint ptr %arena to i64
              %up = add i64 %a, {{HugePageBytes - 1}}
              %start = and i64 %up, {{-HugePageBytes}}
              %e = add i64 %a, %bytes
              %end = and i64 %e, {{-HugePageBytes}}
              %some = icmp ugt i64 %end, %start
              br i1 %some, label %advise, label %remember
            advise:
              %p = inttoptr i64 %start to ptr
              %len = sub i64 %end, %start
              %ignored = call i32 @madvise(ptr %p, i64 %len, i32 {{MadvHugePage}})
              br label %remember
            remember:
              store atomic ptr %arena, ptr @{{Symbol}}.last monotonic, align 8
              br label %done
            done:
              ret void
            }
            """ + "\n");
        return Symbol;
    }
}
