using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// scatter on the GPU, with the IR's sequential semantics (updates applied in row-major order: with duplicate
/// indices, <c>replace</c>'s last update wins and <c>add</c> sums in that order), bit for bit. First the operand is copied
/// into the result; then the updates, in one of five ways:
/// <list type="bullet">
/// <item><c>replace</c> (several positions): in parallel over positions and window elements, by claims. A clearing kernel
/// zeroes one 32-bit claim per result element (device scratch); a claiming kernel has every (position p, window element)
/// whose window lies inside raise its target's claim to p + 1 (<c>atomicrmw max</c>); an applying kernel has each write
/// where its claim won. The last position writing an element is the one whose value stays, as in order, overlapping
/// windows included;</item>
/// <item>32- and 64-bit integer <c>add</c>, <c>mul</c>, <c>max</c>, <c>min</c> (several positions): in parallel, each
/// update combined into its element atomically (<c>atomicrmw</c>; a compare-and-swap loop for mul). These are
/// associative and commutative exactly, so any order gives the sequential result;</item>
/// <item>otherwise (floating point, whose sums depend on their order; 8- and 16-bit elements, which have no atomics),
/// when the index vectors address only inserted (size-1) dimensions, windows of two positions are either the same
/// or disjoint (embeddings' gradients, a row per index; ScatterND over leading dimensions; ScatterElements): beyond
/// <see cref="SerialPositions"/> positions, sorted by window (<see cref="EmitSorted"/>), each window's updates combined in
/// order by its own threads; up to it, a thread per window element walks the positions in order and applies its element
/// of each, parallel over the window, serial over the positions;</item>
/// <item>and when the indices move a window along one of its own dimensions, windows of two positions may overlap partly
/// (sliding patches added): one block applies the positions in order, its threads sharing each window, with a barrier
/// between positions, which orders the writes of every thread and makes them visible.</item>
/// </list>
/// A window not wholly inside the operand is skipped (XLA's rule).
/// </summary>
internal sealed class ScatterKernel
{
    private const int Block = 256;

    /// <summary>Threads of the one block that applies overlapping windows (the most a block may have).</summary>
    private const int OrderedBlock = 1024;

    /// <summary>Bytes of one claim: position + 1 as an i32 (0: unclaimed), so at most 2³¹ − 2 positions take the claims path.</summary>
    private const int ClaimBytes = 4;

    public static bool Supports(Operation op) => op.Def is ScatterOp;

    private readonly Operation _op;
    private readonly Value _x, _idx, _upd;
    private readonly ImmutableArray<long> _uwd, _map, _inBatch, _idxBatch;
    private readonly int _ivd;
    private readonly string _kind;
    private readonly int[] _windowDims, _scatterDims;
    private readonly ImmutableArray<long> _shape, _windowShape, _scatterShape;
    private readonly long _window, _positions;

    private ScatterKernel(Operation op)
    {
        _op = op;
        (_x, _idx, _upd) = (op.Operands[0], op.Operands[1], op.Operands[2]);
        var a = op.Attr;
        (_uwd, _map, _kind) = (a.Ints("update_window_dims"), a.Ints("scatter_dims_to_operand_dims"), a.Enum("kind"));
        (_inBatch, _idxBatch, _ivd) = (a.Ints("input_batching_dims"), a.Ints("scatter_indices_batching_dims"), a.Int32("index_vector_dim"));
        _windowDims = IndexingDims.Window(_x.Type.Rank, a.Ints("inserted_window_dims"), _inBatch);
        _shape = _x.Type.Shape;
        _scatterDims = [.. Enumerable.Range(0, _upd.Type.Rank).Where(d => !_uwd.Contains(d))];
        _windowShape = [.. _uwd.Select(d => _upd.Type.Shape[(int)d])];
        _scatterShape = [.. _scatterDims.Select(d => _upd.Type.Shape[d])];
        _window = _windowShape.Aggregate(1L, (p, s) => p * s);
        _positions = _scatterShape.Aggregate(1L, (p, s) => p * s);
    }

