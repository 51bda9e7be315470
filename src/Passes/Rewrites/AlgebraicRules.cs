using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes.Rewrites;

/// <summary>
/// The rule table of <c>simplify</c>. Each rule is exact (see <see cref="AlgebraicSimplification"/>);
/// its comment states it, with "0" and "1" meaning splat constants (or broadcasts of one). Rules name
/// their op by its registered definition (<see cref="ElementwiseOps.Add"/>, ...), which
/// <see cref="RewriteRule.Table"/> checks against <see cref="OpRegistry"/>.
/// </summary>
public static class AlgebraicRules
{
    public static readonly ImmutableArray<RewriteRule> All = RewriteRule.Table(
    [
        // ---- arithmetic identities --------------------------------------------------------------
        // x + 0 => x, for integers; for floats only x + (-0.0) => x (x + (+0.0) turns -0.0 into +0.0)
        new("add-zero-rhs", ElementwiseOps.Add, (op, c) => IsAdditiveIdentity(op.Operands[1], c) ? op.Operands[0] : null),
        // 0 + x => x (as above)
        new("add-zero-lhs", ElementwiseOps.Add, (op, c) => IsAdditiveIdentity(op.Operands[0], c) ? op.Operands[1] : null),
        // x - 0 => x, for integers; for floats x - (+0.0) => x (it is x + (-0.0))
        new("sub-zero", ElementwiseOps.Sub, (op, c) => c.IsZero(op.Operands[1], negative: op.Operands[1].Type.Element.IsFloat() ? false : null) ? op.Operands[0] : null),
        // x * 1 => x
        new("mul-one-rhs", ElementwiseOps.Mul, (op, c) => c.IsOne(op.Operands[1]) ? op.Operands[0] : null),
        // 1 * x => x
        new("mul-one-lhs", ElementwiseOps.Mul, (op, c) => c.IsOne(op.Operands[0]) ? op.Operands[1] : null),
        // x * 0 => 0, integers only (for floats NaN * 0, inf * 0 and -1 * 0 are not +0)
        new("mul-zero-rhs", ElementwiseOps.Mul, (op, c) => IsIntegerZero(op.Operands[1], c) ? op.Operands[1] : null),
        // 0 * x => 0, integers only
        new("mul-zero-lhs", ElementwiseOps.Mul, (op, c) => IsIntegerZero(op.Operands[0], c) ? op.Operands[0] : null),
        // x / 1 => x
        new("div-one", ElementwiseOps.Div, (op, c) => c.IsOne(op.Operands[1]) ? op.Operands[0] : null),
        // neg(neg(x)) => x
        new("neg-neg", ElementwiseOps.Neg, (op, c) => c.Def(op.Operands[0], ElementwiseOps.Neg)?.Operands[0]),
        // not(not(x)) => x
        new("not-not", ElementwiseOps.Not, (op, c) => c.Def(op.Operands[0], ElementwiseOps.Not)?.Operands[0]),

        // ---- logic ------------------------------------------------------------------------------
        // x & 1...1 => x, 1...1 & x => x (true for bool)
        new("and-ones", ElementwiseOps.And, (op, c) => c.IsAllOnes(op.Operands[1]) ? op.Operands[0] : c.IsAllOnes(op.Operands[0]) ? op.Operands[1] : null),
        // x & 0 => 0, 0 & x => 0
        new("and-zero", ElementwiseOps.And, (op, c) => c.IsZero(op.Operands[1]) ? op.Operands[1] : c.IsZero(op.Operands[0]) ? op.Operands[0] : null),
        // x | 0 => x, 0 | x => x
        new("or-zero", ElementwiseOps.Or, (op, c) => c.IsZero(op.Operands[1]) ? op.Operands[0] : c.IsZero(op.Operands[0]) ? op.Operands[1] : null),
        // x | 1...1 => 1...1, 1...1 | x => 1...1
        new("or-ones", ElementwiseOps.Or, (op, c) => c.IsAllOnes(op.Operands[1]) ? op.Operands[1] : c.IsAllOnes(op.Operands[0]) ? op.Operands[0] : null),
        // compare(x, x) => eq/le/ge: true, ne/lt/gt: false; integers and bool only (NaN != NaN)
        new("compare-self", ElementwiseOps.Compare, CompareSelf),
        // select(true, a, b) => a; select(false, a, b) => b
        new("select-constant", ElementwiseOps.Select, (op, c) => c.Splat(op.Operands[0]) is { } p ? (p.GetBool(0) ? op.Operands[1] : op.Operands[2]) : null),
        // select(p, x, x) => x
        new("select-same", ElementwiseOps.Select, (op, c) => ReferenceEquals(op.Operands[1], op.Operands[2]) ? op.Operands[1] : null),

        // ---- data movement ----------------------------------------------------------------------
        // transpose(x, [0, 1, ..]) => x
        new("transpose-identity", ShapeOps.Transpose, (op, c) => IsIdentity(op.Attr.Ints("perm")) ? op.Operands[0] : null),
        // transpose(transpose(x, p), q) => transpose(x, [p[q[0]], p[q[1]], ..]) (then x if that is the identity)
        new("transpose-transpose", ShapeOps.Transpose, TransposeTranspose),
        // reshape(x) : type(x) => x
        new("reshape-same", ShapeOps.Reshape, (op, c) => op.ResultType() == op.OperandTypes[0] ? op.Operands[0] : null),
        // reshape(reshape(x)) => reshape(x)
        new("reshape-reshape", ShapeOps.Reshape, (op, c) => c.Def(op.Operands[0], ShapeOps.Reshape) is { } inner
            ? c.Build(op, b => b.Reshape(inner.Operands[0], [.. op.ResultType().Shape])) : null),
        // a chain of reshapes and transposes => reshape, transpose, reshape (each only when not the identity),
        // when that is fewer ops: the chain permutes factors of x's dimensions (LayoutChains)
        new("layout-chain-reshape", ShapeOps.Reshape, LayoutChain),
        new("layout-chain-transpose", ShapeOps.Transpose, LayoutChain),
        // broadcast_in_dim(x, [0, 1, ..]) : type(x) => x
        new("broadcast-same", ShapeOps.BroadcastInDim, (op, c) =>
            op.ResultType() == op.OperandTypes[0] && IsIdentity(op.Attr.Ints("dims")) ? op.Operands[0] : null),
        // broadcast_in_dim(broadcast_in_dim(x, d), e) => broadcast_in_dim(x, [e[d[0]], e[d[1]], ..])
        new("broadcast-broadcast", ShapeOps.BroadcastInDim, BroadcastBroadcast),
        // convert(x) : type(x) => x
        new("convert-same", StructureOps.Convert, (op, c) => op.ResultType() == op.OperandTypes[0] ? op.Operands[0] : null),
        // convert(convert(x : A) : B) : C => convert(x) : C, when every A value is exactly a B value
        new("convert-convert", StructureOps.Convert, ConvertConvert),
        // slice(x) over the whole of x => x
        new("slice-full", ShapeOps.Slice, (op, c) =>
            op.ResultType() == op.OperandTypes[0] && op.Attr.Ints("start").All(s => s == 0) ? op.Operands[0] : null),
        // slice(concatenate(.., a, ..)) within a => slice(a) (then a if that is the whole of it)
        new("slice-concatenate", ShapeOps.Slice, SliceConcatenate),
        // slice(broadcast_in_dim(x, d)) => broadcast_in_dim(x, d) to the slice's shape, when the slice takes
        // all of every dimension x does not broadcast (a slice of a splat needs no big tensor)
        new("slice-broadcast", ShapeOps.Slice, SliceBroadcast),
        // concatenate(x) => x
        new("concatenate-one", ShapeOps.Concatenate, (op, c) => op.Operands.Length == 1 ? op.Operands[0] : null),
        // reverse(x, []) => x
        new("reverse-none", ShapeOps.Reverse, (op, c) => op.Attr.Ints("dims").IsEmpty ? op.Operands[0] : null),
        // pad(x) with no padding anywhere => x
        new("pad-none", ShapeOps.Pad, (op, c) => op.ResultType() == op.OperandTypes[0] &&
            op.Attr.Ints("low").All(p => p == 0) && op.Attr.Ints("interior").All(p => p == 0) ? op.Operands[0] : null),

        // ---- contraction ------------------------------------------------------------------------
        // dot_general(transpose(a, p), b) => dot_general(a, b) with lhs dimension numbers mapped through p,
        // when a's free dimensions stay in order (else the result would need a transpose); same for rhs.
        // The contraction visits the same products in the same order, so the sums are bit-identical.
        new("dot-transpose", ContractionOps.DotGeneral, DotTranspose),
        // dot_general(a, broadcast_in_dim(w)) => dot_general(a, w) when the broadcast only repeats w along the batch
        // dimensions and a's batch dimensions lead it (ONNX MatMul of [batch, seq, hidden] by a weight): a's batch
        // dimensions become free ones, in the same place in the result; the same products in the same order, so the
        // sums are bit-identical, and the weight is never copied per batch.
        new("dot-broadcast-weights", ContractionOps.DotGeneral, DotBroadcastWeights),
    ]);

