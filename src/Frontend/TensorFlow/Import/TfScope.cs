using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.TensorFlow.Ops;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Import;

/// <summary>Thrown when a node reads the output of a node that already failed: reported once, at the cause.</summary>
internal sealed class PoisonedInputException() : Exception("input comes from a node that could not be imported");

/// <summary>
/// One graph body (the main GraphDef, or a FunctionDef body renamed to GraphDef naming) lowered into one
/// region. Tensors are bound to IR values (or <see cref="TfResource"/> handles); lowering is on demand:
/// <see cref="Lower"/> walks backwards from the wanted tensors along data inputs, stopping at bound
/// tensors (feeds, function arguments), and lowers exactly those nodes, in dependency order.
/// </summary>
internal sealed class TfScope
{
    private readonly Dictionary<string, NodeDef> _nodes = new(StringComparer.Ordinal);
    private readonly List<NodeDef> _order;
    private readonly Dictionary<TensorName, object> _values = [];
    private readonly HashSet<string> _done = new(StringComparer.Ordinal);
    private readonly HashSet<string> _poisoned = new(StringComparer.Ordinal);
    private readonly Dictionary<TensorName, TfGuard> _guards = [];
    private readonly TfScope? _parent;

    public Lowerer Lowerer { get; }
    public TfImportContext Ctx { get; }

    /// <summary>Where node names are reported from (the function name for function bodies).</summary>
    public string? FunctionName { get; }

    public TfScope(IEnumerable<NodeDef> nodes, Lowerer lowerer, TfImportContext ctx, string? functionName = null)
    {
        _order = [.. nodes];
        foreach (var n in _order) _nodes.TryAdd(n.Name, n);
        Lowerer = lowerer;
        Ctx = ctx;
        FunctionName = functionName;
    }

    /// <summary>
    /// A scope over the same nodes for a region (a TF1 loop's cond or body): it sees the tensors bound in
    /// <paramref name="parent"/> and lowers the nodes it needs anew into <paramref name="lowerer"/>.
    /// </summary>
    public TfScope(TfScope parent, Lowerer lowerer)
    {
        _order = parent._order;
        foreach (var n in _order) _nodes.TryAdd(n.Name, n);
        _parent = parent;
        Lowerer = lowerer;
        Ctx = parent.Ctx;
        FunctionName = parent.FunctionName;
    }

    public IReadOnlyList<NodeDef> Nodes => _order;

    public NodeDef? Node(string name) => _nodes.GetValueOrDefault(name);

    public void Bind(TensorName t, object v) => _values[t] = v;

    public bool IsBound(TensorName t) => _values.ContainsKey(t) || _parent?.IsBound(t) == true;

    /// <summary>Marks a node as handled (its outputs bound by someone else, or not to be lowered here).</summary>
    public void MarkDone(string node) => _done.Add(node);

    public bool IsDone(string node) => _done.Contains(node);

    /// <summary>Marks a node as failed (its consumers are skipped silently; the cause is reported once).</summary>
    public void Poison(string node) => _poisoned.Add(node);

    public TfGuard Guard(TensorName t) => _guards.GetValueOrDefault(t) ?? _parent?.Guard(t) ?? TfGuard.None;

    public void SetGuard(TensorName t, TfGuard g)
    {
        if (!g.IsEmpty) _guards[t] = g;
    }

    public object Lookup(TensorName t)
    {
        if (_values.TryGetValue(t, out var v)) return v;
        if (_poisoned.Contains(t.Node)) throw new PoisonedInputException();
        if (_parent is not null && _parent.IsBound(t)) return _parent.Lookup(t);
        if (!_nodes.TryGetValue(t.Node, out var node))
            throw new LoweringException($"tensor '{t}': no node named '{t.Node}'{In}");
        if (!_done.Contains(t.Node)) throw new LoweringException($"tensor '{t}' is used before its node is imported{In}");
        if (Ctx.LoopMembers.Contains(t.Node)) throw new LoweringException($"tensor '{t}' is inside a TF1 while loop; it exists only inside the loop (fetch the loop's Exit instead)");
        throw new LoweringException($"tensor '{t}': node '{t.Node}' ({node.Op}) has no output {t.Port}");
    }

