using System.Runtime.InteropServices;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.IR;
using GraphCompiler.IR.Targets;
using GraphCompiler.Runtime;

namespace GraphCompiler.Backends.Llvm;

/// <summary>
/// A JIT-compiled host program (the CPU target's, or the CUDA target's host side): the entry
/// <c>NAME_run(args, results, arena, threads)</c>. Safe to call from any number of threads at once, as an
/// ONNX Runtime session is: each concurrent call takes an <see cref="Arena"/> of its own from a pool (programs
/// that drive a device, which has one stream and one device arena, serialise their calls instead), and
/// <see cref="Dispose"/> waits for the calls in flight before it frees anything; a call after it throws
/// <see cref="ObjectDisposedException"/>. Three ways to call it:
/// <list type="bullet">
/// <item><see cref="Run(IReadOnlyList{Tensor})"/> (diagnostics) or <see cref="Execute"/> (exceptions): tensors in,
/// new tensors out; inputs are copied, so variable updates never reach the caller's tensors. Allocates;
/// for tests and tools.</item>
/// <item><see cref="Run(ReadOnlySpan{nint}, ReadOnlySpan{nint})"/>: raw buffer pointers, no managed
/// allocation. Buffers of variables that the function updates (<see cref="TensorDescriptor.UpdatedInPlace"/>)
/// are written in place.</item>
/// <item><see cref="Bind"/>: an <see cref="IoBinding"/> that pins caller arrays once; then
/// <see cref="IoBinding.Run"/> per call, no managed allocation. Same in-place rule.</item>
/// </list>
/// </summary>
public sealed unsafe class NativeExecutable : IExecutable
{
    private readonly LlvmJit _jit;
    private readonly delegate* unmanaged<nint*, nint*, void*, int, int> _run;
    private readonly delegate* unmanaged<void> _release;
    private readonly delegate* unmanaged<nint> _lastError;
    private readonly System.Collections.Concurrent.ConcurrentBag<Arena> _arenas = [];
    private readonly object _gate = new();
    private readonly bool _serialize;
    private int _inFlight;
    private bool _disposed;
    private int _threads, _effectiveThreads;

    /// <param name="jit">The compiled code, owned from now on.</param>
    /// <param name="program">What was compiled: the entry's name, signature and arena size.</param>
    /// <param name="lastErrorSymbol">A <c>const char *(void)</c> that explains a failed call (the CUDA runtime's), or null.</param>
    /// <param name="serialize">One call at a time (a program driving a device with one stream and one device arena).</param>
    public NativeExecutable(LlvmJit jit, HostProgram program, string? lastErrorSymbol = null, bool serialize = false)
    {
        _jit = jit;
        Program = program;
        _serialize = serialize;
        _run = (delegate* unmanaged<nint*, nint*, void*, int, int>)jit.Lookup(program.Name + "_run");
        _release = (delegate* unmanaged<void>)jit.Lookup(program.Name + "_release");
        _lastError = lastErrorSymbol is null ? null : (delegate* unmanaged<nint>)jit.Lookup(lastErrorSymbol);
        LastErrorSymbol = lastErrorSymbol;
        // The first call allocates the first arena (a program whose arena cannot be had still loads, and says why when run).
        Inputs = RuntimeDescriptors.Inputs(program.Signature);
        Outputs = RuntimeDescriptors.Outputs(program.Signature);
        Threads = 0;
    }

    public HostProgram Program { get; }

    /// <summary>The program's <c>const char *(void)</c> explaining a failed call, or null (kept by the compilation cache's image).</summary>
    public string? LastErrorSymbol { get; }

    /// <summary>Whether calls are serialised (a device program, a program with collectives).</summary>
    public bool Serialized => _serialize;

    /// <summary>The object files the code was linked from (the program's, then its kernel library's), when they were kept, for <see cref="ExecutableImage"/>; null after the first call.</summary>
    public IReadOnlyList<byte[]>? TakeObjectCode() => _jit.TakeObjectCode();

    /// <summary>The weights the code reads, outside its objects (<see cref="JitConstants"/>); null when it has none.</summary>
    public JitConstants? Constants => _jit.Constants;

    /// <summary>The function's arguments, in order.</summary>
    public IReadOnlyList<TensorDescriptor> Inputs { get; }

    /// <summary>The function's results, in order.</summary>
    public IReadOnlyList<TensorDescriptor> Outputs { get; }

