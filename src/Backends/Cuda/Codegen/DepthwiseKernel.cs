using System.Globalization;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// A depthwise convolution (one input feature per group: MobileNet's and ShuffleNet's 3×3s, EfficientNet's 5×5s) and the
/// elementwise ops fused after it, as a direct kernel that reuses what it loads. A tensor core has nothing to do here (each
/// output feature reads one input feature: K is the window, 9), so the cost is loads: the one-thread-per-output kernel
/// loads every input element once per window position covering it, and the weights once per output. Here a thread
/// computes <c>vector</c> consecutive features (one 16-byte load of each: 4 of f32, 8 of bf16/f16, where the features are
/// innermost and a multiple of that: NHWC, the layout pass's choice) at <c>strip</c> consecutive positions along the last spatial dimension:
/// for each row of the window it loads the row's weights once and each input column the strip's windows share once
/// ((strip − 1)·stride + (window − 1)·dilation + 1 columns for strip·window products: 6 loads for 12 at 3×3, stride 1,
/// strip 4), accumulating in f32 registers (fma). The window is unrolled; padding reads a clamped address and selects
/// zero, so the body has no branches but the stores of a strip that runs past the edge.
/// </summary>
internal static class DepthwiseKernel
{
    public const int Block = 256;

    /// <summary>Bytes of one vector load: a thread computes as many consecutive features as fit (4 of f32, 8 of bf16/f16).</summary>
    public const int VectorBytes = 16;

    /// <summary>Positions along the last spatial dimension a thread may compute: 4 (a 3×3, stride-1 strip loads half the columns).</summary>
    public const int MaxStrip = 4;

    /// <summary>Input loads the unrolled window may have (rows × columns); larger windows stay one thread per output, a loop each.</summary>
    public const int MaxUnrolledLoads = 256;

    /// <summary>
    /// The depthwise convolution of an output fusion this kernel computes: one convolution, its operands read straight from
    /// the fusion's inputs and one output of its shape; one input feature per group (any channel multiplier), one batch group,
    /// no input dilation, f32/f16/bf16, a window small enough to unroll (<see cref="MaxUnrolledLoads"/>).
    /// </summary>
    public static Operation? Convolution(IReadOnlyList<Operation> ops, IReadOnlyList<Value> inputs, IReadOnlyList<Value> outputs)
    {
        if (ops.Count(o => o.Def is ConvolutionOp) != 1) return null;
        var conv = ops.Single(o => o.Def is ConvolutionOp);
        var a = conv.Attr;
        var (L, w) = ConvolutionOp.Geometry(conv);
        if (a.Int("batch_group_count") != 1 || !w.LhsDilation.All(d => d == 1)) return null;
        var (input, kernel) = (conv.Operands[0].Type, conv.Operands[1].Type);
        long groups = a.Int("feature_group_count");
        if (L.SpatialCount == 0 || groups == 1 || kernel.Shape[L.KernelIn] != 1 || input.Shape[L.InFeature] != groups) return null;
        if (!conv.Operands.Append(conv.Result).All(v => v.Type.Element is ElementType.F32 or ElementType.F16 or ElementType.BF16)) return null;
        if (!conv.Operands.All(inputs.Contains) || outputs.Count != 1 || !outputs[0].Type.Shape.SequenceEqual(conv.Result.Type.Shape)) return null;
        if (conv.Result.Type.ElementCount == 0) return null;
        return Describe(conv, strip: 1, vector: 1).Loads <= MaxUnrolledLoads ? conv : null;
    }

    /// <summary>The geometry of one depthwise convolution as a thread computes it.</summary>
    private sealed record Geometry(ConvLayout L, long[] Strides, long[] PadLow, long[] Dilation, long[] Window, long Multiplier, int Strip, int Vector)
    {
        public int Last => L.SpatialCount - 1;

        /// <summary>Column offsets (from the strip's first window's first column) the strip's windows read, each once.</summary>
        public long[] Columns => [.. Enumerable.Range(0, Strip).SelectMany(t => Enumerable.Range(0, (int)Window[Last]).Select(j => t * Strides[Last] + j * Dilation[Last])).Distinct().Order()];

        /// <summary>Rows: the window positions of the spatial dimensions before the last.</summary>
        public long Rows => Window.Take(Last).Aggregate(1L, (p, w) => p * w);

        public long Loads => Rows * Columns.Length;
    }

