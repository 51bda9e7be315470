using System.Collections.Immutable;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Lowering;

/// <summary>
/// Raised by a lowering for input it cannot take; the importer records it against the node (with
/// <see cref="IsUnsupported"/> it becomes an "unsupported op" entry) and carries on with other nodes.
/// </summary>
public sealed class LoweringException(string message, bool isUnsupported = false, IReadOnlyList<string>? constantInputs = null) : Exception(message)
{
    public bool IsUnsupported { get; } = isUnsupported;

    /// <summary>The graph inputs whose values are needed at compile time, when that is the problem.</summary>
    public IReadOnlyList<string> ConstantInputs { get; } = constantInputs ?? [];
}

/// <summary>
/// Emits core ops for framework ops, shared by the ONNX and TensorFlow importers. It tracks the
/// values known at import time (initializers, constants and anything computed only from them,
/// evaluated by the reference interpreter when asked for: <see cref="KnownValues"/>), because
/// framework graphs compute shapes, axes and sizes as tensors that a static-shape compiler needs as numbers.
/// </summary>
public sealed class Lowerer
{
    /// <summary>Results above this size are not evaluated at import time (they stay ops; folding may do it later).</summary>
    public const long MaxKnownElements = 1 << 22;

    private readonly KnownValues _known;

    public IrBuilder B { get; }

    public Lowerer(IrBuilder builder, Lowerer? parent = null)
    {
        B = builder;
        // A nested region sees the constants of the enclosing ones.
        _known = new KnownValues(parent?._known);
    }

    /// <summary>A lowerer for a nested region built by <paramref name="inner"/>.</summary>
    public Lowerer Nested(IrBuilder inner) => new(inner, this);

    // ---- emitting ----------------------------------------------------------------------------------

    public ImmutableArray<Value> EmitMulti(string op, IReadOnlyList<Value> operands, AttrMap? attrs = null,
        IReadOnlyList<TensorType>? resultTypes = null, IReadOnlyList<Region>? regions = null)
    {
        ImmutableArray<Value> results;
        try
        {
            results = B.EmitMulti(op, operands, attrs, resultTypes, regions);
        }
        catch (IrException e)
        {
            throw new LoweringException(e.Message);
        }
        // Evaluated when asked for (KnownValues), like every value computed from known ones.
        if (regions is null or { Count: 0 } && operands.All(_known.Contains) && results.All(r => r.Type.ElementCount <= MaxKnownElements))
            _known.Defer(B.LastOperation!, operands);
        return results;
    }

    public Value Emit(string op, IReadOnlyList<Value> operands, AttrMap? attrs = null, TensorType? resultType = null) =>
        EmitMulti(op, operands, attrs, resultType is null ? null : [resultType])[0];

    public Value Emit(string op, params Value[] operands) => Emit(op, operands, (AttrMap?)null);

    public Value Emit(string op, Value[] operands, params (string, Attr)[] attrs) => Emit(op, operands, AttrMap.Of(attrs));

    /// <summary>
    /// The values <paramref name="v"/> is computed from that are not known at import time and have no
    /// defining op here (arguments of the function or of an enclosing region).
    /// </summary>
    public IReadOnlyList<Value> UnknownSources(Value v)
    {
        var defs = new Dictionary<Value, Operation>(ReferenceEqualityComparer.Instance);
        foreach (var op in B.Operations)
            foreach (var r in op.Results) defs[r] = op;
        var seen = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        var sources = new List<Value>();
        var stack = new Stack<Value>([v]);
        while (stack.Count > 0)
        {
            var x = stack.Pop();
            if (!seen.Add(x) || _known.Get(x) is not null) continue;
            if (defs.TryGetValue(x, out var op))
                foreach (var o in op.Operands) stack.Push(o);
            else sources.Add(x);
        }
        return sources;
    }

    /// <summary>The value's contents when known at import time, else null.</summary>
    public Tensor? Known(Value v) => _known.Get(v);

    public void MarkKnown(Value v, Tensor t) => _known.Set(v, t);

    // ---- constants ---------------------------------------------------------------------------------

    public Value Constant(Tensor t)
    {
        var v = Emit("constant", [], AttrMap.Of(("value", new TensorAttr(t))), t.Type);
        _known.Set(v, t);
        return v;
    }

    public Value Scalar(ElementType e, double value) => Constant(Tensor.Scalar(e, value));

    public Value Ints(ElementType e, params long[] values) =>
        Constant(Tensor.FromInt64s(new TensorType(e, values.Length), values));

    /// <summary>A tensor of <paramref name="like"/>'s type filled with <paramref name="value"/>.</summary>
    public Value Fill(TensorType like, double value) => Broadcast(Scalar(like.Element, value), like.Shape);

