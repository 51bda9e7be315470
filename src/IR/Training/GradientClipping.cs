using System.Collections.Immutable;

namespace GraphCompiler.IR.Training;

public static class GradientClipping
{
    /// <summary>Scales all gradients by min(1, maxNorm / global L2 norm), as tf.clip_by_global_norm.</summary>
    public static ImmutableArray<Value> ByGlobalNorm(IrBuilder b, IReadOnlyList<Value> grads, double maxNorm)
    {
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "the norm bound must be positive");
        if (grads.Count == 0) return [];
        foreach (var g in grads)
            if (!g.Type.Element.IsFloat()) throw new ArgumentException($"a gradient is {g.Type}, not a float tensor");
        // One norm over all tensors, accumulated in f64 when any gradient is f64 and in f32 otherwise (f16 sums overflow).
        var acc = grads.Any(g => g.Type.Element == ElementType.F64) ? ElementType.F64 : ElementType.F32;
        Value? sum = null;
        foreach (var g in grads)
        {
            var x = g.Type.Element == acc ? g : b.Convert(g, acc);
            var squares = b.Emit("mul", x, x);
            var s = g.Type.Rank == 0 ? squares
                : b.Emit("reduce", [squares], ("kind", A.Enum("sum")), ("dims", A.Ints([.. Enumerable.Range(0, g.Type.Rank).Select(d => (long)d)])));
            sum = sum is null ? s : b.Emit("add", sum, s);
        }
        var norm = b.Emit("sqrt", sum!);
        // maxNorm / max(norm, maxNorm) is min(1, maxNorm / norm) without dividing by a zero norm.
        var bound = b.Scalar(acc, maxNorm);
        var scale = b.Emit("div", bound, b.Emit("max", norm, bound));
        var result = ImmutableArray.CreateBuilder<Value>(grads.Count);
        foreach (var g in grads)
        {
            var f = g.Type.Element == acc ? scale : b.Convert(scale, g.Type.Element);
            result.Add(b.Emit("mul", g, g.Type.Rank == 0 ? f : b.BroadcastInDim(f, g.Type)));
        }
        return result.MoveToImmutable();
    }
}
