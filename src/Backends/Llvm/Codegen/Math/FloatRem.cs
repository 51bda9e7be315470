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
        // |v| (%a<v>) as a significand with the implicit bit at `mant` (a subnormal normalised by its leading zeros) and an exponent.
        string Unpack(string v, string significand, string exponent) => $"""
                          %lz{v} = call {it} @llvm.ctlz.{it}({it} %a{v}, i1 true)
                          %sh{v} = sub {it} %lz{v}, {lead}
                          %e{v}raw = lshr {it} %a{v}, {expShift}
                          %{v}sub = icmp eq {it} %e{v}raw, 0
                          %m{v}n = or {it} %a{v}, {U(implicitBit)}
                          %m{v}n2 = and {it} %m{v}n, {U(2 * implicitBit - 1)}
                          %m{v}s = shl {it} %a{v}, %sh{v}
                          {significand} = select i1 %{v}sub, {it} %m{v}s, {it} %m{v}n2
                          %e{v}s = sub {it} 1, %sh{v}
                          {exponent} = select i1 %{v}sub, {it} %e{v}s, {it} %e{v}raw
                        """.TrimEnd('\n');
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
            {{Unpack("x", "%mx0", "%ex0")}}
            {{Unpack("y", "%my", "%ey")}}
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
