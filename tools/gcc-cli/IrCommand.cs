using System.CommandLine;
using GraphCompiler.IR;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>gcc-cli ir MODEL [--feed/--fetch/--constant ...] [--passes a,b | --pipeline default|cuda] [--place REGEX=gpu] [--compress-transfers f16] [--print-after PASS|all] [--dump-dir DIR]</c>:
/// load (IR text or an imported model), verify, optionally run passes, and print the IR. <c>--print-after all</c> prints
/// the IR after every pass, except that a pass that changed nothing gets only its header line
/// (<c>// ----- after NAME (unchanged) -----</c>). <c>--memory-report</c> runs the default pipeline (unless
/// --passes/--pipeline) and prints only the buffer assignment report (after the <c>--print-after</c> output, if
/// asked for), whose last line is the entry function's <c>memory: peak N bytes, no-reuse N bytes, lower bound N bytes</c>;
/// with <c>--json</c> the report is printed as JSON.
/// </summary>
internal static class IrCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var placement = new PlacementCliOptions();
        var file = new Argument<string?>("model") { Description = $"The model: {ModelLoader.Supported}.", Arity = ArgumentArity.ZeroOrOne };
        var full = new Option<bool>("--full-constants") { Description = "Print every constant in full instead of eliding large ones by hash." };
        var passes = new Option<string?>("--passes") { Description = "Comma-separated passes to run, in order (see --list-passes); A+B* runs A and B again until a round changes nothing." };
        var pipeline = new Option<string?>("--pipeline") { Description = "A named pipeline to run (default: the one 'compile' uses)." };
        var printAfter = new Option<string?>("--print-after") { Description = "Print the IR after the named pass, or after every pass with 'all' (a pass that changed nothing: only its header)." };
        var dumpDir = new Option<string?>("--dump-dir") { Description = "With --print-after: write one numbered file per pass here instead of printing." };
        var list = new Option<bool>("--list-passes") { Description = "List the passes and pipelines, then exit." };
        var memory = new Option<bool>("--memory-report") { Description = "After the pipeline (default unless --passes/--pipeline), print only the arena layout report (peak, no-reuse and lower-bound bytes), after any --print-after output." };
        var json = new Option<bool>("--json") { Description = "With --memory-report: print only the report, as JSON (per function, per value)." };
        var target = new Option<string>("--target") { Description = "The target whose pipeline runs (with --print-after/--memory-report) and whose arena plan the memory report shows.", DefaultValueFactory = _ => "host" };
        target.AcceptOnlyFromAmong([.. Targets.Names]);
        var budget = CompileCommand.MemoryBudgetOption();
        var cmd = new Command("ir", "Load a model (IR text, or imported), verify, optionally optimise, and print its IR (the form pass tests compare).")
        {
            file, full, passes, pipeline, printAfter, dumpDir, list, memory, json, target, budget,
        };
        model.AddTo(cmd, withArgument: false);
        placement.AddTo(cmd);
        var training = new TrainingCliOptions();
        training.AddWithTrain(cmd);
        var timing = new TimingCliOptions();
        timing.AddTo(cmd, cache: false);
        cmd.SetAction(r =>
        {
            if (r.GetValue(list))
            {
                foreach (var (name, description) in Compiler.AvailablePasses) Console.Out.WriteLine($"{name,-28} {description}");
                foreach (var (name, passList) in Compiler.AvailablePipelines) Console.Out.WriteLine($"pipeline {name,-19} {passList}");
                return Cli.Ok;
            }
            var print = r.GetValue(full) ? PrintOptions.Full : PrintOptions.Default;
            if (r.GetValue(file) is not { } path) return Cli.Fail("missing the model to read (see gcc-cli ir --help)");
            var after = r.GetValue(printAfter);
            var dump = r.GetValue(dumpDir);
            bool report = r.GetValue(memory), asJson = r.GetValue(json);
            if (asJson && !report) return Cli.Fail("--json goes with --memory-report");
            if (asJson && after is not null && dump is null) return Cli.Fail("--json prints only the report; add --dump-dir to keep --print-after output");
            if (CompileCommand.ParseMemoryBudget(r.GetValue(budget), out var bytes) is { } badBudget) return Cli.Fail(badBudget);
            if (training.Misuse(r) is { } misuse) return Cli.Fail(misuse);

            // No passes unless asked for; --print-after and --memory-report imply the target's own pipeline.
            var options = new CompileOptions
            {
                Target = r.GetValue(target),
                Passes = r.GetValue(passes) is { } names ? names.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) : null,
                Pipeline = r.GetValue(pipeline) ?? (after is not null || report ? null : "none"),
                MemoryBudget = bytes,
            };
            var withModel = model.Apply(r, placement.Apply(r, options));
            if (!withModel.Ok) return Cli.FailOne(withModel.Diagnostics);
            if (Cli.Driver(withModel.Value!, out var bad) is not { } driver) return bad;
            var phases = timing.Recorder(r);
            driver = driver.WithPhases(phases);
            if (after is not null && after != "all" && (driver.Pipeline is null || !driver.Pipeline.Passes.Contains(after)))
                return Cli.Fail($"--print-after {after}: the pipeline ({driver.Pipeline?.ToString() ?? "none"}) has no such pass");
            var parsed = driver.Load(path);
            if (!parsed.Ok) return Cli.FailOne(parsed.Diagnostics);
            if (r.GetValue(training.Train))
            {
                var step = training.BuildStep(r, parsed.Value!);
                if (!step.Ok) return Cli.FailOne(step.Diagnostics);
                parsed = Result<Module>.Success(step.Value!.Module);
            }

            var dumps = new List<(string, byte[])>();
            var result = driver.Optimize(parsed.Value!, step =>
            {
                if (after != "all" && after != step.PassName) return;
                var header = $"// ----- after {step.PassName}{(step.Changed ? "" : " (unchanged)")} -----\n";
                // With 'all', a pass that changed nothing gets only its header: the IR is the one printed above.
                if (dump is null && after == "all" && !step.Changed)
                {
                    Console.Out.Write(header);
                    return;
                }
                var text = Printer.Print(step.Module, print);
                if (dump is not null) dumps.Add(($"{step.Index:D2}-{step.PassName}.ir", System.Text.Encoding.UTF8.GetBytes(text)));
                else Console.Out.Write(header + text);
            });
            if (!result.Ok) return Cli.Fail(result.Diagnostics);
            var module = result.Value!;
            if (dump is not null) Cli.WriteAll(dump, dumps);
            if (report && asJson)
            {
                Console.Out.Write(driver.MemoryReport(module, parsed.Value!).ToJson());
                timing.Report(r, phases);
                return Cli.Ok;
            }
            if (dump is not null) Console.Out.WriteLine($"wrote {dumps.Count} file(s) to {dump}");
            else if (after is null && !report) Console.Out.Write(Printer.Print(module, print));
            if (report) Console.Out.Write(driver.MemoryReport(module, parsed.Value!).ToText());
            timing.Report(r, phases);
            return Cli.Ok;
        });
        return cmd;
    }
}
