using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GraphCompiler.IR;

namespace GraphCompiler.Conformance;

/// <summary>
/// Writes conformance cases as AOT libraries with their data sets, for a machine that can run the target but has
/// no .NET (tools/gpu-check runs them on a borrowed GPU). Each case is imported, optimised and packaged exactly as
/// <see cref="ConformanceRunner"/> would compile it — inputs bound at compile time included — and its data sets'
/// inputs and the suite's own expected outputs are written beside it with the runner's tolerances, so that a
/// case passing there means what <c>gcc-cli check</c> means here.
/// </summary>
/// <remarks>
/// Layout under the folder: <c>CASE/libNAME.so</c>, <c>CASE/SET.in_K.npy</c>, <c>CASE/SET.expected_K.npy</c>, and
/// <c>conformance.json</c> listing every data set as tools/gpu-check/check.py reads a case (library, prefix, inputs
/// and expected outputs with name, dtype, shape, file, rtol, atol; <c>xfail</c> with the reason for a known divergence) plus the cases left out and why. bfloat16 is
/// written as its uint16 bit pattern (the harness's convention). The folder is written under a temporary name and
/// renamed when complete.
/// </remarks>
public sealed class ConformanceExporter(Compiler driver)
{
    /// <summary>Exports every case under <paramref name="paths"/> matching <paramref name="filter"/> into <paramref name="directory"/> (which must not exist or be empty).</summary>
    public Result<CheckSummary> Export(IEnumerable<string> paths, string directory, Regex? filter = null, Action<string>? onLine = null)
    {
        directory = Path.GetFullPath(directory);
        if (File.Exists(directory) || (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any()))
            return Result<CheckSummary>.Failure(new Diagnostic($"{directory}: exists and is not an empty folder; the export writes a fresh one"));
        var staging = directory.TrimEnd(Path.DirectorySeparatorChar) + $".partial-{Environment.ProcessId}";
        try
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            Directory.CreateDirectory(staging);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Result<CheckSummary>.Failure(new Diagnostic($"{directory}: cannot be written ({e.Message})"));
        }
        try
        {
            var results = new List<CaseResult>();
            var cases = new JsonArray();
            var skipped = new JsonArray();
            foreach (var c in paths.SelectMany(ConformanceRunner.Discover))
            {
                if (filter is not null && !filter.IsMatch(c.Name)) continue;
                var sw = Stopwatch.StartNew();
                CaseResult r;
                try
                {
                    var (status, reason, entries) = ExportCase(c, staging);
                    r = new CaseResult(c.Name, status, reason, sw.Elapsed.TotalSeconds);
                    foreach (var e in entries) cases.Add(e);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    r = new CaseResult(c.Name, CaseStatus.Fail, $"{e.GetType().Name}: {ConformanceRunner.OneLine(e.Message)}", sw.Elapsed.TotalSeconds);
                }
                // A known divergence that does not even compile (expected-failures.txt) is an expected failure, as the runner reports it.
                if (r.Status == CaseStatus.Fail && ExpectedFailures.Shipped.Reason(driver.Target.Name, c.Name) is { } known)
                    r = r with { Status = CaseStatus.ExpectedFail, Reason = $"{known} (got: {r.Reason})" };
                if (r.Status != CaseStatus.Pass)
                    skipped.Add(new JsonObject { ["name"] = c.Name, ["reason"] = (r.Status == CaseStatus.Fail ? "failed: " : "") + r.Reason });
                results.Add(r);
                onLine?.Invoke(r.Status == CaseStatus.Pass ? $"EXPORT {c.Name}" : r.Line);
            }
            var manifest = new JsonObject { ["target"] = driver.Target.Name, ["cases"] = cases, ["skipped"] = skipped };
            File.WriteAllText(Path.Combine(staging, "conformance.json"), manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            if (Directory.Exists(directory)) Directory.Delete(directory);
            Directory.Move(staging, directory);
            return Result<CheckSummary>.Success(new CheckSummary(driver.Target.Name, results));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Result<CheckSummary>.Failure(new Diagnostic($"{directory}: cannot be written ({e.Message}); nothing was left there"));
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>One case: PASS (exported, one manifest entry per data set), SKIP (the target cannot compile it) or FAIL.</summary>
    private (CaseStatus, string?, List<JsonObject>) ExportCase(IConformanceCase c, string root)
    {
        var (_, optimised, problem) = ConformanceRunner.ImportAndOptimize(driver, c);
        if (problem is var (status, reason)) return (status, reason, []);
        var entry = optimised!.Find(driver.Options.Function ?? optimised.Entry.Name) ?? optimised.Entry;
        if (entry.ArgumentInfos.Any(a => a.IsVariable) || entry.ResultInfos.Any(r => r.Updates is not null))
            return (CaseStatus.Skip, "variables (updated in place) are not exported", []);
        var package = driver.Package(optimised);
        if (!package.Ok && package.Diagnostics.All(d => d.Code == Diagnostic.UnsupportedOp))
            return (CaseStatus.Skip, $"{driver.Target.Name} backend: " + ConformanceRunner.OneLine(package.Diagnostics[0].Message), []);
        if (!package.Ok) return (CaseStatus.Fail, "compile: " + ConformanceRunner.OneLine(package.Diagnostics[0].Message), []);
        var library = package.Value!.Files.FirstOrDefault(f => f.FileName.EndsWith(".so", StringComparison.Ordinal));
        if (library.Data is null) return (CaseStatus.Fail, $"the {driver.Target.Name} package has no shared library", []);

        var folder = Path.Combine(root, c.Name);
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, library.FileName), library.Data);
        var entries = new List<JsonObject>();
        foreach (var (set, data) in c.DataSets())
        {
            // The first data set is the case itself (check.py's floor looks cases up by name); others are CASE/SET.
            if (!data.Ok) return (CaseStatus.Fail, $"{set}: {ConformanceRunner.OneLine(data.Diagnostics[0].Message)}", []);
            var d = data.Value!;
            if (d.Inputs.Count != entry.Arguments.Length || d.Expected.Count != entry.ResultTypes.Length)
                return (CaseStatus.Fail, $"{set}: {d.Inputs.Count} inputs and {d.Expected.Count} outputs for a library of {entry.Arguments.Length} arguments and {entry.ResultTypes.Length} results", []);
            var inputs = new JsonArray();
            for (int k = 0; k < d.Inputs.Count; k++)
            {
                if (!d.Inputs[k].Type.Equals(entry.ArgumentTypes[k]))
                    return (CaseStatus.Fail, $"{set}: input {k} is {d.Inputs[k].Type}, the library takes {entry.ArgumentTypes[k]}", []);
                inputs.Add(Spec(entry.ArgumentName(k), entry.ArgumentTypes[k], Write(folder, $"{set}.in_{k}.npy", d.Inputs[k]), root));
            }
            var expected = new JsonArray();
            for (int k = 0; k < d.Expected.Count; k++)
            {
                var spec = Spec(entry.ResultName(k), entry.ResultTypes[k], Write(folder, $"{set}.expected_{k}.npy", d.Expected[k]), root);
                spec["rtol"] = Math.Max(d.Rtol, driver.Precision.Tolerance);
                spec["atol"] = Math.Max(d.Atol, driver.Precision.Tolerance);
                expected.Add(spec);
            }
            entries.Add(new JsonObject
            {
                ["name"] = entries.Count == 0 ? c.Name : $"{c.Name}/{set}", ["case"] = c.Name, ["kind"] = "conformance",
                ["lib"] = Path.GetRelativePath(root, Path.Combine(folder, library.FileName)), ["prefix"] = driver.Options.LibraryName,
                ["inputs"] = inputs, ["expected"] = expected,
            });
            // A known divergence (expected-failures.txt) is reported there as XFAIL, as here.
            if (ExpectedFailures.Shipped.Reason(driver.Target.Name, c.Name) is { } known) entries[^1]["xfail"] = known;
        }
        return entries.Count == 0 ? (CaseStatus.Fail, "no data sets", []) : (CaseStatus.Pass, null, entries);
    }

    private static JsonObject Spec(string name, TensorType type, string file, string root) => new()
    {
        ["name"] = name, ["dtype"] = type.Element.Name(), ["shape"] = new JsonArray([.. type.Shape.Select(d => JsonValue.Create(d))]),
        ["file"] = Path.GetRelativePath(root, file),
    };

    /// <summary>Writes <paramref name="t"/> as .npy (bfloat16 as its uint16 bits, as the expected data stores it).</summary>
    private static string Write(string folder, string name, Tensor t)
    {
        var path = Path.Combine(folder, name);
        Npy.WriteFile(path, t.Element == ElementType.BF16 ? Tensor.FromBytes(t.Type.WithElement(ElementType.U16), t.Bytes) : t);
        return path;
    }
}
