using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// Computes elements of the ops the shared <see cref="ElementEvaluator"/> does not lower itself (a
/// target's loops over reduced dimensions, say); null when it does not know the op either.
/// </summary>
public interface IElementOps
{
    string? TryCompute(ElementEvaluator ev, Operation op, Value v, IReadOnlyList<string> idx);
}

/// <summary>
/// The LLVM value of one element of any value of an op group (a fusion body, or one op), computed from
/// its index: elementwise ops compute, shape ops remap the index (broadcast, transpose, slice, pad,
/// concatenate, gather, ...), values in memory are loaded. Both targets share it: the CPU kernels call
/// it inside their loop nests, and the CUDA kernels once per GPU thread, so every elementwise and
/// index-remapping op has one lowering. Computed elements are remembered until the next element (or
/// the end of a <see cref="Scoped"/> block); seeds are elements known in registers beforehand (a GPU
/// reduction's or GEMM's result), which survive <see cref="NextElement"/>.
/// </summary>
public sealed class ElementEvaluator
{
    /// <summary>An element of a value: unique by construction (the value by reference, the index by its LLVM names).</summary>
    private readonly record struct ElementKey(Value Value, string Indices) : IEquatable<ElementKey>
    {
        public bool Equals(ElementKey other) => ReferenceEquals(Value, other.Value) && Indices == other.Indices;

        public override int GetHashCode() => HashCode.Combine(RuntimeHelpers.GetHashCode(Value), Indices);

        /// <summary>A dimension of extent 1 has the one index 0, whatever register names it (a broadcast reads it as "0"): keyed as "0".</summary>
        public static ElementKey Of(Value v, IReadOnlyList<string> idx)
        {
            var shape = v.Type.Shape;
            bool renamed = false;
            for (int d = 0; d < idx.Count && d < shape.Length && !renamed; d++) renamed = shape[d] == 1 && idx[d] != "0";
            // The common case (no extent-1 dimension indexed by a register) allocates nothing beyond the key's string.
            if (!renamed) return new(v, string.Join(",", idx));
            var parts = new string[idx.Count];
            for (int d = 0; d < parts.Length; d++) parts[d] = d < shape.Length && shape[d] == 1 ? "0" : idx[d];
            return new(v, string.Join(",", parts));
        }
    }

    private readonly ModuleContext _module;
    private readonly LlvmBuilder _b;
    private readonly ScalarEmitter _s;
    private readonly MemoryAccess _memory;
    private readonly IElementOps? _more;
    private readonly Dictionary<Value, KernelBuffer> _buffers;
    private readonly Dictionary<Value, Operation> _defs;
    private readonly IReadOnlyDictionary<Value, Tensor> _constants;
    private Dictionary<ElementKey, string> _memo = [];
    private Dictionary<ElementKey, string> _seeds = [];

    /// <summary>Index registers known to lie in [Lo, Hi): loop counters of a loop split at concatenation boundaries.</summary>
    private readonly Dictionary<string, (long Lo, long Hi)> _ranges = [];

    /// <summary>
    /// An evaluator that appends to <paramref name="b"/>: <paramref name="buffers"/> are the values read
    /// from memory, <paramref name="ops"/> define the others, <paramref name="constants"/> gives the
    /// contents of inputs that are compile-time constants, <paramref name="more"/> computes what it does not.
    /// </summary>
    public ElementEvaluator(ModuleContext module, LlvmBuilder b, IEnumerable<(Value Value, string Pointer)> buffers, IEnumerable<Operation> ops,
        IReadOnlyDictionary<Value, Tensor>? constants = null, IElementOps? more = null)
        : this(module, b, new Dictionary<Value, KernelBuffer>(ReferenceEqualityComparer.Instance), new Dictionary<Value, Operation>(ReferenceEqualityComparer.Instance),
            constants ?? new Dictionary<Value, Tensor>(), more)
    {
        foreach (var (v, p) in buffers) _buffers[v] = new KernelBuffer(p, v.Type);
        foreach (var op in ops)
            foreach (var r in op.Results) _defs[r] = op;
    }

