using System.Runtime.InteropServices;
using GraphCompiler.Backends.Cpu.Codegen;
using GraphCompiler.Backends.Cuda;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.IR;
using GraphCompiler.Passes;
using Xunit;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>Skips, with the reason shown, where no CUDA driver can be loaded (every CI machine): the GPU runs are tools/gpu-check's.</summary>
public sealed class CudaDriverFactAttribute : FactAttribute
{
    public static bool DriverPresent => NativeLibrary.TryLoad("libcuda.so.1", out _);

    public CudaDriverFactAttribute()
    {
        if (!DriverPresent) Skip = "no CUDA driver (libcuda.so.1) on this machine; tools/gpu-check runs the CUDA libraries on a GPU machine";
    }
}

/// <summary>Runs only where there is no driver: checks the library's own diagnosis of that.</summary>
public sealed class NoCudaDriverFactAttribute : FactAttribute
{
    public NoCudaDriverFactAttribute()
    {
        if (CudaDriverFactAttribute.DriverPresent) Skip = "a CUDA driver is present: CudaLibraryRunsOnTheGpu covers this machine";
    }
}

/// <summary>
/// The CUDA backend without a GPU: PTX snapshots of small kernels (tests/ptx/NAME.ir → NAME.ptx;
/// UPDATE_GOLDEN=1 rewrites them), the shape of the generated code, the library form, and errors.
/// </summary>
[Collection(CudaDriverCollection.Name)]
public sealed class CudaBackendTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    public static IEnumerable<object[]> PtxCases() =>
        Directory.GetFiles(Path.Combine(GoldenFile.RepoRoot(), "tests", "ptx"), "*.ir").Order(StringComparer.Ordinal).Select(p => new object[] { Path.GetFileNameWithoutExtension(p) });

    private static CudaProgram Generate(string text) => Generate(IrTest.Parse(text), SnapshotTarget(text));

    /// <summary>
    /// A PTX snapshot's target: the default (sm_80, an H100's multiprocessors), or what its first line names,
    /// <c>// cuda target: ARCH</c> with optionally <c>, N multiprocessors</c> (the count kernel shapes are chosen for) and
    /// <c>, tf32</c> (f32 contractions on TF32 tensor cores).
    /// </summary>
    internal static CudaTarget SnapshotTarget(string text)
    {
        var m = System.Text.RegularExpressions.Regex.Match(text, @"\A// cuda target: (sm_\w+)(?:, (\d+) multiprocessors)?(, tf32)?\r?\n");
        if (!m.Success) return CudaTarget.Default;
        var target = new CudaTarget(m.Groups[1].Value) { AllowTf32 = m.Groups[3].Success };
        return m.Groups[2].Success ? target with { Multiprocessors = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) } : target;
    }

    private static CudaProgram Generate(Module placed, CudaTarget? gpu = null)
    {
        var p = CudaCompiler.Generate(placed, new CudaCompileOptions { HostKernels = CpuKernels.Instance, Gpu = gpu ?? CudaTarget.Default });
        Assert.True(p.Ok, string.Join("\n", p.Diagnostics));
        return p.Value!;
    }

    /// <summary>The <c>cuda</c> pipeline with every op asked onto the GPU (<c>--place '.*=gpu'</c>; ops without a kernel stay on the CPU).</summary>
    internal static Module PlaceOnGpu(Module module)
    {
        // As the driver compiles for the cuda target: convolutions read their operands from buffers.
        var options = PassOptions.Default with { Placement = new PlacementOptions { GpuSupports = CudaCapabilities.Supports, Constraints = [PlacementConstraint.Parse(".*=gpu").Value!] },
            ComputedConvolutionInputs = false, ReshapingEpilogues = true };
        return PassManager.Run(module, PassRegistry.Cuda, options).Unwrap();
    }

    /// <summary>tools/gpu-check's BERT-base layer is <see cref="EncoderLayer.BertBase"/> (UPDATE_GOLDEN=1 rewrites it) and compiles for the GPU with every op placed there.</summary>
    [Fact]
    public void TheBenchmarkEncoderLayerIsTheGeneratorsAndRunsOnTheGpu()
    {
        var path = Path.Combine(GoldenFile.RepoRoot(), "benchmarks", "gpu", "bert_layer_b8_s128.ir");
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1") File.WriteAllText(path, EncoderLayer.BertBase);
        Assert.Equal(EncoderLayer.BertBase, File.ReadAllText(path).ReplaceLineEndings("\n"));
        var placed = PlaceOnGpu(IrTest.Parse(EncoderLayer.BertBase));
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
    }

    /// <summary>The IR models tools/gpu-check bundles: its benchmarks and the examples.</summary>
    public static IEnumerable<object[]> GpuCheckModels() =>
        new[] { Path.Combine("benchmarks", "gpu"), "examples" }.SelectMany(d => Directory.GetFiles(Path.Combine(GoldenFile.RepoRoot(), d), "*.ir")
            .Order(StringComparer.Ordinal).Select(p => new object[] { Path.GetRelativePath(GoldenFile.RepoRoot(), p) }));

    /// <summary>
    /// Every IR model tools/gpu-check bundles compiles for the GPU as prepare.py compiles it (every op asked onto the GPU,
    /// the file's own <c>// gcc-cli:</c> options), and no kernel spills registers to local memory.
    /// </summary>
    [Theory]
    [MemberData(nameof(GpuCheckModels))]
    public void GpuCheckModelsCompileWithoutSpills(string file)
    {
        var path = Path.Combine(GoldenFile.RepoRoot(), file);
        var options = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("// gcc-cli:", StringComparison.Ordinal))?["// gcc-cli:".Length..]
            .Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        Assert.True(options.Length % 2 == 0 && options.Where((_, i) => i % 2 == 0).All(o => o is "--precision" or "--gpu-arch"),
            $"{file}: only --precision and --gpu-arch are read here, got '{string.Join(' ', options)}'");
        string? Option(string name) => options.Select((o, i) => (o, i)).Where(x => x.o == name).Select(x => options[x.i + 1]).FirstOrDefault();
        var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions
        {
            Target = "cuda", Place = [".*=gpu"], Precision = Option("--precision"), GpuArch = Option("--gpu-arch"),
        }).Unwrap();
        var package = driver.Package(driver.Optimize(driver.Load(path).Unwrap()).Unwrap());
        Assert.True(package.Ok, string.Join("\n", package.Diagnostics));
        var ptx = System.Text.Encoding.UTF8.GetString(package.Value!.Files.Single(f => f.FileName.EndsWith(".ptx", StringComparison.Ordinal)).Data);
        Assert.DoesNotContain(".local", ptx);
        if (file.Contains("bf16") || file.Contains("tf32")) Assert.Contains(Option("--gpu-arch") == "sm_90a" ? "wgmma.mma_async" : "mma.sync.aligned", ptx);
    }

    /// <summary>tools/gpu-check's ResNet-50s are <see cref="ResNetIr.ResNet50B32"/> and its sm_90a twin (UPDATE_GOLDEN=1 rewrites them), and every op of them goes to the GPU.</summary>
    [Theory]
    [InlineData("resnet50_b32_tf32.ir", false)]
    [InlineData("resnet50_b32_tf32_sm90a.ir", true)]
    public void TheBenchmarkResNet50IsTheGeneratorsAndRunsOnTheGpu(string file, bool sm90a)
    {
        var path = Path.Combine(GoldenFile.RepoRoot(), "benchmarks", "gpu", file);
        var model = sm90a ? ResNetIr.ResNet50B32Sm90a : ResNetIr.ResNet50B32;
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1") File.WriteAllText(path, model);
        Assert.Equal(model, File.ReadAllText(path).ReplaceLineEndings("\n"));
        var placed = PlaceOnGpu(IrTest.Parse(model));
        var text = GraphCompiler.IR.Text.Printer.Print(placed);
        Assert.DoesNotContain("device = cpu", text);
        Assert.Equal(53, System.Text.RegularExpressions.Regex.Matches(text, @"= convolution ").Count);
    }

    [Theory]
    [MemberData(nameof(PtxCases))]
    public void PtxMatchesSnapshot(string name)
    {
        var dir = Path.Combine(GoldenFile.RepoRoot(), "tests", "ptx");
        var text = File.ReadAllText(Path.Combine(dir, name + ".ir"));
        var ptx = Generate(text).Ptx.ReplaceLineEndings("\n");
        var expectedPath = Path.Combine(dir, name + ".ptx");
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1") File.WriteAllText(expectedPath, ptx);
        Assert.True(File.Exists(expectedPath), $"{expectedPath} is missing: run with UPDATE_GOLDEN=1 and review it");
        Assert.Equal(File.ReadAllText(expectedPath).ReplaceLineEndings("\n"), ptx);
        var target = SnapshotTarget(text);
        Assert.DoesNotContain(".local", ptx); // no kernel keeps an array LLVM could not promote to registers
        Assert.Contains($".target {target.Arch}\n", ptx);
        Assert.Contains($".version {target.PtxFeature[4]}.{target.PtxFeature[5..]}\n", ptx);
    }

    [Fact]
    public void PointwiseKernelUsesVectorAccessAndNoLibraryCalls()
    {
        var ptx = Generate(File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), "tests", "ptx", "pointwise_tanh.ir"))).Ptx;
        Assert.Contains("ld.global.nc.v4.f32", ptx);
        Assert.Contains("st.global.v4.f32", ptx);
        Assert.DoesNotContain("call.uni", ptx); // tanh is inlined math, not a libm call the driver cannot link
        Assert.DoesNotContain("div.rn.f32", ptx); // div.full: the exact sequence would make the kernel compute-bound
    }

    /// <summary>
    /// Every float function the shared scalar lowering writes inline (src/Backends/Llvm/Codegen/Math, whose
    /// accuracy FastMathTests measures on the CPU) is a GPU op, and its kernel is plain PTX: no call the
    /// driver would have to link (there is no libdevice), no local memory.
    /// </summary>
    [Theory]
    [InlineData("log")]
    [InlineData("log1p")]
    [InlineData("expm1")]
    [InlineData("sin")]
    [InlineData("cos")]
    [InlineData("tan")]
    [InlineData("asin")]
    [InlineData("acos")]
    [InlineData("atan")]
    [InlineData("sinh")]
    [InlineData("cosh")]
    [InlineData("asinh")]
    [InlineData("acosh")]
    [InlineData("atanh")]
    [InlineData("erf")]
    [InlineData("cbrt")]
    [InlineData("atan2")]
    [InlineData("pow")]
    public void MathFunctionsRunOnTheGpuAsPlainPtx(string op)
    {
        var module = IrTest.Parse($$"""
            func @main(%x: tensor<1000xf32>, %y: tensor<1000xf32>) -> (tensor<1000xf32>) {
              %r = {{op}} %x{{(op is "atan2" or "pow" ? ", %y" : "")}} : tensor<1000xf32>
              return %r
            }
            """);
        var placed = PlaceOnGpu(module);
        Assert.Contains($"{op} ", GraphCompiler.IR.Text.Printer.Print(placed));
        Assert.Contains("device = gpu", GraphCompiler.IR.Text.Printer.Print(placed));
        AssertSelfContained(Generate(placed).Ptx);
    }

    /// <summary>Kernels the driver can load as they are: no call to link (no libdevice), nothing external, no local memory.</summary>
    private static void AssertSelfContained(string ptx)
    {
        Assert.Contains(".entry gc_", ptx);
        Assert.DoesNotContain("call", ptx);
        Assert.DoesNotContain(".extern", ptx);
        Assert.DoesNotContain(".local", ptx);
    }

    /// <summary>
    /// f64 arithmetic runs in pointwise kernels (native f64 instructions, no calls) and f64 reductions in the reduction
    /// kernels (f64 accumulators, shuffled as two words); f64 pow too, through the GPU's own helper (no libm call).
    /// </summary>
    [Fact]
    public void F64ArithmeticAndPowRunOnTheGpu()
    {
        var module = IrTest.Parse("""
            func @main(%x: tensor<1000xf64>, %y: tensor<1000xf64>) -> (tensor<1000xf64>, tensor<1000xf32>, tensor<f64>) {
              %a = add %x, %y : tensor<1000xf64>
              %d = div %a, %y : tensor<1000xf64>
              %q = sqrt %d : tensor<1000xf64>
              %m = max %q, %x : tensor<1000xf64>
              %r = round %m : tensor<1000xf64>
              %c = compare %r, %x {direction = lt} : tensor<1000xbool>
              %s = select %c, %r, %a : tensor<1000xf64>
              %n = convert %s : tensor<1000xf32>
              %e = pow %s, %s : tensor<1000xf64>
              %t = reduce %e {dims = [0], kind = sum} : tensor<f64>
              return %e, %n, %t
            }
            """);
        var placed = PlaceOnGpu(module);
        var text = GraphCompiler.IR.Text.Printer.Print(placed);
        Assert.Matches(@"= fusion %\d+, %\d+ \{device = gpu, kind = loop\} : tensor<1000xf64>", text);
        Assert.DoesNotContain("device = cpu", text);
        Assert.Matches(@"= (reduce|fusion) [^\n]*device = gpu[^\n]*: tensor<f64>", text);
        var ptx = Generate(placed).Ptx;
        Assert.Contains("div.rn.f64", ptx);
        Assert.Contains("sqrt.rn.f64", ptx);
        Assert.Contains("cvt.rni.f64.f64", ptx);
        AssertSelfContained(ptx);
    }

    /// <summary>argmax as a block per row: (value, index) pairs meet by 5 shuffles of each (the index as one 32-bit word) and one barrier.</summary>
    [Fact]
    public void ArgmaxMeetsAcrossTheBlockWithShufflesAndOneBarrier()
    {
        var ptx = Generate(File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), "tests", "ptx", "argmax_rows.ir"))).Ptx;
        Assert.Contains(".entry gc_argreduce", ptx);
        Assert.Equal(10, System.Text.RegularExpressions.Regex.Matches(ptx, @"shfl\.sync\.bfly").Count);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(ptx, @"bar\.sync"));
        AssertSelfContained(ptx);
    }

    [Fact]
    public void RowKernelReducesWithShufflesAndOneBarrierPerReduce()
    {
        var ptx = Generate(File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), "tests", "ptx", "row_softmax.ir"))).Ptx;
        Assert.Equal(10, System.Text.RegularExpressions.Regex.Matches(ptx, @"shfl\.sync\.bfly").Count);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(ptx, @"bar\.sync").Count);
    }

    [Fact]
    public void GemmKeepsAccumulatorsInRegisters()
    {
        var ptx = Generate(File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), "tests", "ptx", "gemm_bias_relu.ir"))).Ptx;
        Assert.Contains("fma.rn.f32", ptx);
        Assert.DoesNotContain(".local", ptx); // no spilled accumulator arrays
        Assert.Contains(".shared", ptx);
    }

    /// <summary>GEMM tiles are shaped for the target's multiprocessor count, not a constant: fewer multiprocessors, bigger tiles, fewer blocks.</summary>
    [Fact]
    public void GemmTilesFollowTheTargetsMultiprocessors()
    {
        var module = IrTest.Parse(File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), "tests", "ptx", "gemm_bias_relu.ir")));
        long Blocks(int sms)
        {
            var p = CudaCompiler.Generate(module, new CudaCompileOptions { Gpu = CudaTarget.Default with { Multiprocessors = sms }, HostKernels = CpuKernels.Instance });
            Assert.True(p.Ok, string.Join("\n", p.Diagnostics));
            // The launch grid is a constant of the host program: cuLaunchKernel(f, gridX, gridY, gridZ, ...).
            var launch = System.Text.RegularExpressions.Regex.Match(p.Value!.HostIr, @"call i32 %\w+\(ptr %kernel\w*, i32 (\d+), i32 (\d+), i32 (\d+)");
            Assert.True(launch.Success, "no kernel launch in the host program");
            return long.Parse(launch.Groups[1].Value) * long.Parse(launch.Groups[2].Value) * long.Parse(launch.Groups[3].Value);
        }
        Assert.Equal(CudaTarget.H100Multiprocessors, CudaTarget.Default.Multiprocessors);
        long few = Blocks(1), many = Blocks(CudaTarget.H100Multiprocessors);
        Assert.True(few < many, $"1 multiprocessor: {few} blocks; 132: {many} blocks");
    }

    [Fact]
    public void Sm90TargetsPtx78()
    {
        var p = CudaCompiler.Generate(IrTest.Parse(File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), "tests", "ptx", "pointwise_tanh.ir"))),
            new CudaCompileOptions { Gpu = new CudaTarget("sm_90"), HostKernels = CpuKernels.Instance });
        Assert.True(p.Ok);
        Assert.Contains(".target sm_90", p.Value!.Ptx);
        Assert.Contains(".version 7.8", p.Value!.Ptx);
    }

    [Theory]
    // An op the CUDA backend has no kernel for.
    [InlineData("""
        %s = send %x {from = cpu, to = gpu} : tensor<4xf32>
        %r = recv %s {from = cpu, to = gpu} : tensor<4xf32>
        %y = all_reduce %r {kind = sum, device = gpu} : tensor<4xf32>
        """, "'all_reduce' is placed on the GPU but the CUDA backend has no kernel for it")]
    // A GPU op reading a host value: the transfers were not inserted.
    [InlineData("""
        %y = exp %x {device = gpu} : tensor<4xf32>
        """, "run insert-transfers after place-devices")]
    public void BadPlacementIsADiagnostic(string body, string expected)
    {
        var p = CudaCompiler.Generate(IrTest.Parse($$"""
            func @main(%x: tensor<4xf32>) -> (tensor<4xf32>) {
            {{body}}
              %s2 = send %y {from = gpu, to = cpu} : tensor<4xf32>
              %r2 = recv %s2 {from = gpu, to = cpu} : tensor<4xf32>
              return %r2
            }
            """), new CudaCompileOptions { HostKernels = CpuKernels.Instance });
        Assert.False(p.Ok);
        Assert.Contains(expected, p.Diagnostics[0].Message);
    }

    private static readonly string SoftmaxRegression = Path.Combine(GoldenFile.RepoRoot(), "examples", "softmax_regression.ir");

    private (AotArtifacts Artefacts, Module Placed) CompileExample(string place)
    {
        var module = IrTest.Parse(File.ReadAllText(SoftmaxRegression));
        var options = PassOptions.Default with
        {
            Placement = new PlacementOptions { GpuSupports = CudaCapabilities.Supports, Constraints = [PlacementConstraint.Parse(place).Value!] },
        };
        var placed = PassManager.Run(module, PassRegistry.Cuda, options);
        Assert.True(placed.Ok, string.Join("\n", placed.Diagnostics));
        var a = CudaAot.Compile(placed.Value!, new AotOptions { Name = "sr" }, CudaTarget.Default, CpuKernels.Instance);
        Assert.True(a.Ok, string.Join("\n", a.Diagnostics));
        return (a.Value!, placed.Value!);
    }

    [Fact]
    public void LibraryFormHasTheCudaEntryPoints()
    {
        var (a, placed) = CompileExample(".=gpu");
        Assert.Contains("device = gpu", placed.ToString());
        var files = a.Files.ToDictionary(f => f.FileName, f => f.Data);
        Assert.Equal(["libsr.so", "sr.cs", "sr.h", "sr.kernels.tsv", "sr.ptx"], files.Keys.Order(StringComparer.Ordinal)); // no sr.o unless asked
        var header = System.Text.Encoding.UTF8.GetString(files["sr.h"]);
        Assert.Contains("int32_t sr_run_device(void *const *args, void *const *results, void *arena, int32_t threads);", header);
        Assert.Contains("const char *sr_last_error(void);", header);
        Assert.Contains("public static string LastError()", System.Text.Encoding.UTF8.GetString(files["sr.cs"]));
    }

    /// <summary>
    /// NAME.kernels.tsv names each kernel of the PTX once per op it runs for, with that op (the printed IR's result name:
    /// this example has no source names), what it computes (a fusion's kind and its computing ops) and its launch.
    /// </summary>
    [Fact]
    public void TheKernelTableNamesEachKernelsOp()
    {
        var (a, placed) = CompileExample(".=gpu");
        var files = a.Files.ToDictionary(f => f.FileName, f => f.Data);
        var rows = System.Text.Encoding.UTF8.GetString(files["sr.kernels.tsv"]).TrimEnd('\n').Split('\n');
        Assert.Equal("kernel\top\tcomputes\tgrid\tblock\tshared_bytes\tscratch_bytes", rows[0]);
        var entries = System.Text.RegularExpressions.Regex.Matches(System.Text.Encoding.ASCII.GetString(files["sr.ptx"]), @"\.entry (\w+)\(")
            .Select(m => m.Groups[1].Value).ToList();
        var table = rows.Skip(1).Select(r => r.Split('\t')).ToList();
        Assert.All(table, r => Assert.Equal(7, r.Length));
        Assert.Equal(entries.Order(StringComparer.Ordinal), table.Select(r => r[0]).Distinct().Order(StringComparer.Ordinal));
        var printed = GraphCompiler.IR.Text.Printer.Print(placed);
        foreach (var r in table)
        {
            Assert.Matches(@"^%\d+$", r[1]);
            Assert.Contains($"  {r[1]} = ", printed);
            Assert.Matches(@"^\d+,\d+,\d+$", r[3]);
            Assert.True(int.Parse(r[4], System.Globalization.CultureInfo.InvariantCulture) > 0);
        }
        // x·W on its own (the GEMV), then the bias, softmax and all in one reduction fusion.
        Assert.Equal(["dot_general", "reduction: add reduce sub exp div"], table.Select(r => r[2]));
    }

    /// <summary>
    /// A fusion's kernel is named after its contraction's node, not after the fusion's last op: here a convert for the next
    /// layer, named after it (as <c>--precision bf16</c> makes them).
    /// </summary>
    [Fact]
    public void TheKernelTableNamesAFusionAfterItsContraction()
    {
        var placed = PlaceOnGpu(IrTest.Parse("""
            func @main(%x: tensor<1x8x8x16xf32>, %k: tensor<3x3x1x16xf32>) -> (tensor<1x8x8x16xbf16>) {
              %c = convolution %x, %k {dims = "b01f_01io->b01f", feature_group_count = 16, padding_low = [1, 1], padding_high = [1, 1]} : tensor<1x8x8x16xf32> loc("block1_dwconv")
              %z = constant {value = dense<0.0>} : tensor<f32> loc("block1_relu")
              %zb = broadcast_in_dim %z {dims = []} : tensor<1x8x8x16xf32> loc("block1_relu")
              %r = max %c, %zb : tensor<1x8x8x16xf32> loc("block1_relu")
              %h = convert %r : tensor<1x8x8x16xbf16> loc("block1_project")
              return %h
            }
            """));
        var rows = Generate(placed).KernelMap.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(r => r.Split('\t')).ToList();
        var depthwise = Assert.Single(rows, r => r[0].StartsWith("gc_depthwise", StringComparison.Ordinal));
        Assert.Equal("block1_dwconv", depthwise[1]);
        Assert.Equal("output: convolution max convert", depthwise[2]);
    }

    private unsafe (int Status, string Error, float[] Result) RunLibrary(AotArtifacts a, float[] x)
    {
        var dir = _temp.Directory("gc-cuda");
        foreach (var (name, data) in a.Files) File.WriteAllBytes(Path.Combine(dir, name), data);
        var lib = NativeLibrary.Load(Path.Combine(dir, "libsr.so"));
        try
        {
            var run = (delegate* unmanaged<nint*, nint*, void*, int, int>)NativeLibrary.GetExport(lib, "sr_run");
            var lastError = (delegate* unmanaged<nint>)NativeLibrary.GetExport(lib, "sr_last_error");
            var release = (delegate* unmanaged<void>)NativeLibrary.GetExport(lib, "sr_release");
            var y = new float[6];
            var arena = NativeMemory.AlignedAlloc(64 * 1024, 64);
            try
            {
                fixed (float* px = x, py = y)
                {
                    nint* args = stackalloc nint[1] { (nint)px };
                    nint* results = stackalloc nint[1] { (nint)py };
                    int status = run(args, results, arena, 0);
                    var message = Marshal.PtrToStringUTF8(lastError()) ?? "";
                    release();
                    return (status, message, y);
                }
            }
            finally
            {
                NativeMemory.AlignedFree(arena);
            }
        }
        finally
        {
            NativeLibrary.Free(lib);
        }
    }

    [NoCudaDriverFact]
    public void WithoutADriverTheLibraryReportsItInOneLine()
    {
        var (status, error, _) = RunLibrary(CompileExample(".=gpu").Artefacts, [1, 2, 3, 4, 5, 6, 7, 8]);
        Assert.Equal(4, status);
        Assert.Equal("cannot load libcuda.so.1: no NVIDIA driver on this machine", error);
    }

    [CudaDriverFact]
    public void CudaLibraryRunsOnTheGpu()
    {
        float[] x = [0.5f, -1, 2, 0.25f, 1.5f, 3, -0.5f, 1];
        var (a, placed) = CompileExample(".=gpu");
        var (status, error, y) = RunLibrary(a, x);
        Assert.True(status == 0, error);
        var input = Tensor.FromDoubles(new TensorType(ElementType.F32, 2L, 4L), [.. x.Select(v => (double)v)]);
        var expected = new Interpreter(placed).Run(null, [input]).Value!.Results[0];
        IrTest.AssertTensor(expected, Tensor.FromDoubles(expected.Type, [.. y.Select(v => (double)v)]), rtol: 1e-5, atol: 1e-6);
    }
}