    private string In => FunctionName is null ? "" : $" in function '{FunctionName}'";

    /// <summary>The data inputs of a node as tensor names (control inputs dropped).</summary>
    public static IEnumerable<TensorName> DataInputs(NodeDef n) =>
        n.Input.Where(i => !TensorName.IsControl(i)).Select(TensorName.Parse);

    /// <summary>The nodes the wanted tensors need, walking data inputs backwards and stopping at bound tensors.</summary>
    public HashSet<string> Needed(IEnumerable<TensorName> wanted, IEnumerable<string>? extraNodes = null)
    {
        var needed = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<TensorName>(wanted);
        foreach (var e in extraNodes ?? []) stack.Push(new TensorName(e, -1));
        while (stack.Count > 0)
        {
            var t = stack.Pop();
            if (t.Port >= 0 && IsBound(t)) continue;
            if (_done.Contains(t.Node) || !_nodes.TryGetValue(t.Node, out var node) || !needed.Add(t.Node)) continue;
            foreach (var i in DataInputs(node)) stack.Push(i);
        }
        return needed;
    }

    /// <summary>Lowers the nodes the wanted tensors need (see <see cref="Needed"/>).</summary>
    public void Lower(IEnumerable<TensorName> wanted, IEnumerable<string>? extraNodes = null)
    {
        var needed = Needed(wanted, extraNodes);
        foreach (var node in Order(needed)) LowerNode(node);
        Lowerer.B.SourceName = null;
    }

    /// <summary>
    /// Dependency order (data and control edges among the needed nodes, so reads and assignments keep
    /// their control order); ties keep graph order. A cycle (a TF1 loop) is reported by the loop lowering.
    /// </summary>
    private List<NodeDef> Order(HashSet<string> needed)
    {
        var result = new List<NodeDef>();
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 visiting, 2 done
        foreach (var root in _order)
        {
            if (!needed.Contains(root.Name) || state.ContainsKey(root.Name)) continue;
            var stack = new Stack<(NodeDef Node, int Next)>();
            stack.Push((root, 0));
            state[root.Name] = 1;
            while (stack.Count > 0)
            {
                var (node, next) = stack.Pop();
                if (next < node.Input.Count)
                {
                    stack.Push((node, next + 1));
                    var raw = node.Input[next];
                    var name = TensorName.IsControl(raw) ? raw[1..] : TensorName.Parse(raw).Node;
                    // NextIteration closes a TF1 loop: its input is lowered inside the loop, not before it.
                    if (node.Op is "Merge" or "RefMerge" && _nodes.GetValueOrDefault(name)?.Op is "NextIteration" or "RefNextIteration") continue;
                    if (needed.Contains(name) && !state.ContainsKey(name) && _nodes.TryGetValue(name, out var dep))
                    {
                        state[name] = 1;
                        stack.Push((dep, 0));
                    }
                    continue;
                }
                state[node.Name] = 2;
                result.Add(node);
            }
        }
        return result;
    }

