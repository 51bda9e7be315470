using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>The CPU backend's host kernels, for <see cref="ProgramEmitter"/> (the CPU program's and a CUDA program's host side).</summary>
public sealed class CpuKernels : IHostKernels
{
    /// <summary>The kernels with every choice left to the cost models.</summary>
    public static readonly CpuKernels Instance = new(ConvolutionAlgorithm.Auto);

    private CpuKernels(ConvolutionAlgorithm convolution) => Convolution = convolution;

    /// <summary>How convolutions that can be computed several ways are computed.</summary>
    public ConvolutionAlgorithm Convolution { get; }

    public static CpuKernels For(ConvolutionAlgorithm convolution) => convolution == ConvolutionAlgorithm.Auto ? Instance : new(convolution);

    public long Emit(ModuleContext module, string name, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, bool outputsOverwriteInputs = false) =>
        KernelEmitter.Emit(module, name, inputs, ops, outputs, constants, outputsOverwriteInputs, Convolution);
}

/// <summary>
/// Compiles a group of ops (a fusion body, or one op) into one kernel function: the ops
/// <see cref="KernelPlan"/> picks (GEMMs, convolutions, whole-tensor ops, and loops other ops of the
/// group read) first, then a loop nest per output shape (<see cref="ThreadSplit"/>) in which the shared
/// <see cref="ElementEvaluator"/> computes each element from its index, with the CPU's loops over reduced
/// dimensions (<see cref="KernelElementOps"/>) for what it does not lower itself.
/// </summary>
internal sealed partial class KernelEmitter
{
    private readonly ModuleContext _module;
    private readonly ElementEvaluator _ev;
    /// <summary>Bytes of the caller's scratch (<c>%scratch</c>) handed out so far.</summary>
    private long _scratchBytes;

    /// <summary>The kernel's symbol: functions split out of it are named after it.</summary>
    private readonly string _name;

    private KernelEmitter(ModuleContext module, string name, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyDictionary<Value, Tensor>? constants)
    {
        _module = module;
        _name = name;
        _ev = new ElementEvaluator(module, new LlvmBuilder(), inputs.Select((v, i) => (v, $"%in{i}")), ops, constants, KernelElementOps.Instance);
    }

    // The evaluator's builder, scalar emitter and constants: the kernel function's (a part split off for
    // threads gets an evaluator and a builder of its own, ThreadSplit.StoreAllParallel).
    private LlvmBuilder _b => _ev.B;

    private ScalarEmitter _s => _ev.Scalars;

    private IReadOnlyDictionary<Value, Tensor> _constants => _ev.Constants;

