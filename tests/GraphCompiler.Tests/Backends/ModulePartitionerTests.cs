using System.Text.RegularExpressions;
using GraphCompiler.Backends.Cpu;
using GraphCompiler.IR.Text;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// Parallel code generation: a program split by kernels into modules that LLVM compiles on separate threads
/// must define every kernel and constant exactly once and compute what the whole module computes.
/// </summary>
public sealed partial class ModulePartitionerTests
{
    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", name);

    [GeneratedRegex(@"^define (?:internal )?\S+ @([-\w.$]+)\(", RegexOptions.Multiline)]
    private static partial Regex Definition();

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    public void ASplitProgramDefinesEachKernelOnceAndMatchesTheInterpreter(int threads)
    {
        var model = Parser.ParseFile(Example("cnn.ir")).Unwrap();
        var optimised = PassManager.Run(model, PassRegistry.Default).Unwrap();
        var program = CpuCompiler.Generate(optimised, new CpuCompileOptions { CodegenThreads = threads }).Unwrap();
        var parts = program.Parts;
        Assert.NotNull(parts);
        Assert.InRange(parts.Count, 2, threads);

        // Kernels (and their bodies) live in one part; only helpers may be copied, as internal functions.
        var whole = Definition().Matches(program.LlvmIr).Select(m => m.Groups[1].Value).ToHashSet();
        var defined = parts.SelectMany(p => Definition().Matches(p.Ir).Select(m => m.Groups[1].Value)).ToList();
        Assert.Subset(whole, defined.ToHashSet());
        foreach (var name in defined.GroupBy(n => n).Where(g => g.Count() > 1).Select(g => g.Key))
            Assert.StartsWith("gc.", name);
        Assert.True(parts.Skip(1).All(p => !p.Ir.Contains("define i32 @model_run(", StringComparison.Ordinal)), "the entry point must be in part 0");
        // Every constant once, in the part whose text defines it.
        Assert.Equal(program.Constants.Select(c => c.Symbol).Order(), parts.SelectMany(p => p.Constants).Select(c => c.Symbol).Order());
        foreach (var p in parts)
            foreach (var c in p.Constants) Assert.Contains($"@{c.Symbol} = ", p.Ir);

        var rng = new Random(3);
        var inputs = optimised.Entry.Arguments.Select(a => GradientCheck.RandomTensor(a.Type, rng, -1, 1)).ToArray();
        var expected = new Interpreter(model).Run(null, inputs).Unwrap().Results;
        using var exe = CpuCompiler.Jit(optimised, new CpuCompileOptions { CodegenThreads = threads }).Unwrap();
        var actual = exe.Run(inputs).Unwrap();
        for (int i = 0; i < expected.Length; i++) IrTest.AssertTensor(expected[i], actual[i], rtol: 1e-4, atol: 1e-4);
    }

    [Fact]
    public void OneThreadOrASmallProgramKeepsOneModule()
    {
        var cnn = PassManager.Run(Parser.ParseFile(Example("cnn.ir")).Unwrap(), PassRegistry.Default).Unwrap();
        Assert.Null(CpuCompiler.Generate(cnn, new CpuCompileOptions { CodegenThreads = 1 }).Unwrap().Parts);
        var small = PassManager.Run(Parser.ParseFile(Example("softmax_regression.ir")).Unwrap(), PassRegistry.Default).Unwrap();
        Assert.Null(CpuCompiler.Generate(small, new CpuCompileOptions { CodegenThreads = 8 }).Unwrap().Parts);
    }
}
