using System.Text;

namespace GraphCompiler.Tests;

/// <summary>
/// A BERT encoder layer (post-layer-norm, erf GELU) as IR with its weights as arguments, in the form an ONNX export
/// lowers to: projections as contractions of [batch, seq, hidden] activations with weights, heads split by reshape
/// and transpose, attention as contractions over two batch dimensions (batch × heads), softmax and layer norms as row
/// reductions. The tests run small ones; <c>benchmarks/gpu/bert_layer_b8_s128.ir</c> (BERT-base: hidden 768, 12
/// heads, FFN 3072) is this generator's output, checked by a test, for tools/gpu-check.
/// </summary>
public static class EncoderLayer
{
    public static string Ir(int batch, int seq, int hidden, int heads, int ffn, string header = "")
    {
        int d = hidden / heads;
        string T(params int[] dims) => $"tensor<{string.Join("x", dims)}xf32>";
        var x = T(batch, seq, hidden);
        var sb = new StringBuilder(header);
        string[] args = ["x", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo", "g1", "be1", "w1", "b1", "w2", "b2", "g2", "be2"];
        string[] types = [x, T(hidden, hidden), T(hidden), T(hidden, hidden), T(hidden), T(hidden, hidden), T(hidden), T(hidden, hidden), T(hidden),
            T(hidden), T(hidden), T(hidden, ffn), T(ffn), T(ffn, hidden), T(hidden), T(hidden), T(hidden)];
        sb.Append("func @main(").Append(string.Join(", ", args.Select((a, i) => $"%{a}: {types[i]} {{name = \"{a}\"}}"))).Append($") -> ({x} {{name = \"y\"}}) {{\n");
        void L(string line) => sb.Append("  ").Append(line).Append('\n');
        // y = x·w + b over the last dimension.
        void Dense(string y, string input, string w, string bias, int k, int n)
        {
            L($"%{y}_mm = dot_general %{input}, %{w} {{lhs_contract = [2], rhs_contract = [0]}} : {T(batch, seq, n)}");
            L($"%{y}_b = broadcast_in_dim %{bias} {{dims = [2]}} : {T(batch, seq, n)}");
            L($"%{y} = add %{y}_mm, %{y}_b : {T(batch, seq, n)}");
        }
        // [batch, seq, hidden] → [batch, heads, seq, d]
        void Heads(string y, string input)
        {
            L($"%{y}_r = reshape %{input} : {T(batch, seq, heads, d)}");
            L($"%{y} = transpose %{y}_r {{perm = [0, 2, 1, 3]}} : {T(batch, heads, seq, d)}");
        }
        void LayerNorm(string y, string input, string gamma, string beta)
        {
            L($"%{y}_s = reduce %{input} {{dims = [2], kind = sum}} : {T(batch, seq)}");
            L($"%{y}_n = constant {{value = dense<{hidden}.0>}} : tensor<f32>");
            L($"%{y}_nb = broadcast_in_dim %{y}_n {{dims = []}} : {T(batch, seq)}");
            L($"%{y}_mean = div %{y}_s, %{y}_nb : {T(batch, seq)}");
            L($"%{y}_mb = broadcast_in_dim %{y}_mean {{dims = [0, 1]}} : {x}");
            L($"%{y}_d = sub %{input}, %{y}_mb : {x}");
            L($"%{y}_d2 = mul %{y}_d, %{y}_d : {x}");
            L($"%{y}_v = reduce %{y}_d2 {{dims = [2], kind = sum}} : {T(batch, seq)}");
            L($"%{y}_var = div %{y}_v, %{y}_nb : {T(batch, seq)}");
            L($"%{y}_eps = constant {{value = dense<1.0e-12>}} : tensor<f32>");
            L($"%{y}_eb = broadcast_in_dim %{y}_eps {{dims = []}} : {T(batch, seq)}");
            L($"%{y}_ve = add %{y}_var, %{y}_eb : {T(batch, seq)}");
            L($"%{y}_rs = rsqrt %{y}_ve : {T(batch, seq)}");
            L($"%{y}_rb = broadcast_in_dim %{y}_rs {{dims = [0, 1]}} : {x}");
            L($"%{y}_xn = mul %{y}_d, %{y}_rb : {x}");
            L($"%{y}_gb = broadcast_in_dim %{gamma} {{dims = [2]}} : {x}");
            L($"%{y}_bb = broadcast_in_dim %{beta} {{dims = [2]}} : {x}");
            L($"%{y}_g = mul %{y}_xn, %{y}_gb : {x}");
            L($"%{y} = add %{y}_g, %{y}_bb : {x}");
        }
        Dense("q", "x", "wq", "bq", hidden, hidden);
        Dense("k", "x", "wk", "bk", hidden, hidden);
        Dense("v", "x", "wv", "bv", hidden, hidden);
        Heads("qh", "q");
        Heads("kh", "k");
        Heads("vh", "v");
        var scores = T(batch, heads, seq, seq);
        L($"%sc = dot_general %qh, %kh {{lhs_batch = [0, 1], rhs_batch = [0, 1], lhs_contract = [3], rhs_contract = [3]}} : {scores}");
        L($"%scale = constant {{value = dense<{(1 / Math.Sqrt(d)).ToString("R", System.Globalization.CultureInfo.InvariantCulture)}>}} : tensor<f32>");
        L($"%scale_b = broadcast_in_dim %scale {{dims = []}} : {scores}");
        L($"%ss = mul %sc, %scale_b : {scores}");
        L($"%mx = reduce %ss {{dims = [3], kind = max}} : {T(batch, heads, seq)}");
        L($"%mxb = broadcast_in_dim %mx {{dims = [0, 1, 2]}} : {scores}");
        L($"%sh = sub %ss, %mxb : {scores}");
        L($"%e = exp %sh : {scores}");
        L($"%es = reduce %e {{dims = [3], kind = sum}} : {T(batch, heads, seq)}");
        L($"%esb = broadcast_in_dim %es {{dims = [0, 1, 2]}} : {scores}");
        L($"%p = div %e, %esb : {scores}");
        L($"%ctx = dot_general %p, %vh {{lhs_batch = [0, 1], rhs_batch = [0, 1], lhs_contract = [3], rhs_contract = [2]}} : {T(batch, heads, seq, d)}");
        L($"%ctx_t = transpose %ctx {{perm = [0, 2, 1, 3]}} : {T(batch, seq, heads, d)}");
        L($"%ctx_r = reshape %ctx_t : {x}");
        Dense("attn", "ctx_r", "wo", "bo", hidden, hidden);
        L($"%res1 = add %x, %attn : {x}");
        LayerNorm("h1", "res1", "g1", "be1");
        Dense("f1", "h1", "w1", "b1", hidden, ffn);
        var f = T(batch, seq, ffn);
        L($"%rt2 = constant {{value = dense<0.7071067811865476>}} : tensor<f32>");
        L($"%rt2b = broadcast_in_dim %rt2 {{dims = []}} : {f}");
        L($"%gx = mul %f1, %rt2b : {f}");
        L($"%gerf = erf %gx : {f}");
        L($"%one = constant {{value = dense<1.0>}} : tensor<f32>");
        L($"%oneb = broadcast_in_dim %one {{dims = []}} : {f}");
        L($"%g1p = add %gerf, %oneb : {f}");
        L($"%half = constant {{value = dense<0.5>}} : tensor<f32>");
        L($"%halfb = broadcast_in_dim %half {{dims = []}} : {f}");
        L($"%gh = mul %f1, %halfb : {f}");
        L($"%gelu = mul %gh, %g1p : {f}");
        Dense("f2", "gelu", "w2", "b2", ffn, hidden);
        L($"%res2 = add %h1, %f2 : {x}");
        LayerNorm("y", "res2", "g2", "be2");
        L("return %y");
        sb.Append("}\n");
        return sb.ToString();
    }

    /// <summary>The BERT-base layer tools/gpu-check benchmarks (batch 8, sequence 128).</summary>
    public static string BertBase => Ir(8, 128, 768, 12, 3072,
        "// A BERT-base encoder layer (hidden 768, 12 heads, FFN 3072, erf GELU, post-layer-norm), batch 8, sequence 128,\n" +
        "// weights as arguments. Generated by tests/GraphCompiler.Tests/Support/EncoderLayer.cs (UPDATE_GOLDEN=1 rewrites it).\n");
}
