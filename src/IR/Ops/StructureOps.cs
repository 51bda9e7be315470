using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

/// <summary><c>constant {value = dense&lt;...&gt;} : T</c>: a literal tensor; the value's type is the result type.</summary>
public sealed class ConstantOp() : OpDef("constant")
{
    /// <summary>Shared; a splat is a broadcast along every dimension, re-made at a micro-batch's size with the same element.</summary>
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands)
    {
        var value = op.Attr.Tensor("value");
        if (value.Type.Rank == 0 || value.ElementCount == 0 || !value.IsSplat) return BatchSplit.Shared;
        return new BatchSplit
        {
            Result = new BatchDim(null, BatchDim.Mask(Enumerable.Range(0, value.Type.Rank))),
            Attributes = (o, types) => o.Attributes.With("value", new TensorAttr(Tensor.Splat(types[0], Tensor.FromBytes(TensorType.Scalar(types[0].Element), o.Attr.Tensor("value").ElementBytes(0))))),
        };
    }

    // Already a value: nothing to fold, and no work to do.
    public override OpTraits Traits => OpTraits.None;
    public override OpCost Cost(Operation op) => new(0, OpCost.OperandAndResultBytes(op));
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Tensor("value")];
    public override bool TakesResultTypes => true;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var declared = sig.DeclaredType();
        if (sig.AttributeMap["value"] is TensorAttr t && t.Value.Type != declared)
            throw sig.Error($"value has type {t.Value.Type} but the result is {declared}");
        return [declared];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx) => [ctx.Attr.Tensor("value")];
}

/// <summary><c>iota {dimension = d} : T</c>: each element is its index along dimension d.</summary>
public sealed class IotaOp() : OpDef("iota")
{
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Int("dimension", 0)];
    public override bool TakesResultTypes => true;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var t = sig.DeclaredType();
        long d = sig.Attr.Int("dimension");
        if (t.Rank == 0) throw sig.Error("result must have rank 1 or more");
        if (d < 0 || d >= t.Rank) throw sig.Error($"dimension {d} is out of range for {t}");
        if (t.Element == ElementType.Bool) throw sig.Error("result must be numeric, got bool");
        return [t];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var t = ctx.ResultType();
        int d = ctx.Attr.Int32("dimension");
        var o = new TensorBuffer(t);
        Span<long> idx = stackalloc long[t.Rank];
        for (long k = 0; k < t.ElementCount; k++)
        {
            Shapes.Unravel(k, t.Shape, idx);
            if (t.Element.IsFloat()) o.SetDouble(k, idx[d]);
            else o.SetInt64(k, idx[d]);
        }
        return [o.ToTensor()];
    }
}

/// <summary>
/// <c>convert %x : T</c>: changes the element type, keeping the shape. Float → float rounds to nearest
/// even; float → integer truncates toward zero and saturates (NaN → 0); integer → integer wraps
/// (two's complement); anything → bool is <c>x != 0</c>; bool → number is 0 or 1.
/// </summary>
public sealed class ConvertOp() : OpDef("convert")
{
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands) => BatchRules.Aligned(op, operands);
    public override Autodiff.VjpRule? Gradient => ShapeGradients.Convert;
    public override OpTraits Traits => OpTraits.Elementwise | OpTraits.Foldable;
    public override int MinOperands => 1;
    public override bool TakesResultTypes => true;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var (x, t) = (sig.Operand(0), sig.DeclaredType());
        if (!x.Shape.SequenceEqual(t.Shape)) throw sig.Error($"cannot change the shape: {x} to {t}");
        return [t];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var x = ctx.Operand(0);
        var t = ctx.ResultType();
        var o = new TensorBuffer(t);
        var from = x.Element;
        for (long k = 0; k < x.ElementCount; k++)
        {
            if (t.Element == ElementType.Bool) o.SetBool(k, x.GetBool(k));
            else if (from.IsFloat()) o.SetDouble(k, x.GetDouble(k));
            else if (from.IsUnsignedInteger()) o.SetUInt64(k, x.GetUInt64(k));
            else o.SetInt64(k, x.GetInt64(k));
        }
        return [o.ToTensor()];
    }
}

/// <summary>Terminators: <c>return</c> ends a function body, <c>yield</c> a nested region. The enclosing op checks the types.</summary>
public sealed class TerminatorOp(string name) : OpDef(name)
{
    public override int MaxOperands => -1;
    public override bool IsTerminator => true;
    public override OpTraits Traits => OpTraits.None;
    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig) => [];
    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx) => ctx.Operands;
}

public static class StructureOps
{
    public static readonly ConstantOp Constant = new();
    public static readonly IotaOp Iota = new();
    public static readonly ConvertOp Convert = new();

    public static readonly ImmutableArray<OpDef> All =
    [
        Constant,
        Iota,
        Convert,
        new TerminatorOp("return"),
        new TerminatorOp("yield"),
    ];
}
