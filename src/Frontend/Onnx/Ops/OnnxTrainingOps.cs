using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;
using GraphCompiler.IR.Training;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>
/// The ops of domain <c>ai.onnx.preview.training</c>: the optimizers Adagrad, Adam and Momentum, emitted through
/// <see cref="UpdateRules"/> (the rules behind <see cref="Optimizer"/>) with ONNX's conventions for the update
/// count T (0 before the first update), and Gradient, which becomes a function of the module plus a
/// <c>gradient</c> op calling it.
/// </summary>
public static class OnnxTrainingOps
{
    public const string Domain = "ai.onnx.preview.training";

    /// <summary>
    /// Adagrad: r = R/(1 + T·decay_factor); per tensor X with gradient G and accumulator H,
    /// H_new = H + G_r², X_new = X − r·G_r/(√H_new + ε), G_r = G + norm_coefficient·X.
    /// </summary>
    private static void Adagrad(OnnxNode n)
    {
        int count = TensorCount(n, 3);
        double decay = n.Float("decay_factor", 0f), epsilon = n.Float("epsilon", 1e-6f), l2 = n.Float("norm_coefficient", 0f);
        for (int i = 0; i < count; i++)
        {
            var (b, x, lr, t) = Operands(n, i);
            var rate = UpdateRules.DecayedRate(b, lr, t, decay);
            var (xNew, hNew) = UpdateRules.Adagrad(b, x, Like(n, 2 + count + i, x), Like(n, 2 + 2 * count + i, x), rate, epsilon, l2);
            n.Output(i, xNew);
            n.Output(count + i, hNew);
        }
    }

    /// <summary>
    /// Momentum: V_new = α·V + β'·G_r with β' = (T > 0 ? β : 1); X_new = X − R·V_new ("standard") or
    /// X − R·(G_r + α·V_new) ("nesterov"). All four attributes are required.
    /// </summary>
    private static void Momentum(OnnxNode n)
    {
        int count = TensorCount(n, 3);
        double alpha = Required(n, "alpha"), beta = Required(n, "beta"), l2 = Required(n, "norm_coefficient");
        if (!n.HasAttr("mode")) throw n.Error("attribute 'mode' is required");
        var mode = n.String("mode", "");
        if (mode is not ("standard" or "nesterov")) throw n.Unsupported($"mode '{mode}'");
        for (int i = 0; i < count; i++)
        {
            var (b, x, lr, _) = Operands(n, i);
            // The first update takes the whole gradient: that is what makes V = 0 a neutral start.
            Value? scale = beta == 1 ? null : WhenStarted(n, b, b.Scalar(lr.Type.Element, beta), b.Scalar(lr.Type.Element, 1));
            var (xNew, vNew) = UpdateRules.Momentum(b, x, Like(n, 2 + count + i, x), Like(n, 2 + 2 * count + i, x), lr, alpha, scale,
                nesterov: mode == "nesterov", l2);
            n.Output(i, xNew);
            n.Output(count + i, vNew!);
        }
    }

    /// <summary>
    /// Adam: V_new = α·V + (1−α)·G_r, H_new = β·H + (1−β)·G_r², X_new = X − R'·V_new/(√H_new + ε) with
    /// R' = R·√(1−β^T)/(1−α^T) when T > 0 (else R), then X_final = (1 − norm_coefficient_post)·X_new.
    /// </summary>
    private static void Adam(OnnxNode n)
    {
        int count = TensorCount(n, 4);
        double alpha = n.Float("alpha", 0.9f), beta = n.Float("beta", 0.999f), epsilon = n.Float("epsilon", 1e-6f);
        double l2 = n.Float("norm_coefficient", 0f), post = n.Float("norm_coefficient_post", 0f);
        for (int i = 0; i < count; i++)
        {
            var (b, x, lr, t) = Operands(n, i);
            var e = lr.Type.Element;
            var one = b.Scalar(e, 1);
            var corrected = b.Emit("div", b.Emit("sqrt", b.Emit("sub", one, b.Emit("pow", b.Scalar(e, beta), t))),
                b.Emit("sub", one, b.Emit("pow", b.Scalar(e, alpha), t)));
            // At T = 0 the correction is 0/0; the select keeps that NaN out of the step.
            var stepSize = b.Emit("mul", lr, WhenStarted(n, b, corrected, one));
            var (xNew, vNew, hNew) = UpdateRules.Adam(b, x, Like(n, 2 + count + i, x), Like(n, 2 + 2 * count + i, x),
                Like(n, 2 + 3 * count + i, x), stepSize, rootScale: null, alpha, beta, epsilon, l2);
            if (post != 0) xNew = n.L.Binary("mul", xNew, n.L.Scalar(x.Type.Element, 1 - post));
            n.Output(i, xNew);
            n.Output(count + i, vNew);
            n.Output(2 * count + i, hNew);
        }
    }

