using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>Elementwise ONNX ops (with NumPy broadcasting), activations, comparisons, casts.</summary>
public static class OnnxElementwiseOps
{
    private static OnnxLowering Unary(string op) => n => n.Output(0, n.L.Emit(op, n.Input(0)));

    private static OnnxLowering Binary(string op) => n => n.Output(0, n.L.Binary(op, n.Input(0), n.Input(1)));

    private static OnnxLowering Compare(string direction) => n => n.Output(0, n.L.Compare(direction, n.Input(0), n.Input(1)));

    /// <summary>Sum/Max/Min/Mean over any number of inputs, broadcast together.</summary>
    private static OnnxLowering Variadic(string op, bool mean = false) => n =>
    {
        var inputs = n.Inputs;
        if (inputs.Count == 0) throw n.Error("needs at least one input");
        var acc = inputs[0];
        for (int i = 1; i < inputs.Count; i++) acc = n.L.Binary(op, acc, inputs[i]);
        if (inputs.Count == 1) acc = n.L.Broadcast(acc, acc.Type.Shape);
        if (mean) acc = n.L.Binary("div", acc, n.L.Scalar(acc.Type.Element, inputs.Count));
        n.Output(0, acc);
    };

    private static Value Scalar(OnnxNode n, Value like, double v) => n.L.Scalar(like.Type.Element, v);

    private static void Relu(OnnxNode n)
    {
        var x = n.Input(0);
        n.Output(0, n.L.Binary("max", x, Scalar(n, x, 0)));
    }

    private static void LeakyRelu(OnnxNode n)
    {
        var x = n.Input(0);
        var alpha = n.Float("alpha", 0.01f);
        var neg = n.L.Binary("mul", x, Scalar(n, x, alpha));
        n.Output(0, n.L.Select(n.L.Compare("gt", x, Scalar(n, x, 0)), x, neg));
    }

    private static void PRelu(OnnxNode n)
    {
        var x = n.Input(0);
        var slope = n.Input(1);
        var neg = n.L.Binary("mul", x, slope);
        n.Output(0, n.L.Select(n.L.Compare("lt", x, Scalar(n, x, 0)), neg, n.L.Broadcast(x, neg.Type.Shape)));
    }

    /// <summary>Elu: x if x > 0 else alpha·(exp(x) − 1).</summary>
    private static void Elu(OnnxNode n)
    {
        var x = n.Input(0);
        var neg = n.L.Binary("mul", Scalar(n, x, n.Float("alpha", 1f)), n.L.Emit("expm1", x));
        n.Output(0, n.L.Select(n.L.Compare("gt", x, Scalar(n, x, 0)), x, neg));
    }

    /// <summary>Celu: max(0, x) + min(0, alpha·(exp(x/alpha) − 1)).</summary>
    private static void Celu(OnnxNode n)
    {
        var x = n.Input(0);
        var alpha = Scalar(n, x, n.Float("alpha", 1f));
        var e = n.L.Binary("mul", alpha, n.L.Emit("expm1", n.L.Binary("div", x, alpha)));
        n.Output(0, n.L.Binary("add", n.L.Binary("max", x, Scalar(n, x, 0)), n.L.Binary("min", e, Scalar(n, x, 0))));
    }

    /// <summary>Selu: gamma·(x if x > 0 else alpha·(exp(x) − 1)).</summary>
    private static void Selu(OnnxNode n)
    {
        var x = n.Input(0);
        var alpha = n.Float("alpha", 1.67326319217681884765625f);
        var gamma = n.Float("gamma", 1.05070102214813232421875f);
        var neg = n.L.Binary("mul", Scalar(n, x, alpha), n.L.Emit("expm1", x));
        var inner = n.L.Select(n.L.Compare("gt", x, Scalar(n, x, 0)), x, neg);
        n.Output(0, n.L.Binary("mul", Scalar(n, x, gamma), inner));
    }

    /// <summary>HardSigmoid: max(0, min(1, alpha·x + beta)).</summary>
    private static void HardSigmoid(OnnxNode n)
    {
        var x = n.Input(0);
        var y = n.L.Binary("add", n.L.Binary("mul", x, Scalar(n, x, n.Float("alpha", 0.2f))), Scalar(n, x, n.Float("beta", 0.5f)));
        n.Output(0, n.L.Binary("max", n.L.Binary("min", y, Scalar(n, x, 1)), Scalar(n, x, 0)));
    }

