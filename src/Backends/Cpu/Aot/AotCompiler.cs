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

        var program = CpuCompiler.Generate(optimised, new CpuCompileOptions { Name = name, Target = target, Phases = options.Phases }, functionName);
        if (!program.Ok) return Result<AotArtifacts>.Failure(program.Diagnostics);
        return AotPackager.Package(program.Value!.AsHostProgram, options, target, [], null);
    }

    private static Result<AotArtifacts> Fail(string message) => Result<AotArtifacts>.Failure(new Diagnostic(message));
}
