namespace GraphCompiler.Tests;

/// <summary>
/// The temporary directories of one test: a test class holds one (xunit makes a class instance per test)
/// and disposes it, so the directories go when the test ends, passed or failed.
/// </summary>
internal sealed class TestTemp : IDisposable
{
    private readonly List<string> _directories = [];

    /// <summary>A new, empty directory in the system's temp directory, its name starting with <paramref name="prefix"/>.</summary>
    public string Directory(string prefix)
    {
        var path = System.IO.Directory.CreateTempSubdirectory(prefix).FullName;
        lock (_directories) _directories.Add(path);
        return path;
    }

    public void Dispose()
    {
        lock (_directories)
        {
            foreach (var d in _directories)
            {
                try { System.IO.Directory.Delete(d, recursive: true); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
            _directories.Clear();
        }
    }
}
