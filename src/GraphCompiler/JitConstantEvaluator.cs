using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.IR;
using GraphCompiler.Passes;

namespace GraphCompiler;

/// <summary>
/// <c>hoist-constants</c>' evaluator when LLVM is available: small functions it interprets (no compile to
/// pay for, and exact), the rest this machine's CPU backend JIT-compiles and runs once with every core — as IREE evaluates hoisted constant expressions with its own compiled code. The passes
/// cannot reference backends, so the driver supplies it (<see cref="Compiler.Create"/>).
/// </summary>
public sealed class JitConstantEvaluator(bool interpretSmall = true) : IConstantEvaluator
{
    public static readonly JitConstantEvaluator Instance = new();

    /// <summary>
    /// Small enough to interpret: a JIT compile has a fixed cost (LLVM's O3 pipeline, the ORC JIT) that about
    /// 10⁶ interpreter steps do not repay; beyond that the interpreter's one-element-at-a-time loops lose.
    /// </summary>
    private static readonly InterpreterConstantEvaluator Small = new(maxWork: 1 << 20, maxResultElements: 1 << 16);

    /// <summary>Whether small functions are interpreted (false: everything is compiled, for tests).</summary>
    public bool InterpretSmall { get; } = interpretSmall;

    /// <summary>The evaluator for this process: JIT-backed when LLVM loads, else the interpreter's.</summary>
    public static IConstantEvaluator ForThisMachine => LlvmLibrary.Problem is null ? Instance : InterpreterConstantEvaluator.Default;

    public IReadOnlyList<Tensor>? Evaluate(Module module, Function function)
    {
        if (InterpretSmall && Small.Accepts(function)) return Small.Evaluate(module, function);
        // Only what the function calls travels with it: compiling the whole module would compile the model twice.
        var m = new Module(Calls(function.Body) ? [.. module.Functions.Where(g => g.Name != function.Name), function] : [function]);
        // Fused first: one loop per weight's chain of elementwise ops instead of one kernel per op, which
        // cut the code generation of ResNet-50's computed weights (884 ops) from 21 s to 2 s.
        var fused = PassManager.Run(m, Preparation, PassOptions.Default);
        if (!fused.Ok) return null;
        m = fused.Value!;
        var exe = new CpuBackend().Jit(m, function.Name, threads: 0);
        if (!exe.Ok) return null;
        using var e = exe.Value!;
        var r = e.Run([]);
        return r.Ok ? r.Value : null;
    }

    private static readonly Pipeline Preparation = new("hoist-constants-evaluation", ["canonicalize", "fuse"]);

    private static bool Calls(Region region) =>
        region.Operations.Any(op => op.Attributes.Items.Any(a => a.Value is SymbolAttr) || op.Regions.Any(Calls));
}
