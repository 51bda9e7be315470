using GraphCompiler.Tests.Frontend;
using static GraphCompiler.Tests.Cli.CliTests;

namespace GraphCompiler.Tests.Cli;

/// <summary>gcc-cli's <c>bench</c>, and <c>run</c>/<c>ir</c>/<c>graph</c>/<c>check</c> on every model format and backend.</summary>
[Collection(GraphCompiler.Tests.Backends.Cuda.CudaDriverCollection.Name)] // its cuda case expects no driver, and GC_CUDA_DRIVER reaches child processes
public sealed class ModelCommandsCliTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", name);

    private string Temp() => _temp.Directory("gcc-cli");

    private static void AssertOneLineError(int code, string stdout, string stderr, string expected)
    {
        Assert.True(code == 2, $"exit code {code}; stdout: {stdout}; stderr: {stderr}");
        Assert.Contains(expected, stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("   at ", stderr);
        Assert.DoesNotContain("bench:", stdout);
    }

    [Fact]
    public void BenchPrintsCompileTimesAndEndsWithTheSummaryLine()
    {
        var (code, stdout, stderr) = Run("bench", Example("softmax_regression.onnx"), "--threads", "1", "--warmup", "1", "--iterations", "5");
        Assert.True(code == 0, stderr);
        var lines = stdout.TrimEnd('\n').Split('\n');
        Assert.Matches(@"^compile: load \d+\.\d ms, optimize \d+\.\d ms, codegen \d+\.\d ms, total \d+\.\d ms$", lines[0]);
        Assert.Contains("input x: f32[2,4] (random, seed 0)", lines);
        Assert.Contains("output probabilities: f32[2,3]", lines);
        Assert.Matches(@"^bench: median \d+\.\d{3} ms, min \d+\.\d{3} ms, max \d+\.\d{3} ms, 5 runs, 1 threads$", lines[^1]);
        var numbers = System.Text.RegularExpressions.Regex.Matches(lines[^1], @"\d+\.\d{3}").Select(m => double.Parse(m.Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(numbers[1] <= numbers[0] && numbers[0] <= numbers[2], lines[^1]);
    }

    [Fact]
    public void BenchTakesGivenInputsAndTensorFlowModels()
    {
        var (code, stdout, stderr) = Run("bench", Example("softmax_regression.pbtxt"), "--fetch", "probabilities:0",
            "--input", $"x={Example("softmax_regression.x.npy")}", "--iterations", "3", "--warmup", "0");
        Assert.True(code == 0, stderr);
        Assert.Contains("input x: f32[2,4]\n", stdout);
        Assert.Matches(@"bench: median \d+\.\d{3} ms, min \d+\.\d{3} ms, max \d+\.\d{3} ms, 3 runs, \d+ threads\n$", stdout);
    }

    [Theory]
    [InlineData("cuda", "the cuda target cannot run here: no NVIDIA driver on this machine (libcuda.so.1 cannot be loaded)")]
    [InlineData("missing model", "nope.onnx: no such file")]
    [InlineData("bad --input", "--input 'x' must be NAME=FILE.npy")]
    [InlineData("unknown input", "@main has no argument named 'y'")]
    [InlineData("missing .npy", "absent.npy")]
    [InlineData("wrong shape", "input 'x' is tensor<3xf32>, @main expects tensor<2x4xf32>")]
    [InlineData("junk .npy", "not a .npy file")]
    [InlineData("iterations", "--iterations must be >= 1, got 0")]
    [InlineData("threads", "--threads must be >= 0")]
    public void BadBenchInputIsOneLineAndExitCode2(string what, string expected)
    {
        var dir = Temp();
        var wrong = Path.Combine(dir, "w.npy");
        Npy.WriteFile(wrong, T.F32([3], 1, 2, 3));
        var junk = Path.Combine(dir, "j.npy");
        File.WriteAllText(junk, "junk");
        var model = Example("softmax_regression.onnx");
        string[] args = what switch
        {
            "cuda" => [model, "--backend", "cuda"],
            "missing model" => [Path.Combine(dir, "nope.onnx")],
            "bad --input" => [model, "--input", "x"],
            "unknown input" => [model, "--input", $"y={wrong}"],
            "missing .npy" => [model, "--input", $"x={Path.Combine(dir, "absent.npy")}"],
            "wrong shape" => [model, "--input", $"x={wrong}"],
            "junk .npy" => [model, "--input", $"x={junk}"],
            "iterations" => [model, "--iterations", "0"],
            _ => [model, "--threads", "-1"],
        };
        var (code, stdout, stderr) = Run(["bench", .. args]);
        AssertOneLineError(code, stdout, stderr, expected);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("interpreter")]
    public void RunTakesOnnxOnEitherBackend(string backend)
    {
        var dir = Temp();
        var (code, _, stderr) = Run("run", Example("softmax_regression.onnx"), "--input", $"x={Example("softmax_regression.x.npy")}", "-o", dir, "--backend", backend);
        Assert.True(code == 0, stderr);
        var got = Npy.ReadFile(Path.Combine(dir, "probabilities.npy")).Unwrap();
        var module = ModelLoader.Load(Example("softmax_regression.ir"), new GraphCompiler.Frontend.ImportOptions()).Unwrap();
        var expected = new Interpreter(module).Run(null, [Npy.ReadFile(Example("softmax_regression.x.npy")).Unwrap()]).Unwrap().Results[0];
        Assert.Equal(expected.Type, got.Type);
        for (int i = 0; i < expected.ElementCount; i++) Assert.Equal(expected.GetDouble(i), got.GetDouble(i), 5);
    }

    [SharedDataFact]
    public void RunTakesASavedModelDirectory()
    {
        var dir = Temp();
        var model = SharedData.Tf("cases/tf_half_plus_two_2");
        var (code, _, stderr) = Run("run", model, "--feed", "x:f32[4,1]", "--input", $"x={Path.Combine(model, "input_0.npy")}", "-o", dir);
        Assert.True(code == 0, stderr);
        Assert.Equal(Npy.ReadFile(Path.Combine(model, "expected_0.npy")).Unwrap(), Npy.ReadFile(Path.Combine(dir, "y.npy")).Unwrap());
    }

    [Fact]
    public void IrAndGraphTakeImportedModels()
    {
        var (code, stdout, stderr) = Run("ir", Example("softmax_regression.pbtxt"), "--fetch", "probabilities:0");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("func @main(", stdout);
        (code, stdout, stderr) = Run("graph", Example("small_cnn.onnx"));
        Assert.True(code == 0, stderr);
        Assert.StartsWith("digraph", stdout);
        (code, stdout, stderr) = Run("ir", Example("softmax_regression.ir"), "--feed", "x");
        AssertOneLineError(code, stdout, stderr, "feeds, fetches and constant inputs apply to imported models, not IR files");
    }

    [Fact]
    public void CpuIsTheDefaultBackendOfRunAndCheck()
    {
        foreach (var command in new[] { "run", "check" })
        {
            var (code, stdout, _) = Run(command, "--help");
            Assert.Equal(0, code);
            Assert.Matches(@"--backend <cpu\|cuda\|interpreter>.*\[default: cpu\]", stdout);
        }
    }

    [Fact]
    public void CheckOnCudaSaysSkipAndWhyWithoutADriver()
    {
        if (System.Runtime.InteropServices.NativeLibrary.TryLoad("libcuda.so.1", out var driver))
        {
            System.Runtime.InteropServices.NativeLibrary.Free(driver);
            return; // a GPU machine runs the cases instead (tools/gpu-check)
        }
        var cases = Path.Combine(GoldenFile.RepoRoot(), "..", "shared", "conformance", "onnx", "node");
        if (!Directory.Exists(cases)) return;
        var (code, stdout, stderr) = Run("check", cases, "--backend", "cuda", "--filter", "^test_(add|matmul_2d)$");
        Assert.True(code == 0, stderr);
        Assert.Equal(
            "SKIP test_add: cuda: no NVIDIA driver on this machine (libcuda.so.1 cannot be loaded)\n" +
            "SKIP test_matmul_2d: cuda: no NVIDIA driver on this machine (libcuda.so.1 cannot be loaded)\n" +
            "0 passed, 0 failed, 2 skipped\n", stdout);
    }

    [Theory]
    [InlineData("--name", "9lives", "error: library name '9lives' must be a C identifier")]
    [InlineData("--namespace", "A.1b", "error: namespace 'A.1b' is not a C# namespace name")]
    [InlineData("--gpu-arch", "sm_90", "error: a GPU architecture ('sm_90') goes with the cuda target, not 'host'")]
    public void CompileOptionsAreCheckedBeforeAnythingIsLoaded(string option, string value, string expected)
    {
        var dir = Temp();
        // The model does not exist: the option is reported first, so nothing was loaded.
        var (code, stdout, stderr) = Run("compile", Path.Combine(dir, "absent.onnx"), "-o", Path.Combine(dir, "out"), option, value);
        AssertOneLineError(code, stdout, stderr, expected);
        Assert.False(Directory.Exists(Path.Combine(dir, "out")));
    }
}
