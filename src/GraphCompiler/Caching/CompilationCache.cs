using GraphCompiler.Backends.Llvm;
using GraphCompiler.Backends.Llvm.Caching;

namespace GraphCompiler.Caching;

/// <summary>
/// The on-disk compilation cache: one file per key (<c>KEY.gcc</c>) in the caches' checked format
/// (<see cref="CacheFile"/>: written whole by rename, read back only when its checksum holds; a damaged entry is
/// deleted and reported as a miss, never an error). After a write the directory is trimmed to
/// <see cref="MaxBytes"/>, least recently used first (a hit touches its file's modification time).
/// </summary>
public sealed class CompilationCache
{
    private static readonly byte[] Magic = "GCCACHE2"u8.ToArray();
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
        directory ??= CacheLocation.Root;
        var max = long.TryParse(Environment.GetEnvironmentVariable("GC_CACHE_MAX_BYTES"), out var m) && m > 0 ? m : DefaultMaxBytes;
        return new CompilationCache(directory, max);
    }

    /// <summary>The file an entry lives in.</summary>
    public string PathOf(string key) => Path.Combine(Directory, key + Extension);

    /// <summary>A copy of the payload stored under <paramref name="key"/>, or null (missing, unreadable, damaged: damaged entries are deleted).</summary>
    public ArraySegment<byte>? TryGet(string key)
    {
        using var mapped = TryMap(key);
        return mapped is null ? (ArraySegment<byte>?)null : new ArraySegment<byte>(mapped.Memory.ToArray());
    }

    /// <summary>
    /// The payload stored under <paramref name="key"/>, mapped rather than read (entries can be hundreds of megabytes:
    /// no copy, no fresh memory), or null as for <see cref="TryGet"/>. Dispose it when done with its memory.
    /// </summary>
    public MappedPayload? TryMap(string key)
    {
        var path = PathOf(key);
        var mapped = CacheFile.Map(path, Magic);
        if (mapped is null) return null;
        try
        {
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Recency is a hint for eviction; a read-only cache still serves hits.
        }
        return mapped;
    }

    /// <summary>Stores <paramref name="payload"/> atomically and trims the cache; false when it could not be written (too large, or the folder is not writable).</summary>
    public bool Put(string key, ReadOnlySpan<byte> payload)
    {
        if (!CacheFile.Write(PathOf(key), Magic, payload)) return false;
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
                CacheFile.TryDelete(stale.FullName);
            var entries = dir.EnumerateFiles("*" + Extension).OrderByDescending(f => f.LastWriteTimeUtc).ToList();
            long total = 0;
            foreach (var f in entries)
            {
                total += f.Length;
                if (total > MaxBytes) CacheFile.TryDelete(f.FullName);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Another process trimming at the same time; the next write tries again.
        }
    }
}
