using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>A tensor in memory inside a kernel: an LLVM pointer and its type.</summary>
internal sealed record Buffer(string Pointer, TensorType Type);

/// <summary>
/// Compiles a group of ops (a fusion body, or one op) into one kernel function by evaluating each
/// output element from its index: elementwise ops compute, shape ops remap the index, contractions
/// and reductions loop over their reduced dimensions. Contractions and reductions that feed other ops
/// of the group are first computed into scratch buffers, so that no element is computed twice.
/// </summary>
internal sealed partial class KernelEmitter
{
    private readonly ModuleContext _module;
    private LlvmBuilder _b = new();
    private ScalarEmitter _s;
    private readonly Dictionary<Value, Buffer> _buffers = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Value, Operation> _defs = new(ReferenceEqualityComparer.Instance);
    private Dictionary<string, string> _memo = [];
    private readonly List<string> _scratch = [];

    private readonly IReadOnlyDictionary<Value, Tensor> _constants;

    /// <summary>The kernel's symbol: functions split out of it are named after it.</summary>
    private readonly string _name;

    private KernelEmitter(ModuleContext module, string name, IReadOnlyDictionary<Value, Tensor>? constants = null)
    {
        _module = module;
        _name = name;
        _constants = constants ?? new Dictionary<Value, Tensor>();
        _s = new ScalarEmitter(_b, module);
    }

    /// <summary>Ops whose elements each need a loop: computed once into a buffer when other ops of the group read them.</summary>
    private static bool IsHeavy(Operation op) => op.Def.HasAny(OpTraits.Contraction | OpTraits.Reduction);

    /// <summary>
    /// Emits <c>define internal i32 @name(ptr out..., ptr in..., i32 threads)</c> computing
    /// <paramref name="outputs"/> from <paramref name="inputs"/> through <paramref name="ops"/> (in order,
    /// without a terminator); it returns 0, or 1 when scratch memory cannot be allocated.
    /// <paramref name="constants"/> gives the contents of inputs that are compile-time constants.
    /// </summary>
    public static void Emit(ModuleContext module, string name, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor>? constants = null)
    {
        var k = new KernelEmitter(module, name, constants);
        var parameters = new List<string>();
        for (int i = 0; i < outputs.Count; i++) parameters.Add($"ptr noalias %out{i}");
        for (int i = 0; i < inputs.Count; i++)
        {
            parameters.Add($"ptr noalias %in{i}");
            k._buffers[inputs[i]] = new Buffer($"%in{i}", inputs[i].Type);
        }
        parameters.Add("i32 %threads");
        foreach (var op in ops)
            foreach (var r in op.Results) k._defs[r] = op;

        var usedInside = new HashSet<Value>(ops.SelectMany(o => o.Operands), ReferenceEqualityComparer.Instance);
        var written = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        bool outputFree = outputs.Count == 1; // the single output's buffer, until a contraction writes into it
        foreach (var op in ops)
        {
            var gemm = PlanGemm(op);
            var conv = gemm is null ? PlanConv(op) : null;
            if (gemm is not null || conv is not null)
            {
                // The GEMM writes straight into the output when it is the output, or when the rest of the
                // group is an elementwise epilogue that then rewrites the output in place.
                Buffer dest;
                if (outputFree && ReferenceEquals(outputs[0], op.Result))
                {
                    dest = new Buffer("%out0", op.Result.Type);
                    written.Add(op.Result);
                }
                else if (outputFree && EpilogueInPlace(op, ops, outputs[0]))
                {
                    dest = new Buffer("%out0", op.Result.Type);
                    outputFree = false;
                }
                else dest = new Buffer(k.Malloc(op.Result.Type), op.Result.Type);
                k._memo = [];
                if (gemm is not null) k.Gemm(op, gemm, dest);
                else k.Conv(op, conv!, dest);
                k._buffers[op.Result] = dest;
                continue;
            }
            if (IsWhole(op))
            {
                // Whole-tensor ops write all their results at once: straight into the outputs when the
                // kernel is just this op, else into scratch that the rest of the group reads.
                bool direct = ops.Count == 1 && op.Results.SequenceEqual(outputs);
                var dests = new Buffer[op.Results.Length];
                for (int i = 0; i < dests.Length; i++)
                {
                    var r = op.Results[i];
                    dests[i] = direct ? new Buffer($"%out{i}", r.Type) : new Buffer(k.Malloc(r.Type), r.Type);
                    if (direct) written.Add(r);
                    else k._buffers[r] = dests[i];
                }
                k._memo = [];
                k.EmitWhole(op, dests);
                continue;
            }
            if (!IsHeavy(op) || !usedInside.Contains(op.Result)) continue;
            var scratch = k.Malloc(op.Result.Type);
            k.StoreAll(new Buffer(scratch, op.Result.Type), op.Result);
            k._buffers[op.Result] = new Buffer(scratch, op.Result.Type);
        }
        for (int i = 0; i < outputs.Count; i++)
            if (!written.Contains(outputs[i])) k.StoreAllParallel(name, i, new Buffer($"%out{i}", outputs[i].Type), outputs[i], ops.Count);
        foreach (var p in k._scratch) k._b.Line($"call void @free(ptr {p})");
        k._b.Line("ret i32 0");
        if (k._failLabel is { } fail)
        {
            k._b.Block(fail);
            k._b.Line("ret i32 1");
        }
        module.AddFunction($"define internal i32 @{name}({string.Join(", ", parameters)}) nounwind {{\n{k._b.Body()}}}");
        foreach (var f in k._extraFunctions) module.AddFunction(f);
    }