    private ElementType Element => _x.Type.Element;

    /// <summary>Whether windows of two positions can only coincide or be disjoint (indices address inserted dimensions only).</summary>
    private bool WindowsFixed()
    {
        var inserted = _op.Attr.Ints("inserted_window_dims");
        return _map.All(d => inserted.Contains(d));
    }

    /// <summary>Integer combinations any order computes exactly, on elements the GPU has atomics for.</summary>
    private bool Atomic => _kind is "add" or "mul" or "max" or "min" && Element.IsInteger() && Element.ByteSize() is 4 or 8;

    public static IReadOnlyList<GpuKernel> Emit(DeviceModule m, Operation op, IReadOnlyDictionary<Value, Tensor> constants)
    {
        var s = new ScatterKernel(op);
        // 1: the result starts as the operand (the pointwise kernel's copy, or its constant's elements).
        var copy = PointwiseKernel.Emit(m, [s._x, s._idx, s._upd], [], [s._x], constants, op.Results, op.Operands);
        // 2: the updates. One position applies in parallel whichever way: the ordered kernels are simplest then.
        if (s._positions > 1 && s._kind == "replace" && s._positions < int.MaxValue) return [copy, .. s.EmitClaims(m)];
        if (s._positions > 1 && s.Atomic) return [copy, s.EmitAtomic(m)];
        if (!s.WindowsFixed()) return [copy, s.EmitOneBlock(m)];
        return s._positions > SerialPositions && s.Sortable ? [copy, .. s.EmitSorted(m)] : [copy, s.EmitPerWindowElement(m)];
    }

    /// <summary>
    /// Up to this many positions a thread per window element walks them all (one launch); beyond, sorting them by target
    /// (a few launches) lets each target's updates run apart from the others'.
    /// </summary>
    private const long SerialPositions = 64;

    /// <summary>Whether a target (the window's start, as an element of the operand) and a position fit a 64-bit sort key.</summary>
    private bool Sortable => _x.Type.ElementCount <= uint.MaxValue && _positions < uint.MaxValue;

    /// <summary>The kernel's parameters after the copy: the result, then the op's operands (%p1 operand, %p2 indices, %p3 updates).</summary>
    private IReadOnlyList<Value> Parameters => [.. _op.Results, .. _op.Operands];

    /// <summary>Blocks of <see cref="Block"/> threads for one thread per (position, window element).</summary>
    private long EveryUpdateGrid => Math.Max(1, (_positions * _window + Block - 1) / Block);

    /// <summary>
    /// The window's start in the operand at scatter position <paramref name="scatter"/>, and whether the window lies wholly
    /// inside (unsigned compares: a negative start is out too; along a window dimension the start leaves room for the window).
    /// </summary>
    private (string[] Start, string Inside) Locate(LlvmBuilder b, MemoryAccess mem, string[] scatter)
    {
        var xi = Enumerable.Repeat("0", _shape.Length).ToArray();
        for (int j = 0; j < _map.Length; j++)
        {
            var pos = new List<string>();
            for (int d = 0, bi = 0; d < _idx.Type.Rank; d++) pos.Add(d == _ivd ? j.ToString() : scatter[bi++]);
            var raw = mem.Load("%p2", _idx.Type.Element, mem.Ravel(pos, _idx.Type.Shape));
            xi[_map[j]] = _idx.Type.Element == ElementType.I64 ? raw : b.Let($"{(_idx.Type.Element.IsUnsignedInteger() ? "zext" : "sext")} {LlvmTypes.Memory(_idx.Type.Element)} {raw} to i64", "ix");
        }
        for (int i = 0; i < _inBatch.Length; i++) xi[_inBatch[i]] = scatter[_idxBatch[i] < _ivd ? _idxBatch[i] : _idxBatch[i] - 1];
        var inside = "true";
        for (int d = 0; d < _shape.Length; d++)
        {
            int w = Array.IndexOf(_windowDims, d);
            long room = w < 0 ? _shape[d] : _shape[d] - _windowShape[w] + 1;
            if (w >= 0 && !_map.Contains(d)) continue; // start 0
            inside = b.Let($"and i1 {inside}, {b.Let($"icmp ult i64 {xi[d]}, {room}")}");
        }
        return (xi, inside);
    }

