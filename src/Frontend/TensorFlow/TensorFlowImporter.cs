using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.TensorFlow.Checkpoints;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow;

/// <summary>
/// Imports a TensorFlow graph into one IR function, with TF's subgraph-execution semantics: feeds
/// replace tensors with function arguments, fetches become results, and only the nodes the fetches
/// need are imported. Accepts a GraphDef (<c>.pb</c>/<c>.pbtxt</c>), a SavedModel (folder, or its
/// <c>saved_model.pb</c>/<c>.pbtxt</c>; variables are frozen from its checkpoint), a MetaGraphDef
/// (<c>.meta</c>; a checkpoint <c>PREFIX.index</c> beside it is read for variables), and a tfcompile
/// config (<see cref="ImportOptions.ConfigPath"/>). See docs/frontends.md for the rules.
/// </summary>
public static class TensorFlowImporter
{
    public static Result<Module> Import(string path, ImportOptions? options = null)
    {
        options ??= new ImportOptions();
        var file = Path.GetFileName(Path.TrimEndingDirectorySeparator(path));
        if (Directory.Exists(path) || file is "saved_model.pb" or "saved_model.pbtxt")
        {
            var dir = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
            var tags = options.Tags?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var bundle = SavedModelLoader.Load(dir, tags);
            if (bundle.Value is not { } b) return Result<Module>.Failure(bundle.Diagnostics);
            var vars = b.ReadVariables();
            if (vars.Value is null) return Result<Module>.Failure(vars.Diagnostics);
            return Import(b.Graph, b.Signatures, vars.Value.Tensors, options, b.ModelFile);
        }
        if (path.EndsWith(".meta", StringComparison.OrdinalIgnoreCase))
        {
            var meta = TensorFlowFiles.ReadMetaGraphDef(path);
            if (meta.Value is not { } m) return Result<Module>.Failure(meta.Diagnostics);
            IReadOnlyDictionary<string, Tensor> ckpt = new Dictionary<string, Tensor>();
            var prefix = path[..^5];
            if (File.Exists(prefix + ".index"))
            {
                var bundle = TensorBundle.Open(prefix);
                var all = bundle.Value?.ReadAll();
                if (all?.Value is null) return Result<Module>.Failure(all?.Diagnostics ?? bundle.Diagnostics);
                ckpt = all.Value.Tensors;
            }
            return Import(m.GraphDef ?? new GraphDef(), SavedModelLoader.Signatures(m), ckpt, options, path);
        }
        var graph = TensorFlowFiles.ReadGraphDef(path);
        if (graph.Value is null)
        {
            // Some .pb files hold a MetaGraphDef (tf.train.export_meta_graph(as_text=False)).
            if (TensorFlowFiles.ReadMetaGraphDef(path).Value is { GraphDef: not null } mg)
                return Import(mg.GraphDef, SavedModelLoader.Signatures(mg), new Dictionary<string, Tensor>(), options, path);
            return Result<Module>.Failure(graph.Diagnostics);
        }
        return Import(graph.Value, new Dictionary<string, Signature>(), new Dictionary<string, Tensor>(), options, path);
    }

    /// <summary>Imports a GraphDef already in memory (no signatures, no checkpoint).</summary>
    public static Result<Module> Import(GraphDef graph, ImportOptions options, string source = "<graph>") =>
        Import(graph, new Dictionary<string, Signature>(), new Dictionary<string, Tensor>(), options, source);

