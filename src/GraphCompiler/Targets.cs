using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Cpu.Codegen;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.Backends.Cuda;
using GraphCompiler.IR;
using GraphCompiler.IR.Targets;

namespace GraphCompiler;

/// <summary>
/// The targets by name: the one place that turns a target name (and a GPU architecture) into an
/// <see cref="ITarget"/>. Everything else asks the target.
/// </summary>
public static class Targets
{
    /// <summary>Targets that run in-process (<c>run</c>, <c>check</c>, <c>bench</c>, <see cref="CompiledModel"/>).</summary>
    public static readonly IReadOnlyList<string> Executing = ["cpu", "cuda", "interpreter"];

    /// <summary>Every name <see cref="CompileOptions.Target"/> accepts: the CPUs, <c>cpu</c>, <c>cuda</c>, <c>interpreter</c>.</summary>
    public static IReadOnlyList<string> Names => [.. CpuTarget.Names, "cpu", "cuda", "interpreter"];

    /// <summary>Names that produce a library (<c>compile</c>): the CPUs and <c>cuda</c>.</summary>
    public static IReadOnlyList<string> Packaging => [.. CpuTarget.Names, "cuda"];

    public static IReadOnlyList<string> GpuArchs => CudaTarget.Archs;

    public static string DefaultGpuArch => CudaTarget.Default.Arch;

    /// <summary>
    /// The target <paramref name="name"/> (null: this machine's CPU) with the GPU architecture <paramref name="gpuArch"/> (null: the default),
    /// and, for cuda, whether f32 contractions may use TF32 tensor cores (<paramref name="tf32"/>).
    /// </summary>
    public static Result<ITarget> Resolve(string? name, string? gpuArch = null, int? gpuMultiprocessors = null, bool tf32 = false)
    {
        name ??= "host";
        if (gpuMultiprocessors is <= 0) return Fail($"the GPU's multiprocessor count must be positive, got {gpuMultiprocessors}");
        if (gpuMultiprocessors is not null && name != "cuda")
            return Fail($"a GPU multiprocessor count goes with the cuda target, not '{name}'");
        if (gpuArch is not null && !CudaTarget.Archs.Contains(gpuArch))
            return Fail($"unknown GPU architecture '{gpuArch}' (known: {string.Join(", ", CudaTarget.Archs)})");
        if (tf32 && name != "cuda")
            return Fail($"precision tf32 is the GPU's tensor-core format and goes with the cuda target, not '{name}' (bf16 and f16 work on every target)");
        if (gpuArch is not null && name != "cuda")
            return Fail($"a GPU architecture ('{gpuArch}') goes with the cuda target, not '{name}'");
        switch (name)
        {
            case "interpreter": return Result<ITarget>.Success(new InterpreterTarget());
            case "cuda":
                var gpu = gpuArch is null ? CudaTarget.Default : new CudaTarget(gpuArch);
                if (gpuMultiprocessors is { } sms) gpu = gpu with { Multiprocessors = sms };
                if (tf32) gpu = gpu with { AllowTf32 = true };
                return Result<ITarget>.Success(new CudaBackend(gpu, CpuKernels.Instance, forDevice: gpuArch is null && gpuMultiprocessors is null));
            case "cpu" or "host": return Result<ITarget>.Success(new CpuBackend());
        }
        if (!CpuTarget.Names.Contains(name)) return Fail($"unknown target '{name}' (known: {string.Join(", ", Names)})");
        if (LlvmLibrary.Problem is { } problem) return Fail(problem);
        return Result<ITarget>.Success(new CpuBackend(CpuTarget.Named(name)));
    }

    /// <summary>Which ops the GPU can run, for placement whatever the target (<c>ir --pipeline cuda</c> on a CPU build shows it too).</summary>
    public static Func<Operation, bool> GpuSupports => CudaCapabilities.Supports;

    private static Result<ITarget> Fail(string message) => Result<ITarget>.Failure(new Diagnostic(message));
}
