using System.Runtime.InteropServices;

namespace GraphCompiler.Runtime;

/// <summary>
/// Scratch memory for compiled code: native, 64-byte aligned (<see cref="Alignment"/>), of the size the
/// compiled function asks for (<c>NAME_arena_size</c>). Its contents need not survive between calls, so
/// one arena serves any number of calls, one at a time. Not thread-safe; dispose to free it.
/// </summary>
public sealed unsafe class Arena : IDisposable
{
    /// <summary>The arena's alignment: <see cref="Abi.ArenaAlignment"/>.</summary>
    public const int Alignment = Abi.ArenaAlignment;

    private void* _memory;

    /// <param name="bytes">The size the compiled function needs; 0 is allowed (a minimal block is still allocated so the pointer is valid).</param>
    public Arena(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Size = bytes;
        // Round up to whole cache lines: vector kernels may read a full line at the end.
        var allocated = (nuint)Math.Max((bytes + Alignment - 1) / Alignment * Alignment, Alignment);
        _memory = NativeMemory.AlignedAlloc(allocated, Alignment);
    }

    /// <summary>The usable size in bytes.</summary>
    public long Size { get; }

    /// <summary>The start of the arena, to pass to compiled code.</summary>
    public nint Pointer => _memory is null ? throw new ObjectDisposedException(nameof(Arena)) : (nint)_memory;

    public bool IsDisposed => _memory is null;

    public void Dispose()
    {
        if (_memory is not null) NativeMemory.AlignedFree(_memory);
        _memory = null;
    }
}
