namespace GraphCompiler.Backends.Llvm.Codegen;

// expm1, log1p and the hyperbolic functions and their inverses in f64 for the GPU (the CPU keeps libm's), built on the
// f64 exp and log helpers with fdlibm's formulas, which avoid the cancellations the textbook ones have near 0.
internal static partial class FastMath
{
    /// <summary>The f64 unary helpers a GPU module has beyond exp, log and logistic (ScalarEmitter calls them; the CPU calls libm); atan2 is <see cref="Atan2F64"/>.</summary>
    private static readonly Dictionary<string, Func<ModuleContext, string>> F64Helpers = new()
    {
        ["sin"] = SinF64, ["cos"] = CosF64, ["tan"] = TanF64, ["expm1"] = Expm1F64, ["log1p"] = Log1pF64,
        ["sinh"] = SinhF64, ["cosh"] = CoshF64, ["tanh"] = TanhF64, ["asinh"] = AsinhF64, ["acosh"] = AcoshF64, ["atanh"] = AtanhF64,
        ["atan"] = AtanF64, ["asin"] = AsinF64, ["acos"] = AcosF64, ["cbrt"] = CbrtF64, ["erf"] = ErfF64,
    };

    /// <summary>The GPU's own f64 helper for unary op <paramref name="op"/>, or null.</summary>
    public static Func<ModuleContext, string>? UnaryF64(string op) => F64Helpers.GetValueOrDefault(op);

    private static string Call(MathFunction f, string helper, string x) => f.Let($"call double @{helper}(double {x})");

    private static string Select(MathFunction f, string condition, string a, string b) => f.Let($"select i1 {condition}, double {a}, double {b}");

    private static string Abs(ModuleContext module, MathFunction f, string x)
    {
        module.Declare("declare double @llvm.fabs.f64(double)");
        return f.Let($"call double @llvm.fabs.f64(double {x})");
    }

    private static string CopySign(ModuleContext module, MathFunction f, string magnitude, string sign)
    {
        module.Declare("declare double @llvm.copysign.f64(double, double)");
        return f.Let($"call double @llvm.copysign.f64(double {magnitude}, double {sign})");
    }

    /// <summary>
    /// <c>expm1(x)</c> in f64 (within 1 ulp): exp's reduction x = n·ln2 + r, e^r − 1 = r + r²·P(r) (no 1 added, so nothing
    /// cancels), then (2^n − 1) + 2^n·(e^r − 1), exact but for one rounding while |n| ≤ 52 (n = 0 below ln2/2: the series
    /// itself); beyond, exp(x) − 1. ±0 stay themselves.
    /// </summary>
    public static string Expm1F64(ModuleContext module) => MathFunction.Define(module, "gc.expm1.f64", 1, (f, p) =>
    {
        var x = p[0];
        var xc = f.DMin(f.DMax(x, D(-746)), D(710));
        var n = f.DRound(f.DMul(xc, D(1 / Ln2)));
        var negN = f.Let($"fneg double {n}");
        var r = f.DFma(negN, D(Ln2Tail), f.DFma(negN, D(Ln2), xc));
        var em1 = f.DFma(f.DMul(r, r), f.DPoly(r, ExpTail), r);
        var near = f.Let($"fcmp ole double {Abs(module, f, n)}, 52.0");
        var pow2 = f.Let($"bitcast i64 {f.Let($"shl i64 {f.Let($"add i64 {f.Let($"fptosi double {f.DMin(f.DMax(n, D(-52)), D(52))} to i64")}, 1023")}, 52")} to double");
        var reduced = f.DFma(pow2, em1, f.DSub(pow2, D(1)));
        var result = Select(f, near, reduced, f.DSub(Call(f, ExpF64(module), x), D(1)));
        return Select(f, f.Let($"fcmp oeq double {x}, 0.0"), x, result);
    }, "double");

