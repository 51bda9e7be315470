namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// The interpreter's LU (determinant) and Gauss–Jordan (inverse) algorithms as out-of-line LLVM functions over n×n
/// doubles, emitted once per module: the CPU calls them once per matrix, a GPU thread once per matrix of its batch.
/// Plain loads, stores and arithmetic (fabs is an intrinsic every target lowers), so they compile for either target and
/// compute the same bits.
/// </summary>
public static class MatrixHelpers
{
    private static string Gep(LlvmBuilder b, string m, string r, string c)
    {
        var lin = b.Let($"add i64 {b.Let($"mul i64 {r}, %n")}, {c}");
        return b.Let($"getelementptr inbounds double, ptr {m}, i64 {lin}");
    }

    private static string Get(LlvmBuilder b, string m, string r, string c) => b.Let($"load double, ptr {Gep(b, m, r, c)}");

    /// <summary>The first row of largest magnitude in column c from row c down (the interpreter's pivot).</summary>
    private static string Pivot(LlvmBuilder b, string c, string slot)
    {
        b.Line($"store i64 {c}, ptr {slot}");
        b.For(b.Let($"add i64 {c}, 1"), "%n", r =>
        {
            var p = b.Let($"load i64, ptr {slot}");
            var x = b.Let($"call double @llvm.fabs.f64(double {Get(b, "%a", r, c)})");
            var y = b.Let($"call double @llvm.fabs.f64(double {Get(b, "%a", p, c)})");
            b.Line($"store i64 {b.Let($"select i1 {b.Let($"fcmp ogt double {x}, {y}")}, i64 {r}, i64 {p}")}, ptr {slot}");
        }, "pr");
        return b.Let($"load i64, ptr {slot}", "piv");
    }

    private static void SwapRows(LlvmBuilder b, string m, string p, string c) =>
        b.For("0", "%n", j =>
        {
            var (x, y) = (Gep(b, m, p, j), Gep(b, m, c, j));
            var (vx, vy) = (b.Let($"load double, ptr {x}"), b.Let($"load double, ptr {y}"));
            b.Line($"store double {vy}, ptr {x}");
            b.Line($"store double {vx}, ptr {y}");
        }, "sw");

    /// <summary><c>double @gc.det(ptr a, i64 n)</c>: DeterminantOp's LU with partial pivoting on the n×n doubles at a (destroyed).</summary>
    public static string Determinant(ModuleContext module)
    {
        const string name = "gc.det";
        if (!module.FirstHelper(name)) return name;
        module.Declare("declare double @llvm.fabs.f64(double)");
        var b = new LlvmBuilder();
        var det = b.Alloca("double");
        var slot = b.Alloca("i64");
        b.Line($"store double 1.0, ptr {det}");
        b.For("0", "%n", c =>
        {
            var p = Pivot(b, c, slot);
            SwapRows(b, "%a", p, c); // a no-op when p = c
            var d0 = b.Let($"load double, ptr {det}");
            var d1 = b.Let($"select i1 {b.Let($"icmp ne i64 {p}, {c}")}, double {b.Let($"fneg double {d0}")}, double {d0}");
            var pivot = Get(b, "%a", c, c);
            b.Line($"store double {b.Let($"fmul double {d1}, {pivot}")}, ptr {det}");
            var elim = b.FreshLabel("elim");
            var done = b.FreshLabel("elimdone");
            b.CondBr(b.Let($"fcmp oeq double {pivot}, 0.0"), done, elim);
            b.Block(elim);
            b.For(b.Let($"add i64 {c}, 1"), "%n", r =>
            {
                var f = b.Let($"fdiv double {Get(b, "%a", r, c)}, {pivot}");
                b.For(c, "%n", j =>
                {
                    var q = Gep(b, "%a", r, j);
                    var v = b.Let($"fsub double {b.Let($"load double, ptr {q}")}, {b.Let($"fmul double {f}, {Get(b, "%a", c, j)}")}");
                    b.Line($"store double {v}, ptr {q}");
                }, "ej");
            }, "er");
            b.Br(done);
            b.Block(done);
        }, "col");
        b.Line($"ret double {b.Let($"load double, ptr {det}")}");
        module.AddFunction($"define internal double @{name}(ptr noalias %a, i64 %n) nounwind {{\n{b.Body()}}}");
        return name;
    }

    /// <summary><c>void @gc.inv(ptr a, ptr inv, i64 n)</c>: MatrixInverseOp's Gauss–Jordan; a is destroyed, inv must hold the identity.</summary>
    public static string Inverse(ModuleContext module)
    {
        const string name = "gc.inv";
        if (!module.FirstHelper(name)) return name;
        module.Declare("declare double @llvm.fabs.f64(double)");
        var b = new LlvmBuilder();
        var slot = b.Alloca("i64");
        b.For("0", "%n", c =>
        {
            var p = Pivot(b, c, slot);
            SwapRows(b, "%a", p, c);
            SwapRows(b, "%inv", p, c);
            var pivot = Get(b, "%a", c, c);
            b.For("0", "%n", j =>
            {
                foreach (var m in new[] { "%a", "%inv" })
                {
                    var q = Gep(b, m, c, j);
                    b.Line($"store double {b.Let($"fdiv double {b.Let($"load double, ptr {q}")}, {pivot}")}, ptr {q}");
                }
            }, "nj");
            b.For("0", "%n", r =>
            {
                var run = b.FreshLabel("row");
                var skip = b.FreshLabel("rowdone");
                b.CondBr(b.Let($"icmp eq i64 {r}, {c}"), skip, run);
                b.Block(run);
                var f = Get(b, "%a", r, c);
                b.For("0", "%n", j =>
                {
                    foreach (var m in new[] { "%a", "%inv" })
                    {
                        var q = Gep(b, m, r, j);
                        var v = b.Let($"fsub double {b.Let($"load double, ptr {q}")}, {b.Let($"fmul double {f}, {Get(b, m, c, j)}")}");
                        b.Line($"store double {v}, ptr {q}");
                    }
                }, "ej");
                b.Br(skip);
                b.Block(skip);
            }, "er");
        }, "col");
        b.Line("ret void");
        module.AddFunction($"define internal void @{name}(ptr noalias %a, ptr noalias %inv, i64 %n) nounwind {{\n{b.Body()}}}");
        return name;
    }
}
