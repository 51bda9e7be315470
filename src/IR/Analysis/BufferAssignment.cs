using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;
using GraphCompiler.IR.Text;

namespace GraphCompiler.IR.Analysis;

/// <summary>Settings of <see cref="BufferAssignment"/>.</summary>
public sealed record BufferOptions
{
    /// <summary>Every offset and every buffer size is a multiple of this (bytes, a power of two).</summary>
    public long Alignment { get; init; } = ArenaModel.DefaultAlignment;

    /// <summary>Let an elementwise result take the buffer of an operand that dies at the op.</summary>
    public bool InPlace { get; init; } = true;

    /// <summary>
    /// Which values this arena holds; the rest are <see cref="BufferKind.Elsewhere"/>. A program that
    /// spans devices lays out one arena per device, each over its own values. Null: all of them.
    /// </summary>
    public Func<Value, bool>? Holds { get; init; }

    public static readonly BufferOptions Default = new();
}

/// <summary>Where a value lives.</summary>
public enum BufferKind
{
    /// <summary>In the arena at <see cref="ValueBuffer.Offset"/>.</summary>
    Arena,
    /// <summary>A function argument: the caller's buffer.</summary>
    Argument,
    /// <summary>A constant: read-only data, not in the arena.</summary>
    Constant,
    /// <summary>A variable update written straight into its variable argument's buffer.</summary>
    VariableAlias,
    /// <summary>Not held by this arena (see <see cref="BufferOptions.Holds"/>): another device's memory.</summary>
    Elsewhere,
}

/// <summary>
/// One value's placement. <see cref="Start"/>..<see cref="End"/> is its live interval in positions of
/// the function body's ops (inclusive; a value of a nested region has its owner op's position).
/// <see cref="SharesWith"/> names the value whose buffer it took in place (or the variable argument).
/// </summary>
public sealed record ValueBuffer(Value Value, string Name, BufferKind Kind, long Offset, long Size, long Bytes,
    int Start, int End, string? SharesWith, int Buffer);

/// <summary>A function's arena layout and its three numbers.</summary>
public sealed record FunctionBuffers(string Function, long ArenaBytes, long NoReuseBytes, long LowerBoundBytes,
    string Allocator, ImmutableArray<ValueBuffer> Values)
{
    public IEnumerable<ValueBuffer> InArena => Values.Where(v => v.Kind == BufferKind.Arena);
}

/// <summary>
/// Buffer assignment: lays the values of one function (in its current op order, so run
/// <c>schedule</c> first) out in a single arena.
/// <list type="bullet">
/// <item>Liveness: a value is live from its defining op to its last reader (nested-region readers count
/// at their owner op); values the function returns are read by <c>return</c>, so live to the end, and
/// are copied to the caller's buffers from the arena.</item>
/// <item>Not in the arena: arguments (the caller's) and constants (read-only data).</item>
/// <item>Nested regions (while/if/case bodies) are conservative: all their values, region arguments
/// included, are live for exactly the owner op and never share with one another.</item>
/// <item>In place: an elementwise op (unary, binary, compare, select, clamp, convert) whose operand dies at
/// that op and has the result's byte size gives the result the operand's buffer.</item>
/// <item>A variable update whose variable argument is no longer read after it (or is read last by the
/// op that computes it, elementwise: <see cref="ArenaModel.ReadsElementwise"/>) is written into the
/// argument's buffer: no arena space, and no copy back into the variable.</item>
/// <item>A chain of concatenations (<see cref="ConcatInPlace"/>) is one buffer, live from its first
/// member's definition to its last member's last read; every operand and every concatenation is at its
/// offset inside it, so producers write their slices in place.</item>
/// <item>Offsets: the buffers (values joined by in-place) are placed by a heap simulator — best fit in
/// decreasing size order (TFLite's/XLA's greedy-by-size) and first fit in start order; the smaller
/// arena wins. Offsets and sizes are multiples of <see cref="BufferOptions.Alignment"/>.</item>
/// </list>
/// The lower bound is the largest total of buffers live at one op: no layout of these buffers does
/// better. The no-reuse total is the sum of every arena-eligible value's aligned size.
/// </summary>
public static class BufferAssignment
{
    private sealed class Buf(int id, long size, int start, int end)
    {
        public int Id = id;
        public long Size = size;
        public int Start = start, End = end;
        public long Offset;
        public Value? Last; // the newest value in it, the candidate for in-place take-over
        public bool Shared; // a concatenation chain's buffer (ConcatInPlace): never taken over
    }

