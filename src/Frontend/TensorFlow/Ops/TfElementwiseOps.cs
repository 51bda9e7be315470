using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>Elementwise TF ops (NumPy broadcasting), activations, comparisons, logic, Select, Cast, AddN.</summary>
public static class TfElementwiseOps
{
    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("Add", Binary("add")), ("AddV2", Binary("add")), ("Sub", Binary("sub")), ("Mul", Binary("mul")),
        ("Div", Binary("div")), ("RealDiv", Binary("div")), ("Maximum", Binary("max")), ("Minimum", Binary("min")),
        ("Pow", Binary("pow")), ("Atan2", Binary("atan2")), ("TruncateDiv", Binary("div")), ("TruncateMod", Binary("rem")),
        ("FloorDiv", FloorDiv), ("FloorMod", FloorMod), ("SquaredDifference", SquaredDifference),
        ("Neg", Unary("neg")), ("Abs", Unary("abs")), ("Sign", Unary("sign")), ("Sqrt", Unary("sqrt")), ("Rsqrt", Unary("rsqrt")),
        ("Exp", Unary("exp")), ("Expm1", Unary("expm1")), ("Log", Unary("log")), ("Log1p", Unary("log1p")),
        ("Tanh", Unary("tanh")), ("Sigmoid", Unary("logistic")), ("Erf", Unary("erf")), ("Sin", Unary("sin")), ("Cos", Unary("cos")),
        ("Floor", Unary("floor")), ("Ceil", Unary("ceil")), ("Round", Unary("round")), ("Rint", Unary("round")),
        ("Square", n => { var x = n.Input(0); n.Output(0, n.L.Emit("mul", x, x)); }),
        ("Reciprocal", Reciprocal), ("Inv", Reciprocal),
        ("Relu", n => { var x = n.Input(0); n.Output(0, n.L.Binary("max", x, Zero(n, x))); }),
        ("Relu6", n => { var x = n.Input(0); n.Output(0, n.L.Binary("min", n.L.Binary("max", x, Zero(n, x)), n.L.Scalar(x.Type.Element, 6))); }),
        ("Elu", Elu), ("Selu", Selu), ("Softplus", Softplus), ("Softsign", Softsign), ("LeakyRelu", LeakyRelu),
        ("Softmax", n => n.Output(0, Softmax(n.L, n.Input(0), log: false))), ("LogSoftmax", n => n.Output(0, Softmax(n.L, n.Input(0), log: true))),
        ("Greater", Compare("gt")), ("GreaterEqual", Compare("ge")), ("Less", Compare("lt")), ("LessEqual", Compare("le")),
        ("Equal", Compare("eq")), ("NotEqual", Compare("ne")),
        ("LogicalAnd", Binary("and")), ("LogicalOr", Binary("or")), ("LogicalNot", Unary("not")),
        ("IsFinite", Unary("is_finite")), ("IsNan", n => { var x = n.Input(0); n.Output(0, n.L.Compare("ne", x, x)); }),
        ("Select", Select), ("SelectV2", n => n.Output(0, n.L.Select(n.Input(0), n.Input(1), n.Input(2)))),
        ("Cast", n => n.Output(0, n.L.Convert(n.Input(0), n.Type("DstT")))),
        ("AddN", AddN),
    ];

    private static TfLowering Unary(string op) => n => n.Output(0, n.L.Emit(op, n.Input(0)));

    private static TfLowering Binary(string op) => n => n.Output(0, n.L.Binary(op, n.Input(0), n.Input(1)));

    private static TfLowering Compare(string direction) => n => n.Output(0, n.L.Compare(direction, n.Input(0), n.Input(1)));

    private static Value Zero(TfNode n, Value like) => n.L.Scalar(like.Type.Element, 0);

    private static void Reciprocal(TfNode n)
    {
        var x = n.Input(0);
        n.Output(0, n.L.Binary("div", n.L.Scalar(x.Type.Element, 1), x));
    }

    /// <summary>FloorDiv: floor(x / y); integers round toward −∞ (truncated quotient minus one when the signs differ and there is a remainder).</summary>
    private static void FloorDiv(TfNode n)
    {
        Value x = n.Input(0), y = n.Input(1);
        var l = n.L;
        if (x.Type.Element.IsFloat()) { n.Output(0, l.Emit("floor", l.Binary("div", x, y))); return; }
        var q = l.Binary("div", x, y);
        if (x.Type.Element.IsUnsignedInteger()) { n.Output(0, q); return; }
        var r = l.Binary("rem", x, y);
        var adjust = l.Binary("and", l.Compare("ne", r, Zero(n, r)), l.Binary("xor", l.Compare("lt", r, Zero(n, r)), l.Compare("lt", y, Zero(n, y))));
        n.Output(0, l.Select(adjust, l.Binary("sub", q, l.Scalar(q.Type.Element, 1)), q));
    }

    /// <summary>FloorMod: the remainder with the divisor's sign (x − floor(x / y)·y).</summary>
    private static void FloorMod(TfNode n)
    {
        Value x = n.Input(0), y = n.Input(1);
        var l = n.L;
        var r = l.Binary("rem", x, y);
        if (x.Type.Element.IsUnsignedInteger()) { n.Output(0, r); return; }
        var adjust = l.Binary("and", l.Compare("ne", r, Zero(n, r)), l.Binary("xor", l.Compare("lt", r, Zero(n, r)), l.Compare("lt", y, Zero(n, y))));
        n.Output(0, l.Select(adjust, l.Binary("add", r, y), r));
    }

    private static void SquaredDifference(TfNode n)
    {
        var d = n.L.Binary("sub", n.Input(0), n.Input(1));
        n.Output(0, n.L.Emit("mul", d, d));
    }

    /// <summary>Elu: x if x &gt; 0 else exp(x) − 1.</summary>
    private static void Elu(TfNode n)
    {
        var x = n.Input(0);
        n.Output(0, n.L.Select(n.L.Compare("gt", x, Zero(n, x)), x, n.L.Emit("expm1", x)));
    }

    /// <summary>Selu with TF's constants: scale·(x if x &gt; 0 else alpha·(exp(x) − 1)).</summary>
    private static void Selu(TfNode n)
    {
        var x = n.Input(0);
        const double alpha = 1.6732632423543772848170429916717, scale = 1.0507009873554804934193349852946;
        var neg = n.L.Binary("mul", n.L.Scalar(x.Type.Element, alpha), n.L.Emit("expm1", x));
        var inner = n.L.Select(n.L.Compare("gt", x, Zero(n, x)), x, neg);
        n.Output(0, n.L.Binary("mul", n.L.Scalar(x.Type.Element, scale), inner));
    }

    /// <summary>Softplus log(1 + exp(x)) as max(x, 0) + log1p(exp(−|x|)), which cannot overflow.</summary>
    private static void Softplus(TfNode n)
    {
        var x = n.Input(0);
        var t = n.L.Emit("log1p", n.L.Emit("exp", n.L.Emit("neg", n.L.Emit("abs", x))));
        n.Output(0, n.L.Binary("add", n.L.Binary("max", x, Zero(n, x)), t));
    }

    private static void Softsign(TfNode n)
    {
        var x = n.Input(0);
        n.Output(0, n.L.Binary("div", x, n.L.Binary("add", n.L.Emit("abs", x), n.L.Scalar(x.Type.Element, 1))));
    }

    /// <summary>LeakyRelu (alpha default 0.2): x if x &gt; 0 else alpha·x.</summary>
    private static void LeakyRelu(TfNode n)
    {
        var x = n.Input(0);
        var neg = n.L.Binary("mul", x, n.L.Scalar(x.Type.Element, n.Float("alpha", 0.2f)));
        n.Output(0, n.L.Select(n.L.Compare("gt", x, Zero(n, x)), x, neg));
    }

    /// <summary>Softmax/LogSoftmax over the last axis, shifted by the maximum for range.</summary>
    internal static Value Softmax(Lowerer l, Value x, bool log)
    {
        if (x.Type.Rank == 0) throw new LoweringException("softmax needs rank ≥ 1");
        int axis = x.Type.Rank - 1;
        var shifted = l.Binary("sub", x, l.Reduce(x, "max", [axis], keepDims: true));
        var e = l.Emit("exp", shifted);
        var sum = l.Reduce(e, "sum", [axis], keepDims: true);
        return log ? l.Binary("sub", shifted, l.Emit("log", sum)) : l.Binary("div", e, sum);
    }

    /// <summary>Select (v1): a vector condition picks whole rows of higher-rank operands; otherwise shapes match.</summary>
    private static void Select(TfNode n)
    {
        Value c = n.Input(0), t = n.Input(1), e = n.Input(2);
        if (c.Type.Rank == 1 && t.Type.Rank > 1)
        {
            if (c.Type.Shape[0] != t.Type.Shape[0]) throw n.Error($"condition {c.Type} does not match the first dimension of {t.Type}");
            c = n.L.Reshape(c, [c.Type.Shape[0], .. Enumerable.Repeat(1L, t.Type.Rank - 1)]);
        }
        else if (c.Type.Rank != 0 && !c.Type.Shape.SequenceEqual(t.Type.Shape))
            throw n.Error($"condition {c.Type} must be a scalar, a vector over the first dimension, or the shape of {t.Type}");
        n.Output(0, n.L.Select(c, t, e));
    }

    private static void AddN(TfNode n)
    {
        var xs = n.Inputs;
        if (xs.Count == 0) throw n.Error("needs at least one input");
        var acc = xs[0];
        for (int i = 1; i < xs.Count; i++) acc = n.L.Binary("add", acc, xs[i]);
        n.Output(0, acc);
    }
}
