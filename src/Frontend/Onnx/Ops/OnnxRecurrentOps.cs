using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;
using static GraphCompiler.Frontend.Onnx.Ops.OnnxMatMulOps;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>
/// RNN, GRU and LSTM, unrolled over the (static) sequence length. Steps past a batch entry's
/// sequence_lens keep its state and write zeros to Y; run backwards (reverse direction) the same mask
/// makes each entry start at its own last step.
/// </summary>
public static class OnnxRecurrentOps
{
    private enum Kind { Rnn, Gru, Lstm }

    private static readonly string[] NeedsAlpha = ["Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu"];
    private static readonly string[] NeedsBeta = ["Affine", "ScaledTanh", "HardSigmoid"];

    /// <summary>The node's activation functions, with alpha/beta consumed in order by those that take them.</summary>
    private static List<Func<Value, Value>> Activations(OnnxNode n, string[] defaults, int directions)
    {
        var l = n.L;
        var names = n.HasAttr("activations") ? ActivationNames(n) : [.. Enumerable.Range(0, directions).SelectMany(_ => defaults)];
        if (names.Count != defaults.Length * directions) throw n.Error($"expected {defaults.Length * directions} activations, got {names.Count}");
        var alphas = new Queue<float>(n.Floats("activation_alpha") ?? []);
        var betas = new Queue<float>(n.Floats("activation_beta") ?? []);
        var result = new List<Func<Value, Value>>();
        foreach (var name in names)
        {
            var canon = Canonical(name);
            if (canon is null) throw n.Unsupported($"activation {name}");
            double? alpha = NeedsAlpha.Contains(canon) && alphas.Count > 0 ? alphas.Dequeue() : null;
            double? beta = NeedsBeta.Contains(canon) && betas.Count > 0 ? betas.Dequeue() : null;
            result.Add(x => Activate(l, canon, x, alpha, beta));
        }
        return result;
    }

    private static List<string> ActivationNames(OnnxNode n) =>
        [.. n.Proto.Attribute.First(a => a.Name == "activations").Strings.Select(s => s.ToStringUtf8())];

    private static string? Canonical(string name) =>
        new[] { "Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu", "Softsign", "Softplus" }
            .FirstOrDefault(c => string.Equals(c, name, StringComparison.OrdinalIgnoreCase));

    private static Value Activate(Lowerer l, string name, Value x, double? alpha, double? beta)
    {
        Value S(double v) => l.Scalar(x.Type.Element, v);
        var zero = S(0);
        switch (name)
        {
            case "Relu": return l.Binary("max", x, zero);
            case "Tanh": return l.Emit("tanh", x);
            case "Sigmoid": return l.Emit("logistic", x);
            case "Affine": return l.Binary("add", l.Binary("mul", x, S(alpha ?? 1)), S(beta ?? 0));
            case "LeakyRelu": return l.Select(l.Compare("gt", x, zero), x, l.Binary("mul", x, S(alpha ?? 0.01)));
            case "ThresholdedRelu": return l.Select(l.Compare("gt", x, S(alpha ?? 1)), x, l.Full(x, 0));
            case "ScaledTanh": return l.Binary("mul", S(alpha ?? 1), l.Emit("tanh", l.Binary("mul", x, S(beta ?? 1))));
            case "HardSigmoid":
                var h = l.Binary("add", l.Binary("mul", x, S(alpha ?? 0.2)), S(beta ?? 0.5));
                return l.Binary("max", l.Binary("min", h, S(1)), zero);
            case "Elu": return l.Select(l.Compare("gt", x, zero), x, l.Binary("mul", S(alpha ?? 1), l.Emit("expm1", x)));
            case "Softsign": return l.Binary("div", x, l.Binary("add", l.Emit("abs", x), S(1)));
            default: // Softplus
                var t = l.Emit("log1p", l.Emit("exp", l.Emit("neg", l.Emit("abs", x))));
                return l.Binary("add", l.Binary("max", x, zero), t);
        }
    }

    private static Value Slice(Lowerer l, Value v, int dim, long start, long size)
    {
        var st = new long[v.Type.Rank];
        var lim = v.Type.Shape.ToArray();
        st[dim] = start;
        lim[dim] = start + size;
        var shape = v.Type.Shape.ToArray();
        shape[dim] = size;
        return l.Emit("slice", [v], AttrMap.Of(("start", Ints(st)), ("limit", Ints(lim)), ("stride", Ints(Enumerable.Repeat(1L, v.Type.Rank)))),
            v.Type.WithShape([.. shape]));
    }