    public static FunctionBuffers Compute(Function f, BufferOptions? options = null)
    {
        options ??= BufferOptions.Default;
        long align = options.Alignment;
        if (align <= 0 || (align & (align - 1)) != 0) throw new ArgumentException($"alignment {align} is not a power of two");
        var names = new ValueNames(f);
        var ops = f.Body.Operations;
        var cmp = ReferenceEqualityComparer.Instance;

        // Live intervals: definitions and last reads in body positions.
        var def = new Dictionary<Value, int>(cmp);
        var lastUse = new Dictionary<Value, int>(cmp);
        var nested = new HashSet<Value>(cmp);
        var constants = new HashSet<Value>(cmp);
        var order = new List<Value>();
        for (int t = 0; t < ops.Length; t++)
        {
            foreach (var r in ops[t].Results)
            {
                def[r] = t;
                order.Add(r);
                if (ArenaModel.IsReadOnly(ops[t])) constants.Add(r);
            }
            ArenaModel.ForEachNestedValue(ops[t], (v, isConstant) =>
            {
                def[v] = t;
                order.Add(v);
                nested.Add(v);
                if (isConstant) constants.Add(v);
            });
            int at = t;
            ArenaModel.ForEachUse(ops[t], v => lastUse[v] = at);
            // A transfer reads its source until it has arrived: the send's operand lives to the recv.
            if (ops[t].Def is RecvOp && def.TryGetValue(ops[t].Operands[0], out var s) && ops[s].Def is SendOp)
                lastUse[ops[s].Operands[0]] = at;
        }
        int End(Value v) => lastUse.TryGetValue(v, out var u) ? Math.Max(u, def[v]) : def[v];
        int LastRead(Value v, int fallback) => lastUse.TryGetValue(v, out var u) ? u : fallback;

        var bufferOf = new Dictionary<Value, Buf>(cmp);
        var sharesWith = new Dictionary<Value, string>(cmp);
        var variableAlias = new Dictionary<Value, int>(cmp);

        // Variable updates first: they cost no arena space at all.
        for (int i = 0; i < f.ResultInfos.Length; i++)
        {
            if (f.ResultInfos[i].Updates is not { } k || k < 0 || k >= f.Arguments.Length) continue;
            var v = f.Body.Yielded[i];
            if (!def.TryGetValue(v, out var d) || nested.Contains(v) || constants.Contains(v) || variableAlias.ContainsKey(v)) continue;
            int argLast = LastRead(f.Arguments[k], -1);
            bool free = argLast < d || (argLast == d && ArenaModel.ReadsElementwise(ops[d], f.Arguments[k], v) && v.Type == f.Arguments[k].Type);
            if (!free || variableAlias.ContainsValue(k)) continue;
            variableAlias[v] = k;
            sharesWith[v] = names[f.Arguments[k]];
        }

        // The producers of the values of regions (a loop body's transfers pair up as top-level ones do).
        var nestedProducer = new Dictionary<Value, Operation>(cmp);
        void Producers(Operation op)
        {
            if (op.Def is FusionOp) return;
            foreach (var r in op.Regions)
                foreach (var inner in r.Operations)
                {
                    foreach (var v in inner.Results) nestedProducer[v] = inner;
                    Producers(inner);
                }
        }
        foreach (var op in ops) Producers(op);

        // Buffers in definition order; in-place results join an operand's buffer.
        var buffers = new List<Buf>();
        bool Holds(Value v) => options.Holds?.Invoke(v) ?? true;

        // Concatenation chains first: each is one buffer holding all its members at their offsets.
        var within = new Dictionary<Value, long>(cmp);
        foreach (var g in ConcatInPlace.Groups(f.Body, align))
        {
            var members = g.Offsets.Keys.ToList();
            if (!members.All(v => Holds(v) && !nested.Contains(v) && !variableAlias.ContainsKey(v) && !constants.Contains(v))) continue;
            var shared = new Buf(buffers.Count, ArenaModel.Align(g.Root.Result.Type.ByteSize, align), members.Min(v => def[v]), members.Max(End)) { Shared = true };
            buffers.Add(shared);
            foreach (var v in members)
            {
                bufferOf[v] = shared;
                within[v] = g.Offsets[v];
                if (!ReferenceEquals(v, g.Root.Result)) sharesWith[v] = names[g.Root.Result];
            }
        }
        foreach (var v in order)
        {
            if (constants.Contains(v) || variableAlias.ContainsKey(v) || !Holds(v) || within.ContainsKey(v)) continue;
            int d = def[v];
            long size = ArenaModel.Align(v.Type.ByteSize, align);
            // recv's result is the buffer its send started filling: the pair is one buffer, live from
            // the send to recv's last reader (in a region, both live while its op runs).
            var producer = nested.Contains(v) ? nestedProducer.GetValueOrDefault(v) : ops[d];
            if (producer?.Def is RecvOp && bufferOf.TryGetValue(producer.Operands[0], out var sent) && !sent.Shared)
            {
                sent.End = Math.Max(sent.End, End(v));
                sent.Last = v;
                bufferOf[v] = sent;
                sharesWith[v] = names[ops[d].Operands[0]];
                continue;
            }
            if (options.InPlace && !nested.Contains(v) && ArenaModel.IsElementwise(ops[d]))
            {
                Buf? taken = null;
                foreach (var w in ops[d].Operands)
                {
                    if (!bufferOf.TryGetValue(w, out var b) || b.Shared || nested.Contains(w) || !ReferenceEquals(b.Last, w)) continue;
                    if (End(w) != d || w.Type.ByteSize != v.Type.ByteSize || size == 0) continue;
                    taken = b;
                    sharesWith[v] = names[w];
                    break;
                }
                if (taken is not null)
                {
                    taken.End = Math.Max(taken.End, End(v));
                    taken.Last = v;
                    bufferOf[v] = taken;
                    continue;
                }
            }
            var nb = new Buf(buffers.Count, size, d, nested.Contains(v) ? d : End(v)) { Last = v };
            buffers.Add(nb);
            bufferOf[v] = nb;
        }

        var (arena, allocator) = Place(buffers);

        long lowerBound = 0;
        var liveAt = new long[Math.Max(ops.Length, 1)];
        foreach (var b in buffers)
            for (int t = b.Start; t <= b.End; t++) liveAt[t] += b.Size;
        if (liveAt.Length > 0) lowerBound = liveAt.Max();

        long noReuse = 0;
        foreach (var v in order)
            if (!constants.Contains(v) && Holds(v)) noReuse += ArenaModel.Align(v.Type.ByteSize, align);

        var values = ImmutableArray.CreateBuilder<ValueBuffer>();
        for (int i = 0; i < f.Arguments.Length; i++)
        {
            var a = f.Arguments[i];
            int end = LastRead(a, 0);
            values.Add(new ValueBuffer(a, names[a], BufferKind.Argument, 0, 0, a.Type.ByteSize, 0, end, null, -1));
        }
        foreach (var v in order)
        {
            var bytes = v.Type.ByteSize;
            if (constants.Contains(v))
                values.Add(new ValueBuffer(v, names[v], BufferKind.Constant, 0, 0, bytes, def[v], End(v), null, -1));
            else if (variableAlias.ContainsKey(v))
                values.Add(new ValueBuffer(v, names[v], BufferKind.VariableAlias, 0, 0, bytes, def[v], End(v), sharesWith[v], -1));
            else if (!Holds(v))
                values.Add(new ValueBuffer(v, names[v], BufferKind.Elsewhere, 0, 0, bytes, def[v], End(v), null, -1));
            else
            {
                var b = bufferOf[v];
                int end = nested.Contains(v) ? def[v] : End(v);
                values.Add(new ValueBuffer(v, names[v], BufferKind.Arena, b.Offset + within.GetValueOrDefault(v), b.Size, bytes, def[v], end,
                    sharesWith.GetValueOrDefault(v), b.Id));
            }
        }
        return new FunctionBuffers(f.Name, arena, noReuse, lowerBound, allocator, values.ToImmutable());
    }

