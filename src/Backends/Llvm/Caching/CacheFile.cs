using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.IO.MemoryMappedFiles;

namespace GraphCompiler.Backends.Llvm.Caching;

/// <summary>
/// The one file format of GraphCompiler's caches (compilation cache entries, kernel libraries): a 64-byte header
/// (an 8-byte magic naming the kind and layout, the payload's length, its XXH128, zeros) and the payload, which
/// starts at a multiple of 64 so that what lies inside it aligned (object files for LLVM, weights for the JIT's
/// code, which loads them with aligned vector instructions) lies aligned in a mapping of the file too. Writes go to a temporary file
/// renamed into place, so a reader sees a whole file or none; a file that fails its checks is deleted and read as
/// absent, never an error. XXH128, not a cryptographic hash: it detects damage at memory speed (a ResNet-50 entry
/// is 100 MB and a cache hit should cost a fraction of a second), and nobody but the cache's owner writes its folder.
/// </summary>
public static class CacheFile
{
    public const int MagicBytes = 8;

    /// <summary>What the payload's offset in the file is a multiple of: <see cref="JitConstants.Alignment"/>, the largest any content needs.</summary>
    public const int PayloadAlignment = JitConstants.Alignment;

    /// <summary>Magic, payload length, XXH128, then zeros up to <see cref="PayloadAlignment"/>: the payload's offset.</summary>
    public const int HeaderBytes = PayloadAlignment;

    private const int HashOffset = MagicBytes + sizeof(long);

    /// <summary>The largest payload read back: one <see cref="Memory{T}"/> (an int length) must span it.</summary>
    public const long MaxPayloadBytes = int.MaxValue - HeaderBytes;

    /// <summary>Stores <paramref name="payload"/> under <paramref name="path"/> atomically; false (and nothing left behind) when it cannot be written.</summary>
    public static bool Write(string path, ReadOnlySpan<byte> magic, ReadOnlySpan<byte> payload)
    {
        CheckMagic(magic);
        if (payload.Length > MaxPayloadBytes) return false;
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                Span<byte> header = stackalloc byte[HeaderBytes];
                header.Clear();
                magic.CopyTo(header);
                BinaryPrimitives.WriteInt64LittleEndian(header[MagicBytes..], payload.Length);
                XxHash128.Hash(payload, header[HashOffset..(HashOffset + 16)]);
                f.Write(header);
                f.Write(payload);
            }
            File.Move(temp, path, overwrite: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            return false;
        }
    }

    /// <summary>The payload of an intact file of this kind, copied into memory; null when missing, unreadable or damaged (damaged files are deleted).</summary>
    public static byte[]? Read(string path, ReadOnlySpan<byte> magic)
    {
        using var mapped = Map(path, magic);
        return mapped?.Memory.ToArray();
    }

    /// <summary>
    /// The payload of an intact file of this kind, mapped read-only rather than read (no copy, no fresh memory: the
    /// pages come from the page cache); null when missing, unreadable or damaged (damaged files are deleted). Dispose
    /// it when done with its memory.
    /// </summary>
    public static MappedPayload? Map(string path, ReadOnlySpan<byte> magic)
    {
        CheckMagic(magic);
        MappedPayload? mapped = null;
        try
        {
            long length = new FileInfo(path).Length;
            if (length >= HeaderBytes && length - HeaderBytes <= MaxPayloadBytes)
            {
                mapped = new MappedPayload(path, length);
                if (Intact(mapped.Whole, magic)) return mapped;
                mapped.Dispose();
            }
            TryDelete(path);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Missing, removed between the length and the mapping, or not ours to read: absent.
            mapped?.Dispose();
            return null;
        }
    }

    /// <summary>Whether <paramref name="file"/> is a whole file of this kind: magic, length and hash agree.</summary>
    private static bool Intact(ReadOnlySpan<byte> file, ReadOnlySpan<byte> magic)
    {
        var header = file[..HeaderBytes];
        var payload = file[HeaderBytes..];
        if (!header[..MagicBytes].SequenceEqual(magic) || BinaryPrimitives.ReadInt64LittleEndian(header[MagicBytes..]) != payload.Length) return false;
        Span<byte> hash = stackalloc byte[16];
        XxHash128.Hash(payload, hash);
        return hash.SequenceEqual(header[HashOffset..(HashOffset + 16)]);
    }

    private static void CheckMagic(ReadOnlySpan<byte> magic)
    {
        if (magic.Length != MagicBytes) throw new ArgumentException($"a cache file's magic is {MagicBytes} bytes", nameof(magic));
    }

    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Someone else holds or removed it; nothing to do.
        }
    }
}

/// <summary>A cache file's payload, mapped read-only; its <see cref="MemoryManager{T}.Memory"/> is valid until disposed.</summary>
public sealed unsafe class MappedPayload : MemoryManager<byte>
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _start;
    private readonly int _fileBytes;
    private bool _disposed;

    internal MappedPayload(string path, long length)
    {
        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        try
        {
            _view = _file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        }
        catch
        {
            _file.Dispose();
            throw;
        }
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _start = p + _view.PointerOffset;
        _fileBytes = checked((int)length);
    }

    /// <summary>The whole file, header included.</summary>
    internal ReadOnlySpan<byte> Whole => new(_start, _fileBytes);

    public override Span<byte> GetSpan()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new(_start + CacheFile.HeaderBytes, _fileBytes - CacheFile.HeaderBytes);
    }

    // The mapping never moves: pinning is a pointer.
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new MemoryHandle(_start + CacheFile.HeaderBytes + elementIndex);
    }

    public override void Unpin()
    {
    }

    /// <summary>Unmaps the file; its memory must not be used after this.</summary>
    public void Dispose() => ((IDisposable)this).Dispose();

    protected override void Dispose(bool disposing)
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}
