using GraphCompiler.IR;

namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// Scalar LLVM instructions for the elementwise ops, with the interpreter's semantics (docs/ir.md):
/// integer division and shifts guarded where LLVM would be undefined, NaN-propagating max/min,
/// saturating float → integer conversion. Values are in their compute type (<see cref="LlvmTypes.Compute"/>).
/// </summary>
public sealed class ScalarEmitter(LlvmBuilder b, ModuleContext module)
{
    /// <summary>
    /// Whether the lowering of float op <paramref name="op"/> on <paramref name="e"/> is self-contained:
    /// inline code and instructions or intrinsics every LLVM target lowers, no libm call. A GPU kernel can
    /// contain exactly these. f32 (and f16/bf16, computed in f32) has every function (src/Backends/Llvm/Codegen/Math);
    /// f64 the arithmetic, the remainder, and every transcendental on a GPU module (FastMath.F64, F64Trig, F64Hyperbolic,
    /// F64Atan and F64Pow); on the CPU they are LLVM intrinsics that become libm calls.
    /// </summary>
    public static bool SelfContained(string op, ElementType e) =>
        op is "neg" or "abs" or "sign" or "sqrt" or "rsqrt" or "floor" or "ceil" or "round" or "is_finite"
            or "add" or "sub" or "mul" or "div" or "rem" or "max" or "min"
        || (LlvmTypes.Compute(e) == "float"
            && (op is "exp" or "logistic" or "tanh" or "atan2" or "pow" || FastMath.Unary(op) is not null))
        || (LlvmTypes.Compute(e) == "double" && (op is "exp" or "log" or "logistic" or "atan2" or "pow" || FastMath.UnaryF64(op) is not null));

    public string Unary(string op, ElementType e, string x)
    {
        var t = LlvmTypes.Compute(e);
        if (e.IsFloat())
        {
            string Lit(double v) => LlvmTypes.FloatLiteral(t, v);
            return op switch
            {
                "neg" => b.Let($"fneg {t} {x}"),
                "abs" => Intrinsic("fabs", t, x),
                "sign" => Sign(t, x),
                "exp" when t == "float" => Call(FastMath.Exp(module), t, x),
                "exp" => Exp(t, x),
                _ when t == "float" && FastMath.Unary(op) is { } helper => Call(helper(module), t, x),
                "log" when module.Gpu => Call(FastMath.LogF64(module), t, x),
                "log" => Intrinsic("log", t, x),
                "sqrt" => Intrinsic("sqrt", t, x),
                "rsqrt" => b.Let($"fdiv {t} {Lit(1)}, {Intrinsic("sqrt", t, x)}"),
                _ when t == "double" && module.Gpu && FastMath.UnaryF64(op) is { } f64 => Call(f64(module), t, x),
                "sin" => Intrinsic("sin", t, x),
                "cos" => Intrinsic("cos", t, x),
                "floor" => Intrinsic("floor", t, x),
                "ceil" => Intrinsic("ceil", t, x),
                "round" => Intrinsic("roundeven", t, x),
                "logistic" when t == "float" => Call(FastMath.Logistic(module), t, x),
                "tanh" when t == "float" => Call(FastMath.Tanh(module), t, x),
                "logistic" => Logistic(t, x),
                "is_finite" => b.Let($"fcmp one {t} {Intrinsic("fabs", t, x)}, {Lit(double.PositiveInfinity)}"),
                "tanh" or "erf" or "expm1" or "log1p" or "cbrt" or "tan" or "asin" or "acos" or "atan" or "sinh" or "cosh"
                    or "asinh" or "acosh" or "atanh" => Libm(op, t, x),
                _ => throw new CodegenException($"no float lowering for '{op}'"),
            };
        }
        var it = LlvmTypes.Register(e);
        return op switch
        {
            "neg" => b.Let($"sub {it} 0, {x}"),
            "abs" => e.IsUnsignedInteger() ? x : IntIntrinsic("abs", it, $"{it} {x}, i1 false", $"{it}, i1"),
            "sign" => e.IsUnsignedInteger()
                ? b.Let($"zext i1 {b.Let($"icmp ne {it} {x}, 0")} to {it}")
                : b.Let($"select i1 {b.Let($"icmp sgt {it} {x}, 0")}, {it} 1, {it} {b.Let($"select i1 {b.Let($"icmp slt {it} {x}, 0")}, {it} -1, {it} 0")}"),
            "not" => b.Let($"xor {it} {x}, {(e == ElementType.Bool ? "true" : "-1")}"),
            _ => throw new CodegenException($"no integer lowering for '{op}'"),
        };
    }

