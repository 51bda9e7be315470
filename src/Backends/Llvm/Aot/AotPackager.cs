using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Llvm.Aot;

public sealed record AotOptions
{
    /// <summary>Symbol prefix and file stem: <c>NAME_run</c>, <c>libNAME.so</c>, <c>NAME.h</c>; a C identifier.</summary>
    public string Name { get; init; } = "model";

    /// <summary>One of <see cref="CpuTarget.Names"/>.</summary>
    public string Target { get; init; } = "host";

    /// <summary>Namespace of the generated C# class; null for the global namespace.</summary>
    public string? Namespace { get; init; }

    /// <summary>Also return the relocatable object <c>NAME.o</c> (for static linking); the shared library is the usual form.</summary>
    public bool IncludeObject { get; init; }
    /// <summary>Receives the phases (LLVM optimisation, emission, link); null: not timed.</summary>
    public IR.Targets.PhaseRecorder? Phases { get; init; }
}

/// <summary>The artefacts of an ahead-of-time compilation, in memory, ready to be written together.</summary>
public sealed record AotArtifacts(AotAbi Abi, IReadOnlyList<(string FileName, byte[] Data)> Files);

/// <summary>
/// The generated LLVM IR of a host program (<see cref="ProgramEmitter"/>), before LLVM compiles it:
/// constant globals appear in <see cref="LlvmIr"/> with zero placeholders, their bytes are <see cref="Constants"/>.
/// </summary>
public sealed record HostProgram(string Name, string LlvmIr, IReadOnlyList<ConstantGlobal> Constants, long ArenaBytes, Function Signature)
{
    /// <summary>The kernel library's module that <see cref="LlvmIr"/> declares and links against (<see cref="KernelLibrary"/>); null when none.</summary>
    public string? LibraryIr { get; init; }

    /// <summary><see cref="LlvmIr"/> split into modules to compile in parallel (<see cref="ModulePartitioner"/>); null: compile it whole.</summary>
    public IReadOnlyList<ModulePart>? Parts { get; init; }
}

/// <summary>The library form every LLVM target shares: shared library, C header, C# binding (and the object on request).</summary>
public static class AotPackager
{
    /// <summary><c>madvise</c>'s advice to map a range's pages now (<c>&lt;linux/mman.h&gt;</c>, Linux 5.14).</summary>
    private const int MadvPopulateRead = 22;

    /// <summary>
    /// A constructor, added to a library that carries weights, that asks the kernel to map every page of them at load
    /// (older kernels refuse the advice and nothing changes): the first call otherwise takes one page fault per 64 KB
    /// of weights it touches, ~20 µs each on a VM (ResNet-50: 4,300 of them).
    /// </summary>
    private static readonly string PopulateWeights = $$"""
        @__start_{{ModuleContext.WeightsSection}} = extern_weak hidden global i8
        @__stop_{{ModuleContext.WeightsSection}} = extern_weak hidden global i8
        define internal void @gc.populate.weights() nounwind {
        entry:
          %start = ptrtoint ptr @__start_{{ModuleContext.WeightsSection}} to i64
          %stop = ptrtoint ptr @__stop_{{ModuleContext.WeightsSection}} to i64
          ; No section when LLVM dropped every constant (all unused): the symbols are then 0.
          %none = icmp eq i64 %start, 0
          br i1 %none, label %done, label %populate
        populate:
          %size = call i32 @getpagesize()
          %page = zext i32 %size to i64
          %mask = sub i64 0, %page
          %first = and i64 %start, %mask
          %bytes = sub i64 %stop, %first
          %at = inttoptr i64 %first to ptr
          %status = call i32 @madvise(ptr %at, i64 %bytes, i32 {{MadvPopulateRead}})
          br label %done
        done:
          ret void
        }
        @gc.populate.weights.entry = internal constant ptr @gc.populate.weights, section ".init_array", align 8

        """;

    /// <summary>
    /// Load and unload hooks as entries of <c>.init_array</c> / <c>.fini_array</c>, which the dynamic loader runs. Not
    /// <c>@llvm.global_ctors</c>: a target machine made through LLVM's C API emits those into <c>.ctors</c> /
    /// <c>.dtors</c>, which only a C runtime's start files ran, and a library linked without them never did (the
    /// weights were not mapped at load, nor the worker threads stopped at <c>dlclose</c>). <c>@llvm.compiler.used</c>
    /// keeps the otherwise unreferenced entries.
    /// </summary>
    private static string LoaderHooks(bool populate) =>
        $"@gc.module.fini.entry = internal constant ptr @{ProgramEmitter.FiniSymbol}, section \".fini_array\", align 8\n"
        + (populate ? PopulateWeights : "")
        + $"@llvm.compiler.used = appending global [{(populate ? 2 : 1)} x ptr] [ptr @gc.module.fini.entry{(populate ? ", ptr @gc.populate.weights.entry" : "")}], section \"llvm.metadata\"\n";

