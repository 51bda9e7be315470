using GraphCompiler.Backends.Cuda;
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
/// <para>
/// Placement runs for a CUDA GPU (<see cref="CudaCapabilities.Supports"/>). Comment lines in the input
/// add placement options: <c>// place: REGEX=cpu|gpu</c> (one constraint per line, as <c>--place</c>),
/// <c>// compress-transfers: f16|bf16</c>, <c>// no-gpu</c> (placement without a GPU) and <c>// tasks: N</c>
/// (<see cref="PlacementOptions.Tasks"/>: placement over N processes). <c>// micro-batches: M</c> sets <see cref="PassOptions.MicroBatches"/>,
/// <c>// precision: bf16|f16</c> <see cref="PassOptions.ContractionOperands"/>, <c>// target: cuda [tf32]</c> the CUDA
/// target's <see cref="PassOptions.ContractionCopyBytes"/> and <see cref="PassOptions.ComputedConvolutionInputs"/>. <c>// memory-budget: N</c>
/// sets <see cref="PassOptions.MemoryBudget"/> (bytes, for <c>remat</c>), whose arenas are planned as the CPU
/// target plans them, so that the figures in a file's comments are <c>gcc-cli ir --memory-report</c>'s.
/// </para>
/// </summary>
public static class Pipelines
{
    public static string Run(string pipeline, string text, string fileName)
    {
        var parsed = Parser.ParseModule(text, fileName);
        if (!parsed.Ok) return string.Join("\n", parsed.Diagnostics) + "\n";
        var module = parsed.Value!;
        var placement = PlacementFrom(text);
        if (!placement.Ok) return string.Join("\n", placement.Diagnostics) + "\n";
        var target = TargetFrom(text);
        var options = new PassOptions
        {
            CheckEachPass = true, Placement = placement.Value!,
            MemoryBudget = MemoryBudgetFrom(text), MicroBatches = (int?)IntDirective(text, "// micro-batches:") ?? 1, MemoryPlan = _ => GraphCompiler.Backends.Cpu.CpuCompiler.MemoryPlan,
            ContractionOperands = text.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("// precision:", StringComparison.Ordinal)) is { } p
                && ElementTypes.TryParse(p["// precision:".Length..].Trim(), out var low) ? low : null,
            ContractionCopyBytes = target is null ? null : target.ContractionCopyBytes,
            ComputedConvolutionInputs = target?.ComputesConvolutionInputs ?? true,
            ReshapingEpilogues = target?.ReshapingEpilogues ?? false,
        };
        foreach (var name in pipeline.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (name == "roundtrip")
            {
                module = Parser.ParseModule(Printer.Print(module, PrintOptions.Full), fileName).Unwrap();
                continue;
            }
            var r = PassManager.Run(module, new Pipeline(name, [name]), options);
            if (!r.Ok) return string.Join("\n", r.Diagnostics) + "\n";
            module = r.Value!;
        }
        return Printer.Print(module);
    }

    /// <summary>
    /// <c>// target: cuda</c> (or <c>cuda tf32</c>: f32 contractions on TF32 tensor cores): the CUDA target, whose facts
    /// (<see cref="GraphCompiler.IR.Targets.ITarget.ContractionCopyBytes"/>, <see cref="GraphCompiler.IR.Targets.ITarget.ComputesConvolutionInputs"/>)
    /// the pass options get as the driver passes them; null without one.
    /// </summary>
    private static GraphCompiler.IR.Targets.ITarget? TargetFrom(string text) =>
        text.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("// target:", StringComparison.Ordinal)) is { } line
            ? GraphCompiler.Targets.Resolve("cuda", tf32: line.EndsWith(" tf32", StringComparison.Ordinal)).Unwrap()
            : null;

    /// <summary>The <c>// memory-budget: N</c> directive's bytes, or null without one.</summary>
    public static long? MemoryBudgetFrom(string text) => IntDirective(text, "// memory-budget:");

    /// <summary>The number after the first line starting with <paramref name="directive"/>, or null without one.</summary>
    private static long? IntDirective(string text, string directive)
    {
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith(directive, StringComparison.Ordinal)) return long.Parse(line[directive.Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        return null;
    }

    /// <summary>The placement options the input's directive comments give.</summary>
    public static Result<PlacementOptions> PlacementFrom(string text)
    {
        var options = new PlacementOptions { GpuSupports = CudaCapabilities.Supports };
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line == "// no-gpu") options = options with { GpuSupports = null };
            else if (line.StartsWith("// place:", StringComparison.Ordinal))
            {
                var c = PlacementConstraint.Parse(line["// place:".Length..].Trim());
                if (!c.Ok) return Result<PlacementOptions>.Failure(c.Diagnostics);
                options = options with { Constraints = options.Constraints.Add(c.Value!) };
            }
            else if (line.StartsWith("// tasks:", StringComparison.Ordinal))
                options = options with { Tasks = int.Parse(line["// tasks:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture) };
            else if (line.StartsWith("// compress-transfers:", StringComparison.Ordinal))
            {
                var spec = line["// compress-transfers:".Length..].Trim();
                if (PlacementOptions.ParseCompression(spec) is not { } compression)
                    return Result<PlacementOptions>.Failure(new Diagnostic($"transfer compression '{spec}' is not one of none, f16, bf16"));
                options = options with { CompressTransfers = compression };
            }
        }
        return Result<PlacementOptions>.Success(options);
    }
}