    private string? _failLabel;
    private readonly List<string> _extraFunctions = [];

    /// <summary>Returns 1 from the kernel when <paramref name="cond"/> holds (scratch allocated so far is not freed: the process is out of memory).</summary>
    private void FailIf(string cond)
    {
        _failLabel ??= _b.FreshLabel("fail");
        var ok = _b.FreshLabel("ok");
        _b.CondBr(cond, _failLabel, ok);
        _b.Block(ok);
    }

    private string Malloc(TensorType t)
    {
        _module.Declare("declare noalias ptr @malloc(i64)");
        _module.Declare("declare void @free(ptr)");
        var p = _b.Let($"call ptr @malloc(i64 {Math.Max(t.ByteSize, 1)})", "scratch");
        FailIf(_b.Let($"icmp eq ptr {p}, null", "oom"));
        _scratch.Add(p);
        return p;
    }

    /// <summary>
    /// <see cref="StoreAll"/> split over threads along the outermost dimension longer than 1, when the
    /// work pays for threads: the loop nest moves into <c>@KERNEL.parN(ptr ctx, i32 t, i32 n)</c>, which
    /// reloads the kernel's buffer pointers from <c>ctx</c> under their own names.
    /// </summary>
    private void StoreAllParallel(string kernel, int index, Buffer dest, Value v, int opsPerElement)
    {
        var shape = v.Type.Shape;
        int split = Enumerable.Range(0, shape.Length).FirstOrDefault(d => shape[d] > 1, -1);
        var threads = split < 0 ? "1" : Parallel.Threads(_b, v.Type.ElementCount * Math.Max(1, opsPerElement), shape[split]);
        if (threads == "1")
        {
            StoreAll(dest, v);
            return;
        }
        var captured = _buffers.Values.Select(x => x.Pointer).Append(dest.Pointer).Where(p => p.StartsWith('%')).Distinct().ToList();
        var ctx = _b.Alloca($"[{captured.Count} x ptr]");
        for (int i = 0; i < captured.Count; i++)
            _b.Line($"store ptr {captured[i]}, ptr {_b.Let($"getelementptr inbounds ptr, ptr {ctx}, i64 {i}", "slot")}");
        var body = $"{kernel}.par{index}";
        _b.Line($"call void @{Parallel.Emit(_module)}(ptr @{body}, ptr {ctx}, i32 {threads})");

        var (outerB, outerS, outerMemo) = (_b, _s, _memo);
        _b = new LlvmBuilder(outerB.NextName);
        _s = new ScalarEmitter(_b, _module);
        _memo = [];
        // Dotted names: the builder's temporaries (t64, ...) never contain a dot.
        _b.Line("%part.t = zext i32 %t to i64");
        _b.Line("%part.n = zext i32 %n to i64");
        for (int i = 0; i < captured.Count; i++)
            _b.Line($"{captured[i]} = load ptr, ptr {_b.Let($"getelementptr inbounds ptr, ptr %ctx, i64 {i}", "slot")}");
        var extent = shape[split];
        var per = _b.Let($"udiv i64 {_b.Let($"add i64 {extent}, {_b.Let("sub i64 %part.n, 1")}")}, %part.n", "per");
        var lo = _b.Let($"mul i64 %part.t, {per}", "lo");
        var hiRaw = _b.Let($"add i64 {lo}, {per}", "hi");
        var hi = _b.Let($"select i1 {_b.Let($"icmp slt i64 {hiRaw}, {extent}")}, i64 {hiRaw}, i64 {extent}", "hi");
        var idx = new string[shape.Length];
        for (int d = 0; d < split; d++) idx[d] = "0";
        void Nest(int d)
        {
            if (d == shape.Length)
            {
                _memo = [];
                Store(dest, Ravel(idx, shape), At(v, idx));
                return;
            }
            _b.For(d == split ? lo : "0", d == split ? hi : shape[d].ToString(), i =>
            {
                idx[d] = i;
                Nest(d + 1);
            }, $"d{d}.", d == split ? null : InnerLoopMetadata(shape, d));
        }
        Nest(split);
        _b.Line("ret void");
        _extraFunctions.Add($"define internal void @{body}(ptr %ctx, i32 %t, i32 %n) nounwind {{\n{_b.Body()}}}");
        (_b, _s, _memo) = (outerB, outerS, outerMemo);
    }

