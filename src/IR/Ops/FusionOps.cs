using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// <c>%r... = fusion %in... {kind = loop|reduction|output} : T... body(%a: ...) { ...; yield %x... }</c>:
/// one fused kernel, formed by the <c>fuse</c> pass. The body's arguments take exactly the operands'
/// types and it yields the results (several allowed). The body is self-contained — it reads no value
/// of an enclosing region, so a backend compiles it in isolation — and holds only ops without regions.
/// Semantics: run the body (so fusing never changes a result bit: every op rounds exactly as unfused).
/// <para>
/// <c>kind</c> tells the backend which kernel template to use and is verified:
/// <c>loop</c> — only <see cref="FusionKinds.IsLoopOp"/> ops (elementwise, constant, iota and the
/// index-remapping shape ops); <c>reduction</c> — loop ops plus at least one <c>reduce</c>;
/// <c>output</c> — loop ops plus exactly one <c>dot_general</c> or <c>convolution</c> (the hero), whose
/// operands are body arguments (the backend runs its GEMM/conv on them) and whose result feeds an
/// elementwise epilogue.
/// </para>
/// </summary>
public sealed class FusionOp() : OpDef("fusion")
{
    public override int MaxOperands => -1;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Enum("kind", null, "loop", "reduction", "output")];
    public override ImmutableArray<string> RegionNames => ["body"];

    /// <summary>The body's flops (one kernel: its intermediates cost no memory traffic); the bytes of the fusion's own operands and results.</summary>
    public override OpCost Cost(Operation op)
    {
        var body = op.Regions[0].Operations.Where(o => !o.Def.IsTerminator).Select(o => o.Def.Cost(o)).ToList();
        return new(body.Sum(c => c.Flops), OpCost.OperandAndResultBytes(op), body.Sum(c => c.WeightedFlops));
    }

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var body = sig.Regions[0];
        WhileOp.CheckArgs(sig, "body", body, sig.Operands);
        var defined = new HashSet<Value>(body.Arguments, ReferenceEqualityComparer.Instance);
        var args = new HashSet<Value>(body.Arguments, ReferenceEqualityComparer.Instance);
        int reduces = 0, heroes = 0;
        string kind = sig.Attr.Enum("kind");
        for (int i = 0; i < body.Operations.Length; i++)
        {
            var op = body.Operations[i];
            for (int j = 0; j < op.Operands.Length; j++)
            {
                if (!defined.Contains(op.Operands[j]))
                    throw sig.Error($"body op #{i} ('{op.Name}') reads operand #{j} from outside the fusion; a fused kernel is self-contained, so pass the value in as an operand");
            }
            if (!op.Regions.IsEmpty) throw sig.Error($"body op #{i} ('{op.Name}') has regions; a fusion body holds only ops without regions");
            if (op.Def.IsTerminator) continue;
            if (op.Def is ReduceOp) reduces++;
            else if (FusionKinds.IsContraction(op))
            {
                heroes++;
                // A convolution's input may be computed by the loop ops before it (a backend computes it while it
                // packs it, or materialises it); every other operand comes in whole.
                if (!op.Operands.Select((v, j) => args.Contains(v) || j == 0 && op.Def is ConvolutionOp).All(ok => ok))
                    throw sig.Error($"body op #{i} ('{op.Name}'): the operands of an output fusion's contraction must be body arguments (but a convolution's input)");
            }
            else if (!FusionKinds.IsLoopOp(op))
                throw sig.Error($"body op #{i} ('{op.Name}') cannot be fused (allowed: loop ops, reduce, dot_general, convolution)");
            foreach (var r in op.Results) defined.Add(r);
        }
        switch (kind)
        {
            case "loop" when reduces + heroes > 0:
                throw sig.Error($"kind loop allows only loop ops, the body has {reduces} reduce(s) and {heroes} contraction(s)");
            case "reduction" when reduces == 0 || heroes > 0:
                throw sig.Error($"kind reduction needs at least one reduce and no contraction, the body has {reduces} reduce(s) and {heroes} contraction(s)");
            case "output" when heroes != 1 || reduces > 0:
                throw sig.Error($"kind output needs exactly one dot_general or convolution and no reduce, the body has {heroes} contraction(s) and {reduces} reduce(s)");
        }
        if (body.Terminator is null) throw sig.Error("body must end with 'yield'");
        foreach (var v in body.Yielded)
            if (!defined.Contains(v)) throw sig.Error("body yields a value defined outside the fusion");
        return [.. body.Yielded.Select(v => v.Type)];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx) => ctx.RunRegion(0, ctx.Operands);
}

/// <summary>Which ops each fusion kind may hold; shared by the op's verifier and the <c>fuse</c> pass.</summary>
public static class FusionKinds
{
    /// <summary>
    /// Ops a loop kernel computes per output element from its operands' elements: the
    /// <see cref="OpTraits.Elementwise"/> and <see cref="OpTraits.IndexRemap"/> ops, and the element
    /// generators <c>constant</c> and <c>iota</c>.
    /// </summary>
    public static bool IsLoopOp(Operation op) =>
        op.Def.HasAny(OpTraits.Elementwise | OpTraits.IndexRemap) || op.Def is ConstantOp or IotaOp;

    /// <summary>The hero of an output fusion: an <see cref="OpTraits.Contraction"/> (dot_general, convolution).</summary>
    public static bool IsContraction(Operation op) => op.Def.Has(OpTraits.Contraction);
}

public static class FusionOps
{
    public static readonly FusionOp Fusion = new();

    public static readonly ImmutableArray<OpDef> All = [Fusion];
}
