using System.Runtime.InteropServices;
using GraphCompiler.Backends.Cpu.Codegen;
using GraphCompiler.Backends.Cpu.Llvm;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cpu;

public sealed record CpuCompileOptions
{
    /// <summary>Symbol prefix: the entry is <c>NAME_run</c>.</summary>
    public string Name { get; init; } = "model";

    /// <summary>What to generate code for; null means this machine (<see cref="CpuTarget.Host"/>).</summary>
    public CpuTarget? Target { get; init; }
}

/// <summary>The generated LLVM IR of one function, before LLVM compiles it.</summary>
public sealed record CpuProgram(string Name, string LlvmIr, long ArenaBytes, Function Signature);

/// <summary>
/// The CPU backend: turns an optimised IR function into LLVM IR (<see cref="Generate"/>), then into
/// native code in-process (<see cref="Jit"/>) or an object file (<see cref="LlvmCompiler.Emit"/>).
/// </summary>
public static class CpuCompiler
{
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
            var (ir, arena) = ProgramEmitter.Emit(f, options.Name, f.Name, module, target.F32Lanes);
            return Result<CpuProgram>.Success(new CpuProgram(options.Name, ir, arena, f));
        }
        catch (CodegenException e)
        {
            return Result<CpuProgram>.Failure(new Diagnostic(e.Message, Code: Diagnostic.UnsupportedOp));
        }
    }

    /// <summary>Generates and compiles in-process with LLVM's ORC JIT.</summary>
    public static Result<CpuExecutable> Jit(Module module, CpuCompileOptions? options = null, string? functionName = null)
    {
        if (LlvmLibrary.Problem is { } problem) return Result<CpuExecutable>.Failure(new Diagnostic(problem));
        var program = Generate(module, options, functionName);
        if (!program.Ok) return Result<CpuExecutable>.Failure(program.Diagnostics);
        var p = program.Value!;
        var jit = LlvmJit.Compile(p.LlvmIr, (options ?? new()).Target ?? CpuTarget.Host(), p.Name);
        if (!jit.Ok) return Result<CpuExecutable>.Failure(jit.Diagnostics);
        return Result<CpuExecutable>.Success(new CpuExecutable(jit.Value!, p));
    }
}

/// <summary>A JIT-compiled function. Not thread-safe: one call at a time (it owns one arena).</summary>
public sealed unsafe class CpuExecutable : IDisposable
{
    private readonly LlvmJit _jit;
    private readonly delegate* unmanaged<nint*, nint*, void*, int, int> _run;
    private void* _arena;

    internal CpuExecutable(LlvmJit jit, CpuProgram program)
    {
        _jit = jit;
        Program = program;
        _run = (delegate* unmanaged<nint*, nint*, void*, int, int>)jit.Lookup(program.Name + "_run");
        _arena = NativeMemory.AlignedAlloc((nuint)Math.Max(program.ArenaBytes, 64), 64);
    }

    public CpuProgram Program { get; }

    /// <summary>Runs on the given inputs (types checked); returns new tensors for the results and applies no variable updates.</summary>
    public Result<IReadOnlyList<Tensor>> Run(IReadOnlyList<Tensor> inputs)
    {
        var f = Program.Signature;
        if (inputs.Count != f.Arguments.Length)
            return Result<IReadOnlyList<Tensor>>.Failure(new Diagnostic($"@{f.Name} takes {f.Arguments.Length} inputs, got {inputs.Count}"));
        for (int i = 0; i < inputs.Count; i++)
            if (inputs[i].Type != f.Arguments[i].Type)
                return Result<IReadOnlyList<Tensor>>.Failure(new Diagnostic($"input '{f.ArgumentName(i)}' must be {f.Arguments[i].Type}, got {inputs[i].Type}"));
        // Inputs are copied so that variable updates written in place never touch the caller's tensors.
        var inputBuffers = inputs.Select(t => t.Bytes.ToArray()).ToArray();
        var outputs = f.ResultTypes.Select(t => new byte[Math.Max(t.ByteSize, 1)]).ToArray();
        var handles = inputBuffers.Concat(outputs).Select(a => GCHandle.Alloc(a, GCHandleType.Pinned)).ToArray();
        try
        {
            var args = stackalloc nint[Math.Max(inputs.Count, 1)];
            var results = stackalloc nint[Math.Max(outputs.Length, 1)];
            for (int i = 0; i < inputs.Count; i++) args[i] = handles[i].AddrOfPinnedObject();
            for (int i = 0; i < outputs.Length; i++) results[i] = handles[inputs.Count + i].AddrOfPinnedObject();
            int status = _run(args, results, _arena, Environment.ProcessorCount);
            if (status != 0) return Result<IReadOnlyList<Tensor>>.Failure(new Diagnostic($"compiled code returned error {status}"));
        }
        finally
        {
            foreach (var h in handles) h.Free();
        }
        return Result<IReadOnlyList<Tensor>>.Success([.. outputs.Select((o, i) => Tensor.FromBytes(f.ResultTypes[i], o.AsSpan(0, (int)f.ResultTypes[i].ByteSize)))]);
    }

    public void Dispose()
    {
        if (_arena is not null) NativeMemory.AlignedFree(_arena);
        _arena = null;
        _jit.Dispose();
    }
}
