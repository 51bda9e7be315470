using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// Elements computed by a loop over reduced dimensions, beyond the evaluator's own: reduce, dot_general,
/// convolution (direct), reduce_window and arg_reduce, as target-neutral IR (loops, allocas SROA promotes).
/// The CPU uses them for what it does not compute ahead; a GPU pointwise kernel for convolution and pooling,
/// one thread per output element.
/// </summary>
public sealed class LoopElementOps : IElementOps
{
    public static readonly LoopElementOps Instance = new();

    public string? TryCompute(ElementEvaluator ev, Operation op, Value v, IReadOnlyList<string> idx) => op.Def switch
    {
        ReduceOp => Reduce(ev, op, v, idx),
        DotGeneralOp => Dot(ev, op, v, idx),
        ConvolutionOp => Convolution(ev, op, v, idx),
        ReduceWindowOp => ReduceWindow(ev, op, v, idx),
        ArgReduceOp => ArgReduce(ev, op, v, idx),
        _ => null,
    };

    /// <summary>Whether <see cref="TryCompute"/> takes <paramref name="op"/> (a convolution only with batch_group_count 1).</summary>
    public static bool Computes(Operation op) => op.Def switch
    {
        ReduceOp or DotGeneralOp or ReduceWindowOp or ArgReduceOp => true,
        ConvolutionOp => op.Attr.Int("batch_group_count") == 1,
        _ => false,
    };

    private static string Reduce(ElementEvaluator ev, Operation op, Value v, IReadOnlyList<string> idx)
    {
        var x = op.Operands[0];
        var e = x.Type.Element;
        var kind = op.Attr.Enum("kind");
        var dims = op.Attr.Ints("dims").Select(d => (int)d).ToHashSet();
        var t = LlvmTypes.Compute(e);
        var acc = ev.B.Alloca(t);
        ev.B.Line($"store {t} {ElementEvaluator.IdentityOf(kind, e)}, ptr {acc}");
        var reducedShape = ImmutableArray.CreateRange(Enumerable.Range(0, x.Type.Rank).Where(dims.Contains).Select(d => x.Type.Shape[d]));
        ev.ForEachIndex(reducedShape, r =>
        {
            var src = new string[x.Type.Rank];
            int ri = 0, ki = 0;
            for (int d = 0; d < src.Length; d++) src[d] = dims.Contains(d) ? r[ri++] : idx[ki++];
            var cur = ev.B.Let($"load {t}, ptr {acc}");
            ev.B.Line($"store {t} {ev.Combine(kind, e, cur, ev.Element(x, src))}, ptr {acc}");
        });
        return ev.B.Let($"load {t}, ptr {acc}");
    }

