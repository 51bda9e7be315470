using System.Runtime.CompilerServices;
using GraphCompiler.IR;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>cse</c>: an op equal to an earlier one that dominates it — same definition, the same operand
/// values, equal attributes (so constants are compared by contents: type and bytes), the same result
/// types and structurally equal regions — is dropped and its results read the earlier op's. Ops free of
/// side effects (all but the collectives: <c>rng</c> is a function of its seed) compute equal values when equal;
/// an op with <see cref="OpTraits.HasSideEffects"/> (or containing one) is never merged.
/// <para>
/// Scoping follows dominance: an op inside a region may reuse an op of an enclosing region that comes
/// before it, never one inside a sibling region or one nested deeper. Lookups hash (definition,
/// operand identities, attributes, result types), so the pass is linear in the number of ops.
/// </para>
/// </summary>
public sealed class CommonSubexpressionElimination : FunctionPass
{
    public override string Name => "cse";
    public override string Description => "reuse the results of identical earlier ops";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options) => new Walk().Rewrite(f);

    private sealed class Walk : RegionRewriter
    {
        // One table per open region; the innermost is last.
        private readonly List<Dictionary<Operation, Operation>> _scopes = [];

        protected override void EnterRegion(Region region) => _scopes.Add(new Dictionary<Operation, Operation>(OpEquality.Instance));

        protected override void ExitRegion(Region region) => _scopes.RemoveAt(_scopes.Count - 1);

        protected override void Visit(Operation op)
        {
            if (op.HasSideEffects)
            {
                Emit(op);
                return;
            }
            for (int i = _scopes.Count - 1; i >= 0; i--)
            {
                if (!_scopes[i].TryGetValue(op, out var earlier)) continue;
                for (int r = 0; r < op.Results.Length; r++) Replace(op.Results[r], earlier.Results[r]);
                return;
            }
            _scopes[^1][op] = op;
            Emit(op);
        }
    }

    /// <summary>Equality of ops as computations (not as objects): see the class comment.</summary>
    private sealed class OpEquality : IEqualityComparer<Operation>
    {
        public static readonly OpEquality Instance = new();

        public bool Equals(Operation? a, Operation? b)
        {
            if (ReferenceEquals(a, b)) return true;
            if (a is null || b is null || a.Def != b.Def || a.Operands.Length != b.Operands.Length ||
                a.Results.Length != b.Results.Length || a.Regions.Length != b.Regions.Length) return false;
            for (int i = 0; i < a.Operands.Length; i++)
                if (!ReferenceEquals(a.Operands[i], b.Operands[i])) return false;
            for (int i = 0; i < a.Results.Length; i++)
                if (a.Results[i].Type != b.Results[i].Type) return false;
            if (!a.Attributes.Equals(b.Attributes)) return false;
            if (a.Regions.IsEmpty) return true;
            var corresponding = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
            for (int i = 0; i < a.Regions.Length; i++)
                if (!RegionsEqual(a.Regions[i], b.Regions[i], corresponding)) return false;
            return true;
        }

        public int GetHashCode(Operation op)
        {
            var h = new HashCode();
            h.Add(op.Def.Name);
            foreach (var v in op.Operands) h.Add(RuntimeHelpers.GetHashCode(v));
            foreach (var r in op.Results) h.Add(r.Type);
            h.Add(op.Attributes);
            h.Add(op.Regions.Length);
            return h.ToHashCode();
        }

        /// <summary>
        /// Regions are equal when they match op for op, with each value defined inside <paramref name="a"/>
        /// corresponding to the one in the same place in <paramref name="b"/> and outer values identical.
        /// </summary>
        private static bool RegionsEqual(Region a, Region b, Dictionary<Value, Value> corresponding)
        {
            if (a.Arguments.Length != b.Arguments.Length || a.Operations.Length != b.Operations.Length) return false;
            for (int i = 0; i < a.Arguments.Length; i++)
            {
                if (a.Arguments[i].Type != b.Arguments[i].Type) return false;
                corresponding[a.Arguments[i]] = b.Arguments[i];
            }
            for (int k = 0; k < a.Operations.Length; k++)
            {
                var (x, y) = (a.Operations[k], b.Operations[k]);
                if (x.Def != y.Def || x.Operands.Length != y.Operands.Length || x.Results.Length != y.Results.Length ||
                    x.Regions.Length != y.Regions.Length || !x.Attributes.Equals(y.Attributes)) return false;
                for (int i = 0; i < x.Operands.Length; i++)
                {
                    var expected = corresponding.GetValueOrDefault(x.Operands[i]) ?? x.Operands[i];
                    if (!ReferenceEquals(expected, y.Operands[i])) return false;
                }
                for (int i = 0; i < x.Regions.Length; i++)
                    if (!RegionsEqual(x.Regions[i], y.Regions[i], corresponding)) return false;
                for (int i = 0; i < x.Results.Length; i++)
                {
                    if (x.Results[i].Type != y.Results[i].Type) return false;
                    corresponding[x.Results[i]] = y.Results[i];
                }
            }
            return true;
        }
    }
}
