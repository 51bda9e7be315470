using System.CommandLine;
using System.Text.Json;
using System.Text.RegularExpressions;
using GraphCompiler.Passes;

namespace GraphCompiler.Cli.Check;

/// <summary>
/// <c>gcc-cli check PATH... [--backend B] [--filter REGEX] [--json FILE]</c>: runs conformance cases and
/// prints <c>PASS</c>/<c>FAIL</c>/<c>SKIP</c> per case, then <c>N passed, N failed, N skipped</c>.
/// </summary>
public static class CheckCommand
{
    internal static Command Create()
    {
        var paths = new Argument<string[]>("path") { Description = "Case folders (model.onnx + test_data_set_N, or case.json) or folders of them.", Arity = ArgumentArity.OneOrMore };
        var backend = new Option<string>("--backend") { Description = "Which backend runs the cases.", DefaultValueFactory = _ => ExecutionBackends.Default };
        backend.AcceptOnlyFromAmong(ExecutionBackends.Names);
        var filter = new Option<string?>("--filter") { Description = "Only cases whose name matches this regular expression." };
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON to this file." };
        var pipeline = new Option<string?>("--pipeline") { Description = "Run this pass pipeline (e.g. 'default') on each imported model before the backend." };
        var cmd = new Command("check", "Run conformance cases (ONNX backend tests, TensorFlow cases) and compare with their expected outputs.")
        {
            paths, backend, filter, json, pipeline,
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
            var pipelineName = r.GetValue(pipeline);
            if (pipelineName is not null && !PassRegistry.Pipelines.Any(p => p.Name == pipelineName))
                return Cli.Fail($"unknown pipeline '{pipelineName}' (known: {string.Join(", ", PassRegistry.Pipelines.Select(p => p.Name))})");
            var summary = Run(r.GetValue(paths)!, r.GetValue(backend)!, re, line => Console.Out.WriteLine(line), pipelineName);
            if (r.GetValue(json) is { } jsonPath)
                Cli.WriteAll(Path.GetDirectoryName(Path.GetFullPath(jsonPath))!, [(Path.GetFileName(jsonPath), JsonSerializer.SerializeToUtf8Bytes(summary, JsonOptions))]);
            Console.Out.WriteLine($"{summary.Passed} passed, {summary.Failed} failed, {summary.Skipped} skipped");
            return summary.Failed == 0 ? Cli.Ok : 1;
        });
        return cmd;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static CheckSummary Run(IEnumerable<string> paths, string backendName, Regex? filter, Action<string>? onLine = null, string? pipeline = null)
    {
        var backend = ExecutionBackends.Find(backendName) ?? throw new ArgumentException($"unknown backend {backendName}");
        var runner = new ConformanceRunner(backend, pipeline is null ? null : PassRegistry.Pipelines.First(p => p.Name == pipeline));
        var results = new List<CaseResult>();
        foreach (var c in paths.SelectMany(ConformanceRunner.Discover))
        {
            if (filter is not null && !filter.IsMatch(c.Name)) continue;
            var r = runner.Run(c);
            results.Add(r);
            onLine?.Invoke(r.Line);
        }
        return new CheckSummary(backendName, results);
    }
}

public sealed record CheckSummary(string Backend, IReadOnlyList<CaseResult> Cases)
{
    public int Passed => Cases.Count(c => c.Status == CaseStatus.Pass);
    public int Failed => Cases.Count(c => c.Status == CaseStatus.Fail);
    public int Skipped => Cases.Count(c => c.Status == CaseStatus.Skip);
}
