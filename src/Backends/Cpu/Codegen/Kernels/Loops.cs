using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>Elements computed by a loop over reduced dimensions: reduce, dot_general, convolution, reduce_window, arg_reduce.</summary>
internal sealed partial class KernelEmitter
{
    private string Reduce(Operation op, Value v, IReadOnlyList<string> idx)
    {
        var x = op.Operands[0];
        var e = x.Type.Element;
        var kind = op.Attr.Enum("kind");
        var dims = op.Attr.Ints("dims").Select(d => (int)d).ToHashSet();
        var t = LlvmTypes.Compute(e);
        var acc = _b.Alloca(t);
        _b.Line($"store {t} {Identity(kind, e)}, ptr {acc}");
        var reducedShape = ImmutableArray.CreateRange(Enumerable.Range(0, x.Type.Rank).Where(dims.Contains).Select(d => x.Type.Shape[d]));
        ForEachIndex(reducedShape, r =>
        {
            var src = new string[x.Type.Rank];
            int ri = 0, ki = 0;
            for (int d = 0; d < src.Length; d++) src[d] = dims.Contains(d) ? r[ri++] : idx[ki++];
            var cur = _b.Let($"load {t}, ptr {acc}");
            _b.Line($"store {t} {Accumulate(kind, e, cur, At(x, src))}, ptr {acc}");
        });
        return _b.Let($"load {t}, ptr {acc}");
    }

    private string Dot(Operation op, Value v, IReadOnlyList<string> idx)
    {
        var (lhs, rhs) = (op.Operands[0], op.Operands[1]);
        var a = op.Attr;
        var lb = a.Ints("lhs_batch");
        var rb = a.Ints("rhs_batch");
        var lc = a.Ints("lhs_contract");
        var rc = a.Ints("rhs_contract");
        var lfree = Enumerable.Range(0, lhs.Type.Rank).Where(d => !lb.Contains(d) && !lc.Contains(d)).ToArray();
        var rfree = Enumerable.Range(0, rhs.Type.Rank).Where(d => !rb.Contains(d) && !rc.Contains(d)).ToArray();
        var e = v.Type.Element;
        var t = LlvmTypes.Compute(e);
        var acc = _b.Alloca(t);
        _b.Line($"store {t} {LlvmTypes.Literal(e, 0)}, ptr {acc}");
        var contractShape = ImmutableArray.CreateRange(lc.Select(d => lhs.Type.Shape[(int)d]));
        ForEachIndex(contractShape, c =>
        {
            var li = new string[lhs.Type.Rank];
            var ri = new string[rhs.Type.Rank];
            int o = 0;
            for (int i = 0; i < lb.Length; i++, o++)
            {
                li[lb[i]] = idx[o];
                ri[rb[i]] = idx[o];
            }
            foreach (var d in lfree) li[d] = idx[o++];
            foreach (var d in rfree) ri[d] = idx[o++];
            for (int i = 0; i < lc.Length; i++)
            {
                li[lc[i]] = c[i];
                ri[rc[i]] = c[i];
            }
            var x = _s.Convert(lhs.Type.Element, e, At(lhs, li));
            var y = _s.Convert(rhs.Type.Element, e, At(rhs, ri));
            var cur = _b.Let($"load {t}, ptr {acc}");
            _b.Line($"store {t} {_s.Binary("add", e, cur, _s.Binary("mul", e, x, y))}, ptr {acc}");
        });
        return _b.Let($"load {t}, ptr {acc}");
    }

