namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// Single-precision transcendental functions as straight-line LLVM IR (no calls, no branches), so that
/// the loop vectoriser turns a loop over them into vector code (libm's <c>expf</c> is a call per element)
/// and a GPU kernel needs no libdevice. Each is an <c>alwaysinline</c> helper emitted once per module.
/// Accuracy is Cephes' or better (0.5–3.5 ulp, each function's bound in its summary, measured over
/// every 97th f32 bit pattern; FastMathTests checks them); NaN, ±inf, ±0 and the overflow/underflow
/// edges give what C99's Annex F gives. Files: this one (exp, tanh, logistic), .Log, .Trig, .Special.
/// </summary>
internal static partial class FastMath
{
    private static string F(double v) => LlvmTypes.FloatLiteral("float", v);

    /// <summary>The f32 unary ops with a helper here (beyond exp, tanh and logistic), by IR op name.</summary>
    private static readonly Dictionary<string, Func<ModuleContext, string>> UnaryHelpers = new()
    {
        ["log"] = Log, ["log1p"] = Log1p, ["expm1"] = Expm1, ["sin"] = Sin, ["cos"] = Cos, ["tan"] = Tan,
        ["asin"] = Asin, ["acos"] = Acos, ["atan"] = Atan, ["sinh"] = Sinh, ["cosh"] = Cosh,
        ["asinh"] = Asinh, ["acosh"] = Acosh, ["atanh"] = Atanh, ["erf"] = Erf, ["cbrt"] = Cbrt,
    };

    /// <summary>The helper for f32 <paramref name="op"/>, or null when the op is lowered otherwise.</summary>
    public static Func<ModuleContext, string>? Unary(string op) => UnaryHelpers.GetValueOrDefault(op);

    /// <summary>
    /// <c>exp(x)</c>: x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite with FMA), a degree-6 polynomial for
    /// e^r, and 2^n applied as two halves so that n = 128 (overflow to inf) and n &lt; −126 (gradual
    /// underflow) come out right.
    /// </summary>
    public static string Exp(ModuleContext module)
    {
        const string name = "gc.expf";
        if (!module.FirstHelper(name)) return name;
        DeclareCommon(module);
        module.AddFunction($$"""
            define internal float @{{name}}(float %x) alwaysinline nounwind readnone {
            entry:
              %big = fcmp ogt float %x, {{F(89.0)}}
              %x1 = select i1 %big, float {{F(89.0)}}, float %x
              %small = fcmp olt float %x1, {{F(-104.0)}}
              %x2 = select i1 %small, float {{F(-104.0)}}, float %x1
              %t = fmul float %x2, {{F(1.44269504088896341)}}
              %n = call float @llvm.roundeven.f32(float %t)
              %r1 = call float @llvm.fma.f32(float %n, float {{F(-0.693359375)}}, float %x2)
              %r = call float @llvm.fma.f32(float %n, float {{F(2.12194440e-4)}}, float %r1)
              %p1 = call float @llvm.fma.f32(float {{F(1.9875691500E-4)}}, float %r, float {{F(1.3981999507E-3)}})
              %p2 = call float @llvm.fma.f32(float %p1, float %r, float {{F(8.3334519073E-3)}})
              %p3 = call float @llvm.fma.f32(float %p2, float %r, float {{F(4.1665795894E-2)}})
              %p4 = call float @llvm.fma.f32(float %p3, float %r, float {{F(1.6666665459E-1)}})
              %p5 = call float @llvm.fma.f32(float %p4, float %r, float {{F(5.0000001201E-1)}})
              %r2 = fmul float %r, %r
              %q = call float @llvm.fma.f32(float %p5, float %r2, float %r)
              %y = fadd float %q, {{F(1.0)}}
              %ni = fptosi float %n to i32
              %n1 = ashr i32 %ni, 1
              %n2 = sub i32 %ni, %n1
              %b1 = add i32 %n1, 127
              %b2 = add i32 %n2, 127
              %e1 = shl i32 %b1, 23
              %e2 = shl i32 %b2, 23
              %s1 = bitcast i32 %e1 to float
              %s2 = bitcast i32 %e2 to float
              %y1 = fmul float %y, %s1
              %y2 = fmul float %y1, %s2
              %nan = fcmp uno float %x, 0.0
              %res = select i1 %nan, float %x, float %y2
              ret float %res
            }
            """);
        return name;
    }

    /// <summary>
    /// <c>tanh(x)</c>: an odd polynomial below |x| = 0.625 (written x·(1 + x²·p(x²)) so that −0 stays −0),
    /// else ±(1 − 2/(e^{2|x|} + 1)), which saturates to ±1 once e^{2|x|} overflows.
    /// </summary>
    public static string Tanh(ModuleContext module)
    {
        const string name = "gc.tanhf";
        if (!module.FirstHelper(name)) return name;
        var exp = Exp(module);
        module.AddFunction($$"""
            define internal float @{{name}}(float %x) alwaysinline nounwind readnone {
            entry:
              %ax = call float @llvm.fabs.f32(float %x)
              %z = fmul float %x, %x
              %p1 = call float @llvm.fma.f32(float {{F(-5.70498872745E-3)}}, float %z, float {{F(2.06390887954E-2)}})
              %p2 = call float @llvm.fma.f32(float %p1, float %z, float {{F(-5.37397155531E-2)}})
              %p3 = call float @llvm.fma.f32(float %p2, float %z, float {{F(1.33314422036E-1)}})
              %p4 = call float @llvm.fma.f32(float %p3, float %z, float {{F(-3.33332819422E-1)}})
              %f = call float @llvm.fma.f32(float %p4, float %z, float {{F(1.0)}})
              %near = fmul float %x, %f
              %two = fmul float %ax, {{F(2.0)}}
              %e = call float @{{exp}}(float %two)
              %e1 = fadd float %e, {{F(1.0)}}
              %q = fdiv float {{F(2.0)}}, %e1
              %far0 = fsub float {{F(1.0)}}, %q
              %far = call float @llvm.copysign.f32(float %far0, float %x)
              %isnear = fcmp olt float %ax, {{F(0.625)}}
              %res = select i1 %isnear, float %near, float %far
              ret float %res
            }
            """);
        return name;
    }

    /// <summary><c>logistic(x) = 1 / (1 + e^{−x})</c>: 0 once e^{−x} overflows, 1 once it underflows.</summary>
    public static string Logistic(ModuleContext module)
    {
        const string name = "gc.logisticf";
        if (!module.FirstHelper(name)) return name;
        var exp = Exp(module);
        module.AddFunction($$"""
            define internal float @{{name}}(float %x) alwaysinline nounwind readnone {
            entry:
              %nx = fneg float %x
              %e = call float @{{exp}}(float %nx)
              %d = fadd float %e, {{F(1.0)}}
              %res = fdiv float {{F(1.0)}}, %d
              ret float %res
            }
            """);
        return name;
    }

    private static void DeclareCommon(ModuleContext module)
    {
        module.Declare("declare float @llvm.fma.f32(float, float, float)");
        module.Declare("declare float @llvm.roundeven.f32(float)");
        module.Declare("declare float @llvm.fabs.f32(float)");
        module.Declare("declare float @llvm.copysign.f32(float, float)");
    }
}
