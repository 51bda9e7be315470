using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Targets;

namespace GraphCompiler.IR;

/// <summary>The reference interpreter as a target: "compiling" is verification only; it produces no library.</summary>
public sealed class InterpreterTarget : ITarget
{
    public string Name => "interpreter";

    /// <summary>The oracle runs the graph as imported, unless a pipeline is asked for.</summary>
    public string DefaultPipeline => "none";

    public bool Supports(Operation op) => true;

    public BufferOptions? MemoryPlan(Function f) => null;

    public string? RunUnavailable => null;

    public Result<IExecutable> Jit(Module optimized, string? function, int threads, JitOptions? options = null)
    {
        var diags = Verifier.Verify(optimized);
        if (diags.Count > 0) return Result<IExecutable>.Failure(diags);
        return Result<IExecutable>.Success(new Executable(optimized, function));
    }

    public Result<TargetArtifacts> Package(Module optimized, string? function, PackageOptions options) =>
        Result<TargetArtifacts>.Failure(new Diagnostic("the interpreter target runs in-process only; it produces no library (use cpu or cuda)"));

    private sealed class Executable(Module module, string? function) : IExecutable
    {
        public Result<IReadOnlyList<Tensor>> Run(IReadOnlyList<Tensor> inputs)
        {
            var r = new Interpreter(module).Run(function, inputs);
            return r.Ok ? Result<IReadOnlyList<Tensor>>.Success(r.Value!.Results) : Result<IReadOnlyList<Tensor>>.Failure(r.Diagnostics);
        }

        public void Dispose() { }
    }
}
