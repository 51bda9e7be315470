using System.Collections.Immutable;
using GraphCompiler.IR.Text;

namespace GraphCompiler.IR;

/// <summary>
/// Checks the IR's invariants: SSA (each value defined once, used only where its definition
/// dominates), operand counts, attribute presence and kinds, result types equal to what the op's
/// definition infers, terminators, function signatures and variable updates. Like MLIR's verifier it
/// stops at the first error: later ones are usually its consequences.
/// </summary>
public static class Verifier
{
    public static IReadOnlyList<Diagnostic> Verify(Module m)
    {
        var diags = new List<Diagnostic>();
        var names = new HashSet<string>();
        foreach (var f in m.Functions)
        {
            if (!names.Add(f.Name)) diags.Add(new Diagnostic($"function @{f.Name} is defined twice", f.Location));
            else diags.AddRange(Verify(f, m));
            if (diags.Count > 0) break;
        }
        return diags;
    }

    public static IReadOnlyList<Diagnostic> Verify(Function f, Module? module = null)
    {
        var ctx = new Context(f, module);
        try
        {
            ctx.CheckFunction();
        }
        catch (FirstErrorFound)
        {
        }
        return ctx.Diagnostics;
    }

    /// <summary>The checks that need no surrounding IR: operand count, attributes, region count. Throws <see cref="IrException"/>.</summary>
    public static void CheckSignature(OpDef def, OpSignature sig)
    {
        int n = sig.Operands.Length;
        if (n < def.MinOperands || (def.MaxOperands >= 0 && n > def.MaxOperands))
        {
            string expected = def.MaxOperands < 0 ? $"at least {def.MinOperands}" :
                def.MinOperands == def.MaxOperands ? $"{def.MinOperands}" : $"{def.MinOperands} to {def.MaxOperands}";
            throw sig.Error($"takes {expected} operand(s), got {n}");
        }
        foreach (var (name, value) in sig.AttributeMap.Items)
        {
            var spec = def.Spec(name) ?? throw sig.Error(
                $"unknown attribute '{name}'" + (def.Attributes.IsEmpty ? " (it takes none)" : $" (it takes {string.Join(", ", def.Attributes.Select(a => a.Name))})"));
            if (!spec.Accepts(value)) throw sig.Error($"attribute '{name}' must be {spec.Describe()}, got {Printer.FormatAttr(value)}");
        }
        foreach (var spec in def.Attributes)
            if (spec.Required && sig.AttributeMap[spec.Name] is null) throw sig.Error($"missing required attribute '{spec.Name}'");
        if (!def.VariadicRegions && sig.Regions.Length != def.RegionNames.Length)
            throw sig.Error($"takes {def.RegionNames.Length} region(s), got {sig.Regions.Length}");
        foreach (var t in sig.Declared)
            if (t.Problem is { } p) throw sig.Error($"invalid result type: {p}");
    }

    private sealed class FirstErrorFound : Exception;

    /// <summary>Collects diagnostics; the first one ends the walk (see the class comment).</summary>
    private sealed class DiagnosticList : List<Diagnostic>
    {
        public new void Add(Diagnostic d)
        {
            base.Add(d);
            throw new FirstErrorFound();
        }
    }

    private sealed class Context(Function function, Module? module)
    {
        public readonly DiagnosticList Diagnostics = [];
        private readonly ValueNames _names = new(function);
        private readonly HashSet<Value> _defined = new(ReferenceEqualityComparer.Instance);
        private readonly List<HashSet<Value>> _visible = []; // per open region, what it defines
        private readonly HashSet<Value> _visibleAll = new(ReferenceEqualityComparer.Instance); // their union: O(1) lookups at any depth

        public void CheckFunction()
        {
            var f = function;
            if (f.ArgumentInfos.Length != f.Arguments.Length || f.ResultInfos.Length != f.ResultTypes.Length)
            {
                Diagnostics.Add(new Diagnostic($"@{f.Name}: interface lists do not match the argument/result counts", f.Location));
                return;
            }
            for (int i = 0; i < f.ResultInfos.Length; i++)
            {
                if (f.ResultInfos[i].Updates is not { } a) continue;
                if (a < 0 || a >= f.Arguments.Length || !f.ArgumentInfos[a].IsVariable)
                    Diagnostics.Add(new Diagnostic($"@{f.Name}: result #{i} updates argument #{a}, which is not a variable argument", f.Location));
                else if (f.Arguments[a].Type != f.ResultTypes[i])
                    Diagnostics.Add(new Diagnostic($"@{f.Name}: result #{i} ({f.ResultTypes[i]}) updates %arg{a} of type {f.Arguments[a].Type}", f.Location));
                else if (f.ResultInfos.Take(i).Any(r => r.Updates == a))
                    Diagnostics.Add(new Diagnostic($"@{f.Name}: %arg{a} is updated by more than one result", f.Location));
            }
            var term = CheckRegion(f.Body, "return");
            if (term is not null)
            {
                var got = term.OperandTypes;
                if (!got.SequenceEqual(f.ResultTypes))
                    Error(term, $"returns ({string.Join(", ", got)}) but @{f.Name} declares ({string.Join(", ", f.ResultTypes)})");
            }
        }

