using System.Runtime.InteropServices;
using static GraphCompiler.Backends.Llvm.LlvmNative;

namespace GraphCompiler.Backends.Llvm;

/// <summary>
/// The bytes of a JIT program's external constants (its weights: <see cref="ConstantGlobal.External"/>), laid out at
/// <see cref="Alignment"/>-byte boundaries in one block that lives as long as the JIT, whose library defines each
/// symbol at its address. Keeping weights out of the object file means LLVM never carries them through its IR,
/// its object writer and JITLink's copy; and a cache hit uses the block where it lies, in the mapped cache entry,
/// instead of copying 100 MB into fresh memory (ONNX Runtime maps external weights the same way).
/// </summary>
public sealed unsafe class JitConstants : IDisposable
{
    /// <summary>Every constant's address is a multiple of this: the code generator declares them <c>align 64</c> (a cache line, and AVX-512's vector size).</summary>
    public const int Alignment = 64;

    /// <summary>Constants of at least this many bytes are external in a JIT program; smaller ones stay in the code, where LLVM can fold loads from them.</summary>
    public const long MinExternalBytes = 4096;

    /// <summary>One constant: its symbol and where its bytes are in the block.</summary>
    public sealed record Entry(string Symbol, long Offset, long Length);

    private byte* _start;
    private readonly bool _ownsBlock;
    private IDisposable? _owner;

    private JitConstants(IReadOnlyList<Entry> entries, long bytes, byte* start, bool ownsBlock, IDisposable? owner)
    {
        Entries = entries;
        Bytes = bytes;
        _start = start;
        _ownsBlock = ownsBlock;
        _owner = owner;
    }

    public IReadOnlyList<Entry> Entries { get; }

    /// <summary>The block's size: the last constant's end.</summary>
    public long Bytes { get; }

    /// <summary>Offsets for constants of the given lengths, in order, each aligned; and the block's size.</summary>
    public static (IReadOnlyList<Entry> Entries, long Bytes) Layout(IEnumerable<(string Symbol, long Length)> constants)
    {
        var entries = new List<Entry>();
        long offset = 0;
        foreach (var (symbol, length) in constants)
        {
            offset = AlignUp(offset);
            entries.Add(new Entry(symbol, offset, length));
            offset += length;
        }
        return (entries, offset);
    }

    public static long AlignUp(long offset) => (offset + Alignment - 1) / Alignment * Alignment;

    /// <summary>
    /// The external constants among <paramref name="constants"/>, copied into a block of their own; null when there are
    /// none. Constants with the same bytes (of different types, say) share one copy, as LLVM merges equal constants.
    /// </summary>
    public static JitConstants? Copy(IReadOnlyList<ConstantGlobal> constants)
    {
        var external = constants.Where(c => c.External).ToList();
        if (external.Count == 0) return null;
        // Each constant's first equal among those before it (same length, same bytes), or itself.
        var firsts = new int[external.Count];
        var byLength = new Dictionary<int, List<int>>();
        for (int i = 0; i < external.Count; i++)
        {
            var bytes = external[i].Value.Bytes;
            var same = byLength.TryGetValue(bytes.Length, out var list) ? list : byLength[bytes.Length] = [];
            int match = -1;
            foreach (var j in same)
                if (external[j].Value.Bytes.SequenceEqual(bytes)) { match = j; break; }
            firsts[i] = match >= 0 ? match : i;
            if (match < 0) same.Add(i);
        }
        var distinct = Enumerable.Range(0, external.Count).Where(i => firsts[i] == i).ToList();
        var (laid, size) = Layout(distinct.Select(i => (external[i].Symbol, (long)external[i].Value.Bytes.Length)));
        var offsetOf = distinct.Select((i, k) => (i, laid[k].Offset)).ToDictionary(x => x.i, x => x.Offset);
        var start = Allocate(size);
        foreach (var i in distinct)
            external[i].Value.Bytes.CopyTo(new Span<byte>(start + offsetOf[i], external[i].Value.Bytes.Length));
        var entries = external.Select((c, i) => new Entry(c.Symbol, offsetOf[firsts[i]], c.Value.Bytes.Length)).ToList();
        return new JitConstants(entries, size, start, ownsBlock: true, owner: null);
    }

    /// <summary>
    /// The block at <paramref name="start"/> (laid out as <paramref name="entries"/> says): used where it lies when it is
    /// aligned and <paramref name="owner"/> keeps it alive (<paramref name="tookOwner"/>: this then disposes
    /// <paramref name="owner"/> with itself), else copied.
    /// </summary>
    public static JitConstants FromBlock(byte* start, IReadOnlyList<Entry> entries, long bytes, IDisposable? owner, out bool tookOwner)
    {
        tookOwner = owner is not null && (nint)start % Alignment == 0;
        if (tookOwner) return new JitConstants(entries, bytes, start, ownsBlock: false, owner);
        var copy = Allocate(bytes);
        Buffer.MemoryCopy(start, copy, bytes, bytes);
        return new JitConstants(entries, bytes, copy, ownsBlock: true, owner: null);
    }

    private static byte* Allocate(long bytes) => (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), Alignment);

    /// <summary>Writes the block (the bytes between constants included) to <paramref name="stream"/>.</summary>
    public void WriteTo(Stream stream)
    {
        ObjectDisposedException.ThrowIf(_start == null, this);
        const int chunk = 1 << 30;
        for (long done = 0; done < Bytes; done += chunk)
            stream.Write(new ReadOnlySpan<byte>(_start + done, (int)Math.Min(chunk, Bytes - done)));
    }

    /// <summary>Defines every constant's symbol at its address in <paramref name="dylib"/> of <paramref name="jit"/>; the error, or "".</summary>
    internal string Define(nint jit, nint dylib)
    {
        var pairs = new OrcSymbolMapPair[Entries.Count];
        for (int i = 0; i < pairs.Length; i++)
            pairs[i] = new OrcSymbolMapPair
            {
                Name = LLVMOrcLLJITMangleAndIntern(jit, Entries[i].Symbol),
                Address = (ulong)(nint)(_start + Entries[i].Offset),
                GenericFlags = JitSymbolExported,
            };
        nint unit;
        fixed (OrcSymbolMapPair* p = pairs) unit = LLVMOrcAbsoluteSymbols(p, (nuint)pairs.Length);
        var error = TakeError(LLVMOrcJITDylibDefine(dylib, unit));
        if (error.Length > 0) LLVMOrcDisposeMaterializationUnit(unit);
        return error;
    }

    /// <summary>Frees the block (or lets go of the memory it lies in); the JIT using it must be gone.</summary>
    public void Dispose()
    {
        if (_start == null) return;
        if (_ownsBlock) NativeMemory.AlignedFree(_start);
        _start = null;
        _owner?.Dispose();
        _owner = null;
    }
}
