using System.Text.RegularExpressions;

namespace GraphCompiler.Tests.IR;

/// <summary>Keeps the promise that every registered op is exercised by IR-text tests (and so round-trips).</summary>
public sealed class OpCoverageTests
{
    private static readonly string AllTestText = string.Join("\n",
        Directory.EnumerateFiles(Path.Combine(GoldenFile.RepoRoot(), "tests"), "*.*", SearchOption.AllDirectories)
            .Where(p => p.EndsWith(".cs", StringComparison.Ordinal) || p.EndsWith(".ir", StringComparison.Ordinal))
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Select(File.ReadAllText));

    public static IEnumerable<object[]> Ops() => OpRegistry.All.Select(o => new object[] { o.Name });

    [Theory]
    [MemberData(nameof(Ops))]
    public void OpAppearsInIrTextTests(string op)
    {
        // IR text ("= op", "op %x"), or the op's name handed to an IR-text helper ("op").
        var name = Regex.Escape(op);
        var pattern = $@"(= {name}\b)|(\b{name} %)|(""{name}"")|(^\s*{name}\b)";
        Assert.True(Regex.IsMatch(AllTestText, pattern, RegexOptions.Multiline), $"no IR-text test uses '{op}'");
    }

    [Fact]
    public void TheOpSetCoversTheDesign()
    {
        string[] required =
        [
            "constant", "iota", "convert", "reshape", "broadcast_in_dim", "transpose", "slice", "dynamic_slice", "concatenate",
            "pad", "reverse", "neg", "abs", "sign", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "tanh", "logistic", "erf",
            "sin", "cos", "floor", "ceil", "round", "not", "is_finite", "add", "sub", "mul", "div", "rem", "pow", "max", "min",
            "atan2", "and", "or", "xor", "compare", "select", "clamp", "dot_general", "convolution", "reduce", "reduce_window",
            "arg_reduce", "sort", "top_k", "gather", "scatter", "while", "if", "case", "call", "matrix_inverse", "determinant", "rng",
        ];
        var missing = required.Where(n => OpRegistry.Find(n) is null).ToList();
        Assert.True(missing.Count == 0, "missing ops: " + string.Join(", ", missing));
    }
}
