using System.Globalization;

namespace GraphCompiler.Runtime;

/// <summary>
/// The thread count passed to compiled code (the <c>threads</c> argument of <c>NAME_run</c>). There is
/// no thread pool on the host side: the generated code splits its work over pthreads itself, using at
/// most the count it is given (&lt;= 0 lets it choose all cores).
/// </summary>
public static class Threads
{
    /// <summary>The environment variable that overrides the default count.</summary>
    public const string EnvironmentVariable = "GC_NUM_THREADS";

    /// <summary>
    /// <paramref name="requested"/> when positive; otherwise <c>GC_NUM_THREADS</c> when it holds a
    /// positive integer; otherwise <see cref="Environment.ProcessorCount"/>.
    /// </summary>
    public static int Resolve(int requested = 0) =>
        requested > 0 ? requested : FromEnvironment(Environment.GetEnvironmentVariable(EnvironmentVariable)) ?? Environment.ProcessorCount;

    /// <summary>The count a <c>GC_NUM_THREADS</c> value asks for, or null when it is unset or not a positive integer.</summary>
    public static int? FromEnvironment(string? value) =>
        int.TryParse(value?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;
}
