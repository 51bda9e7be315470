using System.Buffers.Binary;
using System.Security.Cryptography;

namespace GraphCompiler.Caching;

/// <summary>
/// The on-disk compilation cache: one file per key (<c>KEY.gcc</c>) holding a header (magic, payload length,
/// SHA-256 of the payload) and the payload. Writes go to a temporary file that is renamed into place, so a
/// concurrent reader sees a whole entry or none; a corrupt or truncated entry is deleted and reported as a miss,
/// never an error. After a write the directory is trimmed to <see cref="MaxBytes"/>, least recently used first
/// (a hit touches its file's modification time).
/// </summary>
public sealed class CompilationCache
{
    private static readonly byte[] Magic = "GCCACHE1"u8.ToArray();
    private const int HeaderBytes = 8 + 8 + 32;
    private const string Extension = ".gcc";

    public CompilationCache(string directory, long maxBytes = DefaultMaxBytes)
    {
        Directory = directory;
        MaxBytes = maxBytes;
    }

    /// <summary>1 GiB: a ResNet-50 entry is about 100 MB (mostly its weights).</summary>
    public const long DefaultMaxBytes = 1L << 30;

    public string Directory { get; }

    public long MaxBytes { get; }

    /// <summary>
    /// <c>$GC_CACHE_DIR</c>, else <c>$XDG_CACHE_HOME/graphcompiler</c>, else <c>~/.cache/graphcompiler</c>; the
    /// bound is <c>$GC_CACHE_MAX_BYTES</c>, else 1 GiB.
    /// </summary>
    public static CompilationCache Default(string? directory = null)
    {
        directory ??= Backends.Llvm.CacheLocation.Root;
        var max = long.TryParse(Environment.GetEnvironmentVariable("GC_CACHE_MAX_BYTES"), out var m) && m > 0 ? m : DefaultMaxBytes;
        return new CompilationCache(directory, max);
    }

    /// <summary>The file an entry lives in.</summary>
    public string PathOf(string key) => Path.Combine(Directory, key + Extension);

    /// <summary>
    /// The payload stored under <paramref name="key"/> (a view into the entry's bytes, not a copy: entries can be
    /// hundreds of megabytes), or null (missing, unreadable, corrupt: corrupt entries are deleted).
    /// </summary>
    public ArraySegment<byte>? TryGet(string key)
    {
        var path = PathOf(key);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var payload = Verify(bytes);
        if (payload is null)
        {
            TryDelete(path);
            return null;
        }
        try
        {
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Recency is a hint for eviction; a read-only cache still serves hits.
        }
        return payload;
    }

    /// <summary>Stores <paramref name="payload"/> atomically (temporary file, then rename) and trims the cache; a failure to write is ignored.</summary>
    public bool Put(string key, ReadOnlySpan<byte> payload)
    {
        var path = PathOf(key);
        var tmp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                Span<byte> header = stackalloc byte[HeaderBytes];
                Magic.CopyTo(header);
                BinaryPrimitives.WriteInt64LittleEndian(header[8..], payload.Length);
                SHA256.HashData(payload, header[16..]);
                f.Write(header);
                f.Write(payload);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(tmp);
            return false;
        }
        Trim();
        return true;
    }

    /// <summary>Deletes least recently used entries until the cache fits <see cref="MaxBytes"/> (stray temporary files an hour old go too).</summary>
    public void Trim()
    {
        try
        {
            var dir = new DirectoryInfo(Directory);
            if (!dir.Exists) return;
            foreach (var stale in dir.EnumerateFiles("*.tmp").Where(f => f.LastWriteTimeUtc < DateTime.UtcNow.AddHours(-1)))
                TryDelete(stale.FullName);
            var entries = dir.EnumerateFiles("*" + Extension).OrderByDescending(f => f.LastWriteTimeUtc).ToList();
            long total = 0;
            foreach (var f in entries)
            {
                total += f.Length;
                if (total > MaxBytes) TryDelete(f.FullName);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Another process trimming at the same time; the next write tries again.
        }
    }

    /// <summary>The payload of a whole, intact entry, else null.</summary>
    private static ArraySegment<byte>? Verify(byte[] bytes)
    {
        if (bytes.Length < HeaderBytes || !bytes.AsSpan(0, 8).SequenceEqual(Magic)) return null;
        var length = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8));
        if (length != bytes.Length - HeaderBytes) return null;
        var payload = new ArraySegment<byte>(bytes, HeaderBytes, bytes.Length - HeaderBytes);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(payload, hash);
        return hash.SequenceEqual(bytes.AsSpan(16, 32)) ? payload : (ArraySegment<byte>?)null;
    }

    private static void TryDelete(string path)
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
