using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Import;

/// <summary>
/// One TF1 while frame: its loop variables (<see cref="Merges"/>, their <see cref="Switches"/> and the
/// tensors their NextIterations take), the condition, and the Exits with the variable each returns.
/// </summary>
internal sealed record TfLoopFrame(
    List<NodeDef> Merges, List<NodeDef> Switches, List<TensorName> Next, NodeDef LoopCond, TensorName Cond,
    HashSet<string> Enters, List<(NodeDef Exit, int Variable)> Exits);

/// <summary>
/// Lowers a TF1 while-loop frame (tf.while_loop before control flow v2) to one <c>while</c>. Accepted
/// form: each loop variable is <c>Merge(Enter(init), NextIteration(next))</c>, one <c>LoopCond</c> takes the
/// condition, each <c>Switch(Merge, LoopCond)</c> sends output 1 into the body and output 0 (directly or
/// through Identities, as gradient loops do) to the variable's <c>Exit</c>; loop invariants are
/// <c>Enter(is_constant=true)</c>. The cond region computes the LoopCond input from the Merges; the body
/// region yields the NextIteration inputs from the Switch outputs. Every node of the frame (forward from
/// its Enters up to its Exits) is lowered only inside the regions; nested frames lower the same way
/// inside the body. A frame whose variables change shape per iteration cannot be a <c>while</c> (static
/// shapes): it is unrolled when its trip count is known at import time (<see cref="TfLoopUnroller"/>).
/// </summary>
internal static class TfLoops
{
    public static void Lower(TfNode mergeNode)
    {
        var scope = mergeNode.Scope;
        var (frame, members) = Find(mergeNode);
        foreach (var name in members)
        {
            scope.MarkDone(name);
            scope.Ctx.LoopMembers.Add(name);
        }
        try
        {
            if (frame.Exits.FirstOrDefault(x => x.Variable < 0).Exit is { } stray)
                throw mergeNode.Unsupported($"loop Exit '{stray.Name}' is not fed by output 0 of a loop variable's Switch");
            var inits = frame.Merges.Select(m => scope.Lookup(new TensorName(EnterOf(scope, m)!.Name, 0)) as Value
                ?? throw mergeNode.Unsupported("loop variable that is a resource")).ToList();
            var results = While(mergeNode, frame, inits, out var changed)
                ?? TfLoopUnroller.Unroll(mergeNode, frame, inits, changed!);
            foreach (var (x, j) in frame.Exits) scope.SetOutput(x.Name, 0, results[j]);
        }
        catch (Exception e) when (e is LoweringException or PoisonedInputException or DeadBranchException)
        {
            foreach (var (x, _) in frame.Exits) scope.Poison(x.Name);
            throw;
        }
    }

    private static NodeDef? EnterOf(TfScope scope, NodeDef merge) =>
        TfScope.DataInputs(merge).Select(i => scope.Node(i.Node)).FirstOrDefault(x => x?.Op is "Enter" or "RefEnter");

    /// <summary>The frame a loop Merge starts, and its member nodes (lowered only per iteration).</summary>
    private static (TfLoopFrame Frame, HashSet<string> Members) Find(TfNode mergeNode)
    {
        var scope = mergeNode.Scope;
        var first = EnterOf(scope, mergeNode.Proto) ?? throw mergeNode.Unsupported("loop Merge without an Enter input");
        string frameName = FrameName(first);
        var enters = scope.Nodes.Where(x => x.Op is "Enter" or "RefEnter" && FrameName(x) == frameName).Select(e => e.Name).ToHashSet(StringComparer.Ordinal);

        // The loop variables: Merges of a (non-constant) Enter of this frame and a NextIteration.
        var merges = scope.Nodes.Where(m => m.Op is "Merge" or "RefMerge" && EnterOf(scope, m) is { } e && enters.Contains(e.Name)).ToList();
        var next = new List<TensorName>();
        var switches = new List<NodeDef>();
        string? loopCond = null;
        foreach (var m in merges)
        {
            var ni = TfScope.DataInputs(m).Select(i => scope.Node(i.Node)).FirstOrDefault(x => x?.Op is "NextIteration" or "RefNextIteration")
                ?? throw mergeNode.Unsupported($"loop variable Merge '{m.Name}' has no NextIteration input");
            next.Add(TfScope.DataInputs(ni).First());
            var sw = scope.Consumers[m.Name].FirstOrDefault(c => c.Op is "Switch" or "RefSwitch" && TensorName.Parse(c.Input[0]).Node == m.Name)
                ?? throw mergeNode.Unsupported($"loop variable Merge '{m.Name}' feeds no Switch");
            var lc = TensorName.Parse(sw.Input[1]).Node;
            if (loopCond is not null && lc != loopCond) throw mergeNode.Unsupported("loop Switches on different LoopConds");
            loopCond = lc;
            switches.Add(sw);
        }
        var lcNode = scope.Node(loopCond!) ?? throw mergeNode.Error($"no LoopCond '{loopCond}'");
        if (lcNode.Op != "LoopCond") throw mergeNode.Unsupported($"loop Switch predicate is {lcNode.Op}, not LoopCond");

        // The frame's nodes: forward from the Enters' consumers, up to and including its Exits. A nested
        // frame's Enter goes one level deeper and its Exit back, so the Exits that leave level 1 are this frame's.
        var members = new HashSet<string>(StringComparer.Ordinal);
        var exits = new List<(NodeDef, int)>();
        var deepest = new Dictionary<string, int>(StringComparer.Ordinal);
        var stack = new Stack<(NodeDef Node, int Depth)>(enters.SelectMany(e => scope.Consumers[e]).Select(c => (c, 1)));
        while (stack.Count > 0)
        {
            var (x, d) = stack.Pop();
            if (x.Op is "Enter" or "RefEnter") d++;
            if (x.Op is "Exit" or "RefExit") d--;
            if (deepest.TryGetValue(x.Name, out var known) && known >= d) continue;
            deepest[x.Name] = d;
            members.Add(x.Name);
            if (d == 0)
            {
                exits.Add((x, VariableOf(scope, x, switches)));
                continue;
            }
            foreach (var c in scope.Consumers[x.Name]) stack.Push((c, d));
        }
        var frame = new TfLoopFrame(merges, switches, next, lcNode, TfScope.DataInputs(lcNode).First(), enters, exits);
        return (frame, members);
    }

