using System.CommandLine;
using System.Text.Json;
using System.Text.RegularExpressions;
using GraphCompiler.Conformance;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>gcc-cli check PATH... [--backend B] [--filter REGEX] [--json FILE] [--pipeline P] [--precision P] [--place R=D] [--export DIR]</c>:
/// runs conformance cases (<see cref="ConformanceRunner"/>) and prints <c>PASS</c>/<c>FAIL</c>/<c>SKIP</c>/<c>XFAIL</c> per case, then
/// <c>N passed, N failed, N skipped[, N expected failures]</c>; the exit code is 1 only for unexpected failures. With
/// <c>--export</c> it compiles each case to an AOT library with its data instead (<see cref="ConformanceExporter"/>), for a
/// machine without .NET to run (tools/gpu-check).
/// </summary>
internal static class CheckCommand
{
    public static Command Create()
    {
        var paths = new Argument<string[]>("path") { Description = "Case folders (model.onnx + test_data_set_N, or case.json) or folders of them.", Arity = ArgumentArity.OneOrMore };
        var backend = Cli.BackendOption("Which target runs the cases (cuda: every case is SKIP on a machine without an NVIDIA driver).");
        var filter = new Option<string?>("--filter") { Description = "Only cases whose name matches this regular expression." };
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON to this file." };
        var pipeline = new Option<string?>("--pipeline") { Description = "Run this pass pipeline (e.g. 'default') on each imported model instead of the target's own." };
        var precision = PlacementCliOptions.PrecisionOption();
        precision.Description += " Cases pass within the format's tolerance, and each PASS line reports its largest error against the expected f32 outputs.";
        var place = new Option<string[]>("--place") { Description = "Pin ops to a device (REGEX=gpu or REGEX=cpu, repeatable), as compile's --place; ops the GPU cannot run stay on the CPU." };
        var export = new Option<string?>("--export")
        {
            Description = "Do not run: compile every case to an AOT library and write it with its data sets' inputs, expected outputs and tolerances "
                + "into this new folder (conformance.json indexes them), for tools/gpu-check to run on a machine without .NET.",
        };
        var cmd = new Command("check", "Run conformance cases (ONNX backend tests, TensorFlow cases) and compare with their expected outputs.")
        {
            paths, backend, filter, json, pipeline, precision, place, export,
        };
        cmd.SetAction(r =>
        {
            Regex? re;
            try
            {
                re = r.GetValue(filter) is { } f ? new Regex(f) : null;
            }
            catch (ArgumentException e)
            {
                return Cli.Fail($"--filter: {e.Message}");
            }
            var missing = r.GetValue(paths)!.FirstOrDefault(p => !Directory.Exists(p));
            if (missing is not null) return Cli.Fail($"{missing}: no such folder");
            var driver = ConformanceRunner.Driver(r.GetValue(backend)!, r.GetValue(pipeline), r.GetValue(precision), r.GetValue(place));
            if (!driver.Ok) return Cli.FailOne(driver.Diagnostics);
            CheckSummary summary;
            if (r.GetValue(export) is { } folder)
            {
                var exported = new ConformanceExporter(driver.Value!).Export(r.GetValue(paths)!, folder, re, line => Console.Out.WriteLine(line));
                if (!exported.Ok) return Cli.FailOne(exported.Diagnostics);
                summary = exported.Value!;
                Console.Out.WriteLine($"{summary.Passed} exported, {summary.Failed} failed, {summary.Skipped} skipped"
                    + (summary.ExpectedFailures > 0 ? $", {summary.ExpectedFailures} expected failures" : "") + $": {Path.Combine(Path.GetFullPath(folder), "conformance.json")}");
                return summary.Failed == 0 ? Cli.Ok : 1;
            }
            summary = new ConformanceRunner(driver.Value!).Run(r.GetValue(paths)!, re, line => Console.Out.WriteLine(line));
            if (r.GetValue(json) is { } jsonPath)
                Cli.WriteAll(Path.GetDirectoryName(Path.GetFullPath(jsonPath))!, [(Path.GetFileName(jsonPath), JsonSerializer.SerializeToUtf8Bytes(summary, JsonOptions))]);
            Console.Out.WriteLine(summary.Totals);
            return summary.Failed == 0 ? Cli.Ok : 1;
        });
        return cmd;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
}
