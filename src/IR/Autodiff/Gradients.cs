using System.Collections.Immutable;

namespace GraphCompiler.IR.Autodiff;

/// <summary>
/// Reverse-mode automatic differentiation of a function, as the design this project follows describes it:
/// the backward path from the differentiated result to the chosen arguments is walked, and for every op on
/// it the op's <see cref="OpDef.Gradient"/> rule adds its gradient ops, chained by the chain rule. The
/// result is one function computing the forward results and then the gradients, so the backward ops read
/// the forward values directly (the memory cost the rematerialisation pass trades against recomputation).
/// <para>
/// Only float values carry cotangents. An op is on the path when it reads (as an operand or from a
/// region) a value that depends on a differentiated argument and a cotangent reaches one of its results;
/// reaching such an op without a rule is one <see cref="IrException"/> naming the op, its location and the
/// argument the path starts from. A non-scalar result is differentiated as the sum of its elements (a seed
/// of ones), as ONNX's <c>Gradient</c> and TensorFlow's <c>tf.gradients</c> do.
/// </para>
/// </summary>
public sealed class Gradients
{
    private readonly Function _function;
    private readonly Func<string, Function?>? _resolve;
    // Values that depend on a differentiated argument, each with the first such argument (for messages).
    private readonly Dictionary<Value, int> _active = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Operation, ImmutableArray<Value>> _captures = new(ReferenceEqualityComparer.Instance);
    // The op defining each value of the function (and of recomputed copies), for rules that read constants.
    private readonly Dictionary<Value, Operation> _producers = new(ReferenceEqualityComparer.Instance);
    private string _target = "";

    private static string Describe(Function f, int arg) => f.ArgumentInfos[arg].Name is { } n ? $"argument '{n}'" : $"argument #{arg}";

    private Gradients(Function function, Func<string, Function?>? resolve)
    {
        _function = function;
        _resolve = resolve;
    }

    /// <summary>
    /// A function with <paramref name="f"/>'s arguments returning its results followed by the gradient of
    /// (the sum of) result <paramref name="of"/> with respect to each argument in <paramref name="wrt"/>.
    /// The new function updates no variables: its results are named after <paramref name="f"/>'s and
    /// <c>grad_ARG</c>. Throws <see cref="IrException"/> when an op on the path has no gradient rule.
    /// </summary>
    public static Function Differentiate(Function f, int of, IReadOnlyList<int> wrt, string? name = null,
        Func<string, Function?>? resolveFunction = null)
    {
        if (of < 0 || of >= f.ResultTypes.Length) throw new IrException($"@{f.Name} has no result #{of}", f.Location);
        if (!f.ResultTypes[of].Element.IsFloat())
            throw new IrException($"result '{f.ResultName(of)}' of @{f.Name} is {f.ResultTypes[of]}: only float results are differentiable", f.Location);
        foreach (var w in wrt)
        {
            if (w < 0 || w >= f.Arguments.Length) throw new IrException($"@{f.Name} has no argument #{w}", f.Location);
            if (!f.Arguments[w].Type.Element.IsFloat())
                throw new IrException($"argument '{f.ArgumentName(w)}' of @{f.Name} is {f.Arguments[w].Type}: only float arguments have gradients", f.Location);
        }
        return new Gradients(f, resolveFunction).Run(of, wrt, name ?? $"{f.Name}_grad");
    }

    private Function Run(int of, IReadOnlyList<int> wrt, string name)
    {
        var f = _function;
        _target = f.ResultInfos[of].Name is { } n ? $"result '{n}' of @{f.Name}" : $"result #{of} of @{f.Name}";
        var map = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
        var args = f.Arguments.Select(a => map[a] = new Value(a.Type)).ToImmutableArray();
        var forward = Cloning.Clone(f.Body.Operations.SkipLast(1), map);
        var results = f.Body.Yielded.Select(v => map.GetValueOrDefault(v) ?? v).ToImmutableArray();

        for (int k = 0; k < wrt.Count; k++) _active.TryAdd(args[wrt[k]], wrt[k]);
        MarkActive(forward);
        RegisterProducers(forward);

        var b = new IrBuilder(_resolve);
        var cotangents = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
        if (IsActive(results[of])) cotangents[results[of]] = b.Splat(results[of].Type, 1);
        Backprop(b, forward, cotangents);

        var grads = wrt.Select(w => cotangents.GetValueOrDefault(args[w]) ?? b.Splat(args[w].Type, 0)).ToList();
        b.Terminate("return", [.. results, .. grads]);
        var resultInfos = f.ResultInfos.Select(r => r with { Updates = null })
            .Concat(wrt.Select(w => new ResultInfo($"grad_{f.ArgumentName(w)}")));
        return new Function(name, new Region(args, [.. forward, .. b.Operations]),
            [.. f.ResultTypes, .. wrt.Select(w => f.Arguments[w].Type)],
            [.. f.ArgumentInfos.Select(a => a with { IsVariable = false })], [.. resultInfos], f.Location);
    }

    /// <summary>Whether <paramref name="v"/> depends on a differentiated argument (and so may carry a cotangent).</summary>
    public bool IsActive(Value v) => _active.ContainsKey(v);

