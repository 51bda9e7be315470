using System.Text.Json;
using System.Text.RegularExpressions;
using GraphCompiler;
using GraphCompiler.Frontend;
using GraphCompiler.Frontend.TensorFlow;
using GraphCompiler.IR;
using Xunit.Abstractions;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// Imports every graph under shared/graphs/tf/realistic (with its sidecar's feeds/fetches/config where
/// it has one), compiles what imports (default pipeline, CPU JIT) and compares the outcome with
/// tf-realistic-expectations.txt: <c>PATH: ok</c> (imports and compiles), <c>PATH: compile error ...</c>,
/// <c>PATH: unsupported OpA, OpB</c> (the complete list), or <c>PATH: error ...</c> (the first
/// problem, e.g. for files that their source tests expect to be rejected). UPDATE_GOLDEN=1 rewrites it.
/// </summary>
public sealed class TensorFlowRealisticTests(ITestOutputHelper output)
{
    private static string ExpectationsPath =>
        Path.Combine(GoldenFile.RepoRoot(), "tests", "GraphCompiler.Tests", "Frontend", "tf-realistic-expectations.txt");

    /// <summary>The importable graph files: GraphDefs, MetaGraphDefs and SavedModel files (not configs, not checkpoints).</summary>
    public static IEnumerable<string> GraphFiles() =>
        Directory.EnumerateFiles(SharedData.Tf("realistic"), "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}variables{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Where(f => f.EndsWith(".pb", StringComparison.Ordinal) || f.EndsWith(".pbtxt", StringComparison.Ordinal) || f.EndsWith(".meta", StringComparison.Ordinal))
            .Where(f => !f.Contains(".config.", StringComparison.Ordinal) && !f.EndsWith(".template.pbtxt", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    /// <summary>
    /// The graph's outcome: imported, then (when that succeeds) optimised with the default pipeline and
    /// compiled for the CPU in-process; a failure there is <c>compile error FIRST-DIAGNOSTIC</c>.
    /// </summary>
    public static string Outcome(string file)
    {
        var (outcome, module) = Import(file);
        if (module is null) return outcome;
        try
        {
            var driver = Compiler.Create(new CompileOptions()).Unwrap();
            var optimized = driver.Optimize(module);
            if (!optimized.Ok) return "compile error " + First(optimized.Diagnostics, file);
            var exe = driver.Jit(optimized.Value!);
            if (!exe.Ok) return "compile error " + First(exe.Diagnostics, file);
            exe.Value!.Dispose();
            return outcome;
        }
        catch (Exception e)
        {
            return $"CRASH compiling {e.GetType().Name}: {e.Message}";
        }
    }

    private static string First(IEnumerable<Diagnostic> diagnostics, string file)
    {
        var first = diagnostics.First().Message.Replace(file, "").TrimStart(':', ' ');
        return (first.Length > 200 ? first[..200] + "..." : first).ReplaceLineEndings(" ");
    }

    /// <summary>The import's outcome, and the module when it imported.</summary>
    public static (string Outcome, Module? Module) Import(string file)
    {
        var options = new ImportOptions();
        var sidecar = file + ".json";
        if (File.Exists(sidecar))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(sidecar));
            var root = doc.RootElement;
            var feeds = new List<FeedSpec>();
            if (root.TryGetProperty("feeds", out var fs))
                foreach (var f in fs.EnumerateArray())
                    feeds.Add(new FeedSpec(f.GetProperty("name").GetString()!, FeedType(f)));
            var fetches = root.TryGetProperty("fetches", out var fe) ? fe.EnumerateArray().Select(f => f.GetProperty("name").GetString()!).ToList() : [];
            string? config = root.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.String ? Path.Combine(Path.GetDirectoryName(file)!, c.GetString()!) : null;
            options = new ImportOptions { Feeds = feeds, Fetches = fetches, ConfigPath = config };
        }
        Result<Module> r;
        string batch = "";
        try
        {
            r = TensorFlowImporter.Import(file, options);
            // Harness policy (a user gives shapes with the feed): placeholders/arguments with unknown dimensions
            // (a batch dim, mostly) are fed with those set to 1; with unknown rank or no shape at all, as scalars.
            var feeds = options.Feeds.ToList();
            bool dims = false, rank = false;
            foreach (var d in r.Diagnostics)
            {
                var m = Regex.Match(d.Message, @"feed '(.+?)': (?:placeholder|argument) '.+?' has shape (\w+)\[(.*?)\] with unknown dimensions");
                if (m.Success)
                {
                    ElementTypes.TryParse(m.Groups[2].Value, out var e);
                    var shape = m.Groups[3].Value.Split(", ").Select(x => x == "?" ? 1L : long.Parse(x)).ToArray();
                    feeds.Add(new FeedSpec(m.Groups[1].Value, new TensorType(e, System.Collections.Immutable.ImmutableArray.Create(shape))));
                    dims = true;
                    continue;
                }
                m = Regex.Match(d.Message, @"feed '(.+?)': (?:placeholder|argument) '.+?' has (?:shape (\w+)<unknown rank>|no shape; give it with the feed \(e\.g\. .+:(\w+)\[\.\.\.\]\))");
                if (!m.Success) continue;
                ElementTypes.TryParse(m.Groups[2].Success ? m.Groups[2].Value : m.Groups[3].Value, out var el);
                feeds.Add(new FeedSpec(m.Groups[1].Value, new TensorType(el, System.Collections.Immutable.ImmutableArray<long>.Empty)));
                rank = true;
            }
            if (dims || rank)
            {
                r = TensorFlowImporter.Import(file, options with { Feeds = feeds });
                batch = (dims ? " (unknown dims fed as 1)" : "") + (rank ? " (unknown rank fed as a scalar)" : "");
            }
        }
        catch (Exception e)
        {
            return ($"CRASH {e.GetType().Name}: {e.Message}", null);
        }
        if (r.Ok) return ("ok" + batch, r.Value);
        var unsupported = r.Diagnostics.Where(d => d.Code == Diagnostic.UnsupportedOp)
            .Select(d => Regex.Match(d.Message, @"unsupported op (.+?) \(\d+ nodes?:").Groups[1].Value).ToList();
        if (unsupported.Count > 0 && unsupported.Count == r.Diagnostics.Count) return ("unsupported " + string.Join(", ", unsupported) + batch, null);
        return ("error" + batch + " " + First(r.Diagnostics.Where(d => d.Code != Diagnostic.UnsupportedOp), file), null);
    }

    /// <summary>A sidecar feed's type when its dtype and whole shape are stated.</summary>
    private static TensorType? FeedType(JsonElement f)
    {
        if (!f.TryGetProperty("dtype", out var d) || d.ValueKind != JsonValueKind.String) return null;
        if (!f.TryGetProperty("shape", out var s) || s.ValueKind != JsonValueKind.Array) return null;
        var dims = s.EnumerateArray().Select(x => x.GetInt64()).ToArray();
        if (dims.Any(x => x < 0)) return null;
        ElementType? e = d.GetString() switch
        {
            "float32" => ElementType.F32, "float64" => ElementType.F64, "float16" => ElementType.F16, "bfloat16" => ElementType.BF16,
            "int8" => ElementType.I8, "int16" => ElementType.I16, "int32" => ElementType.I32, "int64" => ElementType.I64,
            "uint8" => ElementType.U8, "uint16" => ElementType.U16, "uint32" => ElementType.U32, "uint64" => ElementType.U64,
            "bool" => ElementType.Bool, _ => null,
        };
        return e is { } el ? new TensorType(el, dims) : null;
    }

    [SharedDataFact]
    public void EveryRealisticGraphImportsOrIsRejectedAsExpected()
    {
        // Graphs import and compile independently: in parallel, in file order in the result.
        var lines = GraphFiles().AsParallel().AsOrdered()
            .Select(f => $"{Path.GetRelativePath(SharedData.TfGraphs, f).Replace('\\', '/')}: {Outcome(f)}").ToList();
        var actual = string.Join("\n", lines) + "\n";
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(ExpectationsPath, actual);
            return;
        }
        var expected = File.Exists(ExpectationsPath) ? File.ReadAllText(ExpectationsPath).ReplaceLineEndings("\n") : "";
        var exp = expected.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var diff = lines.Except(exp).Select(l => "+ " + l).Concat(exp.Except(lines).Select(l => "- " + l)).ToList();
        foreach (var d in diff) output.WriteLine(d);
        Assert.True(diff.Count == 0, $"{diff.Count} lines differ from {ExpectationsPath} (UPDATE_GOLDEN=1 rewrites it):\n{string.Join("\n", diff.Take(20))}");
        Assert.DoesNotContain(lines, l => l.Contains(": CRASH", StringComparison.Ordinal));
    }
}