    /// <summary>Loops over every element of <paramref name="v"/> and stores it into <paramref name="dest"/>.</summary>
    private void StoreAll(Buffer dest, Value v)
    {
        var shape = v.Type.Shape;
        var idx = new string[shape.Length];
        void Nest(int d)
        {
            if (d == shape.Length)
            {
                _memo = [];
                var x = At(v, idx);
                Store(dest, Ravel(idx, shape), x);
                return;
            }
            _b.For("0", shape[d].ToString(), i =>
            {
                idx[d] = i;
                Nest(d + 1);
            }, $"d{d}.", InnerLoopMetadata(shape, d));
        }
        Nest(0);
    }

    /// <summary>Keeps a short innermost loop of a nest a loop, so that LLVM vectorises it (see <see cref="ModuleContext.NoUnrollLoop"/>).</summary>
    private string? InnerLoopMetadata(ImmutableArray<long> shape, int d) =>
        d == shape.Length - 1 && d > 0 && shape[d] >= 16 && shape[d] <= 256 ? _module.NoUnrollLoop() : null;

    // ---- memory ------------------------------------------------------------------------------------

    /// <summary>Linear indices that <see cref="Unravel"/> split, by the parts and shape: raveling them again is free.</summary>
    private readonly Dictionary<string, string> _unravelled = [];

    private static string IndexKey(IReadOnlyList<string> idx, ImmutableArray<long> shape) => $"{string.Join(",", idx)}|{string.Join("x", shape)}";

    private string Ravel(IReadOnlyList<string> idx, ImmutableArray<long> shape)
    {
        if (shape.Length == 0) return "0";
        if (_unravelled.TryGetValue(IndexKey(idx, shape), out var linear)) return linear;
        string acc = idx[0];
        for (int d = 1; d < shape.Length; d++)
            acc = _b.Let($"add nsw i64 {_b.Let($"mul nsw i64 {acc}, {shape[d]}")}, {idx[d]}", "lin");
        return acc;
    }

