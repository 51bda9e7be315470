using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// A kernel whose output is an NCHW → NHWC transpose of what it computes (DenseNet's batch norm and ReLU of each
/// concatenation, read by the next 1 × 1 convolution in NHWC): the output loop nest ran over channels innermost and
/// read the input a whole plane apart per element, which LLVM turns into gathers, 17 % of DenseNet-121's time. Here
/// each 16 × 16 block of channels × positions is computed along the rows it reads (a vector loop), kept in
/// a tile, transposed in registers (four rounds of interleaving shuffles) and stored as 16 rows of 16 channels.
/// Positions (rows and columns flattened) and channels past the last whole block go element by element.
/// </summary>
internal sealed partial class KernelEmitter
{
    /// <summary>The block edge: one AVX-512 vector of f32, and the tile is 16 of them.</summary>
    private const int TransposeBlock = 16;

    /// <summary>Whether <paramref name="output"/> is an f32 NCHW → NHWC transpose with at least a block of channels and of positions.</summary>
    private bool IsChannelsLastTranspose(Value output, out Operation transpose)
    {
        transpose = null!;
        if (_ev.DefinitionOf(output) is not { Def: TransposeOp } op) return false;
        transpose = op;
        var shape = op.Operands[0].Type.Shape;
        return output.Type.Element == ElementType.F32 && op.Operands[0].Type.Element == ElementType.F32
            && TransposeOp.IsChannelsLast(op) && shape[1] >= TransposeBlock && shape[2] * shape[3] >= TransposeBlock;
    }

    /// <summary>
    /// Emits the blocked transpose of <paramref name="transpose"/>'s operand into <paramref name="dest"/>: per image, channels ×
    /// positions (rows and columns flattened, contiguous in both layouts, so 7 × 7 and 14 × 14 images block too), split
    /// over threads by blocks of positions.
    /// </summary>
    private void ChannelsLastStore(KernelBuffer dest, Operation transpose)
    {
        var y = transpose.Operands[0];
        var (n, c, h, w) = (y.Type.Shape[0], y.Type.Shape[1], y.Type.Shape[2], y.Type.Shape[3]);
        const int e = TransposeBlock;
        long positions = h * w, blocks = (positions + e - 1) / e, cFull = c / e * e;
        var (ctx, part) = ThreadSplit.Fork(_ev, [dest.Pointer]);
        var fn = $"{_name}.nhwc{_extraFunctions.Count}";
        long rows = n * blocks;
        Parallel.Split(_b, _module, $"@{fn}", ctx, Parallel.Threads(_b, y.Type.ElementCount * Parallel.ElementMoveCost, rows), rows);

        var b = part.B;
        var vt = $"<{e} x float>";
        var tile = b.Alloca($"[{e * e} x float], align 64");
        var (lo, hi) = Parallel.PartRows(b, rows);
        string Out(string img, string pos, string cc) =>
            b.Let($"add i64 {b.Let($"mul i64 {b.Let($"add i64 {b.Let($"mul i64 {img}, {positions}")}, {pos}")}, {c}")}, {cc}", "o");
        string[] Index(string img, string cc, string pos) => [img, cc, b.Let($"udiv i64 {pos}, {w}", "h"), b.Let($"urem i64 {pos}, {w}", "w")];
        void Scalar(string img, string p0, string p1, string c0, string c1) =>
            b.For(p0, p1, pos => b.For(c0, c1, cc =>
            {
                part.NextElement();
                part.Memory.Store(dest, Out(img, pos, cc), part.Element(y, Index(img, cc, pos)));
            }, "c"), "s");
        b.For(lo, hi, row =>
        {
            var img = b.Let($"udiv i64 {row}, {blocks}", "img");
            var p0 = b.Let($"mul i64 {b.Let($"urem i64 {row}, {blocks}", "sb")}, {e}", "s0");
            var p1 = b.Let($"add i64 {p0}, {e}", "s1");
            var (fullL, partL, doneL) = (b.FreshLabel("block.full"), b.FreshLabel("block.part"), b.FreshLabel("block.done"));
            b.CondBr(b.Let($"icmp ule i64 {p1}, {positions}", "whole"), fullL, partL);
            b.Block(fullL);
            b.For("0", $"{cFull}", c0 =>
            {
                // The block along the input's rows: 16 channels, each a vector loop over 16 positions.
                b.For("0", $"{e}", ci => b.For("0", $"{e}", si =>
                {
                    part.NextElement();
                    var v = part.Element(y, Index(img, b.Let($"add i64 {c0}, {ci}", "c"), b.Let($"add i64 {p0}, {si}", "s")));
                    b.Line($"store float {v}, ptr {b.Let($"getelementptr inbounds float, ptr {tile}, i64 {b.Let($"add i64 {b.Let($"mul i64 {ci}, {e}")}, {si}")}", "p")}");
                }, "si", _module.NoUnrollLoop()), "ci");
                var r = RegisterTranspose.Emit(b, [.. Enumerable.Range(0, e).Select(i => b.Let($"load {vt}, ptr {b.Let($"getelementptr inbounds float, ptr {tile}, i64 {i * e}", "p")}, align 64", "r"))]);
                for (int j = 0; j < e; j++)
                {
                    var at = Out(img, b.Let($"add i64 {p0}, {j}", "s"), c0);
                    b.Line($"store {vt} {r[j]}, ptr {b.Let($"getelementptr inbounds float, ptr {dest.Pointer}, i64 {at}", "p")}, align 4");
                }
            }, "cb", step: $"{e}");
            if (cFull < c) Scalar(img, p0, p1, $"{cFull}", $"{c}");
            b.Br(doneL);
            b.Block(partL);
            Scalar(img, p0, $"{positions}", "0", $"{c}");
            b.Br(doneL);
            b.Block(doneL);
        }, "row");
        b.Line("ret void");
        _extraFunctions.Add($"define internal void @{fn}(ptr %ctx, {Parallel.PartParameters}) nounwind {{\n{b.Body()}}}");
    }
}
