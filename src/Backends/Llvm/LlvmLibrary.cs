using System.Reflection;
using System.Runtime.InteropServices;

namespace GraphCompiler.Backends.Llvm;

/// <summary>
/// Finds LLVM 19's shared library. The binding names it "LLVM-19"; this resolver maps that to the
/// Debian file names (or <c>GCC_LLVM_LIBRARY</c>) and says how to install it when it is missing.
/// </summary>
public static class LlvmLibrary
{
    private static readonly Lazy<string?> LoadError = new(Probe);

    private static readonly string[] Candidates =
    [
        "libLLVM.so.19.1", "libLLVM-19.so", "/usr/lib/x86_64-linux-gnu/libLLVM.so.19.1", "/usr/lib/aarch64-linux-gnu/libLLVM.so.19.1",
        "/usr/lib/llvm-19/lib/libLLVM.so.19.1", "/usr/lib/llvm-19/lib/libLLVM-19.so",
    ];

    static LlvmLibrary() => NativeLibrary.SetDllImportResolver(typeof(LlvmLibrary).Assembly, Resolve);

    /// <summary>Null when LLVM is usable, else a one-line explanation with the fix.</summary>
    public static string? Problem => LoadError.Value;

    public static bool Available => Problem is null;

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != LlvmNative.Library) return 0;
        return TryLoad(out var handle) ? handle : 0;
    }

    private static bool TryLoad(out nint handle)
    {
        var overridePath = Environment.GetEnvironmentVariable("GCC_LLVM_LIBRARY");
        foreach (var c in overridePath is null ? Candidates : [overridePath, .. Candidates])
            if (NativeLibrary.TryLoad(c, out handle)) return true;
        handle = 0;
        return false;
    }

    private static string? Probe() =>
        TryLoad(out _) ? null : "LLVM 19 is not installed: run 'apt-get install libllvm19' (or set GCC_LLVM_LIBRARY to libLLVM.so.19.1)";

    /// <summary>Ensures the resolver is registered before the first native call.</summary>
    public static void EnsureRegistered() => _ = Problem;
}