    /// <summary>Window element <paramref name="wi"/> of the update at <paramref name="scatter"/>: its element in the result (the window starting at <paramref name="start"/>) and its value.</summary>
    private (string Target, string Value) Update(LlvmBuilder b, MemoryAccess mem, string[] scatter, string[] start, string[] wi)
    {
        var ui = new string[_upd.Type.Rank];
        for (int i = 0; i < _scatterDims.Length; i++) ui[_scatterDims[i]] = scatter[i];
        for (int i = 0; i < _uwd.Length; i++) ui[_uwd[i]] = wi[i];
        var xi = (string[])start.Clone();
        for (int i = 0; i < _uwd.Length; i++) xi[_windowDims[i]] = start[_windowDims[i]] == "0" ? wi[i] : b.Let($"add i64 {start[_windowDims[i]]}, {wi[i]}");
        return (mem.Ravel(xi, _shape), mem.Load("%p3", Element, mem.Ravel(ui, _upd.Type.Shape)));
    }

    /// <summary>Applies an update in order: stored, or combined with the element by the op's kind.</summary>
    private void Apply(LlvmBuilder b, MemoryAccess mem, ScalarEmitter scalars, string[] scatter, string[] start, string[] wi)
    {
        var (at, u) = Update(b, mem, scatter, start, wi);
        if (_kind != "replace") u = scalars.Binary(_kind, Element, mem.Load("%p0", Element, at), u);
        mem.Store(new KernelBuffer("%p0", _x.Type), at, u);
    }

    /// <summary>
    /// A kernel with a thread per (position, window element): <paramref name="body"/> gets the builder, the position (linear
    /// and unravelled), the window's start and the window element, for a window wholly inside the operand.
    /// </summary>
    private GpuKernel EveryUpdate(DeviceModule m, string what, Action<LlvmBuilder, MemoryAccess, string, string[], string[], string[]> body, long scratch = 0)
    {
        var name = m.NextName(what);
        var b = new LlvmBuilder();
        var mem = new MemoryAccess(b, m.Context);
        var (g, done) = Sreg.GuardedThread(m.Context, b, Block, _positions * _window, "g");
        var p = _window == 1 ? g : b.Let($"udiv i64 {g}, {_window}", "pos");
        var w = _window == 1 ? "0" : b.Let($"urem i64 {g}, {_window}", "w");
        var scatter = mem.Unravel(p, _scatterShape);
        var (start, inside) = Locate(b, mem, scatter);
        b.If(inside, () => body(b, mem, p, scatter, start, mem.Unravel(w, _windowShape)), "inside");
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        int parameters = 1 + _op.Operands.Length + (scratch > 0 ? 1 : 0);
        m.AddKernel(name, parameters, b.Body());
        return new GpuKernel(name, EveryUpdateGrid, 1, 1, Block, Parameters, scratch);
    }