    private string IntIntrinsic(string name, string it, string args, string argTypes)
    {
        module.Declare($"declare {it} @llvm.{name}.{it}({argTypes})");
        return b.Let($"call {it} @llvm.{name}.{it}({args})");
    }

    private string Sign(string t, string x)
    {
        // sign(±0) = ±0 and sign(NaN) = NaN: keep x unless it is strictly positive or negative.
        var pos = b.Let($"fcmp ogt {t} {x}, {LlvmTypes.FloatLiteral(t, 0)}");
        var neg = b.Let($"fcmp olt {t} {x}, {LlvmTypes.FloatLiteral(t, 0)}");
        var n = b.Let($"select i1 {neg}, {t} {LlvmTypes.FloatLiteral(t, -1)}, {t} {x}");
        return b.Let($"select i1 {pos}, {t} {LlvmTypes.FloatLiteral(t, 1)}, {t} {n}");
    }

    private string Call(string function, string t, string x) => b.Let($"call {t} @{function}({t} {x})");

    /// <summary>
    /// f64 logistic as the interpreter defines it, without overflow on either side: with e = exp(−|x|) ≤ 1, 1/(1 + e) for
    /// x ≥ 0 and e/(1 + e) below (1/(1 + exp(−x)) would give 0 instead of a subnormal for x &lt; −709.78).
    /// </summary>
    private string Logistic(string t, string x)
    {
        var e = Exp(t, b.Let($"fneg {t} {Intrinsic("fabs", t, x)}"));
        var d = b.Let($"fadd {t} {LlvmTypes.FloatLiteral(t, 1)}, {e}");
        var num = b.Let($"select i1 {b.Let($"fcmp oge {t} {x}, {LlvmTypes.FloatLiteral(t, 0)}")}, {t} {LlvmTypes.FloatLiteral(t, 1)}, {t} {e}");
        return b.Let($"fdiv {t} {num}, {d}");
    }

    /// <summary>f64 exp: libm's on the CPU (correctly rounded), the module's own helper on the GPU (within 1 ulp; no libm there).</summary>
    private string Exp(string t, string x) => module.Gpu ? Call(FastMath.ExpF64(module), t, x) : Intrinsic("exp", t, x);

    private string Intrinsic(string name, string t, params string[] args)
    {
        var suffix = t == "float" ? "f32" : "f64";
        module.Declare($"declare {t} @llvm.{name}.{suffix}({string.Join(", ", args.Select(_ => t))})");
        return b.Let($"call {t} @llvm.{name}.{suffix}({string.Join(", ", args.Select(a => $"{t} {a}"))})");
    }

    private string Libm(string name, string t, params string[] args)
    {
        var fn = t == "float" ? name + "f" : name;
        module.Declare($"declare {t} @{fn}({string.Join(", ", args.Select(_ => t))}) nounwind readnone");
        return b.Let($"call {t} @{fn}({string.Join(", ", args.Select(a => $"{t} {a}"))})");
    }

