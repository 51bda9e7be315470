namespace GraphCompiler.Tests.Frontend;

/// <summary>The shared test data folder: <c>../shared</c> beside the repository root.</summary>
public static class SharedData
{
    public static string Root => Path.GetFullPath(Path.Combine(GoldenFile.RepoRoot(), "..", "shared"));
    public static string TfGraphs => Path.Combine(Root, "graphs", "tf");
    public static bool Available => Directory.Exists(TfGraphs);
    public static string MissingReason => $"shared test data not found at {Root} (expected beside the repository root)";
    public static string Tf(string relative) => Path.Combine(TfGraphs, relative);
}

/// <summary>A fact that needs the shared data; it is skipped, with the reason shown, when the folder is absent.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute()
    {
        if (!SharedData.Available) Skip = SharedData.MissingReason;
    }
}
