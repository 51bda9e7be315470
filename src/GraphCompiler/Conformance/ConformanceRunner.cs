using System.Diagnostics;
using System.Text.RegularExpressions;
using GraphCompiler.IR;

namespace GraphCompiler.Conformance;

public enum CaseStatus { Pass, Fail, Skip }

public sealed record CaseResult(string Name, CaseStatus Status, string? Reason, double Seconds)
{
    public string Line => Status switch
    {
        CaseStatus.Pass => $"PASS {Name}",
        CaseStatus.Fail => $"FAIL {Name}: {Reason}",
        _ => $"SKIP {Name}: {Reason}",
    };
}

/// <summary>One loaded conformance case: its model imported, and its data sets.</summary>
public interface IConformanceCase
{
    string Name { get; }

    /// <summary>Imports the model; diagnostics with <see cref="Diagnostic.UnsupportedOp"/> make the case a SKIP.</summary>
    Result<Module> Import();

    /// <summary>Each data set: inputs in argument order and expected outputs in result order.</summary>
    IEnumerable<(string Name, Result<DataSet> Data)> DataSets();
}

public sealed record DataSet(IReadOnlyList<Tensor> Inputs, IReadOnlyList<Tensor> Expected, double Rtol, double Atol);

/// <summary>What a conformance run found: one result per case, and the totals.</summary>
public sealed record CheckSummary(string Target, IReadOnlyList<CaseResult> Cases)
{
    public int Passed => Cases.Count(c => c.Status == CaseStatus.Pass);
    public int Failed => Cases.Count(c => c.Status == CaseStatus.Fail);
    public int Skipped => Cases.Count(c => c.Status == CaseStatus.Skip);
}

/// <summary>
/// Runs conformance cases on any target through the driver: import, optimise (the target's pipeline, or the
/// one asked for), compile, run every data set, compare every output. A case that throws is a FAIL with the
/// message; nothing stops the run. On a machine where the target cannot run (no GPU driver), every case is a
/// SKIP that says why.
/// </summary>
public sealed class ConformanceRunner(Compiler driver)
{
    /// <summary>
    /// A runner for <paramref name="target"/> (a name <see cref="Targets.Resolve"/> takes) with <paramref name="pipeline"/>
    /// (null: the target's own). An explicit pipeline is checked after every pass.
    /// </summary>
    public static Result<ConformanceRunner> For(string target, string? pipeline = null)
    {
        var driver = Compiler.Create(new CompileOptions { Target = target, Pipeline = pipeline, CheckEachPass = pipeline is not null });
        return driver.Ok ? Result<ConformanceRunner>.Success(new ConformanceRunner(driver.Value!)) : Result<ConformanceRunner>.Failure(driver.Diagnostics);
    }

    /// <summary>Runs every case found under <paramref name="paths"/> whose name matches <paramref name="filter"/>, reporting each line as it finishes.</summary>
    public CheckSummary Run(IEnumerable<string> paths, Regex? filter = null, Action<string>? onLine = null)
    {
        var results = new List<CaseResult>();
        foreach (var c in paths.SelectMany(Discover))
        {
            if (filter is not null && !filter.IsMatch(c.Name)) continue;
            var r = Run(c);
            results.Add(r);
            onLine?.Invoke(r.Line);
        }
        return new CheckSummary(driver.Target.Name, results);
    }

    /// <summary>Finds cases: a folder with <c>model.onnx</c> (ONNX backend test) or <c>case.json</c> (TensorFlow), or folders of them.</summary>
    public static IEnumerable<IConformanceCase> Discover(string path)
    {
        if (OnnxCase.IsCase(path)) return [new OnnxCase(path)];
        if (TensorFlowCase.IsCase(path)) return [new TensorFlowCase(path)];
        if (!Directory.Exists(path)) return [];
        return Directory.EnumerateDirectories(path).Order(StringComparer.Ordinal).SelectMany(Discover);
    }

    public CaseResult Run(IConformanceCase c)
    {
        var sw = Stopwatch.StartNew();
        if (driver.Target.RunUnavailable is { } why) return new CaseResult(c.Name, CaseStatus.Skip, $"{driver.Target.Name}: {why}", 0);
        try
        {
            var (status, reason) = RunCase(c);
            return new CaseResult(c.Name, status, reason, sw.Elapsed.TotalSeconds);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // An exception here is a bug in the compiler; GCC_DEBUG=1 shows where.
            var detail = Environment.GetEnvironmentVariable("GCC_DEBUG") == "1" ? e.ToString() : OneLine(e.Message);
            return new CaseResult(c.Name, CaseStatus.Fail, $"{e.GetType().Name}: {detail}", sw.Elapsed.TotalSeconds);
        }
    }

    private (CaseStatus, string?) RunCase(IConformanceCase c)
    {
        var module = c.Import();
        if (!module.Ok)
        {
            var unsupported = module.Diagnostics.Where(d => d.Code == Diagnostic.UnsupportedOp).ToList();
            if (unsupported.Count > 0)
                return (CaseStatus.Skip, string.Join("; ", unsupported.Select(d => ShortUnsupported(d.Message))));
            return (CaseStatus.Fail, "import: " + OneLine(module.Diagnostics[0].Message));
        }
        var optimised = driver.Optimize(module.Value!);
        if (!optimised.Ok) return (CaseStatus.Fail, "passes: " + OneLine(optimised.Diagnostics[0].Message));
        var exe = driver.Jit(optimised.Value!);
        if (!exe.Ok && exe.Diagnostics.All(d => d.Code == Diagnostic.UnsupportedOp))
            return (CaseStatus.Skip, $"{driver.Target.Name} backend: " + OneLine(exe.Diagnostics[0].Message));
        if (!exe.Ok) return (CaseStatus.Fail, "compile: " + OneLine(exe.Diagnostics[0].Message));
        // Each case's native code (and its worker threads) goes when the case is done.
        using var executable = exe.Value!;
        int sets = 0;
        foreach (var (name, data) in c.DataSets())
        {
            sets++;
            if (!data.Ok) return (CaseStatus.Fail, $"{name}: {OneLine(data.Diagnostics[0].Message)}");
            var d = data.Value!;
            var outputs = executable.Run(d.Inputs);
            if (!outputs.Ok) return (CaseStatus.Fail, $"{name}: run: {OneLine(outputs.Diagnostics[0].Message)}");
            if (outputs.Value!.Count != d.Expected.Count)
                return (CaseStatus.Fail, $"{name}: {outputs.Value.Count} outputs, expected {d.Expected.Count}");
            for (int i = 0; i < d.Expected.Count; i++)
            {
                var diff = TensorComparison.Compare(d.Expected[i], outputs.Value[i], d.Rtol, d.Atol);
                if (diff is not null) return (CaseStatus.Fail, $"{name}: output #{i}: {diff}");
            }
        }
        return sets == 0 ? (CaseStatus.Fail, "no data sets") : (CaseStatus.Pass, null);
    }

    private static string ShortUnsupported(string message)
    {
        var m = Regex.Match(message, @"unsupported op (.+?) \(\d+ node");
        return m.Success ? $"unsupported op {m.Groups[1].Value}" : OneLine(message);
    }

    internal static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