    private string[] Unravel(string linear, ImmutableArray<long> shape)
    {
        var r = new string[shape.Length];
        var rest = linear;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (d == 0)
            {
                r[d] = rest;
                break;
            }
            r[d] = _b.Let($"urem i64 {rest}, {shape[d]}", "ix");
            rest = _b.Let($"udiv i64 {rest}, {shape[d]}", "ix");
        }
        _unravelled[IndexKey(r, shape)] = linear;
        return r;
    }

    private string Load(string pointer, ElementType e, string linear)
    {
        var mt = LlvmTypes.Memory(e);
        var p = _b.Let($"getelementptr inbounds {mt}, ptr {pointer}, i64 {linear}", "p");
        var x = _b.Let($"load {mt}, ptr {p}", "v");
        return e switch
        {
            ElementType.Bool => _b.Let($"icmp ne i8 {x}, 0"),
            ElementType.F16 => _b.Let($"fpext half {x} to float"),
            ElementType.BF16 => BFloatToFloat(x),
            _ => x,
        };
    }

    private void Store(Buffer dest, string linear, string x)
    {
        var e = dest.Type.Element;
        var mt = LlvmTypes.Memory(e);
        var v = e switch
        {
            ElementType.Bool => _b.Let($"zext i1 {x} to i8"),
            ElementType.F16 => _b.Let($"fptrunc float {x} to half"),
            ElementType.BF16 => FloatToBFloat(x),
            _ => x,
        };
        var p = _b.Let($"getelementptr inbounds {mt}, ptr {dest.Pointer}, i64 {linear}", "p");
        _b.Line($"store {mt} {v}, ptr {p}");
    }

    private string BFloatToFloat(string x)
    {
        var bits = _b.Let($"bitcast bfloat {x} to i16");
        var wide = _b.Let($"shl i32 {_b.Let($"zext i16 {bits} to i32")}, 16");
        return _b.Let($"bitcast i32 {wide} to float");
    }

    /// <summary>float → bfloat, rounding to nearest even (NaN stays a quiet NaN).</summary>
    private string FloatToBFloat(string x)
    {
        var bits = _b.Let($"bitcast float {x} to i32");
        var lsb = _b.Let($"and i32 {_b.Let($"lshr i32 {bits}, 16")}, 1");
        var rounded = _b.Let($"add i32 {bits}, {_b.Let($"add i32 {lsb}, 32767")}");
        var nan = _b.Let($"fcmp uno float {x}, 0.0");
        var quiet = _b.Let($"or i32 {bits}, 4194304");
        var chosen = _b.Let($"select i1 {nan}, i32 {quiet}, i32 {rounded}");
        var top = _b.Let($"trunc i32 {_b.Let($"lshr i32 {chosen}, 16")} to i16");
        return _b.Let($"bitcast i16 {top} to bfloat");
    }

    // ---- element evaluation ------------------------------------------------------------------------

    /// <summary>The LLVM value of element <paramref name="idx"/> of <paramref name="v"/>, in its compute type.</summary>
    private string At(Value v, IReadOnlyList<string> idx)
    {
        var key = $"{System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(v)}:{string.Join(",", idx)}";
        if (_memo.TryGetValue(key, out var cached)) return cached;
        string r;
        // A splat constant operand is its one value: no load, whatever the index.
        if (_constants.TryGetValue(v, out var known) && known.ElementCount > 0 && known.IsSplat) r = Literal(known, 0);
        else if (_buffers.TryGetValue(v, out var buf)) r = Load(buf.Pointer, v.Type.Element, Ravel(idx, v.Type.Shape));
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
                return Load(g, e, Ravel(idx, t.Type.Shape));
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
            {
                var lin = Ravel(idx, v.Type.Shape);
                return At(op.Operands[0], Unravel(lin, op.Operands[0].Type.Shape));
            }
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
            case ReduceOp:
                return Reduce(op, v, idx);
            case DotGeneralOp:
                return Dot(op, v, idx);
            case ConvolutionOp:
                return Convolution(op, v, idx);
            case ReduceWindowOp:
                return ReduceWindow(op, v, idx);
            case ArgReduceOp:
                return ArgReduce(op, v, idx);
            case RngOp:
                return Rng(op, v, idx);
            default:
                throw new CodegenException($"'{op.Name}' is not supported by the CPU backend yet");
        }
    }

    private static string Literal(Tensor t, long i)
    {
        var e = t.Element;
        if (e.IsFloat()) return LlvmTypes.FloatLiteral(LlvmTypes.Compute(e), t.GetDouble(i));
        if (e == ElementType.Bool) return t.GetBool(i) ? "true" : "false";
        return t.GetInt64(i).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private string Narrow(string i64, ElementType e) => e == ElementType.I64 || e == ElementType.U64 ? i64 : _b.Let($"trunc i64 {i64} to {LlvmTypes.Register(e)}");

    /// <summary>A rank-0 index operand, sign- or zero-extended to i64 and clamped to [0, max].</summary>
    private string ClampedStart(Value index, long max) => ClampIndex(At(index, []), index.Type.Element, max);

    private string ClampIndex(string raw, ElementType e, long max)
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
        var (x, indices) = (op.Operands[0], op.Operands[1]);
        var a = op.Attr;
        var offsetDims = a.Ints("offset_dims");
        var map = a.Ints("start_index_map");
        var sizes = a.Ints("slice_sizes");
        var opBatch = a.Ints("operand_batching_dims");
        var idxBatch = a.Ints("start_indices_batching_dims");
        int ivd = a.Int32("index_vector_dim");
        var collapsed = a.Ints("collapsed_slice_dims");
        var windowDims = IndexingDims.Window(x.Type.Rank, collapsed, opBatch);
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

    // ---- loops over reduced dimensions ---------------------------------------------------------------

    /// <summary>Runs <paramref name="body"/> for every index of <paramref name="shape"/> (flattened into one loop).</summary>
    private void ForEachIndex(ImmutableArray<long> shape, Action<string[]> body)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        _b.For("0", count.ToString(), lin =>
        {
            var outer = _memo;
            _memo = new Dictionary<string, string>(outer);
            body(Unravel(lin, shape));
            _memo = outer;
        }, "k");
    }

    private string Accumulate(string kind, ElementType e, string acc, string x) => kind switch
    {
        "sum" => _s.Binary("add", e, acc, x),
        "prod" => _s.Binary("mul", e, acc, x),
        "max" => e == ElementType.Bool ? _b.Let($"or i1 {acc}, {x}") : _s.Binary("max", e, acc, x),
        "min" => e == ElementType.Bool ? _b.Let($"and i1 {acc}, {x}") : _s.Binary("min", e, acc, x),
        "and" => _b.Let($"and {LlvmTypes.Register(e)} {acc}, {x}"),
        _ => _b.Let($"or {LlvmTypes.Register(e)} {acc}, {x}"),
    };

    private static string Identity(string kind, ElementType e)
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

    private static string[] Insert(IReadOnlyList<string> idx, int dim, string value)
    {
        var r = new List<string>(idx);
        r.Insert(dim, value);
        return [.. r];
    }
}
