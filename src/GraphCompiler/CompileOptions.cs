using GraphCompiler.Frontend;
using GraphCompiler.IR;

namespace GraphCompiler;

/// <summary>
/// Everything a compilation is asked to do: load (which model inputs and outputs), optimise (which pipeline,
/// placement), generate (which target, how the library is named). Plain data: <see cref="Compiler.Create"/>
/// checks it once and reports every bad value as a diagnostic naming the option.
/// </summary>
public sealed record CompileOptions
{
    /// <summary>An imported model's inputs (name, and optionally a type that fixes unknown dimensions); empty: the model's own.</summary>
    public IReadOnlyList<FeedSpec> Feeds { get; init; } = [];

    /// <summary>An imported model's outputs to compute; empty: the model's own.</summary>
    public IReadOnlyList<string> Fetches { get; init; } = [];

    /// <summary>Imported-model inputs bound to values at compile time (shapes, axes); they are not inputs of the compiled model.</summary>
    public IReadOnlyDictionary<string, Tensor> Constants { get; init; } = new Dictionary<string, Tensor>();

    /// <summary>SavedModel: the signature key (default <c>serving_default</c>, else the only one).</summary>
    public string? Signature { get; init; }

    /// <summary>SavedModel: the MetaGraph tag set, comma-separated (default <c>serve</c>).</summary>
    public string? Tags { get; init; }

    /// <summary>TensorFlow: a tfcompile config (<c>tf2xla.Config</c>, text or binary) naming feeds and fetches.</summary>
    public string? Config { get; init; }

    /// <summary>The function to compile (default: <c>main</c>, else the first).</summary>
    public string? Function { get; init; }

    /// <summary>The most threads a run may use; 0: <c>GC_NUM_THREADS</c>, else every core. Changeable later with <see cref="CompiledModel.Threads"/>.</summary>
    public int Threads { get; init; }

    /// <summary>
    /// What to generate code for: null or <c>host</c> (this machine's CPU), <c>cpu</c> (the same), a CPU
    /// (<c>x86-64</c>, <c>x86-64-v2</c>, <c>-v3</c>, <c>-v4</c>), <c>cuda</c> (this CPU and an NVIDIA GPU, see
    /// <see cref="GpuArch"/>), or <c>interpreter</c> (the reference interpreter: no code, runs in-process only).
    /// </summary>
    public string? Target { get; init; }

    /// <summary>
    /// With the <c>cuda</c> target: the PTX architecture (<c>sm_80</c>, the default, <c>sm_90</c>, or <c>sm_90a</c>: Hopper
    /// only, with wgmma). When neither this nor <see cref="GpuMultiprocessors"/> is set, an in-process compile (JIT) takes
    /// both from the device the driver reports; a library is built for the default.
    /// </summary>
    public string? GpuArch { get; init; }

    /// <summary>With the <c>cuda</c> target: the multiprocessor count kernel shapes are tuned to (null: the device's when JIT-compiling, else the H100's 132).</summary>
    public int? GpuMultiprocessors { get; init; }

    /// <summary>The pass pipeline run before code generation: a name (<c>default</c>, <c>cuda</c>), <c>none</c>, or null for the target's own.</summary>
    public string? Pipeline { get; init; }

    /// <summary>Passes to run instead of a pipeline, in order (overrides <see cref="Pipeline"/>).</summary>
    public IReadOnlyList<string>? Passes { get; init; }

    /// <summary>Verify after every pass and check that passes reporting "unchanged" left the IR byte-identical (slower; tests).</summary>
    public bool CheckEachPass { get; init; }

    /// <summary>
    /// Device-placement constraints, each <c>REGEX=DEVICE</c> (matched against op source names, else result names); the
    /// device is cpu, gpu, taskK or <c>/job:worker/task:K/cpu:0</c> (another process's CPU: model parallelism).
    /// </summary>
    public IReadOnlyList<string> Place { get; init; } = [];

    /// <summary>
    /// Processes (MPI ranks) to split each function over (docs/distributed.md, model parallelism): 1, one process.
    /// With more, or with a constraint naming a task, the target's default pipeline becomes <c>tasks</c> (placement
    /// and transfers after fusion) and the CPU targets place on the tasks' CPUs only.
    /// </summary>
    public int Tasks { get; init; } = 1;

    /// <summary>
    /// Micro-batches to split the entry function's batch into (GPipe; docs/distributed.md, Pipelines): with more than 1
    /// the driver runs the <c>micro-batch</c> pass first, so that a split over <see cref="Tasks"/> pipelines them.
    /// Without a split it only micro-batches. Must be at least 1; the batch size must be a multiple of it.
    /// </summary>
    public int MicroBatches { get; init; } = 1;

    /// <summary>
    /// Arena bytes each function should fit in: the <c>remat</c> pass recomputes cheap values (forward activations
    /// of a training step) late instead of keeping them live until it does, or nothing more helps (best effort, no
    /// error). Null: no budget. Must be positive.
    /// </summary>
    public long? MemoryBudget { get; init; }

    /// <summary>Send f32 tensors between devices as <c>f16</c> or <c>bf16</c>; null or <c>none</c>: as they are.</summary>
    public string? CompressTransfers { get; init; }

    /// <summary>
    /// How contractions compute (docs/precision.md): null or <c>f32</c>, exactly as the model says; <c>bf16</c> or <c>f16</c>,
    /// f32 contractions (matmuls, convolutions) read their operands rounded to 16 bits and accumulate in f32 (the
    /// <c>mixed-precision</c> pass: weights stored in 16 bits, the GPU's tensor cores); <c>tf32</c> (the cuda target
    /// only), f32 contractions on TF32 tensor cores. Everything else stays f32.
    /// </summary>
    public string? Precision { get; init; }

    /// <summary>Ahead-of-time: the symbol prefix and file stem (<c>NAME_run</c>, <c>libNAME.so</c>, <c>NAME.h</c>, <c>NAME.cs</c>); a C identifier.</summary>
    public string LibraryName { get; init; } = "model";

    /// <summary>Ahead-of-time: the namespace of the generated C# binding; null for the global namespace.</summary>
    public string? Namespace { get; init; }

    /// <summary>Ahead-of-time: also produce the relocatable object <c>NAME.o</c> (for static linking) next to <c>libNAME.so</c>.</summary>
    public bool ObjectFile { get; init; }
    /// <summary>
    /// Keep compiled code in the on-disk compilation cache and reuse it when the same model is compiled with the same
    /// options for the same CPU by the same compiler build (<c>Compiler.LoadAndJit</c>, <c>Compiler.LoadAndPackage</c>,
    /// <see cref="CompiledModel"/>). Off by default in the API, so a library never writes to the user's cache unasked;
    /// the command line turns it on (<c>--no-cache</c> turns it off). CPU targets only: the CUDA target opts out.
    /// </summary>
    public bool Cache { get; init; }

    /// <summary>Where the cache lives; null: <c>$GC_CACHE_DIR</c>, else <c>$XDG_CACHE_HOME/graphcompiler</c>, else <c>~/.cache/graphcompiler</c>.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>The import options these options imply (for <see cref="ModelLoader.Load"/>).</summary>
    public ImportOptions ToImportOptions() => new()
    {
        Feeds = Feeds,
        Fetches = Fetches,
        ConstantInputs = Constants,
        Signature = Signature,
        Tags = Tags,
        ConfigPath = Config,
    };
}
