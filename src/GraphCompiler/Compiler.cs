using System.Diagnostics;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.IR;
using GraphCompiler.IR.Targets;
using GraphCompiler.Passes;
using GraphCompiler.Passes.Graphviz;

namespace GraphCompiler;

/// <summary>
/// A model compiled in-process: the executable, the interface of the function it runs, the IR it was compiled from,
/// and how long each phase took. After a cache hit nothing was loaded: <see cref="Optimized"/> loads and optimises
/// the model again when first asked for.
/// </summary>
public sealed class JitCompilation(IExecutable executable, Function signature, Func<Module> optimized, CompileTimings timings)
{
    private readonly Lazy<Module> _optimized = new(optimized);

    public JitCompilation(IExecutable executable, Module optimized, Function signature, CompileTimings timings)
        : this(executable, signature, () => optimized, timings) { }

    public IExecutable Executable { get; } = executable;

    /// <summary>The compiled function's arguments and results (after a cache hit, a function without a body).</summary>
    public Function Signature { get; } = signature;

    /// <summary>The module after the pass pipeline.</summary>
    /// <exception cref="CompilationException">After a cache hit, the model no longer loads or optimises.</exception>
    public Module Optimized => _optimized.Value;

    public CompileTimings Timings { get; } = timings;

    public void Deconstruct(out IExecutable executable, out Module optimizedModule, out CompileTimings compileTimings) =>
        (executable, optimizedModule, compileTimings) = (Executable, Optimized, Timings);
}

/// <summary>One pass of a pipeline as it ran: its position, name, the module after it, and whether it changed anything.</summary>
public sealed record PassSnapshot(int Index, string PassName, Module Module, bool Changed);

/// <summary>
/// The compiler driver: load → verify → pipeline → target → artefact. <see cref="Create"/> checks the options
/// once (target, GPU architecture, pipeline or passes, placement, library name, namespace, threads) and
/// decides the target and the pipeline; the stages then run in order. The command line, the C# API
/// (<see cref="CompiledModel"/>) and the conformance runner all compile through it.
/// <code>
/// var driver = Compiler.Create(new CompileOptions { Target = "x86-64-v3" }).Unwrap();
/// var module = driver.Load("model.onnx").Unwrap();
/// var optimized = driver.Optimize(module).Unwrap();
/// var library = driver.Package(optimized).Unwrap();   // or driver.Jit(optimized)
/// </code>
/// </summary>
public sealed partial class Compiler
{
    private Compiler(CompileOptions options, ITarget target, Pipeline? pipeline, Precision precision, PassOptions passOptions)
    {
        Options = options;
        Target = target;
        Pipeline = pipeline;
        Precision = precision;
        PassOptions = passOptions;
    }

    public CompileOptions Options { get; }

    /// <summary>What code is generated for.</summary>
    public ITarget Target { get; }

    /// <summary>The passes <see cref="Optimize"/> runs; null: none.</summary>
    public Pipeline? Pipeline { get; }

    /// <summary>How contractions compute (<see cref="CompileOptions.Precision"/>).</summary>
    public Precision Precision { get; }

    /// <summary>The pass options the options imply (placement with the GPU's capabilities and the constraints).</summary>
    public PassOptions PassOptions { get; }

    /// <summary>Where <see cref="Load"/>, <see cref="Optimize"/>, <see cref="Jit"/> and <see cref="Package"/> record their phases; null: nowhere.</summary>
    public PhaseRecorder? Phases { get; private init; }

    /// <summary>The same driver, recording its phases (and the backend's sub-phases) into <paramref name="phases"/>.</summary>
    public Compiler WithPhases(PhaseRecorder? phases) => new(Options, Target, Pipeline, Precision, PassOptions) { Phases = phases };

    /// <summary>Every registered pass with its description, and every named pipeline.</summary>
    public static IEnumerable<(string Name, string Description)> AvailablePasses => PassRegistry.All.Select(p => (p.Name, p.Description));

    public static IEnumerable<(string Name, string Passes)> AvailablePipelines => PassRegistry.Pipelines.Select(p => (p.Name, p.ToString()));

    private static readonly string MicroBatchPass = new MicroBatching().Name;
    private static readonly string MixedPrecisionPass = new MixedPrecision().Name;
    private static readonly string BatchNormPass = new BatchNormFolding().Name;