        private void Error(Operation op, string message) =>
            Diagnostics.Add(new Diagnostic($"@{function.Name}: {Describe(op)}: {message}", op.Location));

        private string Describe(Operation op) =>
            op.Results.Length > 0 ? $"'{op.Name}' defining {string.Join(", ", op.Results.Select(r => _names[r]))}" : $"'{op.Name}'";

        /// <summary>Checks a region; returns its terminator when it has a well-formed one.</summary>
        private Operation? CheckRegion(Region region, string terminator)
        {
            _visible.Add(new HashSet<Value>(ReferenceEqualityComparer.Instance));
            foreach (var a in region.Arguments) Define(a, null);
            Operation? term = null;
            for (int i = 0; i < region.Operations.Length; i++)
            {
                var op = region.Operations[i];
                bool last = i == region.Operations.Length - 1;
                if (op.Def.IsTerminator)
                {
                    if (!last) Error(op, "a terminator must be the last op of its region");
                    else if (op.Name != terminator) Error(op, $"this region must end with '{terminator}'");
                    else term = op;
                }
                CheckOp(op);
            }
            if (term is null && (region.Operations.Length == 0 || !region.Operations[^1].Def.IsTerminator))
            {
                var loc = region.Operations.Length > 0 ? region.Operations[^1].Location : function.Location;
                Diagnostics.Add(new Diagnostic($"@{function.Name}: region does not end with '{terminator}'", loc));
            }
            _visibleAll.ExceptWith(_visible[^1]);
            _visible.RemoveAt(_visible.Count - 1);
            return term;
        }

        private void Define(Value v, Operation? op)
        {
            if (!_defined.Add(v))
            {
                var what = op is null ? "a region argument" : Describe(op);
                Diagnostics.Add(new Diagnostic($"@{function.Name}: {what}: value {_names[v]} is defined more than once", op?.Location));
            }
            _visible[^1].Add(v);
            _visibleAll.Add(v);
            if (op is not null) _producers[v] = op;
        }

        private readonly Dictionary<Value, Operation> _producers = new(ReferenceEqualityComparer.Instance);

        private bool IsVisible(Value v)
        {
            return _visibleAll.Contains(v);
        }

        private void CheckOp(Operation op)
        {
            for (int i = 0; i < op.Operands.Length; i++)
            {
                var v = op.Operands[i];
                if (!IsVisible(v))
                    Error(op, _defined.Contains(v)
                        ? $"operand #{i} ({_names[v]}) is defined in a region that does not enclose this use"
                        : $"operand #{i} ({_names[v]}) is used before it is defined");
            }
            // An in-flight result is not safe to read before the op that finishes it.
            foreach (var v in op.Operands)
                if (_producers.GetValueOrDefault(v) is { } start && start.Def.Has(OpTraits.AsyncStart) && !op.Def.Has(OpTraits.AsyncDone))
                    Error(op, $"'{op.Name}' reads the in-flight result of '{start.Name}'; only the op that finishes it may");
            foreach (var r in op.Regions) CheckRegion(r, "yield");
            if (op.Def.IsTerminator) return;

            var sig = new OpSignature(op.Def, op.OperandTypes, op.Attributes, op.ResultTypes, op.Regions,
                module is null ? null : module.Find, op.Location);
            try
            {
                CheckSignature(op.Def, sig);
                var inferred = op.Def.InferResultTypes(sig);
                if (!inferred.SequenceEqual(op.ResultTypes))
                    Error(op, $"result type(s) ({string.Join(", ", op.ResultTypes)}) differ from the inferred ({string.Join(", ", inferred)})");
                if (op.Def.Has(OpTraits.AsyncDone) && op.Def.PairProblem(op, _producers.GetValueOrDefault(op.Operands[0])) is { } problem)
                    Error(op, problem);
            }
            catch (IrException e)
            {
                Error(op, e.Message);
            }
            catch (OverflowException)
            {
                // Attribute values near long.MaxValue can overflow shape arithmetic: that is bad input.
                Error(op, "attribute values overflow the shape arithmetic");
            }
            foreach (var r in op.Results) Define(r, op);
        }
    }
}