    public string Binary(string op, ElementType e, string x, string y)
    {
        if (e.IsFloat())
        {
            var t = LlvmTypes.Compute(e);
            return op switch
            {
                "add" => b.Let($"fadd {t} {x}, {y}"),
                "sub" => b.Let($"fsub {t} {x}, {y}"),
                "mul" => b.Let($"fmul {t} {x}, {y}"),
                "div" => b.Let($"fdiv {t} {x}, {y}"),
                "rem" => b.Let($"call {t} @{FloatRem.Helper(module, t)}({t} {x}, {t} {y})"),
                "pow" when t == "float" => b.Let($"call float @{FastMath.Pow(module)}(float {x}, float {y})"),
                "pow" when module.Gpu => b.Let($"call double @{FastMath.PowF64(module)}(double {x}, double {y})"),
                "pow" => Intrinsic("pow", t, x, y),
                "max" => Intrinsic("maximum", t, x, y),
                "min" => Intrinsic("minimum", t, x, y),
                "atan2" when t == "float" => b.Let($"call float @{FastMath.Atan2(module)}(float {x}, float {y})"),
                "atan2" when module.Gpu => b.Let($"call double @{FastMath.Atan2F64(module)}(double {x}, double {y})"),
                "atan2" => Libm("atan2", t, x, y),
                _ => throw new CodegenException($"no float lowering for '{op}'"),
            };
        }
        var it = LlvmTypes.Register(e);
        bool u = e.IsUnsignedInteger();
        int bits = e.BitWidth();
        switch (op)
        {
            case "add": return b.Let($"add {it} {x}, {y}");
            case "sub": return b.Let($"sub {it} {x}, {y}");
            case "mul": return b.Let($"mul {it} {x}, {y}");
            case "and": return b.Let($"and {it} {x}, {y}");
            case "or": return b.Let($"or {it} {x}, {y}");
            case "xor": return b.Let($"xor {it} {x}, {y}");
            case "max": return IntIntrinsic(u ? "umax" : "smax", it, $"{it} {x}, {it} {y}", $"{it}, {it}");
            case "min": return IntIntrinsic(u ? "umin" : "smin", it, $"{it} {x}, {it} {y}", $"{it}, {it}");
            case "div" or "rem":
            {
                // LLVM leaves x/0 and MIN/-1 undefined; the IR defines them (x/0 = -1, x%0 = x, MIN/-1 = MIN, MIN%-1 = 0).
                var zero = b.Let($"icmp eq {it} {y}, 0");
                var bad = zero;
                if (!u)
                {
                    var minusOne = b.Let($"icmp eq {it} {y}, -1");
                    bad = b.Let($"or i1 {zero}, {minusOne}");
                    var safeY = b.Let($"select i1 {bad}, {it} 1, {it} {y}");
                    var q = b.Let($"{(op == "div" ? "sdiv" : "srem")} {it} {x}, {safeY}");
                    var special = op == "div" ? b.Let($"select i1 {zero}, {it} -1, {it} {b.Let($"sub {it} 0, {x}")}") : b.Let($"select i1 {zero}, {it} {x}, {it} 0");
                    return b.Let($"select i1 {bad}, {it} {special}, {it} {q}");
                }
                var sy = b.Let($"select i1 {zero}, {it} 1, {it} {y}");
                var r = b.Let($"{(op == "div" ? "udiv" : "urem")} {it} {x}, {sy}");
                return b.Let($"select i1 {zero}, {it} {(op == "div" ? "-1" : x)}, {it} {r}");
            }
            case "shift_left" or "shift_right_logical" or "shift_right_arithmetic":
            {
                var outOfRange = b.Let($"icmp {(u ? "uge" : "uge")} {it} {y}, {bits}");
                var safe = b.Let($"select i1 {outOfRange}, {it} 0, {it} {y}");
                var instr = op switch { "shift_left" => "shl", "shift_right_logical" => "lshr", _ => "ashr" };
                var r = b.Let($"{instr} {it} {x}, {safe}");
                var fill = op == "shift_right_arithmetic" ? b.Let($"ashr {it} {x}, {bits - 1}") : "0";
                return b.Let($"select i1 {outOfRange}, {it} {fill}, {it} {r}");
            }
            case "pow":
                return b.Let($"call {it} @{module.IntegerPow(it, u)}({it} {x}, {it} {y})");
            default: throw new CodegenException($"no integer lowering for '{op}'");
        }
    }

