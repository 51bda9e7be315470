using System.Collections.Immutable;

namespace GraphCompiler.IR;

/// <summary>Compact attribute constructors for builders and tests: <c>A.Ints(0, 1)</c>, <c>A.Enum("sum")</c>.</summary>
public static class A
{
    public static IntAttr Int(long v) => new(v);
    public static FloatAttr Float(double v) => new(v);
    public static BoolAttr Bool(bool v) => new(v);
    public static EnumAttr Enum(string v) => new(v);
    public static SymbolAttr Symbol(string name) => new(name);
    public static IntArrayAttr Ints(params long[] v) => new([.. v]);
    public static TensorAttr Tensor(Tensor t) => new(t);
}

/// <summary>
/// Appends operations to one region, inferring result types through the op definitions. Misuse (an
/// invalid op) throws <see cref="IrException"/>: builders are driven by code, so that is a bug there.
/// </summary>
public sealed class IrBuilder
{
    private readonly ImmutableArray<Operation>.Builder _ops = ImmutableArray.CreateBuilder<Operation>();
    private readonly Func<string, Function?>? _resolve;

    public IrBuilder(Func<string, Function?>? resolveFunction = null) => _resolve = resolveFunction;

    /// <summary>Source name attached to ops built from now on (e.g. the framework node being lowered).</summary>
    public string? SourceName { get; set; }

    public ImmutableArray<Operation> Operations => _ops.ToImmutable();

    /// <summary>The op appended last, without copying <see cref="Operations"/> (importers ask after every op).</summary>
    public Operation? LastOperation => _ops.Count > 0 ? _ops[^1] : null;

    /// <summary>Appends an already-built (and valid) op as it is, e.g. a copy of one elsewhere.</summary>
    public void Append(Operation op) => _ops.Add(op);

    /// <summary>Appends an op and returns its results.</summary>
    public ImmutableArray<Value> EmitMulti(string opName, IReadOnlyList<Value> operands, AttrMap? attrs = null,
        IReadOnlyList<TensorType>? resultTypes = null, IReadOnlyList<Region>? regions = null)
    {
        var def = OpRegistry.Get(opName);
        attrs ??= AttrMap.Empty;
        var regionArray = regions is null ? ImmutableArray<Region>.Empty : [.. regions];
        var sig = new OpSignature(def, [.. operands.Select(o => o.Type)], attrs,
            resultTypes is null ? [] : [.. resultTypes], regionArray, _resolve);
        ImmutableArray<TensorType> types;
        try
        {
            Verifier.CheckSignature(def, sig);
            types = def.InferResultTypes(sig);
        }
        catch (IrException e)
        {
            throw new IrException($"'{opName}': {e.Message}", e.Location);
        }
        var results = ImmutableArray.CreateRange(types, t => new Value(t));
        _ops.Add(new Operation(def, [.. operands], attrs, results, regionArray, sourceName: SourceName));
        return results;
    }

    public Value Emit(string opName, IReadOnlyList<Value> operands, AttrMap? attrs = null, TensorType? resultType = null,
        IReadOnlyList<Region>? regions = null)
    {
        var r = EmitMulti(opName, operands, attrs, resultType is null ? null : [resultType], regions);
        return r.Length == 1 ? r[0] : throw new ArgumentException($"'{opName}' has {r.Length} results; use EmitMulti");
    }

    public Value Emit(string opName, params Value[] operands) => Emit(opName, operands, (AttrMap?)null);

    public Value Emit(string opName, Value[] operands, params (string Name, Attr Value)[] attrs) =>
        Emit(opName, operands, AttrMap.Of(attrs));

    public Value Constant(Tensor t) => Emit("constant", [], AttrMap.Of(("value", new TensorAttr(t))), t.Type);

    public Value Scalar(ElementType type, double v) => Constant(Tensor.Scalar(type, v));

    /// <summary><paramref name="v"/> in every element of <paramref name="type"/>: a scalar constant, broadcast unless rank 0 (it fuses into its readers).</summary>
    public Value Splat(TensorType type, double v)
    {
        var s = Scalar(type.Element, v);
        return type.Rank == 0 ? s : BroadcastInDim(s, type);
    }

    public Value Constant(TensorType type, params double[] values) => Constant(Tensor.FromDoubles(type, values));

    public Value Convert(Value x, ElementType to) => Emit("convert", [x], null, x.Type.WithElement(to));

    public Value Reshape(Value x, params long[] shape) => Emit("reshape", [x], null, new TensorType(x.Type.Element, shape));

    public Value BroadcastInDim(Value x, TensorType to, params long[] dims) =>
        Emit("broadcast_in_dim", [x], AttrMap.Of(("dims", A.Ints(dims))), to);

    public Value Compare(Value a, Value b, string direction) => Emit("compare", [a, b], ("direction", A.Enum(direction)));

    /// <summary>Builds a nested region: <paramref name="body"/> receives a builder and the region arguments and returns the yielded values.</summary>
    public Region Region(IReadOnlyList<TensorType> argumentTypes, Func<IrBuilder, ImmutableArray<Value>, IReadOnlyList<Value>> body)
    {
        var args = argumentTypes.Select(t => new Value(t)).ToImmutableArray();
        var inner = new IrBuilder(_resolve) { SourceName = SourceName };
        var yields = body(inner, args);
        inner.Terminate("yield", yields);
        return new Region(args, inner.Operations);
    }

    public void Terminate(string terminator, IReadOnlyList<Value> values) => EmitMulti(terminator, values);
}

/// <summary>Builds a function: declare arguments, emit the body through <see cref="Body"/>, then <see cref="Return"/>.</summary>
public sealed class FunctionBuilder
{
    private readonly string _name;
    private readonly List<Value> _args = [];
    private readonly List<ArgumentInfo> _argInfos = [];

    public FunctionBuilder(string name = "main", Func<string, Function?>? resolveFunction = null)
    {
        _name = name;
        Body = new IrBuilder(resolveFunction);
    }

    public IrBuilder Body { get; }

    public Value Arg(TensorType type, string? name = null, bool variable = false)
    {
        var v = new Value(type);
        _args.Add(v);
        _argInfos.Add(new ArgumentInfo(name, variable));
        return v;
    }

    public Value Arg(ElementType e, params long[] shape) => Arg(new TensorType(e, shape));

    /// <summary>Finishes the function; <paramref name="resultInfos"/> may name results and mark variable updates.</summary>
    public Function Return(IReadOnlyList<Value> results, IReadOnlyList<ResultInfo>? resultInfos = null)
    {
        Body.Terminate("return", results);
        return new Function(_name, new Region([.. _args], Body.Operations), [.. results.Select(r => r.Type)],
            [.. _argInfos], resultInfos is null ? default : [.. resultInfos]);
    }

    public Function Return(params Value[] results) => Return(results, null);
}
