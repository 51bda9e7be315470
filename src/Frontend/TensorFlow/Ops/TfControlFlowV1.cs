using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>
/// TF1 control flow. Conditionals: Switch passes its data to both outputs, each guarded by its branch
/// (<see cref="TfGuard"/>); Merge of the two branches becomes a <c>select</c> on the predicate (or the
/// live input when the predicate is known). Loops: a Merge fed by a NextIteration lowers its whole
/// frame as one <c>while</c>, or unrolled when its variables change shape (<see cref="TfLoops"/>).
/// </summary>
public static class TfControlFlowV1
{
    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("Switch", Switch), ("RefSwitch", Switch), ("_SwitchN", SwitchN), ("Merge", Merge), ("RefMerge", Merge),
        ("Enter", n => n.Output(0, n.Raw(0))), ("RefEnter", n => n.Output(0, n.Raw(0))), ("LoopCond", n => n.Output(0, n.Input(0))),
        ("Exit", n => throw n.Unsupported("Exit whose loop is not in the accepted form (see docs/frontends.md)")),
        ("RefExit", n => throw n.Unsupported("Exit whose loop is not in the accepted form (see docs/frontends.md)")),
        ("NextIteration", n => throw n.Unsupported("NextIteration outside a loop of the accepted form")),
        ("RefNextIteration", n => throw n.Unsupported("NextIteration outside a loop of the accepted form")),
    ];

    private static void Switch(TfNode n)
    {
        var data = n.Raw(0);
        var pred = n.Input(1);
        if (pred.Type.ElementCount != 1 || pred.Type.Element != ElementType.Bool) throw n.Error($"predicate must be a bool scalar, got {pred.Type}");
        if (!n.Ctx.ScalarPredicates.TryGetValue(pred, out var scalar)) n.Ctx.ScalarPredicates[pred] = scalar = n.L.Reshape(pred);
        pred = scalar;
        var g = n.Scope.Guard(n.InputName(0)).Union(n.Scope.Guard(n.InputName(1)));
        n.Output(0, data);
        n.Output(1, data);
        // A predicate known at import time leaves the live output unguarded (it always runs, so an
        // assignment there is no conditional one) and the other dead.
        bool? known = n.L.Known(pred) is { } k ? k.GetBool(0) : null;
        n.Scope.SetGuard(new TensorName(n.Name, 0), known == false ? g : g.With(pred, false));
        n.Scope.SetGuard(new TensorName(n.Name, 1), known == true ? g : g.With(pred, true));
    }

    /// <summary>
    /// _SwitchN (a lowered Case): output k carries the data, guarded by "branch index is k", the index
    /// clamped like TF's kernel (out of range → the last output). A Merge takes the one live input when
    /// the index is known at import time.
    /// </summary>
    private static void SwitchN(TfNode n)
    {
        var data = n.Raw(0);
        var index = n.L.Convert(n.L.Reshape(n.Input(1)), ElementType.I32);
        int count = (int)n.Int("num_outs");
        var last = n.L.Reshape(n.L.Ints(ElementType.I32, count - 1));
        var clamped = n.L.Binary("min", n.L.Select(n.L.Compare("lt", index, n.L.Reshape(n.L.Ints(ElementType.I32, 0))), last, index), last);
        var g = n.Scope.Guard(n.InputName(0)).Union(n.Scope.Guard(n.InputName(1)));
        for (int k = 0; k < count; k++)
        {
            n.Output(k, data);
            n.Scope.SetGuard(new TensorName(n.Name, k), g.With(n.L.Compare("eq", clamped, n.L.Reshape(n.L.Ints(ElementType.I32, k))), true));
        }
    }

    private static void Merge(TfNode n)
    {
        var scope = n.Scope;
        if (Enumerable.Range(0, n.InputCount).Any(i => scope.Node(n.InputName(i).Node)?.Op is "NextIteration" or "RefNextIteration"))
        {
            TfLoops.Lower(n);
            return;
        }
        var live = new List<(Value V, Value Index, TfGuard G)>();
        for (int i = 0; i < n.InputCount; i++)
        {
            var g = scope.Guard(n.InputName(i));
            if (g.IsDead(n.L)) continue;
            live.Add((n.Input(i), n.L.Reshape(n.L.Ints(ElementType.I32, i)), g));
        }
        if (live.Count == 0) throw new DeadBranchException();
        while (live.Count > 1)
        {
            // Find two inputs on opposite branches of one Switch and select between them.
            bool merged = false;
            for (int a = 0; a < live.Count && !merged; a++)
                for (int b = 0; b < live.Count && !merged; b++)
                {
                    if (a == b) continue;
                    var item = live[a].G.Items.FirstOrDefault(x => x.Branch && live[b].G.Items.Any(y => ReferenceEquals(y.Pred, x.Pred) && !y.Branch));
                    if (item.Pred is null) continue;
                    var (t, f) = (live[a], live[b]);
                    if (t.V.Type != f.V.Type) throw n.Error($"the branches give {t.V.Type} and {f.V.Type}");
                    var merged1 = (n.L.Select(item.Pred, t.V, f.V), n.L.Select(item.Pred, t.Index, f.Index), t.G.Union(f.G).Without(item.Pred));
                    live.RemoveAt(Math.Max(a, b));
                    live.RemoveAt(Math.Min(a, b));
                    live.Add(merged1);
                    merged = true;
                }
            if (!merged) throw n.Unsupported("Merge of inputs that are not the two branches of a Switch");
        }
        n.Output(0, live[0].V);
        n.Output(1, live[0].Index);
        scope.SetGuard(new TensorName(n.Name, 0), live[0].G);
        scope.SetGuard(new TensorName(n.Name, 1), live[0].G);
    }
}