    private static string Dot(ElementEvaluator ev, Operation op, Value v, IReadOnlyList<string> idx)
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
        var acc = ev.B.Alloca(t);
        ev.B.Line($"store {t} {LlvmTypes.Literal(e, 0)}, ptr {acc}");
        var contractShape = ImmutableArray.CreateRange(lc.Select(d => lhs.Type.Shape[(int)d]));
        ev.ForEachIndex(contractShape, c =>
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
            var x = ev.Scalars.Convert(lhs.Type.Element, e, ev.Element(lhs, li));
            var y = ev.Scalars.Convert(rhs.Type.Element, e, ev.Element(rhs, ri));
            var cur = ev.B.Let($"load {t}, ptr {acc}");
            ev.B.Line($"store {t} {ev.Scalars.Binary("add", e, cur, ev.Scalars.Binary("mul", e, x, y))}, ptr {acc}");
        });
        return ev.B.Let($"load {t}, ptr {acc}");
    }

    private static string Convolution(ElementEvaluator ev, Operation op, Value v, IReadOnlyList<string> idx)
    {
        var (input, kernel) = (op.Operands[0], op.Operands[1]);
        var a = op.Attr;
        var L = ConvLayout.Parse(a.String("dims"), m => new IrException(m));
        if (a.Int("batch_group_count") != 1) throw new CodegenException("convolution with batch_group_count > 1 is not supported by the code generator yet");
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
        var acc = ev.B.Alloca(t);
        ev.B.Line($"store {t} {LlvmTypes.Literal(e, 0)}, ptr {acc}");
        var outFeature = idx[L.OutFeature];
        var group = ev.B.Let($"udiv i64 {outFeature}, {coutPerGroup}", "g");
        var windowShape = ImmutableArray.CreateRange(L.KernelSpatial.Select(d => kernel.Type.Shape[d]).Append(cinPerGroup));
        ev.ForEachIndex(windowShape, w =>
        {
            var ki = new string[kernel.Type.Rank];
            var ii = new string[input.Type.Rank];
            var valid = "true";
            for (int s = 0; s < n; s++)
            {
                ki[L.KernelSpatial[s]] = w[s];
                // Position in the (lhs-dilated, padded) input: o·stride − pad_low + k·rhs_dilation.
                var pos = ev.B.Let($"add nsw i64 {ev.B.Let($"sub nsw i64 {ev.B.Let($"mul nsw i64 {idx[L.OutSpatial[s]]}, {strides[s]}")}, {padLow[s]}")}, {ev.B.Let($"mul nsw i64 {w[s]}, {rhsDil[s]}")}", "pos");
                string src = pos;
                if (lhsDil[s] > 1)
                {
                    var onGrid = ev.B.Let($"icmp eq i64 {ev.B.Let($"srem i64 {pos}, {lhsDil[s]}")}, 0");
                    valid = ev.B.Let($"and i1 {valid}, {onGrid}");
                    src = ev.B.Let($"sdiv i64 {pos}, {lhsDil[s]}", "pos");
                }
                var inBounds = ev.B.Let($"icmp ult i64 {src}, {input.Type.Shape[L.InSpatial[s]]}");
                valid = ev.B.Let($"and i1 {valid}, {inBounds}");
                ii[L.InSpatial[s]] = ev.B.Let($"select i1 {inBounds}, i64 {src}, i64 0", "ix");
            }
            ki[L.KernelIn] = w[n];
            ki[L.KernelOut] = outFeature;
            ii[L.InBatch] = idx[L.OutBatch];
            ii[L.InFeature] = ev.B.Let($"add nsw i64 {ev.B.Let($"mul nsw i64 {group}, {cinPerGroup}")}, {w[n]}", "ix");
            var x = ev.Scalars.Convert(input.Type.Element, e, ev.Element(input, ii));
            var y = ev.Scalars.Convert(kernel.Type.Element, e, ev.Element(kernel, ki));
            var prod = ev.Scalars.Binary("mul", e, x, y);
            var cur = ev.B.Let($"load {t}, ptr {acc}");
            var sum = ev.Scalars.Binary("add", e, cur, prod);
            ev.B.Line($"store {t} {ev.B.Let($"select i1 {valid}, {t} {sum}, {t} {cur}")}, ptr {acc}");
        });
        return ev.B.Let($"load {t}, ptr {acc}");
    }

    private static string ReduceWindow(ElementEvaluator ev, Operation op, Value v, IReadOnlyList<string> idx)
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
                    var scaled = strides[d] == 1 ? idx[d] : ev.B.Let($"mul nsw i64 {idx[d]}, {strides[d]}", "pos");
                    src[d] = w == 0 ? scaled : ev.B.Let($"add nsw i64 {scaled}, {w * winDil[d]}", "pos");
                }
                var x0 = ev.Element(x, src);
                result = result is null ? ev.Combine(kind, e, ElementEvaluator.IdentityOf(kind, e), x0) : ev.Combine(kind, e, result, x0);
            }
            return result ?? ElementEvaluator.IdentityOf(kind, e);
        }
        var acc = ev.B.Alloca(t);
        ev.B.Line($"store {t} {ElementEvaluator.IdentityOf(kind, e)}, ptr {acc}");
        ev.ForEachIndex([.. window], w =>
        {
            var src = new string[rank];
            var valid = "true";
            for (int d = 0; d < rank; d++)
            {
                var pos = ev.B.Let($"add nsw i64 {ev.B.Let($"sub nsw i64 {ev.B.Let($"mul nsw i64 {idx[d]}, {strides[d]}")}, {padLow[d]}")}, {ev.B.Let($"mul nsw i64 {w[d]}, {winDil[d]}")}", "pos");
                string s = pos;
                if (baseDil[d] > 1)
                {
                    valid = ev.B.Let($"and i1 {valid}, {ev.B.Let($"icmp eq i64 {ev.B.Let($"srem i64 {pos}, {baseDil[d]}")}, 0")}");
                    s = ev.B.Let($"sdiv i64 {pos}, {baseDil[d]}", "pos");
                }
                var ok = ev.B.Let($"icmp ult i64 {s}, {x.Type.Shape[d]}");
                valid = ev.B.Let($"and i1 {valid}, {ok}");
                src[d] = ev.B.Let($"select i1 {ok}, i64 {s}, i64 0", "ix");
            }
            var cur = ev.B.Let($"load {t}, ptr {acc}");
            var next = ev.Combine(kind, e, cur, ev.Element(x, src));
            ev.B.Line($"store {t} {ev.B.Let($"select i1 {valid}, {t} {next}, {t} {cur}")}, ptr {acc}");
        });
        return ev.B.Let($"load {t}, ptr {acc}");
    }

    private static string ArgReduce(ElementEvaluator ev, Operation op, Value v, IReadOnlyList<string> idx)
    {
        var x = op.Operands[0];
        int dim = op.Attr.Int32("dimension");
        bool max = op.Attr.Enum("kind") == "max";
        bool last = op.Attr.Enum("tie") == "last";
        var e = x.Type.Element;
        var t = LlvmTypes.Compute(e);
        var best = ev.B.Alloca(t);
        var bestIndex = ev.B.Alloca("i64");
        var src0 = Insert(idx, dim, "0");
        ev.B.Line($"store {t} {ev.Element(x, src0)}, ptr {best}");
        ev.B.Line($"store i64 0, ptr {bestIndex}");
        ev.B.For("1", x.Type.Shape[dim].ToString(), i => ev.Scoped(() =>
        {
            var cand = ev.Element(x, Insert(idx, dim, i));
            var cur = ev.B.Let($"load {t}, ptr {best}");
            var (strictly, tie) = ArgCompare(ev, e, max, cand, cur);
            // Indices rise: on a tie the later one wins only with tie = last.
            var better = last ? ev.B.Let($"or i1 {strictly}, {tie}") : strictly;
            ev.B.Line($"store {t} {ev.B.Let($"select i1 {better}, {t} {cand}, {t} {cur}")}, ptr {best}");
            var curIndex = ev.B.Let($"load i64, ptr {bestIndex}");
            ev.B.Line($"store i64 {ev.B.Let($"select i1 {better}, i64 {i}, i64 {curIndex}")}, ptr {bestIndex}");
        }), "a");
        return ev.Narrow(ev.B.Let($"load i64, ptr {bestIndex}"), v.Type.Element);
    }

    /// <summary>
    /// arg_reduce's order on two candidates (registers of <paramref name="e"/>'s compute type): whether
    /// <paramref name="cand"/> strictly beats <paramref name="cur"/> (greater for max, smaller for min; NaN beats every
    /// number both ways), and whether they tie (equal, -0 with +0, or both NaN), as the interpreter's <c>Better</c>. Which
    /// index wins a tie is the caller's: the tie attribute, by index order.
    /// </summary>
    public static (string Strictly, string Tie) ArgCompare(ElementEvaluator ev, ElementType e, bool max, string cand, string cur)
    {
        if (!e.IsFloat())
            return (ev.Scalars.Compare(max ? "gt" : "lt", e, cand, cur), ev.Scalars.Compare("eq", e, cand, cur));
        var t = LlvmTypes.Compute(e);
        var candNan = ev.B.Let($"fcmp uno {t} {cand}, {cand}");
        var curNan = ev.B.Let($"fcmp uno {t} {cur}, {cur}");
        var ordered = ev.B.Let($"fcmp {(max ? "ogt" : "olt")} {t} {cand}, {cur}");
        var notCurNan = ev.B.Let($"xor i1 {curNan}, true");
        var strictly = ev.B.Let($"or i1 {ev.B.Let($"and i1 {notCurNan}, {ordered}")}, {ev.B.Let($"and i1 {candNan}, {notCurNan}")}");
        var tie = ev.B.Let($"or i1 {ev.B.Let($"fcmp oeq {t} {cand}, {cur}")}, {ev.B.Let($"and i1 {candNan}, {curNan}")}");
        return (strictly, tie);
    }

    private static string[] Insert(IReadOnlyList<string> idx, int dim, string value)
    {
        var r = new List<string>(idx);
        r.Insert(dim, value);
        return [.. r];
    }
}