    private static bool IsAdditiveIdentity(Value v, RuleContext c) =>
        c.IsZero(v, negative: v.Type.Element.IsFloat() ? true : null);

    private static bool IsIntegerZero(Value v, RuleContext c) => !v.Type.Element.IsFloat() && c.IsZero(v);

    private static bool IsIdentity(ImmutableArray<long> perm)
    {
        for (int i = 0; i < perm.Length; i++)
            if (perm[i] != i) return false;
        return true;
    }

    private static Value? CompareSelf(Operation op, RuleContext c)
    {
        if (!ReferenceEquals(op.Operands[0], op.Operands[1]) || op.OperandTypes[0].Element.IsFloat()) return null;
        bool result = op.Attr.Enum("direction") is "eq" or "le" or "ge";
        return c.SplatConstant(op, op.ResultType(), Tensor.FromInt64s(TensorType.Scalar(ElementType.Bool), [result ? 1 : 0]));
    }

    private static Value? TransposeTranspose(Operation op, RuleContext c)
    {
        if (c.Def(op.Operands[0], ShapeOps.Transpose) is not { } inner) return null;
        var (p, q) = (inner.Attr.Ints("perm"), op.Attr.Ints("perm"));
        long[] perm = [.. q.Select(j => p[(int)j])];
        return c.Build(op, b => b.Emit(ShapeOps.Transpose.Name, [inner.Operands[0]], ("perm", A.Ints(perm))));
    }

