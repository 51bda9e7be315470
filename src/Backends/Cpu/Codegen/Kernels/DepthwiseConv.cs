using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// f32 depthwise convolution on NHWC (MobileNet, ShuffleNet): one filter per channel, so there is no
/// reduction over channels to hand to a GEMM, and im2col would copy KH·KW times the input for a handful of
/// multiply-adds per element. Instead each output position keeps a vector of channels in registers and
/// accumulates the KH·KW taps straight from the input (channels are contiguous in both input and filter),
/// with the taps that fall into the padding skipped. Threads split the output rows (image, oh).
/// </summary>
internal sealed partial class KernelEmitter
{
    /// <summary>The shape of a depthwise convolution: input [b, ih, iw, c], filter [kh, kw, 1, c], output [b, oh, ow, c].</summary>
    internal sealed record DepthwisePlan(long Batch, long IH, long IW, long C, long OH, long OW, long KH, long KW,
        long SH, long SW, long PH, long PW, long DH, long DW);

    /// <summary>A depthwise convolution this kernel handles: 2-D, NHWC/HWIO, one input channel per group, multiplier 1.</summary>
    private static DepthwisePlan? PlanDepthwise(Operation op, ConvLayout L, long groups, long[] strides, long[] padLow, long[] dilation)
    {
        if (L.SpatialCount != 2 || L.InBatch != 0 || L.InSpatial[0] != 1 || L.InSpatial[1] != 2 || L.InFeature != 3) return null;
        if (L.KernelSpatial[0] != 0 || L.KernelSpatial[1] != 1 || L.KernelIn != 2 || L.KernelOut != 3) return null;
        if (L.OutBatch != 0 || L.OutSpatial[0] != 1 || L.OutSpatial[1] != 2 || L.OutFeature != 3) return null;
        var (x, w, y) = (op.Operands[0].Type.Shape, op.Operands[1].Type.Shape, op.Result.Type.Shape);
        if (w[2] != 1 || groups != x[3] || w[3] != x[3]) return null;
        return new DepthwisePlan(x[0], x[1], x[2], x[3], y[1], y[2], w[0], w[1], strides[0], strides[1], padLow[0], padLow[1], dilation[0], dilation[1]);
    }

    /// <summary>Channel vectors per output position in the main loop: 4 independent FMA chains cover the FMA latency.</summary>
    private const int BlockVectors = 4;

