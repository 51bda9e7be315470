namespace GraphCompiler.Backends.Llvm;

/// <summary>Where GraphCompiler keeps what it compiles for reuse: the compilation cache and, under it, the kernel libraries.</summary>
public static class CacheLocation
{
    /// <summary><c>$GC_CACHE_DIR</c>, else <c>$XDG_CACHE_HOME/graphcompiler</c>, else <c>~/.cache/graphcompiler</c>.</summary>
    public static string Root =>
        Environment.GetEnvironmentVariable("GC_CACHE_DIR") is { Length: > 0 } dir ? dir
        : Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? Path.Combine(xdg, "graphcompiler")
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "graphcompiler");
}
