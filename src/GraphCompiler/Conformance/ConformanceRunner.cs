using System.Diagnostics;
using System.Text.RegularExpressions;
using GraphCompiler.IR;

namespace GraphCompiler.Conformance;

public enum CaseStatus { Pass, Fail, Skip, ExpectedFail }

public sealed record CaseResult(string Name, CaseStatus Status, string? Reason, double Seconds)
{
    /// <summary>With a reduced precision (<c>check --precision</c>): the largest error against the expected (f32) outputs.</summary>
    public string? Error { get; init; }

    public string Line => Status switch
    {
        CaseStatus.Pass when Reason is not null => $"XPASS {Name}: {Reason}",
        CaseStatus.Pass when Error is not null => $"PASS {Name} ({Error})",
        CaseStatus.Pass => $"PASS {Name}",
        CaseStatus.Fail => $"FAIL {Name}: {Reason}",
        CaseStatus.ExpectedFail => $"XFAIL {Name}: {Reason}",
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

/// <summary>
/// A data set; <see cref="ExpectedNames"/>, when given, names the expected outputs as the entry function's results
/// are named (ONNX: a sequence's elements are <c>name[k]</c>, an absent optional has none), so that a
/// different sequence length or optional presence is reported as such.
/// </summary>
public sealed record DataSet(IReadOnlyList<Tensor> Inputs, IReadOnlyList<Tensor> Expected, double Rtol, double Atol,
    IReadOnlyList<string>? ExpectedNames = null);

/// <summary>What a conformance run found: one result per case, and the totals.</summary>
public sealed record CheckSummary(string Target, IReadOnlyList<CaseResult> Cases)
{
    public int Passed => Cases.Count(c => c.Status == CaseStatus.Pass);
    public int Failed => Cases.Count(c => c.Status == CaseStatus.Fail);
    public int Skipped => Cases.Count(c => c.Status == CaseStatus.Skip);
    public int ExpectedFailures => Cases.Count(c => c.Status == CaseStatus.ExpectedFail);

    /// <summary><c>N passed, N failed, N skipped</c>, and the expected failures when there are any.</summary>
    public string Totals => $"{Passed} passed, {Failed} failed, {Skipped} skipped" + (ExpectedFailures > 0 ? $", {ExpectedFailures} expected failures" : "");
}

/// <summary>
/// The conformance cases known to fail on a target, with the reason (<c>expected-failures.txt</c>, shipped in
/// the assembly): a known divergence is reported as XFAIL, so only unexpected results fail a run.
/// </summary>
public sealed class ExpectedFailures(IReadOnlyDictionary<(string Target, string Case), string> reasons)
{
    private const string Resource = "GraphCompiler.Conformance.expected-failures.txt";

    /// <summary>The list shipped with the compiler.</summary>
    public static ExpectedFailures Shipped { get; } = Parse(ReadResource());

    /// <summary>Lines <c>TARGET CASE: REASON</c>; '#' starts a comment.</summary>
    public static ExpectedFailures Parse(string text)
    {
        var reasons = new Dictionary<(string, string), string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int space = line.IndexOf(' '), colon = line.IndexOf(": ", StringComparison.Ordinal);
            if (space <= 0 || colon <= space) throw new FormatException($"{Resource}: '{line}' is not 'TARGET CASE: REASON'");
            reasons[(line[..space], line[(space + 1)..colon].Trim())] = line[(colon + 2)..];
        }
        return new ExpectedFailures(reasons);
    }

    /// <summary>Why <paramref name="caseName"/> is expected to fail on <paramref name="target"/>; null when it is expected to pass.</summary>
    public string? Reason(string target, string caseName) =>
        reasons.GetValueOrDefault((target, caseName)) ?? reasons.GetValueOrDefault(("*", caseName));

    private static string ReadResource()
    {
        using var stream = typeof(ExpectedFailures).Assembly.GetManifestResourceStream(Resource)
            ?? throw new InvalidOperationException($"{Resource} is not embedded in {typeof(ExpectedFailures).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

/// <summary>
/// Runs conformance cases on any target through the driver: import, optimise (the target's pipeline, or the
/// one asked for), compile, run every data set, compare every output. A case that throws is a FAIL with the
/// message; nothing stops the run. On a machine where the target cannot run (no GPU driver), every case is a
/// SKIP that says why.
/// </summary>
public sealed class ConformanceRunner(Compiler driver, ExpectedFailures? expected = null)
{
    private readonly ExpectedFailures _expected = expected ?? ExpectedFailures.Shipped;

    /// <summary>
    /// A runner for <paramref name="target"/> (a name <see cref="Targets.Resolve"/> takes) with <paramref name="pipeline"/>
    /// (null: the target's own). An explicit pipeline is checked after every pass.
    /// </summary>
    public static Result<ConformanceRunner> For(string target, string? pipeline = null, string? precision = null)
    {
        var driver = Driver(target, pipeline, precision);
        return driver.Ok ? Result<ConformanceRunner>.Success(new ConformanceRunner(driver.Value!)) : Result<ConformanceRunner>.Failure(driver.Diagnostics);
    }

    /// <summary>The driver conformance cases compile through: the target, its pipeline or <paramref name="pipeline"/> (checked after every pass), a precision and placement.</summary>
    public static Result<Compiler> Driver(string target, string? pipeline = null, string? precision = null, IReadOnlyList<string>? place = null) =>
        Compiler.Create(new CompileOptions
        {
            Target = target, Pipeline = pipeline, CheckEachPass = pipeline is not null, Precision = precision, Place = place ?? [],
        });

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
            var (status, reason) = RunCase(c, out var error);
            if (_expected.Reason(driver.Target.Name, c.Name) is { } known)
            {
                if (status == CaseStatus.Fail) (status, reason) = (CaseStatus.ExpectedFail, $"{known} (got: {reason})");
                else if (status == CaseStatus.Pass) reason = "passes although listed as an expected failure; remove it from expected-failures.txt";
            }
            return new CaseResult(c.Name, status, reason, sw.Elapsed.TotalSeconds) { Error = error };
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // An exception here is a bug in the compiler; GCC_DEBUG=1 shows where.
            var detail = Environment.GetEnvironmentVariable("GCC_DEBUG") == "1" ? e.ToString() : OneLine(e.Message);
            return new CaseResult(c.Name, CaseStatus.Fail, $"{e.GetType().Name}: {detail}", sw.Elapsed.TotalSeconds);
        }
    }

    private (CaseStatus, string?) RunCase(IConformanceCase c, out string? error)
    {
        error = null;
        // A reduced precision widens every case's tolerance by its own (Precision.Tolerance) and reports the largest error.
        var precision = driver.Precision.Reduced ? driver.Precision.Name : null;
        double widen = driver.Precision.Tolerance, worstAbs = 0, worstRel = 0;
        var (module, optimised, problem) = ImportAndOptimize(driver, c);
        if (problem is { } p) return p;
        var exe = driver.Jit(optimised!);
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
            var entry = module!.Entry;
            var names = Enumerable.Range(0, entry.ResultTypes.Length).Select(entry.ResultName).ToList();
            if (d.ExpectedNames is { } expectedNames && !expectedNames.SequenceEqual(names))
                return (CaseStatus.Fail, $"{name}: outputs ({string.Join(", ", names)}), expected ({string.Join(", ", expectedNames)})");
            var outputs = executable.Run(d.Inputs);
            if (!outputs.Ok) return (CaseStatus.Fail, $"{name}: run: {OneLine(outputs.Diagnostics[0].Message)}");
            if (outputs.Value!.Count != d.Expected.Count)
                return (CaseStatus.Fail, $"{name}: {outputs.Value.Count} outputs, expected {d.Expected.Count}");
            for (int i = 0; i < d.Expected.Count; i++)
            {
                var diff = TensorComparison.Compare(d.Expected[i], outputs.Value[i], Math.Max(d.Rtol, widen), Math.Max(d.Atol, widen));
                if (diff is not null) return (CaseStatus.Fail, $"{name}: output #{i}: {diff}" + (precision is null ? "" : $" (precision {precision}, tolerance {widen:G3})"));
                if (precision is not null && TensorComparison.MaxError(d.Expected[i], outputs.Value[i]) is var (abs, rel))
                    (worstAbs, worstRel) = (Math.Max(worstAbs, abs), Math.Max(worstRel, rel));
            }
        }
        if (precision is not null) error = $"{precision}: max error {worstAbs:G3} abs, {worstRel:G3} rel";
        return sets == 0 ? (CaseStatus.Fail, "no data sets") : (CaseStatus.Pass, null);
    }

    /// <summary>
    /// What running and exporting a case both start with: import (SKIP when an op is unsupported, else FAIL on a
    /// diagnostic), then the driver's passes (FAIL on a diagnostic). Returns the imported and optimised modules, or the result.
    /// </summary>
    internal static (Module? Imported, Module? Optimised, (CaseStatus, string?)? Problem) ImportAndOptimize(Compiler driver, IConformanceCase c)
    {
        var module = c.Import();
        if (!module.Ok)
        {
            var unsupported = module.Diagnostics.Where(d => d.Code == Diagnostic.UnsupportedOp).ToList();
            if (unsupported.Count > 0)
                return (null, null, (CaseStatus.Skip, string.Join("; ", unsupported.Select(d => ShortUnsupported(d.Message)))));
            return (null, null, (CaseStatus.Fail, "import: " + OneLine(module.Diagnostics[0].Message)));
        }
        var optimised = driver.Optimize(module.Value!);
        if (!optimised.Ok) return (module.Value, null, (CaseStatus.Fail, "passes: " + OneLine(optimised.Diagnostics[0].Message)));
        return (module.Value, optimised.Value, null);
    }

    private static string ShortUnsupported(string message)
    {
        var m = Regex.Match(message, @"unsupported op (.+?) \(\d+ node");
        return m.Success ? $"unsupported op {m.Groups[1].Value}" : OneLine(message);
    }

    internal static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
