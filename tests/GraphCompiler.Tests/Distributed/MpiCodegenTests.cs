using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Cpu.Aot;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.Runtime;

namespace GraphCompiler.Tests.Distributed;

/// <summary>
/// What the CPU backend emits for collectives, checked in-process without starting MPI (these tests never
/// run a collective: MPI can start once per process, so real runs are <see cref="MpiRunTests"/>' mpirun
/// subprocesses): the MPI transport appears only in modules with collectives, libmpi is never a link-time
/// dependency, and a collective-free program runs without loading it.
/// </summary>
public sealed class MpiCodegenTests
{
    private const string WithCollective = """
        func @main(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<i32>) {
          %y = all_reduce %x {group_size = 1, groups = [1, 0], kind = mean} : tensor<4xf32>
          %r = replica_id : tensor<i32>
          return %y, %r
        }
        """;

    private const string WithoutCollective = """
        func @main(%x: tensor<4xf32>) -> (tensor<4xf32>) {
          %y = add %x, %x : tensor<4xf32>
          return %y
        }
        """;

    [Fact]
    public void OnlyAModuleWithCollectivesCarriesTheMpiTransport()
    {
        var plain = CpuCompiler.Generate(IrTest.Parse(WithoutCollective)).Unwrap();
        Assert.Null(plain.LastErrorSymbol);
        foreach (var word in new[] { "libmpi", "MPI_", "ompi_", "gc.mpi", "dlopen" }) Assert.DoesNotContain(word, plain.LlvmIr);

        var collective = CpuCompiler.Generate(IrTest.Parse(WithCollective), new CpuCompileOptions { Name = "dist" }).Unwrap();
        Assert.Equal("dist_last_error", collective.LastErrorSymbol);
        var ir = collective.LlvmIr;
        Assert.Contains("libmpi.so.40", ir);
        Assert.Contains("GCC_MPI_LIBRARY", ir);
        Assert.Contains("call ptr @dlopen(ptr %libname", ir);
        Assert.Contains(", i32 258)", ir); // RTLD_NOW | RTLD_GLOBAL: Open MPI's plugins need libmpi's symbols global
        foreach (var symbol in new[] { "MPI_Init_thread", "MPI_Allreduce", "MPI_Comm_split", "MPI_Finalize", "ompi_mpi_comm_world", "ompi_mpi_float", "ompi_mpi_op_sum" })
            Assert.Contains(symbol, ir);
        Assert.Contains("define ptr @dist_last_error()", ir);
        Assert.Contains("call void @gc.mpi.stop(i1 true)", ir); // dist_release finalises MPI when it started it
    }

    [Fact]
    public void NeitherLibraryLinksAgainstLibmpi()
    {
        foreach (var (name, text) in new[] { ("plain", WithoutCollective), ("dist", WithCollective) })
        {
            var artifacts = AotCompiler.Compile(IrTest.Parse(text), new AotOptions { Name = name }).Unwrap();
            var so = artifacts.Files.Single(f => f.FileName == $"lib{name}.so").Data;
            var elf = GraphCompiler.Tests.Backends.ElfDynamic.Read(so);
            Assert.NotEmpty(elf.Needed); // libc at least: the dynamic section was read
            Assert.DoesNotContain(elf.Needed, n => n.Contains("mpi", StringComparison.Ordinal));
            Assert.Contains($"{name}_run", elf.DefinedSymbols);
            var header = System.Text.Encoding.UTF8.GetString(artifacts.Files.Single(f => f.FileName == $"{name}.h").Data);
            if (name == "plain")
            {
                Assert.DoesNotContain("libmpi", System.Text.Encoding.Latin1.GetString(so));
                Assert.DoesNotContain("last_error", header);
            }
            else
            {
                Assert.Contains("dist_last_error", elf.DefinedSymbols);
                Assert.Contains("const char *dist_last_error(void);", header);
                Assert.Contains($"#define DIST_ERROR_NO_MPI {(int)RuntimeStatus.NoMpi}", header);
            }
        }
    }

    [Fact]
    public void ACollectiveFreeProgramRunsWithoutLoadingMpi()
    {
        using var exe = CpuCompiler.Jit(IrTest.Parse(WithoutCollective)).Unwrap();
        var y = exe.Run([T.F32([4], 1, 2, 3, 4)]).Unwrap()[0];
        Assert.Equal(new float[] { 2, 4, 6, 8 }, y.ToArray<float>());
        Assert.DoesNotContain("libmpi", File.ReadAllText("/proc/self/maps"));
        Assert.Null(GraphCompiler.Distributed.MpiWorld.Current);
    }

    [Fact]
    public void TheCompilationCacheKeepsTheLastErrorAndSerialisation()
    {
        // Compiled and restored, never run: running would start MPI in the test process.
        using var exe = CpuCompiler.Jit(IrTest.Parse(WithCollective), new CpuCompileOptions { Name = "dist", KeepObjectCode = true }).Unwrap();
        Assert.Equal("dist_last_error", exe.LastErrorSymbol);
        Assert.True(exe.Serialized);
        var image = GraphCompiler.Backends.Llvm.ExecutableImage.Save(exe)!;
        var restored = GraphCompiler.Backends.Llvm.ExecutableImage.Load(image, GraphCompiler.Backends.Llvm.CpuTarget.Host(), 1).Unwrap();
        using var again = (GraphCompiler.Backends.Llvm.NativeExecutable)restored.Executable;
        Assert.Equal("dist_last_error", again.LastErrorSymbol);
        Assert.True(again.Serialized);

        using var plain = CpuCompiler.Jit(IrTest.Parse(WithoutCollective)).Unwrap();
        Assert.Null(plain.LastErrorSymbol);
        Assert.False(plain.Serialized);
    }

    [Fact]
    public void TheStatusCodesAreListedOnce()
    {
        var codes = RuntimeStatuses.All.Select(s => s.Status).ToList();
        foreach (var s in new[] { RuntimeStatus.CollectiveFailed, RuntimeStatus.NoMpi, RuntimeStatus.ReplicaMismatch }) Assert.Contains(s, codes);
        Assert.Equal(codes.Count, codes.Select(c => (int)c).Distinct().Count());
        Assert.Contains("MPI", RuntimeStatuses.Describe((int)RuntimeStatus.NoMpi));
    }
}
