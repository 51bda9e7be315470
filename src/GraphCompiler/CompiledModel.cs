using GraphCompiler.Backends.Llvm;
using GraphCompiler.Backends.Cpu;
using GraphCompiler.IR;
using GraphCompiler.Runtime;

namespace GraphCompiler;

/// <summary>
/// A model compiled in-process for this machine's CPU (JIT): load (any <see cref="ModelLoader"/> format)
/// → pass pipeline → LLVM code generation. Failures throw <see cref="CompilationException"/> with the
/// diagnostics. Safe to run from several threads at once (each concurrent run gets its own scratch arena);
/// <see cref="Dispose"/> waits for runs in flight.
/// <code>
/// using var model = CompiledModel.Compile("model.onnx", new CompileOptions { Threads = 2 });
/// var outputs = model.Run([input]);
/// </code>
/// </summary>
public sealed class CompiledModel : IDisposable
{
    private readonly NativeExecutable _executable;

    private readonly JitCompilation _compilation;

    private CompiledModel(NativeExecutable executable, JitCompilation compilation)
    {
        _executable = executable;
        _compilation = compilation;
    }

    /// <summary>Loads the model at <paramref name="path"/> (.ir, .onnx, .pb, .pbtxt, SavedModel directory) and compiles it.</summary>
    /// <exception cref="CompilationException">The model cannot be loaded or compiled.</exception>
    public static CompiledModel Compile(string path, CompileOptions? options = null) => Compile(path, null, options);

    /// <summary>Compiles an IR module (its entry, or <see cref="CompileOptions.Function"/>). Feeds, fetches and constants do not apply.</summary>
    /// <exception cref="CompilationException">The module cannot be compiled.</exception>
    public static CompiledModel Compile(Module module, CompileOptions? options = null) => Compile(null, module, options);

    private static CompiledModel Compile(string? path, Module? module, CompileOptions? options)
    {
        var driver = Compiler.Create(options);
        if (!driver.Ok) throw new CompilationException(driver.Diagnostics);
        var compiled = driver.Value!.LoadAndJit(path, module);
        if (!compiled.Ok) throw new CompilationException(compiled.Diagnostics);
        var exe = compiled.Value!.Executable;
        if (exe is not NativeExecutable native)
        {
            exe.Dispose();
            throw new CompilationException([new Diagnostic($"the {driver.Value.Target.Name} target does not produce native code; CompiledModel needs a native target (cpu)")]);
        }
        return new CompiledModel(native, compiled.Value);
    }

    /// <summary>The inputs, in the order <see cref="Run(IReadOnlyList{Tensor})"/> takes them.</summary>
    public IReadOnlyList<TensorDescriptor> Inputs => _executable.Inputs;

    /// <summary>The outputs, in the order runs produce them.</summary>
    public IReadOnlyList<TensorDescriptor> Outputs => _executable.Outputs;

    /// <summary>The IR after the pass pipeline, as compiled (after a cache hit, loaded and optimised again when first asked for).</summary>
    public Module Module => _compilation.Optimized;

    /// <summary>How long each phase took, and whether the code came from the compilation cache (<see cref="CompileOptions.Cache"/>).</summary>
    public CompileTimings Timings => _compilation.Timings;

    /// <summary>The most threads a run may use; 0: <c>GC_NUM_THREADS</c>, else every core.</summary>
    public int Threads
    {
        get => _executable.Threads;
        set => _executable.Threads = value;
    }

    /// <summary>The thread count runs pass to the compiled code (<see cref="Threads"/> resolved).</summary>
    public int EffectiveThreads => _executable.EffectiveThreads;

    /// <summary>The underlying executable (its <c>Run</c> returns diagnostics instead of throwing).</summary>
    public NativeExecutable Executable => _executable;

    /// <summary>
    /// Runs on tensors (types checked) and returns new tensors. Inputs are copied: variables the model
    /// updates are not written back into them. Allocates; for hot loops use <see cref="Bind"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong number or types of inputs.</exception>
    /// <exception cref="RuntimeException">The compiled code returned an error.</exception>
    public IReadOnlyList<Tensor> Run(IReadOnlyList<Tensor> inputs) => _executable.Execute(inputs);

    /// <summary>Runs on caller buffers (one pointer per input, then per output) with no managed allocation; see <see cref="NativeExecutable.Run(ReadOnlySpan{nint}, ReadOnlySpan{nint})"/>.</summary>
    public void Run(ReadOnlySpan<nint> inputPointers, ReadOnlySpan<nint> outputPointers) => _executable.Run(inputPointers, outputPointers);

    /// <summary>One input, one output, typed spans, no managed allocation.</summary>
    public void Run<TIn, TOut>(ReadOnlySpan<TIn> input, Span<TOut> output) where TIn : unmanaged where TOut : unmanaged =>
        _executable.Run(input, output);

    /// <summary>Binds caller arrays once (pinned) for allocation-free runs: <c>model.Bind().BindInput(0, x).BindOutput(0, y)</c>, then <c>binding.Run()</c>.</summary>
    public IoBinding Bind() => _executable.Bind();

    public void Dispose() => _executable.Dispose();
}