    private static string FrameName(NodeDef enter) => enter.Attr.TryGetValue("frame_name", out var f) ? f.S.ToStringUtf8() : "";

    /// <summary>The loop variable an Exit returns (its input is output 0 of the variable's Switch, possibly through Identities); -1 if none.</summary>
    private static int VariableOf(TfScope scope, NodeDef exit, List<NodeDef> switches)
    {
        var t = TfScope.DataInputs(exit).First();
        while (scope.Node(t.Node) is { Op: "Identity" or "RefIdentity" } id) t = TfScope.DataInputs(id).First();
        int j = switches.FindIndex(s => s.Name == t.Node);
        return t.Port == 0 ? j : -1;
    }

    /// <summary>
    /// Binds a scope of one iteration (or region): the Merges to the loop variables' current values and,
    /// in the body, the Switches' output 1 too.
    /// </summary>
    public static void BindVariables(TfScope s, TfLoopFrame frame, IReadOnlyList<Value> values, bool body)
    {
        for (int j = 0; j < frame.Merges.Count; j++)
        {
            s.Bind(new TensorName(frame.Merges[j].Name, 0), values[j]);
            s.MarkDone(frame.Merges[j].Name);
            if (!body) continue;
            s.Bind(new TensorName(frame.Switches[j].Name, 1), values[j]);
            s.MarkDone(frame.Switches[j].Name);
        }
    }

    /// <summary>
    /// The frame as one <c>while</c>, its results by loop variable; null when a loop variable changes type
    /// in an iteration (<paramref name="changed"/> says which and how), which a <c>while</c> cannot express.
    /// </summary>
    private static IReadOnlyList<Value>? While(TfNode mergeNode, TfLoopFrame frame, List<Value> inits, out string? changed)
    {
        var scope = mergeNode.Scope;
        var types = inits.Select(v => v.Type).ToList();
        var l = mergeNode.L;
        TfScope Inner(IrBuilder b, System.Collections.Immutable.ImmutableArray<Value> args, bool body)
        {
            var s = new TfScope(scope, l.Nested(b));
            BindVariables(s, frame, args, body);
            return s;
        }
        // A body region that is dropped (types changed) must leave no cached value of its own behind.
        var predicates = new Dictionary<Value, Value>(mergeNode.Ctx.ScalarPredicates, ReferenceEqualityComparer.Instance);
        var bodyR = l.B.Region(types, (b, args) =>
        {
            var s = Inner(b, args, body: true);
            s.Lower(frame.Next);
            return [.. frame.Next.Select(t => s.Lookup(t) as Value ?? throw new LoweringException("loop body yields a resource"))];
        });
        var yielded = bodyR.Yielded.Select(v => v.Type).ToList();
        int k = Enumerable.Range(0, types.Count).FirstOrDefault(j => yielded[j] != types[j], -1);
        if (k >= 0)
        {
            mergeNode.Ctx.ScalarPredicates.Clear();
            foreach (var (p, v) in predicates) mergeNode.Ctx.ScalarPredicates[p] = v;
            changed = $"loop variable '{frame.Merges[k].Name}' is {types[k]} on entry but {yielded[k]} after an iteration";
            return null;
        }
        var cond = l.B.Region(types, (b, args) =>
        {
            var s = Inner(b, args, body: false);
            s.Lower([frame.Cond]);
            return [s.Lowerer.Reshape(ConditionOf(s, frame))];
        });
        changed = null;
        l.B.SourceName = mergeNode.Name;
        return l.EmitMulti("while", inits, null, null, [cond, bodyR]);
    }

    /// <summary>The LoopCond input as lowered in <paramref name="s"/>: a bool scalar.</summary>
    public static Value ConditionOf(TfScope s, TfLoopFrame frame)
    {
        var c = s.Lookup(frame.Cond) as Value ?? throw new LoweringException("loop condition is not a tensor");
        if (c.Type.ElementCount != 1 || c.Type.Element != ElementType.Bool) throw new LoweringException($"loop condition must be a bool scalar, got {c.Type}");
        return c;
    }
}