    /// <summary>Checks <paramref name="options"/> and decides the target and the pipeline; every problem is one diagnostic naming the option.</summary>
    public static Result<Compiler> Create(CompileOptions? options = null)
    {
        options ??= new CompileOptions();
        var problems = new List<Diagnostic>();
        void Problem(string message) => problems.Add(new Diagnostic(message));

        if (options.Threads < 0) Problem($"Threads must be >= 0 (0: the default), got {options.Threads}");
        if (options.MemoryBudget is <= 0) Problem($"MemoryBudget must be > 0 bytes (null: no budget), got {options.MemoryBudget}");
        if (!AotAbi.IsIdentifier(options.LibraryName))
            Problem($"library name '{options.LibraryName}' must be a C identifier (letters, digits, '_'; not starting with a digit)");
        if (options.Namespace is { } ns && !ns.Split('.').All(AotAbi.IsIdentifier)) Problem($"namespace '{ns}' is not a C# namespace name");

        var precision = Precision.Find(options.Precision);
        if (precision is null) Problem($"precision '{options.Precision}' is not one of {string.Join(", ", Precision.Names)}");
        var contractionOperands = precision?.ContractionOperands;
        var target = Targets.Resolve(options.Target, options.GpuArch, options.GpuMultiprocessors, tf32: precision?.Tf32 ?? false);
        if (!target.Ok) problems.AddRange(target.Diagnostics);

        var placement = new PlacementOptions { GpuSupports = Targets.GpuSupports };
        foreach (var spec in options.Place)
        {
            var c = PlacementConstraint.Parse(spec);
            if (c.Ok) placement = placement with { Constraints = placement.Constraints.Add(c.Value!) };
            else problems.AddRange(c.Diagnostics);
        }
        if (options.Tasks is < 1 or > Placement.MaxTasks) Problem($"Tasks must be 1 to {Placement.MaxTasks}, got {options.Tasks}");
        // Split over processes: the CPUs of the tasks (a CPU target's program has no GPU), placed after fusion.
        bool overTasks = options.Tasks > 1 || placement.Constraints.Any(c => Placement.TaskOf(c.Device) > 0);
        if (overTasks)
        {
            placement = placement with { Tasks = Math.Max(1, options.Tasks) };
            if (options.Target != "cuda") placement = placement with { GpuSupports = null };
        }

        Pipeline? pipeline = null;
        if (options.Passes is { } passes)
        {
            var unknown = passes.SelectMany(p => Pipeline.Members(p, out _)).Where(p => PassRegistry.Find(p) is null).ToList();
            if (unknown.Count > 0) Problem($"unknown pass '{unknown[0]}' (known: {string.Join(", ", PassRegistry.Names)})");
            pipeline = new Pipeline("custom", [.. passes]);
        }
        else if (target.Ok)
        {
            var name = options.Pipeline ?? (overTasks && target.Value!.DefaultPipeline == PassRegistry.Default.Name ? PassRegistry.Tasks.Name : target.Value!.DefaultPipeline);
            if (name != "none")
            {
                pipeline = PassRegistry.Pipelines.FirstOrDefault(p => p.Name == name);
                if (pipeline is null) Problem($"unknown pipeline '{name}' (known: {string.Join(", ", PassRegistry.Pipelines.Select(p => p.Name))}, none)");
            }
        }

        if (options.MicroBatches < 1) Problem($"MicroBatches must be at least 1, got {options.MicroBatches}");
        else if (options.MicroBatches > 1 && target.Ok)
        {
            // Micro-batching comes first, so the copies of the ops are fused (and placed) like the original.
            if (pipeline is null) pipeline = new Pipeline(MicroBatchPass, [MicroBatchPass]); // pipeline none: only what was asked for
            else if (!pipeline.Passes.Contains(MicroBatchPass)) pipeline = pipeline with { Passes = pipeline.Passes.Insert(0, MicroBatchPass) };
        }

        if (contractionOperands is not null && target.Ok)
        {
            // After fold-batchnorm, which folds scales into the f32 weights (it leaves convolutions with 16-bit weights alone).
            if (pipeline is null) pipeline = new Pipeline(MixedPrecisionPass, [MixedPrecisionPass]);
            else if (!pipeline.Passes.Contains(MixedPrecisionPass))
                pipeline = pipeline with { Passes = pipeline.Passes.Insert(pipeline.Passes.IndexOf(BatchNormPass) + 1, MixedPrecisionPass) };
        }

        if (options.CompressTransfers is { } text)
        {
            if (PlacementOptions.ParseCompression(text) is { } compression) placement = placement with { CompressTransfers = compression };
            else Problem($"transfer compression '{text}' is not one of none, f16, bf16");
        }

        if (problems.Count > 0) return Result<Compiler>.Failure(problems);
        return Result<Compiler>.Success(new Compiler(options, target.Value!, pipeline, precision!,
            PassOptions.Default with
            {
                Placement = placement, CheckEachPass = options.CheckEachPass, MemoryBudget = options.MemoryBudget,
                MicroBatches = options.MicroBatches,
                ContractionOperands = contractionOperands,
                ContractionCopyBytes = target.Value!.ContractionCopyBytes,
                ComputedConvolutionInputs = target.Value!.ComputesConvolutionInputs,
                ReshapingEpilogues = target.Value!.ReshapingEpilogues,
                MemoryPlan = target.Value!.MemoryPlan,
                // hoist-constants computes big constant subgraphs with the CPU JIT (passes cannot see backends).
                ConstantEvaluator = JitConstantEvaluator.ForThisMachine,
            }));
    }