    /// <summary>
    /// Emits <c>define internal i32 @name(ptr out..., ptr in..., ptr scratch, i32 threads)</c> computing
    /// <paramref name="outputs"/> from <paramref name="inputs"/> through <paramref name="ops"/> (in order,
    /// without a terminator); it returns 0 (a collective's failure: its status), and how many bytes of
    /// <c>scratch</c> it uses.
    /// <paramref name="constants"/> gives the contents of inputs that are compile-time constants;
    /// <paramref name="outputsOverwriteInputs"/> as in <see cref="IHostKernels.Emit"/>.
    /// </summary>
    public static long Emit(ModuleContext module, string name, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor>? constants = null, bool outputsOverwriteInputs = false, ConvolutionAlgorithm convolution = ConvolutionAlgorithm.Auto)
    {
        var k = new KernelEmitter(module, name, inputs, ops, constants) { _convolution = convolution };
        var parameters = new List<string>();
        for (int i = 0; i < outputs.Count; i++) parameters.Add($"ptr noalias %out{i}");
        for (int i = 0; i < inputs.Count; i++) parameters.Add($"ptr noalias %in{i}");
        parameters.Add("ptr noalias %scratch");
        parameters.Add("i32 %threads");

        var written = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        var steps = KernelPlan.Steps(ops, outputs, outputsOverwriteInputs);
        foreach (var step in steps)
        {
            var op = step.Op;
            switch (step.Kind)
            {
                case StepKind.Gemm or StepKind.Conv:
                {
                    var dest = step.IntoOutput ? new KernelBuffer("%out0", op.Result.Type) : new KernelBuffer(k.Malloc(op.Result.Type), op.Result.Type);
                    if (step.IntoOutput && ReferenceEquals(outputs[0], op.Result)) written.Add(op.Result);
                    k._ev.NextElement();
                    k._ev.SetBuffer(op.Result, dest);
                    // The last step of a group whose only output is an elementwise epilogue of it, rewriting it in
                    // place: the GEMM applies the epilogue to each block of C as it completes (still in cache).
                    k._epilogue = step.IntoOutput && ReferenceEquals(step, steps[^1]) && !written.Contains(outputs[0]) ? outputs[0] : null;
                    k._epilogueApplied = false;
                    if (step.Gemm is { } gemm) k.Gemm(op, gemm, dest);
                    else k.Conv(op, step.Conv!, dest);
                    if (k._epilogueApplied) written.Add(outputs[0]);
                    k._epilogue = null;
                    break;
                }
                case StepKind.Whole:
                {
                    var dests = new KernelBuffer[op.Results.Length];
                    for (int i = 0; i < dests.Length; i++)
                    {
                        var r = op.Results[i];
                        dests[i] = step.IntoOutput ? new KernelBuffer($"%out{i}", r.Type) : new KernelBuffer(k.Malloc(r.Type), r.Type);
                        if (step.IntoOutput) written.Add(r);
                        else k._ev.SetBuffer(r, dests[i]);
                    }
                    k._ev.NextElement();
                    k.EmitWhole(op, dests);
                    break;
                }
                default:
                {
                    var scratch = new KernelBuffer(k.Malloc(op.Result.Type), op.Result.Type);
                    k.StoreAll(scratch, op.Result);
                    k._ev.SetBuffer(op.Result, scratch);
                    break;
                }
            }
        }
        // A single output whose loop nest would read memory across its rows gets a loop order of its own. Both orders
        // write the output before the kernel has read all of its inputs, so not where the output may be an input's buffer.
        if (outputs.Count == 1 && !outputsOverwriteInputs && !written.Contains(outputs[0]) && k.StoreReordered(outputs[0]))
            written.Add(outputs[0]);
        // One loop nest per output shape: outputs of one shape share it (and their common subexpressions).
        var groups = Enumerable.Range(0, outputs.Count).Where(i => !written.Contains(outputs[i]))
            .GroupBy(i => outputs[i].Type.ShapeString);
        foreach (var g in groups)
            ThreadSplit.StoreAllParallel(k._ev, name, g.First(), [.. g.Select(i => (new KernelBuffer($"%out{i}", outputs[i].Type), outputs[i]))],
                ops.Count, k._extraFunctions);
        k._b.Line("ret i32 0");
        module.AddFunction($"define internal i32 @{name}({string.Join(", ", parameters)}) nounwind {{\n{k._b.Body()}}}");
        foreach (var f in k._extraFunctions) module.AddFunction(f);
        return k._scratchBytes;
    }

    private ConvolutionAlgorithm _convolution;

    /// <summary>
    /// Stores <paramref name="output"/> (into <c>%out0</c>) in a loop order other than the output's when it is a
    /// reduction along memory's rows (Kernels/ColumnReduce.cs) or an NCHW → NHWC transpose (Kernels/TransposedStore.cs);
    /// false when it is neither.
    /// </summary>
    private bool StoreReordered(Value output)
    {
        var dest = new KernelBuffer("%out0", output.Type);
        if (IsColumnReduction(output, out var reduce)) ColumnReduce(dest, reduce);
        else if (IsChannelsLastTranspose(output, out var transpose)) ChannelsLastStore(dest, transpose);
        else return false;
        return true;
    }

