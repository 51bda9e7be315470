using System.Diagnostics;
using GraphCompiler.Caching;
using GraphCompiler.IR;
using GraphCompiler.IR.Targets;

namespace GraphCompiler;

/// <summary>The driver's whole-compilation entry points, which time every phase and go through the compilation cache when <see cref="CompileOptions.Cache"/> is on.</summary>
public sealed partial class Compiler
{
    /// <summary>
    /// Load, optimise and compile in-process, with the time of each phase. <paramref name="path"/> is the model (loaded
    /// unless <paramref name="module"/> already holds it, and the cache key); with no path, <paramref name="module"/> is
    /// compiled and its printed IR is the key. With <see cref="CompileOptions.Cache"/> on, a cached executable is
    /// loaded instead when there is one, and a new one is stored.
    /// </summary>
    public Result<JitCompilation> LoadAndJit(string? path, Module? module = null)
    {
        if (path is null && module is null) throw new ArgumentException("a model path or a module is needed");
        var phases = Phases ?? new PhaseRecorder();
        var driver = WithPhases(phases);
        var total = Stopwatch.StartNew();
        var cache = OpenCache(out var cacheable);
        var hit = TryRestore(driver, phases, path, module, total);
        if (hit is not null) return Result<JitCompilation>.Success(hit);
        var key = cache is null ? null : Key("jit", path, module, cacheable!);
        if (key is null) cache = null;

        var sw = Stopwatch.StartNew();
        if (module is null)
        {
            var loaded = driver.Load(path!);
            if (!loaded.Ok) return Result<JitCompilation>.Failure(loaded.Diagnostics);
            module = loaded.Value!;
        }
        var load = sw.Elapsed;
        sw.Restart();
        var optimized = driver.Optimize(module);
        if (!optimized.Ok) return Result<JitCompilation>.Failure(optimized.Diagnostics);
        var optimize = sw.Elapsed;
        sw.Restart();
        var exe = driver.Jit(optimized.Value!);
        if (!exe.Ok) return Result<JitCompilation>.Failure(exe.Diagnostics);
        if (cache is not null && cacheable!.Save(exe.Value!) is { } image)
            using (phases.Phase("cache store"))
                cache.Put(key!, image);
        var m = optimized.Value!;
        var f = Options.Function is { } fn ? m.Find(fn)! : m.Entry;
        return Result<JitCompilation>.Success(new JitCompilation(exe.Value!, m, f, Timings(phases, load, optimize, sw.Elapsed, cacheHit: false)));
    }

    /// <summary>
    /// The executable an identical earlier compilation of <paramref name="path"/> left in the cache, or null (a miss,
    /// caching off, a target that is not cached): nothing is loaded or compiled. <see cref="LoadAndJit"/> looks
    /// there too; this is for callers that want the function's interface before deciding to compile.
    /// </summary>
    public JitCompilation? CachedJit(string path)
    {
        var phases = Phases ?? new PhaseRecorder();
        return TryRestore(WithPhases(phases), phases, path, null, Stopwatch.StartNew());
    }

    /// <summary>Whether compilations by this driver go through the cache (<see cref="CompileOptions.Cache"/> on and a target that can be cached).</summary>
    public bool CanCache => OpenCache(out _) is not null;

    private JitCompilation? TryRestore(Compiler driver, PhaseRecorder phases, string? path, Module? module, Stopwatch total)
    {
        if (OpenCache(out var cacheable) is not { } cache) return null;
        using (phases.Phase("cache lookup"))
        {
            var key = PhaseRecorder.Time(phases, "cache key", () => Key("jit", path, module, cacheable!));
            // The entry is mapped, not read, and checked in place; the JIT links its objects from there and its code
            // reads the weights there (the executable keeps the mapping).
            var entry = key is null ? null : PhaseRecorder.Time(phases, "cache read", () => cache.TryMap(key));
            var hit = entry is not null ? PhaseRecorder.Time(phases, "cache restore", () => cacheable!.Restore(entry, Options.Threads)) : null;
            // An entry that no longer loads (another layout, say) counts as a miss: it is recompiled and overwritten.
            phases.Note("cache", hit is { Ok: true } ? "hit" : "miss");
            if (hit is not { Ok: true, Value: var restored }) return null;
            return new JitCompilation(restored!.Executable, restored.Signature, () => driver.WithPhases(null).Reoptimize(path, module),
                Timings(phases, TimeSpan.Zero, TimeSpan.Zero, total.Elapsed, cacheHit: true));
        }
    }

