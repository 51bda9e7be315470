using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// Elements beyond the shared evaluator's, for both targets' kernels: the loops of <see cref="LoopElementOps"/> and
/// <c>rng</c> (Philox-4x32-10 of the element's linear index, then RngOp's exact recipe; normal draws take log and cos
/// from libm on the CPU and from the module's own f64 helpers on a GPU, FastMath.F64 and F64Trig).
/// </summary>
public sealed class KernelElementOps : IElementOps
{
    public static readonly KernelElementOps Instance = new();

    public string? TryCompute(ElementEvaluator ev, Operation op, Value v, IReadOnlyList<string> idx) =>
        op.Def is RngOp ? Rng(ev, op, v, idx) : LoopElementOps.Instance.TryCompute(ev, op, v, idx);

    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    private static string[] Philox(ElementEvaluator ev, string k, ulong seed)
    {
        var c = new[]
        {
            ev.B.Let($"trunc i64 {k} to i32"),
            ev.B.Let($"trunc i64 {ev.B.Let($"lshr i64 {k}, 32")} to i32"),
            "0",
            "0",
        };
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        for (int round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k0 = unchecked(k0 + W0);
                k1 = unchecked(k1 + W1);
            }
            var p0 = ev.B.Let($"mul i64 {ev.B.Let($"zext i32 {c[0]} to i64")}, {M0}");
            var p1 = ev.B.Let($"mul i64 {ev.B.Let($"zext i32 {c[2]} to i64")}, {M1}");
            string Hi(string p) => ev.B.Let($"trunc i64 {ev.B.Let($"lshr i64 {p}, 32")} to i32");
            string Lo(string p) => ev.B.Let($"trunc i64 {p} to i32");
            var n0 = ev.B.Let($"xor i32 {ev.B.Let($"xor i32 {Hi(p1)}, {c[1]}")}, {unchecked((int)k0)}");
            var n1 = Lo(p1);
            var n2 = ev.B.Let($"xor i32 {ev.B.Let($"xor i32 {Hi(p0)}, {c[3]}")}, {unchecked((int)k1)}");
            var n3 = Lo(p0);
            c = [n0, n1, n2, n3];
        }
        return c;
    }

    private static string Unit24(ElementEvaluator ev, string r) => ev.B.Let($"fmul double {ev.B.Let($"uitofp i32 {ev.B.Let($"lshr i32 {r}, 8")} to double")}, {LlvmTypes.FloatLiteral("double", 1.0 / (1 << 24))}");

    private static string Unit53(ElementEvaluator ev, string hi, string lo)
    {
        var w = ev.B.Let($"or i64 {ev.B.Let($"shl i64 {ev.B.Let($"zext i32 {hi} to i64")}, 32")}, {ev.B.Let($"zext i32 {lo} to i64")}");
        return ev.B.Let($"fmul double {ev.B.Let($"uitofp i64 {ev.B.Let($"lshr i64 {w}, 11")} to double")}, {LlvmTypes.FloatLiteral("double", 1.0 / (1L << 53))}");
    }

    private static string Rng(ElementEvaluator ev, Operation op, Value v, IReadOnlyList<string> idx)
    {
        var e = v.Type.Element;
        bool wide = e == ElementType.F64;
        ulong seed = (ulong)op.Attr.Int("seed");
        double a = op.Attr.Float("a"), b = op.Attr.Float("b");
        var r = Philox(ev, ev.Memory.Ravel(idx, v.Type.Shape), seed);
        string D(double x) => LlvmTypes.FloatLiteral("double", x);
        if (op.Attr.Enum("distribution") == "uniform")
        {
            var u = wide ? Unit53(ev, r[0], r[1]) : Unit24(ev, r[0]);
            var x = ev.B.Let($"fadd double {D(a)}, {ev.B.Let($"fmul double {D(b - a)}, {u}")}");
            var t = LlvmTypes.Compute(e);
            var rounded = ev.Memory.RoundFromDouble(e, x);
            var wideRounded = t == "double" ? rounded : ev.B.Let($"fpext {t} {rounded} to double");
            // Rounding may leave [a, b): take the nearest value of the type inside it.
            var (lo, hi) = (FloatRounding.SmallestAtLeast(e, a), FloatRounding.LargestBelow(e, b));
            var above = ev.B.Let($"fcmp oge double {wideRounded}, {D(b)}");
            var below = ev.B.Let($"fcmp olt double {wideRounded}, {D(a)}");
            var r1 = ev.B.Let($"select i1 {below}, {t} {LlvmTypes.FloatLiteral(t, lo)}, {t} {rounded}");
            return ev.B.Let($"select i1 {above}, {t} {LlvmTypes.FloatLiteral(t, hi)}, {t} {r1}");
        }
        bool gpu = ev.Module.Gpu;
        var (log, cosine) = gpu ? (FastMath.LogF64(ev.Module), FastMath.CosF64(ev.Module)) : ("llvm.log.f64", "llvm.cos.f64");
        if (!gpu)
        {
            ev.Module.Declare("declare double @llvm.log.f64(double)");
            ev.Module.Declare("declare double @llvm.cos.f64(double)");
        }
        ev.Module.Declare("declare double @llvm.sqrt.f64(double)");
        var u1 = ev.B.Let($"fsub double 1.0, {(wide ? Unit53(ev, r[0], r[1]) : Unit24(ev, r[0]))}");
        var u2 = wide ? Unit53(ev, r[2], r[3]) : Unit24(ev, r[1]);
        var ln = ev.B.Let($"call double @{log}(double {u1})");
        var mag = ev.B.Let($"call double @llvm.sqrt.f64(double {ev.B.Let($"fmul double -2.0, {ln}")})");
        var cos = ev.B.Let($"call double @{cosine}(double {ev.B.Let($"fmul double {D(2 * Math.PI)}, {u2}")})");
        var z = ev.B.Let($"fmul double {mag}, {cos}");
        return ev.Memory.RoundFromDouble(e, ev.B.Let($"fadd double {D(a)}, {ev.B.Let($"fmul double {D(b)}, {z}")}"));
    }

}
