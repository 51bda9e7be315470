using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>differentiate</c>: replaces each <c>gradient</c> op by a <c>call</c> of the function
/// <see cref="GradientOp.Expand"/> builds (the callee's forward ops followed by its backward ops), added to
/// the module once per distinct request and named <c>@CALLEE_grad_K_wrt_I_J</c>. It runs first in the
/// default pipelines, so every later pass and backend sees only ordinary ops and calls; a gradient of a
/// function that itself asks for gradients is expanded on the next round, up to <see cref="MaxRounds"/>.
/// </summary>
public sealed class Differentiate : Pass
{
    public override string Name => "differentiate";
    public override string Description => "expand gradient ops into functions computing the forward pass and then the gradients (reverse mode)";

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
        var added = new Dictionary<string, Function>(StringComparer.Ordinal);
        var functions = ImmutableArray.CreateBuilder<Function>();
        foreach (var f in module.Functions)
        {
            var rewriter = new RegionRewriter((op, r) =>
            {
                if (op.Def is not GradientOp) { r.Emit(op); return; }
                var name = FunctionName(op);
                if (!added.ContainsKey(name) && module.Find(name) is null)
                {
                    try
                    {
                        added[name] = GradientOp.Expand(op, module, name);
                    }
                    catch (IrException e)
                    {
                        throw new PassException(e.ToDiagnostic());
                    }
                }
                r.Emit(new Operation(OpRegistry.Get("call"), op.Operands, AttrMap.Of(("callee", A.Symbol(name))), op.Results,
                    location: op.Location, sourceName: op.SourceName));
            });
            functions.Add(rewriter.Rewrite(f));
        }
        if (added.Count == 0) return module;
        functions.AddRange(added.Values);
        return new Module(functions.ToImmutable());
    }

    private static string FunctionName(Operation op) =>
        $"{op.Attr.Symbol("callee")}_grad_{op.Attr.Int("of")}_wrt_{string.Join("_", op.Attr.Ints("wrt"))}";
}
