using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.Frontend;
using GraphCompiler.IR.Text;
using GraphCompiler.Runtime;

namespace GraphCompiler.Tests.Api;

/// <summary>The public JIT API (src/GraphCompiler): compile, describe, run on every path, report errors.</summary>
public sealed class CompiledModelTests
{
    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", name);

    private static readonly float[] X = [0.5f, -1, 2, 0, 1, 1, 1, 1];

    private static Tensor XTensor => T.F32([2, 4], [.. X.Select(v => (double)v)]);

    private static float[] Floats(Tensor t) => [.. Enumerable.Range(0, (int)t.ElementCount).Select(i => (float)t.GetDouble(i))];

    /// <summary>The reference interpreter on the same model, unoptimised.</summary>
    private static float[] Reference(string path, IReadOnlyList<Tensor> inputs)
    {
        var module = ModelLoader.Load(path, new ImportOptions()).Unwrap();
        return Floats(new Interpreter(module).Run(null, inputs).Unwrap().Results[0]);
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6 + 1e-5 * Math.Abs(expected[i]), $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    [Fact]
    public void BenchmarkCnnSplitOverThreadsMatchesTheInterpreter()
    {
        // benchmarks/models/cnn_8x3x32x32.onnx: convolutions with constant (prepacked) weights and fused
        // bias + ReLU, pooling and the dense layer, big enough that kernels split over the thread pool.
        var path = Path.Combine(GoldenFile.RepoRoot(), "benchmarks", "models", "cnn_8x3x32x32.onnx");
        var rng = new Random(11);
        var image = T.F32([8, 3, 32, 32], [.. Enumerable.Range(0, 8 * 3 * 32 * 32).Select(_ => rng.NextDouble() * 2 - 1)]);
        using var model = CompiledModel.Compile(path, new CompileOptions { Threads = 2 });
        var expected = Reference(path, [image]);
        for (int i = 0; i < 3; i++) AssertClose(expected, Floats(model.Run([image])[0]));
    }

    [Fact]
    public void OnnxModelMatchesTheInterpreter()
    {
        var path = Example("softmax_regression.onnx");
        using var model = CompiledModel.Compile(path, new CompileOptions { Threads = 2 });
        Assert.Equal([new TensorDescriptor("x", DType.F32, [2, 4])], model.Inputs);
        Assert.Equal([new TensorDescriptor("probabilities", DType.F32, [2, 3])], model.Outputs);
        Assert.Equal(2, model.Threads);
        Assert.Equal(2, model.EffectiveThreads);
        Assert.True(model.Timings.Total > TimeSpan.Zero);

        var outputs = model.Run([XTensor]);
        Assert.Single(outputs);
        var expected = Reference(path, [XTensor]);
        AssertClose(expected, Floats(outputs[0]));
        for (int row = 0; row < 2; row++)
            Assert.Equal(1.0, expected[row * 3] + expected[row * 3 + 1] + expected[row * 3 + 2], 5);

        // The typed span path and the bound path give the same numbers.
        var y = new float[6];
        model.Run<float, float>(X, y);
        AssertClose(expected, y);
        var z = new float[6];
        using var binding = model.Bind().BindInput("x", X.ToArray()).BindOutput(0, z);
        binding.Run();
        AssertClose(expected, z);
    }

    [Theory]
    [InlineData("softmax_regression.ir")]
    [InlineData("softmax_regression.pbtxt")]
    public void EveryFormatCompilesToTheSameFunction(string file)
    {
        var options = file.EndsWith(".pbtxt") ? new CompileOptions { Fetches = ["probabilities:0"] } : new CompileOptions();
        using var model = CompiledModel.Compile(Example(file), options);
        Assert.Equal(2 * 4, model.Inputs[0].ElementCount);
        AssertClose(Reference(Example("softmax_regression.ir"), [XTensor]), Floats(model.Run([XTensor])[0]));
    }

    [Fact]
    public void AnIrModuleCompilesWithoutTheDefaultPipeline()
    {
        var module = Parser.ParseModule("""
            func @main(%a: tensor<3xf32> {name = "a"}, %b: tensor<3xf32> {name = "b"}) -> (tensor<3xf32> {name = "sum"}) {
              %s = add %a, %b : tensor<3xf32>
              return %s
            }
            """).Unwrap();
        using var model = CompiledModel.Compile(module, new CompileOptions { Pipeline = "none", Target = "x86-64" });
        Assert.Same(module, model.Module);
        var sum = model.Run([T.F32([3], 1, 2, 3), T.F32([3], 10, 20, 30)]);
        Assert.Equal([11f, 22f, 33f], Floats(sum[0]));
    }

    [Fact]
    public void TheBoundPathAllocatesNothingPerRun()
    {
        using var model = CompiledModel.Compile(Example("softmax_regression.onnx"));
        var x = X.ToArray();
        var y = new float[6];
        using var binding = model.Bind().BindInput(0, x).BindOutput(0, y);
        var expected = new float[6];
        model.Run<float, float>(x, expected);
        for (int i = 0; i < 10; i++) binding.Run();   // warm up: JIT the managed path
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++) binding.Run();
        for (int i = 0; i < 1000; i++) model.Run<float, float>(x, y);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, after - before);
        Assert.Equal(expected, y);
    }

    [Fact]
    public void TheSpanPathUpdatesVariablesInPlaceAndTheTensorPathDoesNot()
    {
        var module = Parser.ParseModule("""
            func @main(%w: tensor<3xf32> {name = "w", variable}, %in: tensor<3xf32> {name = "in"}) -> (tensor<3xf32> {name = "out"}, tensor<3xf32> {updates = %w}) {
              %y = mul %w, %in : tensor<3xf32>
              %w2 = add %w, %in : tensor<3xf32>
              return %y, %w2
            }
            """).Unwrap();
        using var model = CompiledModel.Compile(module);
        Assert.True(model.Inputs[0].UpdatedInPlace);
        Assert.False(model.Inputs[1].UpdatedInPlace);

        var w = T.F32([3], 1, 2, 3);
        var results = model.Run([w, T.F32([3], 1, 1, 1)]);
        Assert.Equal(T.F32([3], 1, 2, 3), w);
        Assert.Equal([2f, 3f, 4f], Floats(results[1]));

        float[] wa = [1, 2, 3], input = [1, 1, 1], y = new float[3], next = new float[3];
        using var binding = model.Bind().BindInput("w", wa).BindInput("in", input).BindOutput(0, y).BindOutput(1, next);
        binding.Run();
        binding.Run();
        Assert.Equal([3f, 4f, 5f], wa);      // two steps, in place
        Assert.Equal([2f, 3f, 4f], y);
        var ex = Assert.Throws<InvalidOperationException>(() => model.Run<float, float>(input, y));
        Assert.Contains("takes 2 input(s)", ex.Message);
    }

    [Fact]
    public void MisuseIsAOneLineException()
    {
        using var model = CompiledModel.Compile(Example("softmax_regression.ir"));
        Assert.Contains("input 'x' must be tensor<2x4xf32>, got tensor<3xf32>",
            Assert.Throws<ArgumentException>(() => model.Run([T.F32([3], 1, 2, 3)])).Message);
        Assert.Contains("input 'x' is f32[2,4] (8 elements of 4 bytes), got 7 elements of Single",
            Assert.Throws<ArgumentException>(() => model.Run<float, float>(new float[7], new float[6])).Message);
        Assert.Contains("got 8 elements of Double", Assert.Throws<ArgumentException>(() => model.Bind().BindInput(0, new double[8])).Message);
        Assert.Contains("no output named 'p'", Assert.Throws<ArgumentException>(() => model.Bind().BindOutput("p", new float[6])).Message);
        Assert.Contains("unbound: output probabilities", Assert.Throws<InvalidOperationException>(() => model.Bind().BindInput(0, new float[8]).Run()).Message);
        Assert.Contains("expected 1 input pointer(s), got 0", Assert.Throws<ArgumentException>(() => model.Run(ReadOnlySpan<nint>.Empty, new nint[1])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Threads = -1);
    }

    [Theory]
    [InlineData("nope.onnx", null, "nope.onnx: no such file")]
    [InlineData("softmax_regression.onnx", "fast", "unknown pipeline 'fast' (known: default, cuda, tasks, none)")]
    [InlineData("softmax_regression.onnx", "target", "unknown target 'z80'")]
    [InlineData("softmax_regression.onnx", "fetch", "no_such_output")]
    [InlineData("softmax_regression.ir", "feed", "apply to imported models")]
    public void CompileErrorsAreACompilationExceptionWithDiagnostics(string file, string? what, string expected)
    {
        var options = what switch
        {
            "fast" => new CompileOptions { Pipeline = "fast" },
            "target" => new CompileOptions { Target = "z80" },
            "fetch" => new CompileOptions { Fetches = ["no_such_output"] },
            "feed" => new CompileOptions { Feeds = [new FeedSpec("x")] },
            _ => new CompileOptions(),
        };
        var e = Assert.Throws<CompilationException>(() => CompiledModel.Compile(Example(file), options));
        Assert.NotEmpty(e.Diagnostics);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
