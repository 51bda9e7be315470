using System.Runtime.InteropServices;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Targets;

namespace GraphCompiler.Backends.Cuda;

/// <summary>
/// A CPU host with an NVIDIA GPU as a compilation target: the <c>cuda</c> pipeline places ops by cost and
/// makes transfers explicit; GPU ops become PTX kernels, the rest runs on the host. <paramref name="gpu"/> is
/// the PTX architecture, <paramref name="hostKernels"/> the kernels of the ops that stay on the host (the CPU
/// backend's: the driver passes them, so this backend does not depend on another), <paramref name="host"/> the
/// CPU the host code is for (null: this one).
/// <para>
/// <paramref name="forDevice"/>: the options named no GPU architecture or multiprocessor count, so an in-process compile
/// (<see cref="Jit"/>) tunes <paramref name="gpu"/> to the device the driver reports (<see cref="CudaDevice"/>).
/// </para>
/// </summary>
public sealed class CudaBackend(CudaTarget gpu, IHostKernels hostKernels, CpuTarget? host = null, bool forDevice = false) : ITarget
{
    /// <summary>The driver library the generated runtime loads on its first call.</summary>
    public const string DriverLibrary = "libcuda.so.1";

    public string Name => "cuda";

    public CudaTarget Gpu { get; } = gpu;

    public CpuTarget? Host { get; } = host;

    public string DefaultPipeline => "cuda";

    public bool Supports(Operation op) => CudaCapabilities.Supports(op);

    /// <summary>The implicit GEMM stages its operands straight from buffers by cp.async: nothing computes them on the way.</summary>
    public bool ComputesConvolutionInputs => false;

    /// <summary>A GEMM kernel's epilogue evaluates each element at the linear index it shares with the product (<c>GemmKernel.StoreResult</c>).</summary>
    public bool ReshapingEpilogues => true;

    /// <summary>Operands of tensor-core contractions (bf16/f16, and f32 with TF32 allowed) are staged in 16-byte copies where they divide; the FMA tiles load element by element.</summary>
    public int? ContractionCopyBytes(ElementType operand) =>
        Codegen.MmaKernel.For(operand, operand, Gpu) is null ? null : Codegen.MmaKernel.VectorBytes;

    /// <summary>The host arena's plan (the values placed on the CPU); GPU values live in the device arena.</summary>
    public BufferOptions? MemoryPlan(Function f) => CudaCompiler.HostMemoryPlan(f);

    public string? RunUnavailable => LlvmLibrary.Problem ?? (DriverOverride() is { } other ? Loadable(other) : DriverProblem.Value);

    private static readonly Lazy<string?> DriverProblem = new(() => Loadable(DriverLibrary));

    private static string? Loadable(string library)
    {
        if (!NativeLibrary.TryLoad(library, out var handle)) return $"no NVIDIA driver on this machine ({library} cannot be loaded)";
        NativeLibrary.Free(handle);
        return null;
    }

    /// <summary>
    /// GC_CUDA_DRIVER as the generated runtime sees it: read from the process's native environment (what C's
    /// getenv reads, which on Linux .NET's Environment does not write), so both agree on the driver.
    /// </summary>
    internal static string? DriverOverride()
    {
        var p = getenv(Codegen.HostRuntime.DriverVariable);
        return p == 0 ? null : Marshal.PtrToStringUTF8(p) is { Length: > 0 } s ? s : null;
    }

    [DllImport("libc.so.6", CharSet = CharSet.Ansi)]
    private static extern nint getenv(string name);

    public Result<IExecutable> Jit(Module optimized, string? function, int threads, JitOptions? options = null)
    {
        var gpu = forDevice && CudaDevice.Query() is { } device ? CudaDevice.For(Gpu, device) : Gpu;
        var exe = CudaCompiler.Jit(optimized, new CudaCompileOptions { Gpu = gpu, Host = Host, HostKernels = hostKernels }, function);
        if (!exe.Ok) return Result<IExecutable>.Failure(exe.Diagnostics);
        exe.Value!.Threads = threads;
        return Result<IExecutable>.Success(exe.Value);
    }

    public Result<TargetArtifacts> Package(Module optimized, string? function, PackageOptions options)
    {
        var hostName = Host?.Name ?? "host";
        var a = CudaAot.Compile(optimized, new AotOptions { Name = options.Name, Target = hostName, Namespace = options.Namespace, IncludeObject = options.IncludeObject }, Gpu, hostKernels, function);
        if (!a.Ok) return Result<TargetArtifacts>.Failure(a.Diagnostics);
        var abi = a.Value!.Abi;
        return Result<TargetArtifacts>.Success(new TargetArtifacts(a.Value.Files,
            $"{abi.Name}_run: {abi.Arguments.Count} argument(s), {abi.Results.Count} result(s), arena {abi.ArenaBytes} bytes, target cuda", abi.ArenaBytes));
    }
}