    /// <summary>
    /// The most threads a call may use; 0 (the default) means <see cref="GraphCompiler.Runtime.Threads.Resolve"/>
    /// (<c>GC_NUM_THREADS</c>, else every core), resolved when set so that calls read no environment.
    /// </summary>
    public int Threads
    {
        get => _threads;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _threads = value;
            _effectiveThreads = GraphCompiler.Runtime.Threads.Resolve(value);
        }
    }

    /// <summary>The thread count passed to the compiled code.</summary>
    public int EffectiveThreads => _effectiveThreads;

    /// <summary>Runs on the given inputs (types checked); returns new tensors for the results and applies no variable updates.</summary>
    public Result<IReadOnlyList<Tensor>> Run(IReadOnlyList<Tensor> inputs)
    {
        if (CheckInputs(inputs) is { } problem) return Result<IReadOnlyList<Tensor>>.Failure(problem);
        try
        {
            return Result<IReadOnlyList<Tensor>>.Success(Execute(inputs));
        }
        catch (RuntimeException e)
        {
            return Result<IReadOnlyList<Tensor>>.Failure(new Diagnostic(e.Message));
        }
        catch (ObjectDisposedException e)
        {
            return Result<IReadOnlyList<Tensor>>.Failure(new Diagnostic(e.Message));
        }
    }

    /// <summary>
    /// Why a call with <paramref name="inputs"/> cannot run: inputs that do not fit the function (count, types), or a
    /// result too large for a tensor (the AOT library, which writes into the caller's buffers, has no such limit); null when it can.
    /// </summary>
    public Diagnostic? CheckInputs(IReadOnlyList<Tensor> inputs)
    {
        var f = Program.Signature;
        if (inputs.Count != f.Arguments.Length)
            return new Diagnostic($"@{f.Name} takes {f.Arguments.Length} inputs, got {inputs.Count}");
        for (int i = 0; i < inputs.Count; i++)
            if (inputs[i].Type != f.Arguments[i].Type)
                return new Diagnostic($"input '{f.ArgumentName(i)}' must be {f.Arguments[i].Type}, got {inputs[i].Type}");
        for (int i = 0; i < f.ResultTypes.Length; i++)
            if (f.ResultTypes[i].ByteSize > Tensor.MaxBytes)
                return new Diagnostic($"result '{f.ResultName(i)}' is {f.ResultTypes[i]} ({f.ResultTypes[i].ByteSize} bytes), more than a tensor holds ({Tensor.MaxBytes} bytes); compile it ahead of time and pass a buffer of your own");
        return null;
    }

    /// <summary>
    /// Like <see cref="Run(IReadOnlyList{Tensor})"/> but throwing: <see cref="ArgumentException"/> for inputs
    /// that do not fit, <see cref="RuntimeException"/> when the compiled code returns an error.
    /// </summary>
    public IReadOnlyList<Tensor> Execute(IReadOnlyList<Tensor> inputs)
    {
        if (CheckInputs(inputs) is { } problem) throw new ArgumentException(problem.Message, nameof(inputs));
        var f = Program.Signature;
        // Inputs are copied so that variable updates written in place never touch the caller's tensors.
        var inputBuffers = inputs.Select(t => t.Bytes.ToArray()).ToArray();
        var outputs = f.ResultTypes.Select(t => new byte[Math.Max(t.ByteSize, 1)]).ToArray();
        var handles = inputBuffers.Concat(outputs).Select(a => GCHandle.Alloc(a, GCHandleType.Pinned)).ToArray();
        try
        {
            var args = new nint[inputs.Count];
            var results = new nint[outputs.Length];
            for (int i = 0; i < args.Length; i++) args[i] = handles[i].AddrOfPinnedObject();
            for (int i = 0; i < results.Length; i++) results[i] = handles[args.Length + i].AddrOfPinnedObject();
            int status = Call(args, results);
            if (!RuntimeStatuses.IsOk(status)) throw Failure(status);
        }
        finally
        {
            foreach (var h in handles) h.Free();
        }
        return [.. outputs.Select((o, i) => Tensor.FromBytes(f.ResultTypes[i], o.AsSpan(0, (int)f.ResultTypes[i].ByteSize)))];
    }

    /// <summary>
    /// Runs on caller buffers, without managed allocation: one pointer per argument (read only, except
    /// that variables the function updates are written in place) and one per result, each to a dense
    /// row-major buffer of the descriptor's <see cref="TensorDescriptor.ByteSize"/> that stays valid
    /// (pinned or native) for the call. Throws <see cref="ArgumentException"/> on a wrong count or a null
    /// pointer, <see cref="RuntimeException"/> when the compiled code returns an error.
    /// </summary>
    public void Run(ReadOnlySpan<nint> inputPointers, ReadOnlySpan<nint> outputPointers)
    {
        CheckPointers(inputPointers, Inputs, "input");
        CheckPointers(outputPointers, Outputs, "output");
        int status = Call(inputPointers, outputPointers);
        if (!RuntimeStatuses.IsOk(status)) throw Failure(status);
    }

    /// <summary>
    /// The typed convenience for a function of one argument and one result (e.g. <c>float</c> in,
    /// <c>float</c> out), without managed allocation: lengths and element sizes are checked. A function
    /// that updates its argument in place needs <see cref="Bind"/> (a read-only span cannot be written).
    /// </summary>
    public void Run<TIn, TOut>(ReadOnlySpan<TIn> input, Span<TOut> output) where TIn : unmanaged where TOut : unmanaged
    {
        if (Inputs.Count != 1 || Outputs.Count != 1)
            throw new InvalidOperationException($"@{Program.Signature.Name} takes {Inputs.Count} input(s) and returns {Outputs.Count} result(s); this overload is for one of each (use Bind())");
        if (Inputs[0].UpdatedInPlace)
            throw new InvalidOperationException($"input '{Inputs[0].Name}' is a variable updated in place; bind a writable array with Bind()");
        IoBinding.CheckLength<TIn>(Inputs[0], "input", input.Length);
        IoBinding.CheckLength<TOut>(Outputs[0], "output", output.Length);
        fixed (TIn* i = input)
        fixed (TOut* o = output)
        {
            nint a = (nint)i, r = (nint)o;
            int status = Call(new ReadOnlySpan<nint>(&a, 1), new ReadOnlySpan<nint>(&r, 1));
            if (!RuntimeStatuses.IsOk(status)) throw Failure(status);
        }
    }

    /// <summary>A binding of caller arrays to this executable's inputs and outputs, pinned once; see <see cref="IoBinding"/>.</summary>
    public IoBinding Bind() => new(this);

    private static void CheckPointers(ReadOnlySpan<nint> pointers, IReadOnlyList<TensorDescriptor> expected, string what)
    {
        if (pointers.Length != expected.Count)
            throw new ArgumentException($"expected {expected.Count} {what} pointer(s), got {pointers.Length}");
        for (int i = 0; i < pointers.Length; i++)
            if (pointers[i] == 0 && expected[i].ByteSize > 0)
                throw new ArgumentException($"{what} '{expected[i].Name}' has a null pointer");
    }

    private int Call(ReadOnlySpan<nint> args, ReadOnlySpan<nint> results)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_serialize) while (_inFlight > 0) Monitor.Wait(_gate);
            _inFlight++;
        }
        Arena arena;
        try
        {
            arena = _arenas.TryTake(out var free) ? free : new Arena(Program.ArenaBytes);
        }
        catch (OutOfMemoryException)
        {
            lock (_gate) { _inFlight--; Monitor.PulseAll(_gate); }
            throw new RuntimeException((int)RuntimeStatus.OutOfMemory, $"cannot allocate the arena of {Program.ArenaBytes} bytes");
        }
        try
        {
            nint none = 0;
            fixed (nint* a = args)
            fixed (nint* r = results)
                return _run(args.IsEmpty ? &none : a, results.IsEmpty ? &none : r, (void*)arena.Pointer, _effectiveThreads);
        }
        finally
        {
            _arenas.Add(arena);
            lock (_gate)
            {
                _inFlight--;
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>A failed call's exception, with the program's own explanation when it has one.</summary>
    private RuntimeException Failure(int status)
    {
        var detail = _lastError is null ? null : Marshal.PtrToStringUTF8(_lastError());
        return new RuntimeException(status, string.IsNullOrEmpty(detail) ? null : detail);
    }

    /// <summary>Waits for the calls in flight, then frees the arenas, stops the code's worker threads and frees the code.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            while (_inFlight > 0) Monitor.Wait(_gate);
        }
        while (_arenas.TryTake(out var arena)) arena.Dispose();
        // The code's worker threads must be gone before the JIT frees the code they run.
        _release();
        _jit.Dispose();
    }
}
