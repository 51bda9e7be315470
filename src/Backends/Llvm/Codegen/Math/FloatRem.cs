namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// The float remainder <c>rem</c> (C's fmod: x − trunc(x/y)·y, exact, with x's sign) as a module helper, so that no target
/// needs libm for it (the GPU has none) and every target computes the same bits. The result of fmod is always
/// representable, so it is computed exactly on the significands as integers: x's significand reduced by y's, shifting left
/// once per binade between them (musl's fmod does the same), then renormalised and packed, subnormal where it must be.
/// NaN for y = 0, an infinite x, or a NaN; x itself when |x| &lt; |y| (an infinite y included).
/// </summary>
internal static class FloatRem
{
    /// <summary>The helper for compute type <paramref name="t"/> (<c>float</c> or <c>double</c>): <c>t @name(t x, t y)</c>.</summary>
    public static string Helper(ModuleContext module, string t)
    {
        var (w, mant) = t switch { "float" => (32, 23), "double" => (64, 52), _ => throw new CodegenException($"no remainder helper for {t}") };
        var name = $"gc.fmod.{t}";
        if (!module.FirstHelper(name)) return name;
        module.Declare($"declare i{w} @llvm.ctlz.i{w}(i{w}, i1)");
        var it = $"i{w}";
        ulong sign = 1UL << (w - 1), implicitBit = 1UL << mant, inf = (sign - 1) & ~(implicitBit - 1);
        int expShift = mant, lead = w - 1 - mant; // leading zeros of a normalised significand
        string U(ulong v) => w == 64 ? ((long)v).ToString() : ((int)(uint)v).ToString();
        const string nan = "0x7FF8000000000000"; // a quiet NaN, written as LLVM writes float constants (as a double)
        module.AddFunction($$"""
            define internal {{t}} @{{name}}({{t}} %x, {{t}} %y) alwaysinline nounwind readnone {
            entry:
              %ux = bitcast {{t}} %x to {{it}}
              %uy = bitcast {{t}} %y to {{it}}
              %sx = and {{it}} %ux, {{U(sign)}}
              %ax = and {{it}} %ux, {{U(sign - 1)}}
              %ay = and {{it}} %uy, {{U(sign - 1)}}
              %yzero = icmp eq {{it}} %ay, 0
              %xinf = icmp uge {{it}} %ax, {{U(inf)}}
              %ynan = icmp ugt {{it}} %ay, {{U(inf)}}
              %bad0 = or i1 %yzero, %xinf
              %bad = or i1 %bad0, %ynan
              br i1 %bad, label %nan, label %compare
            nan:
              ret {{t}} {{nan}}
            compare:
              %small = icmp ult {{it}} %ax, %ay
              br i1 %small, label %keep, label %unpack
            keep:
              ret {{t}} %x
            unpack:
              ; significands with the implicit bit at {{mant}}, subnormals normalised by their leading zeros
              %lzx = call {{it}} @llvm.ctlz.{{it}}({{it}} %ax, i1 true)
              %shx = sub {{it}} %lzx, {{lead}}
              %exraw = lshr {{it}} %ax, {{expShift}}
              %xsub = icmp eq {{it}} %exraw, 0
              %mxn = or {{it}} %ax, {{U(implicitBit)}}
              %mxn2 = and {{it}} %mxn, {{U(2 * implicitBit - 1)}}
              %mxs = shl {{it}} %ax, %shx
              %mx0 = select i1 %xsub, {{it}} %mxs, {{it}} %mxn2
              %exs = sub {{it}} 1, %shx
              %ex0 = select i1 %xsub, {{it}} %exs, {{it}} %exraw
              %lzy = call {{it}} @llvm.ctlz.{{it}}({{it}} %ay, i1 true)
              %shy = sub {{it}} %lzy, {{lead}}
              %eyraw = lshr {{it}} %ay, {{expShift}}
              %ysub = icmp eq {{it}} %eyraw, 0
              %myn = or {{it}} %ay, {{U(implicitBit)}}
              %myn2 = and {{it}} %myn, {{U(2 * implicitBit - 1)}}
              %mys = shl {{it}} %ay, %shy
              %my = select i1 %ysub, {{it}} %mys, {{it}} %myn2
              %eys = sub {{it}} 1, %shy
              %ey = select i1 %ysub, {{it}} %eys, {{it}} %eyraw
              br label %loop
            loop:
              ; one binade per step: subtract y's significand where it fits, then shift x's left
              %mx = phi {{it}} [ %mx0, %unpack ], [ %mxnext, %step ]
              %ex = phi {{it}} [ %ex0, %unpack ], [ %exnext, %step ]
              %more = icmp sgt {{it}} %ex, %ey
              br i1 %more, label %step, label %last
            step:
              %d = sub {{it}} %mx, %my
              %fits = icmp sge {{it}} %d, 0
              %red = select i1 %fits, {{it}} %d, {{it}} %mx
              %mxnext = shl {{it}} %red, 1
              %exnext = sub {{it}} %ex, 1
              br label %loop
            last:
              %dl = sub {{it}} %mx, %my
              %fitsl = icmp sge {{it}} %dl, 0
              %r = select i1 %fitsl, {{it}} %dl, {{it}} %mx
              %zero = icmp eq {{it}} %r, 0
              br i1 %zero, label %signedzero, label %pack
            signedzero:
              %z = bitcast {{it}} %sx to {{t}}
              ret {{t}} %z
            pack:
              ; renormalise (the remainder is below y's significand), then pack, subnormal below the smallest exponent
              %lzr = call {{it}} @llvm.ctlz.{{it}}({{it}} %r, i1 true)
              %shr = sub {{it}} %lzr, {{lead}}
              %rn = shl {{it}} %r, %shr
              %er = sub {{it}} %ex, %shr
              %normal = icmp sgt {{it}} %er, 0
              %frac = and {{it}} %rn, {{U(implicitBit - 1)}}
              %expbits = shl {{it}} %er, {{expShift}}
              %packed = or {{it}} %frac, %expbits
              %down = sub {{it}} 1, %er
              %subn = lshr {{it}} %rn, %down
              %mag = select i1 %normal, {{it}} %packed, {{it}} %subn
              %bits = or {{it}} %mag, %sx
              %res = bitcast {{it}} %bits to {{t}}
              ret {{t}} %res
            }
            """);
        return name;
    }
}