    /// <summary>
    /// <c>log1p(x)</c> in f64 (within 2 ulp): u = 1 + x, log(u) less the rounding error of u, ((u − 1) − x)/u; x itself where
    /// u rounds to 1 (|x| below 2^-53), −inf at −1, +inf for +inf.
    /// </summary>
    public static string Log1pF64(ModuleContext module) => MathFunction.Define(module, "gc.log1p.f64", 1, (f, p) =>
    {
        var x = p[0];
        var u = f.DAdd(D(1), x);
        var result = f.DSub(Call(f, LogF64(module), u), f.DDiv(f.DSub(f.DSub(u, D(1)), x), u));
        result = Select(f, f.Let($"fcmp oeq double {u}, 1.0"), x, result);
        result = Select(f, f.Let($"fcmp oeq double {u}, 0.0"), D(double.NegativeInfinity), result); // x = −1
        return Select(f, f.Let($"fcmp oeq double {x}, {D(double.PositiveInfinity)}"), x, result);
    }, "double");

    /// <summary>
    /// <c>sinh(x)</c> in f64 (within 3 ulp; 2 below 700): for |x| &lt; 1, with s = expm1(|x|), (s + s/(s + 1))/2; up to 700, (e − 1/e)/2 with
    /// e = exp(|x|); beyond, (t/2)·t with t = exp(|x|/2), which overflows only where sinh does. x's sign.
    /// </summary>
    public static string SinhF64(ModuleContext module) => MathFunction.Define(module, "gc.sinh.f64", 1, (f, p) =>
    {
        var x = p[0];
        var a = Abs(module, f, x);
        var s = Call(f, Expm1F64(module), a);
        var small = f.DMul(D(0.5), f.DAdd(s, f.DDiv(s, f.DAdd(s, D(1)))));
        var e = Call(f, ExpF64(module), a);
        var medium = f.DMul(D(0.5), f.DSub(e, f.DDiv(D(1), e)));
        var t = Call(f, ExpF64(module), f.DMul(a, D(0.5)));
        var large = f.DMul(f.DMul(t, D(0.5)), t);
        var result = Select(f, f.Let($"fcmp olt double {a}, 1.0"), small, Select(f, f.Let($"fcmp olt double {a}, 700.0"), medium, large));
        return CopySign(module, f, result, x);
    }, "double");

    /// <summary>
    /// <c>cosh(x)</c> in f64 (within 3 ulp; 2 below 700): for |x| &lt; ln2/2, 1 + s²/(2(1 + s)) with s = expm1(|x|); up to 700, (e + 1/e)/2;
    /// beyond, (t/2)·t with t = exp(|x|/2).
    /// </summary>
    public static string CoshF64(ModuleContext module) => MathFunction.Define(module, "gc.cosh.f64", 1, (f, p) =>
    {
        var a = Abs(module, f, p[0]);
        var s = Call(f, Expm1F64(module), a);
        var small = f.DAdd(D(1), f.DDiv(f.DMul(s, s), f.DMul(D(2), f.DAdd(D(1), s))));
        var e = Call(f, ExpF64(module), a);
        var medium = f.DMul(D(0.5), f.DAdd(e, f.DDiv(D(1), e)));
        var t = Call(f, ExpF64(module), f.DMul(a, D(0.5)));
        var large = f.DMul(f.DMul(t, D(0.5)), t);
        return Select(f, f.Let($"fcmp olt double {a}, {D(Ln2 / 2)}"), small, Select(f, f.Let($"fcmp olt double {a}, 700.0"), medium, large));
    }, "double");

    /// <summary><c>tanh(x)</c> in f64 (within 3 ulp): t/(t + 2) with t = expm1(2|x|), 1 from |x| = 22 on (tanh rounds to 1 there); x's sign.</summary>
    public static string TanhF64(ModuleContext module) => MathFunction.Define(module, "gc.tanh.f64", 1, (f, p) =>
    {
        var x = p[0];
        var a = Abs(module, f, x);
        var t = Call(f, Expm1F64(module), f.DMul(a, D(2)));
        var result = Select(f, f.Let($"fcmp oge double {a}, 22.0"), D(1), f.DDiv(t, f.DAdd(t, D(2))));
        return CopySign(module, f, result, x);
    }, "double");

