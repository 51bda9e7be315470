using System.Text;
using GraphCompiler.Frontend.Proto.TensorFlow;

namespace GraphCompiler.Frontend.TensorFlow.Import;

/// <summary>
/// Which checkpoint key holds which variable, read off the graph's own restore ops: an Assign or
/// AssignVariableOp whose value is (through Identity) output i of a RestoreV2 restores the variable
/// from key <c>tensor_names[i]</c>. TF2 SavedModels do this in a restore function called with the
/// VarHandleOps as arguments, which is followed. Variables no restore op mentions use their node name.
/// </summary>
internal static class TfCheckpointKeys
{
    public static void Collect(GraphDef graph, TfImportContext ctx)
    {
        var nodes = graph.Node.ToDictionary(n => n.Name, StringComparer.Ordinal);
        string? Handle(string input)
        {
            var t = TensorName.Parse(input);
            for (int hops = 0; hops < 16 && nodes.TryGetValue(t.Node, out var n); hops++)
            {
                if (n.Op is "VarHandleOp" or "VariableV2" or "Variable") return n.Name;
                if (n.Op != "Identity" || n.Input.Count == 0) return null;
                t = TensorName.Parse(n.Input[0]);
            }
            return null;
        }
        Walk(graph.Node, nodes, Handle, ctx, 0);
    }

    private static void Walk(IEnumerable<NodeDef> body, Dictionary<string, NodeDef> nodes, Func<string, string?> handle, TfImportContext ctx, int depth)
    {
        if (depth > 8) return;
        foreach (var n in body)
        {
            if (n.Op is "Assign" or "AssignVariableOp" && n.Input.Count >= 2 && handle(n.Input[0]) is { } variable
                && RestoredKey(n.Input[1], nodes) is { } key)
                ctx.CheckpointKeys.TryAdd(variable, key);
            if (n.Op is "PartitionedCall" or "StatefulPartitionedCall" && n.Attr.TryGetValue("f", out var f)
                && ctx.Function(f.Func?.Name ?? "") is { } fdef)
            {
                TfFunctionBody body2;
                try { body2 = TfFunctionBody.From(fdef, ctx); }
                catch (Lowering.LoweringException) { continue; }
                var inner = body2.Nodes.ToDictionary(x => x.Name, StringComparer.Ordinal);
                var args = n.Input.Where(i => !TensorName.IsControl(i)).ToList();
                string? Inner(string input)
                {
                    var t = TensorName.Parse(input);
                    int a = body2.ArgNames.ToList().IndexOf(t.Node);
                    if (a >= 0 && !inner.ContainsKey(t.Node)) return a < args.Count ? handle(args[a]) : null;
                    return inner.TryGetValue(t.Node, out var x) && x.Op is "Identity" && x.Input.Count > 0 ? Inner(x.Input[0]) : null;
                }
                Walk(body2.Nodes, inner, Inner, ctx, depth + 1);
            }
        }
    }

    private static string? RestoredKey(string input, Dictionary<string, NodeDef> nodes)
    {
        var t = TensorName.Parse(input);
        for (int hops = 0; hops < 16 && nodes.TryGetValue(t.Node, out var n); hops++)
        {
            if (n.Op is "RestoreV2" && n.Input.Count >= 2 && nodes.TryGetValue(TensorName.Parse(n.Input[1]).Node, out var names)
                && names.Op == "Const" && names.Attr.TryGetValue("value", out var v) && v.Tensor is { } tp)
                return t.Port < tp.StringVal.Count ? Encoding.UTF8.GetString(tp.StringVal[t.Port].Span)
                    : tp.StringVal.Count == 1 ? Encoding.UTF8.GetString(tp.StringVal[0].Span) : null;
            if (n.Op != "Identity" || n.Input.Count == 0) return null;
            t = TensorName.Parse(n.Input[0]);
        }
        return null;
    }
}
