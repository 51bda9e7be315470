namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// Writes one straight-line f32 math helper (<c>define internal float @name(float %x[, float %y])</c>,
/// <c>alwaysinline</c>): no branches and no calls but intrinsics every target lowers (fma, fabs, sqrt,
/// copysign, roundeven), so a loop over it vectorises on the CPU and it compiles to plain PTX on the GPU.
/// Special cases are selects, written last so that they read as the function's contract.
/// </summary>
internal sealed class MathFunction
{
    private readonly LlvmBuilder _b = new();
    private readonly ModuleContext _m;

    private MathFunction(ModuleContext m) => _m = m;

    /// <summary>
    /// Defines <paramref name="name"/> once per module; <paramref name="body"/> gets the parameters (<c>%x</c>, <c>%y</c>) and
    /// returns the result. The parameters and result are <paramref name="type"/>: f32, or <c>double</c> for the f64 helpers.
    /// </summary>
    public static string Define(ModuleContext m, string name, int arity, Func<MathFunction, string[], string> body, string type = "float")
    {
        if (!m.FirstHelper(name)) return name;
        var f = new MathFunction(m);
        string[] ps = arity == 1 ? ["%x"] : ["%x", "%y"];
        var result = body(f, ps);
        f._b.Line($"ret {type} {result}");
        m.AddFunction($"define internal {type} @{name}({string.Join(", ", ps.Select(p => $"{type} {p}"))}) alwaysinline nounwind readnone {{\n{f._b.Body()}}}");
        return name;
    }

    public static string F(double v) => LlvmTypes.FloatLiteral("float", v);
    public static string D(double v) => LlvmTypes.FloatLiteral("double", v);

    private string Intrinsic(string name, string type, params string[] args)
    {
        var suffix = type == "float" ? "f32" : "f64";
        _m.Declare($"declare {type} @llvm.{name}.{suffix}({string.Join(", ", args.Select(_ => type))})");
        return _b.Let($"call {type} @llvm.{name}.{suffix}({string.Join(", ", args.Select(a => $"{type} {a}"))})");
    }

    public string Fma(string a, string b, string c) => Intrinsic("fma", "float", a, b, c);
    public string Add(string a, string b) => _b.Let($"fadd float {a}, {b}");
    public string Sub(string a, string b) => _b.Let($"fsub float {a}, {b}");
    public string Mul(string a, string b) => _b.Let($"fmul float {a}, {b}");
    public string Div(string a, string b) => _b.Let($"fdiv float {a}, {b}");
    public string Neg(string x) => _b.Let($"fneg float {x}");
    public string Abs(string x) => Intrinsic("fabs", "float", x);
    public string Sqrt(string x) => Intrinsic("sqrt", "float", x);
    public string RoundEven(string x) => Intrinsic("roundeven", "float", x);
    public string CopySign(string magnitude, string sign) => Intrinsic("copysign", "float", magnitude, sign);
    public string Call(string helper, params string[] args) => _b.Let($"call float @{helper}({string.Join(", ", args.Select(a => $"float {a}"))})");

    /// <summary><c>fcmp</c> with an ordered predicate (false on NaN): olt, ogt, oeq, oge, …</summary>
    public string Cmp(string predicate, string a, string b) => _b.Let($"fcmp {predicate} float {a}, {b}");
    public string IsNan(string x) => _b.Let($"fcmp uno float {x}, 0.0");
    public string IsInf(string x) => Cmp("oeq", Abs(x), F(double.PositiveInfinity));
    public string SignBit(string x) => _b.Let($"icmp slt i32 {Bits(x)}, 0");
    public string Int2Bool(string i) => _b.Let($"icmp ne i32 {i}, 0");
    public string Or(string p, string q) => _b.Let($"or i1 {p}, {q}");
    public string Sel(string cond, string a, string b) => _b.Let($"select i1 {cond}, float {a}, float {b}");

    /// <summary>Horner's rule with FMAs: <paramref name="c"/>[0]·xⁿ + … + <paramref name="c"/>[n].</summary>
    public string Poly(string x, params double[] c)
    {
        var p = F(c[0]);
        for (int i = 1; i < c.Length; i++) p = Fma(p, x, F(c[i]));
        return p;
    }

    public string Bits(string x) => _b.Let($"bitcast float {x} to i32");
    public string FromBits(string i) => _b.Let($"bitcast i32 {i} to float");

    /// <summary>An integer instruction on i32 (<c>lshr</c>, <c>and</c>, <c>add</c>, …).</summary>
    public string Int(string instruction, string a, string b) => _b.Let($"{instruction} i32 {a}, {b}");
    public string IntSel(string cond, string a, string b) => _b.Let($"select i1 {cond}, i32 {a}, i32 {b}");
    public string ToFloat(string i) => _b.Let($"sitofp i32 {i} to float");

    // Double precision, for the few steps that need more than 24 bits (trigonometric reduction, cbrt's last steps).
    public string Widen(string x) => _b.Let($"fpext float {x} to double");
    public string Narrow(string d) => _b.Let($"fptrunc double {d} to float");
    public string DAdd(string a, string b) => _b.Let($"fadd double {a}, {b}");
    public string DSub(string a, string b) => _b.Let($"fsub double {a}, {b}");
    public string DMul(string a, string b) => _b.Let($"fmul double {a}, {b}");
    public string DDiv(string a, string b) => _b.Let($"fdiv double {a}, {b}");
    public string DRound(string d) => Intrinsic("roundeven", "double", d);
    public string DFloor(string d) => Intrinsic("floor", "double", d);
    public string DToInt(string d) => _b.Let($"fptosi double {d} to i32");
    public string DFma(string a, string b, string c) => Intrinsic("fma", "double", a, b, c);
    public string DMax(string a, string b) => Intrinsic("maxnum", "double", a, b);
    public string DMin(string a, string b) => Intrinsic("minnum", "double", a, b);

    /// <summary>Horner's rule with FMAs in double.</summary>
    public string DPoly(string x, params double[] c)
    {
        var p = D(c[0]);
        for (int i = 1; i < c.Length; i++) p = DFma(p, x, D(c[i]));
        return p;
    }

    /// <summary>Any other instruction, written out (bit manipulation of doubles, selects on double).</summary>
    public string Let(string instruction) => _b.Let(instruction);
}
