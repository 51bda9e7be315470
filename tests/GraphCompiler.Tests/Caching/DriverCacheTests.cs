using GraphCompiler.Caching;
using GraphCompiler.Frontend;
using GraphCompiler.IR.Targets;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Tests.Caching;

/// <summary>
/// The driver through the compilation cache: a second identical compilation is a hit (seen in the timings, not
/// measured), gives the same results as a fresh compilation, and anything that changes the code misses.
/// </summary>
public sealed class DriverCacheTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", name);

    private static readonly Tensor X = T.F32([2, 4], 0.5, -1, 2, 0, 1, 1, 1, 1);

    private CompileOptions Cached(string? dir = null) => new() { Cache = true, CacheDirectory = dir ?? _temp.Directory("gc-cache"), Threads = 1 };

    private static byte[] Output(CompiledModel model) => model.Run([X])[0].Bytes.ToArray();

    [Fact]
    public void SecondCompileHitsTheCacheAndComputesTheSame()
    {
        var options = Cached();
        var path = Example("softmax_regression.onnx");
        using var fresh = CompiledModel.Compile(path, options with { Cache = false });
        using var first = CompiledModel.Compile(path, options);
        using var second = CompiledModel.Compile(path, options);
        Assert.False(fresh.Timings.CacheHit);
        Assert.False(first.Timings.CacheHit);
        Assert.True(second.Timings.CacheHit);
        // A hit imports, optimises and generates nothing.
        Assert.Equal(["cache lookup", "cache key", "cache read", "cache restore"], second.Timings.Phases.Select(p => p.Name));
        Assert.Equal(["cache lookup"], second.Timings.Phases.Where(p => p.Depth == 0).Select(p => p.Name));
        Assert.Contains(first.Timings.Phases, p => p.Name == "LLVM optimise" && p.Depth > 0);
        Assert.Equal(Output(fresh), Output(first));
        Assert.Equal(Output(fresh), Output(second));
        Assert.Equal(first.Inputs, second.Inputs);
        Assert.Equal(first.Outputs, second.Outputs);
        // The optimised IR behind a hit is rebuilt on demand, the same as compiled.
        Assert.Equal(Printer.Print(first.Module), Printer.Print(second.Module));
    }

    [Fact]
    public void ChangedOptionsOrModelMiss()
    {
        var options = Cached();
        var dir = _temp.Directory("gc-model");
        var path = Path.Combine(dir, "model.ir");
        File.Copy(Example("softmax_regression.ir"), path);
        using (var m = CompiledModel.Compile(path, options)) Assert.False(m.Timings.CacheHit);
        using (var m = CompiledModel.Compile(path, options with { Threads = 2 })) Assert.True(m.Timings.CacheHit);
        using (var m = CompiledModel.Compile(path, options with { Pipeline = "none" })) Assert.False(m.Timings.CacheHit);
        using (var m = CompiledModel.Compile(path, options with { Target = "x86-64-v2" })) Assert.False(m.Timings.CacheHit);

        // The same model with one weight changed: a different file, a different entry, a different answer.
        var text = File.ReadAllText(path);
        var changed = text.Replace("0.5", "0.25");
        Assert.NotEqual(text, changed);
        File.WriteAllText(path, changed);
        using var edited = CompiledModel.Compile(path, options);
        Assert.False(edited.Timings.CacheHit);
        using var fresh = CompiledModel.Compile(path, options with { Cache = false });
        Assert.Equal(Output(fresh), Output(edited));
    }

    [Fact]
    public void OneDriverSeesAnEditedModel()
    {
        // The driver remembers a file's key, but only while the file is unchanged.
        var driver = Compiler.Create(Cached()).Unwrap();
        var path = Path.Combine(_temp.Directory("gc-model"), "model.ir");
        File.Copy(Example("softmax_regression.ir"), path);
        byte[] before;
        using (var m = driver.LoadAndJit(path).Unwrap().Executable) before = m.Run([X]).Unwrap()[0].Bytes.ToArray();
        File.WriteAllText(path, File.ReadAllText(path).Replace("0.5", "0.25"));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        var edited = driver.LoadAndJit(path).Unwrap();
        using var exe = edited.Executable;
        Assert.False(edited.Timings.CacheHit);
        Assert.NotEqual(before, exe.Run([X]).Unwrap()[0].Bytes.ToArray());
    }

    [Fact]
    public void CorruptEntryIsRecompiledAndReplaced()
    {
        var dir = _temp.Directory("gc-cache");
        var options = Cached(dir);
        var path = Example("softmax_regression.ir");
        byte[] expected;
        using (var m = CompiledModel.Compile(path, options)) expected = Output(m);
        var entry = Assert.Single(Directory.GetFiles(dir, "*.gcc"));
        var bytes = File.ReadAllBytes(entry);
        File.WriteAllBytes(entry, bytes[..(bytes.Length - 37)]);
        using (var m = CompiledModel.Compile(path, options))
        {
            Assert.False(m.Timings.CacheHit);
            Assert.Equal(expected, Output(m));
        }
        using (var m = CompiledModel.Compile(path, options))
        {
            Assert.True(m.Timings.CacheHit);
            Assert.Equal(expected, Output(m));
        }
    }

    [Fact]
    public void AnEntryWithAValidChecksumButBadContentsIsRecompiled()
    {
        var dir = _temp.Directory("gc-cache");
        var options = Cached(dir);
        var path = Example("softmax_regression.ir");
        using (CompiledModel.Compile(path, options)) { }
        var entry = Assert.Single(Directory.GetFiles(dir, "*.gcc"));
        // Rewritten through the cache, so the checksum matches but the payload is no executable image.
        new CompilationCache(dir).Put(Path.GetFileNameWithoutExtension(entry), [1, 2, 3]);
        using var m = CompiledModel.Compile(path, options);
        Assert.False(m.Timings.CacheHit);
        Assert.Equal(2 * 3 * 4, Output(m).Length);
    }

    [Fact]
    public void InMemoryModulesAreKeyedByTheirIr()
    {
        var options = Cached();
        var module = ModelLoader.Load(Example("softmax_regression.ir"), new()).Unwrap();
        using (var m = CompiledModel.Compile(module, options)) Assert.False(m.Timings.CacheHit);
        var reparsed = ModelLoader.Load(Example("softmax_regression.ir"), new()).Unwrap();
        using (var m = CompiledModel.Compile(reparsed, options)) Assert.True(m.Timings.CacheHit);
    }

    [Fact]
    public void CacheIsOffByDefaultInTheApi()
    {
        Assert.False(new CompileOptions().Cache);
        using var m = CompiledModel.Compile(Example("softmax_regression.ir"));
        Assert.False(m.Timings.CacheHit);
        Assert.DoesNotContain(m.Timings.Phases, p => p.Name.StartsWith("cache", StringComparison.Ordinal));
    }

    [Fact]
    public void AheadOfTimeArtefactsComeBackIdentical()
    {
        var options = Cached() with { LibraryName = "soft" };
        var path = Example("softmax_regression.ir");
        var first = Compiler.Create(options).Unwrap().LoadAndPackage(path).Unwrap();
        var phases = new PhaseRecorder();
        var second = Compiler.Create(options).Unwrap().WithPhases(phases).LoadAndPackage(path).Unwrap();
        Assert.Equal("hit", phases.Notes["cache"]);
        Assert.DoesNotContain(phases.Phases, p => p.Name == "import");
        Assert.Equal(first.Summary, second.Summary);
        Assert.Equal(first.ArenaBytes, second.ArenaBytes);
        Assert.Equal(first.Files.Select(f => f.FileName), second.Files.Select(f => f.FileName));
        for (int i = 0; i < first.Files.Count; i++) Assert.Equal(first.Files[i].Data, second.Files[i].Data);
        // Another library name is other code (other symbols).
        var renamed = new PhaseRecorder();
        Compiler.Create(options with { LibraryName = "other" }).Unwrap().WithPhases(renamed).LoadAndPackage(path).Unwrap();
        Assert.Equal("miss", renamed.Notes["cache"]);
    }

    [Fact]
    public void KeyCoversEveryOptionThatCanChangeTheCode()
    {
        var module = ModelLoader.Load(Example("softmax_regression.ir"), new()).Unwrap();
        string Key(CompileOptions o, string target = "cpu|host") => CacheKey.Compute("jit", null, module, o, target);
        var baseline = Key(new CompileOptions());
        Assert.Equal(baseline, Key(new CompileOptions { Threads = 7, Cache = true, CacheDirectory = "/x" }));
        CompileOptions[] variants =
        [
            new() { Target = "x86-64-v3" }, new() { Pipeline = "none" }, new() { Passes = ["canonicalize"] },
            new() { Function = "main" }, new() { LibraryName = "m2" }, new() { Namespace = "N" },
            new() { Feeds = [new FeedSpec("x")] }, new() { Fetches = ["y"] }, new() { Place = [".*=cpu"] },
            new() { Constants = new Dictionary<string, Tensor> { ["s"] = T.I64([1], 3) } }, new() { CheckEachPass = true },
        ];
        var keys = variants.Select(v => Key(v)).Append(baseline).Append(Key(new CompileOptions(), "cpu|znver4")).Append(CacheKey.Compute("package", null, module, new(), "cpu|host"));
        // The variants, the defaults, another CPU and the library kind: all different.
        Assert.Equal(variants.Length + 3, keys.Distinct().Count());
        // Constants differing only in value are different keys too.
        Assert.NotEqual(Key(new() { Constants = new Dictionary<string, Tensor> { ["s"] = T.I64([1], 3) } }),
            Key(new() { Constants = new Dictionary<string, Tensor> { ["s"] = T.I64([1], 4) } }));
    }

    [Fact]
    public void KeyOfADirectoryModelCoversEveryFile()
    {
        var dir = _temp.Directory("gc-savedmodel");
        Directory.CreateDirectory(Path.Combine(dir, "variables"));
        File.WriteAllText(Path.Combine(dir, "saved_model.pb"), "graph");
        File.WriteAllText(Path.Combine(dir, "variables", "variables.data-00000-of-00001"), "weights");
        string Key() => CacheKey.Compute("jit", dir, null, new CompileOptions(), "cpu|host");
        var before = Key();
        Assert.Equal(before, Key());
        File.WriteAllText(Path.Combine(dir, "variables", "variables.data-00000-of-00001"), "weightz");
        Assert.NotEqual(before, Key());
    }
}
