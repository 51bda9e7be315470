using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.Runtime;

namespace GraphCompiler.Backends.Cpu.Codegen.Mpi;

/// <summary>Which MPI library compiled collectives load (<see cref="MpiRuntime"/>), and how to name another.</summary>
public static class MpiLibrary
{
    /// <summary>Open MPI 4's soname: the library loaded unless <see cref="OverrideVariable"/> names another.</summary>
    public const string Soname = "libmpi.so.40";

    /// <summary>The environment variable that names another MPI library to load (tests; a relocated Open MPI 4).</summary>
    public const string OverrideVariable = "GCC_MPI_LIBRARY";
}

/// <summary>
/// MPI as the generated code calls it: every function is looked up with <c>dlsym</c> in the library that
/// <see cref="MpiRuntime"/> loads on the first collective call, so a library without collectives never
/// mentions MPI, and one with collectives loads on a machine without MPI and reports a clear error when a
/// collective runs.
/// <para>
/// ABI assumption: Open MPI 4.x, <c>libmpi.so.40</c>. MPI's handles are not functions there but the
/// addresses of global objects (<c>MPI_COMM_WORLD</c> is <c>&amp;ompi_mpi_comm_world</c>, <c>MPI_FLOAT</c> is
/// <c>&amp;ompi_mpi_float</c>, ...), so they are <c>dlsym</c>ed too; <c>MPI_IN_PLACE</c> is <c>(void *)1</c>;
/// handles are pointers and counts <c>int</c>. MPICH's ABI (integer handles) is different and not supported.
/// </para>
/// </summary>
internal static class MpiApi
{
    public sealed record Entry(int Index, string Name);

    // Signatures are written at each call site (MpiApi.Call's args), as mpi.h gives them.
    private static readonly string[] FunctionNames =
    [
        "MPI_Initialized", "MPI_Finalized", "MPI_Init_thread", "MPI_Finalize", "MPI_Comm_dup", "MPI_Comm_set_errhandler",
        "MPI_Comm_rank", "MPI_Comm_size", "MPI_Comm_split", "MPI_Allreduce", "MPI_Allgather", "MPI_Reduce_scatter_block",
        "MPI_Bcast", "MPI_Error_string", "MPI_Isend", "MPI_Recv", "MPI_Wait", "MPI_Iallreduce",
    ];

    /// <summary>The Open MPI global objects whose addresses are MPI's predefined handles.</summary>
    private static readonly string[] HandleNames =
    [
        "ompi_mpi_comm_world", "ompi_mpi_float", "ompi_mpi_double", "ompi_mpi_byte", "ompi_mpi_op_sum", "ompi_mpi_op_max",
        "ompi_mpi_op_min", "ompi_mpi_errors_return",
    ];

    public static readonly IReadOnlyList<Entry> Functions = [.. FunctionNames.Select((n, i) => new Entry(i, n))];
    public static readonly IReadOnlyList<Entry> Handles = [.. HandleNames.Select((n, i) => new Entry(i, n))];

    public const string FunctionTable = "@gc.mpi.api";
    public const string HandleTable = "@gc.mpi.handles";
    public const string ErrorBuffer = "@gc.mpi.err";
    public const int ErrorBufferBytes = 512;
    public const string Fail = "gc.mpi.fail";

    /// <summary>Open MPI's <c>MPI_IN_PLACE</c>: <c>(void *)1</c>.</summary>
    public const string InPlace = "inttoptr (i64 1 to ptr)";

    /// <summary><c>MPI_THREAD_FUNNELED</c> (mpi.h): only the thread that initialised MPI calls it, the thread that runs the program.</summary>
    public const int ThreadFunneled = 1;

    /// <summary><c>MPI_MAX_ERROR_STRING</c> in Open MPI's mpi.h.</summary>
    public const int MaxErrorString = 256;

    /// <summary>Loads the function pointer of <paramref name="name"/> from the table.</summary>
    public static string Function(LlvmBuilder b, string name)
    {
        var e = Functions.Single(f => f.Name == name);
        return b.Let($"load ptr, ptr {b.Let($"getelementptr inbounds [{Functions.Count} x ptr], ptr {FunctionTable}, i64 0, i64 {e.Index}")}", "mpifn");
    }

    /// <summary>Loads the handle <paramref name="name"/> (an Open MPI global's address) from the table.</summary>
    public static string Handle(LlvmBuilder b, string name)
    {
        var e = Handles.Single(h => h.Name == name);
        return b.Let($"load ptr, ptr {b.Let($"getelementptr inbounds [{Handles.Count} x ptr], ptr {HandleTable}, i64 0, i64 {e.Index}")}", "mpih");
    }

    /// <summary>
    /// Calls MPI function <paramref name="name"/>; when it returns an error (communicators the runtime makes
    /// return errors instead of aborting), formats "WHAT failed: MPI's error string (MPI error N)" into the
    /// error buffer and runs <paramref name="onFail"/> with the status to return (<see cref="RuntimeStatus.CollectiveFailed"/>),
    /// which must end the block (free what it holds and return it).
    /// </summary>
    public static void Call(ModuleContext m, LlvmBuilder b, string name, string args, string what, Action<string> onFail)
    {
        var fp = Function(b, name);
        var r = b.Let($"call i32 {fp}({args})", "mpi");
        var failed = b.FreshLabel("mpifail");
        var ok = b.FreshLabel("mpiok");
        b.CondBr(b.Let($"icmp ne i32 {r}, 0"), failed, ok);
        b.Block(failed);
        b.Line($"call void @{Fail}(ptr {HostStrings.Literal(m, what)}, i32 {r})");
        onFail(((int)RuntimeStatus.CollectiveFailed).ToString());
        b.Block(ok);
    }

    /// <summary>Formats <paramref name="message"/> (a printf format with <paramref name="args"/>) into the error buffer.</summary>
    public static void Message(ModuleContext m, LlvmBuilder b, string message, string args = "")
    {
        m.Declare("declare i32 @snprintf(ptr, i64, ptr, ...)");
        b.Line($"call i32 (ptr, i64, ptr, ...) @snprintf(ptr {ErrorBuffer}, i64 {ErrorBufferBytes}, ptr {HostStrings.Literal(m, message)}{args})");
    }
}
