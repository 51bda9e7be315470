using System.Collections.Immutable;
using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Proto.Onnx;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx;

/// <summary>Thrown when a node reads the output of a node that already failed: reported once, at the cause.</summary>
internal sealed class PoisonedInputException() : Exception("input comes from a node that could not be imported");

/// <summary>
/// The names visible in one ONNX graph or subgraph, bound to IR values, and the lowering of its
/// nodes. Subgraphs (If/Loop/Scan bodies) see the names of enclosing graphs, as ONNX specifies.
/// </summary>
internal sealed class OnnxScope
{
    private readonly Dictionary<string, Value> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _poisoned = new(StringComparer.Ordinal);
    private readonly OnnxScope? _parent;
    private readonly OnnxImportContext _ctx;

    public Lowerer Lowerer { get; }
    public string? ModelDirectory => _ctx.ModelDirectory;

    /// <summary>The graph whose nodes this scope lowers: where <see cref="LowerFunction"/> finds a tensor's producers.</summary>
    private GraphProto? _graph;

    public OnnxScope(Lowerer lowerer, OnnxImportContext ctx, OnnxScope? parent = null)
    {
        Lowerer = lowerer;
        _ctx = ctx;
        _parent = parent;
    }

    public void Define(string name, Value v)
    {
        _values[name] = v;
        _structured.Remove(name);
    }

    /// <summary>Sequences and optionals by name (tensors are in <see cref="_values"/>).</summary>
    private readonly Dictionary<string, OnnxValue> _structured = new(StringComparer.Ordinal);

    /// <summary>Binds a name to any kind of value (a tensor, a sequence, an optional).</summary>
    public void DefineAny(string name, OnnxValue v)
    {
        if (v is OnnxValue.OfTensor t)
        {
            Define(name, t.Value);
            return;
        }
        _structured[name] = v;
        _values.Remove(name);
    }

    /// <summary>The value bound to <paramref name="name"/>, whatever its kind.</summary>
    public OnnxValue LookupAny(string name)
    {
        for (var s = this; s is not null; s = s._parent)
        {
            if (s._values.TryGetValue(name, out var v)) return new OnnxValue.OfTensor(v);
            if (s._structured.TryGetValue(name, out var o)) return o;
            if (s._poisoned.Contains(name)) throw new PoisonedInputException();
        }
        throw new LoweringException($"input '{name}' is not defined by any earlier node, initializer or graph input");
    }

    private readonly Dictionary<Value, string> _graphInputs = new(ReferenceEqualityComparer.Instance);

    /// <summary>Binds a graph input (a function argument).</summary>
    public void DefineGraphInput(string name, Value v)
    {
        Define(name, v);
        _graphInputs[v] = name;
    }

    /// <summary>Records that the argument <paramref name="v"/> is fed as <paramref name="name"/> (a sequence element, an optional's value).</summary>
    public void NameGraphInput(string name, Value v) => _graphInputs[v] = name;

    /// <summary>The graph input <paramref name="v"/> is, if it is one (searched outwards).</summary>
    public string? GraphInputName(Value v)
    {
        for (var s = this; s is not null; s = s._parent)
            if (s._graphInputs.TryGetValue(v, out var n)) return n;
        return null;
    }

    public Value Lookup(string name) => LookupAny(name) switch
    {
        OnnxValue.OfTensor t => t.Value,
        var other => throw new LoweringException($"'{name}' is a {other.Describe()} where a tensor is expected"),
    };

    /// <summary>Binds a graph's initializers as constants (their contents are known at import time).</summary>
    public void BindInitializers(GraphProto g, ISet<string>? fedNames = null)
    {
        foreach (var init in g.Initializer)
        {
            if (fedNames?.Contains(init.Name) == true) continue;
            var t = TensorProtoConverter.FromOnnx(init, ModelDirectory);
            if (t.Value is null)
            {
                _ctx.Problems.Error($"initializer '{init.Name}': {t.Diagnostics[0].Message}");
                _poisoned.Add(init.Name);
                continue;
            }
            Lowerer.B.SourceName = init.Name;
            Define(init.Name, Lowerer.Constant(t.Value));
        }
        Lowerer.B.SourceName = null;
    }