    private static Value? LayoutChain(Operation op, RuleContext c)
    {
        var chain = LayoutChains.Chain(op, v => c.Def(v));
        if (chain.Count < 2) return null;
        var x = chain[0].Operands[0];
        if (x.Type.Shape.Contains(0) || LayoutChains.Canonical(x.Type.Shape, chain) is not { } form || LayoutChains.Count(form) >= chain.Count) return null;
        return c.Build(op, b =>
        {
            var v = form.First is { } first ? b.Reshape(x, first) : x;
            if (form.Perm is { } perm) v = b.Emit(ShapeOps.Transpose.Name, [v], ("perm", A.Ints(perm)));
            return form.Last is { } last ? b.Reshape(v, last) : v;
        });
    }

    private static Value? BroadcastBroadcast(Operation op, RuleContext c)
    {
        if (c.Def(op.Operands[0], ShapeOps.BroadcastInDim) is not { } inner) return null;
        var (d, e) = (inner.Attr.Ints("dims"), op.Attr.Ints("dims"));
        long[] dims = [.. d.Select(i => e[(int)i])];
        return c.Build(op, b => b.BroadcastInDim(inner.Operands[0], op.ResultType(), dims));
    }

    private static Value? ConvertConvert(Operation op, RuleContext c)
    {
        if (c.Def(op.Operands[0], StructureOps.Convert) is not { } inner) return null;
        var x = inner.Operands[0];
        if (!IsExactWidening(x.Type.Element, inner.ResultType().Element)) return null;
        return c.Build(op, b => b.Convert(x, op.ResultType().Element));
    }

    /// <summary>Whether every value of <paramref name="from"/> is exactly representable in <paramref name="to"/>.</summary>
    public static bool IsExactWidening(ElementType from, ElementType to)
    {
        if (from == to || from.IsBool()) return true; // bool is 0 or 1
        if (to.IsBool()) return false;
        if (from.IsFloat())
            return to.IsFloat() && (to == ElementType.F64 || (to == ElementType.F32 && from is ElementType.F16 or ElementType.BF16));
        int magnitudeBits = from.IsSignedInteger() ? from.BitWidth() - 1 : from.BitWidth();
        if (to.IsFloat()) return magnitudeBits <= SignificandBits(to);
        if (to.IsSignedInteger()) return magnitudeBits <= to.BitWidth() - 1;
        return from.IsUnsignedInteger() && from.BitWidth() <= to.BitWidth();
    }

    private static int SignificandBits(ElementType t) => t switch
    {
        ElementType.F16 => 11,
        ElementType.BF16 => 8,
        ElementType.F32 => 24,
        _ => 53,
    };

