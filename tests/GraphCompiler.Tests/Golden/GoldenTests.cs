using GraphCompiler.IR.Text;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Golden;

/// <summary>Runs every <c>tests/ir/**/*.ir</c> file through its pipeline and compares the output text.</summary>
public sealed class GoldenTests
{
    public static IEnumerable<object[]> Files() => GoldenFile.All();

    [Theory]
    [MemberData(nameof(Files))]
    public void Golden(string relativePath)
    {
        var path = Path.Combine(GoldenFile.RepoRoot(), relativePath);
        var test = GoldenFile.Load(path);
        var actual = Pipelines.Run(test.Pipeline, test.InputWithHeaderPadding, Path.GetFileName(path));
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            test.Rewrite(actual);
            return;
        }
        if (actual != test.Expected)
            Assert.Fail($"{relativePath}: output differs from the expected section (- expected, + actual; UPDATE_GOLDEN=1 rewrites it):\n" +
                        TextDiff.Unified(test.Expected, actual));
    }
}

/// <summary>
/// The pipelines golden files may name: any passes of <see cref="PassRegistry"/>, run with every
/// pass checked, plus <c>roundtrip</c> (print in full and parse again). Rejected input prints its
/// diagnostics, so verifier and parser errors are golden-tested the same way.
/// </summary>
public static class Pipelines
{
    public static string Run(string pipeline, string text, string fileName)
    {
        var parsed = Parser.ParseModule(text, fileName);
        if (!parsed.Ok) return string.Join("\n", parsed.Diagnostics) + "\n";
        var module = parsed.Value!;
        foreach (var name in pipeline.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (name == "roundtrip")
            {
                module = Parser.ParseModule(Printer.Print(module, PrintOptions.Full), fileName).Unwrap();
                continue;
            }
            var r = PassManager.Run(module, new Pipeline(name, [name]), new PassOptions { CheckEachPass = true });
            if (!r.Ok) return string.Join("\n", r.Diagnostics) + "\n";
            module = r.Value!;
        }
        return Printer.Print(module);
    }
}
