using GraphCompiler.Backends.Llvm.Codegen;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// Out-of-line LLVM helper functions that whole-tensor kernels call once per lane or matrix: a stable
/// merge sort and the interpreter's LU / Gauss–Jordan algorithms. Each is emitted once per module
/// (and per key type for the sort).
/// </summary>
internal static class Helpers
{
    /// <summary>
    /// <c>void @gc.sort.T(ptr keys, ptr idx, ptr tmp, i64 n, i1 desc)</c>: stably sorts the i64 positions
    /// in <c>idx</c> by <c>keys[position]</c> (keys in compute type <paramref name="t"/>), bottom-up merge
    /// sort with the scratch <c>tmp</c>. Order: NaN after every number; descending reverses the key
    /// order only, so ties keep their original order both ways.
    /// </summary>
    public static string Sort(ModuleContext module, string t, bool unsigned)
    {
        var name = $"gc.sort.{(unsigned ? "u" : "")}{t}";
        if (!module.FirstHelper(name)) return name;
        module.Declare("declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)");
        var b = new LlvmBuilder();
        string Less(string x, string y)
        {
            if (t is "float" or "double")
            {
                var lt = b.Let($"fcmp olt {t} {x}, {y}");
                var xNum = b.Let($"fcmp ord {t} {x}, {x}");
                var yNan = b.Let($"fcmp uno {t} {y}, {y}");
                return b.Let($"or i1 {lt}, {b.Let($"and i1 {xNum}, {yNan}")}");
            }
            return b.Let($"icmp {(unsigned || t == "i1" ? "ult" : "slt")} {t} {x}, {y}");
        }
        var width = b.Alloca("i64");
        var iSlot = b.Alloca("i64");
        var jSlot = b.Alloca("i64");
        b.Line($"store i64 1, ptr {width}");
        var head = b.FreshLabel("pass.head");
        var body = b.FreshLabel("pass.body");
        var exit = b.FreshLabel("pass.exit");
        b.Br(head);
        b.Block(head);
        var w = b.Let($"load i64, ptr {width}", "w");
        b.CondBr(b.Let($"icmp slt i64 {w}, %n"), body, exit);
        b.Block(body);
        var step = b.Let($"shl i64 {w}, 1", "step");
        var chunks = b.Let($"udiv i64 {b.Let($"add i64 %n, {b.Let($"sub i64 {step}, 1")}")}, {step}");
        b.For("0", chunks, ci =>
        {
            var lo = b.Let($"mul i64 {ci}, {step}", "lo");
            var mid = Min(b, b.Let($"add i64 {lo}, {w}"), "%n");
            var hi = Min(b, b.Let($"add i64 {lo}, {step}"), "%n");
            b.Line($"store i64 {lo}, ptr {iSlot}");
            b.Line($"store i64 {mid}, ptr {jSlot}");
            b.For(lo, hi, k =>
            {
                var iv = b.Let($"load i64, ptr {iSlot}");
                var jv = b.Let($"load i64, ptr {jSlot}");
                var iok = b.Let($"icmp slt i64 {iv}, {mid}");
                var jok = b.Let($"icmp slt i64 {jv}, {hi}");
                var ic = b.Let($"select i1 {iok}, i64 {iv}, i64 {lo}");
                var jc = b.Let($"select i1 {jok}, i64 {jv}, i64 {lo}");
                var left = b.Let($"load i64, ptr {b.Let($"getelementptr inbounds i64, ptr %idx, i64 {ic}")}");
                var right = b.Let($"load i64, ptr {b.Let($"getelementptr inbounds i64, ptr %idx, i64 {jc}")}");
                var kl = b.Let($"load {t}, ptr {b.Let($"getelementptr inbounds {t}, ptr %keys, i64 {left}")}");
                var kr = b.Let($"load {t}, ptr {b.Let($"getelementptr inbounds {t}, ptr %keys, i64 {right}")}");
                // The right element goes first only when strictly before the left one: stability.
                var before = b.Let($"select i1 %desc, i1 {Less(kl, kr)}, i1 {Less(kr, kl)}");
                var takeRight = b.Let($"and i1 {jok}, {b.Let($"or i1 {b.Let($"xor i1 {iok}, true")}, {before}")}");
                var chosen = b.Let($"select i1 {takeRight}, i64 {right}, i64 {left}");
                b.Line($"store i64 {chosen}, ptr {b.Let($"getelementptr inbounds i64, ptr %tmp, i64 {k}")}");
                b.Line($"store i64 {b.Let($"select i1 {takeRight}, i64 {iv}, i64 {b.Let($"add i64 {iv}, 1")}")}, ptr {iSlot}");
                b.Line($"store i64 {b.Let($"select i1 {takeRight}, i64 {b.Let($"add i64 {jv}, 1")}, i64 {jv}")}, ptr {jSlot}");
            }, "m");
        }, "chunk");
        b.Line($"call void @llvm.memcpy.p0.p0.i64(ptr %idx, ptr %tmp, i64 {b.Let("mul i64 %n, 8")}, i1 false)");
        b.Line($"store i64 {step}, ptr {width}");
        b.Br(head);
        b.Block(exit);
        b.Line("ret void");
        module.AddFunction($"define internal void @{name}(ptr noalias %keys, ptr noalias %idx, ptr noalias %tmp, i64 %n, i1 %desc) nounwind {{\n{b.Body()}}}");
        return name;
    }

    private static string Min(LlvmBuilder b, string x, string y) => b.Let($"select i1 {b.Let($"icmp slt i64 {x}, {y}")}, i64 {x}, i64 {y}");

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