    /// <summary>Lowers every node in order; failures are recorded once and poison the node's outputs.</summary>
    public void LowerNodes(GraphProto g)
    {
        _graph ??= g;
        foreach (var node in g.Node)
        {
            var n = new OnnxNode(node, this, _ctx.OpsetFor(node.Domain));
            Lowerer.B.SourceName = n.Name;
            try
            {
                if (node.Domain == Ops.OnnxTrainingOps.Domain ? !Ops.OnnxTrainingOps.Has(node.OpType) : node.Domain is not ("" or "ai.onnx"))
                    throw new LoweringException($"domain '{node.Domain}'", isUnsupported: true);
                var lowering = OnnxOpTable.Find(node.OpType) ?? throw new LoweringException("", isUnsupported: true);
                lowering(n);
                for (int i = 0; i < node.Output.Count; i++)
                    if (node.Output[i].Length > 0 && !_values.ContainsKey(node.Output[i]) && !_structured.ContainsKey(node.Output[i]))
                        throw new LoweringException($"output #{i} ('{node.Output[i]}') is not produced by this importer", isUnsupported: true);
            }
            catch (PoisonedInputException)
            {
                Poison(node);
            }
            catch (LoweringException e)
            {
                if (e.ConstantInputs.Count > 0)
                    foreach (var input in e.ConstantInputs) _ctx.Problems.NeedsConstant(input, n.Name, e.Message);
                else if (e.IsUnsupported)
                    _ctx.Problems.Unsupported(e.Message.Length == 0 ? node.OpType : $"{node.OpType} ({e.Message})", n.Name);
                else _ctx.Problems.Error($"node '{n.Name}' ({node.OpType}): {e.Message}");
                Poison(node);
            }
            catch (Exception e) when (e is ArithmeticException or IndexOutOfRangeException or ArgumentException or InvalidOperationException or FormatException)
            {
                // A lowering that did not anticipate this malformed node: still a clear, per-node error, not a crash.
                _ctx.Problems.Error($"node '{n.Name}' ({node.OpType}): malformed for this lowering ({e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")})");
                Poison(node);
            }
        }
        Lowerer.B.SourceName = null;
    }

    private void Poison(NodeProto node)
    {
        foreach (var o in node.Output)
            if (o.Length > 0)
            {
                _values.Remove(o);
                _structured.Remove(o);
                _poisoned.Add(o);
            }
    }

    public bool LowersCleanly(Action lower) => _ctx.LowersCleanly(lower);

    /// <summary>
    /// Lowers a subgraph into a region whose arguments bind the subgraph's inputs (in order) and which
    /// yields its outputs. Names of enclosing graphs are visible inside.
    /// </summary>
    public Region LowerSubgraph(GraphProto g, IReadOnlyList<TensorType> argumentTypes, out ImmutableArray<TensorType> yieldTypes)
    {
        if (g.Input.Count != argumentTypes.Count)
            throw new LoweringException($"subgraph '{g.Name}' has {g.Input.Count} inputs, expected {argumentTypes.Count}");
        ImmutableArray<TensorType> yielded = [];
        var region = Lowerer.B.Region(argumentTypes, (inner, args) =>
        {
            var child = new OnnxScope(Lowerer.Nested(inner), _ctx, this);
            for (int i = 0; i < args.Length; i++) child.Define(g.Input[i].Name, args[i]);
            child.BindInitializers(g);
            child.LowerNodes(g);
            var outs = g.Output.Select(o => child.Lookup(o.Name)).ToList();
            yielded = [.. outs.Select(o => o.Type)];
            return outs;
        });
        yieldTypes = yielded;
        return region;
    }

    /// <summary>
    /// Lowers a subgraph with <paramref name="lowerer"/> (e.g. inside a region being built), its inputs
    /// bound to <paramref name="inputs"/>; returns its outputs. Loop and Scan bodies need this because
    /// the region they build does more than the subgraph (counters, scan-output accumulation).
    /// </summary>
    public IReadOnlyList<Value> LowerInline(GraphProto g, Lowerer lowerer, IReadOnlyList<Value> inputs) =>
        [.. LowerInlineAny(g, lowerer, [.. inputs.Select(v => new OnnxValue.OfTensor(v))]).Select((o, k) =>
            o is OnnxValue.OfTensor t ? t.Value : throw new LoweringException($"output '{g.Output[k].Name}' of subgraph '{g.Name}' is a {o.Describe()}, where a tensor is expected"))];

    /// <summary><see cref="LowerInline"/> for inputs and outputs of any kind (sequences, optionals: unrolled loops, SequenceMap).</summary>
    public IReadOnlyList<OnnxValue> LowerInlineAny(GraphProto g, Lowerer lowerer, IReadOnlyList<OnnxValue> inputs)
    {
        if (g.Input.Count != inputs.Count)
            throw new LoweringException($"subgraph '{g.Name}' has {g.Input.Count} inputs, expected {inputs.Count}");
        var child = new OnnxScope(lowerer, _ctx, this);
        for (int i = 0; i < inputs.Count; i++) child.DefineAny(g.Input[i].Name, inputs[i]);
        child.BindInitializers(g);
        child.LowerNodes(g);
        return [.. g.Output.Select(o => child.LookupAny(o.Name))];
    }

    /// <summary>
    /// Lowers a subgraph without inputs (an If branch) into a region yielding its outputs' tensors, flattened
    /// (<see cref="OnnxValue.Flatten"/>); <paramref name="layout"/> gets the outputs' structure to rebuild them from.
    /// </summary>
    public Region LowerBranch(GraphProto g, out IReadOnlyList<OnnxValue> layout)
    {
        if (g.Input.Count != 0) throw new LoweringException($"subgraph '{g.Name}' has {g.Input.Count} inputs, expected none");
        IReadOnlyList<OnnxValue> outs = [];
        var region = Lowerer.B.Region([], (inner, _) =>
        {
            var child = new OnnxScope(Lowerer.Nested(inner), _ctx, this);
            child.BindInitializers(g);
            child.LowerNodes(g);
            outs = [.. g.Output.Select(o => child.LookupAny(o.Name))];
            return [.. outs.SelectMany(o => o.Flatten())];
        });
        layout = outs;
        return region;
    }

    /// <summary>
    /// Lowers the nodes of this graph that <paramref name="result"/> depends on, stopping at the tensors named in
    /// <paramref name="arguments"/>, into a new function of the module: its arguments bind those names (with
    /// <paramref name="argumentTypes"/>), its result is <paramref name="result"/>. Any other tensor the nodes read must be
    /// known at import time (an initializer, a constant) and becomes a constant of the function, so it is self-contained.
    /// </summary>
    public Function LowerFunction(string stem, IReadOnlyList<string> arguments, IReadOnlyList<TensorType> argumentTypes, string result)
    {
        var graph = _graph ?? throw new LoweringException("there is no graph to take the function from");
        var producers = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int k = 0; k < graph.Node.Count; k++)
            foreach (var o in graph.Node[k].Output)
                if (o.Length > 0) producers[o] = k;
        var bound = arguments.ToHashSet(StringComparer.Ordinal);
        var nodes = new SortedSet<int>();
        var constants = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>([result]);
        while (stack.Count > 0)
        {
            var name = stack.Pop();
            if (name.Length == 0 || bound.Contains(name) || !seen.Add(name)) continue;
            if (!producers.TryGetValue(name, out var k))
            {
                constants.Add(name);
                continue;
            }
            var node = graph.Node[k];
            // A subgraph reads names of this graph without listing them as inputs; slicing through it is not done.
            if (node.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0))
                throw new LoweringException($"'{result}' depends on '{name}', computed by a {node.OpType} with a subgraph (not taken into a function)", isUnsupported: true);
            if (nodes.Add(k))
                foreach (var input in node.Input) stack.Push(input);
        }

        var fb = new FunctionBuilder(_ctx.UniqueFunctionName(stem), _ctx.FindFunction);
        var scope = new OnnxScope(new Lowerer(fb.Body), _ctx) { _graph = graph };
        for (int i = 0; i < arguments.Count; i++) scope.DefineGraphInput(arguments[i], fb.Arg(argumentTypes[i], arguments[i]));
        foreach (var name in constants)
        {
            var t = Lowerer.Known(Lookup(name))
                ?? throw new LoweringException($"'{result}' depends on '{name}', which is neither named as an input of the function nor known at import time");
            scope.Define(name, scope.Lowerer.Constant(t));
        }
        var body = new GraphProto();
        body.Node.AddRange(nodes.Select(k => graph.Node[k]));
        scope.LowerNodes(body);
        Value y;
        try
        {
            y = scope.Lookup(result);
        }
        catch (PoisonedInputException)
        {
            throw new LoweringException($"'{result}' could not be computed in a function of its inputs (see the errors above)");
        }
        var f = fb.Return([y], [new ResultInfo(result)]);
        _ctx.AddFunction(f);
        return f;
    }
}

