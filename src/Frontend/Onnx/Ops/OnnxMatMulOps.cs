using System.Collections.Immutable;
using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>MatMul, Gemm, MatMulInteger and Einsum, all lowered to dot_general.</summary>
public static class OnnxMatMulOps
{
    internal static IntArrayAttr Ints(IEnumerable<long> v) => new([.. v]);

    internal static IntArrayAttr Ints(IEnumerable<int> v) => new([.. v.Select(x => (long)x)]);

    /// <summary>dot_general with the result shape worked out here (batch, lhs free, rhs free).</summary>
    internal static Value Dot(Lowerer l, Value a, Value b, int[] aBatch, int[] bBatch, int[] aContract, int[] bContract, ElementType result)
    {
        var shape = new List<long>();
        shape.AddRange(aBatch.Select(d => a.Type.Shape[d]));
        for (int i = 0; i < a.Type.Rank; i++) if (!aBatch.Contains(i) && !aContract.Contains(i)) shape.Add(a.Type.Shape[i]);
        for (int i = 0; i < b.Type.Rank; i++) if (!bBatch.Contains(i) && !bContract.Contains(i)) shape.Add(b.Type.Shape[i]);
        return l.Emit("dot_general", [a, b], AttrMap.Of(("lhs_batch", Ints(aBatch)), ("rhs_batch", Ints(bBatch)),
            ("lhs_contract", Ints(aContract)), ("rhs_contract", Ints(bContract))), new TensorType(result, shape.ToArray()));
    }

    /// <summary>numpy.matmul: 1-D operands gain (and lose) a dimension, leading dimensions broadcast.</summary>
    internal static Value MatMul(Lowerer l, Value a, Value b, ElementType result)
    {
        if (a.Type.Rank == 0 || b.Type.Rank == 0) throw new LoweringException("MatMul operands must have rank >= 1");
        bool vecA = a.Type.Rank == 1, vecB = b.Type.Rank == 1;
        if (vecA) a = l.Reshape(a, 1, a.Type.Shape[0]);
        if (vecB) b = l.Reshape(b, b.Type.Shape[0], 1);
        var sa = a.Type.Shape;
        var sb = b.Type.Shape;
        var batch = Lowerer.BroadcastShape(sa[..^2], sb[..^2]);
        a = l.Broadcast(a, [.. batch, sa[^2], sa[^1]]);
        b = l.Broadcast(b, [.. batch, sb[^2], sb[^1]]);
        int nb = batch.Length;
        var bd = Enumerable.Range(0, nb).ToArray();
        var r = Dot(l, a, b, bd, bd, [nb + 1], [nb], result);
        var outShape = new List<long>(batch);
        if (!vecA) outShape.Add(sa[^2]);
        if (!vecB) outShape.Add(sb[^1]);
        return l.Reshape(r, [.. outShape]);
    }

    private static void MatMulNode(OnnxNode n)
    {
        var a = n.Input(0);
        n.Output(0, MatMul(n.L, a, n.Input(1), a.Type.Element));
    }

    /// <summary>Gemm: alpha·A'·B' + beta·C, A' and B' optionally transposed, C broadcast to [M, N].</summary>
    private static void Gemm(OnnxNode n)
    {
        var l = n.L;
        var (a, b) = (n.Input(0), n.Input(1));
        if (a.Type.Rank != 2 || b.Type.Rank != 2) throw n.Error("Gemm takes 2-D A and B");
        var e = a.Type.Element;
        var y = Dot(l, a, b, [], [], [n.Int("transA", 0) == 1 ? 0 : 1], [n.Int("transB", 0) == 1 ? 1 : 0], e);
        double alpha = n.Float("alpha", 1f), beta = n.Float("beta", 1f);
        if (alpha != 1) y = l.Binary("mul", y, l.Scalar(e, alpha));
        if (n.Optional(2) is { } c)
        {
            if (beta != 1) c = l.Binary("mul", c, l.Scalar(e, beta));
            y = l.Binary("add", y, l.Broadcast(c, y.Type.Shape));
        }
        n.Output(0, y);
    }

    /// <summary>An integer operand minus its zero point, in i32.</summary>
    internal static Value MinusZeroPoint(Lowerer l, Value x, Value? zp, bool perRowOfMatrix)
    {
        var v = l.Convert(x, ElementType.I32);
        if (zp is null) return v;
        var z = l.Convert(zp, ElementType.I32);
        // A per-row zero point of A ([M]) lines up with A's second-to-last dimension.
        if (perRowOfMatrix && z.Type.Rank == 1 && x.Type.Rank >= 2 && z.Type.Shape[0] != 1) z = l.Reshape(z, z.Type.Shape[0], 1);
        return l.Binary("sub", v, z);
    }

    private static void MatMulInteger(OnnxNode n)
    {
        var l = n.L;
        var a = MinusZeroPoint(l, n.Input(0), n.Optional(2), perRowOfMatrix: true);
        var b = MinusZeroPoint(l, n.Input(1), n.Optional(3), perRowOfMatrix: false);
        n.Output(0, MatMul(l, a, b, ElementType.I32));
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("MatMul", MatMulNode), ("Gemm", Gemm), ("MatMulInteger", MatMulInteger), ("Einsum", OnnxEinsum.Lower),
    ];
}
