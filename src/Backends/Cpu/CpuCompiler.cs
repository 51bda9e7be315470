using GraphCompiler.Backends.Cpu.Codegen;
using GraphCompiler.Backends.Cpu.Codegen.Mpi;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu;

public sealed record CpuCompileOptions
{
    /// <summary>Symbol prefix: the entry is <c>NAME_run</c>.</summary>
    public string Name { get; init; } = "model";

    /// <summary>What to generate code for; null means this machine (<see cref="CpuTarget.Host"/>).</summary>
    public CpuTarget? Target { get; init; }

    /// <summary>Receives the backend's phases (IR generation, LLVM optimisation, emission); null: not timed.</summary>
    public IR.Targets.PhaseRecorder? Phases { get; init; }

    /// <summary>
    /// Link the target-only helpers from the kernel library, compiled once per target (<see cref="Llvm.KernelLibrary"/>),
    /// instead of compiling them into this program; off for one self-contained object (static linking).
    /// </summary>
    public bool UseKernelLibrary { get; init; } = true;

    /// <summary>
    /// How many modules LLVM may compile at once: a large program is split by kernels (<see cref="ModulePartitioner"/>)
    /// and its parts optimised and emitted on that many threads. Default: the machine's processors; 1 keeps one module.
    /// </summary>
    public int CodegenThreads { get; init; } = Environment.ProcessorCount;

    /// <summary><see cref="Jit"/>: keep the object file with the executable (<see cref="NativeExecutable.TakeObjectCode"/>), for a compilation cache.</summary>
    public bool KeepObjectCode { get; init; }

    /// <summary>
    /// Keep constants of at least this many bytes (the weights) out of the generated code, in a block the JIT defines
    /// their symbols in (<see cref="JitConstants"/>). <see cref="CpuCompiler.Jit"/> defaults it to
    /// <see cref="JitConstants.MinExternalBytes"/>; an object file or library (null) carries every constant.
    /// </summary>
    public long? ExternalConstantMinBytes { get; init; }

    /// <summary>How convolutions are computed; <see cref="ConvolutionAlgorithm.Auto"/>: per convolution, by the cost model.</summary>
    public ConvolutionAlgorithm Convolution { get; init; }
}

/// <summary>
/// The algorithm for a convolution the CPU backend can compute several ways (as oneDNN's algorithm kinds):
/// <see cref="Auto"/> lets the cost model pick per convolution; the others exist to test and measure each kernel.
/// </summary>
public enum ConvolutionAlgorithm
{
    /// <summary>The cheapest by the cost model: im2col, implicit GEMM, or Winograd.</summary>
    Auto,

    /// <summary>A GEMM (im2col or implicit, by the cost model), never Winograd.</summary>
    Gemm,

    /// <summary>Winograd F(2×2, 3×3) wherever the convolution allows it, else as <see cref="Gemm"/>.</summary>
    Winograd2x2,

    /// <summary>Winograd F(4×4, 3×3) wherever the convolution allows it, else as <see cref="Gemm"/>.</summary>
    Winograd4x4,
}

/// <summary>
/// The generated LLVM IR of one function, before LLVM compiles it. Constant globals appear in
/// <see cref="LlvmIr"/> with zero placeholders; their bytes are <see cref="Constants"/>, which every
/// LLVM entry point takes beside the text.
/// </summary>
public sealed record CpuProgram(string Name, string LlvmIr, IReadOnlyList<ConstantGlobal> Constants, long ArenaBytes, Function Signature)
{
    /// <summary>
    /// <c>const char *NAME_last_error(void)</c>, why the last call failed, when the module has collectives
    /// (their MPI transport is the only thing in a CPU program that fails with a message); null otherwise.
    /// </summary>
    public string? LastErrorSymbol { get; init; }

    /// <summary>The part of <see cref="ArenaBytes"/> that is the kernels' scratch (im2col patches, GEMM packing space, ...), after the values.</summary>
    public long ScratchBytes { get; init; }

    /// <summary>
    /// The kernel library's module (the GEMM's micro-kernels, packing and workers) that <see cref="LlvmIr"/>
    /// declares and links against, compiled once per target (<see cref="KernelLibrary"/>); null when it uses none.
    /// </summary>
    public string? LibraryIr { get; init; }

