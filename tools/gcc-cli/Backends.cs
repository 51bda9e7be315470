using GraphCompiler.IR;

namespace GraphCompiler.Cli;

/// <summary>A compiled function ready to run on one backend; disposing it frees its native code and threads.</summary>
public interface IExecutable : IDisposable
{
    Result<IReadOnlyList<Tensor>> Run(IReadOnlyList<Tensor> inputs);
}

/// <summary>A way to execute IR: the reference interpreter, the CPU backend, the CUDA backend.</summary>
public interface IExecutionBackend
{
    string Name { get; }
    Result<IExecutable> Compile(Module module, string? functionName = null);
}

/// <summary>The reference interpreter as a backend: "compiling" is verification only.</summary>
public sealed class InterpreterBackend : IExecutionBackend
{
    public string Name => "interpreter";

    public Result<IExecutable> Compile(Module module, string? functionName = null)
    {
        var diags = Verifier.Verify(module);
        if (diags.Count > 0) return Result<IExecutable>.Failure(diags);
        return Result<IExecutable>.Success(new Executable(module, functionName));
    }

    private sealed class Executable(Module module, string? functionName) : IExecutable
    {
        public Result<IReadOnlyList<Tensor>> Run(IReadOnlyList<Tensor> inputs)
        {
            var r = new Interpreter(module).Run(functionName, inputs);
            return r.Ok ? Result<IReadOnlyList<Tensor>>.Success(r.Value!.Results) : Result<IReadOnlyList<Tensor>>.Failure(r.Diagnostics);
        }

        public void Dispose() { }
    }
}

/// <summary>The CPU backend through the public API (<see cref="CompiledModel"/>): the default pass pipeline, then LLVM code generation and the ORC JIT.</summary>
public sealed class CpuBackend : IExecutionBackend
{
    public string Name => "cpu";

    public Result<IExecutable> Compile(Module module, string? functionName = null)
    {
        try
        {
            return Result<IExecutable>.Success(new Executable(CompiledModel.Compile(module, new CompileOptions { Function = functionName })));
        }
        catch (CompilationException e)
        {
            return Result<IExecutable>.Failure(e.Diagnostics);
        }
    }

    private sealed class Executable(CompiledModel model) : IExecutable
    {
        public Result<IReadOnlyList<Tensor>> Run(IReadOnlyList<Tensor> inputs) => model.Executable.Run(inputs);

        public void Dispose() => model.Dispose();
    }
}

public static class ExecutionBackends
{
    public static readonly string[] Names = ["cpu", "interpreter"];

    /// <summary>The backend commands use when none is named.</summary>
    public const string Default = "cpu";

    public static IExecutionBackend? Find(string name) => name switch
    {
        "interpreter" => new InterpreterBackend(),
        "cpu" => new CpuBackend(),
        _ => null,
    };
}
