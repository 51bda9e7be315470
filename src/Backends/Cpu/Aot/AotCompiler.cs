using GraphCompiler.Backends.Llvm;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cpu.Aot;

/// <summary>
/// tfcompile-style ahead-of-time compilation of an already optimised module: a shared library exporting
/// only the ABI entry points, a C header and a C# binding (and the object file with <see cref="AotOptions.IncludeObject"/>). Nothing touches the file
/// system except the linker's private scratch directory; the caller writes <see cref="AotArtifacts.Files"/>.
/// The library form is the LLVM layer's (<see cref="AotPackager"/>), shared with the CUDA target.
/// </summary>
public static class AotCompiler
{
    public static Result<AotArtifacts> Compile(Module optimised, AotOptions options, string? functionName = null)
    {
        var name = options.Name;
        if (!AotAbi.IsIdentifier(name))
            return Fail($"library name '{name}' must be a C identifier (letters, digits, '_'; not starting with a digit)");
        if (!CpuTarget.Names.Contains(options.Target))
            return Fail($"unknown target '{options.Target}' (known: {string.Join(", ", CpuTarget.Names)})");
        if (LlvmLibrary.Problem is { } problem) return Fail(problem);
        var target = CpuTarget.Named(options.Target)!;

        var program = CpuCompiler.Generate(optimised, new CpuCompileOptions { Name = name, Target = target, Phases = options.Phases,
            // NAME.o must be one object that stands alone, helpers included (internal, so two models link into one program).
            UseKernelLibrary = !options.IncludeObject, CodegenThreads = options.IncludeObject ? 1 : Environment.ProcessorCount }, functionName);
        if (!program.Ok) return Result<AotArtifacts>.Failure(program.Diagnostics);
        var p = program.Value!;
        return p.LastErrorSymbol is { } lastError
            ? AotPackager.Package(p.AsHostProgram, options, target, [lastError], CollectiveHeader, CollectiveBinding)
            : AotPackager.Package(p.AsHostProgram, options, target, [], null);
    }

    private const string CollectiveHeader = """
        /*
         * Collectives over MPI (Open MPI 4, libmpi.so.40, loaded on the first collective call; launch with
         * mpirun -np N). The library initialises MPI (MPI_THREAD_FUNNELED) unless the process did, and then
         * finalises it in NAME_release(). Status codes: the ERROR_COLLECTIVE, ERROR_NO_MPI and
         * ERROR_REPLICA_MISMATCH macros above; NAME_last_error() says which call failed and why.
         */
        const char *NAME_last_error(void);

        """;

    private const string CollectiveBinding = """
            /// <summary>Why the last failed call failed (collectives over MPI), e.g. "cannot load libmpi.so.40 (...): install openmpi-bin".</summary>
            public static string LastError() => Marshal.PtrToStringUTF8(NativeErrors.NAME_last_error()) ?? "";

            private static partial class NativeErrors
            {
                [LibraryImport(LibraryName)]
                internal static partial nint NAME_last_error();
            }

        """;

    private static Result<AotArtifacts> Fail(string message) => Result<AotArtifacts>.Failure(new Diagnostic(message));
}