/// <summary>State shared by a whole model's import.</summary>
internal sealed class OnnxImportContext(ImportProblems problems, string? modelDirectory, IReadOnlyDictionary<string, long> opsets, string entryName = "main")
{
    private readonly List<Function> _functions = [];

    public ImportProblems Problems { get; private set; } = problems;

    /// <summary>
    /// Runs a trial lowering whose problems are collected apart, never reported; true when it had none. Loop
    /// uses it to learn whether its body lowers as a <c>while</c> body before choosing to unroll.
    /// </summary>
    public bool LowersCleanly(Action lower)
    {
        var saved = Problems;
        Problems = new ImportProblems("trial");
        try
        {
            lower();
            return !Problems.Any;
        }
        catch (Exception e) when (e is LoweringException or PoisonedInputException)
        {
            return false;
        }
        finally
        {
            Problems = saved;
        }
    }
    public string? ModelDirectory { get; } = modelDirectory;

    /// <summary>Functions the import adds beside the entry (what Gradient nodes differentiate), in order.</summary>
    public IReadOnlyList<Function> Functions => _functions;

    public Function? FindFunction(string name) => _functions.Find(f => f.Name == name);

    public void AddFunction(Function f) => _functions.Add(f);

    /// <summary><paramref name="stem"/> as a symbol (letters, digits, '_'), made unique among the entry and the added functions.</summary>
    public string UniqueFunctionName(string stem)
    {
        var baseName = new string([.. stem.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_')]);
        var name = baseName;
        for (int k = 1; name == entryName || FindFunction(name) is not null; k++) name = $"{baseName}_{k}";
        return name;
    }

    public long OpsetFor(string domain) =>
        opsets.TryGetValue(domain is "ai.onnx" ? "" : domain, out var v) ? v : opsets.GetValueOrDefault("", 1);
}
