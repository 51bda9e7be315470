using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary><c>rng</c>: Philox-4x32-10 of the element's linear index, then RngOp's exact recipe.</summary>
internal sealed partial class KernelEmitter
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    private string[] Philox(string k, ulong seed)
    {
        var c = new[]
        {
            _b.Let($"trunc i64 {k} to i32"),
            _b.Let($"trunc i64 {_b.Let($"lshr i64 {k}, 32")} to i32"),
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
            var p0 = _b.Let($"mul i64 {_b.Let($"zext i32 {c[0]} to i64")}, {M0}");
            var p1 = _b.Let($"mul i64 {_b.Let($"zext i32 {c[2]} to i64")}, {M1}");
            string Hi(string p) => _b.Let($"trunc i64 {_b.Let($"lshr i64 {p}, 32")} to i32");
            string Lo(string p) => _b.Let($"trunc i64 {p} to i32");
            var n0 = _b.Let($"xor i32 {_b.Let($"xor i32 {Hi(p1)}, {c[1]}")}, {unchecked((int)k0)}");
            var n1 = Lo(p1);
            var n2 = _b.Let($"xor i32 {_b.Let($"xor i32 {Hi(p0)}, {c[3]}")}, {unchecked((int)k1)}");
            var n3 = Lo(p0);
            c = [n0, n1, n2, n3];
        }
        return c;
    }

    private string Unit24(string r) => _b.Let($"fmul double {_b.Let($"uitofp i32 {_b.Let($"lshr i32 {r}, 8")} to double")}, {LlvmTypes.FloatLiteral("double", 1.0 / (1 << 24))}");

    private string Unit53(string hi, string lo)
    {
        var w = _b.Let($"or i64 {_b.Let($"shl i64 {_b.Let($"zext i32 {hi} to i64")}, 32")}, {_b.Let($"zext i32 {lo} to i64")}");
        return _b.Let($"fmul double {_b.Let($"uitofp i64 {_b.Let($"lshr i64 {w}, 11")} to double")}, {LlvmTypes.FloatLiteral("double", 1.0 / (1L << 53))}");
    }

    private string Rng(Operation op, Value v, IReadOnlyList<string> idx)
    {
        var e = v.Type.Element;
        bool wide = e == ElementType.F64;
        ulong seed = (ulong)op.Attr.Int("seed");
        double a = op.Attr.Float("a"), b = op.Attr.Float("b");
        var r = Philox(Ravel(idx, v.Type.Shape), seed);
        string D(double x) => LlvmTypes.FloatLiteral("double", x);
        if (op.Attr.Enum("distribution") == "uniform")
        {
            var u = wide ? Unit53(r[0], r[1]) : Unit24(r[0]);
            var x = _b.Let($"fadd double {D(a)}, {_b.Let($"fmul double {D(b - a)}, {u}")}");
            var t = LlvmTypes.Compute(e);
            var rounded = RoundFromDouble(e, x);
            var wideRounded = t == "double" ? rounded : _b.Let($"fpext {t} {rounded} to double");
            // Rounding may leave [a, b): take the nearest value of the type inside it.
            var (lo, hi) = (FloatRounding.SmallestAtLeast(e, a), FloatRounding.LargestBelow(e, b));
            var above = _b.Let($"fcmp oge double {wideRounded}, {D(b)}");
            var below = _b.Let($"fcmp olt double {wideRounded}, {D(a)}");
            var r1 = _b.Let($"select i1 {below}, {t} {LlvmTypes.FloatLiteral(t, lo)}, {t} {rounded}");
            return _b.Let($"select i1 {above}, {t} {LlvmTypes.FloatLiteral(t, hi)}, {t} {r1}");
        }
        _module.Declare("declare double @llvm.log.f64(double)");
        _module.Declare("declare double @llvm.cos.f64(double)");
        _module.Declare("declare double @llvm.sqrt.f64(double)");
        var u1 = _b.Let($"fsub double 1.0, {(wide ? Unit53(r[0], r[1]) : Unit24(r[0]))}");
        var u2 = wide ? Unit53(r[2], r[3]) : Unit24(r[1]);
        var ln = _b.Let($"call double @llvm.log.f64(double {u1})");
        var mag = _b.Let($"call double @llvm.sqrt.f64(double {_b.Let($"fmul double -2.0, {ln}")})");
        var cos = _b.Let($"call double @llvm.cos.f64(double {_b.Let($"fmul double {D(2 * Math.PI)}, {u2}")})");
        var z = _b.Let($"fmul double {mag}, {cos}");
        return RoundFromDouble(e, _b.Let($"fadd double {D(a)}, {_b.Let($"fmul double {D(b)}, {z}")}"));
    }

}
