using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Import;

/// <summary>
/// A resource handle or reference variable flowing through the graph (VariableV2's ref output,
/// VarHandleOp's handle, a resource function argument). It is not a tensor: ReadVariableOp, Identity
/// of a ref, or any op taking it as data reads the variable's current value.
/// </summary>
public sealed record TfResource(string Variable);

/// <summary>A variable of the import: frozen from the checkpoint, or a function argument (tfcompile config).</summary>
internal sealed class TfVariable(string name)
{
    public string Name { get; } = name;

    /// <summary>The frozen value, for checkpoint variables.</summary>
    public Tensor? Frozen { get; init; }

    /// <summary>The argument, for variables in a tfcompile config.</summary>
    public Value? Argument { get; init; }

    public bool ReadOnly { get; init; }

    /// <summary>The value after the latest Assign lowered so far (config variables only).</summary>
    public Value? Updated { get; set; }

    /// <summary>The lowerer the update was emitted in (updates must stay at the top level).</summary>
    public object? UpdatedIn { get; set; }
}

/// <summary>State shared by a whole TensorFlow import.</summary>
internal sealed class TfImportContext(ImportProblems problems, FunctionDefLibrary? library)
{
    private readonly Dictionary<string, FunctionDef> _functions =
        (library?.Function ?? []).GroupBy(f => f.Signature?.Name ?? "").ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

    // GradientDef: function → the library function TF calls for its SymbolicGradient.
    private readonly Dictionary<string, string> _gradients =
        (library?.Gradient ?? []).GroupBy(g => g.FunctionName).ToDictionary(g => g.Key, g => g.First().GradientFunc, StringComparer.Ordinal);

    public ImportProblems Problems { get; } = problems;

    /// <summary>Variables by the name the graph's variable node gives (node name or shared_name).</summary>
    public Dictionary<string, TfVariable> Variables { get; } = new(StringComparer.Ordinal);

    /// <summary>Checkpoint values by key, and variable node name → checkpoint key (from the graph's restore ops).</summary>
    public IReadOnlyDictionary<string, Tensor> Checkpoint { get; set; } = new Dictionary<string, Tensor>();

    public Dictionary<string, string> CheckpointKeys { get; } = new(StringComparer.Ordinal);

    /// <summary>The lowerer of the imported function's body (variable updates must be emitted there).</summary>
    public Lowering.Lowerer? TopLevel { get; set; }

    /// <summary>
    /// Makes an uninitialised variable (no checkpoint value) a variable argument; null when it cannot. The
    /// type is the one first written to it when the graph does not state one (a resource _Arg that is only assigned).
    /// </summary>
    public Func<string, TensorType?, TfVariable?>? MakeArgumentVariable { get; set; }

    /// <summary>A Switch predicate's rank-0 form, one per source value, so that Switches on one predicate pair up.</summary>
    public Dictionary<Value, Value> ScalarPredicates { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>Nodes inside TF1 while frames: their values exist only inside the loop regions.</summary>
    public HashSet<string> LoopMembers { get; } = new(StringComparer.Ordinal);

    /// <summary>Depth of function inlining, to stop runaway recursion.</summary>
    public int CallDepth { get; set; }

    public FunctionDef? Function(string name) => _functions.GetValueOrDefault(name);

    public bool IsFunction(string name) => _functions.ContainsKey(name);

    /// <summary>The gradient function the library registers for function <paramref name="name"/> (a GradientDef), or null.</summary>
    public string? GradientOf(string name) => _gradients.GetValueOrDefault(name);
}
