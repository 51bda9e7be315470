using System.Text.Json;
using GraphCompiler.Frontend;
using GraphCompiler.Frontend.TensorFlow;
using GraphCompiler.IR;

namespace GraphCompiler.Conformance;

/// <summary>
/// A TensorFlow case (<c>case.json</c>, see /work/shared/graphs/tf/README.md): the model (GraphDef or
/// SavedModel, with an optional signature and tfcompile config), feeds and fetches with their
/// <c>.npy</c> files, and tolerances (default rtol 1e-5, atol 1e-6). The fed arrays' types are the
/// feeds' types (the .npy shape is authoritative).
/// </summary>
public sealed class TensorFlowCase(string directory) : IConformanceCase
{
    public const double DefaultRtol = 1e-5, DefaultAtol = 1e-6;

    public static bool IsCase(string dir) => File.Exists(Path.Combine(dir, "case.json"));

    public string Name { get; } = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));

    private sealed record Spec(string Model, string? Signature, string? Config, List<(string Name, string File)> Feeds,
        List<(string Name, string File)> Fetches, double Rtol, double Atol);

    private Result<Spec> ReadSpec()
    {
        var path = Path.Combine(directory, "case.json");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            string? Str(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            double Num(string name, double dflt) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : dflt;
            List<(string, string)> List(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
                ? [.. v.EnumerateArray().Select(e => (e.GetProperty("name").GetString() ?? "", e.GetProperty("file").GetString() ?? ""))]
                : [];
            var model = Str("model") ?? throw new InvalidDataException("no 'model'");
            return Result<Spec>.Success(new Spec(model, Str("signature"), Str("config"), List("feeds"), List("fetches"),
                Num("rtol", DefaultRtol), Num("atol", DefaultAtol)));
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or KeyNotFoundException or InvalidOperationException or IOException)
        {
            return Result<Spec>.Failure(new Diagnostic($"{path}: {e.Message}"));
        }
    }

    public Result<Module> Import()
    {
        var spec = ReadSpec();
        if (spec.Value is not { } s) return Result<Module>.Failure(spec.Diagnostics);
        var feeds = new List<FeedSpec>();
        foreach (var (name, file) in s.Feeds)
        {
            var t = Npy.ReadFile(Path.Combine(directory, file));
            if (t.Value is null) return Result<Module>.Failure(t.Diagnostics);
            feeds.Add(new FeedSpec(name, t.Value.Type));
        }
        var options = new ImportOptions
        {
            Feeds = feeds,
            Fetches = [.. s.Fetches.Select(f => f.Name)],
            Signature = s.Signature,
            ConfigPath = s.Config is null ? null : Path.Combine(directory, s.Config),
        };
        return TensorFlowImporter.Import(Path.Combine(directory, s.Model), options);
    }

    public IEnumerable<(string Name, Result<DataSet> Data)> DataSets()
    {
        var spec = ReadSpec();
        if (spec.Value is not { } s)
        {
            yield return ("case.json", Result<DataSet>.Failure(spec.Diagnostics));
            yield break;
        }
        var inputs = new List<Tensor>();
        var expected = new List<Tensor>();
        foreach (var (list, into) in new[] { (s.Feeds, inputs), (s.Fetches, expected) })
            foreach (var (_, file) in list)
            {
                var t = Npy.ReadFile(Path.Combine(directory, file));
                if (t.Value is null)
                {
                    yield return ("data", Result<DataSet>.Failure(t.Diagnostics));
                    yield break;
                }
                into.Add(t.Value);
            }
        yield return ("data", Result<DataSet>.Success(new DataSet(inputs, expected, s.Rtol, s.Atol)));
    }
}