    /// <summary>Runs both placements and keeps the smaller arena (best fit by size on a tie).</summary>
    private static (long Arena, string Name) Place(List<Buf> buffers)
    {
        var bySize = buffers.OrderByDescending(b => b.Size).ThenByDescending(b => b.End - b.Start).ThenBy(b => b.Start).ThenBy(b => b.Id).ToList();
        var a = Simulate(bySize, bestFit: true);
        var byStart = buffers.OrderBy(b => b.Start).ThenBy(b => b.Id).ToList();
        var b = Simulate(byStart, bestFit: false);
        var (offsets, arena, name) = b.Arena < a.Arena ? (b.Offsets, b.Arena, "first-fit by start") : (a.Offsets, a.Arena, "best-fit by size");
        foreach (var buf in buffers) buf.Offset = offsets[buf.Id];
        return (arena, name);
    }

    /// <summary>
    /// Places buffers in the given order: each goes into a gap between the already placed buffers that
    /// overlap it in time — the smallest gap that fits (best fit) or the lowest (first fit) — else on top.
    /// </summary>
    private static (long[] Offsets, long Arena) Simulate(List<Buf> order, bool bestFit)
    {
        var offsets = new long[order.Count];
        var placed = new List<Buf>();
        long arena = 0;
        foreach (var b in order)
        {
            if (b.Size == 0) continue;
            var busy = placed.Where(p => p.Start <= b.End && b.Start <= p.End)
                .Select(p => (Lo: offsets[p.Id], Hi: offsets[p.Id] + p.Size)).OrderBy(x => x.Lo).ToList();
            long cursor = 0, choice = -1, choiceGap = long.MaxValue;
            foreach (var (lo, hi) in busy)
            {
                long gap = lo - cursor;
                if (gap >= b.Size && gap < choiceGap)
                {
                    (choice, choiceGap) = (cursor, gap);
                    if (!bestFit) break;
                }
                cursor = Math.Max(cursor, hi);
            }
            long offset = choice >= 0 ? choice : cursor;
            offsets[b.Id] = offset;
            placed.Add(b);
            arena = Math.Max(arena, offset + b.Size);
        }
        return (offsets, arena);
    }
}

