using System.Collections.Immutable;

namespace GraphCompiler.Tests.Passes;

/// <summary>
/// Random DAGs of elementwise, shape, reduction and contraction ops, built with the builder and biased
/// towards what the canonicalization passes rewrite: splat constants 0, -0.0 and 1, double negations
/// and transposes, reshape and convert chains, slices of concatenations, and exact duplicates.
/// </summary>
public sealed class RandomGraphs(int seed)
{
    private readonly Random _rng = new(seed);
    private readonly List<Value> _pool = [];
    private IrBuilder _b = null!;

    private static readonly TensorType F = new(ElementType.F32, 2, 3);
    private static readonly TensorType I = new(ElementType.I32, 2, 3);

    public (Module Module, Tensor[] Inputs) Build(int ops)
    {
        _pool.Clear();
        var fb = new FunctionBuilder();
        _b = fb.Body;
        _pool.Add(fb.Arg(F, "x"));
        _pool.Add(fb.Arg(F, "y"));
        _pool.Add(fb.Arg(I, "i"));
        for (int k = 0; k < ops; k++) Step();
        var results = Enumerable.Range(0, 4).Select(_ => Pick(_ => true)).Append(_pool[^1]).ToArray();
        var f = fb.Return(results);
        return (new Module([f]), [RandomInput(F), RandomInput(F), RandomInput(I)]);
    }

    private Value Pick(Func<Value, bool> ok)
    {
        // Prefer recent values so that chains form.
        for (int tries = 0; tries < 20; tries++)
        {
            int i = _pool.Count - 1 - (int)Math.Min(_pool.Count - 1, Math.Abs(_rng.NextDouble() * _rng.NextDouble() * _pool.Count));
            if (ok(_pool[i])) return _pool[i];
        }
        return _pool.First(ok);
    }

    private Value Any() => Pick(_ => true);
    private Value Main(TensorType t) => Pick(v => v.Type == t);

    private Value SplatConstant(TensorType t)
    {
        double[] specials = t.Element.IsFloat() ? [0.0, -0.0, 1.0, 2.0, -1.0] : [0, 1, -1, 3];
        double v = specials[_rng.Next(specials.Length)];
        if (_rng.Next(2) == 0) return _b.Constant(Tensor.FromDoubles(t, [.. Enumerable.Repeat(v, (int)t.ElementCount)]));
        return _b.BroadcastInDim(_b.Scalar(t.Element, v), t);
    }

    private Tensor RandomInput(TensorType t)
    {
        double[] specials = [0.0, -0.0, 1.0, -1.0, double.PositiveInfinity, double.NaN, 1e30, -3.5];
        var values = new double[t.ElementCount];
        for (int k = 0; k < values.Length; k++)
            values[k] = _rng.Next(3) == 0 ? specials[_rng.Next(specials.Length)] : Math.Round((_rng.NextDouble() - 0.5) * 20, 2);
        if (!t.Element.IsFloat()) values = [.. values.Select(v => double.IsFinite(v) && Math.Abs(v) < 1e9 ? v : 7)];
        return Tensor.FromDoubles(t, values);
    }

