using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>differentiate</c>: replaces each <c>gradient</c> op by the ops of the function
/// <see cref="GradientOp.Expand"/> builds — the callee's forward ops followed by its backward ops — inlined
/// where the op stood, with the op's operands for the function's arguments. Inlined rather than called, so
/// that no result crosses a call boundary (a copy per gradient) and later passes see the forward, backward and
/// whatever consumes the gradients (an optimizer's update) as one graph: CSE merges what they share, <c>fuse</c>
/// fuses the last backward ops into the update, <c>schedule</c> orders them together. It runs first in the
/// default pipelines; a gradient of a function that itself asks for gradients is expanded on the next round,
/// up to <see cref="MaxRounds"/>.
/// </summary>
public sealed class Differentiate : Pass
{
    public override string Name => "differentiate";
    public override string Description => "expand gradient ops in place into the forward ops and then the gradient ops (reverse mode)";

    /// <summary>How many levels of gradients of gradients are expanded.</summary>
    public const int MaxRounds = 4;

    public override PassResult Run(Module module, PassOptions options)
    {
        var m = module;
        for (int round = 0; round < MaxRounds; round++)
        {
            var next = Round(m);
            if (ReferenceEquals(next, m)) break;
            m = next;
        }
        return new PassResult(m, !ReferenceEquals(m, module));
    }

    private static Module Round(Module module)
    {
        var m = module;
        foreach (var f in module.Functions)
        {
            var rewriter = new RegionRewriter((op, r) =>
            {
                if (op.Def is not GradientOp) { r.Emit(op); return; }
                Function g;
                try
                {
                    // A fresh function per op: its values are new, so inlining needs no copy.
                    g = GradientOp.Expand(op, module, $"{op.Attr.Symbol("callee")}_grad");
                }
                catch (IrException e)
                {
                    throw new PassException(e.ToDiagnostic());
                }
                var map = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
                for (int i = 0; i < g.Arguments.Length; i++) map[g.Arguments[i]] = op.Operands[i];
                foreach (var inlined in g.Body.Operations.SkipLast(1)) r.Emit(inlined.MapOperands(map));
                var yielded = g.Body.Yielded;
                for (int i = 0; i < op.Results.Length; i++) r.Replace(op.Results[i], map.GetValueOrDefault(yielded[i]) ?? yielded[i]);
            });
            m = m.WithFunction(rewriter.Rewrite(f));
        }
        return m;
    }
}