    /// <summary>HardSwish: x · max(0, min(1, x/6 + 1/2)).</summary>
    private static void HardSwish(OnnxNode n)
    {
        var x = n.Input(0);
        var y = n.L.Binary("add", n.L.Binary("mul", x, Scalar(n, x, 1.0 / 6)), Scalar(n, x, 0.5));
        var hs = n.L.Binary("max", n.L.Binary("min", y, Scalar(n, x, 1)), Scalar(n, x, 0));
        n.Output(0, n.L.Binary("mul", x, hs));
    }

    /// <summary>Softplus: log(1 + exp(x)), computed as max(x, 0) + log1p(exp(−|x|)) so it cannot overflow.</summary>
    private static void Softplus(OnnxNode n)
    {
        var x = n.Input(0);
        var t = n.L.Emit("log1p", n.L.Emit("exp", n.L.Emit("neg", n.L.Emit("abs", x))));
        n.Output(0, n.L.Binary("add", n.L.Binary("max", x, Scalar(n, x, 0)), t));
    }

    private static void Softsign(OnnxNode n)
    {
        var x = n.Input(0);
        n.Output(0, n.L.Binary("div", x, n.L.Binary("add", n.L.Emit("abs", x), Scalar(n, x, 1))));
    }

    private static void ThresholdedRelu(OnnxNode n)
    {
        var x = n.Input(0);
        n.Output(0, n.L.Select(n.L.Compare("gt", x, Scalar(n, x, n.Float("alpha", 1f))), x, n.L.Full(x, 0)));
    }

    private static void Shrink(OnnxNode n)
    {
        var x = n.Input(0);
        var lambd = Scalar(n, x, n.Float("lambd", 0.5f));
        var bias = Scalar(n, x, n.Float("bias", 0f));
        var below = n.L.Compare("lt", x, n.L.Emit("neg", lambd));
        var above = n.L.Compare("gt", x, lambd);
        var r = n.L.Select(below, n.L.Binary("add", x, bias), n.L.Full(x, 0));
        n.Output(0, n.L.Select(above, n.L.Binary("sub", x, bias), r));
    }

    private static void Reciprocal(OnnxNode n)
    {
        var x = n.Input(0);
        n.Output(0, n.L.Binary("div", Scalar(n, x, 1), x));
    }

    /// <summary>Pow: the exponent may have another type than the base; it is converted to the base's type.</summary>
    private static void Pow(OnnxNode n)
    {
        var x = n.Input(0);
        var y = n.L.Convert(n.Input(1), x.Type.Element);
        n.Output(0, n.L.Binary("pow", x, y));
    }

    /// <summary>Mod: fmod=1 is C fmod (our rem); fmod=0 is Python's modulo (sign of the divisor), integers only.</summary>
    private static void Mod(OnnxNode n)
    {
        var (a, b) = (n.Input(0), n.Input(1));
        var r = n.L.Binary("rem", a, b);
        if (n.Int("fmod", 0) == 1 || a.Type.Element.IsUnsignedInteger())
        {
            n.Output(0, r);
            return;
        }
        if (a.Type.Element.IsFloat()) throw n.Error("fmod=0 is only defined for integers");
        // Python modulo: when r != 0 and sign(r) != sign(b), add b.
        var zero = n.L.Full(r, 0);
        var bb = n.L.Broadcast(b, r.Type.Shape);
        var nonzero = n.L.Compare("ne", r, zero);
        var signsDiffer = n.L.Compare("ne", n.L.Compare("lt", r, zero), n.L.Compare("lt", bb, zero));
        n.Output(0, n.L.Select(n.L.Binary("and", nonzero, signsDiffer), n.L.Binary("add", r, bb), r));
    }

    private static void Clip(OnnxNode n)
    {
        var x = n.Input(0);
        Value? lo, hi;
        if (n.Opset < 11)
        {
            lo = n.HasAttr("min") ? Scalar(n, x, n.Float("min", 0)) : null;
            hi = n.HasAttr("max") ? Scalar(n, x, n.Float("max", 0)) : null;
        }
        else
        {
            lo = n.Optional(1);
            hi = n.Optional(2);
        }
        var y = x;
        if (lo is not null) y = n.L.Binary("max", y, lo);
        if (hi is not null) y = n.L.Binary("min", y, hi);
        n.Output(0, n.L.Broadcast(y, x.Type.Shape));
    }