    private readonly Dictionary<(string Kind, object Source), (string Key, long Length, DateTime Written)> _keys = [];

    /// <summary>
    /// The cache key; null when the model cannot be read, so that loading it reports why, as without the cache. A
    /// file's key is remembered while its length and time stamp stay the same (hashing a 100 MB model takes a while,
    /// and <c>run</c> asks twice on a miss); an edited file is hashed again.
    /// </summary>
    private string? Key(string kind, string? path, Module? module, ICacheableTarget target)
    {
        object source = (object?)path ?? module!;
        lock (_keys)
        {
            try
            {
                var file = path is not null && File.Exists(path) ? new FileInfo(path) : null;
                if (file is not null && _keys.TryGetValue((kind, source), out var known) && known.Length == file.Length && known.Written == file.LastWriteTimeUtc)
                    return known.Key;
                var key = CacheKey.Compute(kind, path, path is null ? module : null, Options, target.CacheIdentity);
                if (file is not null) _keys[(kind, source)] = (key, file.Length, file.LastWriteTimeUtc);
                return key;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
    }

    /// <summary>
    /// Load, optimise and compile ahead of time into the target's library form (nothing is written), through the
    /// cache when <see cref="CompileOptions.Cache"/> is on; <see cref="Phases"/>, when set, sees every phase.
    /// </summary>
    public Result<TargetArtifacts> LoadAndPackage(string path)
    {
        var driver = Phases is null ? WithPhases(new PhaseRecorder()) : this;
        var phases = driver.Phases!;
        var cache = driver.OpenCache(out var cacheable);
        string? key = null;
        if (cache is not null)
        {
            using (phases.Phase("cache lookup"))
            {
                key = Key("package", path, null, cacheable!);
                if (key is not null && cache.TryGet(key) is { } data && CachedArtifacts.Read(data) is { } artefacts)
                {
                    phases.Note("cache", "hit");
                    return Result<TargetArtifacts>.Success(artefacts);
                }
            }
            phases.Note("cache", "miss");
        }
        var module = driver.Load(path);
        if (!module.Ok) return Result<TargetArtifacts>.Failure(module.Diagnostics);
        var optimised = driver.Optimize(module.Value!);
        if (!optimised.Ok) return Result<TargetArtifacts>.Failure(optimised.Diagnostics);
        var packaged = driver.Package(optimised.Value!);
        if (packaged.Ok && cache is not null && key is not null)
            using (phases.Phase("cache store"))
                cache.Put(key!, CachedArtifacts.Write(packaged.Value!));
        return packaged;
    }

    /// <summary>The cache to use, or null: caching off, or a target that cannot be cached (CUDA, the interpreter).</summary>
    private CompilationCache? OpenCache(out ICacheableTarget? cacheable)
    {
        cacheable = Target as ICacheableTarget;
        return Options.Cache && cacheable is not null ? CompilationCache.Default(Options.CacheDirectory) : null;
    }

    /// <summary>The optimised module behind a cache hit, for whoever asks for it later.</summary>
    private Module Reoptimize(string? path, Module? module)
    {
        if (module is null)
        {
            var loaded = Load(path!);
            module = loaded.Ok ? loaded.Value! : throw new CompilationException(loaded.Diagnostics);
        }
        var optimized = Optimize(module);
        return optimized.Ok ? optimized.Value! : throw new CompilationException(optimized.Diagnostics);
    }

    private static CompileTimings Timings(PhaseRecorder phases, TimeSpan load, TimeSpan optimize, TimeSpan codeGen, bool cacheHit) =>
        new(load, optimize, codeGen) { Phases = phases.Phases, CacheHit = cacheHit, PeakBytes = PeakMemory.Bytes() };

    /// <summary>Ops in every function and region, for progress lines.</summary>
    private static int CountOps(Module m)
    {
        static int Count(Region r) => r.Operations.Sum(op => 1 + op.Regions.Sum(Count));
        return m.Functions.Sum(f => Count(f.Body));
    }
}
