namespace GraphCompiler.Benchmarks;

/// <summary>Paths: the repository root is the folder holding GraphCompiler.sln, found by walking up from the binaries.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    /// <summary><c>../shared</c> beside the repository.</summary>
    public static string Shared => Path.GetFullPath(Path.Combine(Root, "..", "shared"));

    public static string SharedModel(string file) => Path.Combine(Shared, "models", file);

    public static string BenchmarkModel(string file) => Path.Combine(Root, "benchmarks", "models", file);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GraphCompiler.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no GraphCompiler.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Writes a committed benchmark model (<c>generate-models</c>) under benchmarks/models; returns its path.</summary>
    public static string WriteBenchmarkModel(string file, byte[] bytes)
    {
        var path = BenchmarkModel(file);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A model file that must exist, with a one-line reason when it does not.</summary>
    public static string Require(string path) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"benchmark model {path} is missing (see docs/performance.md)");
}
