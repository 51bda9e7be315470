using System.Runtime.InteropServices;

namespace GraphCompiler.Distributed;

/// <summary>An MPI call that failed: "WHAT failed: MPI's error string (MPI error N)", or MPI that cannot be loaded or started.</summary>
public sealed class MpiException(string message) : Exception(message);

/// <summary>
/// MPI point-to-point messages from C# (blocking <c>MPI_Send</c>, <c>MPI_Probe</c>, <c>MPI_Recv</c> of bytes), for
/// the parameter server. It loads the MPI library exactly as compiled collectives do (<see cref="MpiWorld.LibraryName"/>:
/// <c>libmpi.so.40</c> or <c>GCC_MPI_LIBRARY</c>, <c>RTLD_NOW | RTLD_GLOBAL</c>; Open MPI 4's ABI, whose handles are
/// addresses of global objects) and stays compatible with them: it initialises MPI
/// (<c>MPI_THREAD_FUNNELED</c>: every call comes from the thread that made this object) only when nobody has, and
/// then finalises it on <see cref="Dispose"/>; it talks on its own duplicate of <c>MPI_COMM_WORLD</c>, whose
/// errors return instead of aborting, so its tags never meet a compiled program's messages.
/// </summary>
public sealed unsafe class MpiPointToPoint : IDisposable
{
    /// <summary><c>MPI_ANY_SOURCE</c> in Open MPI's mpi.h.</summary>
    public const int AnySource = -1;

    /// <summary><c>MPI_ANY_TAG</c> in Open MPI's mpi.h.</summary>
    public const int AnyTag = -1;

    /// <summary><c>MPI_THREAD_FUNNELED</c> (mpi.h's enum: SINGLE 0, FUNNELED 1): only the thread that initialised MPI calls it.</summary>
    private const int ThreadFunneled = 1;

    /// <summary><c>MPI_MAX_ERROR_STRING</c> in Open MPI's mpi.h.</summary>
    private const int MaxErrorString = 256;

    /// <summary>
    /// Open MPI 4's <c>struct ompi_status_public_t</c> (mpi.h): the public <c>MPI_SOURCE</c>, <c>MPI_TAG</c>,
    /// <c>MPI_ERROR</c>, then the library's <c>_cancelled</c> (int) and <c>_ucount</c> (size_t): 24 bytes.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Status
    {
        public int Source, Tag, Error, Cancelled;
        public nuint UCount;
    }

    private readonly delegate* unmanaged<nint, int, nint, int, int, nint, int> _send;
    private readonly delegate* unmanaged<nint, int, nint, int, int, nint, Status*, int> _recv;
    private readonly delegate* unmanaged<int, int, nint, Status*, int> _probe;
    private readonly delegate* unmanaged<Status*, nint, int*, int> _getCount;
    private readonly delegate* unmanaged<int, byte*, int*, int> _errorString;
    private readonly delegate* unmanaged<nint*, int> _commFree;
    private readonly delegate* unmanaged<int> _finalize;
    private readonly delegate* unmanaged<int*, int> _finalized;
    private readonly nint _byte; // MPI_BYTE: &ompi_mpi_byte
    private nint _comm; // our duplicate of MPI_COMM_WORLD
    private readonly bool _owned; // we initialised MPI, so we finalise it

