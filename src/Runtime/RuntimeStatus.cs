namespace GraphCompiler.Runtime;

/// <summary>
/// What a compiled entry (<c>NAME_run</c>) returns. <see cref="Ok"/> (0) is success; every nonzero
/// value is an error. <see cref="OutOfMemory"/> (1) is reserved for a failed scratch allocation; other
/// nonzero values are errors without a more specific meaning.
/// </summary>
public enum RuntimeStatus
{
    Ok = 0,
    OutOfMemory = 1,
}

public static class RuntimeStatuses
{
    public static bool IsOk(int status) => status == (int)RuntimeStatus.Ok;

    /// <summary>A one-line description of a status code returned by compiled code.</summary>
    public static string Describe(int status) => status switch
    {
        (int)RuntimeStatus.Ok => "ok",
        (int)RuntimeStatus.OutOfMemory => "compiled code returned error 1 (out of memory for scratch)",
        _ => $"compiled code returned error {status}",
    };
}

/// <summary>A nonzero status from compiled code, on the non-allocating run paths that cannot return diagnostics.</summary>
public sealed class RuntimeException(int status) : Exception(RuntimeStatuses.Describe(status))
{
    public int Status { get; } = status;
}
