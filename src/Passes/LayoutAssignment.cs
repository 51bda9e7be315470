using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>layout</c> (CPU target): rewrites contractions into the one layout the CPU backend implements.
/// <list type="bullet">
/// <item><c>convolution</c> becomes NHWC input, HWIO kernel, NHWC output (<c>"b01f_01io->b01f"</c>, with
/// as many spatial digits as the conv has): transposes go on the input and kernel and one transposes the
/// result back to the original layout, so that between two NCHW convs the back-transpose of one and the
/// input transpose of the next cancel (<c>simplify</c> folds transpose∘transpose).</item>
/// <item><c>dot_general</c>'s rhs becomes [batch..., contracting..., free...] (K×N row-major weights):
/// rhs_batch = [0..b), rhs_contract = [b..b+c), transposing the rhs when needed. The result is unchanged
/// because the free dimensions keep their order.</item>
/// </list>
/// A transposed operand that is a constant is folded here (a transposed constant), so weights cost
/// nothing at run time. Only the data layout moves: every sum still accumulates in the same order, so
/// results are bit-for-bit unchanged.
/// </summary>
public sealed class LayoutAssignment : FunctionPass
{
    public override string Name => "layout";
    public override string Description => "canonicalise convolution to NHWC/HWIO and dot_general rhs to K×N (CPU layouts)";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options) =>
        f.WithBody(new Rewriter().Region(f.Body));

    private sealed class Rewriter
    {
        private readonly Dictionary<Value, Operation> _definer = new(ReferenceEqualityComparer.Instance);
        private static readonly OpDef TransposeDef = OpRegistry.Get("transpose");

        public Region Region(Region r)
        {
            var ops = ImmutableArray.CreateBuilder<Operation>();
            foreach (var op0 in r.Operations)
            {
                var op = op0.Regions.IsEmpty ? op0 : op0.With(regions: [.. op0.Regions.Select(Region)]);
                int before = ops.Count;
                switch (op.Def)
                {
                    case ConvolutionOp: Convolution(op, ops); break;
                    case DotGeneralOp: Dot(op, ops); break;
                    default: ops.Add(op); break;
                }
                for (int i = before; i < ops.Count; i++)
                    foreach (var v in ops[i].Results) _definer[v] = ops[i];
            }
            return r.WithOperations(ops.ToImmutable());
        }

        /// <summary>Positions of the role letters and spatial digits in one operand's labels.</summary>
        private static (int A, int B, int[] Spatial) Labels(string s, char a, char b) =>
            (s.IndexOf(a), s.IndexOf(b), [.. Enumerable.Range(0, s.Length - 2).Select(d => s.IndexOf((char)('0' + d)))]);

        private void Convolution(Operation conv, ImmutableArray<Operation>.Builder ops)
        {
            var dims = conv.Attr.String("dims");
            var parts = dims.Split("->");
            var operands = parts[0].Split('_');
            var (ib, iff, isp) = Labels(operands[0], 'b', 'f');
            var (ki, ko, ksp) = Labels(operands[1], 'i', 'o');
            var (ob, of, osp) = Labels(parts[1], 'b', 'f');
            int n = isp.Length;
            var digits = string.Concat(Enumerable.Range(0, n).Select(d => (char)('0' + d)));
            var canonical = $"b{digits}f_{digits}io->b{digits}f";
            if (dims == canonical) { ops.Add(conv); return; }

            // in: [b, spatial..., f]; kernel: [spatial..., i, o]; canonical out [b, spatial..., f] back to the original.
            var input = Transpose(conv.Operands[0], [ib, .. isp, iff], ops);
            var kernel = Transpose(conv.Operands[1], [.. ksp, ki, ko], ops);
            var back = new long[n + 2];
            back[ob] = 0;
            back[of] = n + 1;
            for (int s = 0; s < n; s++) back[osp[s]] = s + 1;
            var t = conv.ResultType();
            var outShape = new long[n + 2];
            for (int j = 0; j < n + 2; j++) outShape[back[j]] = t.Shape[j];
            bool identityBack = back.Select((p, j) => p == j).All(x => x);
            var result = identityBack ? conv.Result : new Value(new TensorType(t.Element, outShape));
            ops.Add(new Operation(conv.Def, [input, kernel], conv.Attributes.With("dims", new StringAttr(canonical)), [result],
                [], conv.Location, conv.SourceName));
            // The transpose back defines the original value, so no use needs rewriting.
            if (!identityBack)
                ops.Add(new Operation(TransposeDef, [result], AttrMap.Of(("perm", new IntArrayAttr([.. back]))), [conv.Result],
                    [], conv.Location, conv.SourceName));
        }

        private void Dot(Operation dot, ImmutableArray<Operation>.Builder ops)
        {
            var a = dot.Attr;
            var (rb, rc) = (a.Ints("rhs_batch"), a.Ints("rhs_contract"));
            int rank = dot.Operands[1].Type.Rank;
            var free = Enumerable.Range(0, rank).Select(d => (long)d).Where(d => !rb.Contains(d) && !rc.Contains(d));
            long[] perm = [.. rb, .. rc, .. free];
            if (perm.Select((p, i) => p == i).All(x => x)) { ops.Add(dot); return; }
            var rhs = Transpose(dot.Operands[1], perm, ops);
            var attrs = dot.Attributes
                .With("rhs_batch", new IntArrayAttr([.. Enumerable.Range(0, rb.Length).Select(i => (long)i)]))
                .With("rhs_contract", new IntArrayAttr([.. Enumerable.Range(rb.Length, rc.Length).Select(i => (long)i)]));
            ops.Add(new Operation(dot.Def, [dot.Operands[0], rhs], attrs, dot.Results, [], dot.Location, dot.SourceName));
        }

        /// <summary>Transposes <paramref name="v"/> (nothing for the identity); a constant is transposed in place of a runtime op.</summary>
        private Value Transpose(Value v, IReadOnlyList<long> perm, ImmutableArray<Operation>.Builder ops)
        {
            if (perm.Select((p, i) => p == i).All(x => x)) return v;
            var type = v.Type.WithShape([.. perm.Select(p => v.Type.Shape[(int)p])]);
            var transpose = new Operation(TransposeDef, [v], AttrMap.Of(("perm", new IntArrayAttr([.. perm]))), [new Value(type)]);
            if (_definer.TryGetValue(v, out var def) && def.Def is ConstantOp && def.Attributes["value"] is TensorAttr c)
            {
                // Weights, whatever their size: fold the transpose now (exact: it only moves elements, and
                // the transposed copy replaces the original). Left as an op, it would transpose them on
                // every call and keep the backend from packing them at compile time.
                var value = new Interpreter(new Module([])).EvaluateOperation(transpose, [c.Value])[0];
                var constant = new Operation(def.Def, [], AttrMap.Of(("value", new TensorAttr(value))), [new Value(type)],
                    [], def.Location, def.SourceName);
                ops.Add(constant);
                return constant.Result;
            }
            ops.Add(transpose);
            return transpose.Result;
        }
    }
}
