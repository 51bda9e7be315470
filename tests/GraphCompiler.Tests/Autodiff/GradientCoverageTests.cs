namespace GraphCompiler.Tests.Autodiff;

/// <summary>
/// Which ops differentiate is declared on each op (<see cref="OpDef.Gradient"/>); these tests keep that
/// declaration honest: an op without a rule must be one that is never on a gradient path or is listed here
/// with the reason, and every op with a rule has a finite-difference test in this folder.
/// </summary>
public sealed class GradientCoverageTests
{
    /// <summary>Ops that read or produce floats but have no rule, and why.</summary>
    private static readonly Dictionary<string, string> WithoutRule = new()
    {
        ["constant"] = "reads nothing",
        ["iota"] = "reads nothing",
        ["rng"] = "random: its operands are seeds and shapes",
        ["compare"] = "bool result",
        ["is_finite"] = "bool result",
        ["arg_reduce"] = "integer result",
        ["return"] = "terminator",
        ["yield"] = "terminator",
        ["call"] = "the differentiate pass runs before inlining; differentiate the callee instead",
        ["gradient"] = "expanded by the differentiate pass before anything differentiates it",
        ["fusion"] = "exists only after fuse, which runs after differentiate",
        ["send"] = "exists only after insert-transfers, the last pass",
        ["recv"] = "exists only after insert-transfers, the last pass",
        ["matrix_inverse"] = "not yet: the issue's op list does not include linear algebra",
        ["determinant"] = "not yet: the issue's op list does not include linear algebra",
        ["not"] = "integer and bool only",
        ["and"] = "integer and bool only",
        ["or"] = "integer and bool only",
        ["xor"] = "integer and bool only",
        ["shift_left"] = "integer only",
        ["shift_right_arithmetic"] = "integer only",
        ["shift_right_logical"] = "integer only",
        ["all_reduce"] = "not yet: issue #17 items 1-2 define the collectives; their gradients (an all_reduce of the cotangent, ...) are a later item",
        ["all_gather"] = "not yet: the gradient is a reduce_scatter of the cotangent, a later item of issue #17",
        ["reduce_scatter"] = "not yet: the gradient is an all_gather of the cotangent, a later item of issue #17",
        ["collective_broadcast"] = "not yet: the gradient is a reduce to the root, a later item of issue #17",
        ["replica_id"] = "integer result",
        ["all_reduce_start"] = "made after differentiation (the data-parallel step averages its gradients with it), so never differentiated; it would take all_reduce's rule",
        ["all_reduce_done"] = "completes an all_reduce_start, which is never differentiated",
    };

    [Fact]
    public void EveryOpWithoutARuleHasAReason()
    {
        var missing = OpRegistry.All.Where(op => op.Gradient is null && !WithoutRule.ContainsKey(op.Name)).Select(op => op.Name).ToList();
        Assert.True(missing.Count == 0, $"ops with no gradient rule and no stated reason: {string.Join(", ", missing)}");
        var stale = WithoutRule.Keys.Where(n => OpRegistry.Find(n) is { Gradient: not null }).ToList();
        Assert.True(stale.Count == 0, $"listed as without a rule but have one: {string.Join(", ", stale)}");
    }

    [Fact]
    public void EveryRuleHasAFiniteDifferenceTest()
    {
        var folder = Path.Combine(GoldenFile.RepoRoot(), "tests", "GraphCompiler.Tests", "Autodiff");
        var text = string.Concat(Directory.EnumerateFiles(folder, "*.cs").Where(f => !f.EndsWith(nameof(GradientCoverageTests) + ".cs", StringComparison.Ordinal))
            .Select(File.ReadAllText));
        var untested = OpRegistry.All.Where(op => op.Gradient is not null)
            .Where(op => !System.Text.RegularExpressions.Regex.IsMatch(text, $@"(?<![A-Za-z_])({op.Name})(?![A-Za-z_])"))
            .Select(op => op.Name).ToList();
        Assert.True(untested.Count == 0, $"ops with a gradient rule but no test in tests/GraphCompiler.Tests/Autodiff: {string.Join(", ", untested)}");
    }
}