    public Value Full(Value like, double value) => Fill(like.Type, value);

    // ---- shapes and broadcasting ---------------------------------------------------------------------

    public static int Axis(long axis, int rank, string what = "axis")
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= Math.Max(rank, 1) || (rank == 0 && axis is not (0 or -1)))
            throw new LoweringException($"{what} {axis} is out of range for rank {rank}");
        return (int)a;
    }

    /// <summary>NumPy's multidirectional broadcast of two shapes; throws with both shapes when incompatible.</summary>
    public static ImmutableArray<long> BroadcastShape(ImmutableArray<long> a, ImmutableArray<long> b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var r = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            long da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            long db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new LoweringException($"shapes [{string.Join(", ", a)}] and [{string.Join(", ", b)}] do not broadcast");
            r[i] = da == 1 ? db : da;
        }
        return [.. r];
    }

    /// <summary>Broadcasts (NumPy rules: align right, expand size-1 dims) to <paramref name="shape"/>; a no-op when equal.</summary>
    public Value Broadcast(Value v, ImmutableArray<long> shape)
    {
        var s = v.Type.Shape;
        if (s.SequenceEqual(shape)) return v;
        if (s.Length > shape.Length) throw new LoweringException($"cannot broadcast {v.Type} to [{string.Join(", ", shape)}]");
        int offset = shape.Length - s.Length;
        var dims = new long[s.Length];
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != 1 && s[i] != shape[offset + i])
                throw new LoweringException($"cannot broadcast {v.Type} to [{string.Join(", ", shape)}]");
            dims[i] = offset + i;
        }
        return Emit("broadcast_in_dim", [v], AttrMap.Of(("dims", new IntArrayAttr([.. dims]))), v.Type.WithShape(shape));
    }

    /// <summary>An elementwise binary op with NumPy broadcasting of both operands.</summary>
    public Value Binary(string op, Value a, Value b)
    {
        var shape = BroadcastShape(a.Type.Shape, b.Type.Shape);
        return Emit(op, Broadcast(a, shape), Broadcast(b, shape));
    }

    public Value Compare(string direction, Value a, Value b)
    {
        var shape = BroadcastShape(a.Type.Shape, b.Type.Shape);
        return Emit("compare", [Broadcast(a, shape), Broadcast(b, shape)], ("direction", new EnumAttr(direction)));
    }

    public Value Select(Value pred, Value onTrue, Value onFalse)
    {
        var shape = BroadcastShape(BroadcastShape(pred.Type.Shape, onTrue.Type.Shape), onFalse.Type.Shape);
        return Emit("select", Broadcast(pred, shape), Broadcast(onTrue, shape), Broadcast(onFalse, shape));
    }

    public Value Convert(Value v, ElementType to) => v.Type.Element == to ? v : Emit("convert", [v], null, v.Type.WithElement(to));

    public Value Reshape(Value v, params long[] shape) =>
        v.Type.Shape.SequenceEqual(shape) ? v : Emit("reshape", [v], null, new TensorType(v.Type.Element, shape));

    public Value Transpose(Value v, params long[] perm)
    {
        bool identity = true;
        for (int i = 0; i < perm.Length; i++) identity &= perm[i] == i;
        return identity ? v : Emit("transpose", [v], ("perm", new IntArrayAttr([.. perm])));
    }

    /// <summary>Reduces over <paramref name="axes"/> (already normalised), keeping them as size 1 when asked.</summary>
    public Value Reduce(Value v, string kind, IReadOnlyCollection<int> axes, bool keepDims)
    {
        var sorted = axes.Distinct().Order().Select(a => (long)a).ToArray();
        var r = Emit("reduce", [v], ("kind", new EnumAttr(kind)), ("dims", new IntArrayAttr([.. sorted])));
        if (!keepDims) return r;
        var shape = v.Type.Shape.ToArray();
        foreach (var a in sorted) shape[a] = 1;
        return Reshape(r, shape);
    }

    /// <summary>Integer tensor contents as longs (for shapes, axes, sizes); the value must be known.</summary>
    public long[] KnownInts(Value v, string what)
    {
        var t = Known(v) ?? throw new LoweringException($"{what} must be a constant (computed at import time from constants), but depends on inputs");
        if (!t.Element.IsInteger() && t.Element != ElementType.Bool && !t.Element.IsFloat())
            throw new LoweringException($"{what} must be numeric, got {t.Type}");
        return [.. Enumerable.Range(0, (int)t.ElementCount).Select(i => t.GetInt64(i))];
    }
}