    /// <summary>Loads MPI, initialises it unless the process did, and duplicates the world.</summary>
    /// <exception cref="MpiException">No usable Open MPI 4, MPI finalised already, or an MPI call failed.</exception>
    public MpiPointToPoint()
    {
        var name = MpiWorld.LibraryName;
        var lib = MpiWorld.DlOpen(name, MpiWorld.RtldNow | MpiWorld.RtldGlobal);
        if (lib == 0) throw new MpiException($"cannot load {name} ({Marshal.PtrToStringUTF8(MpiWorld.DlError())}): install openmpi-bin (Open MPI 4, libmpi.so.40)");
        nint Sym(string symbol) => MpiWorld.DlSym(lib, symbol) is var p and not 0 ? p
            : throw new MpiException($"{name} has no {symbol}: the MPI transport needs Open MPI 4 (libmpi.so.40)");
        var initialized = (delegate* unmanaged<int*, int>)Sym("MPI_Initialized");
        var initThread = (delegate* unmanaged<int*, nint, int, int*, int>)Sym("MPI_Init_thread");
        var dup = (delegate* unmanaged<nint, nint*, int>)Sym("MPI_Comm_dup");
        var setErrhandler = (delegate* unmanaged<nint, nint, int>)Sym("MPI_Comm_set_errhandler");
        var rankOf = (delegate* unmanaged<nint, int*, int>)Sym("MPI_Comm_rank");
        var sizeOf = (delegate* unmanaged<nint, int*, int>)Sym("MPI_Comm_size");
        _send = (delegate* unmanaged<nint, int, nint, int, int, nint, int>)Sym("MPI_Send");
        _recv = (delegate* unmanaged<nint, int, nint, int, int, nint, Status*, int>)Sym("MPI_Recv");
        _probe = (delegate* unmanaged<int, int, nint, Status*, int>)Sym("MPI_Probe");
        _getCount = (delegate* unmanaged<Status*, nint, int*, int>)Sym("MPI_Get_count");
        _errorString = (delegate* unmanaged<int, byte*, int*, int>)Sym("MPI_Error_string");
        _commFree = (delegate* unmanaged<nint*, int>)Sym("MPI_Comm_free");
        _finalize = (delegate* unmanaged<int>)Sym("MPI_Finalize");
        _finalized = (delegate* unmanaged<int*, int>)Sym("MPI_Finalized");
        _byte = Sym("ompi_mpi_byte");
        var world = Sym("ompi_mpi_comm_world");
        var errorsReturn = Sym("ompi_mpi_errors_return");

        int up = 0, down = 0, provided = 0, rank = 0, size = 0;
        Check(initialized(&up), "MPI_Initialized");
        if (up == 0)
        {
            Check(_finalized(&down), "MPI_Finalized");
            if (down != 0) throw new MpiException("MPI was finalised already in this process and cannot start again");
            Check(initThread(null, 0, ThreadFunneled, &provided), "MPI_Init_thread");
            _owned = true;
        }
        nint comm;
        Check(dup(world, &comm), "MPI_Comm_dup (MPI_COMM_WORLD)");
        _comm = comm;
        Check(setErrhandler(comm, errorsReturn), "MPI_Comm_set_errhandler");
        Check(rankOf(comm, &rank), "MPI_Comm_rank");
        Check(sizeOf(comm, &size), "MPI_Comm_size");
        (Rank, Size) = (rank, size);
    }

    /// <summary>This process's rank in <c>MPI_COMM_WORLD</c>.</summary>
    public int Rank { get; }

    /// <summary>The number of processes in <c>MPI_COMM_WORLD</c>.</summary>
    public int Size { get; }

    /// <summary>Sends <paramref name="data"/> to <paramref name="destination"/> with <paramref name="tag"/> (<c>MPI_Send</c>: returns once the buffer may be reused).</summary>
    public void Send(ReadOnlySpan<byte> data, int destination, int tag)
    {
        fixed (byte* p = data)
            Check(_send((nint)p, data.Length, _byte, destination, tag, _comm), $"MPI_Send of {data.Length} bytes to rank {destination} (tag {tag})");
    }

    /// <summary>Waits for the next message from <paramref name="source"/> with <paramref name="tag"/> (either may be "any") without receiving it: who sent it, its tag and its size.</summary>
    public (int Source, int Tag, int Bytes) Probe(int source = AnySource, int tag = AnyTag)
    {
        Status status;
        int count = 0;
        Check(_probe(source, tag, _comm, &status), "MPI_Probe");
        Check(_getCount(&status, _byte, &count), "MPI_Get_count");
        return (status.Source, status.Tag, count);
    }

    /// <summary>Receives a message of exactly <paramref name="buffer"/>'s size from <paramref name="source"/> with <paramref name="tag"/>.</summary>
    /// <exception cref="MpiException">The receive failed, or the message had another size.</exception>
    public void Receive(Span<byte> buffer, int source, int tag)
    {
        Status status;
        int count = 0;
        fixed (byte* p = buffer)
            Check(_recv((nint)p, buffer.Length, _byte, source, tag, _comm, &status), $"MPI_Recv of {buffer.Length} bytes from rank {source} (tag {tag})");
        Check(_getCount(&status, _byte, &count), "MPI_Get_count");
        if (count != buffer.Length)
            throw new MpiException($"rank {status.Source} sent {count} bytes with tag {tag}, expected {buffer.Length} (do all ranks train the same model?)");
    }

    private void Check(int code, string what)
    {
        if (code == 0) return;
        var text = new byte[MaxErrorString];
        int length = 0;
        fixed (byte* p = text)
        {
            if (_errorString != null && _errorString(code, p, &length) == 0)
                throw new MpiException($"{what} failed: {System.Text.Encoding.UTF8.GetString(text, 0, Math.Clamp(length, 0, text.Length))} (MPI error {code})");
        }
        throw new MpiException($"{what} failed: unknown MPI error (MPI error {code})");
    }

    /// <summary>Frees the duplicate communicator and finalises MPI when this object started it (a collective call: every rank disposes).</summary>
    public void Dispose()
    {
        if (_comm == 0) return;
        var comm = _comm;
        _comm = 0;
        _commFree(&comm);
        int down = 0;
        if (_owned && _finalized(&down) == 0 && down == 0) _finalize();
    }
}