    /// <summary><see cref="LlvmIr"/> split into modules that LLVM compiles in parallel (<see cref="ModulePartitioner"/>); null: compile it whole.</summary>
    public IReadOnlyList<ModulePart>? Parts { get; init; }

    /// <summary>The same program as the LLVM layer's packaging step (<see cref="AotPackager"/>) takes it.</summary>
    public HostProgram AsHostProgram => new(Name, LlvmIr, Constants, ArenaBytes, Signature) { LibraryIr = LibraryIr, Parts = Parts };
}

/// <summary>
/// The CPU backend: turns an optimised IR function into LLVM IR (<see cref="Generate"/>), then into
/// native code in-process (<see cref="Jit"/>) or an object file (<see cref="LlvmCompiler.Emit"/>).
/// </summary>
public static class CpuCompiler
{
    /// <summary>
    /// The buffer assignment options the CPU program lays out its arena with (pass them to
    /// <c>MemoryReport.Compute</c> for the same numbers): no value takes over another's buffer in place,
    /// because kernels declare their buffers noalias.
    /// </summary>
    public static readonly BufferOptions MemoryPlan = new() { InPlace = false, Alignment = GraphCompiler.Runtime.Abi.ArenaAlignment };

    public static Result<CpuProgram> Generate(Module module, CpuCompileOptions? options = null, string? functionName = null)
    {
        options ??= new CpuCompileOptions();
        var f = functionName is null ? module.Entry : module.Find(functionName);
        if (f is null) return Result<CpuProgram>.Failure(new Diagnostic($"no function named '{functionName}'"));
        var diags = Verifier.Verify(module);
        if (diags.Count > 0) return Result<CpuProgram>.Failure(diags);
        try
        {
            var target = options.Target ?? CpuTarget.Host();
            using var phase = options.Phases?.Phase("LLVM IR generation");
            // Only a module with collectives, or split over tasks (processes), carries the MPI transport (and so any mention of libmpi).
            var tasks = MpiTasks.For(f);
            string? lastError = CollectiveOps.Uses(module) || tasks is not null ? $"{options.Name}_last_error" : null;
            var e = ProgramEmitter.Emit(f, options.Name, f.Name, module, target.F32Lanes, CpuKernels.For(options.Convolution), MemoryPlan,
                prepare: lastError is null ? null : m => MpiRuntime.EmitWithLastError(m, lastError), tasks: tasks, separateLibrary: options.UseKernelLibrary,
                parts: Math.Max(1, options.CodegenThreads), externalConstantMinBytes: options.ExternalConstantMinBytes);
            return Result<CpuProgram>.Success(new CpuProgram(options.Name, e.Ir, e.Constants, e.ArenaBytes, f) { LastErrorSymbol = lastError, LibraryIr = e.Library, Parts = e.Parts, ScratchBytes = e.ScratchBytes });
        }
        catch (CodegenException e)
        {
            return Result<CpuProgram>.Failure(new Diagnostic(e.Message, Code: Diagnostic.UnsupportedOp));
        }
    }

    /// <summary>Generates and compiles in-process with LLVM's ORC JIT.</summary>
    public static Result<NativeExecutable> Jit(Module module, CpuCompileOptions? options = null, string? functionName = null)
    {
        if (LlvmLibrary.Problem is { } problem) return Result<NativeExecutable>.Failure(new Diagnostic(problem));
        options ??= new CpuCompileOptions();
        var program = Generate(module, options.ExternalConstantMinBytes is null ? options with { ExternalConstantMinBytes = JitConstants.MinExternalBytes } : options, functionName);
        if (!program.Ok) return Result<NativeExecutable>.Failure(program.Diagnostics);
        var p = program.Value!;
        var jit = LlvmJit.Compile(p.LlvmIr, options.Target ?? CpuTarget.Host(), p.Name, p.Constants, options.Phases, options.KeepObjectCode, p.LibraryIr, p.Parts);
        if (!jit.Ok) return Result<NativeExecutable>.Failure(jit.Diagnostics);
        // Collectives run one call at a time: MPI calls are funnelled, and every rank must reach them in the same order.
        return Result<NativeExecutable>.Success(new NativeExecutable(jit.Value!, p.AsHostProgram, p.LastErrorSymbol, serialize: p.LastErrorSymbol is not null));
    }
}
