using System.Runtime.InteropServices;
using GraphCompiler.Backends.Cpu.Codegen.Mpi;

namespace GraphCompiler.Distributed;

/// <summary>
/// This process's place in the MPI world that compiled collectives run in: its rank (the replica index
/// <c>replica_id</c> returns) and the world size. It asks the MPI library the way the generated code does —
/// the same <c>libmpi.so.40</c> (or <c>GCC_MPI_LIBRARY</c>), Open MPI 4's ABI (<c>MPI_COMM_WORLD</c> is the
/// address of <c>ompi_mpi_comm_world</c>) — but never loads or starts MPI itself: before a compiled program's
/// first collective has run (or after its release finalised MPI), or in a process without MPI, there is no world.
/// </summary>
public static unsafe partial class MpiWorld
{
    internal const int RtldNow = 2;

    /// <summary>Open MPI's plugins resolve libmpi's symbols globally, so it is loaded <c>RTLD_GLOBAL</c>, as the generated code does.</summary>
    internal const int RtldGlobal = 0x100;

    /// <summary>The MPI library compiled collectives load: <see cref="MpiLibrary.OverrideVariable"/>'s, else <see cref="MpiLibrary.Soname"/>.</summary>
    internal static string LibraryName =>
        Environment.GetEnvironmentVariable(MpiLibrary.OverrideVariable) is { Length: > 0 } env ? env : MpiLibrary.Soname;

    /// <summary>dlopen's "only if already loaded" flag: asking must not load MPI into a process that does not use it.</summary>
    private const int RtldNoload = 4;

    /// <summary>(rank, size) of the initialised MPI world, or null when MPI is not loaded, not initialised, or finalised.</summary>
    public static (int Rank, int Size)? Current
    {
        get
        {
            var lib = DlOpen(LibraryName, RtldNow | RtldGlobal | RtldNoload);
            if (lib == 0) return null;
            try
            {
                return Ask(lib);
            }
            finally
            {
                DlClose(lib); // drops the reference this lookup took; the program's own stays
            }
        }
    }

    /// <summary>Set by Open MPI's <c>mpirun</c> in each process it starts (its rank and the world size).</summary>
    public const string RankVariable = "OMPI_COMM_WORLD_RANK", SizeVariable = "OMPI_COMM_WORLD_SIZE";

    /// <summary>
    /// (rank, size) as <c>mpirun</c> launched this process, known before MPI starts (a data-parallel trainer picks
    /// its slice of each batch with it before the first step); (0, 1) for a process not started by <c>mpirun</c>.
    /// </summary>
    public static (int Rank, int Size) Launched
    {
        get
        {
            static int? Read(string name) =>
                int.TryParse(Environment.GetEnvironmentVariable(name), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : null;
            return Read(RankVariable) is { } rank && Read(SizeVariable) is { } size && size > 0 && rank < size ? (rank, size) : (0, 1);
        }
    }

    private static (int Rank, int Size)? Ask(nint lib)
    {
        var initialized = (delegate* unmanaged<int*, int>)DlSym(lib, "MPI_Initialized");
        var finalized = (delegate* unmanaged<int*, int>)DlSym(lib, "MPI_Finalized");
        var rankOf = (delegate* unmanaged<nint, int*, int>)DlSym(lib, "MPI_Comm_rank");
        var sizeOf = (delegate* unmanaged<nint, int*, int>)DlSym(lib, "MPI_Comm_size");
        var world = DlSym(lib, "ompi_mpi_comm_world");
        if (initialized == null || finalized == null || rankOf == null || sizeOf == null || world == 0) return null;
        int up = 0, down = 0, rank = 0, size = 0;
        if (initialized(&up) != 0 || up == 0 || finalized(&down) != 0 || down != 0) return null;
        if (rankOf(world, &rank) != 0 || sizeOf(world, &size) != 0) return null;
        return (rank, size);
    }

    [LibraryImport("libc.so.6", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint DlOpen(string file, int mode);

    [LibraryImport("libc.so.6", EntryPoint = "dlerror")]
    internal static partial nint DlError();

    [LibraryImport("libc.so.6", EntryPoint = "dlclose")]
    private static partial int DlClose(nint handle);

    [LibraryImport("libc.so.6", EntryPoint = "dlsym", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint DlSym(nint handle, string symbol);
}
