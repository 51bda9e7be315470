using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>Shape manipulation: Reshape, Squeeze, ExpandDims, Transpose, Concat, Pack/Unpack, Split, Tile, Fill, Range, Pad.</summary>
public static class TfArrayOps
{
    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("Reshape", Reshape), ("Squeeze", Squeeze), ("ExpandDims", ExpandDims), ("Transpose", Transpose),
        ("ConcatV2", n => Concat(n, n.InputCount - 1, 0, n.InputCount - 1)), ("Concat", n => Concat(n, 0, 1, n.InputCount)),
        ("Pack", Pack), ("Unpack", Unpack), ("Split", Split), ("SplitV", SplitV), ("Tile", Tile), ("Fill", Fill),
        ("ZerosLike", n => n.Output(0, n.L.Full(n.Input(0), 0))), ("OnesLike", n => n.Output(0, n.L.Full(n.Input(0), 1))),
        ("Range", Range), ("Pad", n => Pad(n, "constant", null)), ("PadV2", n => Pad(n, "constant", n.Input(2))),
        ("MirrorPad", n => Pad(n, n.String("mode", "") switch
        {
            "REFLECT" => "reflect",
            "SYMMETRIC" => "symmetric",
            var m => throw n.Unsupported($"mode={m}"),
        }, null)),
        ("BroadcastTo", n => n.Output(0, n.L.Broadcast(n.Input(0), Lowerer.BroadcastShape(n.Input(0).Type.Shape, [.. n.KnownInts(1, "shape")])))),
    ];

    private static void Reshape(TfNode n)
    {
        var x = n.Input(0);
        var shape = n.KnownInts(1, "shape");
        int unknown = Array.IndexOf(shape, -1);
        if (unknown >= 0)
        {
            long rest = shape.Where((d, i) => i != unknown).Aggregate(1L, (a, b) => a * b);
            if (rest == 0 || x.Type.ElementCount % rest != 0)
                throw n.Error($"cannot reshape {x.Type} to [{string.Join(", ", shape)}]");
            shape[unknown] = x.Type.ElementCount / rest;
        }
        if (shape.Aggregate(1L, (a, b) => a * b) != x.Type.ElementCount || shape.Any(d => d < 0))
            throw n.Error($"cannot reshape {x.Type} to [{string.Join(", ", shape)}]");
        n.Output(0, n.L.Reshape(x, shape));
    }

    private static void Squeeze(TfNode n)
    {
        var x = n.Input(0);
        var dims = (n.Ints("squeeze_dims") ?? n.Ints("axis") ?? []).Select(a => Lowerer.Axis(a, x.Type.Rank)).ToHashSet();
        var shape = new List<long>();
        for (int i = 0; i < x.Type.Rank; i++)
        {
            bool drop = dims.Count == 0 ? x.Type.Shape[i] == 1 : dims.Contains(i);
            if (drop && x.Type.Shape[i] != 1) throw n.Error($"cannot squeeze dimension {i} of {x.Type}");
            if (!drop) shape.Add(x.Type.Shape[i]);
        }
        n.Output(0, n.L.Reshape(x, [.. shape]));
    }

    private static void ExpandDims(TfNode n)
    {
        var x = n.Input(0);
        var a = n.KnownInts(1, "axis");
        if (a.Length != 1) throw n.Error("axis must be a single value");
        int axis = Lowerer.Axis(a[0], x.Type.Rank + 1);
        var shape = x.Type.Shape.ToList();
        shape.Insert(axis, 1);
        n.Output(0, n.L.Reshape(x, [.. shape]));
    }

    private static void Transpose(TfNode n)
    {
        var x = n.Input(0);
        var perm = n.KnownInts(1, "perm");
        n.Output(0, n.L.Transpose(x, perm));
    }

    private static void Concat(TfNode n, int axisInput, int first, int end)
    {
        var xs = Enumerable.Range(first, end - first).Select(n.Input).ToList();
        var a = n.KnownInts(axisInput, "axis");
        if (xs.Count == 0) throw n.Error("needs at least one input");
        int axis = Lowerer.Axis(a[0], xs[0].Type.Rank);
        n.Output(0, xs.Count == 1 ? xs[0] : n.L.Emit("concatenate", [.. xs], ("dimension", A.Int(axis))));
    }

    private static void Pack(TfNode n)
    {
        var xs = n.Inputs;
        if (xs.Count == 0) throw n.Error("needs at least one input");
        int axis = Lowerer.Axis(n.Int("axis", 0), xs[0].Type.Rank + 1);
        var expanded = xs.Select(x =>
        {
            var s = x.Type.Shape.ToList();
            s.Insert(axis, 1);
            return n.L.Reshape(x, [.. s]);
        }).ToArray();
        n.Output(0, expanded.Length == 1 ? expanded[0] : n.L.Emit("concatenate", expanded, ("dimension", A.Int(axis))));
    }

    private static void Unpack(TfNode n)
    {
        var x = n.Input(0);
        int axis = Lowerer.Axis(n.Int("axis", 0), x.Type.Rank);
        var shape = x.Type.Shape.RemoveAt(axis).ToArray();
        for (long i = 0; i < x.Type.Shape[axis]; i++)
            n.Output((int)i, n.L.Reshape(SliceAxis(n.L, x, axis, i, i + 1), shape));
    }

    internal static Value SliceAxis(Lowerer l, Value x, int axis, long start, long limit)
    {
        var s = new long[x.Type.Rank];
        var e = x.Type.Shape.ToArray();
        s[axis] = start;
        e[axis] = limit;
        if (start == 0 && limit == x.Type.Shape[axis]) return x;
        return l.Emit("slice", [x], ("start", A.Ints(s)), ("limit", A.Ints(e)), ("stride", A.Ints([.. Enumerable.Repeat(1L, x.Type.Rank)])));
    }

    private static void Split(TfNode n)
    {
        var x = n.Input(1);
        int axis = Lowerer.Axis(n.KnownInts(0, "axis")[0], x.Type.Rank);
        long num = n.Int("num_split");
        if (num <= 0 || x.Type.Shape[axis] % num != 0) throw n.Error($"dimension {axis} of {x.Type} does not split into {num} equal parts");
        long size = x.Type.Shape[axis] / num;
        for (int i = 0; i < num; i++) n.Output(i, SliceAxis(n.L, x, axis, i * size, (i + 1) * size));
    }

    private static void SplitV(TfNode n)
    {
        var x = n.Input(0);
        var sizes = n.KnownInts(1, "size_splits");
        int axis = Lowerer.Axis(n.KnownInts(2, "axis")[0], x.Type.Rank);
        int unknown = Array.IndexOf(sizes, -1);
        if (unknown >= 0) sizes[unknown] = x.Type.Shape[axis] - sizes.Where((_, i) => i != unknown).Sum();
        if (sizes.Sum() != x.Type.Shape[axis] || sizes.Any(s => s < 0))
            throw n.Error($"size_splits [{string.Join(", ", sizes)}] do not add up to dimension {axis} of {x.Type}");
        long at = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            n.Output(i, SliceAxis(n.L, x, axis, at, at + sizes[i]));
            at += sizes[i];
        }
    }

    /// <summary>Tile: broadcast into [m0, d0, m1, d1, ...] and merge each pair.</summary>
    private static void Tile(TfNode n)
    {
        var x = n.Input(0);
        var m = n.KnownInts(1, "multiples");
        if (m.Length != x.Type.Rank) throw n.Error($"multiples has {m.Length} entries for rank {x.Type.Rank}");
        var big = new List<long>();
        var dims = new List<long>();
        for (int i = 0; i < m.Length; i++)
        {
            big.Add(m[i]);
            big.Add(x.Type.Shape[i]);
            dims.Add(2 * i + 1);
        }
        var b = n.L.Emit("broadcast_in_dim", [x], AttrMap.Of(("dims", A.Ints([.. dims]))), x.Type.WithShape([.. big]));
        n.Output(0, n.L.Reshape(b, [.. m.Select((k, i) => k * x.Type.Shape[i])]));
    }

    private static void Fill(TfNode n)
    {
        var dims = n.KnownInts(0, "dims");
        var v = n.Input(1);
        if (v.Type.Rank != 0) throw n.Error("value must be a scalar");
        n.Output(0, n.L.Broadcast(v, [.. dims]));
    }

    /// <summary>Range(start, limit, delta): all three must be known (the length depends on them).</summary>
    private static void Range(TfNode n)
    {
        var e = n.HasAttr("Tidx") ? n.Type("Tidx") : n.Input(0).Type.Element;
        double Get(int i) => (n.Known(i) ?? throw n.Unsupported("start/limit/delta not known at import time (the output shape depends on input values)")).GetDouble(0);
        double start = Get(0), limit = Get(1), delta = Get(2);
        if (delta == 0) throw n.Error("delta must not be 0");
        if ((limit - start) * delta < 0) throw n.Error($"requires start <= limit when delta > 0 (or >= when < 0): {start}, {limit}, {delta}");
        long count = e.IsInteger() ? (long)Math.Ceiling(Math.Abs(limit - start) / Math.Abs(delta)) : (long)Math.Ceiling(Math.Abs((limit - start) / delta));
        // TF accumulates val += delta in the element type (float32 rounding included).
        var values = new double[count];
        double val = start;
        for (long i = 0; i < count; i++)
        {
            values[i] = val;
            val = e == ElementType.F32 ? (float)((float)val + (float)delta) : val + delta;
        }
        n.Output(0, n.L.Constant(Tensor.FromDoubles(new TensorType(e, count), values)));
    }

    private static void Pad(TfNode n, string mode, Value? constant)
    {
        var x = n.Input(0);
        var p = n.KnownInts(1, "paddings");
        if (p.Length != 2 * x.Type.Rank) throw n.Error($"paddings must be [{x.Type.Rank}, 2]");
        var low = Enumerable.Range(0, x.Type.Rank).Select(i => p[2 * i]).ToArray();
        var high = Enumerable.Range(0, x.Type.Rank).Select(i => p[2 * i + 1]).ToArray();
        var value = constant is null ? n.L.Scalar(x.Type.Element, 0) : n.L.Reshape(constant);
        var attrs = mode == "constant" ? AttrMap.Of(("low", A.Ints(low)), ("high", A.Ints(high)))
            : AttrMap.Of(("low", A.Ints(low)), ("high", A.Ints(high)), ("mode", A.Enum(mode)));
        n.Output(0, n.L.Emit("pad", [x, value], attrs));
    }
}
