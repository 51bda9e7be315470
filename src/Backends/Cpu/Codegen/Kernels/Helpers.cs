using GraphCompiler.Backends.Llvm.Codegen;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// Out-of-line LLVM helper functions that whole-tensor kernels call once per lane: a stable merge sort, emitted
/// once per module and key type. (The matrix helpers, which the GPU shares, are the LLVM layer's MatrixHelpers.)
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
}