    /// <summary>
    /// Emits into <paramref name="b"/> the backward code of <paramref name="ops"/> (forward ops whose values
    /// <paramref name="b"/>'s region can read), in reverse order, reading and accumulating
    /// <paramref name="cotangents"/>: on return it holds the cotangent of every active value the ops read.
    /// Rules of ops with regions call this for their bodies.
    /// </summary>
    public void Backprop(IrBuilder b, IReadOnlyList<Operation> ops, Dictionary<Value, Value> cotangents)
    {
        for (int n = ops.Count - 1; n >= 0; n--)
        {
            var op = ops[n];
            if (op.Def.IsTerminator) continue;
            var cts = op.Results.Select(r => cotangents.GetValueOrDefault(r)).ToImmutableArray();
            if (cts.All(c => c is null)) continue;
            var reads = op.Operands.Concat(Captures(op)).Where(IsActive).ToList();
            if (reads.Count == 0) continue;
            var rule = op.Def.Gradient ?? throw NoRule(op, reads[0]);
            var ctx = new VjpContext(b, op, cts, IsActive, (v, c) => Accumulate(b, cotangents, v, c), this);
            var operandCts = rule(ctx);
            if (operandCts.Count != op.Operands.Length)
                throw new InvalidOperationException($"the gradient rule of '{op.Name}' returned {operandCts.Count} cotangents for {op.Operands.Length} operands");
            for (int i = 0; i < op.Operands.Length; i++)
            {
                if (operandCts[i] is not { } c || !IsActive(op.Operands[i])) continue;
                if (c.Type != op.Operands[i].Type)
                    throw new InvalidOperationException($"the gradient rule of '{op.Name}' gave operand #{i} ({op.Operands[i].Type}) a cotangent of {c.Type}");
                Accumulate(b, cotangents, op.Operands[i], c);
            }
        }
    }

    /// <summary>The op defining <paramref name="v"/> (null for arguments), e.g. to read a constant loop bound.</summary>
    public Operation? Producer(Value v) => _producers.GetValueOrDefault(v);

    /// <summary>
    /// Re-emits forward ops into <paramref name="b"/> (a region of the backward code) with fresh values,
    /// reading <paramref name="map"/>'s replacements and adding the new ones to it. Copies are active where
    /// their originals are (also for replacements already in the map), so <see cref="Backprop"/> can
    /// differentiate the returned ops: how region rules recompute a body's forward values.
    /// </summary>
    public ImmutableArray<Operation> Recompute(IrBuilder b, IEnumerable<Operation> ops, Dictionary<Value, Value> map)
    {
        // Copies with fresh values (keeping each op's location and node name), appended as they are.
        var emitted = Cloning.Clone(ops.Where(o => !o.Def.IsTerminator), map);
        foreach (var op in emitted) b.Append(op);
        foreach (var (original, copy) in map)
            if (_active.TryGetValue(original, out var arg)) _active.TryAdd(copy, arg);
        RegisterProducers(emitted);
        return emitted;
    }

    private void RegisterProducers(IEnumerable<Operation> ops)
    {
        foreach (var op in ops)
        {
            foreach (var r in op.Results) _producers.TryAdd(r, op);
            foreach (var region in op.Regions) RegisterProducers(region.Operations);
        }
    }

    private static void Accumulate(IrBuilder b, Dictionary<Value, Value> cotangents, Value v, Value c) =>
        cotangents[v] = cotangents.TryGetValue(v, out var old) ? b.Emit("add", old, c) : c;

    private IrException NoRule(Operation op, Value read)
    {
        var where = op.SourceName is { } s ? $" (node '{s}')" : "";
        return new IrException($"'{op.Name}'{where} has no gradient rule, and it is on the path from {Describe(_function, _active[read])} to {_target}", op.Location);
    }

    /// <summary>
    /// Forward activity: a float result is active when its op reads an active value, as an operand or
    /// from a region; region arguments of an op that reads one are active too (conservatively).
    /// </summary>
    private void MarkActive(IEnumerable<Operation> ops)
    {
        foreach (var op in ops)
        {
            var source = op.Operands.Concat(Captures(op)).FirstOrDefault(IsActive);
            if (source is null) continue;
            int arg = _active[source];
            foreach (var region in op.Regions)
            {
                foreach (var a in region.Arguments)
                    if (a.Type.Element.IsFloat()) _active.TryAdd(a, arg);
                MarkActive(region.Operations);
            }
            foreach (var r in op.Results)
                if (r.Type.Element.IsFloat()) _active.TryAdd(r, arg);
        }
    }

    /// <summary>The values an op's regions read from outside them.</summary>
    public ImmutableArray<Value> Captures(Operation op)
    {
        if (op.Regions.Length == 0) return [];
        if (_captures.TryGetValue(op, out var known)) return known;
        var defined = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        var used = new List<Value>();
        void Walk(Region r)
        {
            defined.UnionWith(r.Arguments);
            foreach (var o in r.Operations)
            {
                used.AddRange(o.Operands);
                foreach (var inner in o.Regions) Walk(inner);
                defined.UnionWith(o.Results);
            }
        }
        foreach (var r in op.Regions) Walk(r);
        var captures = used.Where(v => !defined.Contains(v)).Distinct(ReferenceEqualityComparer.Instance).Cast<Value>().ToImmutableArray();
        _captures[op] = captures;
        return captures;
    }
}
