using Google.Protobuf;
using GraphCompiler.Frontend.Proto.Onnx;
using static GraphCompiler.Tests.OnnxBuilder;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// Builds the bundled ONNX examples (<c>examples/*.onnx</c>) with our own protobuf classes, the way an
/// exporter would. <c>ExamplesAreUpToDate</c> checks the files; <c>UPDATE_GOLDEN=1</c> rewrites them.
/// Weights come from simple formulas so that the files are reproducible and small.
/// </summary>
public static class ExampleModels
{

    public static readonly float[] SoftmaxW = [0.5f, -0.25f, 1.0f, 0.75f, 0.5f, -1.0f, -0.5f, 0.25f, 0.125f, 1.0f, -1.0f, 0.0f];
    public static readonly float[] SoftmaxB = [0.1f, 0.2f, -0.3f];

    private static ModelProto Model(GraphProto g)
    {
        var m = new ModelProto { IrVersion = 8, ProducerName = "GraphCompiler examples", Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return m;
    }

    /// <summary>softmax(x · W + b) for x: [2, 4], the same model as examples/softmax_regression.ir.</summary>
    public static ModelProto SoftmaxRegression()
    {
        var g = new GraphProto { Name = "softmax_regression" };
        g.Input.Add(ValueInfo("x", 2, 4));
        g.Output.Add(ValueInfo("probabilities", 2, 3));
        g.Initializer.Add(Floats("W", [4, 3], SoftmaxW));
        g.Initializer.Add(Floats("b", [3], SoftmaxB));
        g.Node.Add(Node("MatMul", "matmul", ["x", "W"], ["xw"]));
        g.Node.Add(Node("Add", "bias", ["xw", "b"], ["logits"]));
        g.Node.Add(Node("Softmax", "softmax", ["logits"], ["probabilities"], Int("axis", 1)));
        return Model(g);
    }

    private static IEnumerable<float> Pattern(int count, int seed) =>
        Enumerable.Range(0, count).Select(i => ((i * 37 + seed * 11) % 17 - 8) / 32f);

    /// <summary>A small CNN on 1×1×8×8 images: conv 3×3 (4 filters) + bias + relu, 2×2 max pool, dense 64 → 10, softmax.</summary>
    public static ModelProto SmallCnn()
    {
        var g = new GraphProto { Name = "small_cnn" };
        g.Input.Add(ValueInfo("image", 1, 1, 8, 8));
        g.Output.Add(ValueInfo("probabilities", 1, 10));
        g.Initializer.Add(Floats("conv_w", [4, 1, 3, 3], Pattern(36, 1)));
        g.Initializer.Add(Floats("conv_b", [4], Pattern(4, 2)));
        g.Initializer.Add(Floats("dense_w", [64, 10], Pattern(640, 3)));
        g.Initializer.Add(Floats("dense_b", [10], Pattern(10, 4)));
        g.Node.Add(Node("Conv", "conv", ["image", "conv_w", "conv_b"], ["conv"], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)));
        g.Node.Add(Node("Relu", "relu", ["conv"], ["relu"]));
        g.Node.Add(Node("MaxPool", "pool", ["relu"], ["pool"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)));
        g.Node.Add(Node("Flatten", "flatten", ["pool"], ["flat"], Int("axis", 1)));
        g.Node.Add(Node("Gemm", "dense", ["flat", "dense_w", "dense_b"], ["logits"]));
        g.Node.Add(Node("Softmax", "softmax", ["logits"], ["probabilities"], Int("axis", 1)));
        return Model(g);
    }

    public static IEnumerable<(string File, ModelProto Model)> All() =>
    [
        ("softmax_regression.onnx", SoftmaxRegression()),
        ("small_cnn.onnx", SmallCnn()),
    ];

    public static byte[] Bytes(ModelProto m) => m.ToByteArray();
}

public sealed class ExampleModelTests
{
    public static IEnumerable<object[]> Files() => ExampleModels.All().Select(e => new object[] { e.File });

    [Theory]
    [MemberData(nameof(Files))]
    public void ExamplesAreUpToDate(string file)
    {
        var model = ExampleModels.All().First(e => e.File == file).Model;
        var path = Path.Combine(GoldenFile.RepoRoot(), "examples", file);
        var bytes = ExampleModels.Bytes(model);
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1") File.WriteAllBytes(path, bytes);
        Assert.True(File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes), $"{file} is stale: UPDATE_GOLDEN=1 rewrites it");
    }
}

public sealed class ExampleAgreementTests
{
    [Fact]
    public void OnnxSoftmaxRegressionComputesWhatTheIrExampleComputes()
    {
        var root = GoldenFile.RepoRoot();
        var ir = GraphCompiler.IR.Text.Parser.ParseFile(Path.Combine(root, "examples", "softmax_regression.ir")).Unwrap();
        var onnx = GraphCompiler.Frontend.Onnx.OnnxImporter.Import(Path.Combine(root, "examples", "softmax_regression.onnx")).Unwrap();
        var x = Npy.ReadFile(Path.Combine(root, "examples", "softmax_regression.x.npy")).Unwrap();
        var expected = new Interpreter(ir).Run(null, [x]).Unwrap().Results[0];
        var actual = new Interpreter(onnx).Run(null, [x]).Unwrap().Results[0];
        IrTest.AssertTensor(expected, actual, rtol: 1e-6);
    }
}
