using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, following the spec's reference implementation.</summary>
public static class OnnxLossOps
{
    /// <summary>
    /// loss[n, d...] = −input[n, target[n, d...], d...] · w, where w = weight[target] (1 without weights)
    /// and 0 where target == ignore_index. "mean" divides the sum by the sum of w when weights or an
    /// ignore_index are given, else by the element count; "sum" sums; "none" keeps the shape.
    /// </summary>
    internal static Value Nll(OnnxNode n, Value input, Value target, Value? weight)
    {
        var l = n.L;
        var e = input.Type.Element;
        if (input.Type.Rank < 2) throw n.Error($"input must have rank >= 2, got {input.Type}");
        var ts = target.Type.Shape;
        var expected = input.Type.Shape.Where((_, i) => i != 1).ToArray();
        if (!ts.SequenceEqual(expected)) throw n.Error($"target {target.Type} does not match input {input.Type}");
        var reduction = n.String("reduction", "mean");
        if (reduction is not ("none" or "sum" or "mean")) throw n.Unsupported($"reduction={reduction}");
        long? ignore = n.HasAttr("ignore_index") ? n.Int("ignore_index") : null;

        // One-hot of the target along the class axis picks input[n, target, d] without a gather.
        var t = l.Convert(target, ElementType.I64);
        var kept = (long[])[ts[0], 1, .. ts.Skip(1)];
        var tKept = l.Reshape(t, kept);
        var iota = l.Emit("iota", [], AttrMap.Of(("dimension", new IntAttr(1))), input.Type.WithElement(ElementType.I64));
        var oneHot = l.Compare("eq", iota, tKept);
        var zeros = l.Full(input, 0);
        var picked = l.Reduce(l.Select(oneHot, input, zeros), "sum", [1], keepDims: false);
        var loss = l.Emit("neg", picked);

        Value? w = null;
        if (weight is not null)
        {
            var wb = l.Broadcast(l.Reshape(weight, [1, weight.Type.ElementCount, .. Enumerable.Repeat(1L, ts.Length - 1)]), input.Type.Shape);
            w = l.Reduce(l.Select(oneHot, wb, zeros), "sum", [1], keepDims: false);
        }
        if (ignore is { } ii)
        {
            var keep = l.Compare("ne", t, l.Scalar(ElementType.I64, ii));
            w = l.Select(keep, w ?? l.Full(loss, 1), l.Full(loss, 0));
        }
        if (w is not null) loss = l.Emit("mul", loss, w);
        var all = Enumerable.Range(0, ts.Length).ToArray();
        switch (reduction)
        {
            case "none":
                return loss;
            case "sum":
                return l.Reduce(loss, "sum", all, keepDims: false);
            default:
                var sum = l.Reduce(loss, "sum", all, keepDims: false);
                var count = w is null ? l.Scalar(e, loss.Type.ElementCount) : l.Reduce(w, "sum", all, keepDims: false);
                return l.Emit("div", sum, count);
        }
    }

    private static void NegativeLogLikelihoodLoss(OnnxNode n) => n.Output(0, Nll(n, n.Input(0), n.Input(1), n.Optional(2)));

    /// <summary>SoftmaxCrossEntropyLoss: NLL of log_softmax(scores) along the class axis; output #1 is the log-probabilities.</summary>
    private static void SoftmaxCrossEntropyLoss(OnnxNode n)
    {
        var scores = n.Input(0);
        if (scores.Type.Rank < 2) throw n.Error($"scores must have rank >= 2, got {scores.Type}");
        var logProb = OnnxReductionOps.LogSoftmax(n.L, scores, 1);
        n.Output(0, Nll(n, logProb, n.Input(1), n.Optional(2)));
        n.Output(1, logProb);
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("NegativeLogLikelihoodLoss", NegativeLogLikelihoodLoss), ("SoftmaxCrossEntropyLoss", SoftmaxCrossEntropyLoss),
    ];
}
