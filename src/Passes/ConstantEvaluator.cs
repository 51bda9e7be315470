using GraphCompiler.IR;

namespace GraphCompiler.Passes;

/// <summary>
/// Computes the results of a function without arguments once, at compile time, for <c>hoist-constants</c>.
/// Passes cannot see the backends, so the driver supplies a compiled evaluator (the CPU JIT) through
/// <see cref="PassOptions.ConstantEvaluator"/>; the default is the reference interpreter with small limits.
/// </summary>
public interface IConstantEvaluator
{
    /// <summary>
    /// The results of <paramref name="function"/> (no arguments; other functions of <paramref name="module"/>
    /// may be called), or null when this evaluator cannot or will not compute them (too big for it, an op
    /// it cannot evaluate, elided constant contents). Never throws for such cases.
    /// </summary>
    IReadOnlyList<Tensor>? Evaluate(Module module, Function function);
}

/// <summary>
/// The reference interpreter as a constant evaluator: exact, but slow (one element at a time), so it
/// declines functions whose <see cref="OpDef.EvaluationWork"/> exceeds <see cref="MaxWork"/> or whose results
/// exceed <see cref="MaxResultElements"/>. Deterministic, so golden tests use it.
/// </summary>
public sealed class InterpreterConstantEvaluator(double maxWork = 1 << 24, long maxResultElements = 1 << 20) : IConstantEvaluator
{
    /// <summary>The limits <see cref="PassOptions.Default"/> uses: 2²⁴ steps (as for one <c>constant-fold</c> of a capped op), 2²⁰ result elements.</summary>
    public static readonly InterpreterConstantEvaluator Default = new();

    public double MaxWork { get; } = maxWork;

    public long MaxResultElements { get; } = maxResultElements;

    /// <summary>Whether the function is within this evaluator's limits.</summary>
    public bool Accepts(Function function) =>
        function.ResultTypes.Sum(t => (double)t.ElementCount) <= MaxResultElements && Work(function.Body) <= MaxWork;

    public IReadOnlyList<Tensor>? Evaluate(Module module, Function function)
    {
        if (!Accepts(function)) return null;
        try
        {
            var m = new Module([.. module.Functions.Where(g => g.Name != function.Name), function]);
            var r = new Interpreter(m, new InterpreterOptions { MaxLoopIterations = ConstantFolding.MaxLoopIterations }).Run(function.Name, []);
            return r.Ok ? r.Value!.Results : null;
        }
        catch (IrException)
        {
            return null;
        }
        catch (OverflowException)
        {
            return null;
        }
    }

    private static double Work(Region region) =>
        region.Operations.Sum(op => op.Def.EvaluationWork(op) + op.Regions.Sum(Work));
}
