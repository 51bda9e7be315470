using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// What one kernel computes for a top-level op: a fusion's body (its region's arguments, ops without the
/// terminator, and yielded values) or the op alone (its distinct operands, itself, its results).
/// <see cref="OuterInputs"/>[i] is the value of the enclosing function that <see cref="Inputs"/>[i] stands for.
/// </summary>
public sealed record KernelBody(IReadOnlyList<Value> Inputs, IReadOnlyList<Operation> Ops, IReadOnlyList<Value> Outputs, IReadOnlyList<Value> OuterInputs)
{
    public static KernelBody Of(Operation op)
    {
        if (op.Def is FusionOp)
        {
            var body = op.Regions[0];
            return new(body.Arguments, [.. body.Operations.Where(o => !o.Def.IsTerminator)], body.Yielded, op.Operands);
        }
        var distinct = op.Operands.Distinct<Value>(ReferenceEqualityComparer.Instance).ToList();
        return new(distinct, [op], op.Results, distinct);
    }

    /// <summary>The contents of the inputs whose outer values are constants (<paramref name="outer"/>).</summary>
    public Dictionary<Value, Tensor> Constants(IReadOnlyDictionary<Value, Tensor> outer)
    {
        var r = new Dictionary<Value, Tensor>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < Inputs.Count; i++)
            if (outer.TryGetValue(OuterInputs[i], out var t)) r[Inputs[i]] = t;
        return r;
    }
}