    /// <summary>
    /// <c>asinh(x)</c> in f64 (within 2 ulp; fdlibm's s_asinh.c): log1p(a + a²/(1 + √(1 + a²))) up to 2, log(2a + 1/(√(a² + 1) + a))
    /// up to 2^28, log(a) + ln2 beyond (a² would overflow); x's sign.
    /// </summary>
    public static string AsinhF64(ModuleContext module) => MathFunction.Define(module, "gc.asinh.f64", 1, (f, p) =>
    {
        var x = p[0];
        var a = Abs(module, f, x);
        var a2 = f.DMul(a, a);
        var root = f.Let($"call double @llvm.sqrt.f64(double {f.DAdd(a2, D(1))})");
        module.Declare("declare double @llvm.sqrt.f64(double)");
        var small = Call(f, Log1pF64(module), f.DAdd(a, f.DDiv(a2, f.DAdd(D(1), root))));
        var medium = Call(f, LogF64(module), f.DAdd(f.DMul(D(2), a), f.DDiv(D(1), f.DAdd(root, a))));
        var large = f.DAdd(Call(f, LogF64(module), a), D(Ln2));
        var result = Select(f, f.Let($"fcmp ole double {a}, 2.0"), small, Select(f, f.Let($"fcmp ole double {a}, {D(1 << 28)}"), medium, large));
        return CopySign(module, f, result, x);
    }, "double");

    /// <summary>
    /// <c>acosh(x)</c> in f64 (within 2 ulp; fdlibm's e_acosh.c): with t = x − 1, log1p(t + √(2t + t²)) up to 2,
    /// log(2x − 1/(x + √(x² − 1))) up to 2^28, log(x) + ln2 beyond; NaN below 1.
    /// </summary>
    public static string AcoshF64(ModuleContext module) => MathFunction.Define(module, "gc.acosh.f64", 1, (f, p) =>
    {
        var x = p[0];
        module.Declare("declare double @llvm.sqrt.f64(double)");
        string Sqrt(string v) => f.Let($"call double @llvm.sqrt.f64(double {v})");
        var t = f.DSub(x, D(1));
        var small = Call(f, Log1pF64(module), f.DAdd(t, Sqrt(f.DFma(t, t, f.DMul(D(2), t)))));
        var medium = Call(f, LogF64(module), f.DSub(f.DMul(D(2), x), f.DDiv(D(1), f.DAdd(x, Sqrt(f.DFma(x, x, D(-1)))))));
        var large = f.DAdd(Call(f, LogF64(module), x), D(Ln2));
        var result = Select(f, f.Let($"fcmp ole double {x}, 2.0"), small, Select(f, f.Let($"fcmp ole double {x}, {D(1 << 28)}"), medium, large));
        return Select(f, f.Let($"fcmp ult double {x}, 1.0"), D(double.NaN), result);
    }, "double");

    /// <summary>
    /// <c>atanh(x)</c> in f64 (within 2 ulp; fdlibm's e_atanh.c): ½·log1p(2a + 2a²/(1 − a)) below ½, ½·log1p(2a/(1 − a)) above;
    /// ±inf at ±1, NaN beyond; x's sign.
    /// </summary>
    public static string AtanhF64(ModuleContext module) => MathFunction.Define(module, "gc.atanh.f64", 1, (f, p) =>
    {
        var x = p[0];
        var a = Abs(module, f, x);
        var twoA = f.DMul(D(2), a);
        var below = f.DAdd(twoA, f.DDiv(f.DMul(twoA, a), f.DSub(D(1), a)));
        var above = f.DDiv(twoA, f.DSub(D(1), a));
        var result = f.DMul(D(0.5), Call(f, Log1pF64(module), Select(f, f.Let($"fcmp olt double {a}, 0.5"), below, above)));
        result = Select(f, f.Let($"fcmp ogt double {a}, 1.0"), D(double.NaN), result);
        return CopySign(module, f, result, x);
    }, "double");
}
