using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// A pointwise convolution of one image whose NHWC input this kernel computes as the transpose of an NCHW value
/// (<c>fuse</c>'s <see cref="GraphCompiler.Passes.FusionCostModel.ComputedConvolutionInputs"/>: DenseNet's batch norm and
/// ReLU of each concatenation): the GEMM computes A while it packs it (<see cref="GemmHelpers.Field.PackA"/>), reading the
/// NCHW planes along positions, so the transposed input is never written and read back. Materialised, that copy (a
/// blocked transpose, <see cref="ChannelsLastStore"/>) was 6–8 % of DenseNet-121's time: it waited on memory.
/// </summary>
internal sealed partial class KernelEmitter
{
    /// <summary>
    /// How many channel planes ahead the packing prefetches its run of positions. DenseNet-121, one thread, `ab` against
    /// none: 2 planes −1 %; 4 against 2: −0.7 to −2 %; 8 against 4: +0.4 to +1.7 %.
    /// </summary>
    private const int PrefetchPlanesAhead = 4;

    private const int CacheLineFloats = 16;

    /// <summary>The transpose computing <paramref name="input"/> when <paramref name="p"/> can pack it computed (see the class).</summary>
    private Operation? ComputedInputTranspose(ConvPlan p, Value input, long batch)
    {
        if (p.FeatureFirst || !p.Pointwise || p.Groups != 1 || batch != 1 || _ev.TryGetBuffer(input, out _)) return null;
        if (_ev.DefinitionOf(input) is not { Def: TransposeOp } t || !IsChannelsLastTranspose(input, out _)) return null;
        return t;
    }

    /// <summary>
    /// C[position, o] = Σ_c y[0, c, position]·W[c, o] with y the transpose's NCHW operand, evaluated per element while
    /// packing: <c>@kernel.packaN(ctx, dst, m0, k0, mc, kc)</c> writes rows m0.. and channels k0.. of A in the worker's
    /// panel layout (panels of MR rows, the last shorter; element (i, k) of a panel at k·rows + i), channels outermost:
    /// each plane is read along the block's whole run of positions (mc floats), not a panel's MR.
    /// </summary>
    private void ConvComputedInput(Operation transpose, string packed, KernelBuffer dest, long cin, long cout, GemmShape g)
    {
        var y = transpose.Operands[0];
        long w = y.Type.Shape[3], positions = y.Type.Shape[2] * w;
        var (ctx, part) = ThreadSplit.Fork(_ev, []);
        var fn = $"{_name}.packa{_extraFunctions.Count}";
        var b = part.B;
        var panels = b.Let($"udiv i64 {b.Let($"add i64 %mc, {g.MR - 1}")}, {g.MR}", "panels");
        // The inputs laid out as y (whole NCHW tensors, as the concatenation is): the planes to prefetch.
        var planes = part.Buffers.Where(x => x.Type.Element == ElementType.F32 && x.Type.Shape.SequenceEqual(y.Type.Shape)).Select(x => x.Pointer).Distinct().ToList();
        if (planes.Count > 0) _module.Declare("declare void @llvm.prefetch.p0(ptr, i32, i32, i32)");
        var lines = b.Let($"udiv i64 {b.Let($"add i64 %mc, {CacheLineFloats - 1}")}, {CacheLineFloats}", "lines");
        b.For("0", "%kc", k =>
        {
            var c = b.Let($"add i64 %k0, {k}", "c");
            // This block's run of a plane a few channels ahead: the runs are mc floats of planes a whole plane apart,
            // too short for the hardware's stream prefetch to run ahead.
            var ahead = b.Let($"add i64 {b.Let($"mul i64 {b.Let($"add i64 {c}, {PrefetchPlanesAhead}")}, {positions}")}, %m0", "ahead");
            foreach (var plane in planes)
                b.For("0", lines, l =>
                    // Not inbounds: past the last plane the address is outside the buffer, where a prefetch may point.
                    b.Line($"call void @llvm.prefetch.p0(ptr {b.Let($"getelementptr float, ptr {plane}, i64 {b.Let($"add i64 {ahead}, {b.Let($"mul i64 {l}, {CacheLineFloats}")}")}", "p")}, i32 0, i32 3, i32 1)"), "pl");
            b.For("0", panels, q =>
            {
                var p0 = b.Let($"mul i64 {q}, {g.MR}", "p0");
                var left = b.Let($"sub i64 %mc, {p0}", "left");
                var rows = b.Let($"select i1 {b.Let($"icmp ult i64 {left}, {g.MR}")}, i64 {left}, i64 {g.MR}", "rows");
                var row = b.Let($"getelementptr inbounds float, ptr %dst, i64 {b.Let($"add i64 {b.Let($"mul i64 {p0}, %kc")}, {b.Let($"mul i64 {k}, {rows}")}")}", "row");
                var first = b.Let($"add i64 %m0, {p0}", "pos0");
                b.For("0", rows, i =>
                {
                    part.NextElement();
                    var pos = b.Let($"add i64 {first}, {i}", "pos");
                    var v = part.Element(y, ["0", c, b.Let($"udiv i64 {pos}, {w}", "h"), b.Let($"urem i64 {pos}, {w}", "w")]);
                    b.Line($"store float {v}, ptr {b.Let($"getelementptr inbounds float, ptr {row}, i64 {i}", "p")}");
                }, "pi", _module.NoUnrollLoop());
            }, "pq");
        }, "pk");
        b.Line("ret void");
        _extraFunctions.Add($"define internal void @{fn}(ptr noalias %ctx, ptr noalias %dst, i64 %m0, i64 %k0, i64 %mc, i64 %kc) nounwind {{\n{b.Body()}}}");
        CallGemm(new GemmCall("null", cin, 1, 0, "null", 0, 0, 0, packed, dest.Pointer, cout, 0, 1, positions, cout, cin,
            PackA: $"@{fn}", PackACtx: ctx));
    }
}
