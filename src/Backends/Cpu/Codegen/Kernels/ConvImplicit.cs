using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// NHWC stride-1 convolution as an implicit GEMM: no patch matrix. The input is copied once into a
/// zero-padded buffer [batch, IHp, IWp, C]; then output position (oh, ow) of the padded grid is row
/// m = oh·IWp + ow of A, and kernel row kh's window is the KW·C floats at m·C + kh·IWp·C — one
/// <see cref="GemmHelpers.Field.SegK"/> segment per kernel row, read where it lies. The GEMM computes every
/// position of the padded width ("wide" rows; the KW − 1 past the image's right edge are discarded when the
/// valid ones are copied out), so the copies are one pass over the input and one over the output, where
/// im2col writes and reads KH·KW times the input.
/// </summary>
internal sealed partial class KernelEmitter
{
    /// <summary>The sizes of an implicit-GEMM convolution (2-D, NHWC/HWIO, one group, stride and dilation 1).</summary>
    internal sealed record ImplicitPlan(long IH, long IW, long C, long OH, long OW, long KH, long KW, long PH, long PW, long IHp, long IWp, long Cout);

    /// <summary>
    /// What one micro-kernel call costs beyond its k loop, in k steps: loading, adding and storing its C tile.
    /// Short K blocks pay it often — an implicit GEMM's segments are KW·C long (9 for a 3-channel image).
    /// </summary>
    private const double BlockOverheadSteps = 16;

    internal static ImplicitPlan? PlanImplicit(Operation op, ConvPlan p, GemmShape g) =>
        ImplicitShape(op, p) is { } w && ImplicitCost(w, op, g) < Im2colCost(p, g, w.Cout) ? w : null;

    /// <summary>A stride-1 NHWC convolution with a window and no negative padding, as an implicit GEMM; null otherwise.</summary>
    private static ImplicitPlan? ImplicitShape(Operation op, ConvPlan p)
    {
        if (p.Pointwise || RowsIm2col(op, p) is not { } r || r.SH != 1 || r.SW != 1 || r.KH * r.KW == 1) return null;
        long ihp = r.OH + r.KH - 1, iwp = r.OW + r.KW - 1;
        // Negative padding (a crop) or a high pad that the output does not need: leave to im2col.
        if (r.PH < 0 || r.PW < 0 || ihp < r.IH + r.PH || iwp < r.IW + r.PW) return null;
        return new ImplicitPlan(r.IH, r.IW, r.C, r.OH, r.OW, r.KH, r.KW, r.PH, r.PW, ihp, iwp, op.Result.Type.Shape[3]);
    }

    // The convolution algorithms' costs are relative to the direct convolution's multiply-adds. im2col stores each
    // of the M·K patch elements (ElementMoveCost operations) for N multiply-adds: 1 + ElementMoveCost / N. The
    // implicit GEMM computes the wide rows' discarded positions too: computed / valid. Each pays
    // BlockOverheadSteps per K block. (Zen 1, 3×3: 56×56×128 → 32 0.61×; 28×28×128 → 128 equal; 14×14×256 → 256
    // 1.10× and the benchmark CNN's 3- and 16-channel layers 1.19×, both left to im2col.)

    private static double Blocks(GemmShape g, long k)
    {
        double kc = GemmHelpers.BlockK(g, k);
        return (kc + BlockOverheadSteps) / kc;
    }

    private static double Im2colCost(ConvPlan p, GemmShape g, long cout) => (1 + (double)Parallel.ElementMoveCost / cout) * Blocks(g, p.K);

    private static double ImplicitCost(ImplicitPlan w, Operation op, GemmShape g)
    {
        long batch = op.Operands[0].Type.Shape[0];
        double computed = ((batch - 1) * w.IHp + w.OH) * (double)w.IWp, valid = batch * w.OH * (double)w.OW;
        return computed / valid * Blocks(g, w.KW * w.C);
    }

