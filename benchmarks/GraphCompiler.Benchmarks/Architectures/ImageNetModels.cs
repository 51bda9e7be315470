using GraphCompiler.Tests;

namespace GraphCompiler.Benchmarks.Architectures;

/// <summary>
/// Writes the standard ImageNet CNNs (<see cref="ImageNetNets"/>, tests/GraphCompiler.Tests/Support, linked) as
/// files: on demand by <c>generate-cnns</c> into benchmarks/models/imagenet/ (ignored by git: 5–575 MB each;
/// the CPU comparison's ResNet-50 is <see cref="ResNet50Model"/>), or with their weights as inputs for tools/gpu-check.
/// </summary>
public static class ImageNetModels
{
    public const string Folder = "imagenet";

    public static string PathOf(string name) => Repo.BenchmarkModel(Path.Combine(Folder, name + ".onnx"));

    /// <summary>Writes every model (or those named) to benchmarks/models/imagenet/; returns the paths.</summary>
    public static IEnumerable<string> Write(IEnumerable<string>? names = null)
    {
        foreach (var name in names ?? ImageNetNets.All.Keys)
        {
            if (!ImageNetNets.All.TryGetValue(name, out var build)) throw new ArgumentException($"unknown model '{name}' (known: {string.Join(", ", ImageNetNets.All.Keys)})");
            var path = PathOf(name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, build(NetOptions.Default).Onnx);
            yield return path;
        }
    }

    /// <summary>
    /// Writes <see cref="ImageNetNets.GpuCheck"/>'s models (or those named) with their weights as graph inputs, at a batch, into
    /// <paramref name="folder"/>: NAME.onnx (the graph alone, kilobytes) and NAME.weights.json (each weight input's
    /// name, shape and uniform range, in argument order after "input"); returns the model paths.
    /// </summary>
    public static IEnumerable<string> WriteWeightsAsInputs(string folder, int batch, IEnumerable<string>? names = null)
    {
        Directory.CreateDirectory(folder);
        foreach (var name in names ?? ImageNetNets.GpuCheck.Keys)
        {
            if (!ImageNetNets.GpuCheck.TryGetValue(name, out var build)) throw new ArgumentException($"unknown model '{name}' (known: {string.Join(", ", ImageNetNets.GpuCheck.Keys)})");
            var net = build(new NetOptions(batch, WeightsAsInputs: true));
            var path = Path.Combine(folder, name + ".onnx");
            File.WriteAllBytes(path, net.Onnx);
            var weights = net.WeightInputs.Select(w => new { name = w.Name, shape = w.Shape, low = w.Low, high = w.High });
            File.WriteAllText(Path.Combine(folder, name + ".weights.json"),
                System.Text.Json.JsonSerializer.Serialize(new { model = name, batch, weights, graph = ImageNetNets.GraphJson(net.Onnx) }));
            yield return path;
        }
    }
}
