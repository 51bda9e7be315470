using System.CommandLine;
using System.Diagnostics;
using GraphCompiler.IR;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>gcc-cli graph MODEL [--feed/--fetch/--constant ...] [--passes a,b | --pipeline NAME] [--after PASS] [--place REGEX=gpu] [--compress-transfers f16] [-o DIR] [--format svg|png|pdf|dot]</c>:
/// draws the IR (after the passes, or after one pass of them) with Graphviz. With <c>-o DIR</c> it writes
/// <c>DIR/MODEL.FORMAT</c> (<c>-o</c> is an output folder on every command); the format <c>dot</c> is the
/// DOT text, the others are rendered by <c>dot -T&lt;format&gt;</c>. No <c>-o</c> prints the DOT text.
/// </summary>
internal static class GraphCommand
{
    private static readonly string[] Formats = ["svg", "png", "pdf", "dot"];

    public static Command Create()
    {
        var model = new ModelOptions();
        var placement = new PlacementCliOptions();
        var passes = new Option<string?>("--passes") { Description = "Comma-separated passes to run first, in order; A+B* runs A and B again until a round changes nothing." };
        var pipeline = new Option<string?>("--pipeline") { Description = "A named pipeline to run first." };
        var after = new Option<string?>("--after") { Description = "Draw the IR right after this pass of the pipeline (default pipeline unless --passes/--pipeline)." };
        var output = new Option<string?>("--output-dir", "-o") { Description = "Folder to write MODEL.FORMAT into (created if missing); without it the DOT text goes to stdout." };
        var format = new Option<string>("--format") { Description = "What to write with -o: dot (the DOT text) or a format Graphviz renders.", DefaultValueFactory = _ => "svg" };
        format.AcceptOnlyFromAmong(Formats);
        var cmd = model.AddTo(new Command("graph", "Draw a model's IR as a graph (Graphviz): ops as boxes, tensors as edges, regions as clusters."));
        cmd.Options.Add(passes);
        cmd.Options.Add(pipeline);
        cmd.Options.Add(after);
        cmd.Options.Add(output);
        cmd.Options.Add(format);
        placement.AddTo(cmd);
        cmd.SetAction(r => Run(r, model, placement, r.GetValue(passes), r.GetValue(pipeline), r.GetValue(after), r.GetValue(output), r.GetValue(format)!));
        return cmd;
    }

    private static int Run(ParseResult r, ModelOptions model, PlacementCliOptions placement, string? passes, string? pipelineName, string? after, string? outputDir, string format)
    {
        var options = new CompileOptions
        {
            Passes = passes?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
            Pipeline = pipelineName ?? (after is not null ? null : "none"),
        };
        var withModel = model.Apply(r, placement.Apply(r, options));
        if (!withModel.Ok) return Cli.FailOne(withModel.Diagnostics);
        if (Cli.Driver(withModel.Value!, out var bad) is not { } driver) return bad;
        if (after is not null && (driver.Pipeline is null || !driver.Pipeline.Passes.Contains(after)))
            return Cli.Fail($"--after {after}: the pipeline ({driver.Pipeline?.ToString() ?? "none"}) has no such pass");
        var parsed = driver.Load(r.GetValue(model.Model)!);
        if (!parsed.Ok) return Cli.FailOne(parsed.Diagnostics);

        Module? snapshot = null;
        var result = driver.Optimize(parsed.Value!, step =>
        {
            if (snapshot is null && step.PassName == after) snapshot = step.Module;
        });
        if (!result.Ok) return Cli.Fail(result.Diagnostics);
        var module = snapshot ?? result.Value!;

        var dot = Compiler.Graph(module);
        if (outputDir is null)
        {
            Console.Out.Write(dot);
            return Cli.Ok;
        }
        byte[] bytes;
        if (format == "dot") bytes = System.Text.Encoding.UTF8.GetBytes(dot);
        else
        {
            if (FindOnPath("dot") is not { } exe)
                return Cli.Fail("Graphviz 'dot' is not installed (Debian: apt-get install graphviz); use --format dot for the DOT text");
            var (code, rendered, err) = RunDot(exe, format, dot);
            if (code != 0) return Cli.Fail($"dot -T{format} failed: {err.ReplaceLineEndings(" ").Trim()}");
            bytes = rendered;
        }
        var name = $"{Cli.SafeFileName(Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(r.GetValue(model.Model)!)))}.{format}";
        Cli.WriteAll(outputDir, [(name, bytes)]);
        Console.Out.WriteLine($"wrote {Path.Combine(outputDir, name)}");
        return Cli.Ok;
    }

    private static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static (int Code, byte[] Output, string Error) RunDot(string exe, string format, string dotText)
    {
        var psi = new ProcessStartInfo(exe, [$"-T{format}"])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        using var buffer = new MemoryStream();
        var copy = p.StandardOutput.BaseStream.CopyToAsync(buffer);
        var err = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(dotText);
        p.StandardInput.Close();
        p.WaitForExit();
        copy.Wait();
        return (p.ExitCode, buffer.ToArray(), err.Result);
    }
}