    private void ConvImplicit(ImplicitPlan w, string input, string packed, KernelBuffer dest, long batch)
    {
        long row = w.IWp * w.C;
        // The last wide rows read KW − 1 pixels past the last padded row: they only feed discarded columns.
        var padded = PadInput(input, batch, w.IH, w.IW, w.C, w.IHp, w.IWp, w.PH, w.PW, (w.KW - 1) * w.C);

        long rows = ((batch - 1) * w.IHp + w.OH) * w.IWp;
        var wide = Malloc(new TensorType(ElementType.F32, rows * w.Cout));
        CallGemm(new GemmCall(padded, w.C, 1, 0, "null", 0, 0, 0, packed, wide, w.Cout, 0, 1, rows, w.Cout, w.KH * w.KW * w.C,
            SegK: w.KW * w.C, SegStrideA: row));

        // Output row r (image r / OH, row r % OH) is the first OW positions of wide row (r / OH)·IHp + r % OH.
        RowsInParallel("crop", batch * w.OH, w.OW * w.Cout, [wide, dest.Pointer], (b, r, p) =>
        {
            var wrow = b.Let($"add i64 {r}, {b.Let($"mul i64 {b.Let($"udiv i64 {r}, {w.OH}")}, {w.IHp - w.OH}")}", "wrow");
            var to = b.Let($"getelementptr inbounds float, ptr {p[1]}, i64 {b.Let($"mul i64 {r}, {w.OW * w.Cout}")}", "to");
            var from = b.Let($"getelementptr inbounds float, ptr {p[0]}, i64 {b.Let($"mul i64 {wrow}, {w.IWp * w.Cout}")}", "from");
            b.Line($"call void @llvm.memcpy.p0.p0.i64(ptr {to}, ptr {from}, i64 {w.OW * w.Cout * 4}, i1 false)");
        });
    }

    /// <summary>
    /// A zero-padded copy of the NHWC <paramref name="input"/>: [batch, ihp, iwp, c] with the image at (ph, pw),
    /// zeros around it, and <paramref name="tail"/> zero floats after it. Split over threads by padded rows.
    /// </summary>
    private string PadInput(string input, long batch, long ih, long iw, long c, long ihp, long iwp, long ph, long pw, long tail)
    {
        _module.Declare("declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)");
        _module.Declare("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)");
        long row = iwp * c;
        var padded = Malloc(new TensorType(ElementType.F32, batch * ihp * row + tail));
        if (tail > 0)
            _b.Line($"call void @llvm.memset.p0.i64(ptr {_b.Let($"getelementptr inbounds float, ptr {padded}, i64 {batch * ihp * row}", "p")}, i8 0, i64 {tail * 4}, i1 false)");
        // Padded row r: zeros above and below the image, else zeros | the input row | zeros.
        RowsInParallel("pad", batch * ihp, row, [input, padded], (b, r, p) =>
        {
            var y = b.Let($"sub i64 {b.Let($"urem i64 {r}, {ihp}")}, {ph}", "ih");
            var to = b.Let($"getelementptr inbounds float, ptr {p[1]}, i64 {b.Let($"mul i64 {r}, {row}")}", "to");
            var (copy, zero, next) = (b.FreshLabel("pad.copy"), b.FreshLabel("pad.zero"), b.FreshLabel("pad.next"));
            b.CondBr(b.Let($"icmp ult i64 {y}, {ih}", "in"), copy, zero);
            b.Block(copy);
            var src = b.Let($"add i64 {b.Let($"mul i64 {b.Let($"udiv i64 {r}, {ihp}")}, {ih}")}, {y}", "src");
            var from = b.Let($"getelementptr inbounds float, ptr {p[0]}, i64 {b.Let($"mul i64 {src}, {iw * c}")}", "from");
            if (pw > 0) b.Line($"call void @llvm.memset.p0.i64(ptr {to}, i8 0, i64 {pw * c * 4}, i1 false)");
            b.Line($"call void @llvm.memcpy.p0.p0.i64(ptr {b.Let($"getelementptr inbounds float, ptr {to}, i64 {pw * c}", "to")}, ptr {from}, i64 {iw * c * 4}, i1 false)");
            long right = iwp - pw - iw;
            if (right > 0) b.Line($"call void @llvm.memset.p0.i64(ptr {b.Let($"getelementptr inbounds float, ptr {to}, i64 {(pw + iw) * c}", "to")}, i8 0, i64 {right * c * 4}, i1 false)");
            b.Br(next);
            b.Block(zero);
            b.Line($"call void @llvm.memset.p0.i64(ptr {to}, i8 0, i64 {row * 4}, i1 false)");
            b.Br(next);
            b.Block(next);
        });
        return padded;
    }
}
