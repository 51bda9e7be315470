using System.Runtime.InteropServices;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// Winograd's minimal filtering F(m×m, r×r) (Lavin and Gray, 2016): one α×α input tile d (α = m + r − 1) gives an
/// m×m output tile as Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A. Summed over input channels, the elementwise product becomes
/// α² independent GEMMs [tiles, C] · [C, Cout], which hold α²/(m²r²) of the direct convolution's multiply-adds
/// (F(2×2, 3×3): 16/36; F(4×4, 3×3): 36/144). The matrices are data; the emitter is the same for every size.
/// </summary>
internal sealed record WinogradTransform(string Name, int M, int R, double[,] AT, double[,] G, double[,] BT)
{
    public int Alpha => M + R - 1;

    /// <summary>Interpolation points 0, ±1, ∞: the transforms only add and subtract.</summary>
    public static readonly WinogradTransform F2x3 = new("F(2x2,3x3)", 2, 3,
        AT: new double[,] { { 1, 1, 1, 0 }, { 0, 1, -1, -1 } },
        G: new double[,] { { 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 } },
        BT: new double[,] { { 1, 0, -1, 0 }, { 0, 1, 1, 0 }, { 0, -1, 1, 0 }, { 0, 1, 0, -1 } });

    /// <summary>Points 0, ±1, ±2, ∞: a quarter of the multiply-adds, at the price of coefficients up to 8 (more rounding).</summary>
    public static readonly WinogradTransform F4x3 = new("F(4x4,3x3)", 4, 3,
        AT: new double[,] { { 1, 1, 1, 1, 1, 0 }, { 0, 1, -1, 2, -2, 0 }, { 0, 1, 1, 4, 4, 0 }, { 0, 1, -1, 8, -8, 1 } },
        G: new double[,]
        {
            { 1.0 / 4, 0, 0 }, { -1.0 / 6, -1.0 / 6, -1.0 / 6 }, { -1.0 / 6, 1.0 / 6, -1.0 / 6 },
            { 1.0 / 24, 1.0 / 12, 1.0 / 6 }, { 1.0 / 24, -1.0 / 12, 1.0 / 6 }, { 0, 0, 1 },
        },
        BT: new double[,]
        {
            { 4, 0, -5, 0, 1, 0 }, { 0, -4, -4, 1, 1, 0 }, { 0, 4, -4, -1, 1, 0 },
            { 0, -2, -1, 2, 1, 0 }, { 0, 2, -1, -2, 1, 0 }, { 0, 4, 0, -5, 0, 1 },
        });

    /// <summary>
    /// U[ξ = i·α + j][c][o] = (G g Gᵀ)[i, j] for the r×r filter g = w[·, ·, c, o] of an HWIO kernel, in double
    /// and rounded once.
    /// </summary>
    public float[] TransformKernel(ReadOnlySpan<float> w, long c, long cout)
    {
        int a = Alpha, r = R;
        var u = new float[checked(a * a * c * cout)];
        var gw = new double[a, r];
        for (long ci = 0; ci < c; ci++)
            for (long o = 0; o < cout; o++)
            {
                for (int i = 0; i < a; i++)
                    for (int y = 0; y < r; y++)
                    {
                        double s = 0;
                        for (int x = 0; x < r; x++) s += G[i, x] * w[(int)(((x * r + y) * c + ci) * cout + o)];
                        gw[i, y] = s;
                    }
                for (int i = 0; i < a; i++)
                    for (int j = 0; j < a; j++)
                    {
                        double s = 0;
                        for (int y = 0; y < r; y++) s += gw[i, y] * G[j, y];
                        u[((i * a + j) * c + ci) * cout + o] = (float)s;
                    }
            }
        return u;
    }
}

