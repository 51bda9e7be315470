using GraphCompiler.IR;
using GraphCompiler.Tests.IR;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// tools/gpu-check's bench.py writes each workload once per framework (torch, JAX); where the workload is generated, its
/// framework code must compute what the generated IR computes. Checked here without a GPU framework: bench.py's
/// ResNet walk over NumPy ops against the interpreter on the generator's small ResNet, same inputs.
/// </summary>
public sealed class GpuCheckBenchTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    [SkippableNumPyFact]
    public void BenchResNetWalkIsTheGeneratorsNetwork()
    {
        int[] blocks = [1, 2];
        var module = IrTest.Parse(ResNetIr.Ir(batch: 2, image: 32, width: 4, blocks: blocks, classes: 10));
        var inputs = ResNetIr.Inputs(module.Entry, 7);
        var expected = new Interpreter(module).Run(null, inputs).Unwrap().Results[0];
        var dir = _temp.Directory("gc-bench-walk");
        for (int i = 0; i < inputs.Length; i++) Npy.WriteFile(Path.Combine(dir, $"in{i}.npy"), inputs[i]);
        var bench = Path.Combine(GoldenFile.RepoRoot(), "tools", "gpu-check", "bench.py");
        NumPy.Run(
            "import importlib.util, numpy as np; " +
            $"spec = importlib.util.spec_from_file_location('bench', '{bench}'); bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench); " +
            $"net = bench.resnet_walk(bench.numpy_resnet_ops(), blocks=({string.Join(", ", blocks)},)); " +
            $"args = [np.load('{dir}/in%d.npy' % i) for i in range({inputs.Length})]; " +
            $"np.save('{dir}/out.npy', net(*args).astype(np.float32))");
        var actual = Npy.ReadFile(Path.Combine(dir, "out.npy")).Unwrap();
        Assert.Equal(expected.Type, actual.Type);
        double scale = Enumerable.Range(0, (int)expected.ElementCount).Max(i => Math.Abs(expected.GetDouble(i)));
        Assert.True(scale > 1e-3, $"the network's output vanished ({scale})");
        for (int i = 0; i < expected.ElementCount; i++)
            Assert.True(Math.Abs(expected.GetDouble(i) - actual.GetDouble(i)) <= 1e-4 * scale, $"logit {i}: bench.py {actual.GetDouble(i)}, interpreter {expected.GetDouble(i)}");
    }

    /// <summary>
    /// gpu-check's kernel profiles (bench.py) and kernel report (kernels.py) name each of our kernels' op through
    /// <c>gclib.kernel_table</c>, which reads NAME.kernels.tsv beside libNAME.so as <c>gcc-cli compile --target cuda</c>
    /// writes it (every kernel of the library, each with its op, what it computes and its block).
    /// </summary>
    [SkippableNumPyFact]
    public void GpuCheckReadsTheKernelTableTheCompilerWrites()
    {
        var module = IrTest.Parse(File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), "examples", "softmax_regression.ir")));
        var placed = CudaBackendTests.PlaceOnGpu(module);
        var a = GraphCompiler.Backends.Cuda.CudaAot.Compile(placed, new GraphCompiler.Backends.Llvm.Aot.AotOptions { Name = "sr" },
            GraphCompiler.Backends.Cuda.CudaTarget.Default, GraphCompiler.Backends.Cpu.Codegen.CpuKernels.Instance).Unwrap();
        var dir = _temp.Directory("gc-bench-kernels");
        var tsv = a.Files.Single(f => f.FileName == "sr.kernels.tsv");
        File.WriteAllBytes(Path.Combine(dir, tsv.FileName), tsv.Data);
        var rows = System.Text.Encoding.UTF8.GetString(tsv.Data).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(r => r.Split('\t')).ToList();
        Assert.NotEmpty(rows);
        var tools = Path.Combine(GoldenFile.RepoRoot(), "tools", "gpu-check");
        var read = NumPy.Run(
            $"import sys; sys.path.insert(0, '{tools}'); import gclib; " +
            $"t = gclib.kernel_table('{dir}', 'libsr.so'); print('\\n'.join(sorted(f\"{{k}}|{{v['op']}}|{{v['computes']}}|{{v['block']}}\" for k, v in t.items())))");
        Assert.Equal(rows.Select(r => $"{r[0]}|{r[1]}|{r[2]}|{r[4]}").Order(StringComparer.Ordinal), read.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>
    /// kernels.py (gpu-check's first step on the GPU machine: each kernel's registers, spills and largest block as the
    /// driver compiles it) reads the PTX a CUDA library embeds, byte for byte the PTX the compiler wrote beside it, and
    /// finds every kernel in it.
    /// </summary>
    [SkippableNumPyFact]
    public void KernelsPyReadsThePtxALibraryEmbeds()
    {
        var module = IrTest.Parse(File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), "examples", "softmax_regression.ir")));
        var a = GraphCompiler.Backends.Cuda.CudaAot.Compile(CudaBackendTests.PlaceOnGpu(module), new GraphCompiler.Backends.Llvm.Aot.AotOptions { Name = "sr" },
            GraphCompiler.Backends.Cuda.CudaTarget.Default, GraphCompiler.Backends.Cpu.Codegen.CpuKernels.Instance).Unwrap();
        var dir = _temp.Directory("gc-kernels-py");
        foreach (var (name, data) in a.Files) File.WriteAllBytes(Path.Combine(dir, name), data);
        var kernels = Path.Combine(GoldenFile.RepoRoot(), "tools", "gpu-check", "kernels.py");
        var read = NumPy.Run(
            "import importlib.util; " +
            $"spec = importlib.util.spec_from_file_location('kernels', '{kernels}'); k = importlib.util.module_from_spec(spec); spec.loader.exec_module(k); " +
            $"ptx = k.embedded_ptx('{dir}/libsr.so'); print(ptx == open('{dir}/sr.ptx').read()); print(' '.join(k.ENTRY_RE.findall(ptx)))");
        var lines = read.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("True", lines[0]);
        var entries = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(Path.Combine(dir, "sr.ptx")), @"\.entry (\w+)\(").Select(m => m.Groups[1].Value);
        Assert.Equal(string.Join(' ', entries), lines[1]);
        Assert.NotEmpty(entries);
    }

    /// <summary>Every GPU benchmark model has its baselines and its measure in bench.py (else bench.py skips it with a note).</summary>
    [SkippableNumPyFact]
    public void EveryGpuBenchmarkHasABaselineInBenchPy()
    {
        var bench = Path.Combine(GoldenFile.RepoRoot(), "tools", "gpu-check", "bench.py");
        var defined = NumPy.Run(
            "import importlib.util; " +
            $"spec = importlib.util.spec_from_file_location('bench', '{bench}'); bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench); " +
            "print('\\n'.join(bench.WORKLOADS))").Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var models = Directory.GetFiles(Path.Combine(GoldenFile.RepoRoot(), "benchmarks", "gpu"), "*.ir").Select(Path.GetFileNameWithoutExtension).ToList();
        Assert.NotEmpty(models);
        Assert.All(models, m => Assert.Contains(m!, defined));
    }
}