    private void DepthwiseConv(Operation op, DepthwisePlan d, KernelBuffer dest)
    {
        if (d.Batch == 0 || d.OH == 0 || d.OW == 0 || d.C == 0) return;
        var inPtr = Materialise(op.Operands[0]);
        var wPtr = Materialise(op.Operands[1]);
        long rows = d.Batch * d.OH;
        var body = $"{_name}.depthwise{_extraFunctions.Count}";
        var threads = Parallel.Threads(_b, rows * d.OW * d.C * d.KH * d.KW, rows);
        var ctx = _b.Alloca("[3 x ptr]");
        _b.Line($"store ptr {inPtr}, ptr {ctx}");
        _b.Line($"store ptr {wPtr}, ptr {_b.Let($"getelementptr inbounds ptr, ptr {ctx}, i64 1", "slot")}");
        _b.Line($"store ptr {dest.Pointer}, ptr {_b.Let($"getelementptr inbounds ptr, ptr {ctx}, i64 2", "slot")}");
        Parallel.Split(_b, _module, $"@{body}", ctx, threads, rows);

        int lanes = _module.Lanes;
        var vt = $"<{lanes} x float>";
        _module.Declare($"declare {vt} @llvm.fma.v{lanes}f32({vt}, {vt}, {vt})");
        _module.Declare("declare float @llvm.fma.f32(float, float, float)");
        var b = new LlvmBuilder();
        b.Line("%src = load ptr, ptr %ctx");
        b.Line($"%wts = load ptr, ptr {b.Let("getelementptr inbounds ptr, ptr %ctx, i64 1", "slot")}");
        b.Line($"%dst = load ptr, ptr {b.Let("getelementptr inbounds ptr, ptr %ctx, i64 2", "slot")}");
        var (lo, hi) = Parallel.PartRows(b, rows);
        long blockEnd = d.C / (BlockVectors * lanes) * (BlockVectors * lanes), vectorEnd = d.C / lanes * lanes;

        // One output position: `count` runs of `width` channels from c0 (a vector each, or one float), accumulated
        // over the taps inside the image. Several vectors per position share the index arithmetic and the padding
        // checks, and give the core independent multiply-add chains.
        void Position(string img, string oh, string ow, string c0, int width, int count)
        {
            var type = width == 1 ? "float" : vt;
            var zero = width == 1 ? "0.0" : "zeroinitializer";
            var fma = width == 1 ? "@llvm.fma.f32" : $"@llvm.fma.v{lanes}f32";
            var acc = Enumerable.Range(0, count).Select(_ => b.Alloca(type)).ToArray();
            foreach (var a in acc) b.Line($"store {type} {zero}, ptr {a}");
            b.For("0", $"{d.KH}", kh =>
            {
                var ih = b.Let($"add i64 {b.Let($"sub i64 {b.Let($"mul i64 {oh}, {d.SH}")}, {d.PH}")}, {b.Let($"mul i64 {kh}, {d.DH}")}", "ih");
                var (rowIn, rowNext) = (b.FreshLabel("dw.row"), b.FreshLabel("dw.rownext"));
                b.CondBr(b.Let($"icmp ult i64 {ih}, {d.IH}", "in"), rowIn, rowNext);
                b.Block(rowIn);
                var line = b.Let($"mul i64 {b.Let($"add i64 {b.Let($"mul i64 {img}, {d.IH}")}, {ih}")}, {d.IW}", "line");
                b.For("0", $"{d.KW}", kw =>
                {
                    var iw = b.Let($"add i64 {b.Let($"sub i64 {b.Let($"mul i64 {ow}, {d.SW}")}, {d.PW}")}, {b.Let($"mul i64 {kw}, {d.DW}")}", "iw");
                    var (tap, next) = (b.FreshLabel("dw.tap"), b.FreshLabel("dw.next"));
                    b.CondBr(b.Let($"icmp ult i64 {iw}, {d.IW}", "in"), tap, next);
                    b.Block(tap);
                    var xRow = b.Let($"getelementptr inbounds float, ptr %src, i64 {b.Let($"add i64 {b.Let($"mul i64 {b.Let($"add i64 {line}, {iw}")}, {d.C}")}, {c0}", "xat")}", "p");
                    var wRow = b.Let($"getelementptr inbounds float, ptr %wts, i64 {b.Let($"add i64 {b.Let($"mul i64 {b.Let($"add i64 {b.Let($"mul i64 {kh}, {d.KW}")}, {kw}")}, {d.C}")}, {c0}", "wat")}", "p");
                    for (int v = 0; v < count; v++)
                    {
                        var xv = b.Let($"load {type}, ptr {b.Let($"getelementptr inbounds float, ptr {xRow}, i64 {v * width}", "p")}, align 4", "x");
                        var wv = b.Let($"load {type}, ptr {b.Let($"getelementptr inbounds float, ptr {wRow}, i64 {v * width}", "p")}, align 4", "w");
                        var sum = b.Let($"call {type} {fma}({type} {xv}, {type} {wv}, {type} {b.Let($"load {type}, ptr {acc[v]}", "acc")})", "acc");
                        b.Line($"store {type} {sum}, ptr {acc[v]}");
                    }
                    b.Br(next);
                    b.Block(next);
                }, "kw");
                b.Br(rowNext);
                b.Block(rowNext);
            }, "kh");
            var outAt = b.Let($"add i64 {b.Let($"mul i64 {b.Let($"add i64 {b.Let($"mul i64 {b.Let($"add i64 {b.Let($"mul i64 {img}, {d.OH}")}, {oh}")}, {d.OW}")}, {ow}")}, {d.C}")}, {c0}", "oat");
            var outRow = b.Let($"getelementptr inbounds float, ptr %dst, i64 {outAt}", "p");
            for (int v = 0; v < count; v++)
                b.Line($"store {type} {b.Let($"load {type}, ptr {acc[v]}", "acc")}, ptr {b.Let($"getelementptr inbounds float, ptr {outRow}, i64 {v * width}", "p")}, align 4");
        }

        b.For(lo, hi, row =>
        {
            var img = b.Let($"udiv i64 {row}, {d.OH}", "img");
            var oh = b.Let($"urem i64 {row}, {d.OH}", "oh");
            b.For("0", $"{d.OW}", ow =>
            {
                if (blockEnd > 0) b.For("0", $"{blockEnd}", c0 => Position(img, oh, ow, c0, lanes, BlockVectors), "cb", step: $"{BlockVectors * lanes}");
                if (vectorEnd > blockEnd) b.For($"{blockEnd}", $"{vectorEnd}", c0 => Position(img, oh, ow, c0, lanes, 1), "cv", step: $"{lanes}");
                if (vectorEnd < d.C) b.For($"{vectorEnd}", $"{d.C}", c => Position(img, oh, ow, c, 1, 1), "cs");
            }, "ow");
        }, "row");
        b.Line("ret void");
        _extraFunctions.Add($"define internal void @{body}(ptr noalias %ctx, {Parallel.PartParameters}) nounwind {{\n{b.Body()}}}");
    }
}
