using GraphCompiler.IR.Analysis;

namespace GraphCompiler.IR.Targets;

/// <summary>A function compiled for one target, ready to run; disposing it frees its native code, memory and threads.</summary>
public interface IExecutable : IDisposable
{
    /// <summary>Runs on tensors (types checked) and returns new tensors; a failure is diagnostics, never an exception.</summary>
    Result<IReadOnlyList<Tensor>> Run(IReadOnlyList<Tensor> inputs);
}

/// <summary>How an ahead-of-time artefact is named: symbol prefix, file stem, C# namespace.</summary>
public sealed record PackageOptions
{
    /// <summary>Symbol prefix and file stem (<c>NAME_run</c>, <c>libNAME.so</c>, <c>NAME.h</c>); a C identifier, checked by the driver.</summary>
    public string Name { get; init; } = "model";

    /// <summary>Namespace of the generated C# binding; null for the global namespace.</summary>
    public string? Namespace { get; init; }

    /// <summary>Also produce the relocatable object <c>NAME.o</c> the shared library is linked from (CPU and CUDA targets).</summary>
    public bool IncludeObject { get; init; }
    /// <summary>Receives the backend's phases (code generation, LLVM optimisation, emission, link); null: not timed.</summary>
    public PhaseRecorder? Phases { get; init; }
}

/// <summary>How a JIT compilation is watched and what it keeps.</summary>
public sealed record JitOptions
{
    /// <summary>Receives the backend's phases (code generation, LLVM optimisation, emission, loading); null: not timed.</summary>
    public PhaseRecorder? Phases { get; init; }

    /// <summary>
    /// Keep what <see cref="ICacheableTarget.Save"/> needs (the object file) with the executable until it is saved. Off,
    /// it is dropped once loaded: for a large model it is as big as the weights.
    /// </summary>
    public bool KeepImage { get; init; }
}

/// <summary>
/// What an ahead-of-time compilation produced, in memory, ready to be written together. <see cref="Summary"/>
/// is one line about the entry point (arguments, results, arena, target); <see cref="ArenaBytes"/> the scratch
/// memory a call needs.
/// </summary>
public sealed record TargetArtifacts(IReadOnlyList<(string FileName, byte[] Data)> Files, string Summary, long ArenaBytes);

/// <summary>
/// A compilation target: everything the driver needs to know about one kind of code generation, behind one
/// interface. The driver (src/GraphCompiler) picks a target once from the options, runs its pipeline, and asks it
/// for a JIT executable or an AOT package; nothing above the backends names a backend's types.
/// </summary>
public interface ITarget
{
    /// <summary>The name users give (<c>cpu</c>, <c>cuda</c>, <c>interpreter</c>).</summary>
    string Name { get; }

    /// <summary>The pass pipeline run before code generation unless the user names another (a name in the pass registry, or <c>none</c>).</summary>
    string DefaultPipeline { get; }

    /// <summary>Whether the target has a kernel for <paramref name="op"/> (placement keeps other ops on the host).</summary>
    bool Supports(Operation op);

    /// <summary>
    /// The widest copy, in bytes, the target's contraction kernels stage an operand of element type <paramref name="operand"/>
    /// with, where the operand's contiguous extent divides into such copies (the GPU's tensor cores: 16); null where
    /// copies do not depend on it. <c>pad-features</c> pads convolutions' input features toward it.
    /// </summary>
    int? ContractionCopyBytes(ElementType operand) => null;

    /// <summary>
    /// Whether a pointwise convolution's kernel may compute its channels-last input (the CPU's GEMM computes the transpose
    /// and the elementwise ops before it while it packs the input); false where a convolution's kernel reads its operands
    /// from buffers (the GPU's implicit GEMM), so <c>fuse</c> leaves that input to a kernel of its own.
    /// </summary>
    bool ComputesConvolutionInputs => true;

    /// <summary>
    /// Whether the target's matrix-product (dot_general) kernels may run their fused epilogue through reshapes that keep
    /// the elements' order and store at the reshaped index (a transformer's projection plus bias split into heads: one
    /// kernel, not a GEMM and a loop kernel); false where a GEMM's epilogue rewrites the product's own elements (the CPU's).
    /// </summary>
    bool ReshapingEpilogues => false;

    /// <summary>The options the target lays out <paramref name="f"/>'s host arena with, so that a memory report equals the compiled arena; null when it has no arena.</summary>
    BufferOptions? MemoryPlan(Function f);

    /// <summary>Why code for this target cannot run on this machine (no LLVM, no GPU driver); null when it can.</summary>
    string? RunUnavailable { get; }

    /// <summary>Compiles an optimised module's function (null: the entry) in-process.</summary>
    Result<IExecutable> Jit(Module optimized, string? function, int threads, JitOptions? options = null);

    /// <summary>Compiles an optimised module's function (null: the entry) into a library with its header and binding.</summary>
    Result<TargetArtifacts> Package(Module optimized, string? function, PackageOptions options);
}

/// <summary>A JIT executable loaded back from a compilation cache, with the interface of the function it runs (a body-less <see cref="Function"/>).</summary>
public sealed record CachedExecutable(IExecutable Executable, Function Signature);

/// <summary>
/// A target whose JIT executables can be kept in the on-disk compilation cache and loaded back in another
/// process. Targets that do not implement it are never cached (the CUDA target opts out: its executables hold
/// PTX loaded into a device context).
/// </summary>
public interface ICacheableTarget
{
    /// <summary>What, besides the options and the model, decides the generated code: the CPU name and features, say.</summary>
    string CacheIdentity { get; }

    /// <summary>
    /// The bytes that <see cref="Restore"/> turns back into an executable like <paramref name="executable"/>; null when this
    /// one cannot be kept (compiled without <see cref="JitOptions.KeepImage"/>, or saved already: the executable lets go
    /// of its image once saved).
    /// </summary>
    byte[]? Save(IExecutable executable);

    /// <summary>
    /// An executable from <see cref="Save"/>'s bytes; a failure (bytes of another version, say) is a diagnostic. It
    /// takes <paramref name="image"/> over (a mapped cache entry, typically): the executable may use it in place (its
    /// weights) and disposes it when done, at once on failure.
    /// </summary>
    Result<CachedExecutable> Restore(System.Buffers.IMemoryOwner<byte> image, int threads);
}
