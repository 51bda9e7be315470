using GraphCompiler.Backends.Cuda;
using Xunit;
using static GraphCompiler.Tests.Backends.Cuda.CudaEmulatorTests;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>How the generated runtime reports what the driver refuses, on the emulated driver.</summary>
[Collection(CudaDriverCollection.Name)]
public sealed class CudaDriverErrorTests
{
    /// <summary>
    /// A module the driver's PTX assembler rejects fails the run with CUDA_ERROR_INVALID_PTX and the assembler's log after
    /// it, its line breaks as spaces and the trailing one dropped: the line and the reason a first run on a new GPU needs,
    /// where cuModuleLoadData gave only the error's name.
    /// </summary>
    [CudaEmulatorFact]
    public void PtxTheAssemblerRejectsFailsWithItsLog()
    {
        var placed = PlaceOnGpu("""
            func @main(%x: tensor<64xf32>) -> (tensor<64xf32>) {
              %y = exp %x : tensor<64xf32>
              return %y
            }
            """);
        const string log = "ptxas application ptx input, line 563; error   : Arguments mismatch for instruction 'wgmma'\nptxas fatal   : Ptx assembly aborted due to errors\n";
        using (CudaEmulator.AsDriver())
        using (CudaEmulator.RejectPtx(log))
        {
            using var exe = CudaCompiler.Jit(placed, Options).Unwrap();
            var run = exe.Run(RandomInputs(placed.Entry, 1));
            Assert.False(run.Ok);
            var message = string.Join("\n", run.Diagnostics);
            Assert.Contains("loading the PTX (cuModuleLoadDataEx) failed: CUDA_ERROR_INVALID_PTX (CUresult 218): ptxas application ptx input, line 563; " +
                "error   : Arguments mismatch for instruction 'wgmma' ptxas fatal   : Ptx assembly aborted due to errors", message);
            Assert.DoesNotContain("errors ", message[message.IndexOf("aborted", StringComparison.Ordinal)..]);
        }
    }

    /// <summary>
    /// A GPU faults on a misaligned vector access (CUDA_ERROR_MISALIGNED_ADDRESS) where the host reads it anyway; the
    /// emulator fails such a launch too: a cp.async off its 16 bytes, and an access the host build checks
    /// (<c>gcemu_check_align</c>, before each vector load and store and at each buffer parameter). The same kernels aligned run.
    /// </summary>
    [CudaEmulatorFact]
    public void MisalignedAccessesFailTheLaunchAsOnAGpu()
    {
        const string kernel = """
            #include <stdint.h>
            void cp16(void *dst, const void *src, int read) __asm__("gcemu.cp.async.16");
            void commit(void) __asm__("gcemu.cp.async.commit");
            void wait_all(void) __asm__("gcemu.cp.async.wait.all");
            void check(const void *p, int64_t bytes) __asm__("gcemu_check_align");
            void k(void **params) __asm__("k.emu");
            const int sync __asm__("k.emu.sync") = 0;
            static char buffer[128] __attribute__((aligned(64)));
            void k(void **params) { (void)params; BODY }
            """;
        Assert.Equal(716, CudaEmulator.LaunchHandWritten(kernel.Replace("BODY", "cp16(buffer + 8, buffer + 64, 16); commit(); wait_all();"), 32));
        Assert.Equal(716, CudaEmulator.LaunchHandWritten(kernel.Replace("BODY", "check(buffer + 4, 16);"), 32));
        Assert.Equal(0, CudaEmulator.LaunchHandWritten(kernel.Replace("BODY", "cp16(buffer + 16, buffer + 64, 16); commit(); wait_all(); check(buffer + 32, 16);"), 32));
    }

    /// <summary>
    /// The host build checks the alignment of vector and 8-byte accesses, declared or natural, and of nothing narrower;
    /// the checked access itself is declared byte-aligned, so a misaligned one fails its launch rather than the test process.
    /// </summary>
    [Fact]
    public void TheHostBuildChecksWideAccessesAlignment()
    {
        var ir = CudaEmulator.HostFlavoured("""
            define void @gc_k(ptr noalias align 16 %p0, ptr noalias align 16 %p1) nounwind {
            entry:
              %v = load <4 x float>, ptr %p1, align 16
              %x = load float, ptr %p1
              %d = load double, ptr %p1
              %h = load <4 x half>, ptr %p1, align 8
              store <4 x float> %v, ptr %p0, align 16
              store float %x, ptr %p0
              ret void
            }

            """);
        Assert.Equal(4, System.Text.RegularExpressions.Regex.Matches(ir, "call void @gcemu_check_align\\(ptr %p[01], i64 (16|8)\\)").Count);
        // Each checked access is then byte-aligned for the host: the check is the fault, not an x86 aligned move.
        Assert.Contains("call void @gcemu_check_align(ptr %p1, i64 16)\n  %v = load <4 x float>, ptr %p1, align 1\n", ir);
        Assert.Contains("call void @gcemu_check_align(ptr %p1, i64 8)\n  %d = load double, ptr %p1, align 1\n", ir);
        Assert.Contains("call void @gcemu_check_align(ptr %p1, i64 8)\n  %h = load <4 x half>, ptr %p1, align 1\n", ir);
        Assert.Contains("call void @gcemu_check_align(ptr %p0, i64 16)\n  store <4 x float> %v, ptr %p0, align 1\n", ir);
        Assert.Contains("  %x = load float, ptr %p1\n", ir);
        Assert.Contains("call void @gcemu_check_align(ptr %a0, i64 16)", ir); // the launch wrapper: each buffer parameter
    }
}