    private ElementEvaluator(ModuleContext module, LlvmBuilder b, Dictionary<Value, KernelBuffer> buffers, Dictionary<Value, Operation> defs,
        IReadOnlyDictionary<Value, Tensor> constants, IElementOps? more)
    {
        _module = module;
        _b = b;
        _s = new ScalarEmitter(b, module);
        _memory = new MemoryAccess(b, module);
        _buffers = buffers;
        _defs = defs;
        _constants = constants;
        _more = more;
    }

    /// <summary>
    /// An evaluator of the same values appending to another function's builder <paramref name="b"/> (a
    /// kernel's part split off for threads): it shares the buffers, which that function must reload under
    /// the same names, and remembers nothing yet.
    /// </summary>
    public ElementEvaluator Fork(LlvmBuilder b) => new(_module, b, _buffers, _defs, _constants, _more);

    public ModuleContext Module => _module;

    public LlvmBuilder B => _b;

    public ScalarEmitter Scalars => _s;

    public MemoryAccess Memory => _memory;

    /// <summary>The contents of the inputs that are compile-time constants.</summary>
    public IReadOnlyDictionary<Value, Tensor> Constants => _constants;

    /// <summary>The values read from memory, in the order they were given.</summary>
    public IReadOnlyCollection<KernelBuffer> Buffers => _buffers.Values;

    public bool TryGetBuffer(Value v, out KernelBuffer buffer) => _buffers.TryGetValue(v, out buffer!);

    /// <summary>
    /// Index register <paramref name="index"/> lies in [<paramref name="lo"/>, <paramref name="hi"/>) (a loop's bounds): a
    /// concatenation indexed by it reads the one operand that range falls in, with no selects.
    /// </summary>
    public void KnowRange(string index, long lo, long hi) => _ranges[index] = (lo, hi);

    /// <summary>The ops that define the values the evaluator computes.</summary>
    public IEnumerable<Operation> Definitions => _defs.Values.Distinct();

    /// <summary>The op that defines <paramref name="v"/> when the evaluator computes it (rather than loading it), else null.</summary>
    public Operation? DefinitionOf(Value v) => !_buffers.ContainsKey(v) && _defs.TryGetValue(v, out var op) ? op : null;

    /// <summary>From now on, <paramref name="v"/> is read from <paramref name="buffer"/> (computed into scratch, say).</summary>
    public void SetBuffer(Value v, KernelBuffer buffer) => _buffers[v] = buffer;

    /// <summary>The value of element <paramref name="idx"/> of <paramref name="v"/>, in its compute type.</summary>
    public string Element(Value v, IReadOnlyList<string> idx) => At(v, idx);

    /// <summary>Element <paramref name="idx"/> of <paramref name="v"/> is already in <paramref name="register"/> (a reduction's or a GEMM's result).</summary>
    public void Seed(Value v, IReadOnlyList<string> idx, string register)
    {
        var key = ElementKey.Of(v, idx);
        _seeds[key] = register;
        _memo[key] = register;
    }

    /// <summary>Forgets computed elements (a new basic block or element follows), keeping the seeds.</summary>
    public void NextElement() => _memo = new(_seeds);

    /// <summary>Forgets the seeds too.</summary>
    public void ClearSeeds()
    {
        _seeds = [];
        _memo = [];
    }

    /// <summary>Runs <paramref name="body"/> (a loop body or a branch), forgetting afterwards what it computed.</summary>
    public void Scoped(Action body)
    {
        var outer = _memo;
        _memo = new Dictionary<ElementKey, string>(outer);
        body();
        _memo = outer;
    }

