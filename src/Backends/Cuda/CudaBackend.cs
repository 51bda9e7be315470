using System.Runtime.InteropServices;
using GraphCompiler.Backends.Cpu.Aot;
using GraphCompiler.Backends.Cpu.Llvm;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Targets;

namespace GraphCompiler.Backends.Cuda;

/// <summary>
/// A CPU host with an NVIDIA GPU as a compilation target: the <c>cuda</c> pipeline places ops by cost and
/// makes transfers explicit; GPU ops become PTX kernels, the rest runs on the host. <paramref name="gpu"/> is
/// the PTX architecture, <paramref name="host"/> the CPU the host code is for (null: this one).
/// </summary>
public sealed class CudaBackend(CudaTarget gpu, CpuTarget? host = null) : ITarget
{
    /// <summary>The driver library the generated runtime loads on its first call.</summary>
    public const string DriverLibrary = "libcuda.so.1";

    public string Name => "cuda";

    public CudaTarget Gpu { get; } = gpu;

    public CpuTarget? Host { get; } = host;

    public string DefaultPipeline => "cuda";

    public bool Supports(Operation op) => CudaCapabilities.Supports(op);

    /// <summary>The host arena's plan; GPU values live in the device arena the CUDA plan lays out.</summary>
    public BufferOptions? MemoryPlan => null;

    public string? RunUnavailable => LlvmLibrary.Problem ?? DriverProblem.Value;

    private static readonly Lazy<string?> DriverProblem = new(() =>
    {
        if (!NativeLibrary.TryLoad(DriverLibrary, out var handle)) return $"no NVIDIA driver on this machine ({DriverLibrary} cannot be loaded)";
        NativeLibrary.Free(handle);
        return null;
    });

    public Result<IExecutable> Jit(Module optimized, string? function, int threads) =>
        Result<IExecutable>.Failure(new Diagnostic("the cuda target compiles ahead of time only (gcc-cli compile --target cuda)"));

    public Result<TargetArtifacts> Package(Module optimized, string? function, PackageOptions options)
    {
        var hostName = Host?.Name ?? "host";
        var a = CudaAot.Compile(optimized, new AotOptions { Name = options.Name, Target = hostName, Namespace = options.Namespace }, Gpu, function);
        if (!a.Ok) return Result<TargetArtifacts>.Failure(a.Diagnostics);
        var abi = a.Value!.Abi;
        return Result<TargetArtifacts>.Success(new TargetArtifacts(a.Value.Files,
            $"{abi.Name}_run: {abi.Arguments.Count} argument(s), {abi.Results.Count} result(s), arena {abi.ArenaBytes} bytes, target cuda", abi.ArenaBytes));
    }
}