    private static Value? SliceBroadcast(Operation op, RuleContext c)
    {
        if (c.Def(op.Operands[0], ShapeOps.BroadcastInDim) is not { } bc) return null;
        var x = bc.Operands[0];
        var dims = bc.Attr.Ints("dims");
        var full = op.OperandTypes[0].Shape;
        var result = op.ResultType();
        for (int i = 0; i < dims.Length; i++)
        {
            int d = (int)dims[i];
            if (x.Type.Shape[i] != 1 && result.Shape[d] != full[d]) return null; // a part of x along d
        }
        return c.Build(op, b => b.BroadcastInDim(x, result, [.. dims]));
    }

    private static Value? SliceConcatenate(Operation op, RuleContext c)
    {
        if (c.Def(op.Operands[0], ShapeOps.Concatenate) is not { } concat) return null;
        int d = concat.Attr.Int32("dimension");
        var start = op.Attr.Ints("start");
        var limit = op.Attr.Ints("limit");
        var strideAttr = op.Attr.Ints("stride");
        long stride = strideAttr.IsEmpty ? 1 : strideAttr[d];
        long count = op.ResultType().Shape[d];
        if (count == 0) return null;
        long first = start[d], last = start[d] + (count - 1) * stride;
        long offset = 0;
        foreach (var part in concat.Operands)
        {
            long n = part.Type.Shape[d];
            if (first >= offset && last < offset + n)
            {
                long[] s = [.. start], l = [.. limit];
                (s[d], l[d]) = (first - offset, last - offset + 1);
                return c.Build(op, b => b.Emit(ShapeOps.Slice.Name, [part], ("start", A.Ints(s)), ("limit", A.Ints(l)), ("stride", new IntArrayAttr(strideAttr))));
            }
            offset += n;
        }
        return null;
    }

    private static Value? DotBroadcastWeights(Operation op, RuleContext c)
    {
        if (c.Def(op.Operands[1], ShapeOps.BroadcastInDim) is not { } bc) return null;
        var (lb, rb, rc) = (op.Attr.Ints("lhs_batch"), op.Attr.Ints("rhs_batch"), op.Attr.Ints("rhs_contract"));
        if (lb.IsEmpty || Enumerable.Range(0, lb.Length).Any(i => lb[i] != i)) return null;
        var (w, dims, rhs) = (bc.Operands[0], bc.Attr.Ints("dims"), op.OperandTypes[1]);
        var kept = Enumerable.Range(0, rhs.Rank).Where(d => !rb.Contains(d)).ToArray();
        if (dims.Length != kept.Length) return null;
        for (int i = 0; i < kept.Length; i++)
            if (dims[i] != kept[i] || w.Type.Shape[i] != rhs.Shape[kept[i]]) return null;
        var attrs = op.Attributes.Without("lhs_batch").Without("rhs_batch")
            .With("rhs_contract", A.Ints([.. rc.Select(d => (long)Array.IndexOf(kept, (int)d))]));
        return c.Build(op, b => b.Emit(ContractionOps.DotGeneral.Name, [op.Operands[0], w], attrs, op.ResultType()));
    }

    private static Value? DotTranspose(Operation op, RuleContext c)
    {
        var lt = c.Def(op.Operands[0], ShapeOps.Transpose);
        var rt = c.Def(op.Operands[1], ShapeOps.Transpose);
        var attrs = op.Attributes;
        var (lhs, rhs) = (op.Operands[0], op.Operands[1]);
        if (lt is not null && Remap(lt, "lhs_batch", "lhs_contract", ref attrs, op)) lhs = lt.Operands[0];
        if (rt is not null && Remap(rt, "rhs_batch", "rhs_contract", ref attrs, op)) rhs = rt.Operands[0];
        if (ReferenceEquals(lhs, op.Operands[0]) && ReferenceEquals(rhs, op.Operands[1])) return null;
        return c.Build(op, b => b.Emit(ContractionOps.DotGeneral.Name, [lhs, rhs], attrs, op.ResultType()));
    }

    /// <summary>Maps one side's dimension numbers through its transpose; false when its free dimensions would reorder.</summary>
    private static bool Remap(Operation transpose, string batchName, string contractName, ref AttrMap attrs, Operation dot)
    {
        var p = transpose.Attr.Ints("perm");
        var batch = dot.Attr.Ints(batchName);
        var contract = dot.Attr.Ints(contractName);
        long previous = -1;
        for (int i = 0; i < p.Length; i++)
        {
            if (batch.Contains(i) || contract.Contains(i)) continue;
            if (p[i] < previous) return false;
            previous = p[i];
        }
        attrs = attrs.With(batchName, A.Ints([.. batch.Select(i => p[(int)i])]))
                     .With(contractName, A.Ints([.. contract.Select(i => p[(int)i])]));
        return true;
    }
}