    private static Geometry Describe(Operation conv, int strip, int vector)
    {
        var (L, w) = ConvolutionOp.Geometry(conv);
        var kernel = conv.Operands[1].Type;
        return new(L, w.Strides, w.PadLow, w.RhsDilation, [.. L.KernelSpatial.Select(d => kernel.Shape[d])],
            kernel.Shape[L.KernelOut] / conv.Attr.Int("feature_group_count"), strip, vector);
    }

    /// <summary>Whether dimension <paramref name="d"/> is the innermost of <paramref name="t"/> (stride 1).</summary>
    private static bool Innermost(TensorType t, int d) => d == t.Rank - 1;

    /// <summary>
    /// Features per thread: as many as one <see cref="VectorBytes"/> load of the wider operand holds (4 of f32, 8 of 16-bit
    /// operands), else 4, where every operand holds the features innermost, they divide by it, and each output feature
    /// reads the input feature of the same index (multiplier 1); else 1.
    /// </summary>
    private static int VectorOf(Operation conv, Geometry g)
    {
        var (input, kernel, output) = (conv.Operands[0].Type, conv.Operands[1].Type, conv.Result.Type);
        bool contiguous = Innermost(input, g.L.InFeature) && Innermost(kernel, g.L.KernelOut) && Innermost(output, g.L.OutFeature);
        if (!contiguous || g.Multiplier != 1) return 1;
        int widest = VectorBytes / Math.Max(input.Element.ByteSize(), kernel.Element.ByteSize());
        return new[] { widest, 4 }.FirstOrDefault(v => output.Shape[g.L.OutFeature] % v == 0, 1);
    }

    /// <summary>
    /// The strip: the longest of 4, 2, 1 whose threads still fill the GPU (every multiprocessor at its full complement of
    /// resident threads), since a longer strip trades parallelism for reuse; and no longer than the last dimension's output.
    /// </summary>
    private static int StripOf(Operation conv, Geometry g, CudaTarget target)
    {
        var output = conv.Result.Type;
        long across = output.Shape[g.L.OutSpatial[g.Last]];
        long others = output.ElementCount / across / g.Vector;
        long fill = (long)target.Multiprocessors * target.ResidentThreadsPerMultiprocessor;
        for (int strip = MaxStrip; strip > 1; strip /= 2)
        {
            var candidate = g with { Strip = strip };
            if (strip <= across && others * ((across + strip - 1) / strip) >= fill && candidate.Loads <= MaxUnrolledLoads) return strip;
        }
        return 1;
    }

