using BenchmarkDotNet.Running;
using GraphCompiler.Benchmarks;
using GraphCompiler.Benchmarks.Architectures;

// `generate-models` rewrites benchmarks/models/*.onnx (committed); `generate-resnet50 [PATH] [--weights
// random|formula|in-graph]` writes the ~100 MB ResNet-50 (default benchmarks/models/resnet50.onnx, ignored by
// git; formula/in-graph: the same formula weights as initializers or computed in the graph, see ResNet50Model);
// `generate-cnns [NAME...]` writes the standard ImageNet CNNs to benchmarks/models/imagenet/ (ignored by git);
// `generate-cnns --weights-as-inputs DIR [--batch N] [NAME...]` writes the GPU check's CNNs there with their weights
// as graph inputs (NAME.onnx, NAME.weights.json; tools/gpu-check draws the weights);
// `verify [NAME...]` checks that GraphCompiler and ONNX Runtime agree on each benchmark model; anything else
// `compare [NAME...]` times both, in alternating blocks of calls, at 1 and 2 threads (a quick same-run ratio; the
// BenchmarkDotNet run is the full measurement); `ort-footprint MODEL [THREADS]` prints ONNX Runtime's cold start and
// peak RSS (compare with benchmarks/native/coldstart.c on the AOT library); `roofline [NAME...]` (default the two
// MLPs) times both at one thread against the bound one core of this machine allows (its FMA peak and stream rate,
// measured in the same run); anything else goes to BenchmarkDotNet (--filter, --job, --list flat, ...). See docs/performance.md.
switch (args)
{
    case ["generate-models"]:
        Console.WriteLine($"wrote {CnnModel.Write()}");
        Console.WriteLine($"wrote {MathModel.Write()}");
        return 0;
    case ["generate-resnet50", .. var rest] when rest.Length <= 3:
        var weights = ResNet50Model.WeightSource.Random;
        if (Array.IndexOf(rest, "--weights") is var w and >= 0)
        {
            if (w + 1 >= rest.Length || !Enum.TryParse(rest[w + 1].Replace("-", ""), ignoreCase: true, out weights))
            {
                Console.Error.WriteLine("--weights takes random, formula or in-graph");
                return 2;
            }
            rest = [.. rest[..w], .. rest[(w + 2)..]];
        }
        if (rest.Length > 1) break;
        var path = ResNet50Model.Write(rest.Length == 1 ? rest[0] : null, weights);
        Console.WriteLine($"wrote {path} ({new FileInfo(path).Length / 1e6:F1} MB, {ResNet50Model.CountParameters(File.ReadAllBytes(path)) / 1e6:F2} M parameters)");
        return 0;
    case ["generate-cnns", "--weights-as-inputs", var folder, .. var rest]:
        int batch = 1;
        if (rest is ["--batch", var b, ..])
        {
            if (!int.TryParse(b, out batch) || batch < 1)
            {
                Console.Error.WriteLine($"--batch takes a positive integer, not '{b}'");
                return 2;
            }
            rest = rest[2..];
        }
        if (UnknownNet(rest, GraphCompiler.Tests.ImageNetNets.GpuCheck.Keys)) return 2;
        foreach (var written in ImageNetModels.WriteWeightsAsInputs(folder, batch, rest.Length > 0 ? rest : null))
            Console.WriteLine($"wrote {written} ({new FileInfo(written).Length / 1e3:F0} kB)");
        return 0;
    case ["generate-cnns", .. var names]:
        if (UnknownNet(names, GraphCompiler.Tests.ImageNetNets.All.Keys)) return 2;
        foreach (var written in ImageNetModels.Write(names.Length > 0 ? names : null))
            Console.WriteLine($"wrote {written} ({new FileInfo(written).Length / 1e6:F1} MB, {ResNet50Model.CountParameters(File.ReadAllBytes(written)) / 1e6:F2} M parameters)");
        return 0;
    case ["verify", .. var models]:
        foreach (var model in models.Length > 0 ? models : OnnxBenchmarks.Models())
        {
            var bench = new OnnxBenchmarks { Model = model, Threads = 1 };
            try { bench.Setup(); }
            finally { bench.Cleanup(); }
        }
        return 0;
    case ["ort-footprint", var footprintModel, .. var footprintThreads] when footprintThreads.Length <= 1:
        return OrtFootprint.Run(footprintModel, footprintThreads.Length == 1 ? int.Parse(footprintThreads[0]) : 1);
    case ["roofline", .. var bounded]:
        Roofline.Run(bounded.Length > 0 ? bounded : ["mlp_b1", "mlp_b64"]);
        return 0;
    case ["compare", .. var compared]:
        Compare.Run(compared.Length > 0 ? compared : OnnxBenchmarks.Models());
        return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(Repo).Assembly).Run(args);
return 0;

// Checked before anything is written: one line naming the first unknown network and the known ones.
static bool UnknownNet(IEnumerable<string> names, IEnumerable<string> known)
{
    if (names.FirstOrDefault(n => !known.Contains(n)) is not { } unknown) return false;
    Console.Error.WriteLine($"generate-cnns: unknown network '{unknown}' (known: {string.Join(", ", known)})");
    return true;
}
