using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>
/// TfIdfVectorizer over integer tokens. The pool of n-grams is known at import time, so counting is
/// comparisons: for each gram length n and skip distance d, the tokens at i, i+d, …, i+(n−1)d of every
/// start i are compared with every pool gram of length n at once ([rows, starts, grams]), the matches
/// summed over starts, and the per-gram counts mapped to output slots by a constant 0/1 matrix.
/// </summary>
public static class OnnxTextOps
{
    private static void TfIdfVectorizer(OnnxNode n)
    {
        var l = n.L;
        var x = n.Input(0);
        if (n.Strings("pool_strings") is { Length: > 0 }) throw n.Unsupported("pool_strings (string tokens)");
        if (!x.Type.Element.IsInteger()) throw n.Unsupported($"input of type {x.Type.Element} (only integer tokens)");
        var mode = n.String("mode", "");
        if (mode is not ("TF" or "IDF" or "TFIDF")) throw n.Unsupported($"mode={mode}");
        long minN = n.Int("min_gram_length"), maxN = n.Int("max_gram_length"), maxSkip = n.Int("max_skip_count");
        if (minN < 1 || maxN < minN || maxSkip < 0)
            throw n.Error($"min_gram_length={minN}, max_gram_length={maxN}, max_skip_count={maxSkip} are inconsistent");
        var counts = n.Ints("ngram_counts") ?? throw n.Error("attribute 'ngram_counts' is required");
        var indexes = n.Ints("ngram_indexes") ?? throw n.Error("attribute 'ngram_indexes' is required");
        var pool = n.Ints("pool_int64s") ?? [];
        var weights = n.Floats("weights");
        if (indexes.Length == 0 || indexes.Any(i => i < 0)) throw n.Error("ngram_indexes must be non-empty and non-negative");
        long outSize = indexes.Max() + 1;
        if (weights is { Length: > 0 } && weights.Length < outSize) throw n.Error($"weights has {weights.Length} entries for {outSize} outputs");
        if (x.Type.Rank > 2) throw n.Error($"input must be [C] or [B, C], got {x.Type}");

        // The pool's grams in order (gram g goes to output ngram_indexes[g]); a repeated gram counts
        // for its last occurrence, as the reference's trie keeps the last id.
        var grams = new Dictionary<string, (long[] Tokens, long Slot)>();
        long id = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            long start = counts[i], end = i + 1 < counts.Length ? counts[i + 1] : pool.Length, size = i + 1;
            if (start < 0 || end < start || end > pool.Length) throw n.Error($"ngram_counts [{string.Join(", ", counts)}] do not fit the pool ({pool.Length})");
            for (long at = start; at + size <= end; at += size, id++)
            {
                if (id >= indexes.Length) throw n.Error($"the pool has more grams than ngram_indexes ({indexes.Length})");
                if (size < minN || size > maxN) continue;
                var tokens = pool[(int)at..(int)(at + size)];
                grams[string.Join(",", tokens)] = (tokens, indexes[id]);
            }
        }

        var rows = x.Type.Rank == 2 ? l.Convert(x, ElementType.I64) : l.Reshape(l.Convert(x, ElementType.I64), 1, x.Type.ElementCount);
        long b = rows.Type.Shape[0], c = rows.Type.Shape[1];
        Value? freq = null;
        foreach (var group in grams.Values.GroupBy(gm => gm.Tokens.Length))
        {
            int size = group.Key;
            var list = group.ToList();
            // Slot matrix: gram k adds to output slot list[k].Slot.
            var onehot = new double[list.Count * outSize];
            for (int k = 0; k < list.Count; k++) onehot[k * outSize + list[k].Slot] = 1;
            var toSlots = OnnxT.Constant(l, ElementType.F32, [list.Count, outSize], onehot);
            // Unigrams are counted once; longer grams once per skip distance 1 … max_skip_count + 1.
            for (long d = 1; d <= (size == 1 ? 1 : maxSkip + 1); d++)
            {
                long starts = c - (size - 1) * d;
                if (starts <= 0) break;
                Value? match = null;
                for (int k = 0; k < size; k++)
                {
                    var tok = l.Reshape(OnnxT.SliceAxis(l, rows, 1, k * d, k * d + starts), b, starts, 1);
                    var want = l.Reshape(l.Ints(ElementType.I64, [.. list.Select(gm => gm.Tokens[k])]), 1, 1, list.Count);
                    var eq = l.Compare("eq", tok, want);
                    match = match is null ? eq : l.Emit("and", match, eq);
                }
                var perGram = l.Reduce(l.Convert(match!, ElementType.F32), "sum", [1], false);
                var slots = OnnxMatMulOps.Dot(l, perGram, toSlots, [], [], [1], [0], ElementType.F32);
                freq = freq is null ? slots : l.Emit("add", freq, slots);
            }
        }
        freq ??= l.Fill(new TensorType(ElementType.F32, b, outSize), 0);

        bool weighted = weights is { Length: > 0 };
        Value W() => l.Reshape(OnnxT.Constant(l, ElementType.F32, [outSize], [.. weights!.Take((int)outSize).Select(w => (double)w)]), 1, outSize);
        var y = mode switch
        {
            "TF" => freq,
            "IDF" => weighted
                ? l.Select(l.Compare("gt", freq, l.Scalar(ElementType.F32, 0)), l.Broadcast(W(), freq.Type.Shape), l.Full(freq, 0))
                : l.Convert(l.Compare("gt", freq, l.Scalar(ElementType.F32, 0)), ElementType.F32),
            _ => weighted ? l.Binary("mul", freq, W()) : freq,
        };
        n.Output(0, x.Type.Rank == 2 ? y : l.Reshape(y, outSize));
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All = [("TfIdfVectorizer", TfIdfVectorizer)];
}
