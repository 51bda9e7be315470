using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>sink-transposes</c>: moves a transpose below the elementwise ops and windowed reductions that
/// consume it, so that the layout <c>layout</c> gives a convolution's result flows on to the next
/// convolution, where the transpose back and the next input transpose meet and cancel (<c>canonicalize</c>
/// folds transpose∘transpose). Between two NCHW convolutions the bias, activation and pooling then run
/// in NHWC, contiguous along channels, instead of reading through a transpose.
/// <list type="bullet">
/// <item><c>f(transpose(x, p), ...) => transpose(f(x, ...), p)</c> for an elementwise f whose other
/// operands are transposes by the same p (their inputs are used) or <c>broadcast_in_dim</c>s (re-broadcast
/// with dims mapped through p);</item>
/// <item><c>reduce_window(transpose(x, p)) => transpose(reduce_window(x), p)</c>, the per-dimension
/// attributes permuted (the transpose then moves fewer elements);</item>
/// <item><c>concatenate(transpose(x1, p), transpose(x2, p), ..)</c> along d <c>=> transpose(concatenate(x1, x2, ..), p)</c>
/// along p[d], when every operand is such a transpose: Inception's and SqueezeNet's modules then join their
/// branches in NHWC, and the pooling after them runs along contiguous channels. A value several concatenations
/// read (DenseNet's chains, <c>ConcatInPlace</c>) has more than one use, so it does not sink.</item>
/// </list>
/// A transpose is sunk only when the op is its only use, so no transpose is ever duplicated; a chain
/// sinks in one walk because each new transpose is again the only operand its single user sees.
/// Only data moves: every element is computed from the same values, so results are bit-for-bit unchanged.
/// </summary>
public sealed class TransposeSinking : FunctionPass
{
    public override string Name => "sink-transposes";
    public override string Description => "move transposes below elementwise ops and pooling, so layout changes cancel";

    private static readonly OpDef TransposeDef = OpRegistry.Get("transpose");
    private static readonly OpDef BroadcastDef = OpRegistry.Get("broadcast_in_dim");

    private static readonly string[] WindowAttributes = ["window", "strides", "padding_low", "padding_high", "window_dilation", "base_dilation"];

    protected override Function RunOnFunction(Function f, Module module, PassOptions options)
    {
        var uses = UseCounts.Of(f);
        return new Walk(uses).Rewrite(f);
    }

    private sealed class Walk(Dictionary<Value, int> uses) : RegionRewriter
    {
        protected override void Visit(Operation op)
        {
            if (op.Results.Length == 1 && op.Regions.IsEmpty && op.Result.Type.Rank >= 2
                && (op.Def.Has(OpTraits.Elementwise) ? Elementwise(op) : op.Def switch
                {
                    ReduceWindowOp => ReduceWindow(op),
                    ConcatenateOp => Concatenate(op),
                    _ => false,
                }))
                return;
            Emit(op);
        }

        /// <summary>The transpose defining <paramref name="v"/> when <paramref name="v"/> has no other use.</summary>
        private Operation? SoleTranspose(Value v) =>
            DefiningOp(v) is { Def: TransposeOp } t && uses.GetValueOrDefault(v) == 1 ? t : null;

        // f(transpose(x, p), ...) => transpose(f(x, ...), p)
        private bool Elementwise(Operation op)
        {
            var lead = op.Operands.Select(SoleTranspose).FirstOrDefault(t => t is not null);
            if (lead is null) return false;
            var p = lead.Attr.Ints("perm");
            var operands = new Value[op.Operands.Length];
            var extra = new List<Operation>();
            for (int i = 0; i < operands.Length; i++)
            {
                var d = DefiningOp(op.Operands[i]);
                if (d is { Def: TransposeOp } && d.Attr.Ints("perm").SequenceEqual(p))
                    operands[i] = d.Operands[0];
                else if (d is { Def: BroadcastInDimOp })
                {
                    // Operand dimension k went to result dimension dims[k], which is dimension p[dims[k]] of x.
                    var dims = d.Attr.Ints("dims");
                    var b = new Operation(BroadcastDef, [d.Operands[0]], AttrMap.Of(("dims", new IntArrayAttr([.. dims.Select(k => p[(int)k])]))),
                        [new Value(Untransposed(op.Operands[i].Type, p))], [], d.Location, d.SourceName);
                    extra.Add(b);
                    operands[i] = b.Result;
                }
                else return false;
            }
            foreach (var b in extra) Emit(b);
            Sink(op, operands, op.Attributes, p);
            return true;
        }

        // reduce_window(transpose(x, p)) => transpose(reduce_window(x), p), window attributes permuted
        private bool ReduceWindow(Operation op)
        {
            if (SoleTranspose(op.Operands[0]) is not { } t) return false;
            var p = t.Attr.Ints("perm");
            var attrs = op.Attributes;
            foreach (var name in WindowAttributes)
            {
                if (attrs[name] is not IntArrayAttr { Values.Length: > 0 } a) continue;
                var moved = new long[a.Values.Length];
                for (int i = 0; i < moved.Length; i++) moved[p[i]] = a.Values[i];
                attrs = attrs.With(name, new IntArrayAttr([.. moved]));
            }
            Sink(op, [t.Operands[0]], attrs, p);
            return true;
        }

        // concatenate(transpose(x1, p), transpose(x2, p), ..) {dimension = d} => transpose(concatenate(x1, x2, ..) {dimension = p[d]}, p)
        private bool Concatenate(Operation op)
        {
            var ts = op.Operands.Select(SoleTranspose).ToList();
            if (ts.Any(t => t is null)) return false;
            var p = ts[0]!.Attr.Ints("perm");
            if (ts.Any(t => !t!.Attr.Ints("perm").SequenceEqual(p))) return false;
            int d = op.Attr.Int32("dimension");
            Sink(op, [.. ts.Select(t => t!.Operands[0])], op.Attributes.With("dimension", new IntAttr(p[d])), p);
            return true;
        }

        /// <summary>Emits <paramref name="op"/> on untransposed operands and the transpose of its result in its place.</summary>
        private void Sink(Operation op, IReadOnlyList<Value> operands, AttrMap attrs, ImmutableArray<long> p)
        {
            var inner = new Operation(op.Def, [.. operands], attrs, [new Value(Untransposed(op.Result.Type, p))], [], op.Location, op.SourceName);
            Emit(inner);
            var back = new Operation(TransposeDef, [inner.Result], AttrMap.Of(("perm", new IntArrayAttr(p))), [new Value(op.Result.Type)],
                [], op.Location, op.SourceName);
            Emit(back);
            uses[back.Result] = uses.GetValueOrDefault(op.Result);
            Replace(op.Result, back.Result);
        }

        /// <summary>The type x has when transpose(x, p) has type <paramref name="t"/>: dimension p[i] of x is dimension i of t.</summary>
        private static TensorType Untransposed(TensorType t, ImmutableArray<long> p)
        {
            var shape = new long[t.Rank];
            for (int i = 0; i < p.Length; i++) shape[p[i]] = t.Shape[i];
            return new TensorType(t.Element, shape);
        }
    }
}