    private void Step()
    {
        var v = Any();
        var t = v.Type;
        bool isFloat = t.Element.IsFloat();
        Value r;
        switch (_rng.Next(16))
        {
            case 0:
                r = _b.Emit(isFloat ? new[] { "neg", "abs", "exp", "tanh", "floor" }[_rng.Next(5)] : new[] { "neg", "abs", "not" }[_rng.Next(3)], v);
                break;
            case 1: case 2:
            {
                var other = _rng.Next(3) == 0 ? SplatConstant(t) : Pick(w => w.Type == t);
                var op = new[] { "add", "sub", "mul", "max", "min", "div" }[_rng.Next(6)];
                r = _rng.Next(2) == 0 ? _b.Emit(op, v, other) : _b.Emit(op, other, v);
                break;
            }
            case 3:
                r = _b.Emit("neg", _b.Emit("neg", v));
                break;
            case 4 when t.Rank >= 2:
            {
                long[] perm = [.. Enumerable.Range(0, t.Rank).Select(i => (long)i).OrderBy(_ => _rng.Next())];
                var tr = _b.Emit("transpose", [v], ("perm", A.Ints(perm)));
                long[] back = new long[perm.Length];
                for (int i = 0; i < perm.Length; i++) back[perm[i]] = i;
                r = _rng.Next(2) == 0 ? _b.Emit("transpose", [tr], ("perm", A.Ints(back))) : tr;
                break;
            }
            case 5:
            {
                long n = t.ElementCount;
                long[][] shapes = [[n], [1, n], [.. t.Shape], [.. t.Shape.Reverse()]];
                r = _b.Reshape(_b.Reshape(v, shapes[_rng.Next(shapes.Length)]), shapes[_rng.Next(shapes.Length)]);
                break;
            }
            case 6 when t.Rank == 2:
            {
                var cat = _b.Emit("concatenate", [v, Pick(w => w.Type == t)], ("dimension", A.Int(1)));
                long c = t.Shape[1];
                r = _rng.Next(2) == 0
                    ? _b.Emit("slice", [cat], ("start", A.Ints(0, 0)), ("limit", A.Ints(t.Shape[0], c)))
                    : _b.Emit("slice", [cat], ("start", A.Ints(0, 1)), ("limit", A.Ints(t.Shape[0], c + 1)));
                break;
            }
            case 7:
            {
                var to = isFloat ? new[] { ElementType.F64, ElementType.F16, ElementType.I32 }[_rng.Next(3)]
                                 : new[] { ElementType.I64, ElementType.I8, ElementType.F32 }[_rng.Next(3)];
                var back = isFloat ? ElementType.F32 : ElementType.I32;
                r = _b.Convert(_b.Convert(v, to), _rng.Next(2) == 0 ? back : to == ElementType.F64 ? ElementType.F16 : back);
                break;
            }
            case 8:
            {
                var w = Pick(x => x.Type == t);
                var dir = new[] { "eq", "ne", "lt", "le", "gt", "ge" }[_rng.Next(6)];
                var p = _b.Compare(v, _rng.Next(2) == 0 ? v : w, dir);
                r = _b.Emit("select", p, _rng.Next(3) == 0 ? v : w, v);
                break;
            }
            case 9 when t.Rank >= 1:
            {
                long d = _rng.Next(t.Rank);
                var red = _b.Emit("reduce", [v], ("dims", A.Ints(d)), ("kind", A.Enum(new[] { "sum", "max", "min" }[_rng.Next(3)])));
                long[] keep = [.. Enumerable.Range(0, t.Rank).Where(i => i != d).Select(i => (long)i)];
                r = _b.BroadcastInDim(red, t, keep);
                break;
            }
            case 10 when t.Rank == 2 && t.Element == ElementType.F32:
            {
                // dot(transpose(a), b) and dot(a, transpose(b)).
                var w = Pick(x => x.Type == t);
                var at = _b.Emit("transpose", [v], ("perm", A.Ints(1, 0)));
                r = _b.Emit("dot_general", [at, w], AttrMap.Of(("lhs_contract", A.Ints(1)), ("rhs_contract", A.Ints(0))),
                    new TensorType(t.Element, t.Shape[1], t.Shape[1]));
                break;
            }
            case 11:
            {
                var p = _b.Constant(Tensor.FromInt64s(TensorType.Scalar(ElementType.Bool), [_rng.Next(2)]));
                r = _b.Emit("select", p, v, Pick(x => x.Type == t));
                break;
            }
            case 12 when !isFloat:
            {
                var ones = _b.Constant(Tensor.FromInt64s(t, [.. Enumerable.Repeat(_rng.Next(2) == 0 ? -1L : 0L, (int)t.ElementCount)]));
                r = _b.Emit(_rng.Next(2) == 0 ? "and" : "or", v, ones);
                break;
            }
            case 13:
            {
                // An exact duplicate of a recent op, for CSE.
                var ops = _b.Operations;
                if (ops.IsEmpty) return;
                var op = ops[ops.Length - 1 - _rng.Next(Math.Min(ops.Length, 5))];
                if (op.Results.Length != 1 || !op.Regions.IsEmpty) return;
                r = _b.Emit(op.Name, op.Operands, op.Attributes, op.ResultType());
                break;
            }
            case 14:
                r = _b.Emit("add", _b.Constant(Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(k => (double)k)])), SplatConstant(t));
                break;
            default:
                r = _b.Emit("mul", v, SplatConstant(t));
                break;
        }
        if (!r.Type.Element.IsBool()) _pool.Add(r);
    }

    /// <summary>Runs the entry function; the results.</summary>
    public static ImmutableArray<Tensor> Run(Module m, Tensor[] inputs)
    {
        var r = new Interpreter(m).Run(null, inputs);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        return r.Value!.Results;
    }

    /// <summary>Bit-for-bit equality, except that any NaN equals any NaN (arithmetic does not preserve payloads).</summary>
    public static void AssertBitwiseEqual(ImmutableArray<Tensor> expected, ImmutableArray<Tensor> actual, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Type, actual[i].Type);
            for (long k = 0; k < expected[i].ElementCount; k++)
            {
                if (expected[i].Element.IsFloat() && double.IsNaN(expected[i].GetDouble(k)) && double.IsNaN(actual[i].GetDouble(k))) continue;
                Assert.True(expected[i].ElementBytes(k).SequenceEqual(actual[i].ElementBytes(k)),
                    $"result {i} element {k}: expected {expected[i].GetDouble(k):R}, got {actual[i].GetDouble(k):R}\n{context}");
            }
        }
    }
}
