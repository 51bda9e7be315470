namespace GraphCompiler.Tests.Cli;

/// <summary>
/// The command line's compilation cache and <c>--timings</c>. The test process points GC_CACHE_DIR at a private
/// directory (TestCacheDirectory); each test compiles its own copy of a model with a unique comment, so that its
/// first compilation is always a miss whatever other tests cached.
/// </summary>
public sealed class CacheCliTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private string UniqueModel()
    {
        var path = Path.Combine(_temp.Directory("gc-cli-cache"), "model.ir");
        File.WriteAllText(path, $"// {Guid.NewGuid()}\n" + File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), "examples", "softmax_regression.ir")));
        return path;
    }

    private static string Input => Path.Combine(GoldenFile.RepoRoot(), "examples", "softmax_regression.x.npy");

    [Fact]
    public void CompileTwiceHitsTheCacheWithIdenticalFiles()
    {
        var model = UniqueModel();
        string a = _temp.Directory("gc-out"), b = _temp.Directory("gc-out");
        var first = CliTests.Run("compile", model, "-o", a, "--timings");
        var second = CliTests.Run("compile", model, "-o", b, "--timings");
        Assert.True(first.Code == 0, first.Err);
        Assert.True(second.Code == 0, second.Err);
        Assert.Contains("cache: miss", first.Err);
        Assert.Contains("LLVM optimise", first.Err);
        Assert.Contains("link (lld)", first.Err);
        Assert.Contains("cache: hit", second.Err);
        Assert.DoesNotContain("LLVM optimise", second.Err);
        Assert.Equal(first.Out.Replace(a, "DIR"), second.Out.Replace(b, "DIR"));
        foreach (var file in Directory.GetFiles(a))
            Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(b, Path.GetFileName(file))));
    }

    [Fact]
    public void NoCacheNeitherReadsNorWrites()
    {
        var model = UniqueModel();
        var bypass = CliTests.Run("compile", model, "-o", _temp.Directory("gc-out"), "--no-cache", "--timings");
        Assert.True(bypass.Code == 0, bypass.Err);
        Assert.DoesNotContain("cache:", bypass.Err);
        Assert.Contains("LLVM optimise", bypass.Err);
        // Nothing was written: the next cached compilation is still a miss.
        var cached = CliTests.Run("compile", model, "-o", _temp.Directory("gc-out"), "--timings");
        Assert.Contains("cache: miss", cached.Err);
        var again = CliTests.Run("compile", model, "-o", _temp.Directory("gc-out"), "--no-cache", "--timings");
        Assert.DoesNotContain("cache: hit", again.Err);
    }

    [Fact]
    public void RunFromTheCacheGivesTheSameResults()
    {
        var model = UniqueModel();
        string a = _temp.Directory("gc-run"), b = _temp.Directory("gc-run");
        var first = CliTests.Run("run", model, "--input", $"x={Input}", "-o", a, "--timings");
        var second = CliTests.Run("run", model, "--input", $"x={Input}", "-o", b, "--timings");
        Assert.True(first.Code == 0, first.Err);
        Assert.True(second.Code == 0, second.Err);
        Assert.Contains("cache: miss", first.Err);
        Assert.Contains("cache: hit", second.Err);
        // A hit imports nothing: the entry's signature names the inputs and results.
        Assert.DoesNotContain("import", second.Err);
        Assert.Equal(first.Out, second.Out);
        Assert.Equal(File.ReadAllBytes(Path.Combine(a, "probabilities.npy")), File.ReadAllBytes(Path.Combine(b, "probabilities.npy")));
    }

    [Fact]
    public void WithoutTimingsStderrStaysEmpty()
    {
        var model = UniqueModel();
        var r = CliTests.Run("compile", model, "-o", _temp.Directory("gc-out"));
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal("", r.Err);
    }

    [Fact]
    public void TimingsOnIrListPasses()
    {
        var r = CliTests.Run("ir", UniqueModel(), "--pipeline", "default", "--timings");
        Assert.True(r.Code == 0, r.Err);
        Assert.StartsWith("func @main(", r.Out);
        Assert.Contains("passes", r.Err);
        Assert.Contains("canonicalize", r.Err);
        Assert.Contains("peak RSS", r.Err);
        Assert.Contains("total", r.Err);
    }
}
