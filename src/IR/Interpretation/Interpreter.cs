using System.Collections.Immutable;

namespace GraphCompiler.IR;

public sealed record InterpreterOptions
{
    /// <summary>
    /// A while loop running more iterations than this is reported (naming the op) instead of hanging: the
    /// interpreter takes microseconds per iteration, so the default stops a runaway loop within seconds.
    /// </summary>
    public long MaxLoopIterations { get; init; } = DefaultMaxLoopIterations;

    public const long DefaultMaxLoopIterations = 1_000_000;

    /// <summary>Optionally, the wall-clock time one while loop may run (for loops whose bodies are slow); null: no limit.</summary>
    public TimeSpan? MaxLoopTime { get; init; }
}

/// <summary>The results of a call, with each updated variable's new value keyed by argument index.</summary>
public sealed record InterpreterOutput(ImmutableArray<Tensor> Results, ImmutableDictionary<int, Tensor> VariableUpdates);

/// <summary>
/// The reference interpreter: walks the IR and evaluates each op through its definition's
/// <see cref="OpDef.Evaluate"/>. It is the oracle the backends are tested against and the engine of
/// constant folding, so it favours exactness and simplicity over speed.
/// </summary>
public sealed partial class Interpreter
{
    private readonly Module _module;
    private readonly Stack<Dictionary<Value, Tensor>> _scopes = new();
    private int _callDepth;

    public InterpreterOptions Options { get; }

    /// <summary>The module being interpreted (ops that expand into functions, like <c>gradient</c>, read it).</summary>
    public Module Module => _module;

    /// <summary>Which replica this interpreter runs as (<see cref="ReplicaContext.Single"/> unless <see cref="RunReplicated"/> made it).</summary>
    public ReplicaContext Replica { get; }

    public Interpreter(Module module, InterpreterOptions? options = null)
        : this(module, options, ReplicaContext.Single)
    {
    }

    private Interpreter(Module module, InterpreterOptions? options, ReplicaContext replica)
    {
        _module = module;
        Options = options ?? new InterpreterOptions();
        Replica = replica;
    }

    /// <summary>Runs function <paramref name="functionName"/> (the entry when null) on the given arguments.</summary>
    public Result<InterpreterOutput> Run(string? functionName, IReadOnlyList<Tensor> args)
    {
        var f = functionName is null ? _module.Entry : _module.Find(functionName);
        if (f is null) return Result<InterpreterOutput>.Failure(new Diagnostic($"no function named '{functionName}'"));
        if (args.Count != f.Arguments.Length)
            return Result<InterpreterOutput>.Failure(new Diagnostic($"@{f.Name} takes {f.Arguments.Length} arguments, got {args.Count}"));
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i].Type != f.Arguments[i].Type)
                return Result<InterpreterOutput>.Failure(new Diagnostic(
                    $"argument '{f.ArgumentName(i)}' of @{f.Name} must be {f.Arguments[i].Type}, got {args[i].Type}"));
        }
        try
        {
            _scopes.Clear();
            var results = Call(f, args);
            var updates = ImmutableDictionary.CreateBuilder<int, Tensor>();
            for (int i = 0; i < results.Length; i++)
                if (f.ResultInfos[i].Updates is { } arg) updates[arg] = results[i];
            return Result<InterpreterOutput>.Success(new InterpreterOutput(results, updates.ToImmutable()));
        }
        catch (IrException e)
        {
            return Result<InterpreterOutput>.Failure(e.ToDiagnostic());
        }
    }

    /// <summary>Evaluates a single op with no enclosing scope (constant folding). Throws <see cref="IrException"/>.</summary>
    public ImmutableArray<Tensor> EvaluateOperation(Operation op, ImmutableArray<Tensor> operands)
    {
        var results = op.Def.Evaluate(new EvalContext(op, operands, this));
        CheckResults(op, results);
        return results;
    }

    public ImmutableArray<Tensor> CallFunction(string name, IReadOnlyList<Tensor> args)
    {
        var f = _module.Find(name) ?? throw new IrException($"call to unknown function @{name}");
        return Call(f, args);
    }

    private ImmutableArray<Tensor> Call(Function f, IReadOnlyList<Tensor> args)
    {
        if (++_callDepth > 1000) throw new IrException($"call depth exceeds 1000 (recursion through @{f.Name}?)");
        // A callee sees none of the caller's values.
        var saved = _scopes.ToArray();
        _scopes.Clear();
        try
        {
            return RunRegion(f.Body, args);
        }
        finally
        {
            _scopes.Clear();
            for (int i = saved.Length - 1; i >= 0; i--) _scopes.Push(saved[i]);
            _callDepth--;
        }
    }

    /// <summary>Runs a region nested in the current scope (it may read enclosing values).</summary>
    public ImmutableArray<Tensor> RunRegion(Region region, IReadOnlyList<Tensor> args)
    {
        if (args.Count != region.Arguments.Length)
            throw new IrException($"region takes {region.Arguments.Length} arguments, got {args.Count}");
        var scope = new Dictionary<Value, Tensor>();
        for (int i = 0; i < args.Count; i++) scope[region.Arguments[i]] = args[i];
        _scopes.Push(scope);
        try
        {
            foreach (var op in region.Operations)
            {
                var operands = ImmutableArray.CreateRange(op.Operands, Lookup);
                if (op.Def.IsTerminator) return operands;
                var results = op.Def.Evaluate(new EvalContext(op, operands, this));
                CheckResults(op, results);
                for (int i = 0; i < results.Length; i++) scope[op.Results[i]] = results[i];
            }
            throw new IrException("region has no terminator");
        }
        finally
        {
            _scopes.Pop();
        }
    }

    private static void CheckResults(Operation op, ImmutableArray<Tensor> results)
    {
        if (results.Length != op.Results.Length)
            throw new InvalidOperationException($"{op.Name} evaluated to {results.Length} results, declared {op.Results.Length}");
        for (int i = 0; i < results.Length; i++)
            if (results[i].Type != op.Results[i].Type)
                throw new InvalidOperationException($"{op.Name} evaluated to {results[i].Type}, declared {op.Results[i].Type}");
    }

    private Tensor Lookup(Value v)
    {
        foreach (var scope in _scopes)
            if (scope.TryGetValue(v, out var t)) return t;
        throw new IrException($"use of a value with no definition in scope ({v.Type}); run the verifier first");
    }
}
