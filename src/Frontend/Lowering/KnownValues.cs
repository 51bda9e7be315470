using System.Collections.Immutable;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Lowering;

/// <summary>
/// The values a <see cref="Lowerer"/> knows at import time. An op whose operands are all known is
/// recorded, not evaluated: the reference interpreter runs it (and what it depends on) the first time
/// its value is asked for, with the same result as running it at once. Most such values are never
/// asked for — a BatchNormalization's mean broadcast to the activation's shape, Relu's zeros — and
/// evaluating them eagerly took two thirds of a ResNet-50 import and kept activation-sized tensors
/// alive until the import ended.
/// </summary>
internal sealed class KnownValues
{
    private readonly Dictionary<Value, Entry> _entries;
    private readonly Interpreter _interpreter = new(new Module([]));

    /// <summary>A nested region's values start with the enclosing ones.</summary>
    public KnownValues(KnownValues? parent = null) =>
        _entries = parent is null ? new(ReferenceEqualityComparer.Instance) : new(parent._entries, ReferenceEqualityComparer.Instance);

    /// <summary>Whether <paramref name="v"/> is known or computable from known values (its evaluation may still fail).</summary>
    public bool Contains(Value v) => _entries.ContainsKey(v);

    public void Set(Value v, Tensor t) => _entries[v] = new Entry(t);

    /// <summary>Records <paramref name="op"/>, whose <paramref name="operands"/> all satisfy <see cref="Contains"/>, for evaluation on demand.</summary>
    public void Defer(Operation op, IReadOnlyList<Value> operands)
    {
        var evaluation = new Evaluation(op, [.. operands.Select(o => _entries[o])]);
        for (int i = 0; i < op.Results.Length; i++) _entries[op.Results[i]] = new Entry(evaluation, i);
    }

    /// <summary>The value's contents, evaluating what it needs; null when unknown or not evaluable.</summary>
    public Tensor? Get(Value v)
    {
        if (!_entries.TryGetValue(v, out var entry)) return null;
        if (entry.Source is { Done: false } root)
        {
            // Operands first, with an explicit stack: chains of known ops can be long.
            var stack = new Stack<Evaluation>();
            stack.Push(root);
            while (stack.Count > 0)
            {
                var e = stack.Peek();
                if (e.Done)
                {
                    stack.Pop();
                    continue;
                }
                if (e.Operands.FirstOrDefault(o => o.Source is { Done: false }) is { } pending)
                {
                    stack.Push(pending.Source!);
                    continue;
                }
                stack.Pop();
                e.Run(_interpreter);
            }
        }
        return entry.Value;
    }

    /// <summary>A tensor, or result <c>index</c> of a recorded evaluation.</summary>
    private sealed class Entry
    {
        private readonly Tensor? _tensor;
        private readonly int _index;

        public Entry(Tensor t) => _tensor = t;

        public Entry(Evaluation source, int index) => (Source, _index) = (source, index);

        public Evaluation? Source { get; }

        /// <summary>The contents; for a recorded evaluation, only once it is done (null if it failed).</summary>
        public Tensor? Value => Source is null ? _tensor : Source.Results is { } r ? r[_index] : null;
    }

    private sealed class Evaluation(Operation op, Entry[] operands)
    {
        public Entry[] Operands { get; private set; } = operands;

        public bool Done { get; private set; }

        public ImmutableArray<Tensor>? Results { get; private set; }

        /// <summary>Evaluates the op on its operands' values, which are done.</summary>
        public void Run(Interpreter interpreter)
        {
            var values = new Tensor[Operands.Length];
            bool all = true;
            for (int i = 0; i < values.Length && all; i++) all = (values[i] = Operands[i].Value!) is not null;
            if (all)
            {
                try
                {
                    Results = interpreter.EvaluateOperation(op, [.. values]);
                }
                catch (IrException)
                {
                    // Not evaluable (e.g. an elided constant): it simply stays unknown.
                }
            }
            Done = true;
            Operands = []; // the operands' values are no longer needed here
        }
    }
}
