using GraphCompiler.IR.Autodiff;

namespace GraphCompiler.IR.Ops;

/// <summary>The vector-Jacobian products of the reductions.</summary>
internal static partial class ReductionGradients
{
    /// <summary>
    /// reduce: sum broadcasts the cotangent back; max and min send it to the elements equal to the result,
    /// split evenly among ties (what a central difference measures); prod sends each element the product
    /// of the others — y/x without zeros, the product of the non-zeros at a single zero, 0 elsewhere.
    /// </summary>
    public static readonly VjpRule Reduce = c =>
    {
        var x = c.X(0);
        var dims = c.Attr.Ints("dims");
        var kind = c.Attr.Enum("kind");
        Value Back(Value reduced) => c.BroadcastBack(reduced, x.Type, dims);
        var dy = Back(c.Dy);
        switch (kind)
        {
            case "sum":
                return [dy];
            case "max" or "min":
            {
                var hit = c.Select(c.Compare(x, Back(c.Y()), "eq"), c.Const(1, x), c.Const(0, x));
                var count = Back(c.Reduce(hit, "sum", dims));
                return [c.Div(c.Mul(dy, hit), count)];
            }
            case "prod":
            {
                var zero = c.Compare(x, c.Const(0, x), "eq");
                var nonZero = c.Select(zero, c.Const(1, x), x);
                var othersIfNoZero = c.Div(Back(c.Y()), nonZero);
                var productOfNonZeros = Back(c.Reduce(nonZero, "prod", dims));
                var zeros = Back(c.Reduce(c.Select(zero, c.Const(1, x), c.Const(0, x)), "sum", dims));
                var noZero = c.Compare(zeros, c.Const(0, x), "eq");
                var loneZero = c.Emit("and", c.Compare(zeros, c.Const(1, x), "eq"), zero);
                var others = c.Select(noZero, othersIfNoZero, c.Select(loneZero, productOfNonZeros, c.Const(0, x)));
                return [c.Mul(dy, others)];
            }
            default:
                throw c.Error($"kind {kind} is not differentiable");
        }
    };
}
