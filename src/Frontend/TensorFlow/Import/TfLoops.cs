using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Import;

/// <summary>
/// Lowers a TF1 while-loop frame (tf.while_loop before control flow v2) to one <c>while</c>. Accepted
/// form: each loop variable is <c>Merge(Enter(init), NextIteration(next))</c>, one <c>LoopCond</c> takes the
/// condition, each <c>Switch(Merge, LoopCond)</c> sends output 1 into the body and output 0 to the
/// variable's <c>Exit</c>; loop invariants are <c>Enter(is_constant=true)</c>. The cond region computes the
/// LoopCond input from the Merges; the body region yields the NextIteration inputs from the Switch
/// outputs. Every node of the frame (forward from its Enters up to its Exits) is lowered only inside
/// the regions; nested frames lower the same way inside the body.
/// </summary>
internal static class TfLoops
{
    public static void Lower(TfNode mergeNode)
    {
        var scope = mergeNode.Scope;
        var enterOf = (NodeDef m) => m.Input.Where(i => !TensorName.IsControl(i)).Select(i => scope.Node(TensorName.Parse(i).Node))
            .FirstOrDefault(x => x?.Op is "Enter" or "RefEnter");
        var first = enterOf(mergeNode.Proto) ?? throw mergeNode.Unsupported("loop Merge without an Enter input");
        string frame = first.Attr.TryGetValue("frame_name", out var fa) ? fa.S.ToStringUtf8() : "";
        var enters = scope.Nodes.Where(x => x.Op is "Enter" or "RefEnter" && x.Attr.TryGetValue("frame_name", out var f) && f.S.ToStringUtf8() == frame).ToList();
        var enterNames = enters.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);

        // The loop variables: Merges of a (non-constant) Enter of this frame and a NextIteration.
        var merges = scope.Nodes.Where(m => m.Op is "Merge" or "RefMerge" && enterOf(m) is { } e && enterNames.Contains(e.Name)).ToList();
        var next = new List<TensorName>();
        var switches = new List<NodeDef>();
        string? loopCond = null;
        foreach (var m in merges)
        {
            var ni = m.Input.Where(i => !TensorName.IsControl(i)).Select(i => scope.Node(TensorName.Parse(i).Node)).FirstOrDefault(x => x?.Op is "NextIteration" or "RefNextIteration")
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
        var condTensor = TfScope.DataInputs(lcNode).First();

        // The frame's nodes: forward from the Enters' consumers, up to and including this frame's Exits.
        var members = new HashSet<string>(StringComparer.Ordinal);
        var exits = new List<NodeDef>();
        var stack = new Stack<NodeDef>(enters.SelectMany(e => scope.Consumers[e.Name]));
        while (stack.Count > 0)
        {
            var x = stack.Pop();
            if (!members.Add(x.Name)) continue;
            if (x.Op is "Exit" or "RefExit")
            {
                if (switches.Any(s => TensorName.Parse(x.Input[0]).Node == s.Name)) { exits.Add(x); continue; }
            }
            foreach (var c in scope.Consumers[x.Name]) stack.Push(c);
        }
        foreach (var name in members)
        {
            scope.MarkDone(name);
            scope.Ctx.LoopMembers.Add(name);
        }
        try
        {
            Build(mergeNode, scope, merges, switches, next, condTensor, exits, enterOf);
        }
        catch (Exception e) when (e is LoweringException or PoisonedInputException or DeadBranchException)
        {
            foreach (var x in exits) scope.Poison(x.Name);
            throw;
        }
    }

    private static void Build(TfNode mergeNode, TfScope scope, List<NodeDef> merges, List<NodeDef> switches, List<TensorName> next,
        TensorName condTensor, List<NodeDef> exits, Func<NodeDef, NodeDef?> enterOf)
    {
        var inits = merges.Select(m => mergeNode.Scope.Lookup(new TensorName(enterOf(m)!.Name, 0)) as Value
            ?? throw mergeNode.Unsupported("loop variable that is a resource")).ToList();
        var types = inits.Select(v => v.Type).ToList();
        var l = mergeNode.L;
        TfScope Inner(IrBuilder b, System.Collections.Immutable.ImmutableArray<Value> args, bool body)
        {
            var s = new TfScope(scope, l.Nested(b));
            for (int j = 0; j < merges.Count; j++)
            {
                s.Bind(new TensorName(merges[j].Name, 0), args[j]);
                s.MarkDone(merges[j].Name);
                if (body)
                {
                    s.Bind(new TensorName(switches[j].Name, 1), args[j]);
                    s.MarkDone(switches[j].Name);
                }
            }
            return s;
        }
        var cond = l.B.Region(types, (b, args) =>
        {
            var s = Inner(b, args, body: false);
            s.Lower([condTensor]);
            var c = s.Lookup(condTensor) as Value ?? throw new LoweringException("loop condition is not a tensor");
            if (c.Type.ElementCount != 1 || c.Type.Element != ElementType.Bool) throw new LoweringException($"loop condition must be a bool scalar, got {c.Type}");
            return [s.Lowerer.Reshape(c)];
        });
        var bodyR = l.B.Region(types, (b, args) =>
        {
            var s = Inner(b, args, body: true);
            s.Lower(next);
            return [.. next.Select(t => s.Lookup(t) as Value ?? throw new LoweringException("loop body yields a resource"))];
        });
        var yielded = bodyR.Yielded.Select(v => v.Type).ToList();
        for (int j = 0; j < types.Count; j++)
            if (yielded[j] != types[j])
                throw new LoweringException($"loop variable '{merges[j].Name}' is {types[j]} on entry but {yielded[j]} after an iteration (shapes must not change: static shapes only)");
        l.B.SourceName = mergeNode.Name;
        var results = l.EmitMulti("while", inits, null, null, [cond, bodyR]);
        foreach (var x in exits)
        {
            int j = switches.FindIndex(s => s.Name == TensorName.Parse(x.Input[0]).Node);
            scope.SetOutput(x.Name, 0, results[j]);
        }
    }
}