    /// <summary>Loads a model of any supported format (<see cref="ModelLoader"/>) with the options' feeds, fetches and constants.</summary>
    public Result<Module> Load(string path)
    {
        using var phase = Phases?.Phase("import", Path.GetFileName(path));
        return ModelLoader.Load(path, Options.ToImportOptions());
    }

    /// <summary>
    /// Checks that the module has the function to compile, then runs the pipeline; <paramref name="afterEach"/>
    /// sees the module after every pass.
    /// </summary>
    public Result<Module> Optimize(Module module, Action<PassSnapshot>? afterEach = null)
    {
        using var phase = Phases?.Phase("passes", Pipeline?.Name);
        if (Phases is { } phases)
        {
            // Each pass's time is the time since the previous one finished.
            var sw = Stopwatch.StartNew();
            var cpu = PeakMemory.CpuTime();
            var inner = afterEach;
            afterEach = step =>
            {
                phases.Add(step.PassName, sw.Elapsed, PeakMemory.CpuTime() - cpu);
                inner?.Invoke(step);
                sw.Restart();
                cpu = PeakMemory.CpuTime();
            };
        }
        if (Options.Function is { } fn && module.Find(fn) is null) return Result<Module>.Failure(new Diagnostic($"no function named '{fn}'"));
        if (Pipeline is null)
        {
            var diags = Verifier.Verify(module);
            return diags.Count > 0 ? Result<Module>.Failure(diags) : Result<Module>.Success(module);
        }
        return PassManager.Run(module, Pipeline, PassOptions,
            afterEach is null ? null : step => afterEach(new PassSnapshot(step.Index, step.PassName, step.Module, step.Changed)));
    }

    /// <summary>Compiles an optimised module in-process for the target.</summary>
    public Result<IExecutable> Jit(Module optimized)
    {
        if (Target.RunUnavailable is { } why) return Result<IExecutable>.Failure(new Diagnostic($"the {Target.Name} target cannot run here: {why}"));
        using var phase = Phases?.Phase("code generation", $"{Target.Name}, {CountOps(optimized)} ops");
        return Target.Jit(optimized, Options.Function, Options.Threads, new JitOptions { Phases = Phases, KeepImage = Options.Cache });
    }

    /// <summary>Compiles an optimised module into the target's library form, in memory (nothing is written).</summary>
    public Result<TargetArtifacts> Package(Module optimized)
    {
        using var phase = Phases?.Phase("code generation", $"{Target.Name}, {CountOps(optimized)} ops");
        return Target.Package(optimized, Options.Function, new PackageOptions { Name = Options.LibraryName, Namespace = Options.Namespace, IncludeObject = Options.ObjectFile, Phases = Phases });
    }

    /// <summary>The arena layout of every function, planned exactly as the target plans it (so its peak is the compiled arena size).</summary>
    public MemoryReport MemoryReport(Module optimized) => Passes.MemoryReport.Compute(optimized, Target.MemoryPlan);

    /// <summary>
    /// <see cref="MemoryReport(Module)"/>, and under a memory budget also what <c>remat</c> did: <paramref name="source"/>
    /// (what was optimised into <paramref name="optimized"/>) is optimised again without the budget for the peak it
    /// would have, and the recomputed kernels' flops are counted (<see cref="Passes.MemoryReport.WithRemat"/>).
    /// </summary>
    public MemoryReport MemoryReport(Module optimized, Module source)
    {
        var report = MemoryReport(optimized);
        if (Options.MemoryBudget is null) return report;
        var plain = Create(Options with { MemoryBudget = null });
        var baseline = plain.Ok ? plain.Value!.Optimize(source) : null;
        return baseline is { Ok: true } ? report.WithRemat(optimized, MemoryReport(baseline.Value!)) : report;
    }

    /// <summary>The module as a Graphviz DOT graph (ops as boxes, coloured by device when placed).</summary>
    public static string Graph(Module module) => DotWriter.Write(module);
}
