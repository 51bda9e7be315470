using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>
/// Einsum: the equation is parsed into one label per dimension (an ellipsis becomes fresh labels);
/// labels only one operand has and nothing later needs are summed out, then operands contract
/// pairwise left to right with dot_general (shared labels still needed are batch dimensions, the rest
/// contract), and the result is transposed to the output's label order.
/// </summary>
internal static class OnnxEinsum
{
    private sealed record Operand(Value V, List<char> Labels);

    public static void Lower(OnnxNode n)
    {
        var l = n.L;
        var eq = n.String("equation", "").Replace(" ", "");
        var inputs = n.Inputs;
        var parts = eq.Split("->");
        var ins = parts[0].Split(',');
        if (ins.Length != inputs.Count) throw n.Error($"equation '{eq}' has {ins.Length} operands, the node {inputs.Count}");
        int ellRank = 0;
        for (int k = 0; k < ins.Length; k++)
            if (ins[k].Contains("...", StringComparison.Ordinal))
                ellRank = Math.Max(ellRank, inputs[k].Type.Rank - ins[k].Replace("...", "").Length);
        var ops = new List<Operand>();
        for (int k = 0; k < ins.Length; k++)
        {
            var labels = Expand(n, ins[k], inputs[k].Type.Rank, ellRank);
            if (labels.Distinct().Count() != labels.Count) throw n.Unsupported($"repeated label in '{ins[k]}' (diagonal)");
            ops.Add(new Operand(inputs[k], labels));
        }
        List<char> output;
        if (parts.Length > 1)
        {
            output = Expand(n, parts[1], -1, ellRank);
        }
        else
        {
            // Implicit output: the ellipsis dims, then labels used exactly once, alphabetically.
            var all = ops.SelectMany(o => o.Labels).ToList();
            output = [.. EllipsisLabels(ellRank), .. all.Where(c => !IsEllipsisLabel(c) && all.Count(x => x == c) == 1).Distinct().Order()];
        }

        var cur = SumOut(l, ops[0], Needed(ops, 1, output));
        for (int k = 1; k < ops.Count; k++)
        {
            var needed = Needed(ops, k + 1, output);
            var rhs = SumOut(l, ops[k], [.. needed, .. cur.Labels]);
            cur = SumOut(l, cur, [.. needed, .. rhs.Labels]);
            cur = Contract(l, cur, rhs, needed);
        }
        cur = SumOut(l, cur, output);
        if (cur.Labels.Count != output.Count || output.Any(c => !cur.Labels.Contains(c)))
            throw n.Error($"output labels of '{eq}' do not match the operands");
        var perm = output.Select(c => (long)cur.Labels.IndexOf(c)).ToArray();
        n.Output(0, l.Transpose(cur.V, perm));
    }

    // Ellipsis dims get labels from a private range so they never clash with letters.
    private static char EllipsisLabel(int i) => (char)(0x100 + i);

    private static bool IsEllipsisLabel(char c) => c >= 0x100;

    private static IEnumerable<char> EllipsisLabels(int rank) => Enumerable.Range(0, rank).Select(EllipsisLabel);

    /// <summary>One label per dimension; an ellipsis stands for the leading dims it covers, right-aligned across operands.</summary>
    private static List<char> Expand(OnnxNode n, string term, int rank, int ellRank)
    {
        int at = term.IndexOf("...", StringComparison.Ordinal);
        var letters = term.Replace("...", "");
        if (letters.Any(c => !char.IsAsciiLetter(c))) throw n.Error($"bad einsum term '{term}'");
        if (at < 0)
        {
            if (rank >= 0 && letters.Length != rank) throw n.Error($"einsum term '{term}' has {letters.Length} labels for rank {rank}");
            return [.. letters];
        }
        int e = rank >= 0 ? rank - letters.Length : ellRank;
        if (e < 0) throw n.Error($"einsum term '{term}' has more labels than rank {rank}");
        // Right-align: an operand with fewer ellipsis dims takes the trailing ellipsis labels.
        var ell = Enumerable.Range(0, e).Select(i => EllipsisLabel(i + ellRank - e)).ToList();
        return [.. term[..at].Replace("...", ""), .. ell, .. term[(at + 3)..]];
    }

    private static HashSet<char> Needed(List<Operand> ops, int from, List<char> output)
    {
        var s = new HashSet<char>(output);
        for (int k = from; k < ops.Count; k++) s.UnionWith(ops[k].Labels);
        return s;
    }

    /// <summary>Sums out the labels of <paramref name="o"/> that <paramref name="keep"/> does not hold.</summary>
    private static Operand SumOut(Lowerer l, Operand o, IEnumerable<char> keep)
    {
        var k = keep.ToHashSet();
        var drop = Enumerable.Range(0, o.Labels.Count).Where(i => !k.Contains(o.Labels[i])).ToArray();
        if (drop.Length == 0) return o;
        return new Operand(l.Reduce(o.V, "sum", drop, keepDims: false), [.. o.Labels.Where(c => k.Contains(c))]);
    }

    private static Operand Contract(Lowerer l, Operand a, Operand b, HashSet<char> needed)
    {
        var shared = a.Labels.Where(b.Labels.Contains).ToList();
        var batch = shared.Where(needed.Contains).ToList();
        var contract = shared.Where(c => !needed.Contains(c)).ToList();
        // Size-1 dims broadcast against the other operand's (ellipsis broadcasting).
        var av = a.V;
        var bv = b.V;
        var aShape = av.Type.Shape.ToArray();
        var bShape = bv.Type.Shape.ToArray();
        foreach (var c in shared)
        {
            int i = a.Labels.IndexOf(c), j = b.Labels.IndexOf(c);
            if (aShape[i] == bShape[j]) continue;
            if (aShape[i] == 1) aShape[i] = bShape[j];
            else if (bShape[j] == 1) bShape[j] = aShape[i];
            else throw new LoweringException($"einsum label sizes {aShape[i]} and {bShape[j]} differ");
        }
        av = BroadcastDims(l, av, aShape);
        bv = BroadcastDims(l, bv, bShape);
        var r = OnnxMatMulOps.Dot(l, av, bv, [.. batch.Select(c => a.Labels.IndexOf(c))], [.. batch.Select(c => b.Labels.IndexOf(c))],
            [.. contract.Select(c => a.Labels.IndexOf(c))], [.. contract.Select(c => b.Labels.IndexOf(c))], av.Type.Element);
        var labels = new List<char>(batch);
        labels.AddRange(a.Labels.Where(c => !shared.Contains(c)));
        labels.AddRange(b.Labels.Where(c => !shared.Contains(c)));
        return new Operand(r, labels);
    }

    private static Value BroadcastDims(Lowerer l, Value v, long[] shape) =>
        v.Type.Shape.SequenceEqual(shape) ? v : l.Broadcast(v, [.. shape]);
}
