using System.Collections.Frozen;
using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;
using GraphCompiler.Passes.Rewrites;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>simplify</c>: algebraic simplification by the rule table in <see cref="AlgebraicRules"/>
/// (x * 1 => x, transpose of transpose => one transpose, ...), applied to every op, inside regions
/// too, until nothing matches. Only exact rewrites are in the table: for every input, NaN payloads
/// aside, the result is bit for bit what the original computes (so x + (+0.0) stays: it turns -0.0
/// into +0.0, and x * 0 => 0 holds for integers only). Replacements are themselves simplified as
/// they are built; ops left without uses are for <c>dce</c>.
/// </summary>
public sealed class AlgebraicSimplification : FunctionPass
{
    public override string Name => "simplify";
    public override string Description => "algebraic simplification by exact rewrite rules";

    /// <summary>Walks over a function until one changes nothing; a safety cap, the walks converge in two or three.</summary>
    public const int MaxWalks = 16;

    private static readonly FrozenDictionary<OpDef, ImmutableArray<RewriteRule>> RulesByOp =
        AlgebraicRules.All.GroupBy(r => r.Op).ToFrozenDictionary(g => g.Key, g => g.ToImmutableArray());

    protected override Function RunOnFunction(Function f, Module module, PassOptions options)
    {
        var g = f;
        for (int i = 0; i < MaxWalks; i++)
        {
            var next = new Walk(options).Rewrite(g);
            if (ReferenceEquals(next, g)) break;
            g = next;
        }
        return g;
    }

    /// <summary>One walk: each op goes through the rules for its definition; the first that matches replaces it.</summary>
    private sealed class Walk(PassOptions options) : RegionRewriter
    {
        private RuleContext? _context;

        protected override void Visit(Operation op)
        {
            if (op.Results.Length == 1 && RulesByOp.TryGetValue(op.Def, out var rules))
            {
                _context ??= new RuleContext(this, options);
                foreach (var rule in rules)
                {
                    if (rule.Apply(op, _context) is not { } replacement) continue;
                    Replace(op.Result, replacement);
                    return;
                }
            }
            Emit(op);
        }
    }
}

/// <summary>
/// A rewrite rule: <see cref="Apply"/> sees an op of definition <see cref="Op"/> and returns the value
/// that replaces its single result, or null when the rule does not match. The rule itself is written as
/// a comment where the table lists it.
/// </summary>
public sealed record RewriteRule(string Name, OpDef Op, Func<Operation, RuleContext, Value?> Apply)
{
    /// <summary>
    /// A rule table, checked as it is built: every rule's op must be the definition registered in
    /// <see cref="OpRegistry"/> under its name (a rule for an unregistered op would never fire), and rule
    /// names are unique. Throws <see cref="InvalidOperationException"/> naming the offending rule.
    /// </summary>
    public static ImmutableArray<RewriteRule> Table(IEnumerable<RewriteRule> rules)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var table = rules.ToImmutableArray();
        foreach (var r in table)
        {
            if (!OpRegistry.Contains(r.Op))
                throw new InvalidOperationException($"rewrite rule '{r.Name}' is for op '{r.Op.Name}', which is not a registered op definition");
            if (!names.Add(r.Name)) throw new InvalidOperationException($"rewrite rule '{r.Name}' is defined twice");
        }
        return table;
    }
}

/// <summary>What a rule may ask about the IR around an op, and how it builds replacements.</summary>
public sealed class RuleContext(RegionRewriter rewriter, PassOptions options)
{
    public PassOptions Options => options;

    /// <summary>The op defining <paramref name="v"/> (already rewritten), or null for an argument.</summary>
    public Operation? Def(Value v) => rewriter.DefiningOp(v);

    /// <summary>The op defining <paramref name="v"/> when it is of definition <paramref name="def"/>.</summary>
    public Operation? Def(Value v, OpDef def) => rewriter.DefiningOp(v) is { } d && d.Def == def ? d : null;

    /// <summary>Builds replacement ops (types inferred, the op's source name kept); they are simplified in turn.</summary>
    public Value Build(Operation op, Func<IrBuilder, Value> build) => rewriter.Build(op, build);

    /// <summary>
    /// When every element of <paramref name="v"/> is one value (a constant whose elements are all equal
    /// bit for bit, or a broadcast of one), that value as a rank-0 tensor.
    /// </summary>
    public Tensor? Splat(Value v)
    {
        var d = rewriter.DefiningOp(v);
        if (d is { Def: BroadcastInDimOp }) return Splat(d.Operands[0]);
        if (rewriter.ConstantValue(v) is not { } t || t.ElementCount == 0 || !t.IsSplat) return null;
        return Tensor.FromBytes(TensorType.Scalar(t.Element), t.ElementBytes(0));
    }

    /// <summary>An integer or bool zero splat, or a float zero of the given sign (null: either sign).</summary>
    public bool IsZero(Value v, bool? negative = null) => Splat(v) is { } s && (s.Element.IsFloat()
        ? s.GetDouble(0) == 0 && (negative is null || double.IsNegative(s.GetDouble(0)) == negative)
        : s.GetInt64(0) == 0);

    /// <summary>A splat of exactly one.</summary>
    public bool IsOne(Value v) => Splat(v) is { } s && (s.Element.IsFloat() ? s.GetDouble(0) == 1 : s.GetInt64(0) == 1);

    /// <summary>A splat with every bit set: true for bool, -1 (the maximum) for integers.</summary>
    public bool IsAllOnes(Value v) => Splat(v) is { } s && !s.Element.IsFloat() &&
        (s.Element.IsBool() ? s.GetBool(0) : s.Bytes.ToArray().All(b => b == 0xFF));

    /// <summary>
    /// A constant of <paramref name="type"/> with every element <paramref name="element"/> (a rank-0
    /// tensor): one constant when small, else a rank-0 constant broadcast, so no rule materialises a
    /// huge splat.
    /// </summary>
    public Value SplatConstant(Operation op, TensorType type, Tensor element) => Build(op, b =>
    {
        if (type.ElementCount <= options.MaxFoldElements)
        {
            var buf = new TensorBuffer(type);
            for (long i = 0; i < type.ElementCount; i++) buf.CopyElement(i, element, 0);
            return b.Constant(buf.ToTensor());
        }
        return b.BroadcastInDim(b.Constant(element), type);
    });
}