    private string Convolution(Operation op, Value v, IReadOnlyList<string> idx)
    {
        var (input, kernel) = (op.Operands[0], op.Operands[1]);
        var a = op.Attr;
        var L = ConvLayout.Parse(a.String("dims"), m => new IrException(m));
        if (a.Int("batch_group_count") != 1) throw new CodegenException("convolution with batch_group_count > 1 is not supported by the CPU backend yet");
        int n = L.SpatialCount;
        long[] Get(string name, long dflt) { var x = a.Ints(name); return x.IsDefaultOrEmpty ? [.. Enumerable.Repeat(dflt, n)] : [.. x]; }
        var strides = Get("window_strides", 1);
        var padLow = Get("padding_low", 0);
        var lhsDil = Get("lhs_dilation", 1);
        var rhsDil = Get("rhs_dilation", 1);
        long groups = a.Int("feature_group_count");
        long cin = input.Type.Shape[L.InFeature], cout = kernel.Type.Shape[L.KernelOut];
        long cinPerGroup = cin / groups, coutPerGroup = cout / groups;
        var e = v.Type.Element;
        var t = LlvmTypes.Compute(e);
        var acc = _b.Alloca(t);
        _b.Line($"store {t} {LlvmTypes.Literal(e, 0)}, ptr {acc}");
        var outFeature = idx[L.OutFeature];
        var group = _b.Let($"udiv i64 {outFeature}, {coutPerGroup}", "g");
        var windowShape = ImmutableArray.CreateRange(L.KernelSpatial.Select(d => kernel.Type.Shape[d]).Append(cinPerGroup));
        ForEachIndex(windowShape, w =>
        {
            var ki = new string[kernel.Type.Rank];
            var ii = new string[input.Type.Rank];
            var valid = "true";
            for (int s = 0; s < n; s++)
            {
                ki[L.KernelSpatial[s]] = w[s];
                // Position in the (lhs-dilated, padded) input: o·stride − pad_low + k·rhs_dilation.
                var pos = _b.Let($"add nsw i64 {_b.Let($"sub nsw i64 {_b.Let($"mul nsw i64 {idx[L.OutSpatial[s]]}, {strides[s]}")}, {padLow[s]}")}, {_b.Let($"mul nsw i64 {w[s]}, {rhsDil[s]}")}", "pos");
                string src = pos;
                if (lhsDil[s] > 1)
                {
                    var onGrid = _b.Let($"icmp eq i64 {_b.Let($"srem i64 {pos}, {lhsDil[s]}")}, 0");
                    valid = _b.Let($"and i1 {valid}, {onGrid}");
                    src = _b.Let($"sdiv i64 {pos}, {lhsDil[s]}", "pos");
                }
                var inBounds = _b.Let($"icmp ult i64 {src}, {input.Type.Shape[L.InSpatial[s]]}");
                valid = _b.Let($"and i1 {valid}, {inBounds}");
                ii[L.InSpatial[s]] = _b.Let($"select i1 {inBounds}, i64 {src}, i64 0", "ix");
            }
            ki[L.KernelIn] = w[n];
            ki[L.KernelOut] = outFeature;
            ii[L.InBatch] = idx[L.OutBatch];
            ii[L.InFeature] = _b.Let($"add nsw i64 {_b.Let($"mul nsw i64 {group}, {cinPerGroup}")}, {w[n]}", "ix");
            var x = _s.Convert(input.Type.Element, e, At(input, ii));
            var y = _s.Convert(kernel.Type.Element, e, At(kernel, ki));
            var prod = _s.Binary("mul", e, x, y);
            var cur = _b.Let($"load {t}, ptr {acc}");
            var sum = _s.Binary("add", e, cur, prod);
            _b.Line($"store {t} {_b.Let($"select i1 {valid}, {t} {sum}, {t} {cur}")}, ptr {acc}");
        });
        return _b.Let($"load {t}, ptr {acc}");
    }

    private string ReduceWindow(Operation op, Value v, IReadOnlyList<string> idx)
    {
        var x = op.Operands[0];
        var a = op.Attr;
        int rank = x.Type.Rank;
        long[] Get(string name, long dflt) { var r = a.Ints(name); return r.IsDefaultOrEmpty ? [.. Enumerable.Repeat(dflt, rank)] : [.. r]; }
        var window = Get("window", 1);
        var strides = Get("strides", 1);
        var padLow = Get("padding_low", 0);
        var winDil = Get("window_dilation", 1);
        var baseDil = Get("base_dilation", 1);
        var kind = a.Enum("kind");
        var e = x.Type.Element;
        var t = LlvmTypes.Compute(e);
        // A dimension whose windows never leave the input (no padding or base dilation, the last window
        // inside) needs no bounds check: pooling then reads plain addresses, which LLVM vectorises.
        var inside = new bool[rank];
        for (int d = 0; d < rank; d++)
            inside[d] = padLow[d] == 0 && baseDil[d] == 1
                && (v.Type.Shape[d] - 1) * strides[d] + (window[d] - 1) * winDil[d] < x.Type.Shape[d];
        long positions = window.Aggregate(1L, (p, w) => p * w);
        if (positions <= 32 && inside.All(i => i))
        {
            // Small window inside the input: unrolled here, in the same (row-major) order as the loop below.
            string? result = null;
            for (long lin = 0; lin < positions; lin++)
            {
                var src = new string[rank];
                long rest = lin;
                for (int d = rank - 1; d >= 0; d--)
                {
                    long w = rest % window[d];
                    rest /= window[d];
                    var scaled = strides[d] == 1 ? idx[d] : _b.Let($"mul nsw i64 {idx[d]}, {strides[d]}", "pos");
                    src[d] = w == 0 ? scaled : _b.Let($"add nsw i64 {scaled}, {w * winDil[d]}", "pos");
                }
                var x0 = At(x, src);
                result = result is null ? Accumulate(kind, e, Identity(kind, e), x0) : Accumulate(kind, e, result, x0);
            }
            return result ?? Identity(kind, e);
        }
        var acc = _b.Alloca(t);
        _b.Line($"store {t} {Identity(kind, e)}, ptr {acc}");
        ForEachIndex([.. window], w =>
        {
            var src = new string[rank];
            var valid = "true";
            for (int d = 0; d < rank; d++)
            {
                var pos = _b.Let($"add nsw i64 {_b.Let($"sub nsw i64 {_b.Let($"mul nsw i64 {idx[d]}, {strides[d]}")}, {padLow[d]}")}, {_b.Let($"mul nsw i64 {w[d]}, {winDil[d]}")}", "pos");
                string s = pos;
                if (baseDil[d] > 1)
                {
                    valid = _b.Let($"and i1 {valid}, {_b.Let($"icmp eq i64 {_b.Let($"srem i64 {pos}, {baseDil[d]}")}, 0")}");
                    s = _b.Let($"sdiv i64 {pos}, {baseDil[d]}", "pos");
                }
                var ok = _b.Let($"icmp ult i64 {s}, {x.Type.Shape[d]}");
                valid = _b.Let($"and i1 {valid}, {ok}");
                src[d] = _b.Let($"select i1 {ok}, i64 {s}, i64 0", "ix");
            }
            var cur = _b.Let($"load {t}, ptr {acc}");
            var next = Accumulate(kind, e, cur, At(x, src));
            _b.Line($"store {t} {_b.Let($"select i1 {valid}, {t} {next}, {t} {cur}")}, ptr {acc}");
        });
        return _b.Let($"load {t}, ptr {acc}");
    }

