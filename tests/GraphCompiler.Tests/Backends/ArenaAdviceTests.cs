using System.Globalization;
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// The entry of a program whose arena spans whole huge pages asks Linux for transparent huge pages over them
/// (<c>@gc.arena.advise</c>; the first call otherwise takes a page fault per 4 KiB of arena): the advice shows
/// in <c>/proc/self/smaps</c> as the <c>hg</c> flag of a new mapping of whole 2 MiB pages, and the results are
/// the interpreter's.
/// </summary>
public sealed class ArenaAdviceTests
{
    private const long HugePage = 2 << 20;

    // %d (2048 × 512 f32, 4 MiB) lives in the arena between the two products.
    private const string Big = """
        func @main(%a: tensor<2048x64xf32>, %b: tensor<64x512xf32>, %c: tensor<512x8xf32>) -> (tensor<2048x8xf32>) {
          %d = dot_general %a, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<2048x512xf32>
          %e = tanh %d : tensor<2048x512xf32>
          %f = dot_general %e, %c {lhs_contract = [1], rhs_contract = [0]} : tensor<2048x8xf32>
          return %f
        }
        """;

    private const string Small = """
        func @main(%a: tensor<16x64xf32>, %b: tensor<64x32xf32>) -> (tensor<16x32xf32>) {
          %d = dot_general %a, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<16x32xf32>
          %e = tanh %d : tensor<16x32xf32>
          return %e
        }
        """;

    private static Module Optimised(string text) => PassManager.Run(IrTest.Parse(text), PassRegistry.Default).Unwrap();

    [Fact]
    public void OnlyAnArenaOfWholeHugePagesIsAdvised()
    {
        var big = CpuCompiler.Generate(Optimised(Big)).Unwrap();
        Assert.True(big.ArenaBytes >= 2 * HugePage, $"the test model's arena is {big.ArenaBytes} bytes");
        Assert.Contains($"call void @gc.arena.advise(ptr %arena, i64 {big.ArenaBytes})", big.LlvmIr);
        var small = CpuCompiler.Generate(Optimised(Small)).Unwrap();
        Assert.True(small.ArenaBytes < HugePage);
        Assert.DoesNotContain("gc.arena.advise", small.LlvmIr);
    }

    [TransparentHugePagesFact]
    public void TheFirstCallAdvisesItsArenaAndComputesTheInterpretersResult()
    {
        var m = IrTest.Parse(Big);
        var rng = new Random(11);
        var inputs = m.Entry.Arguments.Select(a =>
            Tensor.FromDoubles(a.Type, [.. Enumerable.Range(0, (int)a.Type.ElementCount).Select(_ => rng.NextDouble() - 0.5)])).ToArray();
        var expected = new Interpreter(m).Run(null, inputs).Unwrap().Results[0];
        using var exe = CpuCompiler.Jit(Optimised(Big)).Unwrap();

        var result = exe.Run(inputs).Unwrap()[0];
        IrTest.AssertTensor(expected, result, rtol: 1e-4, atol: 1e-5);

        // The arena's whole huge pages lie in a mapping with the hg flag, itself of whole huge pages. (Not necessarily a new
        // mapping: tests run in parallel in this process, and the allocator may hand out memory an earlier program's arena
        // had, already advised; before, this test asked for a new mapping and failed once that way.)
        var (start, size) = ArenaOf(exe);
        long first = (start + HugePage - 1) / HugePage * HugePage, last = (start + size) / HugePage * HugePage;
        Assert.True(last - first >= HugePage, $"the arena [{start:x}, +{size}) spans no whole huge page");
        Assert.Contains(AdvisedMappings(), r => r.Start <= first && r.End >= last
            && r.Start % HugePage == 0 && (r.End - r.Start) % HugePage == 0);
    }

    /// <summary>The address and size of the arena the executable's first call used (it keeps it for the next call).</summary>
    private static (long Start, long Size) ArenaOf(GraphCompiler.Backends.Llvm.NativeExecutable exe)
    {
        var field = typeof(GraphCompiler.Backends.Llvm.NativeExecutable).GetField("_arenas", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)
            ?? throw new InvalidOperationException("NativeExecutable keeps its arenas elsewhere now: update this test");
        var arena = ((IEnumerable<GraphCompiler.Runtime.Arena>)field.GetValue(exe)!).Single();
        return (arena.Pointer, arena.Size);
    }

    /// <summary>The mappings of this process whose <c>VmFlags</c> include <c>hg</c>, as [start, end) address ranges.</summary>
    private static HashSet<(long Start, long End)> AdvisedMappings()
    {
        var advised = new HashSet<(long, long)>();
        (long, long)? current = null;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-');
            var space = line.IndexOf(' ');
            if (dash > 0 && space > dash && long.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, null, out var start)
                && long.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, null, out var end))
                current = (start, end);
            else if (line.StartsWith("VmFlags:", StringComparison.Ordinal) && current is { } range
                     && line["VmFlags:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("hg"))
                advised.Add(range);
        }
        return advised;
    }
}

/// <summary>A fact skipped, visibly, where the kernel has no transparent huge pages (the advice is then refused, harmlessly).</summary>
public sealed class TransparentHugePagesFactAttribute : FactAttribute
{
    public TransparentHugePagesFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/sys/kernel/mm/transparent_hugepage"))
            Skip = "this kernel has no transparent huge pages (/sys/kernel/mm/transparent_hugepage)";
    }
}
