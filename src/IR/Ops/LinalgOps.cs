using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// Base of the square-matrix ops: a float operand of rank 2 or more whose last two dimensions are
/// n×n; the leading dimensions are a batch, each matrix handled on its own in double precision and
/// the results rounded once to the element type.
/// </summary>
public abstract class SquareMatrixOp(string name) : OpDef(name)
{
    public override int MinOperands => 1;

    /// <summary>Elimination: about n steps per input element.</summary>
    public override double EvaluationWork(Operation op) =>
        op.Operands.Sum(v => (double)v.Type.ElementCount) * Math.Max(1, op.Operands[0].Type.Shape.LastOrDefault());

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var x = sig.Operand(0);
        if (!x.Element.IsFloat()) throw sig.Error($"operand is {x}, expected a float type");
        if (x.Rank < 2) throw sig.Error($"operand must have rank 2 or more (a batch of square matrices), got {x}");
        if (x.Shape[^1] != x.Shape[^2])
            throw sig.Error($"matrices must be square, got {x.Shape[^2]}x{x.Shape[^1]} in {x}");
        return [ResultType(x)];
    }

    protected abstract TensorType ResultType(TensorType operand);

    /// <summary>Computes one matrix's result from its n×n row-major entries.</summary>
    protected abstract double[] Compute(double[,] a, int n);

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var x = ctx.Operand(0);
        int n = checked((int)x.Type.Shape[^1]);
        long size = (long)n * n;
        var o = new TensorBuffer(ctx.ResultType());
        long batches = x.Type.Shape.Take(x.Type.Rank - 2).Aggregate(1L, (p, d) => p * d);
        long outIndex = 0;
        for (long b = 0; b < batches; b++)
        {
            var a = new double[n, n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    a[i, j] = x.GetDouble(b * size + (long)i * n + j);
            foreach (var v in Compute(a, n)) o.SetDouble(outIndex++, v);
        }
        return [o.ToTensor()];
    }
}

/// <summary>
/// <c>matrix_inverse %x</c>: the inverse of each n×n matrix (float, batched over leading dimensions),
/// by Gauss–Jordan elimination with partial pivoting (the first row of largest magnitude in the
/// column) in double precision. Every step is carried out even when the pivot is 0: a singular
/// matrix does not fault, its result holds the inf/NaN values the divisions by zero produce. A 0×0
/// matrix inverts to a 0×0 matrix.
/// </summary>
public sealed class MatrixInverseOp() : SquareMatrixOp("matrix_inverse")
{
    protected override TensorType ResultType(TensorType operand) => operand;

    protected override double[] Compute(double[,] a, int n)
    {
        var inv = new double[n, n];
        for (int i = 0; i < n; i++) inv[i, i] = 1;
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int r = c + 1; r < n; r++)
                if (Math.Abs(a[r, c]) > Math.Abs(a[p, c])) p = r;
            if (p != c)
            {
                for (int j = 0; j < n; j++)
                {
                    (a[p, j], a[c, j]) = (a[c, j], a[p, j]);
                    (inv[p, j], inv[c, j]) = (inv[c, j], inv[p, j]);
                }
            }
            double pivot = a[c, c];
            for (int j = 0; j < n; j++)
            {
                a[c, j] /= pivot;
                inv[c, j] /= pivot;
            }
            for (int r = 0; r < n; r++)
            {
                if (r == c) continue;
                double f = a[r, c];
                for (int j = 0; j < n; j++)
                {
                    a[r, j] -= f * a[c, j];
                    inv[r, j] -= f * inv[c, j];
                }
            }
        }
        var result = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                result[i * n + j] = inv[i, j];
        return result;
    }
}

/// <summary>
/// <c>determinant %x</c>: the determinant of each n×n matrix (float, batched); the result drops the
/// last two dimensions. LU factorisation with partial pivoting in double: the product of the pivots,
/// negated per row swap. A zero pivot column (an exactly singular matrix) gives 0; a 0×0 matrix gives 1.
/// </summary>
public sealed class DeterminantOp() : SquareMatrixOp("determinant")
{
    protected override TensorType ResultType(TensorType operand) => operand.WithShape(operand.Shape.RemoveRange(operand.Rank - 2, 2));

    protected override double[] Compute(double[,] a, int n)
    {
        double det = 1;
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int r = c + 1; r < n; r++)
                if (Math.Abs(a[r, c]) > Math.Abs(a[p, c])) p = r;
            if (p != c)
            {
                for (int j = 0; j < n; j++) (a[p, j], a[c, j]) = (a[c, j], a[p, j]);
                det = -det;
            }
            double pivot = a[c, c];
            det *= pivot;
            // Skipping elimination below a zero pivot (all of the column is 0 there) keeps det at 0, not NaN.
            if (pivot == 0) continue;
            for (int r = c + 1; r < n; r++)
            {
                double f = a[r, c] / pivot;
                for (int j = c; j < n; j++) a[r, j] -= f * a[c, j];
            }
        }
        return [det];
    }
}

public static class LinalgOps
{
    public static readonly ImmutableArray<OpDef> All =
    [
        new MatrixInverseOp(),
        new DeterminantOp(),
    ];
}
