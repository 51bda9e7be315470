using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.Proto.TensorFlow.Tf2Xla;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Import;

internal sealed record TfFeed(string ArgName, TensorName Tensor, TensorType? Type);

internal sealed record TfFetch(string ResultName, TensorName Tensor);

/// <summary>
/// What to import: feeds, fetches and config variables, resolved from the options, a tfcompile
/// config and the signature (feeds/fetches then name signature keys).
/// </summary>
internal sealed class TfImportPlan
{
    public List<TfFeed> Feeds { get; } = [];
    public List<TfFetch> Fetches { get; } = [];
    public List<Proto.TensorFlow.Tf2Xla.Variable> Variables { get; } = [];
    public bool FromSignature { get; private set; }

    /// <summary>In signature mode, the signature key of each input placeholder node.</summary>
    public Dictionary<string, string> SignatureKeys { get; } = new(StringComparer.Ordinal);
    private ImportProblems _problems = null!;

    /// <summary>Ops that produce no tensor worth fetching by default (side effects, checkpointing).</summary>
    private static readonly HashSet<string> NotSinks = new(StringComparer.Ordinal)
    {
        "NoOp", "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
        "SaveV2", "Save", "SaveSlices", "MergeV2Checkpoints", "Assert", "Print", "PrintV2", "ControlTrigger",
    };