    public static GpuKernel Emit(DeviceModule m, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, IReadOnlyList<Value> outerOutputs, IReadOnlyList<Value> outerInputs, Operation conv)
    {
        var g = Describe(conv, 1, 1);
        g = g with { Vector = VectorOf(conv, g) };
        g = g with { Strip = StripOf(conv, g, m.Target) };
        var (L, last, vec, strip) = (g.L, g.Last, g.Vector, g.Strip);
        var (input, kernel, result) = (conv.Operands[0].Type, conv.Operands[1].Type, conv.Result.Type);
        var name = m.NextName("depthwise");
        var mc = m.Context;
        var b = new LlvmBuilder();
        var ev = new ElementEvaluator(mc, b, inputs.Select((v, i) => (v, $"%p{outputs.Count + i}")), ops, constants, KernelElementOps.Instance);
        string Ptr(Value v) => $"%p{outputs.Count + inputs.ToList().IndexOf(v)}";
        string I(long x) => x.ToString(CultureInfo.InvariantCulture);
        mc.Declare("declare float @llvm.fma.f32(float, float, float)");

        // The thread's (batch, leading output positions, strip, feature vector), features fastest: a warp reads 32 vectors
        // of consecutive features, 512 contiguous bytes of f32 NHWC.
        long features = result.Shape[L.OutFeature], across = result.Shape[L.OutSpatial[last]];
        long strips = (across + strip - 1) / strip;
        var leading = L.OutSpatial.Take(last).Select(d => result.Shape[d]).ToArray();
        long threads = result.Shape[L.OutBatch] * leading.Aggregate(1L, (p, s) => p * s) * strips * (features / vec);
        var (linear, exit) = Sreg.GuardedThread(mc, b, Block, threads, "thread", "dw");
        var rest = linear;
        string Next(long extent, string hint)
        {
            var part = b.Let($"urem i64 {rest}, {I(extent)}", hint);
            rest = b.Let($"udiv i64 {rest}, {I(extent)}", "rest");
            return part;
        }
        var feature0 = b.Let($"mul nuw nsw i64 {Next(features / vec, "fv")}, {vec}", "f0");
        var position0 = b.Let($"mul nuw nsw i64 {Next(strips, "strip")}, {strip}", "w0");
        var outLeading = new string[last];
        for (int s = last - 1; s >= 0; s--) outLeading[s] = Next(leading[s], $"o{s}");
        var batch = rest;

        long Stride(TensorType t, int d) => t.Shape.Skip(d + 1).Aggregate(1L, (p, s) => p * s);
        string Mul(string x, long k) => k == 1 ? x : b.Let($"mul nsw i64 {x}, {I(k)}");
        string Add(string x, string y) => b.Let($"add nsw i64 {x}, {y}");
        // Output feature f reads input feature f / multiplier (its group's one feature).
        var inFeature = g.Multiplier == 1 ? feature0 : b.Let($"udiv i64 {feature0}, {I(g.Multiplier)}", "fi");
        var inBase = Add(Mul(batch, Stride(input, L.InBatch)), Mul(inFeature, Stride(input, L.InFeature)));
        var kBase = Mul(feature0, Stride(kernel, L.KernelOut));
        string LoadVector(Value operand, string linearIndex, string? valid)
        {
            var e = operand.Type.Element;
            var mt = LlvmTypes.Memory(e);
            var p = b.Let($"getelementptr inbounds {mt}, ptr {Ptr(operand)}, i64 {linearIndex}", "p");
            var vt = $"<{vec} x {mt}>";
            var raw = vec == 1 ? b.Let($"load {mt}, ptr {p}", "x") : b.Let($"load {vt}, ptr {p}, align {vec * e.ByteSize()}", "x");
            var wide = e switch
            {
                ElementType.F16 => b.Let(vec == 1 ? $"fpext half {raw} to float" : $"fpext {vt} {raw} to <{vec} x float>"),
                ElementType.BF16 => vec == 1 ? ev.Memory.BFloatToFloat(raw) : WidenBFloat(b, raw, vec),
                _ => raw,
            };
            return valid is null ? wide : vec == 1
                ? b.Let($"select i1 {valid}, float {wide}, float 0.0")
                : b.Let($"select i1 {valid}, <{vec} x float> {wide}, <{vec} x float> zeroinitializer");
        }
        string Lane(string v, int i) => vec == 1 ? v : b.Let($"extractelement <{vec} x float> {v}, i64 {i}");

        var acc = new string[strip, vec];
        for (int t = 0; t < strip; t++) for (int i = 0; i < vec; i++) acc[t, i] = "0.0";
        var columns = g.Columns;
        // The strip's first window starts at column w0·stride − pad (position o reads o·stride − pad + j·dilation).
        var column0 = b.Let($"sub nsw i64 {Mul(position0, g.Strides[last])}, {I(g.PadLow[last])}", "c0");
        var inColumnStride = Stride(input, L.InSpatial[last]);
        for (long row = 0; row < g.Rows; row++)
        {
            // The row's window position in each leading dimension, and whether the input row it reads is inside.
            var windowAt = new long[last];
            for (int s = last - 1, r = (int)row; s >= 0; s--) { windowAt[s] = r % g.Window[s]; r /= (int)g.Window[s]; }
            string? rowValid = null;
            var rowBase = inBase;
            var kRow = kBase;
            for (int s = 0; s < last; s++)
            {
                var pos = b.Let($"add nsw i64 {Mul(outLeading[s], g.Strides[s])}, {I(windowAt[s] * g.Dilation[s] - g.PadLow[s])}", "pos");
                var inside = b.Let($"icmp ult i64 {pos}, {I(input.Shape[L.InSpatial[s]])}");
                rowValid = rowValid is null ? inside : b.Let($"and i1 {rowValid}, {inside}");
                rowBase = Add(rowBase, Mul(b.Let($"select i1 {inside}, i64 {pos}, i64 0", "ix"), Stride(input, L.InSpatial[s])));
                kRow = b.Let($"add nsw i64 {kRow}, {I(windowAt[s] * Stride(kernel, L.KernelSpatial[s]))}");
            }
            // The row's weights, one vector per window column, loaded once for the strip.
            var weights = new string[g.Window[last]];
            for (int j = 0; j < weights.Length; j++)
                weights[j] = LoadVector(conv.Operands[1], b.Let($"add nsw i64 {kRow}, {I(j * Stride(kernel, L.KernelSpatial[last]))}"), null);
            foreach (var q in columns)
            {
                var col = b.Let($"add nsw i64 {column0}, {I(q)}", "col");
                var inside = b.Let($"icmp ult i64 {col}, {I(input.Shape[L.InSpatial[last]])}");
                var valid = rowValid is null ? inside : b.Let($"and i1 {rowValid}, {inside}");
                var at = Add(rowBase, Mul(b.Let($"select i1 {inside}, i64 {col}, i64 0", "ix"), inColumnStride));
                var x = LoadVector(conv.Operands[0], at, valid);
                // Every (position t, window column j) of the strip that reads column q: t·stride + j·dilation = q.
                for (int t = 0; t < strip; t++)
                {
                    long offset = q - t * g.Strides[last];
                    if (offset < 0 || offset % g.Dilation[last] != 0 || offset / g.Dilation[last] >= g.Window[last]) continue;
                    var w = weights[offset / g.Dilation[last]];
                    for (int i = 0; i < vec; i++)
                        acc[t, i] = b.Let($"call float @llvm.fma.f32(float {Lane(x, i)}, float {Lane(w, i)}, float {acc[t, i]})", "acc");
                }
            }
        }

        // The epilogue, element by element through the fusion's ops; a position past the edge computes at a clamped index
        // (a name of its own, so the evaluator keeps it apart) and stores nothing.
        var output = outputs[0];
        var featureAt = Enumerable.Range(0, vec).Select(i => i == 0 ? feature0 : b.Let($"add nuw nsw i64 {feature0}, {i}", "f")).ToArray();
        bool vectorStore = vec > 1 && output.Type.Element == ElementType.F32 && Innermost(output.Type, L.OutFeature);
        for (int t = 0; t < strip; t++)
        {
            var position = b.Let($"add nuw nsw i64 {position0}, {t}", "w");
            var inside = t == 0 ? null : b.Let($"icmp ult i64 {position}, {I(across)}");
            var clamped = inside is null ? position : b.Let($"select i1 {inside}, i64 {position}, i64 {I(across - 1)}", "w");
            var values = new string[vec];
            var linears = new string[vec];
            for (int i = 0; i < vec; i++)
            {
                var idx = new string[result.Rank];
                idx[L.OutBatch] = batch;
                for (int s = 0; s < last; s++) idx[L.OutSpatial[s]] = outLeading[s];
                idx[L.OutSpatial[last]] = clamped;
                idx[L.OutFeature] = featureAt[i];
                ev.Seed(conv.Result, idx, ev.Scalars.Convert(ElementType.F32, result.Element, acc[t, i]));
                values[i] = ev.Element(output, idx);
                linears[i] = ev.Memory.Ravel(idx, output.Type.Shape);
            }
            void Store()
            {
                if (vectorStore)
                {
                    var v = "undef";
                    for (int i = 0; i < vec; i++) v = b.Let($"insertelement <{vec} x float> {v}, float {values[i]}, i64 {i}", "vec");
                    b.Line($"store <{vec} x float> {v}, ptr {b.Let($"getelementptr inbounds float, ptr %p0, i64 {linears[0]}")}, align {vec * 4}");
                }
                else
                    for (int i = 0; i < vec; i++) ev.Memory.Store(new KernelBuffer("%p0", output.Type), linears[i], values[i]);
            }
            if (inside is null) Store();
            else b.If(inside, Store, "edge");
        }
        ev.ClearSeeds();
        b.Br(exit);
        b.Block(exit);
        b.Line("ret void");
        m.AddKernel(name, outerOutputs.Count + outerInputs.Count, b.Body());
        return new GpuKernel(name, Math.Max(1, (threads + Block - 1) / Block), 1, 1, Block, [.. outerOutputs, .. outerInputs]);
    }

    /// <summary>A vector of bfloat widened to float: each is the top half of its float's bits.</summary>
    private static string WidenBFloat(LlvmBuilder b, string raw, int vec)
    {
        var bits = b.Let($"bitcast <{vec} x bfloat> {raw} to <{vec} x i16>");
        var wide = b.Let($"shl <{vec} x i32> {b.Let($"zext <{vec} x i16> {bits} to <{vec} x i32>")}, {Splat(vec, "i32 16")}");
        return b.Let($"bitcast <{vec} x i32> {wide} to <{vec} x float>");
    }

    private static string Splat(int vec, string element) => "<" + string.Join(", ", Enumerable.Repeat(element, vec)) + ">";
}