    private static void Cast(OnnxNode n)
    {
        if (!FrameworkElementTypes.TryFromOnnx((int)n.Int("to"), out var to, out var reason)) throw n.Unsupported(reason);
        n.Output(0, CastTo(n, n.Input(0), to));
    }

    private static void CastLike(OnnxNode n) => n.Output(0, CastTo(n, n.Input(0), n.Input(1).Type.Element));

    /// <summary>Float → integer casts in ONNX truncate like C, which our convert does; bool → x != 0.</summary>
    private static Value CastTo(OnnxNode n, Value x, ElementType to) => n.L.Convert(x, to);

    private static void Where(OnnxNode n) => n.Output(0, n.L.Select(n.Input(0), n.Input(1), n.Input(2)));

    private static void IsNaN(OnnxNode n)
    {
        var x = n.Input(0);
        n.Output(0, n.L.Compare("ne", x, x));
    }

    private static void IsInf(OnnxNode n)
    {
        var x = n.Input(0);
        bool pos = n.Int("detect_positive", 1) == 1, neg = n.Int("detect_negative", 1) == 1;
        var isPos = n.L.Compare("eq", x, Scalar(n, x, double.PositiveInfinity));
        var isNeg = n.L.Compare("eq", x, Scalar(n, x, double.NegativeInfinity));
        var r = pos && neg ? n.L.Binary("or", isPos, isNeg) : pos ? isPos : neg ? isNeg : n.L.Fill(x.Type.WithElement(ElementType.Bool), 0);
        n.Output(0, r);
    }

    private static void BitShift(OnnxNode n)
    {
        var dir = n.String("direction", "");
        var op = dir switch
        {
            "LEFT" => "shift_left",
            "RIGHT" => "shift_right_logical",
            _ => throw n.Error($"direction must be LEFT or RIGHT, got '{dir}'"),
        };
        n.Output(0, n.L.Binary(op, n.Input(0), n.Input(1)));
    }

    // Identity passes sequences and optionals through as well (opset 14+/16+).
    private static void Identity(OnnxNode n) => n.OutputAny(0, n.AnyInput(0));

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("Add", Binary("add")), ("Sub", Binary("sub")), ("Mul", Binary("mul")), ("Div", Binary("div")),
        ("Pow", Pow), ("Mod", Mod),
        ("And", Binary("and")), ("Or", Binary("or")), ("Xor", Binary("xor")),
        ("Equal", Compare("eq")), ("Less", Compare("lt")), ("LessOrEqual", Compare("le")),
        ("Greater", Compare("gt")), ("GreaterOrEqual", Compare("ge")),
        ("Sum", Variadic("add")), ("Max", Variadic("max")), ("Min", Variadic("min")), ("Mean", Variadic("add", mean: true)),
        ("Abs", Unary("abs")), ("Neg", Unary("neg")), ("Exp", Unary("exp")), ("Log", Unary("log")), ("Sqrt", Unary("sqrt")),
        ("Floor", Unary("floor")), ("Ceil", Unary("ceil")), ("Round", Unary("round")), ("Sign", Unary("sign")),
        ("Sin", Unary("sin")), ("Cos", Unary("cos")), ("Tan", Unary("tan")), ("Asin", Unary("asin")), ("Acos", Unary("acos")),
        ("Atan", Unary("atan")), ("Sinh", Unary("sinh")), ("Cosh", Unary("cosh")), ("Asinh", Unary("asinh")),
        ("Acosh", Unary("acosh")), ("Atanh", Unary("atanh")), ("Tanh", Unary("tanh")), ("Sigmoid", Unary("logistic")),
        ("Erf", Unary("erf")), ("Not", Unary("not")), ("Reciprocal", Reciprocal),
        ("Relu", Relu), ("LeakyRelu", LeakyRelu), ("PRelu", PRelu), ("Elu", Elu), ("Celu", Celu), ("Selu", Selu),
        ("HardSigmoid", HardSigmoid), ("HardSwish", HardSwish), ("Softplus", Softplus), ("Softsign", Softsign),
        ("ThresholdedRelu", ThresholdedRelu), ("Shrink", Shrink),
        ("Clip", Clip), ("Cast", Cast), ("CastLike", CastLike), ("Where", Where), ("IsNaN", IsNaN), ("IsInf", IsInf),
        ("BitShift", BitShift), ("Identity", Identity),
    ];
}
