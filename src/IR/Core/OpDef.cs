using System.Collections.Immutable;

namespace GraphCompiler.IR;

/// <summary>
/// The single definition of an op kind: its name, operand and attribute signature, regions, result
/// type inference (which is also its verifier) and its reference semantics. Adding an op means adding
/// one subclass (or one row in a family table) and registering it in <see cref="OpRegistry"/>.
/// </summary>
public abstract class OpDef
{
    protected OpDef(string name) => Name = name;

    public string Name { get; }

    /// <summary>Fewest operands.</summary>
    public virtual int MinOperands => 0;

    /// <summary>Most operands; -1 for any number.</summary>
    public virtual int MaxOperands => MinOperands;

    public virtual ImmutableArray<AttrSpec> Attributes => [];

    /// <summary>Names of the regions, printed before each region's body.</summary>
    public virtual ImmutableArray<string> RegionNames => [];

    /// <summary>When true the op takes any number of regions, all named by the single entry of <see cref="RegionNames"/>.</summary>
    public virtual bool VariadicRegions => false;

    public virtual bool IsTerminator => false;

    /// <summary>
    /// When true the result types are part of the op's input (constant, iota, convert, reshape, ...):
    /// <see cref="InferResultTypes"/> receives them in <see cref="OpSignature.Declared"/> and validates them.
    /// </summary>
    public virtual bool TakesResultTypes => false;

    /// <summary>
    /// Computes the result types from operand types, attributes, regions (and declared types where
    /// <see cref="TakesResultTypes"/>), throwing <see cref="IrException"/> with a precise message when the
    /// combination is invalid. Attribute kinds and operand counts have been checked already.
    /// </summary>
    public abstract ImmutableArray<TensorType> InferResultTypes(OpSignature sig);

    /// <summary>Reference semantics: computes the results from the operand values. Exact, simple, slow.</summary>
    public abstract ImmutableArray<Tensor> Evaluate(EvalContext ctx);

    public Attr? DefaultOf(string name) => Spec(name)?.Default;

    /// <summary>
    /// Canonical attributes: integers given for float attributes become floats, and attributes equal to
    /// their defaults are dropped, so that equal ops have equal attribute maps.
    /// </summary>
    public AttrMap Normalize(AttrMap attrs)
    {
        var result = attrs;
        foreach (var (name, value) in attrs.Items)
        {
            var spec = Spec(name);
            var v = spec is { Kind: AttrKind.Float } && value is IntAttr i ? new FloatAttr(i.Value) : value;
            if (spec?.Default is { } d && d.Equals(v)) result = result.Without(name);
            else if (!ReferenceEquals(v, value)) result = result.With(name, v);
        }
        return result;
    }

    public AttrSpec? Spec(string name)
    {
        foreach (var a in Attributes)
            if (a.Name == name) return a;
        // Placement is an annotation every op may carry, not part of any op's signature.
        return name == Placement.AttrName ? Placement.Spec : null;
    }

    public override string ToString() => Name;
}

/// <summary>What type inference sees of an operation.</summary>
public sealed class OpSignature(
    OpDef def,
    ImmutableArray<TensorType> operands,
    AttrMap attributes,
    ImmutableArray<TensorType> declared,
    ImmutableArray<Region> regions,
    Func<string, Function?>? resolveFunction = null,
    SourceLocation? location = null)
{
    public OpDef Def { get; } = def;
    public ImmutableArray<TensorType> Operands { get; } = operands;
    public AttrMap AttributeMap { get; } = attributes;
    public ImmutableArray<TensorType> Declared { get; } = declared.IsDefault ? [] : declared;
    public ImmutableArray<Region> Regions { get; } = regions.IsDefault ? [] : regions;
    public SourceLocation? Location { get; } = location;

    public AttrReader Attr => new(Def, AttributeMap, Location);
    public TensorType Operand(int i) => Operands[i];

    /// <summary>The declared result type <paramref name="i"/>; an error when the op was given none.</summary>
    public TensorType DeclaredType(int i = 0) =>
        i < Declared.Length ? Declared[i] : throw Error($"needs its result type{(i > 0 ? $" #{i}" : "")} to be given");

    /// <summary>A function of the enclosing module, or null when it is not known (or not yet built).</summary>
    public Function? ResolveFunction(string name) => resolveFunction?.Invoke(name);

    /// <summary>An error about this op; the verifier prefixes the op's name and position.</summary>
    public IrException Error(string message) => new(message, Location);
}

/// <summary>What the interpreter hands an op's <see cref="OpDef.Evaluate"/>.</summary>
public sealed class EvalContext(Operation op, ImmutableArray<Tensor> operands, Interpreter interpreter)
{
    public Operation Op { get; } = op;
    public ImmutableArray<Tensor> Operands { get; } = operands;
    public Interpreter Interpreter { get; } = interpreter;
    public AttrReader Attr => Op.Attr;
    public Tensor Operand(int i) => Operands[i];
    public TensorType ResultType(int i = 0) => Op.Results[i].Type;

    /// <summary>Runs region <paramref name="index"/> of this op with the given arguments; returns what it yields.</summary>
    public ImmutableArray<Tensor> RunRegion(int index, IReadOnlyList<Tensor> args) => Interpreter.RunRegion(Op.Regions[index], args);

    public IrException Error(string message) => new($"'{Op.Name}': {message}", Op.Location);
}