    private void LowerNode(NodeDef node)
    {
        if (!_done.Add(node.Name)) return;
        var n = new TfNode(node, this);
        Lowerer.B.SourceName = node.Name;
        var lowering = TfOpTable.Find(node.Op);
        // TF1 conditionals: a node on a dead branch (its predicate known) is dead too; Merge decides for itself.
        var guard = TfGuard.None;
        bool merge = node.Op is "Merge" or "RefMerge";
        if (!merge)
        {
            foreach (var i in DataInputs(node)) guard = guard.Union(Guard(i));
            // Deadness flows along control edges too (TF's cond makes branch constants depend on switch_t/switch_f).
            foreach (var c in node.Input.Where(TensorName.IsControl))
                if (_nodes.GetValueOrDefault(c[1..])?.Op is not ("Switch" or "RefSwitch")) guard = guard.Union(Guard(new TensorName(c[1..], 0)));
            if (guard.IsDead(Lowerer))
            {
                for (int p = 0; p < 8; p++) SetGuard(new TensorName(node.Name, p), guard);
                _poisoned.Add(node.Name);
                return;
            }
        }
        try
        {
            // An assignment on a branch of a TF1 conditional happens only when that branch runs: the variable's value
            // after it is select(branch taken, assigned, before), as functionalizing the cond would make it.
            var before = !guard.IsEmpty && TfImportPlan.UpdatesVariables(node.Op)
                ? Ctx.Variables.Values.ToDictionary(v => v, v => v.Updated) : null;
            if (lowering is null)
            {
                if (Ctx.IsFunction(node.Op)) lowering = TfFunctionalOps.CallByOpName;
                else throw new LoweringException("", isUnsupported: true);
            }
            lowering(n);
            if (before is not null) GuardUpdates(guard, before);
            if (!merge && !guard.IsEmpty && node.Op is not ("Switch" or "RefSwitch"))
                foreach (var t in _values.Keys.Where(k => k.Node == node.Name).ToList()) SetGuard(t, guard);
        }
        catch (PoisonedInputException)
        {
            _poisoned.Add(node.Name);
        }
        catch (DeadBranchException)
        {
            _poisoned.Add(node.Name);
        }
        catch (LoweringException e)
        {
            var where = FunctionName is null ? node.Name : $"{FunctionName}/{node.Name}";
            if (e.IsUnsupported) Ctx.Problems.Unsupported(e.Message.Length == 0 ? node.Op : $"{node.Op} ({e.Message})", where);
            else Ctx.Problems.Error($"node '{where}' ({node.Op}): {e.Message}");
            _poisoned.Add(node.Name);
        }
        catch (Exception e) when (e is ArithmeticException or IndexOutOfRangeException or ArgumentException or InvalidOperationException or FormatException)
        {
            // A lowering that did not anticipate this malformed node: still a clear, per-node error, not a crash.
            var where = FunctionName is null ? node.Name : $"{FunctionName}/{node.Name}";
            Ctx.Problems.Error($"node '{where}' ({node.Op}): malformed for this lowering ({e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")})");
            _poisoned.Add(node.Name);
        }
    }

    /// <summary>
    /// Makes the variable updates an assignment under <paramref name="guard"/> just made conditional: each variable whose
    /// value changed (compared with <paramref name="before"/>) keeps its previous value unless every (predicate, branch)
    /// of the guard holds.
    /// </summary>
    private void GuardUpdates(TfGuard guard, Dictionary<TfVariable, Value?> before)
    {
        var l = Lowerer;
        var yes = l.Constant(Tensor.Scalar(ElementType.Bool, 1));
        var no = l.Constant(Tensor.Scalar(ElementType.Bool, 0));
        Value? taken = null;
        foreach (var (pred, branch) in guard.Items)
        {
            var holds = branch ? pred : l.Select(pred, no, yes);
            taken = taken is null ? holds : l.Select(taken, holds, no);
        }
        foreach (var v in Ctx.Variables.Values)
        {
            if (v.Updated is not { } assigned) continue;
            var previous = before.TryGetValue(v, out var p) ? p : null;
            if (ReferenceEquals(previous, assigned)) continue;
            var old = previous ?? v.Argument ?? l.Constant(v.Frozen!);
            v.Updated = l.Select(taken!, assigned, old);
        }
    }

    /// <summary>The nodes (by name) that consume a node's outputs, through data or control inputs.</summary>
    public ILookup<string, NodeDef> Consumers => _consumers ??= _order
        .SelectMany(n => n.Input.Select(i => (From: TensorName.IsControl(i) ? i[1..] : TensorName.Parse(i).Node, To: n)))
        .ToLookup(p => p.From, p => p.To, StringComparer.Ordinal);

    private ILookup<string, NodeDef>? _consumers;

    /// <summary>Records a node's outputs.</summary>
    public void SetOutput(string node, int port, object v) => _values[new TensorName(node, port)] = v;
}