    /// <summary>replace by claims: clear one claim per result element, claim (the latest position wins), apply the winners.</summary>
    private IEnumerable<GpuKernel> EmitClaims(DeviceModule m)
    {
        long elements = _x.Type.ElementCount, scratch = elements * ClaimBytes;
        var claims = $"%p{1 + _op.Operands.Length}";
        string Claim(LlvmBuilder b, string at) => b.Let($"getelementptr inbounds i32, ptr {claims}, i64 {at}", "claim");
        string Mine(LlvmBuilder b, string p) => b.Let($"trunc i64 {b.Let($"add i64 {p}, 1")} to i32", "mine");

        var clear = m.NextName("scatter_clear");
        var cb = new LlvmBuilder();
        var (e, done) = Sreg.GuardedThread(m.Context, cb, Block, elements, "e");
        cb.Line($"store i32 0, ptr {Claim(cb, e)}");
        cb.Br(done);
        cb.Block(done);
        cb.Line("ret void");
        m.AddKernel(clear, 1 + _op.Operands.Length + 1, cb.Body());
        yield return new GpuKernel(clear, Math.Max(1, (elements + Block - 1) / Block), 1, 1, Block, Parameters, scratch);

        yield return EveryUpdate(m, "scatter_claim", (b, mem, p, scatter, start, wi) =>
        {
            var (at, _) = Update(b, mem, scatter, start, wi);
            b.Line($"atomicrmw max ptr {Claim(b, at)}, i32 {Mine(b, p)} monotonic, align 4");
        }, scratch);

        yield return EveryUpdate(m, "scatter_apply", (b, mem, p, scatter, start, wi) =>
        {
            var (at, u) = Update(b, mem, scatter, start, wi);
            var won = b.Let($"icmp eq i32 {b.Let($"load i32, ptr {Claim(b, at)}")}, {Mine(b, p)}");
            b.If(won, () => mem.Store(new KernelBuffer("%p0", _x.Type), at, u), "won");
        }, scratch);
    }

    /// <summary>Integer add, mul, max, min: each update combined into its element atomically.</summary>
    private GpuKernel EmitAtomic(DeviceModule m) => EveryUpdate(m, "scatter_atomic", (b, mem, _, scatter, start, wi) =>
    {
        var (at, u) = Update(b, mem, scatter, start, wi);
        var t = LlvmTypes.Memory(Element);
        var ptr = b.Let($"getelementptr inbounds {t}, ptr %p0, i64 {at}", "dst");
        bool unsigned = Element.IsUnsignedInteger();
        var rmw = _kind switch
        {
            "add" => "add",
            "max" => unsigned ? "umax" : "max",
            "min" => unsigned ? "umin" : "min",
            _ => null,
        };
        if (rmw is not null)
        {
            b.Line($"atomicrmw {rmw} ptr {ptr}, {t} {u} monotonic, align {Element.ByteSize()}");
            return;
        }
        // mul: compare-and-swap until no other thread changed the element in between.
        var first = b.Let($"load {t}, ptr {ptr}", "old");
        var entry = b.CurrentBlock;
        var retry = b.FreshLabel("cas");
        var swapped = b.FreshLabel("swapped");
        b.Br(retry);
        b.Block(retry);
        var seen = b.Fresh("seen");
        var old = b.Let($"phi {t} [ {first}, %{entry} ], [ {seen}, %{retry} ]", "cur");
        var pair = b.Let($"cmpxchg ptr {ptr}, {t} {old}, {t} {b.Let($"mul {t} {old}, {u}")} monotonic monotonic, align {Element.ByteSize()}", "pair");
        b.Line($"{seen} = extractvalue {{ {t}, i1 }} {pair}, 0");
        b.CondBr(b.Let($"extractvalue {{ {t}, i1 }} {pair}, 1"), swapped, retry);
        b.Block(swapped);
    });