    /// <summary>The C library functions the additions above may call (the program itself may declare them too).</summary>
    private static readonly string[] LibcDeclarations = ["declare i32 @madvise(ptr, i64, i32) nounwind", "declare i32 @getpagesize() nounwind"];

    /// <summary>Those of <paramref name="declarations"/> whose function <paramref name="added"/> calls and <paramref name="ir"/> does not declare yet, one per line.</summary>
    private static string Undeclared(string ir, string added, IEnumerable<string> declarations) => string.Concat(
        from d in declarations
        let callee = d[d.IndexOf('@')..(d.IndexOf('(') + 1)] // "@madvise("
        where added.Contains(callee, StringComparison.Ordinal) && !ir.Contains(d[..(d.IndexOf('(') + 1)], StringComparison.Ordinal)
        select d + "\n");

    /// <summary>
    /// Links a generated host program into the library form: shared library exporting the ABI
    /// (plus <paramref name="extraExports"/>), header (with <paramref name="extraHeader"/> declarations), C# binding,
    /// and the object it was linked from when <see cref="AotOptions.IncludeObject"/> asks.
    /// </summary>
    public static Result<AotArtifacts> Package(HostProgram p, AotOptions options, CpuTarget target, IReadOnlyList<string> extraExports, string? extraHeader,
        string? extraBinding = null)
    {
        var name = options.Name;
        // The unload hook stops the library's worker threads before dlclose unmaps their code.
        var abiIr = $"define i32 @{name}_abi_version() nounwind {{\nentry:\n  ret i32 {AotAbi.Version}\n}}\n"
            + LoaderHooks(populate: p.Constants.Any(c => !c.External));
        // The entry points, and so the ABI additions, are in the first part.
        var first = p.Parts is { Count: > 0 } split0 ? split0[0].Ir : p.LlvmIr;
        abiIr += Undeclared(first, abiIr, LibcDeclarations);
        IReadOnlyList<ModulePart> parts = p.Parts is { Count: > 0 } split
            ? [split[0] with { Ir = split[0].Ir + abiIr }, .. split.Skip(1)]
            : [new ModulePart(p.LlvmIr + abiIr, p.Constants)];

        // The module name becomes the object's source file name: the bare name keeps paths out of it.
        var compiled = LlvmCompiler.EmitParts(parts, target, name, options.Phases);
        if (!compiled.Ok) return Result<AotArtifacts>.Failure(compiled.Diagnostics);
        List<byte[]> objects = [.. compiled.Value!];
        var obj = compiled.Value![0];
        if (p.LibraryIr is not null)
        {
            var library = KernelLibrary.Object(p.LibraryIr, target, options.Phases);
            if (!library.Ok) return Result<AotArtifacts>.Failure(library.Diagnostics);
            objects.Add(library.Value!);
        }
        using var link = options.Phases?.Phase("link (lld)");
        var so = SharedLibraryLinker.Link(objects, $"lib{name}.so", [$"{name}_run", $"{name}_arena_size", $"{name}_abi_version", $"{name}_release", .. extraExports]);
        if (!so.Ok) return Result<AotArtifacts>.Failure(so.Diagnostics);
        if (options.IncludeObject && objects.Count > 1)
            return Result<AotArtifacts>.Failure(new Diagnostic("NAME.o must be one self-contained object: generate the program whole, without the kernel library"));

        var abi = new AotAbi(name, p.Signature, p.ArenaBytes);
        var utf8 = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        IReadOnlyList<(string, byte[])> objectFile = options.IncludeObject ? [($"{name}.o", obj)] : [];
        return Result<AotArtifacts>.Success(new AotArtifacts(abi,
        [
            .. objectFile,
            ($"lib{name}.so", so.Value!),
            ($"{name}.h", utf8.GetBytes(HeaderWriter.Write(abi, options.Target, extraHeader))),
            ($"{name}.cs", utf8.GetBytes(CSharpBindingWriter.Write(abi, options.Target, options.Namespace, extraBinding))),
        ]));
    }
}