    /// <summary>
    /// While the last GEMM or convolution step of a kernel is emitted: the output that is an elementwise epilogue
    /// of it in place, for a GEMM writing C = that output's rows to apply block by block. A GEMM that does so
    /// sets <see cref="_epilogueApplied"/>, and the kernel's final loop skips the output.
    /// </summary>
    private Value? _epilogue;
    private bool _epilogueApplied;
    private readonly List<string> _extraFunctions = [];

    /// <summary>
    /// Room for a <paramref name="t"/> in the caller's scratch: the next cache-line-aligned bytes of <c>%scratch</c>.
    /// The arena is reused call after call, so temporaries cost no allocation and no page faults per call
    /// (freshly mapped pages are zeroed by the kernel on first touch, a large share of a convolution's time).
    /// </summary>
    private string Malloc(TensorType t) => Scratch(t.ByteSize);

    private string Scratch(long bytes)
    {
        long at = _scratchBytes;
        _scratchBytes = checked(at + Math.Max((bytes + ScratchAlignment - 1) / ScratchAlignment * ScratchAlignment, ScratchAlignment));
        return _b.Let($"getelementptr inbounds i8, ptr %scratch, i64 {at}", "scratch");
    }

    /// <summary>Each temporary starts on a cache line (the arena's alignment), as aligned vector code expects.</summary>
    private const long ScratchAlignment = GraphCompiler.Runtime.Abi.ArenaAlignment;

    /// <summary>
    /// Runs <paramref name="body"/> for rows 0..<paramref name="rows"/> split over the threads the copy pays for
    /// (<paramref name="floatsPerRow"/> stored per row), in a function of its own that gets <paramref name="pointers"/>.
    /// </summary>
    private void RowsInParallel(string what, long rows, long floatsPerRow, string[] pointers, Action<LlvmBuilder, string, string[]> body)
    {
        var fn = $"{_name}.{what}{_extraFunctions.Count}";
        var ctx = _b.Alloca($"[{pointers.Length} x ptr]");
        for (int i = 0; i < pointers.Length; i++)
            _b.Line($"store ptr {pointers[i]}, ptr {_b.Let($"getelementptr inbounds ptr, ptr {ctx}, i64 {i}", "slot")}");
        Parallel.Split(_b, _module, $"@{fn}", ctx, Parallel.Threads(_b, rows * floatsPerRow * Parallel.ElementMoveCost, rows), rows);

        var b = new LlvmBuilder();
        var p = pointers.Select((_, i) => b.Let($"load ptr, ptr {b.Let($"getelementptr inbounds ptr, ptr %ctx, i64 {i}", "slot")}", "p")).ToArray();
        var (lo, hi) = Parallel.PartRows(b, rows);
        b.For(lo, hi, r => body(b, r, p), what);
        b.Line("ret void");
        _extraFunctions.Add($"define internal void @{fn}(ptr noalias %ctx, {Parallel.PartParameters}) nounwind {{\n{b.Body()}}}");
    }

    // ---- the element evaluator and memory, as the GEMM, convolution and whole-op kernels use them -----

    private void StoreAll(KernelBuffer dest, Value v) => ThreadSplit.StoreAll(_ev, dest, v);

    private string At(Value v, IReadOnlyList<string> idx) => _ev.Element(v, idx);

    private string Load(string pointer, ElementType e, string linear) => _ev.Memory.Load(pointer, e, linear);

    private void Store(KernelBuffer dest, string linear, string x) => _ev.Memory.Store(dest, linear, x);

    private string Ravel(IReadOnlyList<string> idx, ImmutableArray<long> shape) => _ev.Memory.Ravel(idx, shape);

    private void ForEachIndex(ImmutableArray<long> shape, Action<string[]> body) => _ev.ForEachIndex(shape, body);
}
