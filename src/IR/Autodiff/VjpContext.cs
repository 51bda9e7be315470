using System.Collections.Immutable;

namespace GraphCompiler.IR.Autodiff;

/// <summary>
/// An op's vector-Jacobian product: given the cotangents of its results, returns the cotangent of each
/// operand (null where the operand gets none: integer indices, an operand <see cref="VjpContext.Needs"/>
/// says nobody asked for, or a zero). Defined with the op (<see cref="OpDef.Gradient"/>), emitted into the
/// backward pass through <see cref="VjpContext"/>.
/// </summary>
public delegate IReadOnlyList<Value?> VjpRule(VjpContext c);

/// <summary>
/// What a <see cref="VjpRule"/> sees: the forward op (whose operands and results are values the backward
/// code may read), the cotangents of its results, and a builder with the handful of ops rules are written
/// in. Every helper works in the element type of the values it is given.
/// </summary>
public sealed class VjpContext
{
    private readonly ImmutableArray<Value?> _cotangents;
    private readonly Func<Value, bool> _needs;
    private readonly Action<Value, Value> _contribute;

    internal VjpContext(IrBuilder builder, Operation op, ImmutableArray<Value?> cotangents, Func<Value, bool> needs,
        Action<Value, Value> contribute, Gradients driver)
    {
        B = builder;
        Op = op;
        _cotangents = cotangents;
        _needs = needs;
        _contribute = contribute;
        Driver = driver;
    }

    /// <summary>Where the backward ops go.</summary>
    public IrBuilder B { get; }

    /// <summary>The forward op being differentiated.</summary>
    public Operation Op { get; }

    /// <summary>The driver, for rules of ops with regions (they differentiate their bodies).</summary>
    public Gradients Driver { get; }

    public AttrReader Attr => Op.Attr;
    public Value X(int i) => Op.Operands[i];
    public Value Y(int i = 0) => Op.Results[i];

    /// <summary>The cotangent of result <paramref name="i"/>, or null when nothing downstream depends on it.</summary>
    public Value? Cotangent(int i) => _cotangents[i];

    /// <summary>The cotangent of the single result (a rule runs only when some result has one).</summary>
    public Value Dy => _cotangents[0] ?? Zeros(Y(0).Type);

    /// <summary>The cotangent of result <paramref name="i"/>, zeros when it has none.</summary>
    public Value CotangentOrZeros(int i) => _cotangents[i] ?? Zeros(Y(i).Type);

    /// <summary>Whether operand <paramref name="i"/> needs a cotangent (it depends on a differentiated argument).</summary>
    public bool Needs(int i) => _needs(Op.Operands[i]);

    /// <summary>Whether a value defined outside the op (a region capture) needs a cotangent.</summary>
    public bool NeedsValue(Value v) => _needs(v);

    /// <summary>Adds <paramref name="cotangent"/> to the cotangent of a value the op reads without an operand (a region capture).</summary>
    public void Contribute(Value v, Value cotangent) => _contribute(v, cotangent);

    public IrException Error(string message) => new($"gradient of '{Op.Name}': {message}", Op.Location);

    // ----- the ops rules are written in -----

    public Value Emit(string op, params Value[] operands) => B.Emit(op, operands);
    public Value Emit(string op, Value[] operands, params (string Name, Attr Value)[] attrs) => B.Emit(op, operands, attrs);
    public Value Add(Value a, Value b) => B.Emit("add", a, b);
    public Value Sub(Value a, Value b) => B.Emit("sub", a, b);
    public Value Mul(Value a, Value b) => B.Emit("mul", a, b);
    public Value Div(Value a, Value b) => B.Emit("div", a, b);
    public Value Neg(Value a) => B.Emit("neg", a);

    /// <summary><paramref name="v"/> in <paramref name="like"/>'s type: a scalar constant broadcast to its shape.</summary>
    public Value Const(double v, TensorType like) => B.Splat(like, v);

    public Value Const(double v, Value like) => Const(v, like.Type);
    public Value Zeros(TensorType t) => Const(0, t);
    public Value Select(Value pred, Value a, Value b) => B.Emit("select", pred, a, b);
    public Value Compare(Value a, Value b, string direction) => B.Compare(a, b, direction);
    public Value Convert(Value x, ElementType to) => x.Type.Element == to ? x : B.Convert(x, to);
    public Value Reshape(Value x, TensorType to) => x.Type == to ? x : B.Emit("reshape", [x], null, to);

    public Value Transpose(Value x, IReadOnlyList<long> perm) =>
        perm.Select((p, i) => p == i).All(b => b) ? x : B.Emit("transpose", [x], ("perm", A.Ints([.. perm])));

    public Value Reduce(Value x, string kind, IReadOnlyList<long> dims) =>
        dims.Count == 0 ? x : B.Emit("reduce", [x], ("kind", A.Enum(kind)), ("dims", A.Ints([.. dims])));

    /// <summary>Broadcasts <paramref name="x"/> to <paramref name="to"/>, its dimension i becoming <paramref name="dims"/>[i].</summary>
    public Value Broadcast(Value x, TensorType to, IReadOnlyList<long> dims) =>
        x.Type == to && dims.Select((d, i) => d == i).All(b => b) ? x : B.BroadcastInDim(x, to, [.. dims]);

    /// <summary>
    /// Broadcasts a value reduced over <paramref name="reducedDims"/> of <paramref name="to"/> back to it:
    /// the transpose of <c>reduce</c>.
    /// </summary>
    public Value BroadcastBack(Value reduced, TensorType to, IReadOnlyList<long> reducedDims)
    {
        var kept = Enumerable.Range(0, to.Rank).Where(d => !reducedDims.Contains(d)).Select(d => (long)d).ToArray();
        return Broadcast(reduced, to.WithElement(reduced.Type.Element), kept);
    }
}
