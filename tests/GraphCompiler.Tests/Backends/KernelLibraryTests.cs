using System.Globalization;
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Cpu.Aot;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.IR.Targets;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// The kernel library: the GEMM's target-only helpers leave the model's module for a library compiled once per
/// target, kept in memory and on disk, and linked back in by the JIT, the shared library and the static object.
/// </summary>
public sealed class KernelLibraryTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Matmul(int m, int k, int n) => $$"""
        func @main(%a: tensor<{{m}}x{{k}}xf32>, %b: tensor<{{k}}x{{n}}xf32>) -> (tensor<{{m}}x{{n}}xf32>) {
          %c = dot_general %a, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<{{m}}x{{n}}xf32>
          return %c
        }
        """;

    private static CpuProgram Generate(string text) =>
        CpuCompiler.Generate(PassManager.Run(IrTest.Parse(text), PassRegistry.Default).Unwrap()).Unwrap();

    [Fact]
    public void TheModelDeclaresTheGemmAndEveryModelAsksForTheSameLibrary()
    {
        var small = Generate(Matmul(37, 300, 45));
        var other = Generate(Matmul(64, 128, 96));
        Assert.Contains("declare void @gc.sgemm.worker.", small.LlvmIr);
        Assert.DoesNotContain("define internal void @gc.sgemm.", small.LlvmIr);
        Assert.NotNull(small.LibraryIr);
        Assert.Contains("define void @gc.sgemm.worker.", small.LibraryIr);
        // Only entry points are external: a micro-kernel only its worker calls stays internal (LLVM inlines it there).
        Assert.Contains("define internal void @gc.sgemm.ukr", small.LibraryIr);
        Assert.DoesNotContain("@gc.sgemm.ukr", small.LlvmIr);
        // Nothing of the model is in the library's text (its cache key): two models share one library.
        Assert.Equal(small.LibraryIr, other.LibraryIr);
        Assert.DoesNotContain("@main", small.LibraryIr);

        // A model without a GEMM has no library.
        Assert.Null(Generate("""
            func @main(%a: tensor<8xf32>) -> (tensor<8xf32>) {
              %b = exp %a : tensor<8xf32>
              return %b
            }
            """).LibraryIr);
    }

    [Fact]
    public void TheLibraryIsCompiledOnceThenReadFromDiskAndADamagedCopyIsRebuilt()
    {
        // A comment makes this test's library text, hence its key and file, its own.
        var text = Generate(Matmul(16, 64, 48)).LibraryIr + $"; {nameof(KernelLibraryTests)} {Guid.NewGuid():N}\n";
        var target = CpuTarget.Host();
        var path = KernelLibrary.PathOf(text, target);

        string[] Obtain(out byte[] obj)
        {
            KernelLibrary.ForgetLoaded();
            var phases = new PhaseRecorder();
            obj = KernelLibrary.Object(text, target, phases).Unwrap();
            return [.. phases.Phases.Select(p => p.Name)];
        }

        Assert.Equal([KernelLibrary.CompilePhase], Obtain(out var compiled));
        Assert.True(File.Exists(path), path);
        Assert.Equal([KernelLibrary.ReadPhase], Obtain(out var read));
        Assert.Equal(compiled, read);

        // In memory, the second request within a process neither reads nor compiles.
        var again = new PhaseRecorder();
        Assert.Same(read, KernelLibrary.Object(text, target, again).Unwrap());
        Assert.Empty(again.Phases);

        // One flipped byte fails the checksum: the file is read, refused and rebuilt.
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        Assert.Equal([KernelLibrary.ReadPhase, KernelLibrary.CompilePhase], Obtain(out var rebuilt));
        Assert.Equal(compiled, rebuilt);
        Assert.Equal([KernelLibrary.ReadPhase], Obtain(out _));
    }

    [Fact]
    public void AStaticallyLinkedObjectCarriesTheGemm()
    {
        // NAME.o must be one object with the GEMM in it: a C program links it with nothing else of ours.
        const int m = 20, k = 70, n = 36;
        var module = PassManager.Run(IrTest.Parse(Matmul(m, k, n)), PassRegistry.Default).Unwrap();
        var artifacts = AotCompiler.Compile(module, new AotOptions { Name = "mm", IncludeObject = true }).Unwrap();
        var dir = _temp.Directory("gc-kernels");
        foreach (var (file, data) in artifacts.Files) File.WriteAllBytes(Path.Combine(dir, file), data);
        // The C program computes its own reference with a triple loop.
        File.WriteAllText(Path.Combine(dir, "app.c"), $$"""
            #include <math.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include "mm.h"
            int main(void) {
              static float a[{{m}} * {{k}}], b[{{k}} * {{n}}], c[{{m}} * {{n}}];
              for (int i = 0; i < {{m}} * {{k}}; i++) a[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
              for (int i = 0; i < {{k}} * {{n}}; i++) b[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
              void *args[2] = {a, b}, *results[1] = {c};
              void *arena = aligned_alloc(64, 128 + (size_t)MM_ARENA_SIZE / 64 * 64);
              if (mm_run(args, results, arena, 1) != MM_OK) return 1;
              double worst = 0;
              for (int i = 0; i < {{m}}; i++)
                for (int j = 0; j < {{n}}; j++) {
                  double s = 0;
                  for (int p = 0; p < {{k}}; p++) s += (double)a[i * {{k}} + p] * b[p * {{n}} + j];
                  double e = fabs(s - c[i * {{n}} + j]);
                  if (e > worst) worst = e;
                }
              printf("%.9g\n", worst);
              free(arena);
              mm_release();
              return 0;
            }
            """);
        var (rc, output) = AotArtefactTests.Exec(dir, "cc", "app.c", "mm.o", "-I.", "-lm", "-lpthread", "-o", "app");
        Assert.True(rc == 0, $"cc app.c mm.o failed:\n{output}");
        (rc, output) = AotArtefactTests.Exec(dir, Path.Combine(dir, "app"));
        Assert.True(rc == 0, $"./app exited with {rc}:\n{output}");
        Assert.True(double.Parse(output.Trim(), CultureInfo.InvariantCulture) < 1e-4, $"largest error {output.Trim()}");
    }
}