    public static Result<Module> Import(GraphDef graph, IReadOnlyDictionary<string, Signature> signatures,
        IReadOnlyDictionary<string, Tensor> checkpoint, ImportOptions options, string source)
    {
        var problems = new ImportProblems(source);
        CheckNodeNames(graph, problems);
        // A GraphDef of only a function library (e.g. a dumped TPU cluster) means its one tensor-computing function.
        if (!problems.Any && TfFunctionBody.TheFunction(graph) is { } only)
        {
            try
            {
                graph = TfFunctionBody.AsGraph(graph, only, problems);
            }
            catch (LoweringException e)
            {
                problems.Error($"function '{only.Signature.Name}': {e.Message}");
            }
        }
        if (problems.Any) return Result<Module>.Failure(problems.ToDiagnostics());
        var plan = TfImportPlan.Make(graph, signatures, options, problems);
        if (plan is null || problems.Any) return Result<Module>.Failure(problems.ToDiagnostics());

        var ctx = new TfImportContext(problems, graph.Library) { Checkpoint = checkpoint };
        TfCheckpointKeys.Collect(graph, ctx);
        var fb = new FunctionBuilder(options.FunctionName);
        var lowerer = new Lowerer(fb.Body);
        ctx.TopLevel = lowerer;
        var scope = new TfScope(graph.Node, lowerer, ctx);

        var fetches = plan.Fetches.Count > 0 || plan.FromSignature ? plan.Fetches : TfImportPlan.DefaultFetches(graph);
        if (fetches.Count == 0) problems.Error($"nothing to fetch: {TfImportPlan.WhyNothingToFetch(graph)}; give fetches");

        int argCount = 0;
        Value Arg(TensorType type, string name, bool variable = false)
        {
            argCount++;
            return fb.Arg(type, name, variable);
        }
        foreach (var f in plan.Feeds)
        {
            var type = plan.FeedType(f, scope);
            if (type is null) continue;
            scope.Bind(f.Tensor, Arg(type, f.ArgName));
        }
        // Every Placeholder the fetches need and nobody fed is a feed too (graph order).
        // Assignments and optimizer updates the fetches depend on (data or control edges) run too; their placeholders are feeds.
        var updates = TfImportPlan.VariableUpdates(graph, fetches, scope);
        var needed = scope.Needed(fetches.Select(f => f.Tensor), updates);
        var explicitFeeds = plan.Feeds.Select(f => f.Tensor).ToHashSet();
        // A function graph's tensor arguments (_Arg) are feeds in index order; a resource _Arg is a variable (see MakeArgumentVariable).
        foreach (var node in TfImportPlan.Arguments(graph))
        {
            var t = new TensorName(node.Name, 0);
            if (!needed.Contains(node.Name) || explicitFeeds.Contains(t)) continue;
            if (node.Attr.TryGetValue("T", out var at) && at.Type == Proto.TensorFlow.DataType.DtResource) continue;
            var type = plan.FeedType(new TfFeed(node.Name, t, null), scope);
            if (type is not null) scope.Bind(t, Arg(type, node.Name));
        }
        foreach (var node in graph.Node)
        {
            var t = new TensorName(node.Name, 0);
            if (node.Op is not ("Placeholder" or "PlaceholderV2") || !needed.Contains(node.Name) || explicitFeeds.Contains(t)) continue;
            var name = plan.SignatureKeys.GetValueOrDefault(node.Name) ?? node.Name;
            var type = plan.FeedType(new TfFeed(name, t, null), scope);
            if (type is not null) scope.Bind(t, Arg(type, name));
        }
        var variableArgs = new List<(TfVariable Var, int Arg)>();
        foreach (var v in plan.Variables)
        {
            var type = plan.VariableType(v, scope);
            if (type is null) continue;
            int index = argCount;
            var variable = new TfVariable(v.NodeName) { Argument = Arg(type, v.Name.Length > 0 ? v.Name : v.NodeName, variable: true), ReadOnly = v.Readonly };
            ctx.Variables[v.NodeName] = variable;
            variableArgs.Add((variable, index));
        }
        if (problems.Any) return Result<Module>.Failure(problems.ToDiagnostics());

        // A variable with no stored value (no checkpoint entry) is state the caller provides: a variable argument.
        var graphNodes = graph.Node.GroupBy(n => n.Name).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        ctx.MakeArgumentVariable = (name, written) =>
        {
            if (!graphNodes.TryGetValue(name, out var node)) return null;
            // A resource _Arg of a function graph states its variable's dtype and shape in _handle_dtypes/_handle_shapes.
            var dt = node.Op == "_Arg" ? (node.Attr.TryGetValue("_handle_dtypes", out var hd) && hd.List?.Type.Count > 0 ? new Proto.TensorFlow.AttrValue { Type = hd.List.Type[0] } : null)
                : node.Attr.GetValueOrDefault("dtype");
            if (dt is null && node.Op == "_Arg" && written is not null)
            {
                int at = argCount;
                var w = new TfVariable(name) { Argument = Arg(written, name, variable: true) };
                variableArgs.Add((w, at));
                return w;
            }
            if (dt is null)
                return node.Op == "_Arg" ? throw new LoweringException($"resource argument '{name}' is a variable of unknown dtype and shape (no _handle_dtypes/_handle_shapes): give its value in a checkpoint or config") : null;
            var shapeAttr = node.Op == "_Arg" ? (node.Attr.TryGetValue("_handle_shapes", out var hs) && hs.List?.Shape.Count > 0 ? hs.List.Shape[0] : null)
                : node.Attr.TryGetValue("shape", out var s) ? s.Shape : null;
            var dims = shapeAttr is not null ? Tensors.TensorProtoConverter.TensorFlowShape(shapeAttr, $"variable '{name}'") : null;
            if (dims?.Value is null || !Tensors.FrameworkElementTypes.TryFromTensorFlow(dt.Type, out var e, out _))
                throw new LoweringException($"variable '{name}' has no value in a checkpoint and no known type and shape{(dims?.Diagnostics.Count > 0 ? $" ({dims.Diagnostics[0].Message})" : "")}");
            int index = argCount;
            var variable = new TfVariable(name) { Argument = Arg(new TensorType(e, dims.Value), name, variable: true) };
            variableArgs.Add((variable, index));
            return variable;
        };

        scope.Lower(fetches.Select(f => f.Tensor), updates);

        var results = new List<Value>();
        var infos = new List<ResultInfo>();
        foreach (var f in fetches)
        {
            // A fetched node that computes no tensor (a train_op NoOp, a ResourceApply*) is a target: it runs, nothing is returned.
            if (f.Tensor.Port == 0 && graphNodes.TryGetValue(f.Tensor.Node, out var fn)
                && (fn.Op is "NoOp" or "AssignVariableOp" or "AssignAddVariableOp" or "AssignSubVariableOp" || fn.Op.StartsWith("ResourceApply", StringComparison.Ordinal)))
                continue;
            try
            {
                var v = scope.Lookup(f.Tensor);
                if (v is TfResource r) v = Ops.TfVariables.Read(ctx, lowerer, r); // fetching a variable reads it
                results.Add(v as Value ?? throw new LoweringException($"it is a {v}, not a tensor"));
                infos.Add(new ResultInfo(f.ResultName));
            }
            catch (PoisonedInputException)
            {
            }
            catch (LoweringException e)
            {
                problems.Error($"fetch '{f.ResultName}': {e.Message}");
            }
        }
        foreach (var (v, arg) in variableArgs)
            if (v.Updated is { } u && !ReferenceEquals(u, v.Argument))
            {
                results.Add(u);
                infos.Add(new ResultInfo(v.Name, Updates: arg));
            }
        if (problems.Any) return Result<Module>.Failure(problems.ToDiagnostics());
        return Result<Module>.Success(new Module([fb.Return(results, infos)]));
    }

    /// <summary>Node names identify tensors ("node:port"), so they must be present and unique, in the graph and in each function.</summary>
    private static void CheckNodeNames(GraphDef graph, ImportProblems problems)
    {
        void Check(IEnumerable<NodeDef> nodes, string where)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var n in nodes)
            {
                if (n.Name.Length == 0) problems.Error($"{where}: a node ({n.Op}) has no name");
                else if (!seen.Add(n.Name)) problems.Error($"{where}: node name '{n.Name}' is used by more than one node");
            }
        }
        Check(graph.Node, "graph");
        if (graph.Library is { } lib)
            foreach (var f in lib.Function) Check(f.NodeDef, $"function '{f.Signature?.Name}'");
    }
}
