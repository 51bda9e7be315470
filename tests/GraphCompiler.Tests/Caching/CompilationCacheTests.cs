using GraphCompiler.Caching;

namespace GraphCompiler.Tests.Caching;

/// <summary>The cache's storage: whole entries or none, corruption detected, least recently used evicted, concurrent writers safe.</summary>
public sealed class CompilationCacheTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static byte[] Payload(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public void StoredPayloadComesBackAndAMissingKeyIsAMiss()
    {
        var cache = new CompilationCache(_temp.Directory("gc-cache"));
        var payload = Payload(1, 10_000);
        Assert.Null(cache.TryGet("k1"));
        Assert.True(cache.Put("k1", payload));
        Assert.Equal(payload, cache.TryGet("k1")!.Value.ToArray());
        Assert.Null(cache.TryGet("k2"));
        // Nothing but the entry is left behind (no temporary files).
        Assert.Equal(["k1.gcc"], Directory.GetFiles(cache.Directory).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("flip")]
    [InlineData("truncate")]
    [InlineData("empty")]
    [InlineData("extend")]
    public void CorruptEntryIsAMissAndIsDeleted(string damage)
    {
        var cache = new CompilationCache(_temp.Directory("gc-cache"));
        cache.Put("k", Payload(2, 4096));
        var path = cache.PathOf("k");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, damage switch
        {
            "flip" => [.. bytes[..^100], (byte)(bytes[^100] ^ 0x40), .. bytes[^99..]],
            "truncate" => bytes[..(bytes.Length / 2)],
            "empty" => [],
            _ => [.. bytes, 0],
        });
        Assert.Null(cache.TryGet("k"));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void LeastRecentlyUsedEntriesGoFirstWhenOverTheBound()
    {
        // Each entry is 1000 bytes of payload plus a 64-byte header; the bound holds three.
        var cache = new CompilationCache(_temp.Directory("gc-cache"), maxBytes: 3 * 1064 + 10);
        var start = DateTime.UtcNow.AddMinutes(-10);
        for (int i = 0; i < 3; i++)
        {
            cache.Put($"e{i}", Payload(i, 1000));
            File.SetLastWriteTimeUtc(cache.PathOf($"e{i}"), start.AddMinutes(i));
        }
        // A hit makes e0 the most recently used, so e1 is now the oldest.
        Assert.NotNull(cache.TryGet("e0"));
        cache.Put("e3", Payload(3, 1000));
        Assert.Null(cache.TryGet("e1"));
        Assert.NotNull(cache.TryGet("e0"));
        Assert.NotNull(cache.TryGet("e2"));
        Assert.NotNull(cache.TryGet("e3"));
    }

    [Fact]
    public void ConcurrentWritersAndReadersNeverSeeAPartialEntry()
    {
        var dir = _temp.Directory("gc-cache");
        var payloads = Enumerable.Range(0, 4).Select(i => Payload(i, 200_000 + i)).ToArray();
        var seen = new System.Collections.Concurrent.ConcurrentBag<byte[]>();
        // Separate cache objects, as separate processes would have, all writing the same key.
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var cache = new CompilationCache(dir);
            if (i % 2 == 0) Assert.True(cache.Put("shared", payloads[i / 2 % payloads.Length]));
            else if (cache.TryGet("shared") is { } got) seen.Add(got.ToArray());
        });
        // Every read was one whole payload, never a mixture or a prefix.
        Assert.All(seen, got => Assert.Contains(payloads, p => p.AsSpan().SequenceEqual(got)));
        var final = new CompilationCache(dir).TryGet("shared");
        Assert.NotNull(final);
        Assert.Contains(payloads, p => p.AsSpan().SequenceEqual(final.Value));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void DefaultLocationFollowsTheEnvironment()
    {
        // The test process points GC_CACHE_DIR at its own directory (TestCacheDirectory).
        Assert.Equal(TestCacheDirectory.Path, CompilationCache.Default().Directory);
        Assert.Equal("/somewhere", CompilationCache.Default("/somewhere").Directory);
    }
}
