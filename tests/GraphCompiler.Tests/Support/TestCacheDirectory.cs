using System.Runtime.CompilerServices;

namespace GraphCompiler.Tests;

/// <summary>
/// Points the compilation cache of this test process, and of every gcc-cli it starts (they inherit the
/// environment), at a private temporary directory: the command line caches by default, and the suite must never
/// read or fill the user's ~/.cache/graphcompiler. The directory goes when the process exits.
/// </summary>
internal static class TestCacheDirectory
{
    public static string Path { get; private set; } = "";

#pragma warning disable CA2255 // A test assembly is exactly where a process-wide setting belongs before any test runs.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize()
    {
        Path = Directory.CreateTempSubdirectory("gc-test-cache").FullName;
        Environment.SetEnvironmentVariable("GC_CACHE_DIR", Path);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(Path, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        };
    }
}
