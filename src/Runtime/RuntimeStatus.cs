namespace GraphCompiler.Runtime;

/// <summary>
/// What a compiled entry (<c>NAME_run</c>, <c>NAME_run_device</c>) returns: the one list of status codes.
/// The C header's <c>NAME_OK</c>/<c>NAME_ERROR_*</c> macros, the generated device runtime's return values and
/// <see cref="RuntimeException"/> messages are all made from <see cref="RuntimeStatuses.All"/>.
/// </summary>
public enum RuntimeStatus
{
    Ok = 0,

    /// <summary>A scratch allocation failed; the results are undefined.</summary>
    OutOfMemory = 1,

    /// <summary>A device (driver API) call failed; <c>NAME_last_error()</c> names the call and the driver's error.</summary>
    DeviceCallFailed = 3,

    /// <summary>No usable device driver (e.g. no <c>libcuda.so.1</c>, or no GPU).</summary>
    NoDevice = 4,

    /// <summary><c>NAME_run_device</c> was refused: the program reads an argument or writes a result on the host.</summary>
    DeviceRunRefused = 5,

    /// <summary>An MPI call of a collective failed; <c>NAME_last_error()</c> names the call and MPI's error string.</summary>
    CollectiveFailed = 6,

    /// <summary>No usable MPI: <c>libmpi.so.40</c> (Open MPI 4) cannot be loaded or lacks a symbol, or MPI was finalised already.</summary>
    NoMpi = 7,

    /// <summary>The MPI world's size is not the replica count the program's collectives assume (their groups or shapes).</summary>
    ReplicaMismatch = 8,
}

/// <summary>One status code: its value, its C macro suffix and what it means.</summary>
public sealed record StatusCode(RuntimeStatus Status, string MacroSuffix, string Meaning)
{
    public int Value => (int)Status;
}

public static class RuntimeStatuses
{
    /// <summary>Every status code compiled code may return, in value order.</summary>
    public static readonly IReadOnlyList<StatusCode> All =
    [
        new(RuntimeStatus.Ok, "OK", "success"),
        new(RuntimeStatus.OutOfMemory, "ERROR_OUT_OF_MEMORY", "out of memory for scratch"),
        new(RuntimeStatus.DeviceCallFailed, "ERROR_DEVICE_CALL", "a device driver call failed"),
        new(RuntimeStatus.NoDevice, "ERROR_NO_DEVICE", "no usable device driver"),
        new(RuntimeStatus.DeviceRunRefused, "ERROR_DEVICE_RUN_REFUSED", "run_device refused: the program touches an argument or result on the host"),
        new(RuntimeStatus.CollectiveFailed, "ERROR_COLLECTIVE", "an MPI call of a collective failed"),
        new(RuntimeStatus.NoMpi, "ERROR_NO_MPI", "no usable MPI library (Open MPI 4, libmpi.so.40)"),
        new(RuntimeStatus.ReplicaMismatch, "ERROR_REPLICA_MISMATCH", "the MPI world size differs from the replica count the collectives assume"),
    ];

    public static bool IsOk(int status) => status == (int)RuntimeStatus.Ok;

    /// <summary>A one-line description of a status code returned by compiled code.</summary>
    public static string Describe(int status)
    {
        if (IsOk(status)) return "ok";
        var known = All.FirstOrDefault(s => s.Value == status);
        return known is null ? $"compiled code returned error {status}" : $"compiled code returned error {status} ({known.Meaning})";
    }
}

/// <summary>A nonzero status from compiled code, on the non-allocating run paths that cannot return diagnostics.</summary>
public sealed class RuntimeException(int status, string? detail = null)
    : Exception(detail is null ? RuntimeStatuses.Describe(status) : $"{RuntimeStatuses.Describe(status)}: {detail}")
{
    public int Status { get; } = status;
}
