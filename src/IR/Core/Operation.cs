using System.Collections.Immutable;

namespace GraphCompiler.IR;

/// <summary>
/// One operation: its definition, operands, attributes, results and nested regions. Immutable; passes
/// build new operations (see <see cref="With"/>, which returns this object when nothing changes).
/// </summary>
public sealed class Operation
{
    public OpDef Def { get; }
    public ImmutableArray<Value> Operands { get; }
    public AttrMap Attributes { get; }
    public ImmutableArray<Value> Results { get; }
    public ImmutableArray<Region> Regions { get; }

    /// <summary>Where the parser read this op from, for diagnostics.</summary>
    public SourceLocation? Location { get; }

    /// <summary>The framework node this op came from (e.g. a TensorFlow node name), printed as <c>loc("...")</c>.</summary>
    public string? SourceName { get; }

    public Operation(OpDef def, ImmutableArray<Value> operands, AttrMap attributes, ImmutableArray<Value> results,
        ImmutableArray<Region> regions = default, SourceLocation? location = null, string? sourceName = null)
    {
        Def = def;
        Operands = operands.IsDefault ? [] : operands;
        Attributes = def.Normalize(attributes);
        Results = results.IsDefault ? [] : results;
        Regions = regions.IsDefault ? [] : regions;
        Location = location;
        SourceName = sourceName;
    }

    public string Name => Def.Name;
    public Value Result => Results.Length == 1 ? Results[0] : throw new InvalidOperationException($"{Name} has {Results.Length} results");
    public TensorType ResultType(int i = 0) => Results[i].Type;
    public ImmutableArray<TensorType> ResultTypes => [.. Results.Select(r => r.Type)];
    public ImmutableArray<TensorType> OperandTypes => [.. Operands.Select(r => r.Type)];

    /// <summary>Whether this op, or any op nested in its regions, has <see cref="OpTraits.HasSideEffects"/>.</summary>
    public bool HasSideEffects =>
        Def.Has(OpTraits.HasSideEffects) || Regions.Any(r => r.Operations.Any(o => o.HasSideEffects));

    public AttrReader Attr => new(Def, Attributes, Location);

    /// <summary>A copy with some parts replaced; returns this instance when every part is unchanged.</summary>
    public Operation With(ImmutableArray<Value>? operands = null, AttrMap? attributes = null,
        ImmutableArray<Region>? regions = null, ImmutableArray<Value>? results = null)
    {
        var o = operands ?? Operands;
        var a = attributes ?? Attributes;
        var r = regions ?? Regions;
        var res = results ?? Results;
        if (o.SequenceEqual(Operands) && a.Equals(Attributes) && r.SequenceEqual(Regions) && res.SequenceEqual(Results)) return this;
        return new Operation(Def, o, a, res, r, Location, SourceName);
    }

    /// <summary>
    /// This op reading every operand — its own and those of the ops in its regions — through <paramref name="map"/>
    /// (values not in it stay); this instance when nothing changes. Results keep their identity.
    /// </summary>
    public Operation MapOperands(IReadOnlyDictionary<Value, Value> map) => With(
        operands: [.. Operands.Select(v => map.GetValueOrDefault(v) ?? v)],
        regions: [.. Regions.Select(r => r.WithOperations([.. r.Operations.Select(o => o.MapOperands(map))]))]);

    public override string ToString() => Text.Printer.PrintOperation(this);
}

/// <summary>Typed access to an operation's attributes, falling back to the op definition's defaults.</summary>
public readonly struct AttrReader(OpDef def, AttrMap attributes, SourceLocation? location)
{
    private Attr Get(string name) =>
        attributes[name] ?? def.DefaultOf(name) ?? throw new IrException($"'{def.Name}' has no attribute '{name}'", location);

    public bool Has(string name) => attributes[name] is not null;
    public long Int(string name) => ((IntAttr)Get(name)).Value;
    public int Int32(string name) => checked((int)Int(name));
    public bool Bool(string name) => ((BoolAttr)Get(name)).Value;
    public string Enum(string name) => ((EnumAttr)Get(name)).Value;
    public string String(string name) => ((StringAttr)Get(name)).Value;
    public string Symbol(string name) => ((SymbolAttr)Get(name)).Name;
    public ImmutableArray<long> Ints(string name) => ((IntArrayAttr)Get(name)).Values;
    public int[] Ints32(string name) => [.. Ints(name).Select(v => checked((int)v))];

    public double Float(string name) => Get(name) switch
    {
        FloatAttr f => f.Value,
        IntAttr i => i.Value,
        var a => throw new IrException($"'{def.Name}' attribute '{name}' is {a}, expected a number", location),
    };

    public Tensor Tensor(string name) => Get(name) switch
    {
        TensorAttr t => t.Value,
        ElidedTensorAttr e => throw new IrException($"constant contents were elided from the printed IR (hash {e.Hash}); print with full constants to evaluate", location),
        var a => throw new IrException($"'{def.Name}' attribute '{name}' is {a}, expected a tensor", location),
    };
}

/// <summary>
/// A region: one block of operations with its own arguments, ending in a terminator (<c>yield</c> in
/// nested regions, <c>return</c> in a function body). Values of enclosing regions may be used inside.
/// </summary>
public sealed class Region(ImmutableArray<Value> arguments, ImmutableArray<Operation> operations)
{
    public ImmutableArray<Value> Arguments { get; } = arguments.IsDefault ? [] : arguments;
    public ImmutableArray<Operation> Operations { get; } = operations.IsDefault ? [] : operations;

    public Operation? Terminator => Operations.Length > 0 && Operations[^1].Def.IsTerminator ? Operations[^1] : null;

    /// <summary>The values the terminator yields or returns.</summary>
    public ImmutableArray<Value> Yielded => Terminator?.Operands ?? [];

    public Region WithOperations(ImmutableArray<Operation> ops) => ops.SequenceEqual(Operations) ? this : new Region(Arguments, ops);
}