    private string ArgReduce(Operation op, Value v, IReadOnlyList<string> idx)
    {
        var x = op.Operands[0];
        int dim = op.Attr.Int32("dimension");
        bool max = op.Attr.Enum("kind") == "max";
        bool last = op.Attr.Enum("tie") == "last";
        var e = x.Type.Element;
        var t = LlvmTypes.Compute(e);
        var best = _b.Alloca(t);
        var bestIndex = _b.Alloca("i64");
        var src0 = Insert(idx, dim, "0");
        _b.Line($"store {t} {At(x, src0)}, ptr {best}");
        _b.Line($"store i64 0, ptr {bestIndex}");
        _b.For("1", x.Type.Shape[dim].ToString(), i =>
        {
            var outer = _memo;
            _memo = new Dictionary<string, string>(outer);
            var cand = At(x, Insert(idx, dim, i));
            var cur = _b.Let($"load {t}, ptr {best}");
            string better;
            if (e.IsFloat())
            {
                // NaN counts as the extreme both ways; the first (or last, with tie = last) wins.
                var candNan = _b.Let($"fcmp uno {t} {cand}, {cand}");
                var curNan = _b.Let($"fcmp uno {t} {cur}, {cur}");
                var strictly = _b.Let($"fcmp {(max ? "ogt" : "olt")} {t} {cand}, {cur}");
                var equal = _b.Let($"fcmp oeq {t} {cand}, {cur}");
                var tieWins = last ? equal : "false";
                var numeric = _b.Let($"or i1 {strictly}, {tieWins}");
                var notCurNan = _b.Let($"xor i1 {curNan}, true");
                var viaNumber = _b.Let($"and i1 {notCurNan}, {numeric}");
                var nanBeatsNumber = _b.Let($"and i1 {candNan}, {notCurNan}");
                var nanTie = last ? _b.Let($"and i1 {candNan}, {curNan}") : "false";
                better = _b.Let($"or i1 {viaNumber}, {_b.Let($"or i1 {nanBeatsNumber}, {nanTie}")}");
            }
            else
            {
                var pred = _s.Compare(max ? "gt" : "lt", e, cand, cur);
                better = last ? _b.Let($"or i1 {pred}, {_s.Compare("eq", e, cand, cur)}") : pred;
            }
            _b.Line($"store {t} {_b.Let($"select i1 {better}, {t} {cand}, {t} {cur}")}, ptr {best}");
            var curIndex = _b.Let($"load i64, ptr {bestIndex}");
            _b.Line($"store i64 {_b.Let($"select i1 {better}, i64 {i}, i64 {curIndex}")}, ptr {bestIndex}");
            _memo = outer;
        }, "a");
        return Narrow(_b.Let($"load i64, ptr {bestIndex}"), v.Type.Element);
    }
}
