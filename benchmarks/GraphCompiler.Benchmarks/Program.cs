using BenchmarkDotNet.Running;
using GraphCompiler.Benchmarks;

// `generate-models` rewrites benchmarks/models/*.onnx; anything else goes to BenchmarkDotNet
// (--filter, --job, --list flat, ...). See docs/performance.md.
if (args is ["generate-models"])
{
    Console.WriteLine($"wrote {CnnModel.Write()}");
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(Repo).Assembly).Run(args);
return 0;