/// <summary>
/// NHWC 3×3 stride-1 convolution with a constant kernel by Winograd's algorithm (<see cref="WinogradTransform"/>):
/// the kernel is transformed and packed at compile time; per call the input is padded once, every α×α tile is
/// transformed into α² matrices V[ξ] = [tiles, C], one batched GEMM multiplies them with U[ξ] = [C, Cout], and
/// the output transform writes each m×m tile's valid part. Both transforms run over channel vectors, split over
/// threads by tile rows.
/// </summary>
internal sealed partial class KernelEmitter
{
    /// <summary>
    /// A Winograd convolution: input [batch, IH, IW, C] padded by (PH, PW) into [batch, IHp, IWp, C], covered by
    /// TH × TW tiles per image; output [batch, OH, OW, Cout].
    /// </summary>
    internal sealed record WinogradPlan(WinogradTransform F, long IH, long IW, long C, long OH, long OW, long PH, long PW,
        long TH, long TW, long IHp, long IWp, long Cout);

    /// <summary>A 3×3 stride-1 NHWC convolution with no negative padding, tiled for <paramref name="f"/>; null otherwise.</summary>
    internal static WinogradPlan? WinogradShape(Operation op, ConvPlan p, WinogradTransform f)
    {
        if (p.Pointwise || RowsIm2col(op, p) is not { } r || r.SH != 1 || r.SW != 1 || r.KH != f.R || r.KW != f.R) return null;
        // The high padding is what the output needs beyond the image; negative padding (a crop) is left to im2col.
        if (r.PH < 0 || r.PW < 0 || r.OH + f.R - 1 < r.IH + r.PH || r.OW + f.R - 1 < r.IW + r.PW) return null;
        long th = (r.OH + f.M - 1) / f.M, tw = (r.OW + f.M - 1) / f.M;
        return new WinogradPlan(f, r.IH, r.IW, r.C, r.OH, r.OW, r.PH, r.PW, th, tw, th * f.M + f.R - 1, tw * f.M + f.R - 1, op.Result.Type.Shape[3]);
    }

    /// <summary>
    /// Multiply-add steps one float of a constant GEMM operand costs to stream from memory: weights are read once
    /// per call, and Winograd's transformed kernel is α²/r² times the size of the kernel. (Zen 5: 14×14×512 → 512
    /// takes 1.1 ms longer with F(4×4) than with F(2×2) for 5.2 M more floats of U, 0.21 ns each, while its GEMM
    /// runs 76 G multiply-adds/s: 16 steps.)
    /// </summary>
    private const double WeightReadCost = 16;

    /// <summary>The cheaper of F(2×2, 3×3) and F(4×4, 3×3) when it beats im2col and the implicit GEMM; null otherwise.</summary>
    internal WinogradPlan? PlanWinograd(Operation op, ConvPlan p, GemmShape g)
    {
        if (_convolution == ConvolutionAlgorithm.Gemm) return null;
        if (_convolution != ConvolutionAlgorithm.Auto)
            return WinogradShape(op, p, _convolution == ConvolutionAlgorithm.Winograd2x2 ? WinogradTransform.F2x3 : WinogradTransform.F4x3);
        WinogradPlan? best = null;
        double bestCost = double.MaxValue;
        foreach (var f in new[] { WinogradTransform.F2x3, WinogradTransform.F4x3 })
        {
            if (WinogradShape(op, p, f) is not { } w) continue;
            double cost = WinogradCost(w, op, g);
            if (cost < bestCost) (best, bestCost) = (w, cost);
        }
        if (best is null) return null;
        long cout = best.Cout, batch = op.Operands[0].Type.Shape[0];
        double others = Im2colCost(p, g, cout);
        if (ImplicitShape(op, p) is { } implicitPlan) others = Math.Min(others, ImplicitCost(implicitPlan, op, g));
        // Their kernel, K · Cout floats, read once for batch · positions · K · Cout multiply-adds.
        others += WeightReadCost / (batch * (double)p.Spatial);
        return bestCost < others ? best : null;
    }

