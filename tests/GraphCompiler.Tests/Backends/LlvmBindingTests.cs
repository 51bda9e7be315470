using System.Runtime.InteropServices;
using GraphCompiler.Backends.Llvm;

namespace GraphCompiler.Tests.Backends;

public sealed class LlvmBindingTests
{
    private const string AddKernel = """
        define void @vadd(ptr noalias %a, ptr noalias %b, ptr noalias %c, i64 %n) {
        entry:
          br label %loop
        loop:
          %i = phi i64 [ 0, %entry ], [ %next, %loop ]
          %pa = getelementptr float, ptr %a, i64 %i
          %pb = getelementptr float, ptr %b, i64 %i
          %pc = getelementptr float, ptr %c, i64 %i
          %x = load float, ptr %pa
          %y = load float, ptr %pb
          %s = fadd float %x, %y
          store float %s, ptr %pc
          %next = add i64 %i, 1
          %done = icmp eq i64 %next, %n
          br i1 %done, label %exit, label %loop
        exit:
          ret void
        }
        """;

    [Fact]
    public unsafe void JitCompilesAndRunsAKernel()
    {
        Assert.True(LlvmLibrary.Available, LlvmLibrary.Problem);
        using var jit = LlvmJit.Compile(AddKernel, CpuTarget.Host()).Unwrap();
        var f = (delegate* unmanaged<float*, float*, float*, long, void>)jit.Lookup("vadd");
        float[] a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17], b = [.. a.Select(x => x * 10)], c = new float[17];
        fixed (float* pa = a, pb = b, pc = c) f(pa, pb, pc, a.Length);
        Assert.Equal(a.Select(x => x * 11), c);
    }

    [Fact]
    public void OptimisationVectorisesForTheHost()
    {
        var host = CpuTarget.Host();
        var ir = LlvmCompiler.OptimizedIr(AddKernel, host).Unwrap();
        Assert.Matches(@"fadd <\d+ x float>", ir);
    }

    [Fact]
    public void EmitsAnElfObject()
    {
        var obj = LlvmCompiler.Emit(AddKernel, CpuTarget.Named("x86-64-v2")!).Unwrap();
        Assert.Equal("\u007fELF"u8.ToArray(), obj[..4]);
    }

    /// <summary>Fresh names never collide, whatever the hints: "t2" then "t" at 21 gave %t21 twice, which LLVM rejects.</summary>
    [Fact]
    public void FreshNamesAreUniqueWhenAHintEndsInADigit()
    {
        var b = new GraphCompiler.Backends.Llvm.Codegen.LlvmBuilder();
        var names = Enumerable.Range(0, 300).Select(i => b.Fresh(i % 3 == 0 ? "t" : i % 3 == 1 ? "t2" : "k0")).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Equal("%t0", names[0]);
        Assert.Equal("%t2.1", names[1]);
    }

    [Fact]
    public void BadIrIsADiagnosticNotACrash()
    {
        var r = LlvmCompiler.Emit("define void @f( {", CpuTarget.Host());
        Assert.False(r.Ok);
        Assert.Contains("LLVM rejected the generated IR", r.Diagnostics[0].Message);
    }

    [Fact]
    public void HostFeaturesAreDetected()
    {
        var host = CpuTarget.Host();
        Assert.False(string.IsNullOrEmpty(host.Cpu));
        Assert.Contains("+sse2", host.Features);
    }
}
