using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using GraphCompiler.Backends.Cuda;
using GraphCompiler.Backends.Llvm;
using Xunit;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// The tests' CUDA driver (tests/cuda-emulator/cuda_emulator.c), built once per test process with <c>cc</c>:
/// a generated CUDA program runs unchanged (host code, driver calls, launches, transfers) while its kernels
/// run on CPU threads, compiled from the same LLVM IR as the PTX with the NVPTX intrinsics renamed to the
/// emulator's (thread registers, barrier, warp shuffle). What it cannot check is NVPTX's own code generation
/// and the GPU's memory model; tools/gpu-check does, on a GPU.
/// </summary>
internal static partial class CudaEmulator
{
    private static readonly Lazy<(string? Library, string? Problem)> Built = new(Build);
    private static int _registered;

    /// <summary>Why the emulator cannot run here (no C compiler), or null.</summary>
    public static string? Problem => Built.Value.Problem;

    private static string Library => Built.Value.Library ?? throw new InvalidOperationException(Problem);

    private static (string?, string?) Build()
    {
        var source = Path.Combine(GoldenFile.RepoRoot(), "tests", "cuda-emulator", "cuda_emulator.c");
        var dir = Path.Combine(Path.GetTempPath(), $"gc-cuda-emulator-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var library = Path.Combine(dir, "libgccuda_emulator.so");
        var (status, output) = Exec("cc", "-O1", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o", library, source, "-lpthread", "-ldl");
        if (status != 0) return (null, $"cannot build the CUDA emulator: {output}");
        NativeLibrary.Load(library); // stays loaded: the generated runtime's dlopen of the same path gets this copy
        return (library, null);
    }

    /// <summary><see cref="AotTests.Exec"/>, with a missing program (no cc here) reported as a failure, not thrown.</summary>
    private static (int Status, string Output) Exec(string program, params string[] args)
    {
        try
        {
            return AotTests.Exec(program, args);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"{program}: {e.Message}");
        }
    }

    /// <summary>Kernels launched through the emulator since the process started.</summary>
    public static unsafe long Launches => ((delegate* unmanaged<long>)Export("gcemu_launches"))();

    private static nint Export(string name) => NativeLibrary.GetExport(NativeLibrary.Load(Library), name);

    private static readonly HashSet<string> RegisteredPtx = [];

    /// <summary>Compiles <paramref name="program"/>'s kernels for this CPU and registers them under its PTX (once per PTX text).</summary>
    private static unsafe void Register(CudaProgram program)
    {
        lock (RegisteredPtx)
            if (!RegisteredPtx.Add(program.Ptx)) return;
        var dir = Path.GetDirectoryName(Library)!;
        int n = Interlocked.Increment(ref _registered);
        var obj = LlvmCompiler.Emit(HostFlavoured(program.DeviceIr), CpuTarget.Host(), assembly: false, name: $"kernels{n}", constants: program.DeviceConstants);
        Assert.True(obj.Ok, string.Join("\n", obj.Diagnostics));
        var objPath = Path.Combine(dir, $"kernels{n}.o");
        var soPath = Path.Combine(dir, $"kernels{n}.so");
        File.WriteAllBytes(objPath, obj.Value!);
        // lld directly: a third of the time of cc's driver, which matters over the whole suite.
        var linker = GraphCompiler.Backends.Llvm.Aot.SharedLibraryLinker.FindLinker() ?? "cc";
        var (status, output) = linker == "cc" ? Exec("cc", "-shared", "-o", soPath, objPath, Library) : Exec(linker, "-shared", "-o", soPath, objPath, Library);
        Assert.True(status == 0, $"linking the emulated kernels failed: {output}");
        var register = (delegate* unmanaged<nint, nint, int>)Export("gcemu_register");
        var ptx = Marshal.StringToCoTaskMemUTF8(program.Ptx);
        var path = Marshal.StringToCoTaskMemUTF8(soPath);
        try { Assert.Equal(0, register(ptx, path)); }
        finally
        {
            Marshal.FreeCoTaskMem(ptx);
            Marshal.FreeCoTaskMem(path);
        }
    }

    /// <summary>
    /// The device module for the host: NVPTX intrinsics renamed to the emulator's symbols, shared memory
    /// (address space 3) as ordinary globals, and per kernel a <c>NAME.emu(void **params)</c> entry that unpacks
    /// cuLaunchKernel's parameter array and <c>NAME.emu.sync</c>, whether the kernel synchronises its threads.
    /// </summary>
    public static string HostFlavoured(string deviceIr)
    {
        var ir = deviceIr
            .Replace("@llvm.nvvm.read.ptx.sreg.", "@gcemu.sreg.")
            .Replace("@llvm.nvvm.barrier0", "@gcemu.barrier0")
            .Replace("@llvm.nvvm.shfl.sync.bfly.f32", "@gcemu.shfl.sync.bfly.f32")
            .Replace(" addrspace(3)", "");
        ir = TargetLine().Replace(ir, "");
        var wrappers = new System.Text.StringBuilder();
        foreach (Match m in KernelDefinition().Matches(ir))
        {
            var name = m.Groups[1].Value;
            int count = m.Groups[2].Value.Length == 0 ? 0 : m.Groups[2].Value.Split(',').Length;
            wrappers.Append($"define void @\"{name}.emu\"(ptr %params) {{\nentry:\n");
            for (int i = 0; i < count; i++)
                wrappers.Append($"  %s{i} = getelementptr inbounds ptr, ptr %params, i64 {i}\n  %q{i} = load ptr, ptr %s{i}\n  %a{i} = load ptr, ptr %q{i}\n");
            wrappers.Append($"  call void @{name}({string.Join(", ", Enumerable.Range(0, count).Select(i => $"ptr %a{i}"))})\n  ret void\n}}\n");
            // Whether the kernel's body (up to its closing brace) waits at a barrier or shuffles.
            var body = ir[m.Index..ir.IndexOf("\n}\n", m.Index, StringComparison.Ordinal)];
            bool synchronises = body.Contains("@gcemu.barrier0") || body.Contains("@gcemu.shfl.");
            wrappers.Append($"@\"{name}.emu.sync\" = constant i32 {(synchronises ? 1 : 0)}\n");
        }
        return ir + wrappers;
    }

    [GeneratedRegex(@"^target (triple|datalayout) = .*$", RegexOptions.Multiline)]
    private static partial Regex TargetLine();

    [GeneratedRegex(@"^define void @(gc_[A-Za-z0-9_]+)\(([^)]*)\)", RegexOptions.Multiline)]
    private static partial Regex KernelDefinition();

    /// <summary>
    /// Until disposed, the emulator is the driver: GC_CUDA_DRIVER names it (set in the native environment, which the
    /// runtime's getenv reads: .NET's Environment.SetEnvironmentVariable does not reach it on Linux), and every
    /// program generated meanwhile (<see cref="CudaCompiler.Generated"/>) gets its kernels built for the host.
    /// </summary>
    public static IDisposable AsDriver()
    {
        Assert.Equal(0, setenv(DriverVariable, Library, 1));
        CudaCompiler.Generated += Register;
        return new Unset();
    }

    private const string DriverVariable = "GC_CUDA_DRIVER";

    [DllImport("libc.so.6", CharSet = CharSet.Ansi)]
    private static extern int setenv(string name, string value, int overwrite);

    [DllImport("libc.so.6", CharSet = CharSet.Ansi)]
    private static extern int unsetenv(string name);

    private sealed class Unset : IDisposable
    {
        public void Dispose()
        {
            CudaCompiler.Generated -= Register;
            unsetenv(DriverVariable);
        }
    }
}

/// <summary>
/// Tests that set GC_CUDA_DRIVER (process-wide, inherited by child processes) and tests that expect no driver run
/// one at a time: xunit runs the classes of one collection sequentially.
/// </summary>
[CollectionDefinition(Name)]
public sealed class CudaDriverCollection
{
    public const string Name = "CUDA driver";
}

/// <summary>Runs where the emulator can be built (a C compiler); says why not otherwise.</summary>
public sealed class CudaEmulatorFactAttribute : FactAttribute
{
    public CudaEmulatorFactAttribute()
    {
        if (CudaEmulator.Problem is { } p) Skip = p;
    }
}

public sealed class CudaEmulatorTheoryAttribute : TheoryAttribute
{
    public CudaEmulatorTheoryAttribute()
    {
        if (CudaEmulator.Problem is { } p) Skip = p;
    }
}
