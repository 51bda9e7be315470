using GraphCompiler.Backends.Llvm;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cuda;

/// <summary>
/// <c>gcc-cli compile --target cuda</c>: the CPU target's library form (object, shared library, header,
/// C# binding) around a CUDA program. The PTX is embedded in the library; <c>NAME_run</c> takes host
/// buffers, <c>NAME_run_device</c> device pointers, and <c>NAME_last_error</c> explains a failed call.
/// The library needs no CUDA toolkit: it loads the driver (<c>libcuda.so.1</c>) on its first call.
/// </summary>
public static class CudaAot
{
    private const string Header = """
        /*
         * CUDA target. The library loads libcuda.so.1 on its first call (no CUDA toolkit is needed), uses
         * device 0's primary context (the CUDA runtime's, PyTorch's and CuPy's), loads its embedded PTX once and
         * keeps a device arena and its constants on the GPU until NAME_release(). NAME_run takes host buffers
         * and copies between host and device as the placement requires; it returns after the GPU is done.
         * Status codes: the NAME_OK / NAME_ERROR_* macros above (device call failed, no usable driver, run_device refused);
         * NAME_last_error() says which and why (e.g. "launching gc_loop0 (cuLaunchKernel) failed: CUDA_ERROR_...").
         */
        int32_t NAME_run_device(void *const *args, void *const *results, void *arena, int32_t threads);
        const char *NAME_last_error(void);

        """;

    private const string Binding = """
            /// <summary>Why the last failed call failed (CUDA target), e.g. "cannot load libcuda.so.1: no NVIDIA driver on this machine".</summary>
            public static string LastError() => Marshal.PtrToStringUTF8(NativeErrors.NAME_last_error()) ?? "";

            private static partial class NativeErrors
            {
                [LibraryImport(LibraryName)]
                internal static partial nint NAME_last_error();
            }

        """;

    /// <summary>
    /// Compiles <paramref name="placed"/> (pipeline <c>cuda</c>) into the library form; <paramref name="hostKernels"/>
    /// emits the CPU-placed ops' kernels (the CPU backend's <c>CpuKernels.Instance</c>).
    /// </summary>
    public static Result<AotArtifacts> Compile(Module placed, AotOptions options, CudaTarget gpu, IHostKernels hostKernels, string? functionName = null)
    {
        var name = options.Name;
        if (!AotAbi.IsIdentifier(name))
            return Result<AotArtifacts>.Failure(new Diagnostic($"library name '{name}' must be a C identifier (letters, digits, '_'; not starting with a digit)"));
        if (LlvmLibrary.Problem is { } problem) return Result<AotArtifacts>.Failure(new Diagnostic(problem));
        var host = CpuTarget.Named(options.Target) ?? CpuTarget.Host();
        var program = CudaCompiler.Generate(placed, new CudaCompileOptions { Name = name, Gpu = gpu, Host = host, HostKernels = hostKernels }, functionName);
        if (!program.Ok) return Result<AotArtifacts>.Failure(program.Diagnostics);
        var p = program.Value!;
        var artefacts = AotPackager.Package(p.AsHostProgram, options with { Target = $"cuda {gpu.Arch}, host {host.Name}" }, host,
            [$"{name}_run_device", p.LastErrorSymbol], Header, Binding);
        if (!artefacts.Ok) return artefacts;
        var a = artefacts.Value!;
        // The PTX beside the library, for inspection (ptxas, cuobjdump), and which op each kernel computes, for reading a
        // GPU profile: the library reads neither.
        return Result<AotArtifacts>.Success(a with
        {
            Files = [.. a.Files, ($"{name}.ptx", System.Text.Encoding.ASCII.GetBytes(p.Ptx)), ($"{name}.kernels.tsv", System.Text.Encoding.UTF8.GetBytes(p.KernelMap))],
        });
    }
}
