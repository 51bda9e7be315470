using System.Collections.Immutable;
using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;
using GraphCompiler.IR.Autodiff;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>
/// Functional control flow and calls through the FunctionDefLibrary: PartitionedCall and
/// StatefulPartitionedCall (and a node whose op is a library function) are inlined; If/StatelessIf
/// become an <c>if</c> (or only the taken branch when the predicate is known at import time);
/// While/StatelessWhile become a <c>while</c> whose regions lower the cond and body functions.
/// </summary>
public static class TfFunctionalOps
{
    public const int MaxCallDepth = 64;

    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("PartitionedCall", Call), ("StatefulPartitionedCall", Call), ("SymbolicGradient", SymbolicGradient),
        // Batching is a serving-time schedule: one BatchFunction is a call of f on in_tensors then captured_tensors.
        ("BatchFunction", Call),
        // A TensorRT engine computes its native segment, the TF function it was built from (what TF falls back to).
        ("TRTEngineOp", n => SetAll(n, CallFunction(n, n.Func("segment_func").Name, Args(n, 0), n.L))),
        ("If", If), ("StatelessIf", If), ("Case", Case), ("StatelessCase", Case), ("While", While), ("StatelessWhile", While),
    ];

    private static void Call(TfNode n) => SetAll(n, CallFunction(n, n.Func("f").Name, Args(n, 0), n.L));

    /// <summary>A node whose op type names a library function.</summary>
    internal static void CallByOpName(TfNode n) => SetAll(n, CallFunction(n, n.Op, Args(n, 0), n.L));

    private static List<object> Args(TfNode n, int from) => [.. Enumerable.Range(from, n.InputCount - from).Select(n.Raw)];

    private static void SetAll(TfNode n, IReadOnlyList<object> outs)
    {
        for (int i = 0; i < outs.Count; i++) n.Output(i, outs[i]);
    }

    /// <summary>Lowers a library function with its arguments bound, into <paramref name="lowerer"/>'s region.</summary>
    internal static IReadOnlyList<object> CallFunction(TfNode n, string name, IReadOnlyList<object> args, Lowerer lowerer)
    {
        var ctx = n.Ctx;
        var fdef = ctx.Function(name) ?? throw n.Error($"function '{name}' is not in the graph's library");
        if (ctx.CallDepth >= MaxCallDepth) throw n.Error($"function calls nest deeper than {MaxCallDepth} (recursion?) at '{name}'");
        var body = TfFunctionBody.From(fdef, ctx);
        if (args.Count != body.ArgNames.Count)
            throw n.Error($"function '{name}' takes {body.ArgNames.Count} arguments, the call passes {args.Count}");
        var scope = new TfScope(body.Nodes, lowerer, ctx, name);
        for (int i = 0; i < args.Count; i++) scope.Bind(new TensorName(body.ArgNames[i], 0), args[i]);
        ctx.CallDepth++;
        try
        {
            scope.Lower(body.Results);
            return [.. body.Results.Select(scope.Lookup)];
        }
        finally
        {
            ctx.CallDepth--;
            lowerer.B.SourceName = n.Name;
        }
    }

    /// <summary>
    /// SymbolicGradient(x..., dy...) of f: for each input x, Σ_k dy_k·∂f_k/∂x (zeros for an input that is not
    /// float). When the library registers a gradient function for f (a GradientDef), TF calls it instead, and so
    /// does this. Otherwise f is differentiated with the IR's reverse-mode autodiff: a function
    /// (x..., dy...) → Σ_k sum(f_k(x)·dy_k) is built, differentiated with respect to the float x, and its forward
    /// and backward ops are inlined here (as the <c>differentiate</c> pass inlines a <c>gradient</c> op).
    /// </summary>
    private static void SymbolicGradient(TfNode n)
    {
        var f = n.Func("f").Name;
        var args = Args(n, 0);
        if (n.Ctx.GradientOf(f) is { } custom)
        {
            SetAll(n, CallFunction(n, custom, args, n.L));
            return;
        }
        if (!n.Ctx.IsFunction(f)) throw n.Unsupported($"gradient of '{f}', which is not a function of the graph's library");
        // Tout are f's input types (the gradients); the inputs after f's are its output cotangents.
        int xCount = n.Attr("Tout")?.List?.Type.Count ?? throw n.Error("attribute 'Tout' is required");
        if (xCount > args.Count) throw n.Error($"Tout lists {xCount} gradients, but the node has only {args.Count} inputs");

        var fb = new FunctionBuilder("symbolic_gradient");
        var inner = new Lowerer(fb.Body);
        var operands = new List<Value>(); // the wrapper's arguments, in order: tensor inputs of f, then cotangents
        var wrt = new List<int>();
        var bound = args.Take(xCount).Select(a =>
        {
            if (a is not Value v) return a; // a resource or list is read where it is, not differentiated
            if (v.Type.Element.IsFloat()) wrt.Add(operands.Count);
            operands.Add(v);
            return fb.Arg(v.Type);
        }).ToList();
        var dys = args.Skip(xCount).Select((a, k) =>
        {
            var dy = a as Value ?? throw n.Error($"output gradient #{k} is not a tensor");
            operands.Add(dy);
            return fb.Arg(dy.Type);
        }).ToList();
        var ys = CallFunction(n, f, bound, inner);
        if (ys.Count != dys.Count) throw n.Error($"function '{f}' returns {ys.Count} values, but the node gives {dys.Count} output gradients");
        Value? loss = null;
        for (int k = 0; k < ys.Count; k++)
        {
            var y = ys[k] as Value ?? throw n.Error($"output #{k} of function '{f}' is not a tensor");
            if (!y.Type.Element.IsFloat()) continue; // integer outputs carry no gradient
            if (y.Type != dys[k].Type) throw n.Error($"output gradient #{k} is {dys[k].Type}, but output #{k} of '{f}' is {y.Type}");
            var term = inner.Binary("mul", y, dys[k]);
            if (y.Type.Rank > 0) term = inner.Reduce(term, "sum", [.. Enumerable.Range(0, y.Type.Rank)], keepDims: false);
            loss = loss is null ? term : inner.Binary("add", loss, inner.Convert(term, loss.Type.Element));
        }

        var grads = new Dictionary<int, Value>();
        if (loss is not null && wrt.Count > 0)
        {
            Function g;
            try
            {
                g = Gradients.Differentiate(fb.Return([loss]), 0, wrt, $"gradient_of_{f}");
            }
            catch (IrException e)
            {
                throw n.Error($"cannot differentiate function '{f}': {e.Message}");
            }
            var map = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
            for (int i = 0; i < g.Arguments.Length; i++) map[g.Arguments[i]] = operands[i];
            foreach (var op in g.Body.Operations.SkipLast(1)) n.L.B.Append(op.MapOperands(map));
            var yielded = g.Body.Yielded;
            for (int k = 0; k < wrt.Count; k++) grads[wrt[k]] = map.GetValueOrDefault(yielded[1 + k]) ?? yielded[1 + k];
        }
        // Input i is wrapper argument i while every earlier input is a tensor, which this requires.
        for (int i = 0; i < xCount; i++)
        {
            if (args[i] is not Value v) throw n.Unsupported($"the gradient with respect to input #{i}, which is not a tensor");
            n.Output(i, grads.GetValueOrDefault(i) ?? n.L.Full(v, 0));
        }
    }

    /// <summary>TF's truth value of a predicate tensor: a bool scalar, or a number (nonzero is true).</summary>
    private static Value Truth(TfNode n, Value p, Lowerer l)
    {
        if (p.Type.ElementCount != 1 || p.Type.Rank > 1)
            throw n.Unsupported($"predicate of type {p.Type} (only single-element predicates)");
        if (p.Type.Rank == 1) p = l.Reshape(p);
        return p.Type.Element == ElementType.Bool ? p : l.Compare("ne", p, l.Scalar(p.Type.Element, 0));
    }

    private static void If(TfNode n)
    {
        var pred = Truth(n, n.Input(0), n.L);
        var args = Args(n, 1);
        string thenF = n.Func("then_branch").Name, elseF = n.Func("else_branch").Name;
        if (n.L.Known(pred) is { } known)
        {
            // Known predicate: only the taken branch exists (its shapes may differ from the other's).
            SetAll(n, CallFunction(n, known.GetBool(0) ? thenF : elseF, args, n.L));
            return;
        }
        Region Branch(string f) => n.L.B.Region([], (inner, _) =>
        {
            var outs = CallFunction(n, f, args, n.L.Nested(inner));
            return [.. outs.Select(o => o as Value ?? throw n.Unsupported("If branch returning a resource"))];
        });
        var thenR = Branch(thenF);
        var elseR = Branch(elseF);
        n.Outputs(n.L.EmitMulti("if", [pred], null, null, [thenR, elseR]));
    }

    /// <summary>Case: branch_index picks a branch; out of range runs the last one (TF's and the IR's rule).</summary>
    private static void Case(TfNode n)
    {
        var index = n.Input(0);
        if (index.Type.Rank != 0) throw n.Error($"branch_index must be a scalar, got {index.Type}");
        var branches = n.Attr("branches")?.List?.Func.Select(f => f.Name).ToList() ?? throw n.Error("attribute 'branches' is required");
        if (branches.Count == 0) throw n.Error("no branches");
        var args = Args(n, 1);
        if (n.L.Known(index) is { } known)
        {
            long i = known.GetInt64(0);
            SetAll(n, CallFunction(n, branches[i < 0 || i >= branches.Count ? branches.Count - 1 : (int)i], args, n.L));
            return;
        }
        var regions = branches.Select(f => n.L.B.Region([], (inner, _) =>
            [.. CallFunction(n, f, args, n.L.Nested(inner)).Select(o => o as Value ?? throw n.Unsupported("Case branch returning a resource"))])).ToList();
        n.Outputs(n.L.EmitMulti("case", [index], null, null, regions));
    }

    private static void While(TfNode n)
    {
        var all = Args(n, 0);
        if (all.OfType<TfTensorList>().Any())
            throw n.Error("a TensorList is carried through the loop: its positions would depend on the iteration, but TensorLists are resolved at import time");
        // Resources (variables) pass through the loop unchanged; only tensors are carried.
        var carried = Enumerable.Range(0, all.Count).Where(i => all[i] is Value).ToList();
        var types = carried.Select(i => ((Value)all[i]).Type).ToList();
        string condF = n.Func("cond").Name, bodyF = n.Func("body").Name;
        List<object> Bind(ImmutableArray<Value> a)
        {
            var full = new List<object>(all);
            for (int k = 0; k < carried.Count; k++) full[carried[k]] = a[k];
            return full;
        }
        var cond = n.L.B.Region(types, (inner, a) =>
        {
            var l = n.L.Nested(inner);
            var outs = CallFunction(n, condF, Bind(a), l);
            return [Truth(n, outs[0] as Value ?? throw n.Error("loop condition is not a tensor"), l)];
        });
        var body = n.L.B.Region(types, (inner, a) =>
        {
            var outs = CallFunction(n, bodyF, Bind(a), n.L.Nested(inner));
            if (outs.Count != all.Count) throw n.Error($"loop body returns {outs.Count} values for {all.Count} loop variables");
            return [.. carried.Select(i => outs[i] as Value ?? throw n.Error($"loop body returns a resource for tensor #{i}"))];
        });
        var results = n.L.EmitMulti("while", [.. carried.Select(i => (Value)all[i])], null, null, [cond, body]);
        for (int i = 0; i < all.Count; i++) n.Output(i, all[i] is Value ? results[carried.IndexOf(i)] : all[i]);
    }
}
