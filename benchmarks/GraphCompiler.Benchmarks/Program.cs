using BenchmarkDotNet.Running;
using GraphCompiler.Benchmarks;

// `generate-models` rewrites benchmarks/models/*.onnx (committed); `generate-resnet50 [PATH]` writes the
// ~100 MB ResNet-50 for compile-time measurements (default benchmarks/models/resnet50.onnx, ignored by
// git); anything else goes to BenchmarkDotNet (--filter, --job, --list flat, ...). See docs/performance.md.
switch (args)
{
    case ["generate-models"]:
        Console.WriteLine($"wrote {CnnModel.Write()}");
        return 0;
    case ["generate-resnet50", .. var rest] when rest.Length <= 1:
        var path = ResNet50Model.Write(rest.Length == 1 ? rest[0] : null);
        Console.WriteLine($"wrote {path} ({new FileInfo(path).Length / 1e6:F1} MB, {ResNet50Model.CountParameters(File.ReadAllBytes(path)) / 1e6:F2} M parameters)");
        return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(Repo).Assembly).Run(args);
return 0;
