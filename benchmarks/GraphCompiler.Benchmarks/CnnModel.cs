using Google.Protobuf;
using GraphCompiler.Frontend.Proto.Onnx;
using static GraphCompiler.Tests.OnnxBuilder;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// The benchmark CNN (<c>benchmarks/models/cnn_8x3x32x32.onnx</c>), built reproducibly (fixed seed):
/// input [8,3,32,32] → Conv 3×3 (16, pad 1) + Relu + MaxPool 2×2 → Conv 3×3 (32, pad 1) + Relu +
/// MaxPool 2×2 → Flatten → Gemm 2048 → 10. About 0.2 GFLOP per batch: big enough to time, small
/// enough to commit. <c>GraphCompiler.Benchmarks generate-models</c> rewrites it.
/// </summary>
public static class CnnModel
{
    public const string FileName = "cnn_8x3x32x32.onnx";

    public static byte[] Build()
    {
        var random = new Random(2024);
        IEnumerable<float> Weights(int count, int fanIn) =>
            Enumerable.Range(0, count).Select(_ => (random.NextSingle() * 2 - 1) / MathF.Sqrt(fanIn));

        var g = new GraphProto { Name = "cnn_8x3x32x32" };
        g.Input.Add(ValueInfo("image", 8, 3, 32, 32));
        g.Output.Add(ValueInfo("logits", 8, 10));
        g.Initializer.Add(Floats("conv1_w", [16, 3, 3, 3], Weights(16 * 3 * 9, 27)));
        g.Initializer.Add(Floats("conv1_b", [16], Weights(16, 27)));
        g.Initializer.Add(Floats("conv2_w", [32, 16, 3, 3], Weights(32 * 16 * 9, 144)));
        g.Initializer.Add(Floats("conv2_b", [32], Weights(32, 144)));
        g.Initializer.Add(Floats("dense_w", [2048, 10], Weights(2048 * 10, 2048)));
        g.Initializer.Add(Floats("dense_b", [10], Weights(10, 2048)));
        for (int i = 1; i <= 2; i++)
        {
            var input = i == 1 ? "image" : "pool1";
            g.Node.Add(Node("Conv", $"conv{i}", [input, $"conv{i}_w", $"conv{i}_b"], [$"conv{i}"], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)));
            g.Node.Add(Node("Relu", $"relu{i}", [$"conv{i}"], [$"relu{i}"]));
            g.Node.Add(Node("MaxPool", $"pool{i}", [$"relu{i}"], [$"pool{i}"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)));
        }
        g.Node.Add(Node("Flatten", "flatten", ["pool2"], ["flat"], Int("axis", 1)));
        g.Node.Add(Node("Gemm", "dense", ["flat", "dense_w", "dense_b"], ["logits"]));
        var m = new ModelProto { IrVersion = 8, ProducerName = "GraphCompiler benchmarks", Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return m.ToByteArray();
    }

    /// <summary>Writes the model under benchmarks/models; returns its path.</summary>
    public static string Write() => Repo.WriteBenchmarkModel(FileName, Build());
}