    /// <summary>
    /// Windows that coincide or are disjoint, with an order-sensitive combination, by sorting: a kernel writes each position's
    /// key, its window's start (as an element of the operand) in the high 32 bits and the position in the low ones (all ones
    /// for a window outside the operand, and for the padding), into the scratch; <see cref="KeySort"/> sorts them, which
    /// groups the positions of each window in their order; then a thread per (sorted place, window element) that starts a
    /// window's group combines the group's updates into its element one after another, as the sequential order does
    /// (rounding to the element type after each, as a store would). Parallel over distinct windows and window elements,
    /// serial only over one window's repeats.
    /// </summary>
    private IEnumerable<GpuKernel> EmitSorted(DeviceModule m)
    {
        long n = KeySort.Padded(_positions), scratch = n * sizeof(long);
        int parameters = 1 + _op.Operands.Length + 1;
        var keys = $"%p{parameters - 1}";
        string Key(LlvmBuilder b, string at) => b.Let($"getelementptr inbounds i64, ptr {keys}, i64 {at}", "key");
        const string None = "-1"; // all ones: after every real key

        var write = m.NextName("scatter_keys");
        var kb = new LlvmBuilder();
        var kmem = new MemoryAccess(kb, m.Context);
        var (slot, keysDone) = Sreg.GuardedThread(m.Context, kb, Block, n, "slot");
        var real = kb.FreshLabel("real");
        var store = kb.FreshLabel("store");
        var entry = kb.CurrentBlock;
        kb.CondBr(kb.Let($"icmp ult i64 {slot}, {_positions}"), real, store);
        kb.Block(real);
        var (start, inside) = Locate(kb, kmem, kmem.Unravel(slot, _scatterShape));
        var composed = kb.Let($"or i64 {kb.Let($"shl i64 {kmem.Ravel(start, _shape)}, 32")}, {slot}");
        var key = kb.Let($"select i1 {inside}, i64 {composed}, i64 {None}");
        var located = kb.CurrentBlock;
        kb.Br(store);
        kb.Block(store);
        kb.Line($"store i64 {kb.Let($"phi i64 [ {None}, %{entry} ], [ {key}, %{located} ]")}, ptr {Key(kb, slot)}");
        kb.Br(keysDone);
        kb.Block(keysDone);
        kb.Line("ret void");
        m.AddKernel(write, parameters, kb.Body());
        yield return new GpuKernel(write, n / Block, 1, 1, Block, Parameters, scratch);

        foreach (var launch in KeySort.Emit(m, n, parameters, keys, Parameters, scratch)) yield return launch;

        var combine = m.NextName("scatter_groups");
        var b = new LlvmBuilder();
        var mem = new MemoryAccess(b, m.Context);
        var scalars = new ScalarEmitter(b, m.Context);
        var (g, done) = Sreg.GuardedThread(m.Context, b, Block, n * _window, "g");
        var place = _window == 1 ? g : b.Let($"udiv i64 {g}, {_window}", "place");
        var w = _window == 1 ? "0" : b.Let($"urem i64 {g}, {_window}", "w");
        var first = b.Let($"load i64, ptr {Key(b, place)}", "first");
        var window = b.Let($"lshr i64 {first}, 32", "window");
        // A group starts at a real key whose predecessor belongs to another window (the padding sorts last: never a predecessor).
        var atFirst = b.Let($"icmp eq i64 {place}, 0");
        var before = b.Let($"select i1 {atFirst}, i64 0, i64 {b.Let($"sub i64 {place}, 1")}");
        var previous = b.Let($"lshr i64 {b.Let($"load i64, ptr {Key(b, before)}")}, 32");
        var head = b.Let($"or i1 {atFirst}, {b.Let($"icmp ne i64 {previous}, {window}")}");
        var lead = b.Let($"and i1 {head}, {b.Let($"icmp ne i64 {first}, {None}")}", "lead");
        b.If(lead, () =>
        {
            var startAt = mem.Unravel(window, _shape);
            var wi = mem.Unravel(w, _windowShape);
            var (target, _) = Update(b, mem, [.. Enumerable.Repeat("0", _scatterShape.Length)], startAt, wi);
            var initial = mem.Load("%p0", Element, target);
            // The group: the places from this one on whose key has the same window (the index clamped for the read past the end).
            var total = b.ReduceWhile(place, LlvmTypes.Compute(Element), initial, j =>
            {
                var inRange = b.Let($"icmp ult i64 {j}, {n}");
                var kj = b.Let($"load i64, ptr {Key(b, b.Let($"select i1 {inRange}, i64 {j}, i64 0"))}");
                return b.Let($"and i1 {inRange}, {b.Let($"icmp eq i64 {b.Let($"lshr i64 {kj}, 32")}, {window}")}");
            }, (acc, j) =>
            {
                var position = b.Let($"and i64 {b.Let($"load i64, ptr {Key(b, j)}")}, 4294967295", "position");
                var (_, u) = Update(b, mem, mem.Unravel(position, _scatterShape), startAt, wi);
                return RoundToElement(b, mem, scalars.Binary(_kind, Element, acc, u));
            }, "group");
            mem.Store(new KernelBuffer("%p0", _x.Type), target, total);
        }, "lead");
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(combine, parameters, b.Body());
        yield return new GpuKernel(combine, (n * _window + Block - 1) / Block, 1, 1, Block, Parameters, scratch);
    }

