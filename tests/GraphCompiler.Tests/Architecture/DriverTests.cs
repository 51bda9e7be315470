using System.Text.RegularExpressions;
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Cpu.Codegen;
using GraphCompiler.Backends.Cuda;

namespace GraphCompiler.Tests.Architecture;

/// <summary>The compiler driver: options checked once, the memory report is the compiled arena, every pass has golden tests.</summary>
public sealed class DriverTests
{
    public static IEnumerable<object[]> Examples() =>
        Directory.EnumerateFiles(Path.Combine(GoldenFile.RepoRoot(), "examples"))
            .Where(p => Path.GetExtension(p) is ".ir" or ".onnx" or ".pbtxt")
            .Order(StringComparer.Ordinal)
            .Select(p => new object[] { Path.GetFileName(p) });

    /// <summary>What <c>gcc-cli ir --memory-report</c> prints is the arena the library's header asks for.</summary>
    [Theory]
    [MemberData(nameof(Examples))]
    public void MemoryReportPeakIsTheArenaInTheHeader(string example)
    {
        var driver = Compiler.Create(new CompileOptions { LibraryName = "ex" }).Unwrap();
        var optimized = driver.Optimize(driver.Load(Path.Combine(GoldenFile.RepoRoot(), "examples", example)).Unwrap()).Unwrap();
        var peak = driver.MemoryReport(optimized).EntryBuffers.ArenaBytes;
        var library = driver.Package(optimized).Unwrap();
        var header = System.Text.Encoding.UTF8.GetString(library.Files.Single(f => f.FileName == "ex.h").Data);
        var declared = Regex.Match(header, @"#define EX_ARENA_SIZE (\d+)LL");
        Assert.True(declared.Success, "the header declares no arena size");
        // The arena is the values' peak, then the kernels' scratch (im2col patches, GEMM packing space).
        long scratch = CpuCompiler.Generate(optimized).Unwrap().ScratchBytes;
        Assert.Equal(peak + scratch, long.Parse(declared.Groups[1].Value));
        Assert.Equal(peak + scratch, library.ArenaBytes);
    }

    /// <summary>The CUDA target's host arena too: its plan leaves the GPU's values to the device arena.</summary>
    [Theory]
    [InlineData("softmax_regression.ir", ".=gpu", true)]   // every op on the GPU: the host arena holds less
    [InlineData("small_cnn.onnx", ".=gpu", false)]          // convolutions stay on the host (no GPU kernel yet)
    public void CudaMemoryReportPeakIsTheHostArenaInTheHeader(string example, string place, bool hostHoldsLess)
    {
        var driver = Compiler.Create(new CompileOptions { Target = "cuda", LibraryName = "ex", Place = [place] }).Unwrap();
        var optimized = driver.Optimize(driver.Load(Path.Combine(GoldenFile.RepoRoot(), "examples", example)).Unwrap()).Unwrap();
        Assert.Contains("device = gpu", GraphCompiler.IR.Text.Printer.Print(optimized));
        var peak = driver.MemoryReport(optimized).EntryBuffers.ArenaBytes;
        var library = driver.Package(optimized).Unwrap();
        var header = System.Text.Encoding.UTF8.GetString(library.Files.Single(f => f.FileName == "ex.h").Data);
        long scratch = CudaCompiler.Generate(optimized, new CudaCompileOptions { HostKernels = CpuKernels.Instance }).Unwrap().ScratchBytes;
        Assert.Equal(peak + scratch, long.Parse(Regex.Match(header, @"#define EX_ARENA_SIZE (\d+)LL").Groups[1].Value));
        var everything = Compiler.Create(new CompileOptions()).Unwrap().MemoryReport(optimized).EntryBuffers.ArenaBytes;
        Assert.True(hostHoldsLess ? peak < everything : peak <= everything, $"host arena {peak} bytes, all values {everything} bytes");
    }

    /// <summary>A pass is done when it has text-in/text-out tests (docs/testing.md): tests/ir/NAME/*.ir.</summary>
    [Fact]
    public void EveryRegisteredPassHasItsGoldenTestFolder()
    {
        var missing = Compiler.AvailablePasses
            .Where(p => !Directory.Exists(Path.Combine(GoldenFile.RepoRoot(), "tests", "ir", p.Name))
                        || !Directory.EnumerateFiles(Path.Combine(GoldenFile.RepoRoot(), "tests", "ir", p.Name), "*.ir").Any())
            .Select(p => p.Name)
            .ToList();
        Assert.True(missing.Count == 0, $"passes without golden tests in tests/ir/NAME/: {string.Join(", ", missing)}");
    }

    [Fact]
    public void EveryBadOptionIsReportedOnceNamingTheOption()
    {
        var r = Compiler.Create(new CompileOptions
        {
            Target = "riscv", Threads = -1, LibraryName = "9lives", Namespace = "A.1b", CompressTransfers = "f8", Place = ["(=gpu"],
        });
        Assert.False(r.Ok);
        var messages = r.Diagnostics.Select(d => d.Message).ToList();
        Assert.Contains(messages, m => m.StartsWith("unknown target 'riscv' (known: host, x86-64", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Threads must be >= 0", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("library name '9lives' must be a C identifier", StringComparison.Ordinal));
        Assert.Contains("namespace 'A.1b' is not a C# namespace name", messages);
        Assert.Contains("transfer compression 'f8' is not one of none, f16, bf16", messages);
        Assert.Contains(messages, m => m.Contains("invalid regex", StringComparison.Ordinal));
        Assert.Equal(6, messages.Count);
        Assert.DoesNotContain(messages, m => m.Contains("--", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(null, "cpu", "default")]
    [InlineData("x86-64-v3", "cpu", "default")]
    [InlineData("cuda", "cuda", "cuda")]
    [InlineData("interpreter", "interpreter", null)]
    public void TheTargetDecidesTheDefaultPipeline(string? target, string name, string? pipeline)
    {
        var driver = Compiler.Create(new CompileOptions { Target = target }).Unwrap();
        Assert.Equal(name, driver.Target.Name);
        Assert.Equal(pipeline, driver.Pipeline?.Name);
    }

    [Fact]
    public void AGpuArchitectureNeedsTheCudaTarget()
    {
        Assert.Equal("a GPU architecture ('sm_90') goes with the cuda target, not 'host'",
            Assert.Single(Compiler.Create(new CompileOptions { GpuArch = "sm_90" }).Diagnostics).Message);
        Assert.StartsWith("unknown GPU architecture 'sm_70'", Assert.Single(Compiler.Create(new CompileOptions { Target = "cuda", GpuArch = "sm_70" }).Diagnostics).Message);
        Assert.Equal("sm_90", ((GraphCompiler.Backends.Cuda.CudaBackend)Compiler.Create(new CompileOptions { Target = "cuda", GpuArch = "sm_90" }).Unwrap().Target).Gpu.Arch);
    }
}
