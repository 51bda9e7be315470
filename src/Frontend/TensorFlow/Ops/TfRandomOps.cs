using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>
/// Random ops (RandomUniform, RandomStandardNormal, TruncatedNormal) through the IR's counter-based
/// <c>rng</c> op (Philox-4x32-10), so an imported graph is deterministic: the same seed gives the same
/// values on every backend. The values follow TF's distributions but are not TF's bit for bit.
/// </summary>
public static class TfRandomOps
{
    /// <summary>Redraws for TruncatedNormal: after these, a value is outside [-2, 2] with probability 0.0455^9 ≈ 1e-12 (then clamped).</summary>
    private const int TruncatedRedraws = 8;

    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("RandomUniform", RandomUniform),
        ("RandomStandardNormal", n => n.Output(0, Rng(n, "normal", Seed(n), 0, 1))),
        ("TruncatedNormal", TruncatedNormal),
    ];

    /// <summary>
    /// The 64-bit generator seed from the op's (seed, seed2): seed in the high half, seed2 in the low. TF draws
    /// fresh randomness when both are 0; here such ops get a seed from a hash of the node name instead, so
    /// that each op has its own stream and imports are reproducible.
    /// </summary>
    public static long Seed(TfNode n)
    {
        long seed = n.Int("seed", 0), seed2 = n.Int("seed2", 0);
        if (seed == 0 && seed2 == 0) return (long)Fnv1a(n.Name);
        return (seed << 32) ^ (uint)seed2;
    }

    private static ulong Fnv1a(string s)
    {
        ulong h = 0xcbf29ce484222325;
        foreach (char c in s) h = unchecked((h ^ c) * 0x100000001b3);
        return h;
    }

    private static Value Rng(TfNode n, string distribution, long seed, double a, double b)
    {
        var shape = n.KnownInts(0, "shape");
        var e = n.Type("dtype");
        if (!e.IsFloat()) throw n.Unsupported($"dtype {e.Name()} (a float type is needed)");
        return n.L.Emit("rng", [], AttrMap.Of(("distribution", A.Enum(distribution)), ("seed", A.Int(seed)), ("a", A.Float(a)), ("b", A.Float(b))),
            new TensorType(e, shape));
    }

    /// <summary>
    /// RandomUniform on TF's grid: k·2^-m in [0, 1) with m the type's mantissa bits (TF fills the mantissa
    /// with random bits), i.e. the IR's uniform rounded down to it — so 1 + u &lt; 2 exactly and TF1 dropout's
    /// mask floor(keep_prob + u) is all ones when keep_prob is 1 (on the IR's finer 2^-24 grid, 1 + u could round to 2).
    /// </summary>
    private static void RandomUniform(TfNode n)
    {
        var u = Rng(n, "uniform", Seed(n), 0, 1);
        var e = u.Type.Element;
        int m = e switch { ElementType.F64 => 52, ElementType.F32 => 23, ElementType.F16 => 10, _ => 7 };
        var k = n.L.Emit("floor", n.L.Binary("mul", u, n.L.Scalar(e, Math.ScaleB(1, m))));
        n.Output(0, n.L.Binary("mul", k, n.L.Scalar(e, Math.ScaleB(1, -m))));
    }

    /// <summary>
    /// TruncatedNormal: standard normal values with those beyond two standard deviations redrawn, as TF does
    /// (each redraw from its own stream, a fixed number of times, then clamped to [-2, 2]).
    /// </summary>
    private static void TruncatedNormal(TfNode n)
    {
        long seed = Seed(n);
        var z = Rng(n, "normal", seed, 0, 1);
        var two = n.L.Scalar(z.Type.Element, 2);
        for (int i = 1; i <= TruncatedRedraws; i++)
        {
            var redraw = Rng(n, "normal", unchecked(seed + i * 0x5DEECE66DL), 0, 1);
            z = n.L.Select(n.L.Compare("gt", n.L.Emit("abs", z), two), redraw, z);
        }
        n.Output(0, n.L.Binary("min", n.L.Binary("max", z, n.L.Scalar(z.Type.Element, -2)), two));
    }
}