    /// <summary>
    /// Gradient(xs, zs, y): the subgraph from the tensors named in xs and zs to y becomes a function of the module
    /// (arguments xs then zs, result y), and the node a <c>gradient</c> op calling it with the node's inputs, whose
    /// outputs after y's value are dy/dx for each x in xs.
    /// </summary>
    private static void Gradient(OnnxNode n)
    {
        if (n.Proto.Domain != Domain) throw n.Unsupported($"Gradient of domain '{n.Proto.Domain}'");
        var xs = n.Strings("xs") ?? throw n.Error("attribute 'xs' is required");
        var zs = n.Strings("zs") ?? [];
        if (!n.HasAttr("y")) throw n.Error("attribute 'y' is required");
        var y = n.String("y", "");
        if (n.InputCount != xs.Length + zs.Length)
            throw n.Error($"{n.InputCount} inputs for {xs.Length} xs and {zs.Length} zs; there must be one per name");
        var inputs = Enumerable.Range(0, n.InputCount).Select(n.Input).ToList();
        var f = n.LowerFunction($"gradient_of_{y}", [.. xs, .. zs], [.. inputs.Select(v => v.Type)], y);
        var results = n.L.EmitMulti("gradient", inputs, AttrMap.Of(("callee", A.Symbol(f.Name)),
            ("wrt", A.Ints([.. Enumerable.Range(0, xs.Length).Select(k => (long)k)])), ("of", A.Int(0))));
        for (int i = 0; i < xs.Length; i++) n.Output(i, results[1 + i]);
    }

    // ---- shared by the optimizers ------------------------------------------------------------------

    /// <summary>How many tensors the node optimizes: its inputs are R, T, then <paramref name="perTensor"/> groups of that many.</summary>
    private static int TensorCount(OnnxNode n, int perTensor)
    {
        if (n.Proto.Domain != Domain) throw n.Unsupported($"{n.OpType} of domain '{n.Proto.Domain}'");
        int rest = n.InputCount - 2;
        if (rest <= 0 || rest % perTensor != 0)
            throw n.Error($"{n.InputCount} inputs; expected R, T and {perTensor} inputs per optimized tensor");
        return rest / perTensor;
    }

    /// <summary>The builder, tensor i, and R and T as rank-0 values of the type its update computes in.</summary>
    private static (IrBuilder B, Value X, Value Lr, Value T) Operands(OnnxNode n, int i)
    {
        var b = n.L.B;
        var x = n.Input(2 + i);
        if (!x.Type.Element.IsFloat()) throw n.Error($"optimized tensor #{i} is {x.Type}, not a float tensor");
        var e = UpdateRules.ComputeType(x.Type.Element);
        var (r, t) = (n.Input(0), n.Input(1));
        if (r.Type.ElementCount != 1 || t.Type.ElementCount != 1) throw n.Error($"R and T must be scalars, got {r.Type} and {t.Type}");
        return (b, x, UpdateRules.ScalarIn(b, r, e), UpdateRules.ScalarIn(b, t, e));
    }

    /// <summary>Input <paramref name="k"/>, which must have the optimized tensor's type (a gradient or a state).</summary>
    private static Value Like(OnnxNode n, int k, Value x)
    {
        var v = n.Input(k);
        return v.Type == x.Type ? v : throw n.Error($"input #{k} is {v.Type}, but the tensor it belongs to is {x.Type}");
    }

    /// <summary><paramref name="started"/> when T > 0, else <paramref name="first"/> (rank-0 values of one type).</summary>
    private static Value WhenStarted(OnnxNode n, IrBuilder b, Value started, Value first)
    {
        var t = n.Input(1);
        if (t.Type.Rank != 0) t = b.Reshape(t);
        var zero = b.Constant(Tensor.Scalar(t.Type.Element, 0));
        return b.Emit("select", b.Compare(t, zero, "gt"), started, first);
    }

    private static double Required(OnnxNode n, string name) =>
        n.HasAttr(name) ? n.Float(name, 0f) : throw n.Error($"attribute '{name}' is required");

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("Adagrad", Adagrad), ("Adam", Adam), ("Momentum", Momentum), ("Gradient", Gradient),
    ];

    /// <summary>Whether <paramref name="opType"/> is one of the training ops (the importer takes domain <see cref="Domain"/> for these only).</summary>
    public static bool Has(string opType) => opType is "Adagrad" or "Adam" or "Momentum" or "Gradient";
}