    /// <summary>Row <paramref name="i"/> of dim 0, with dim 0 dropped.</summary>
    private static Value Row(Lowerer l, Value v, long i) => l.Reshape(Slice(l, v, 0, i, 1), [.. v.Type.Shape.Skip(1)]);

    private static Value Concat(Lowerer l, List<Value> vs, int dim) =>
        vs.Count == 1 ? vs[0] : l.Emit("concatenate", [.. vs], ("dimension", new IntAttr(dim)));

    private static OnnxLowering Lower(Kind kind) => n =>
    {
        var l = n.L;
        int gates = kind switch { Kind.Rnn => 1, Kind.Gru => 3, _ => 4 };
        var x = n.Input(0);
        long layout = n.Int("layout", 0);
        if (layout is not (0 or 1)) throw n.Unsupported($"layout={layout}");
        if (layout == 1) x = l.Transpose(x, 1, 0, 2);
        var (w, r) = (n.Input(1), n.Input(2));
        var e = x.Type.Element;
        long seq = x.Type.Shape[0], batch = x.Type.Shape[1];
        long hidden = n.HasAttr("hidden_size") ? n.Int("hidden_size") : r.Type.Shape[2];
        var direction = n.String("direction", "forward");
        int dirs = direction switch
        {
            "forward" or "reverse" => 1,
            "bidirectional" => 2,
            _ => throw n.Unsupported($"direction={direction}"),
        };
        if (w.Type.Shape[0] != dirs || w.Type.Shape[1] != gates * hidden) throw n.Error($"W {w.Type} does not match {dirs} directions × {gates}·{hidden}");
        string[] defaults = kind switch { Kind.Rnn => ["Tanh"], Kind.Gru => ["Sigmoid", "Tanh"], _ => ["Sigmoid", "Tanh", "Tanh"] };
        var acts = Activations(n, defaults, dirs);
        double? clip = n.HasAttr("clip") ? n.Float("clip", 0) : null;
        bool linearBeforeReset = kind == Kind.Gru && n.Int("linear_before_reset", 0) != 0;
        bool inputForget = kind == Kind.Lstm && n.Int("input_forget", 0) != 0;

        Value? Initial(int input)
        {
            var v = n.Optional(input);
            return v is not null && layout == 1 ? l.Transpose(v, 1, 0, 2) : v;
        }
        var h0 = Initial(5);
        var c0 = kind == Kind.Lstm ? Initial(6) : null;
        var peep = kind == Kind.Lstm ? n.Optional(7) : null;
        Value? mask = null;
        if (n.Optional(4) is { } lens)
        {
            // mask[t, b] = t < sequence_lens[b]
            var t = l.Emit("iota", [], AttrMap.Of(("dimension", new IntAttr(0))), new TensorType(ElementType.I64, seq, batch));
            mask = l.Compare("lt", t, l.Reshape(l.Convert(lens, ElementType.I64), 1, batch));
        }

        var ys = new List<Value>();
        var hs = new List<Value>();
        var cs = new List<Value>();
        for (int d = 0; d < dirs; d++)
        {
            bool reverse = direction == "reverse" || d == 1;
            var wd = Row(l, w, d);
            var rd = Row(l, r, d);
            // X·Wᵀ for every step at once: [seq, batch, gates·hidden].
            var xw = Dot(l, x, wd, [], [], [2], [1], e);
            Value? wb = null, rb = null;
            if (n.Optional(3) is { } b)
            {
                var bd = Row(l, b, d);
                wb = Slice(l, bd, 0, 0, gates * hidden);
                rb = Slice(l, bd, 0, gates * hidden, gates * hidden);
                if (!(kind == Kind.Gru && linearBeforeReset)) xw = l.Binary("add", xw, l.Binary("add", wb, rb));
                else xw = l.Binary("add", xw, wb);
            }
            var h = h0 is null ? l.Fill(new TensorType(e, batch, hidden), 0) : Row(l, h0, d);
            var c = kind != Kind.Lstm ? null : c0 is null ? l.Fill(new TensorType(e, batch, hidden), 0) : Row(l, c0, d);
            var pd = peep is null ? null : Row(l, peep, d);
            var f = acts[d * defaults.Length];
            var g = defaults.Length > 1 ? acts[d * defaults.Length + 1] : f;
            var hAct = defaults.Length > 2 ? acts[d * defaults.Length + 2] : g;
            var yd = new Value[seq];
            for (long i = 0; i < seq; i++)
            {
                long t = reverse ? seq - 1 - i : i;
                var xt = Row(l, xw, t);
                Value Gate(Value v, int k) => Slice(l, v, 1, k * hidden, hidden);
                Value Clip(Value v) => clip is { } cl ? l.Binary("min", l.Binary("max", v, l.Scalar(e, -cl)), l.Scalar(e, cl)) : v;
                Value hr(Value hv) => Dot(l, hv, rd, [], [], [1], [1], e);
                Value hNew, cNew = c!;
                switch (kind)
                {
                    case Kind.Rnn:
                        hNew = f(Clip(l.Emit("add", xt, hr(h))));
                        break;
                    case Kind.Gru:
                    {
                        var hrAll = hr(h);
                        Value RbGate(int k) => rb is null ? l.Fill(new TensorType(e, hidden), 0) : Slice(l, rb, 0, k * hidden, hidden);
                        Value pre(int k) => linearBeforeReset ? l.Binary("add", l.Emit("add", Gate(xt, k), Gate(hrAll, k)), RbGate(k)) : l.Emit("add", Gate(xt, k), Gate(hrAll, k));
                        var z = f(Clip(pre(0)));
                        var rg = f(Clip(pre(1)));
                        Value hh;
                        if (linearBeforeReset)
                            hh = l.Emit("add", Gate(xt, 2), l.Emit("mul", rg, l.Binary("add", Gate(hrAll, 2), RbGate(2))));
                        else
                        {
                            var rh = Dot(l, l.Emit("mul", rg, h), Slice(l, rd, 0, 2 * hidden, hidden), [], [], [1], [1], e);
                            hh = l.Emit("add", Gate(xt, 2), rh);
                        }
                        hh = g(Clip(hh));
                        var one = l.Fill(z.Type, 1);
                        hNew = l.Emit("add", l.Emit("mul", l.Emit("sub", one, z), hh), l.Emit("mul", z, h));
                        break;
                    }
                    default:
                    {
                        var all = l.Emit("add", xt, hr(h));
                        Value Peep(int k, Value cv) => pd is null ? l.Fill(cv.Type, 0) : l.Binary("mul", cv, Slice(l, pd, 0, k * hidden, hidden));
                        var it = f(Clip(l.Emit("add", Gate(all, 0), Peep(0, c!))));
                        var ft = inputForget ? l.Emit("sub", l.Fill(it.Type, 1), it) : f(Clip(l.Emit("add", Gate(all, 2), Peep(2, c!))));
                        var ct = g(Clip(Gate(all, 3)));
                        cNew = l.Emit("add", l.Emit("mul", ft, c!), l.Emit("mul", it, ct));
                        var ot = f(Clip(l.Emit("add", Gate(all, 1), Peep(1, cNew))));
                        hNew = l.Emit("mul", ot, hAct(cNew));
                        break;
                    }
                }
                if (mask is not null)
                {
                    var m = l.Broadcast(l.Reshape(Row(l, mask, t), batch, 1), hNew.Type.Shape);
                    yd[t] = l.Select(m, hNew, l.Full(hNew, 0));
                    hNew = l.Select(m, hNew, h);
                    if (c is not null) cNew = l.Select(m, cNew, c);
                }
                else yd[t] = hNew;
                h = hNew;
                c = kind == Kind.Lstm ? cNew : null;
            }
            ys.Add(Concat(l, [.. yd.Select(v => l.Reshape(v, 1, 1, batch, hidden))], 0));
            hs.Add(l.Reshape(h, 1, batch, hidden));
            if (c is not null) cs.Add(l.Reshape(c, 1, batch, hidden));
        }
        var y = Concat(l, ys, 1);
        var yh = Concat(l, hs, 0);
        if (layout == 1)
        {
            y = l.Transpose(y, 2, 0, 1, 3);
            yh = l.Transpose(yh, 1, 0, 2);
        }
        n.Output(0, y);
        n.Output(1, yh);
        if (kind == Kind.Lstm && n.WantsOutput(2))
        {
            var yc = Concat(l, cs, 0);
            n.Output(2, layout == 1 ? l.Transpose(yc, 1, 0, 2) : yc);
        }
    };

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("RNN", Lower(Kind.Rnn)), ("GRU", Lower(Kind.Gru)), ("LSTM", Lower(Kind.Lstm)),
    ];
}
