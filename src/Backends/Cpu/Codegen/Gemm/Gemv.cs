using GraphCompiler.Backends.Llvm.Codegen;

namespace GraphCompiler.Backends.Cpu.Codegen;

internal static partial class GemmHelpers
{
    /// <summary>
    /// Columns of C one GEMV step keeps in registers, in vectors: eight independent FMA chains, and
    /// 512-byte runs of a row of B with AVX-512 (four vectors measured 10–25% slower on 1×784×512).
    /// </summary>
    public const int GemvVectors = 8;

    /// <summary>
    /// <c>void @gc.sgemv.W(ptr ctx, i32 t, i32 n)</c>: C = A·B for a few rows of A and a B whose rows are
    /// contiguous (<see cref="Field.CsB"/> = 1) and not pre-packed, reading B where it is. Packing B for one
    /// row of A would copy all of B to use it once; here each step loads <see cref="GemvVectors"/> vectors
    /// of a row of B and FMAs them with one broadcast element of A. Thread t of n takes a range of whole
    /// column chunks of that width; the last chunk is masked. Same context as <see cref="Worker"/>.
    /// </summary>
    public static string GemvWorker(ModuleContext module, GemmShape g)
    {
        var name = $"gc.sgemv.{g.Lanes}";
        if (!module.FirstHelper(name)) return name;
        var vt = g.Vector;
        DeclareVectorIntrinsics(module, g);
        int chunk = GemvVectors * g.Lanes;
        var b = new LlvmBuilder();
        var (A, rsA, csA, bsA) = (Get(b, Field.A, "ptr"), Get(b, Field.RsA), Get(b, Field.CsA), Get(b, Field.BsA));
        var (B, rsB, bsB) = (Get(b, Field.B, "ptr"), Get(b, Field.RsB), Get(b, Field.BsB));
        var (C, ldc, bsC) = (Get(b, Field.C, "ptr"), Get(b, Field.Ldc), Get(b, Field.BsC));
        var (M, N, K, batch) = (Get(b, Field.M), Get(b, Field.N), Get(b, Field.K), Get(b, Field.Batch));

        // This thread's chunks of columns.
        var chunks = CeilDiv(b, N, chunk);
        var per = b.Let($"udiv i64 {b.Let($"add i64 {chunks}, {b.Let($"sub i64 {b.Let("zext i32 %n to i64", "nt")}, 1")}")}, {b.Let("zext i32 %n to i64", "nt")}", "per");
        var q0 = b.Let($"mul i64 {b.Let("zext i32 %t to i64", "t")}, {per}", "q0");
        var q1 = Min(b, chunks, b.Let($"add i64 {q0}, {per}"));

        // Lane numbers of the chunk's vectors, to mask the columns past N.
        var lanes = new string[GemvVectors];
        for (int v = 0; v < GemvVectors; v++)
            lanes[v] = "<" + string.Join(", ", Enumerable.Range(v * g.Lanes, g.Lanes).Select(l => $"i64 {l}")) + ">";

        b.For("0", batch, bi =>
        {
            var a0 = Offset(b, A, b.Let($"mul i64 {bi}, {bsA}"));
            var b0 = Offset(b, B, b.Let($"mul i64 {bi}, {bsB}"));
            var c0 = Offset(b, C, b.Let($"mul i64 {bi}, {bsC}"));
            b.For("0", M, m =>
            {
                var arow = Offset(b, a0, b.Let($"mul i64 {m}, {rsA}"));
                var crow = Offset(b, c0, b.Let($"mul i64 {m}, {ldc}"));
                b.For(q0, q1, q =>
                {
                    var col = b.Let($"mul i64 {q}, {chunk}", "col");
                    var valid = b.Let($"sub i64 {N}, {col}", "valid");
                    var limit = b.Let($"shufflevector <{g.Lanes} x i64> {b.Let($"insertelement <{g.Lanes} x i64> poison, i64 {valid}, i64 0", "n")}, <{g.Lanes} x i64> poison, <{g.Lanes} x i32> zeroinitializer", "n");
                    var masks = new string[GemvVectors];
                    for (int v = 0; v < GemvVectors; v++) masks[v] = b.Let($"icmp ult <{g.Lanes} x i64> {lanes[v]}, {limit}", "mask");
                    var acc = new string[GemvVectors];
                    for (int v = 0; v < GemvVectors; v++)
                    {
                        acc[v] = b.Alloca(vt);
                        b.Line($"store {vt} zeroinitializer, ptr {acc[v]}");
                    }
                    var bcol = Offset(b, b0, col);
                    b.For("0", K, k =>
                    {
                        var a = b.Let($"load float, ptr {Offset(b, arow, b.Let($"mul i64 {k}, {csA}"))}", "a");
                        var splat = b.Let($"shufflevector {vt} {b.Let($"insertelement {vt} poison, float {a}, i64 0", "as")}, {vt} poison, <{g.Lanes} x i32> zeroinitializer", "as");
                        var brow = Offset(b, bcol, b.Let($"mul i64 {k}, {rsB}"));
                        for (int v = 0; v < GemvVectors; v++)
                        {
                            var bp = v == 0 ? brow : Offset(b, brow, $"{v * g.Lanes}");
                            var x = b.Let($"call {vt} @llvm.masked.load.{g.Suffix}.p0(ptr {bp}, i32 4, <{g.Lanes} x i1> {masks[v]}, {vt} zeroinitializer)", "bv");
                            var cur = b.Let($"load {vt}, ptr {acc[v]}", "c");
                            b.Line($"store {vt} {b.Let($"call {vt} @llvm.fma.{g.Suffix}({vt} {splat}, {vt} {x}, {vt} {cur})", "c")}, ptr {acc[v]}");
                        }
                    }, "k");
                    var cp = Offset(b, crow, col);
                    for (int v = 0; v < GemvVectors; v++)
                        b.Line($"call void @llvm.masked.store.{g.Suffix}.p0({vt} {b.Let($"load {vt}, ptr {acc[v]}", "c")}, ptr {(v == 0 ? cp : Offset(b, cp, $"{v * g.Lanes}"))}, i32 4, <{g.Lanes} x i1> {masks[v]})");
                }, "q");
            }, "m");
        }, "bi");
        b.Line("ret void");
        module.AddLibraryFunction($"define internal void @{name}(ptr noalias %ctx, {Parallel.PartParameters}) nounwind {{\n{b.Body()}}}");
        return name;
    }
}