    /// <summary><paramref name="x"/> (in the compute type) rounded as storing it as the element type would (f16, bf16 compute in f32).</summary>
    private string RoundToElement(LlvmBuilder b, MemoryAccess mem, string x) => Element switch
    {
        ElementType.F16 => b.Let($"fpext half {b.Let($"fptrunc float {x} to half")} to float"),
        ElementType.BF16 => mem.BFloatToFloat(mem.FloatToBFloat(x)),
        _ => x,
    };

    /// <summary>Windows that coincide or are disjoint: a thread per window element, every position in order.</summary>
    private GpuKernel EmitPerWindowElement(DeviceModule m)
    {
        var name = m.NextName("scatter");
        var b = new LlvmBuilder();
        var mem = new MemoryAccess(b, m.Context);
        var scalars = new ScalarEmitter(b, m.Context);
        var (w, done) = Sreg.GuardedThread(m.Context, b, Block, _window, "w", "window");
        var wi = mem.Unravel(w, _windowShape);
        b.For("0", _positions.ToString(), p =>
        {
            var scatter = mem.Unravel(p, _scatterShape);
            var (start, inside) = Locate(b, mem, scatter);
            b.If(inside, () => Apply(b, mem, scalars, scatter, start, wi), "apply");
        }, "pos");
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, 1 + _op.Operands.Length, b.Body());
        return new GpuKernel(name, Math.Max(1, (_window + Block - 1) / Block), 1, 1, Block, Parameters);
    }

    /// <summary>Windows that may overlap partly: one block, every position in order; its threads share the window, then meet at a barrier.</summary>
    private GpuKernel EmitOneBlock(DeviceModule m)
    {
        var name = m.NextName("scatter");
        var b = new LlvmBuilder();
        var mem = new MemoryAccess(b, m.Context);
        var scalars = new ScalarEmitter(b, m.Context);
        var tid = Sreg.Read(m.Context, b, "tid.x");
        long chunks = (_window + OrderedBlock - 1) / OrderedBlock;
        b.For("0", _positions.ToString(), p =>
        {
            var scatter = mem.Unravel(p, _scatterShape);
            var (start, inside) = Locate(b, mem, scatter);
            b.If(inside, () => b.For("0", chunks.ToString(), c =>
            {
                var w = b.Let($"add i64 {b.Let($"mul i64 {c}, {OrderedBlock}")}, {tid}", "w");
                b.If(b.Let($"icmp ult i64 {w}, {_window}"), () => Apply(b, mem, scalars, scatter, start, mem.Unravel(w, _windowShape)), "mine");
            }, "chunk"), "apply");
            // Every thread's writes for this position land before any thread's for the next (overlaps are ordered).
            Sreg.Barrier(m.Context, b);
        }, "pos");
        b.Line("ret void");
        m.AddKernel(name, 1 + _op.Operands.Length, b.Body());
        return new GpuKernel(name, 1, 1, 1, OrderedBlock, Parameters);
    }
}
