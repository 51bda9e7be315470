using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using GraphCompiler.Backends.Llvm.Caching;
using GraphCompiler.IR;
using GraphCompiler.IR.Targets;

namespace GraphCompiler.Backends.Llvm;

/// <summary>
/// The kernel library: helpers whose code depends only on the target, not on the model (the GEMM's
/// micro-kernels, packing and workers; <see cref="Codegen.ModuleContext.AddLibraryFunction"/>). They are
/// most of what LLVM optimises and compiles for a small model, so they are compiled once per target and
/// reused: the object is kept in memory for the process and on disk under
/// <c><see cref="CacheLocation.Root"/>/kernels/</c> for later processes. XLA's CPU backend does the same
/// with matmul kernels compiled into its runtime. The key is a hash of the library's text, the target and
/// the LLVM version, so an entry can never be stale; a damaged file fails its checksum and is rebuilt.
/// The disk copy is an optimisation only: when the folder cannot be written the library is compiled in memory.
/// </summary>
public static class KernelLibrary
{
    // Bumped when what goes into an entry changes other than through the key's inputs (the optimisation pipeline, the file layout).
    private const string FormatVersion = "kernels-2";
    private const string Extension = ".o";
    private static readonly byte[] Magic = "GCKERNL1"u8.ToArray();

    /// <summary>The phases (<c>--timings</c>) of the two ways a library not yet in this process's memory is obtained.</summary>
    public const string CompilePhase = "kernel library (compiled for this target)", ReadPhase = "kernel library (read from disk)";

    private static readonly ConcurrentDictionary<string, Lazy<Result<byte[]>>> Loaded = new();

    /// <summary>The folder of the library objects; tests point it elsewhere. Default: <c>kernels</c> under <see cref="CacheLocation.Root"/>.</summary>
    public static string Directory
    {
        get => _directory ?? Path.Combine(CacheLocation.Root, "kernels");
        set => _directory = value;
    }

    private static string? _directory;

    /// <summary>The object file of the library <paramref name="text"/> for <paramref name="target"/>.</summary>
    public static Result<byte[]> Object(string text, CpuTarget target, PhaseRecorder? phases = null)
    {
        var key = Key(text, target);
        var lazy = Loaded.GetOrAdd(key, k => new Lazy<Result<byte[]>>(() => LoadOrCompile(k, text, target, phases)));
        var result = lazy.Value;
        if (!result.Ok) Loaded.TryRemove(key, out _);
        return result;
    }

    /// <summary>Forgets the libraries this process holds in memory (tests: the next request reads the disk or compiles).</summary>
    public static void ForgetLoaded() => Loaded.Clear();

    internal static string Key(string text, CpuTarget target)
    {
        LlvmNative.LLVMGetVersion(out var major, out var minor, out var patch);
        var identity = $"{FormatVersion}\n{major}.{minor}.{patch}\n{target.Triple}\n{target.Cpu}\n{target.Features}\n{text}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)));
    }

    /// <summary>The entry's file: <c>&lt;key&gt;.o</c>, the object in the caches' checked format (<see cref="CacheFile"/>).</summary>
    public static string PathOf(string text, CpuTarget target) => Path.Combine(Directory, Key(text, target) + Extension);

    private static Result<byte[]> LoadOrCompile(string key, string text, CpuTarget target, PhaseRecorder? phases)
    {
        var path = Path.Combine(Directory, key + Extension);
        if (File.Exists(path) && PhaseRecorder.Time(phases, ReadPhase, () => CacheFile.Read(path, Magic)) is { } stored)
            return Result<byte[]>.Success(stored);
        var compiled = PhaseRecorder.Time(phases, CompilePhase, () => LlvmCompiler.Emit(text, target, name: "gc_kernels"));
        if (!compiled.Ok) return compiled;
        // The disk copy is an optimisation: a folder that cannot be written only means compiling again next time.
        CacheFile.Write(path, Magic, compiled.Value!);
        return compiled;
    }
}