    public static TfImportPlan? Make(GraphDef graph, IReadOnlyDictionary<string, Signature> signatures, ImportOptions options, ImportProblems problems)
    {
        var plan = new TfImportPlan { _problems = problems };
        var feeds = new List<FeedSpec>();
        var fetches = new List<string>(options.Fetches);
        if (options.ConfigPath is { } configPath)
        {
            var read = TensorFlowFiles.ReadTfCompileConfig(configPath);
            if (read.Value is not { } config)
            {
                foreach (var d in read.Diagnostics) problems.Error(d.Message);
                return null;
            }
            foreach (var f in config.Feed)
            {
                var t = new TensorName(f.Id?.NodeName ?? "", (int)(f.Id?.OutputIndex ?? 0));
                TensorType? type = null;
                if (f.Shape is not null && f.Type != DataType.DtInvalid && FrameworkElementTypes.TryFromTensorFlow(f.Type, out var e, out _)
                    && TensorProtoConverter.TensorFlowShape(f.Shape, "").Value is { } dims)
                    type = new TensorType(e, dims);
                feeds.Add(new FeedSpec(t.ToString(), type));
                if (type is null && f.Shape is not null) plan._configShapes[t] = f.Shape;
            }
            if (fetches.Count == 0) fetches.AddRange(config.Fetch.Select(f => new TensorName(f.Id?.NodeName ?? "", (int)(f.Id?.OutputIndex ?? 0)).ToString()));
            plan.Variables.AddRange(config.Variable);
        }
        // Explicit feeds win over the config's for the same tensor.
        foreach (var f in options.Feeds)
        {
            feeds.RemoveAll(c => TensorName.TryParse(c.Name, out var a) && TensorName.TryParse(f.Name, out var b) && a == b);
            feeds.Add(f);
        }

        var sig = ChooseSignature(signatures, options, feeds, fetches, problems);
        if (sig is not null)
        {
            plan.FromSignature = true;
            var inputs = sig.Inputs.ToDictionary(i => i.Key, StringComparer.Ordinal);
            var outputs = sig.Outputs.ToDictionary(o => o.Key, StringComparer.Ordinal);
            foreach (var i in sig.Inputs)
                if (i.TensorName is not null) plan.SignatureKeys.TryAdd(TensorName.Parse(i.TensorName).Node, i.Key);
            var feedList = feeds.Count > 0 ? feeds : [.. sig.Inputs.Select(i => new FeedSpec(i.Key))];
            foreach (var f in feedList)
            {
                if (!inputs.TryGetValue(f.Name, out var st)) { problems.Error($"feed '{f.Name}' is not an input of signature '{sig.Key}' (inputs: {string.Join(", ", inputs.Keys)})"); continue; }
                if (st.TensorName is null) { problems.Unsupported("composite signature input", f.Name); continue; }
                plan.Feeds.Add(new TfFeed(f.Name, TensorName.Parse(st.TensorName), f.Type));
            }
            foreach (var name in fetches.Count > 0 ? fetches : [.. sig.Outputs.Select(o => o.Key)])
            {
                if (!outputs.TryGetValue(name, out var st)) { problems.Error($"fetch '{name}' is not an output of signature '{sig.Key}' (outputs: {string.Join(", ", outputs.Keys)})"); continue; }
                if (st.TensorName is null) { problems.Unsupported("composite signature output", name); continue; }
                plan.Fetches.Add(new TfFetch(name, TensorName.Parse(st.TensorName)));
            }
            return plan;
        }
        foreach (var f in feeds)
        {
            if (!TensorName.TryParse(f.Name, out var t)) { problems.Error($"feed '{f.Name}' is not a tensor name (node or node:port)"); continue; }
            plan.Feeds.Add(new TfFeed(f.Name, t, f.Type));
        }
        foreach (var f in fetches)
        {
            if (!TensorName.TryParse(f, out var t)) { problems.Error($"fetch '{f}' is not a tensor name (node or node:port)"); continue; }
            plan.Fetches.Add(new TfFetch(f, t));
        }
        var names = graph.Node.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var f in plan.Fetches.Where(f => !names.Contains(f.Tensor.Node)))
            problems.Error($"fetch '{f.ResultName}': the graph has no node '{f.Tensor.Node}'");
        foreach (var f in plan.Feeds.Where(f => !names.Contains(f.Tensor.Node)))
            problems.Error($"feed '{f.ArgName}': the graph has no node '{f.Tensor.Node}'");
        return plan;
    }

    private readonly Dictionary<TensorName, TensorShapeProto> _configShapes = [];

    /// <summary>
    /// The signature to import through: the one named by the options; else, when the model has
    /// signatures, the default one (serving_default, else the only one) if no feed/fetch is given or
    /// every given name is one of its keys. Otherwise feeds and fetches are graph tensors.
    /// </summary>
    private static Signature? ChooseSignature(IReadOnlyDictionary<string, Signature> sigs, ImportOptions options,
        List<FeedSpec> feeds, List<string> fetches, ImportProblems problems)
    {
        if (options.Signature is { } key)
        {
            if (sigs.TryGetValue(key, out var s)) return s;
            problems.Error($"no signature '{key}' (signatures: {(sigs.Count == 0 ? "none" : string.Join(", ", sigs.Keys))})");
            return null;
        }
        if (options.ConfigPath is not null) return null;
        var dflt = sigs.GetValueOrDefault("serving_default") ?? (sigs.Count == 1 ? sigs.Values.First() : null);
        if (dflt is null) return null;
        if (feeds.Count == 0 && fetches.Count == 0) return dflt;
        bool allKeys = feeds.All(f => dflt.Inputs.Any(i => i.Key == f.Name)) && fetches.All(f => dflt.Outputs.Any(o => o.Key == f));
        return allKeys ? dflt : null;
    }

    /// <summary>
    /// A feed's type: the feed spec's type when given (it wins over the graph's declared shape, as TF's
    /// Session::Run does not check it); else the Placeholder's dtype and shape, unknown dimensions being
    /// an error; else a config shape with the node's dtype.
    /// </summary>
    public TensorType? FeedType(TfFeed f, TfScope scope)
    {
        var node = scope.Node(f.Tensor.Node);
        if (node is not null && node.Op is "Placeholder" or "PlaceholderV2" or "PlaceholderWithDefault" && f.Tensor.Port != 0)
        {
            _problems.Error($"feed '{f.ArgName}': placeholder '{node.Name}' has only output 0");
            return null;
        }
        DataType? dtype = node is null ? null : NodeDType(node, f.Tensor.Port);
        if (f.Type is { } given)
        {
            if (dtype is { } d && FrameworkElementTypes.TryFromTensorFlow(d, out var e, out _) && e != given.Element)
                _problems.Error($"feed '{f.ArgName}': {f.Tensor.Node} is {e.Name()}, the feed says {given.Element.Name()}");
            return given;
        }
        if (dtype is null)
        {
            _problems.Error($"feed '{f.ArgName}': the type of {f.Tensor} is not known; give it with the feed");
            return null;
        }
        if (!FrameworkElementTypes.TryFromTensorFlow(dtype.Value, out var elem, out var reason))
        {
            _problems.Unsupported($"feed of type {FrameworkElementTypes.TensorFlowName(dtype.Value)}", f.ArgName);
            return null;
        }
        TensorShapeProto? shape = _configShapes.GetValueOrDefault(f.Tensor);
        if (shape is null && node is not null && node.Op is "Placeholder" or "PlaceholderV2" or "PlaceholderWithDefault")
            shape = node.Attr.TryGetValue("shape", out var s) ? s.Shape : null;
        // A function graph's _Arg states its shape (when known) only in _output_shapes.
        if (shape is null && node is { Op: "_Arg" } && node.Attr.TryGetValue("_output_shapes", out var os) && os.List?.Shape.Count > 0)
            shape = os.List.Shape[0];
        var what = node?.Op == "_Arg" ? "argument" : "placeholder";
        if (shape is null)
        {
            _problems.Error($"feed '{f.ArgName}': {what} '{f.Tensor.Node}' has no shape; give it with the feed (e.g. {f.ArgName}:{elem.Name()}[...])");
            return null;
        }
        if (shape.UnknownRank || shape.Dim.Any(d => d.Size < 0))
        {
            _problems.Error($"feed '{f.ArgName}': {what} '{f.Tensor.Node}' has shape {elem.Name()}{Describe(shape)} with unknown dimensions; give its shape with the feed");
            return null;
        }
        return new TensorType(elem, shape.Dim.Select(d => d.Size).ToArray());
    }

    public TensorType? VariableType(Proto.TensorFlow.Tf2Xla.Variable v, TfScope scope)
    {
        var node = scope.Node(v.NodeName);
        if (node is null) { _problems.Error($"config variable '{v.NodeName}': the graph has no such node"); return null; }
        var dtype = v.Type != DataType.DtInvalid ? v.Type : NodeDType(node, 0) ?? DataType.DtInvalid;
        if (!FrameworkElementTypes.TryFromTensorFlow(dtype, out var e, out var reason)) { _problems.Error($"config variable '{v.NodeName}': {reason}"); return null; }
        var shape = v.Shape ?? (node.Attr.TryGetValue("shape", out var s) ? s.Shape : null);
        var dims = TensorProtoConverter.TensorFlowShape(shape, $"config variable '{v.NodeName}'");
        if (dims.Value is null) { _problems.Error(dims.Diagnostics[0].Message); return null; }
        return new TensorType(e, dims.Value);
    }

    /// <summary>The dtype a node declares for output <paramref name="port"/> (dtype, T, out_type, output_types).</summary>
    private static DataType? NodeDType(NodeDef node, int port)
    {
        foreach (var name in new[] { "dtype", "T", "out_type", "DstT" })
            if (node.Attr.TryGetValue(name, out var a) && a.ValueCase == AttrValue.ValueOneofCase.Type)
                return (int)a.Type > 100 ? (DataType)((int)a.Type - 100) : a.Type;
        foreach (var name in new[] { "output_types", "Tout", "T" })
            if (node.Attr.TryGetValue(name, out var a) && a.List is { } l && port < l.Type.Count) return l.Type[port];
        return null;
    }

    private static string Describe(TensorShapeProto s) =>
        s.UnknownRank ? "<unknown rank>" : "[" + string.Join(", ", s.Dim.Select(d => d.Size < 0 ? "?" : d.Size.ToString())) + "]";

    /// <summary>
    /// Default fetches. A function graph (TF's graph-as-function form: <c>_Arg</c>/<c>_Retval</c> nodes)
    /// returns its <c>_Retval</c> inputs in <c>index</c> order, and runs the variable updates that nothing
    /// consumes (its control outputs). Other graphs: the sink nodes (<see cref="SinkFetches"/>); when none
    /// computes a tensor, the variable updates among them run as targets (their new values are the results).
    /// </summary>
    public static List<TfFetch> DefaultFetches(GraphDef graph)
    {
        var consumed = graph.Node.SelectMany(n => n.Input).Select(i => TensorName.IsControl(i) ? i[1..] : TensorName.Parse(i).Node).ToHashSet(StringComparer.Ordinal);
        var updates = graph.Node.Where(n => UpdatesVariables(n.Op) && !consumed.Contains(n.Name)).Select(n => new TfFetch(n.Name, new TensorName(n.Name, 0))).ToList();
        var rets = graph.Node.Where(n => n.Op == "_Retval").OrderBy(n => n.Attr.TryGetValue("index", out var i) ? i.I : 0).ToList();
        if (rets.Count > 0)
            return [.. rets.Where(r => TfScope.DataInputs(r).Any()).Select(r => new TfFetch(r.Name, TfScope.DataInputs(r).First())), .. updates];
        var sinks = SinkFetches(graph);
        return sinks.Count > 0 ? sinks : updates;
    }

    /// <summary>Why <see cref="DefaultFetches"/> found nothing, in the graph's terms, for the error message.</summary>
    public static string WhyNothingToFetch(GraphDef graph)
    {
        if (graph.Node.Count == 0)
            return graph.Library?.Function.Count > 0 ? $"the graph has no nodes, only a function library ({string.Join(", ", graph.Library.Function.Select(f => f.Signature?.Name).Take(3))})" : "the graph is empty";
        var consumed = graph.Node.SelectMany(TfScope.DataInputs).Select(t => t.Node).ToHashSet(StringComparer.Ordinal);
        var sinks = graph.Node.Where(n => !consumed.Contains(n.Name)).ToList();
        var noOutputs = (graph.Library?.Function ?? []).Where(f => f.Signature is { OutputArg.Count: 0 }).Select(f => f.Signature.Name).ToHashSet(StringComparer.Ordinal);
        if (sinks.Count > 0 && sinks.All(n => noOutputs.Contains(n.Op)))
            return $"the graph computes no tensor (its sink nodes call functions without outputs: {string.Join(", ", sinks.Select(n => n.Op).Distinct().Take(4))})";
        if (sinks.Count > 0 && sinks.All(n => n.Op is "NextIteration" or "Merge" or "Enter" or "Switch" or "LoopCond" || n.Name.Length == 0))
            return "the graph computes no tensor (a TF1 while loop without an Exit: its values exist only inside the loop)";
        if (sinks.Count > 0 && sinks.All(GivesStrings))
            return $"the graph computes only string tensors (strings are not supported; sinks: {string.Join(", ", sinks.Select(n => $"{n.Name} ({n.Op})").Take(4))})";
        return $"the graph has no sink node that computes a tensor (sinks: {string.Join(", ", sinks.Select(n => $"{n.Name} ({n.Op})").Take(4))})";
    }

    /// <summary>A function graph's _Arg nodes (its parameters) in <c>index</c> order.</summary>
    public static List<NodeDef> Arguments(GraphDef graph) =>
        [.. graph.Node.Where(n => n.Op == "_Arg").OrderBy(n => n.Attr.TryGetValue("index", out var i) ? i.I : 0)];

    /// <summary>
    /// Default fetches: output 0 of every sink node (no node consumes any of its outputs as data), in
    /// graph order, leaving out side-effect and checkpointing ops (NoOp, Assign*, SaveV2, Assert, ...).
    /// </summary>
    public static List<TfFetch> SinkFetches(GraphDef graph)
    {
        var consumed = graph.Node.SelectMany(TfScope.DataInputs).Select(t => t.Node).ToHashSet(StringComparer.Ordinal);
        var noOutputs = (graph.Library?.Function ?? []).Where(f => f.Signature is { OutputArg.Count: 0 }).Select(f => f.Signature.Name).ToHashSet(StringComparer.Ordinal);
        bool Silent(NodeDef n) => noOutputs.Contains(n.Op) ||
            n.Op is "PartitionedCall" or "StatefulPartitionedCall" && n.Attr.TryGetValue("f", out var f) && noOutputs.Contains(f.Func?.Name ?? "");
        // Nodes inside TF1 while frames (forward from an Enter, up to the frame's Exits) exist only in the loop.
        var consumers = graph.Node.SelectMany(n => n.Input.Select(i => (From: TensorName.IsControl(i) ? i[1..] : TensorName.Parse(i).Node, To: n)))
            .ToLookup(p => p.From, p => p.To, StringComparer.Ordinal);
        // A node keeps the deepest nesting it is reached with: an inner loop's Exit is still inside the outer loop.
        var deepest = new Dictionary<string, int>(StringComparer.Ordinal);
        var depth = new Stack<(NodeDef Node, int Depth)>(graph.Node.Where(n => n.Op is "Enter" or "RefEnter").SelectMany(e => consumers[e.Name]).Select(c => (c, 1)));
        while (depth.Count > 0)
        {
            var (x, d) = depth.Pop();
            if (x.Op is "Enter" or "RefEnter") d++;
            if (x.Op is "Exit" or "RefExit") d--;
            if (d <= 0 || deepest.TryGetValue(x.Name, out var known) && known >= d) continue;
            deepest[x.Name] = d;
            foreach (var c in consumers[x.Name]) depth.Push((c, d));
        }
        var inLoop = deepest.Keys.ToHashSet(StringComparer.Ordinal);
        var checkpointing = CheckpointCone(graph);
        return [.. graph.Node.Where(n => !consumed.Contains(n.Name) && !NotSinks.Contains(n.Op) && !UpdatesVariables(n.Op) && !Silent(n) && !inLoop.Contains(n.Name)
                && !checkpointing.Contains(n.Name) && !GivesStrings(n) && !Ops.TfTensorListOps.GivesList(n.Op) && !Ops.TfTpuOps.GivesNoTensor(n.Op))
            .Select(n => new TfFetch(n.Name, new TensorName(n.Name, 0)))];
    }

    /// <summary>Ops of the saver's subgraph: file names, save and restore (they handle strings and files, not the model's tensors).</summary>
    private static readonly HashSet<string> CheckpointOps = new(StringComparer.Ordinal)
    {
        "SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice", "MergeV2Checkpoints", "ShardedFilename",
        "ShardedFilespec", "StringJoin", "StaticRegexFullMatch", "StaticRegexReplace",
    };

    /// <summary>A node whose output 0 is a string tensor (by its dtype/T attribute): not a default fetch, strings being out of scope.</summary>
    private static bool GivesStrings(NodeDef n) =>
        new[] { "dtype", "T", "Tparams", "out_type" }.Any(k => n.Attr.TryGetValue(k, out var a) && a.ValueCase == AttrValue.ValueOneofCase.Type && a.Type == DataType.DtString);

    /// <summary>
    /// The nodes that depend (through data or control edges) on a checkpoint op: the save/restore subgraph, which a
    /// default fetch leaves out (e.g. <c>save/control_dependency</c>, the Identity of the saved file name).
    /// </summary>
    private static HashSet<string> CheckpointCone(GraphDef graph)
    {
        // Control edges count: save/control_dependency is an Identity of the file name after ^save/SaveV2.
        var consumers = graph.Node.SelectMany(n => n.Input.Select(i => (From: TensorName.IsControl(i) ? i[1..] : TensorName.Parse(i).Node, To: n.Name)))
            .ToLookup(p => p.From, p => p.To, StringComparer.Ordinal);
        var cone = new HashSet<string>(StringComparer.Ordinal);
        // A call of a function that saves or restores (TF2's __inference__write_checkpoint) is checkpointing too.
        var functions = (graph.Library?.Function ?? []).GroupBy(f => f.Signature?.Name ?? "").ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var saves = new Dictionary<string, bool>(StringComparer.Ordinal);
        bool Saves(string fn)
        {
            if (saves.TryGetValue(fn, out var b)) return b;
            saves[fn] = false; // recursion guard
            return saves[fn] = functions.TryGetValue(fn, out var f) && f.NodeDef.Any(n => CheckpointOps.Contains(n.Op) || Callee(n) is { } c && Saves(c));
        }
        string? Callee(NodeDef n) =>
            functions.ContainsKey(n.Op) ? n.Op : n.Op is "PartitionedCall" or "StatefulPartitionedCall" && n.Attr.TryGetValue("f", out var f) ? f.Func?.Name : null;
        var stack = new Stack<string>(graph.Node.Where(n => CheckpointOps.Contains(n.Op) || Callee(n) is { } c && Saves(c)).Select(n => n.Name));
        while (stack.Count > 0)
        {
            var x = stack.Pop();
            if (!cone.Add(x)) continue;
            foreach (var c in consumers[x]) stack.Push(c);
        }
        return cone;
    }

    /// <summary>Ops that write variables: Assign*, and the optimizer updates Apply*/ResourceApply*.</summary>
    public static bool UpdatesVariables(string op) =>
        op.StartsWith("Assign", StringComparison.Ordinal) || op.StartsWith("Apply", StringComparison.Ordinal) || op.StartsWith("ResourceApply", StringComparison.Ordinal);

    /// <summary>
    /// Assignments and optimizer updates that the fetches depend on through data or control edges
    /// (tfcompile and Session::Run run them: they become variable updates), e.g. a training step's
    /// Apply* ops under the <c>train_op</c> NoOp.
    /// </summary>
    public static List<string> VariableUpdates(GraphDef graph, List<TfFetch> fetches, TfScope scope)
    {
        var nodes = graph.Node.ToDictionary(n => n.Name, StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>(fetches.Select(f => f.Tensor.Node));
        var result = new List<string>();
        while (stack.Count > 0)
        {
            var name = stack.Pop();
            if (!seen.Add(name) || !nodes.TryGetValue(name, out var n)) continue;
            if (UpdatesVariables(n.Op)) result.Add(name);
            foreach (var i in n.Input)
            {
                var src = TensorName.IsControl(i) ? i[1..] : TensorName.Parse(i).Node;
                if (!TensorName.IsControl(i) && scope.IsBound(TensorName.Parse(i))) continue;
                stack.Push(src);
            }
        }
        return result;
    }
}