/// <summary>The arena cost rules shared by <c>schedule</c> and <see cref="BufferAssignment"/>.</summary>
public static class ArenaModel
{
    public const long DefaultAlignment = 64;

    public static long Align(long bytes, long alignment) => (bytes + alignment - 1) & ~(alignment - 1);

    /// <summary>Ops whose results are read-only data, not arena buffers.</summary>
    public static bool IsReadOnly(Operation op) => op.Def is ConstantOp;

    /// <summary>Ops that read element k of each operand only to write element k of the result (<see cref="OpTraits.Elementwise"/>), so may run in place.</summary>
    public static bool IsElementwise(Operation op) => op.Results.Length == 1 && op.Def.Has(OpTraits.Elementwise);

    /// <summary>
    /// Whether <paramref name="result"/> of <paramref name="op"/> may overwrite <paramref name="operand"/> as the op
    /// runs: the op reads element k of the operand only to compute element k of its results (an elementwise op, or
    /// a <c>loop</c> or <c>output</c> fusion whose body uses the operand only through elementwise ops of its shape —
    /// an epilogue, not the contraction; a broadcast, slice or transpose of it would read elements already
    /// overwritten), and the result depends on the operand, so each element's store follows its load. The
    /// backend is told (<c>IHostKernels.Emit</c>) so that it writes such an output only with final elements.
    /// </summary>
    public static bool ReadsElementwise(Operation op, Value operand, Value result)
    {
        if (op.Def.Has(OpTraits.Elementwise))
            return op.Results.All(r => r.Type.Shape.SequenceEqual(operand.Type.Shape)) && op.Operands.Contains(operand);
        if (op.Def is not FusionOp || op.Attr.Enum("kind") == "reduction") return false;
        var body = op.Regions[0];
        var reached = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < op.Operands.Length; i++)
            if (ReferenceEquals(op.Operands[i], operand)) reached.Add(body.Arguments[i]);
        foreach (var inner in body.Operations)
        {
            if (inner.Def.IsTerminator || !inner.Operands.Any(reached.Contains)) continue;
            if (!inner.Def.Has(OpTraits.Elementwise) || !inner.Results.All(r => r.Type.Shape.SequenceEqual(operand.Type.Shape))) return false;
            foreach (var r in inner.Results) reached.Add(r);
        }
        int k = op.Results.IndexOf(result);
        return k >= 0 && reached.Contains(body.Yielded[k]);
    }

    /// <summary>Whether <paramref name="op"/> reads <paramref name="v"/> (see <see cref="ForEachUse"/>).</summary>
    public static bool Uses(Operation op, Value v)
    {
        bool found = false;
        ForEachUse(op, u => found |= ReferenceEquals(u, v));
        return found;
    }

    /// <summary>Every value <paramref name="op"/> reads: its operands and, at any depth, the values its regions read.</summary>
    public static void ForEachUse(Operation op, Action<Value> use)
    {
        foreach (var v in op.Operands) use(v);
        foreach (var r in op.Regions)
            foreach (var inner in r.Operations)
                ForEachUse(inner, use);
    }

    /// <summary>
    /// Every value defined inside <paramref name="op"/>'s regions (region arguments and op results, any
    /// depth) that needs a buffer. A <c>fusion</c>'s body is one kernel: its values live in registers
    /// (and the per-row scratch of row kernels is the backend's own), so they take no arena space.
    /// </summary>
    public static void ForEachNestedValue(Operation op, Action<Value, bool> visit)
    {
        if (op.Def is FusionOp) return;
        foreach (var r in op.Regions)
        {
            foreach (var a in r.Arguments) visit(a, false);
            foreach (var inner in r.Operations)
            {
                foreach (var v in inner.Results) visit(v, IsReadOnly(inner));
                ForEachNestedValue(inner, visit);
            }
        }
    }

    /// <summary>The arena bytes <paramref name="op"/>'s nested regions hold while it runs (all their values, conservatively).</summary>
    public static long NestedBytes(Operation op, long alignment)
    {
        long total = 0;
        ForEachNestedValue(op, (v, isConstant) => { if (!isConstant) total += Align(v.Type.ByteSize, alignment); });
        return total;
    }
}