    public string Compare(string direction, ElementType e, string x, string y)
    {
        if (e.IsFloat())
        {
            var pred = direction switch { "eq" => "oeq", "ne" => "une", "lt" => "olt", "le" => "ole", "gt" => "ogt", _ => "oge" };
            return b.Let($"fcmp {pred} {LlvmTypes.Compute(e)} {x}, {y}");
        }
        bool u = e.IsUnsignedInteger() || e == ElementType.Bool;
        var ip = direction switch
        {
            "eq" => "eq", "ne" => "ne",
            "lt" => u ? "ult" : "slt", "le" => u ? "ule" : "sle",
            "gt" => u ? "ugt" : "sgt", _ => u ? "uge" : "sge",
        };
        return b.Let($"icmp {ip} {LlvmTypes.Register(e)} {x}, {y}");
    }

    /// <summary>Converts between compute types with the IR's convert semantics.</summary>
    public string Convert(ElementType from, ElementType to, string x)
    {
        if (from == to) return x;
        string ft = LlvmTypes.Compute(from), tt = LlvmTypes.Compute(to);
        if (to == ElementType.Bool)
            return from.IsFloat() ? b.Let($"fcmp une {ft} {x}, {LlvmTypes.FloatLiteral(ft, 0)}") : b.Let($"icmp ne {ft} {x}, 0");
        if (from == ElementType.Bool)
            return to.IsFloat() ? b.Let($"uitofp i1 {x} to {tt}") : b.Let($"zext i1 {x} to {tt}");
        if (from.IsFloat() && to.IsFloat())
        {
            // f16/bf16 compute in float, but a convert to one of them rounds now, as the IR says: a value converted
            // down and back up in one kernel (16-bit gradient compression, say) must lose what the type cannot hold.
            if (to is ElementType.F16 or ElementType.BF16)
            {
                var memory = new MemoryAccess(b, module);
                if (ft == "double") return memory.RoundFromDouble(to, x);
                return to == ElementType.F16
                    ? b.Let($"fpext half {b.Let($"fptrunc float {x} to half")} to float")
                    : memory.BFloatToFloat(memory.FloatToBFloat(x));
            }
            if (ft == tt) return x; // from f16/bf16 up to f32: exact
            return to.ByteSize() > from.ByteSize() || ft == "float" && tt == "double"
                ? b.Let($"fpext {ft} {x} to {tt}")
                : b.Let($"fptrunc {ft} {x} to {tt}");
        }
        if (from.IsFloat())
        {
            var sat = to.IsUnsignedInteger() ? "fptoui" : "fptosi";
            var suffix = ft == "float" ? "f32" : "f64";
            module.Declare($"declare {tt} @llvm.{sat}.sat.{tt}.{suffix}({ft})");
            return b.Let($"call {tt} @llvm.{sat}.sat.{tt}.{suffix}({ft} {x})");
        }
        if (to.IsFloat()) return b.Let($"{(from.IsUnsignedInteger() ? "uitofp" : "sitofp")} {ft} {x} to {tt}");
        int fb = from.BitWidth(), tb = to.BitWidth();
        if (fb == tb) return x;
        if (tb < fb) return b.Let($"trunc {ft} {x} to {tt}");
        return b.Let($"{(from.IsUnsignedInteger() ? "zext" : "sext")} {ft} {x} to {tt}");
    }
}

/// <summary>A construct the CPU backend does not compile (yet); reported as a diagnostic.</summary>
public sealed class CodegenException(string message) : Exception(message);