    /// <summary>Runs <paramref name="body"/> for every index of <paramref name="shape"/> (flattened into one loop).</summary>
    public void ForEachIndex(ImmutableArray<long> shape, Action<string[]> body)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        _b.For("0", count.ToString(), lin => Scoped(() => body(Unravel(lin, shape))), "k");
    }

    private string Ravel(IReadOnlyList<string> idx, ImmutableArray<long> shape) => _memory.Ravel(idx, shape);

    /// <summary>
    /// Index <paramref name="idx"/> of shape <paramref name="to"/> as an index of <paramref name="from"/> (same elements,
    /// row-major). Dimensions are matched in runs of equal products, and only within a run is an index raveled and
    /// unravelled: a reshape that splits or merges dimensions costs a division by a constant per split dimension, not a
    /// division per dimension of the whole tensor, and a split undoing an earlier merge (or the reverse) costs nothing.
    /// </summary>
    private string[] Reshaped(IReadOnlyList<string> idx, ImmutableArray<long> to, ImmutableArray<long> from)
    {
        if (to.Contains(0) || from.Contains(0)) return Unravel(Ravel(idx, to), from);
        var src = new string[from.Length];
        // Size-1 dimensions take index 0 and stand outside every run.
        var outer = Enumerable.Range(0, to.Length).Where(d => to[d] != 1).ToArray();
        var inner = Enumerable.Range(0, from.Length).Where(d => from[d] != 1).ToArray();
        for (int d = 0; d < from.Length; d++) src[d] = "0";
        int i = 0, j = 0;
        while (i < outer.Length)
        {
            int i0 = i, j0 = j;
            long p = to[outer[i++]], q = from[inner[j++]];
            while (p != q)
            {
                if (p < q) p *= to[outer[i++]];
                else q *= from[inner[j++]];
            }
            var parts = outer[i0..i].Select(d => idx[d]).ToArray();
            var partShape = ImmutableArray.CreateRange(outer[i0..i].Select(d => to[d]));
            var intoShape = ImmutableArray.CreateRange(inner[j0..j].Select(d => from[d]));
            var linear = parts.Length == 1 ? parts[0] : Ravel(parts, partShape);
            var split = intoShape.Length == 1 ? [linear] : Unravel(linear, intoShape);
            for (int k = 0; k < split.Length; k++) src[inner[j0 + k]] = split[k];
        }
        return src;
    }

    private string[] Unravel(string linear, ImmutableArray<long> shape) => _memory.Unravel(linear, shape);

    /// <summary>The LLVM value of element <paramref name="idx"/> of <paramref name="v"/>, in its compute type.</summary>
    private string At(Value v, IReadOnlyList<string> idx)
    {
        var key = ElementKey.Of(v, idx);
        if (_memo.TryGetValue(key, out var cached)) return cached;
        string r;
        // A splat constant operand is its one value: no load, whatever the index.
        if (_constants.TryGetValue(v, out var known) && known.ElementCount > 0 && known.IsSplat) r = Literal(known, 0);
        else if (_buffers.TryGetValue(v, out var buf)) r = _memory.Load(buf.Pointer, v.Type.Element, Ravel(idx, v.Type.Shape));
        else if (_defs.TryGetValue(v, out var op)) r = Compute(op, v, idx);
        else throw new CodegenException("a value used by the kernel has no buffer and no definition");
        _memo[key] = r;
        return r;
    }

    private string Compute(Operation op, Value v, IReadOnlyList<string> idx)
    {
        var e = v.Type.Element;
        var operandElement = op.Operands.Length > 0 ? op.Operands[0].Type.Element : e;
        switch (op.Def)
        {
            case ConstantOp:
            {
                var t = op.Attr.Tensor("value");
                if (t.ElementCount == 0) return LlvmTypes.Literal(e, 0); // never read: the loops over it are empty
                if (t.IsSplat) return Literal(t, 0);
                var g = _module.Constant(t);
                return _memory.Load(g, e, Ravel(idx, t.Type.Shape));
            }
            case IotaOp:
            {
                var i = idx[op.Attr.Int32("dimension")];
                return e.IsFloat() ? _b.Let($"sitofp i64 {i} to {LlvmTypes.Compute(e)}") : Narrow(i, e);
            }
            case UnaryOp u:
                return _s.Unary(u.Name, operandElement, At(op.Operands[0], idx));
            case BinaryOp bop:
                return _s.Binary(bop.Name, operandElement, At(op.Operands[0], idx), At(op.Operands[1], idx));
            case CompareOp:
                return _s.Compare(op.Attr.Enum("direction"), operandElement, At(op.Operands[0], idx), At(op.Operands[1], idx));
            case SelectOp:
            {
                var p = At(op.Operands[0], op.Operands[0].Type.Rank == 0 ? [] : idx);
                var t = LlvmTypes.Compute(e);
                return _b.Let($"select i1 {p}, {t} {At(op.Operands[1], idx)}, {t} {At(op.Operands[2], idx)}");
            }
            case ClampOp:
            {
                var lo = At(op.Operands[0], op.Operands[0].Type.Rank == 0 ? [] : idx);
                var hi = At(op.Operands[2], op.Operands[2].Type.Rank == 0 ? [] : idx);
                return _s.Binary("min", e, _s.Binary("max", e, At(op.Operands[1], idx), lo), hi);
            }
            case ConvertOp:
                return _s.Convert(operandElement, e, At(op.Operands[0], idx));
            case ReshapeOp:
                return At(op.Operands[0], Reshaped(idx, v.Type.Shape, op.Operands[0].Type.Shape));
            case BroadcastInDimOp:
            {
                var x = op.Operands[0];
                var dims = op.Attr.Ints("dims");
                var src = new string[x.Type.Rank];
                for (int i = 0; i < src.Length; i++) src[i] = x.Type.Shape[i] == 1 ? "0" : idx[(int)dims[i]];
                return At(x, src);
            }
            case TransposeOp:
            {
                var perm = op.Attr.Ints("perm");
                var src = new string[perm.Length];
                for (int i = 0; i < perm.Length; i++) src[perm[i]] = idx[i];
                return At(op.Operands[0], src);
            }
            case SliceOp:
            {
                var start = op.Attr.Ints("start");
                var stride = op.Attr.Ints("stride");
                var src = new string[idx.Count];
                for (int i = 0; i < idx.Count; i++)
                {
                    long st = stride.IsDefaultOrEmpty ? 1 : stride[i];
                    src[i] = _b.Let($"add nsw i64 {_b.Let($"mul nsw i64 {idx[i]}, {st}")}, {start[i]}", "ix");
                }
                return At(op.Operands[0], src);
            }
            case ReverseOp:
            {
                var dims = op.Attr.Ints("dims");
                var src = idx.ToArray();
                foreach (var d in dims) src[d] = _b.Let($"sub nsw i64 {v.Type.Shape[(int)d] - 1}, {idx[(int)d]}", "ix");
                return At(op.Operands[0], src);
            }
            case ConcatenateOp:
                return Concatenate(op, v, idx);
            case PadOp:
                return Pad(op, v, idx);
            case DynamicSliceOp:
            {
                var x = op.Operands[0];
                var sizes = op.Attr.Ints("sizes");
                var src = new string[idx.Count];
                for (int i = 0; i < idx.Count; i++)
                {
                    var start = ClampedStart(op.Operands[1 + i], x.Type.Shape[i] - sizes[i]);
                    src[i] = _b.Let($"add nsw i64 {start}, {idx[i]}", "ix");
                }
                return At(x, src);
            }
            case DynamicUpdateSliceOp:
            {
                var (x, upd) = (op.Operands[0], op.Operands[1]);
                var inside = "true";
                var src = new string[idx.Count];
                for (int i = 0; i < idx.Count; i++)
                {
                    var start = ClampedStart(op.Operands[2 + i], x.Type.Shape[i] - upd.Type.Shape[i]);
                    var rel = _b.Let($"sub nsw i64 {idx[i]}, {start}", "ix");
                    var ok = _b.Let($"icmp ult i64 {rel}, {upd.Type.Shape[i]}");
                    inside = _b.Let($"and i1 {inside}, {ok}");
                    src[i] = _b.Let($"select i1 {ok}, i64 {rel}, i64 0", "ix");
                }
                var t = LlvmTypes.Compute(e);
                return _b.Let($"select i1 {inside}, {t} {At(upd, src)}, {t} {At(x, idx)}");
            }
            case GatherOp:
                return Gather(op, idx);
            default:
                return _more?.TryCompute(this, op, v, idx) ?? throw new CodegenException($"'{op.Name}' is not supported by the CPU backend yet");
        }
    }

    private static string Literal(Tensor t, long i)
    {
        var e = t.Element;
        if (e.IsFloat()) return LlvmTypes.FloatLiteral(LlvmTypes.Compute(e), t.GetDouble(i));
        if (e == ElementType.Bool) return t.GetBool(i) ? "true" : "false";
        return t.GetInt64(i).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public string Narrow(string i64, ElementType e) => e == ElementType.I64 || e == ElementType.U64 ? i64 : _b.Let($"trunc i64 {i64} to {LlvmTypes.Register(e)}");

    /// <summary>A rank-0 index operand, sign- or zero-extended to i64 and clamped to [0, max].</summary>
    private string ClampedStart(Value index, long max) => ClampIndex(At(index, []), index.Type.Element, max);

    public string ClampIndex(string raw, ElementType e, long max)
    {
        var wide = e.BitWidth() == 64 ? raw : _b.Let($"{(e.IsUnsignedInteger() ? "zext" : "sext")} {LlvmTypes.Register(e)} {raw} to i64");
        if (e == ElementType.U64)
        {
            // Huge unsigned values clamp to the top, not to zero.
            var big = _b.Let($"icmp ugt i64 {wide}, {max}");
            return _b.Let($"select i1 {big}, i64 {max}, i64 {wide}", "ix");
        }
        var lo = _b.Let($"call i64 @llvm.smax.i64(i64 {wide}, i64 0)", "ix");
        _module.Declare("declare i64 @llvm.smax.i64(i64, i64)");
        _module.Declare("declare i64 @llvm.smin.i64(i64, i64)");
        return _b.Let($"call i64 @llvm.smin.i64(i64 {lo}, i64 {max})", "ix");
    }

    /// <summary>XLA gather (with StableHLO batching dims): the start index vector is read at the batch position and clamped.</summary>
    private string Gather(Operation op, IReadOnlyList<string> ri)
    {
        var (x, indices, a) = (op.Operands[0], op.Operands[1], op.Attr);
        var (offsetDims, map, sizes) = (a.Ints("offset_dims"), a.Ints("start_index_map"), a.Ints("slice_sizes"));
        var (opBatch, idxBatch, ivd) = (a.Ints("operand_batching_dims"), a.Ints("start_indices_batching_dims"), a.Int32("index_vector_dim"));
        var windowDims = IndexingDims.Window(x.Type.Rank, a.Ints("collapsed_slice_dims"), opBatch);
        var batch = Enumerable.Range(0, ri.Count).Where(d => !offsetDims.Contains(d)).Select(d => ri[d]).ToArray();
        var xi = Enumerable.Repeat("0", x.Type.Rank).ToArray();
        for (int j = 0; j < map.Length; j++)
        {
            var ii = new List<string>();
            for (int d = 0, bpos = 0; d < indices.Type.Rank; d++) ii.Add(d == ivd ? j.ToString() : batch[bpos++]);
            int dim = (int)map[j];
            xi[dim] = ClampIndex(At(indices, ii), indices.Type.Element, x.Type.Shape[dim] - sizes[dim]);
        }
        for (int i = 0; i < opBatch.Length; i++)
            xi[opBatch[i]] = batch[idxBatch[i] < ivd ? idxBatch[i] : idxBatch[i] - 1];
        for (int i = 0; i < offsetDims.Length; i++)
            xi[windowDims[i]] = _b.Let($"add nsw i64 {xi[windowDims[i]]}, {ri[(int)offsetDims[i]]}", "ix");
        return At(x, xi);
    }

    private string Concatenate(Operation op, Value v, IReadOnlyList<string> idx)
    {
        int d = op.Attr.Int32("dimension");
        var t = LlvmTypes.Compute(v.Type.Element);
        string? result = null;
        long offset = 0;
        if (_ranges.TryGetValue(idx[d], out var range))
        {
            // The index stays inside one operand: read that one (a split loop's piece).
            foreach (var x in op.Operands)
            {
                long n = x.Type.Shape[d];
                if (range.Lo >= offset && range.Hi <= offset + n)
                {
                    var src = idx.ToArray();
                    src[d] = offset == 0 ? idx[d] : _b.Let($"sub nsw i64 {idx[d]}, {offset}", "ix");
                    if (offset != 0) _ranges[src[d]] = (range.Lo - offset, range.Hi - offset);
                    return At(x, src);
                }
                offset += n;
            }
            offset = 0;
        }
        // Every operand is read at a clamped (valid) index and the right one selected: no branches.
        foreach (var x in op.Operands)
        {
            long n = x.Type.Shape[d];
            if (n == 0) continue;
            var src = idx.ToArray();
            var rel = _b.Let($"sub nsw i64 {idx[d]}, {offset}", "ix");
            var inRange = _b.Let($"icmp ult i64 {rel}, {n}");
            src[d] = _b.Let($"select i1 {inRange}, i64 {rel}, i64 0", "ix");
            var value = At(x, src);
            result = result is null ? value : _b.Let($"select i1 {inRange}, {t} {value}, {t} {result}");
            offset += n;
        }
        return result ?? throw new CodegenException("concatenate of empty operands has no elements");
    }

    private string Pad(Operation op, Value v, IReadOnlyList<string> idx)
    {
        var x = op.Operands[0];
        var low = op.Attr.Ints("low");
        var interior = op.Attr.Ints("interior");
        var mode = op.Attr.Enum("mode");
        var src = new string[idx.Count];
        var inside = "true";
        for (int d = 0; d < idx.Count; d++)
        {
            long n = x.Type.Shape[d];
            long step = (interior.IsDefaultOrEmpty ? 0 : interior[d]) + 1;
            var rel = _b.Let($"sub nsw i64 {idx[d]}, {low[d]}", "ix");
            if (mode == "constant")
            {
                var q = step == 1 ? rel : _b.Let($"sdiv i64 {rel}, {step}", "ix");
                var onGrid = step == 1 ? "true" : _b.Let($"icmp eq i64 {_b.Let($"srem i64 {rel}, {step}", "ix")}, 0");
                var ok = _b.Let($"and i1 {onGrid}, {_b.Let($"icmp ult i64 {q}, {n}")}");
                inside = _b.Let($"and i1 {inside}, {ok}");
                src[d] = _b.Let($"select i1 {ok}, i64 {q}, i64 0", "ix");
            }
            else src[d] = MirrorIndex(rel, n, mode);
        }
        var value = At(x, src);
        if (mode != "constant") return value;
        var t = LlvmTypes.Compute(v.Type.Element);
        return _b.Let($"select i1 {inside}, {t} {value}, {t} {At(op.Operands[1], [])}");
    }

    /// <summary>NumPy reflect/symmetric/edge index for a position <paramref name="rel"/> relative to the start (pads are less than a period).</summary>
    private string MirrorIndex(string rel, long n, string mode)
    {
        var neg = _b.Let($"icmp slt i64 {rel}, 0");
        var past = _b.Let($"icmp sge i64 {rel}, {n}");
        string below, above;
        switch (mode)
        {
            case "edge":
                below = "0";
                above = (n - 1).ToString();
                break;
            case "reflect":
                below = _b.Let($"sub nsw i64 0, {rel}", "ix");
                above = _b.Let($"sub nsw i64 {2 * n - 2}, {rel}", "ix");
                break;
            default: // symmetric
                below = _b.Let($"sub nsw i64 -1, {rel}", "ix");
                above = _b.Let($"sub nsw i64 {2 * n - 1}, {rel}", "ix");
                break;
        }
        var r = _b.Let($"select i1 {neg}, i64 {below}, i64 {rel}", "ix");
        return _b.Let($"select i1 {past}, i64 {above}, i64 {r}", "ix");
    }

    /// <summary>One step of a reduction of <paramref name="kind"/> (sum, prod, max, min, and, or).</summary>
    public string Combine(string kind, ElementType e, string acc, string x) => kind switch
    {
        "sum" => _s.Binary("add", e, acc, x),
        "prod" => _s.Binary("mul", e, acc, x),
        "max" => e == ElementType.Bool ? _b.Let($"or i1 {acc}, {x}") : _s.Binary("max", e, acc, x),
        "min" => e == ElementType.Bool ? _b.Let($"and i1 {acc}, {x}") : _s.Binary("min", e, acc, x),
        "and" => _b.Let($"and {LlvmTypes.Register(e)} {acc}, {x}"),
        _ => _b.Let($"or {LlvmTypes.Register(e)} {acc}, {x}"),
    };

    /// <summary>The start value of a reduction of <paramref name="kind"/>.</summary>
    public static string IdentityOf(string kind, ElementType e)
    {
        double v = kind switch
        {
            "sum" => 0,
            "prod" => 1,
            "max" => e.IsFloat() ? double.NegativeInfinity : e.IsUnsignedInteger() || e == ElementType.Bool ? 0 : MinOf(e),
            "min" => e.IsFloat() ? double.PositiveInfinity : e == ElementType.Bool ? 1 : e.IsUnsignedInteger() ? -1 : MaxOf(e),
            "and" => e == ElementType.Bool ? 1 : -1,
            _ => 0,
        };
        return LlvmTypes.Literal(e, v);
    }

    private static double MinOf(ElementType e) => -Math.Pow(2, e.BitWidth() - 1);
    private static double MaxOf(ElementType e) => Math.Pow(2, e.BitWidth() - 1) - 1;
}
