using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// Rebuilds a region op by op, the shared engine of the rewriting passes. For each op it maps the
/// operands through the replacement map, rewrites the nested regions first (so a region sees every
/// replacement made before its op), and hands the op to <see cref="Visit"/>, which keeps it
/// (<see cref="Emit"/>), drops it after mapping its results elsewhere (<see cref="Replace"/>), or emits
/// other ops instead. Terminators are always emitted. Nothing changed means the same
/// <see cref="Region"/> object comes back, as the pass contract requires.
/// <para>
/// Subclass it (or pass a delegate to the constructor) per walk: an instance holds the state of one
/// walk over one function. <see cref="DefiningOp"/> answers for every op emitted so far, in this region
/// or an enclosing one, so pattern matching looks at the already-rewritten producers.
/// <see cref="EnterRegion"/>/<see cref="ExitRegion"/> bracket each region for passes that keep scoped
/// state (CSE).
/// </para>
/// </summary>
public class RegionRewriter
{
    private readonly Dictionary<Value, Value> _map = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Value, Operation> _defs = new(ReferenceEqualityComparer.Instance);
    private readonly Stack<List<Operation>> _out = new();
    private readonly Action<Operation, RegionRewriter>? _visit;

    public RegionRewriter(Action<Operation, RegionRewriter>? visit = null) => _visit = visit;

    /// <summary>The value <paramref name="v"/> now stands for (following chains of replacements).</summary>
    public Value Map(Value v)
    {
        while (_map.TryGetValue(v, out var w)) v = w;
        return v;
    }

    /// <summary>Makes later uses of <paramref name="from"/> read <paramref name="to"/> (which must have its type).</summary>
    public void Replace(Value from, Value to)
    {
        if (from.Type != to.Type) throw new InvalidOperationException($"replacing a {from.Type} value with a {to.Type} one");
        if (!ReferenceEquals(from, to)) _map[from] = to;
    }

    /// <summary>The emitted op that defines <paramref name="v"/>, or null for arguments (and values not yet emitted).</summary>
    public Operation? DefiningOp(Value v) => _defs.GetValueOrDefault(Map(v));

    /// <summary>The contents of <paramref name="v"/> when a <c>constant</c> with known (not elided) contents defines it.</summary>
    public Tensor? ConstantValue(Value v) =>
        DefiningOp(v) is { Def: ConstantOp } c && c.Attributes["value"] is TensorAttr t ? t.Value : null;

    /// <summary>Appends <paramref name="op"/> to the region being rebuilt.</summary>
    public void Emit(Operation op)
    {
        _out.Peek().Add(op);
        foreach (var r in op.Results) _defs[r] = op;
    }

    /// <summary>Nesting depth of the region being rebuilt (1 for a function body).</summary>
    public int Depth => _out.Count;

    public Function Rewrite(Function f) => f.WithBody(Rewrite(f.Body));

    public Region Rewrite(Region region)
    {
        EnterRegion(region);
        _out.Push(new List<Operation>(region.Operations.Length));
        foreach (var original in region.Operations)
        {
            var op = original;
            ImmutableArray<Value>.Builder? operands = null;
            for (int i = 0; i < op.Operands.Length; i++)
            {
                var m = Map(op.Operands[i]);
                if (operands is null && !ReferenceEquals(m, op.Operands[i]))
                {
                    operands = ImmutableArray.CreateBuilder<Value>(op.Operands.Length);
                    operands.AddRange(op.Operands, i);
                }
                operands?.Add(m);
            }
            ImmutableArray<Region>? regions = op.Regions.IsEmpty ? null : [.. op.Regions.Select(Rewrite)];
            op = op.With(operands: operands?.MoveToImmutable(), regions: regions);
            if (op.Def.IsTerminator) Emit(op);
            else Visit(op);
        }
        var ops = _out.Pop();
        ExitRegion(region);
        return region.WithOperations([.. ops]);
    }

    /// <summary>Decides what becomes of one op (operands mapped, regions rewritten). The default keeps it.</summary>
    protected virtual void Visit(Operation op)
    {
        if (_visit is null) Emit(op);
        else _visit(op, this);
    }

    protected virtual void EnterRegion(Region region) { }

    protected virtual void ExitRegion(Region region) { }

    /// <summary>
    /// Builds ops for a replacement through an <see cref="IrBuilder"/> (types inferred, the replaced
    /// op's source name kept) and sends each through <see cref="Visit"/>, so replacements are
    /// rewritten in turn. Returns what <paramref name="build"/> returned, mapped.
    /// </summary>
    public Value Build(Operation replaced, Func<IrBuilder, Value> build)
    {
        var b = new IrBuilder { SourceName = replaced.SourceName };
        var v = build(b);
        foreach (var op in b.Operations) Visit(op.With(operands: [.. op.Operands.Select(Map)]));
        return Map(v);
    }
}