    /// <summary>
    /// Relative to the direct convolution's multiply-adds: the α² GEMMs (with their K blocks), both transforms and
    /// the padding copy (ElementMoveCost per element), and reading U.
    /// </summary>
    private static double WinogradCost(WinogradPlan w, Operation op, GemmShape g)
    {
        long batch = op.Operands[0].Type.Shape[0];
        int a2 = w.F.Alpha * w.F.Alpha;
        double tiles = batch * w.TH * w.TW;
        double direct = batch * w.OH * w.OW * (double)(w.F.R * w.F.R) * w.C * w.Cout;
        // A last partial micro-tile of rows costs its rows only (a micro-kernel per row count), so tiles count as they are.
        double gemm = a2 * tiles * w.C * w.Cout * Blocks(g, w.C);
        double moves = (a2 * tiles * (w.C + w.Cout) + batch * w.IHp * w.IWp * (double)w.C) * Parallel.ElementMoveCost;
        double weights = a2 * (double)w.C * w.Cout * WeightReadCost;
        return (gemm + moves + weights) / direct;
    }

    private void ConvWinograd(WinogradPlan w, string input, Tensor kernel, KernelBuffer dest, long batch, GemmShape g)
    {
        var f = w.F;
        int alpha = f.Alpha, m = f.M;
        long tiles = batch * w.TH * w.TW;
        var u = f.TransformKernel(MemoryMarshal.Cast<byte, float>(kernel.Bytes), w.C, w.Cout);
        var packed = GemmHelpers.PrepackB(g, alpha * alpha, w.C, w.Cout, (xi, k, o) => u[(xi * w.C + k) * w.Cout + o]);
        var packedU = _module.Constant(Tensor.FromBytes(new TensorType(ElementType.F32, packed.LongLength), MemoryMarshal.AsBytes(packed.AsSpan())));

        var padded = PadInput(input, batch, w.IH, w.IW, w.C, w.IHp, w.IWp, w.PH, w.PW, 0);
        var v = Malloc(new TensorType(ElementType.F32, alpha * alpha * tiles * w.C));
        // V[ξ][t][c] = (Bᵀ d B)[ξ] for tile t = (image·TH + th)·TW + tw, whose d starts at padded pixel (th·m, tw·m).
        RowsInParallel("wino.in", batch * w.TH, w.TW * alpha * alpha * w.C, [padded, v], (b, row, p) =>
        {
            var img = b.Let($"udiv i64 {row}, {w.TH}", "img");
            var th = b.Let($"urem i64 {row}, {w.TH}", "th");
            var top = b.Let($"add i64 {b.Let($"mul i64 {img}, {w.IHp}")}, {b.Let($"mul i64 {th}, {m}")}", "top");
            b.For("0", $"{w.TW}", tw =>
            {
                var at = b.Let($"mul i64 {b.Let($"add i64 {b.Let($"mul i64 {top}, {w.IWp}")}, {b.Let($"mul i64 {tw}, {m}")}")}, {w.C}", "at");
                var tile = b.Let($"add i64 {b.Let($"mul i64 {row}, {w.TW}")}, {tw}", "tile");
                var src = b.Let($"getelementptr inbounds float, ptr {p[0]}, i64 {at}", "d");
                var dst = b.Let($"getelementptr inbounds float, ptr {p[1]}, i64 {b.Let($"mul i64 {tile}, {w.C}")}", "v");
                OverChannels(b, w.C, (c, type) =>
                {
                    var d = LoadGrid(b, type, src, c, alpha, (y, x) => (y * w.IWp + x) * w.C);
                    var vt = Sandwich(b, type, f.BT, d);
                    for (int i = 0; i < alpha; i++)
                        for (int j = 0; j < alpha; j++)
                            b.Line($"store {type} {vt[i, j]}, ptr {b.Let($"getelementptr inbounds float, ptr {dst}, i64 {b.Let($"add i64 {c}, {(i * alpha + j) * tiles * w.C}")}", "p")}, align 4");
                });
            }, "tw");
        });

        var mt = Malloc(new TensorType(ElementType.F32, alpha * alpha * tiles * w.Cout));
        CallGemm(new GemmCall(v, w.C, 1, tiles * w.C, "null", 0, 0, 0, packedU, mt, w.Cout, tiles * w.Cout, alpha * alpha, tiles, w.Cout, w.C));

        // Y = Aᵀ M A per tile; the last tile row and column keep only the positions inside the output.
        long lastRows = w.OH - (w.TH - 1) * m, lastCols = w.OW - (w.TW - 1) * m;
        // An elementwise epilogue in place (bias, activation) runs on each tile row's output rows right after they
        // are written, while they are in cache, as the GEMM's does per block.
        bool epilogue = EpilogueFits(dest.Pointer, batch * w.OH * w.OW, w.Cout);
        var (epi, epiCtx) = epilogue ? EpilogueFunction(_epilogue!) : ("", "null");
        _epilogueApplied |= epilogue;
        RowsInParallel("wino.out", batch * w.TH, w.TW * alpha * alpha * w.Cout, [mt, dest.Pointer, epiCtx], (b, row, p) =>
        {
            var img = b.Let($"udiv i64 {row}, {w.TH}", "img");
            var th = b.Let($"urem i64 {row}, {w.TH}", "th");
            var oh0 = b.Let($"add i64 {b.Let($"mul i64 {img}, {w.OH}")}, {b.Let($"mul i64 {th}, {m}")}", "oh");
            var lastRow = b.Let($"icmp eq i64 {th}, {w.TH - 1}", "lastrow");
            b.For("0", $"{w.TW}", tw =>
            {
                var tile = b.Let($"add i64 {b.Let($"mul i64 {row}, {w.TW}")}, {tw}", "tile");
                var src = b.Let($"getelementptr inbounds float, ptr {p[0]}, i64 {b.Let($"mul i64 {tile}, {w.Cout}")}", "m");
                var at = b.Let($"mul i64 {b.Let($"add i64 {b.Let($"mul i64 {oh0}, {w.OW}")}, {b.Let($"mul i64 {tw}, {m}")}")}, {w.Cout}", "at");
                var dst = b.Let($"getelementptr inbounds float, ptr {p[1]}, i64 {at}", "y");
                var lastCol = b.Let($"icmp eq i64 {tw}, {w.TW - 1}", "lastcol");
                OverChannels(b, w.Cout, (c, type) =>
                {
                    var mm = LoadGrid(b, type, src, c, alpha, (i, j) => (i * alpha + j) * tiles * w.Cout);
                    var y = Sandwich(b, type, f.AT, mm);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < m; j++)
                        {
                            var ptr = b.Let($"getelementptr inbounds float, ptr {dst}, i64 {b.Let($"add i64 {c}, {(i * w.OW + j) * w.Cout}")}", "p");
                            // Rows past lastRows exist only in tiles of the last row, columns past lastCols in the last column.
                            string? outside = (i >= lastRows, j >= lastCols) switch
                            {
                                (true, true) => b.Let($"or i1 {lastRow}, {lastCol}", "out"),
                                (true, false) => lastRow,
                                (false, true) => lastCol,
                                _ => null,
                            };
                            if (outside is null)
                            {
                                b.Line($"store {type} {y[i, j]}, ptr {ptr}, align 4");
                                continue;
                            }
                            var (store, next) = (b.FreshLabel("wino.store"), b.FreshLabel("wino.next"));
                            b.CondBr(outside, next, store);
                            b.Block(store);
                            b.Line($"store {type} {y[i, j]}, ptr {ptr}, align 4");
                            b.Br(next);
                            b.Block(next);
                        }
                });
            }, "tw");
            if (epilogue)
            {
                // Output rows oh0 .. min(oh0 + m, OH) of this image: positions (image·OH + oh)·OW + ow, contiguous.
                var last = b.Let($"select i1 {lastRow}, i64 {lastRows}, i64 {m}", "rows");
                var p0 = b.Let($"mul i64 {oh0}, {w.OW}", "p0");
                var p1 = b.Let($"mul i64 {b.Let($"add i64 {oh0}, {last}")}, {w.OW}", "p1");
                b.Line($"call void @{epi}(ptr {p[2]}, i64 {p0}, i64 {p1}, i64 0, i64 {w.Cout})");
            }
        });
    }

    /// <summary>
    /// Runs <paramref name="body"/> over channels 0..<paramref name="count"/>: whole vectors of the module's width,
    /// then single floats for the rest; the body gets the first channel and the type to load and store.
    /// </summary>
    private void OverChannels(LlvmBuilder b, long count, Action<string, string> body)
    {
        int lanes = _module.Lanes;
        long vectorEnd = count / lanes * lanes;
        if (vectorEnd > 0) b.For("0", $"{vectorEnd}", c => body(c, $"<{lanes} x float>"), "cv", step: $"{lanes}");
        if (vectorEnd < count) b.For($"{vectorEnd}", $"{count}", c => body(c, "float"), "cs");
    }

    /// <summary>An α × α grid of values (vectors or floats) loaded from <paramref name="at"/>(row, column) floats past <paramref name="c"/> in <paramref name="src"/>.</summary>
    private static string[,] LoadGrid(LlvmBuilder b, string type, string src, string c, int alpha, Func<int, int, long> at)
    {
        var grid = new string[alpha, alpha];
        for (int i = 0; i < alpha; i++)
            for (int j = 0; j < alpha; j++)
                grid[i, j] = b.Let($"load {type}, ptr {b.Let($"getelementptr inbounds float, ptr {src}, i64 {b.Let($"add i64 {c}, {at(i, j)}")}", "p")}, align 4", "g");
        return grid;
    }

    /// <summary>T X Tᵀ for a constant matrix T (rows × α) and an α × α matrix of values: rows first, then columns.</summary>
    private static string[,] Sandwich(LlvmBuilder b, string type, double[,] t, string[,] x)
    {
        int rows = t.GetLength(0), alpha = t.GetLength(1);
        var half = new string[rows, alpha];
        for (int i = 0; i < rows; i++)
            for (int k = 0; k < alpha; k++)
                half[i, k] = Combine(b, type, Enumerable.Range(0, alpha).Select(a => (t[i, a], x[a, k])));
        var result = new string[rows, rows];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < rows; j++)
                result[i, j] = Combine(b, type, Enumerable.Range(0, alpha).Select(a => (t[j, a], half[i, a])));
        return result;
    }

    /// <summary>Σ coefficient · value, skipping zero coefficients; ±1 are additions and subtractions.</summary>
    private static string Combine(LlvmBuilder b, string type, IEnumerable<(double Coefficient, string Value)> terms)
    {
        string? sum = null;
        foreach (var (k, x) in terms)
        {
            if (k == 0) continue;
            if (sum is null)
            {
                sum = k == 1 ? x : k == -1 ? b.Let($"fneg {type} {x}", "w") : b.Let($"fmul {type} {x}, {Splat(type, k)}", "w");
                continue;
            }
            sum = k switch
            {
                1 => b.Let($"fadd {type} {sum}, {x}", "w"),
                -1 => b.Let($"fsub {type} {sum}, {x}", "w"),
                _ => b.Let($"fadd {type} {sum}, {b.Let($"fmul {type} {x}, {Splat(type, k)}", "w")}", "w"),
            };
        }
        return sum ?? (type == "float" ? "0.0" : "zeroinitializer");
    }

    private static string Splat(string type, double k)
    {
        var one = LlvmTypes.FloatLiteral("float", k);
        if (type == "float") return one;
        int lanes = int.Parse(type[1..type.IndexOf(' ')], System.Globalization.CultureInfo.InvariantCulture);
        return $"<{string.Join(", ", Enumerable.Repeat($"float {one}", lanes))}>";
    }
}
