using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// NHWC strided convolution with a wide window (a first 7 × 7 / 2 layer) as a GEMM over the input with its
/// kernel rows stacked: X[b, oh, x, kh, c] = input[b, oh·SH − PH + kh, x − PW, c] (zero outside the image), over a
/// padded width of OWp·SW columns. Output position (oh, ow)'s whole window is then the KW·KH·C floats of X from
/// column ow·SW on, contiguous: row ow of A, SW·KH·C floats after the previous one, with the weights packed in
/// (kw, kh, c) order. X holds KH·C floats per input column where im2col writes KH·KW·C per output position:
/// ResNet-50's first layer writes 2.2 MB instead of 7.4. Each output row is a batch of the GEMM (A and C advance
/// by a row of X and of the output), so C is the output itself and the epilogue runs on it block by block.
/// </summary>
internal sealed partial class KernelEmitter
{
    /// <summary>An im2col-by-rows convolution whose stacked rows are smaller than its patches: OWp output columns per row of X.</summary>
    private sealed record StackedPlan(RowsPlan R, long OWp)
    {
        public long IWp => OWp * R.SW;
        public long Column => R.KH * R.C; // floats per column of X
    }

    /// <summary>
    /// The narrowest window taken (KW): 7 × 7 / 2 first layers gained (ResNet-50 −2.2 %, SqueezeNet −4 %, Inception v1 −1 %),
    /// 3 × 3 / 2 ones (MobileNet v2's and ShuffleNet's 3-channel first layers) lost 3–5 % against im2col.
    /// </summary>
    private const long StackedLeastWindow = 5;

    /// <summary>
    /// The least share of its micro-tiles' rows that an output row fills (OW rows, one batch of the GEMM each): AlexNet's
    /// 55 positions in 24-row tiles (0.76) lost 8 % against im2col's one GEMM over all of them; ResNet-50's 112 (0.93) gained.
    /// </summary>
    private const double StackedLeastTileUse = 0.85;

    private static StackedPlan? PlanStacked(Operation op, ConvPlan p, GemmShape g)
    {
        if (p.Pointwise || RowsIm2col(op, p) is not { } r || r.KH == 1 || r.SW < 2 || r.SW > r.KW || r.KW < StackedLeastWindow) return null;
        if ((double)r.OW / ((r.OW + g.MR - 1) / g.MR * g.MR) < StackedLeastTileUse) return null;
        // Enough columns that the last window, at (OW − 1)·SW, ends inside: OWp·SW ≥ (OW − 1)·SW + KW.
        long owp = r.OW + (r.KW - r.SW + r.SW - 1) / r.SW;
        return owp * r.SW < r.OW * r.KW ? new StackedPlan(r, owp) : null;
    }

    /// <summary>Weights [kh, kw, c, oc] (HWIO) in the (kw, kh, c) order of a stacked row, packed for the worker.</summary>
    private Tensor PrepackStacked(StackedPlan s, GemmShape g, Tensor weights, long cout)
    {
        var r = s.R;
        return Prepack(g, 1, r.K, cout, weights, (_, k, oc) =>
        {
            long kw = k / s.Column, kh = k % s.Column / r.C, c = k % r.C;
            return ((kh * r.KW + kw) * r.C + c) * cout + oc;
        });
    }

    private void ConvStacked(StackedPlan s, string input, string packed, KernelBuffer dest, long batch, long cout)
    {
        _module.Declare("declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)");
        _module.Declare("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)");
        var r = s.R;
        long column = s.Column, rowFloats = s.IWp * column;
        var x = Malloc(new TensorType(ElementType.F32, batch * r.OH * rowFloats));
        RowsInParallel("stack", batch * r.OH, rowFloats, [input, x], (b, row, p) =>
        {
            var img = b.Let($"udiv i64 {row}, {r.OH}", "img");
            var oh = b.Let($"urem i64 {row}, {r.OH}", "oh");
            var xrow = b.Let($"getelementptr inbounds float, ptr {p[1]}, i64 {b.Let($"mul i64 {row}, {rowFloats}")}", "xrow");
            // Per kernel row: the columns left of the image, those inside, those right of it, each a loop without
            // a test (a row outside the image is all zeros). Columns C floats at a time, KH·C floats apart.
            long copyEnd = Math.Min(s.IWp, r.PW + r.IW), leftEnd = Math.Min(r.PW, s.IWp);
            b.For("0", $"{r.KH}", kh =>
            {
                var ih = b.Let($"add i64 {b.Let($"sub i64 {b.Let($"mul i64 {oh}, {r.SH}")}, {r.PH}")}, {kh}", "ih");
                var to = b.Let($"getelementptr inbounds float, ptr {xrow}, i64 {b.Let($"mul i64 {kh}, {r.C}")}", "to");
                string At(string xc) => b.Let($"getelementptr inbounds float, ptr {to}, i64 {b.Let($"mul i64 {xc}, {column}")}", "dst");
                void Zeros(string from, string to2) => b.For(from, to2, xc =>
                    b.Line($"call void @llvm.memset.p0.i64(ptr {At(xc)}, i8 0, i64 {r.C * 4}, i1 false)"), "xz", _module.NoUnrollLoop());
                var (rowIn, rowOut, done) = (b.FreshLabel("stack.in"), b.FreshLabel("stack.out"), b.FreshLabel("stack.done"));
                b.CondBr(b.Let($"icmp ult i64 {ih}, {r.IH}", "in"), rowIn, rowOut);
                b.Block(rowIn);
                var line = b.Let($"mul i64 {b.Let($"add i64 {b.Let($"mul i64 {img}, {r.IH}")}, {ih}")}, {r.IW}", "line");
                Zeros("0", $"{leftEnd}");
                b.For($"{leftEnd}", $"{copyEnd}", xc =>
                {
                    var src = b.Let($"getelementptr inbounds float, ptr {p[0]}, i64 {b.Let($"mul i64 {b.Let($"add i64 {line}, {b.Let($"sub i64 {xc}, {r.PW}")}")}, {r.C}")}", "from");
                    b.Line($"call void @llvm.memcpy.p0.p0.i64(ptr {At(xc)}, ptr {src}, i64 {r.C * 4}, i1 false)");
                }, "xc", _module.NoUnrollLoop());
                Zeros($"{copyEnd}", $"{s.IWp}");
                b.Br(done);
                b.Block(rowOut);
                Zeros("0", $"{s.IWp}");
                b.Br(done);
                b.Block(done);
            }, "kh");
        });
        // Output row (image, oh) is batch image·OH + oh: OW rows of A from its row of X, OW rows of the output.
        CallGemm(new GemmCall(x, r.SW * column, 1, rowFloats, "null", 0, 0, 0, packed, dest.Pointer, cout, r.OW * cout,
            batch * r.OH, r.OW, cout, r.K, SharedPacked: true));
    }
}
