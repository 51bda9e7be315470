using System.Diagnostics;
using GraphCompiler.Tests.IR;

namespace GraphCompiler.Tests.Cli;

/// <summary>Runs the real gcc-cli executable, as a user would.</summary>
public sealed class CliTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "gcc-cli.dll");
        var psi = new ProcessStartInfo("dotnet", [dll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000))
        {
            p.Kill(true);
            Assert.Fail("gcc-cli did not finish within 60 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", name);

    private string Temp() => _temp.Directory("gcc-cli");

    [Fact]
    public void IrPrintsTheExample()
    {
        var (code, stdout, stderr) = Run("ir", Example("softmax_regression.ir"));
        Assert.True(code == 0, stderr);
        Assert.StartsWith("func @main(", stdout);
        Assert.Contains("dot_general", stdout);
    }

    [Fact]
    public void RunWritesNpyFilesWithTheInterpretersResults()
    {
        var dir = Temp();
        var x = Path.Combine(dir, "x.npy");
        Npy.WriteFile(x, T.F32([2, 4], 1, 0, 0, 0, 0, 0, 0, 1));
        var (code, _, stderr) = Run("run", Example("softmax_regression.ir"), "--input", $"x={x}", "--output-dir", Path.Combine(dir, "out"));
        Assert.True(code == 0, stderr);
        var probs = Npy.ReadFile(Path.Combine(dir, "out", "probabilities.npy")).Value!;
        Assert.Equal(new TensorType(ElementType.F32, 2, 3), probs.Type);
        for (int row = 0; row < 2; row++)
            Assert.Equal(1.0, probs.GetDouble(row * 3) + probs.GetDouble(row * 3 + 1) + probs.GetDouble(row * 3 + 2), 5);
    }

    [SkippableNumPyFact]
    public void NumPyAgreesWithTheExampleOutput()
    {
        var dir = Temp();
        var x = Path.Combine(dir, "x.npy");
        NumPy.Run($"import numpy as np; np.save('{x}', np.array([[0.5, -1, 2, 0], [1, 1, 1, 1]], dtype=np.float32))");
        var (code, _, stderr) = Run("run", Example("softmax_regression.ir"), "--input", $"x={x}", "-o", dir);
        Assert.True(code == 0, stderr);
        // The reference: the example's weights, in NumPy.
        var check = NumPy.Run(
            "import numpy as np\n" +
            $"x = np.load('{x}').astype(np.float64)\n" +
            "W = np.array([[0.5, -0.25, 1.0], [0.75, 0.5, -1.0], [-0.5, 0.25, 0.125], [1.0, -1.0, 0.0]])\n" +
            "b = np.array([0.1, 0.2, -0.3])\n" +
            "z = x @ W + b\n" +
            "e = np.exp(z - z.max(axis=1, keepdims=True))\n" +
            "p = e / e.sum(axis=1, keepdims=True)\n" +
            $"got = np.load('{dir}/probabilities.npy')\n" +
            "print(got.dtype, got.shape, np.allclose(got, p, rtol=1e-6, atol=1e-7))");
        Assert.Equal("float32 (2, 3) True", check.Trim());
    }

    [Fact]
    public void MalformedIrGivesOneLineWithPositionAndExitCode2()
    {
        var dir = Temp();
        var bad = Path.Combine(dir, "bad.ir");
        File.WriteAllText(bad, "func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {\n  %0 = add %x, %x : tensor<2xf32\n  return %0\n}\n");
        var (code, stdout, stderr) = Run("ir", bad);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var lines = stderr.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        Assert.Matches(@"^.*bad\.ir:2:\d+: error: .+$", lines[0]);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Theory]
    [InlineData("missing --input x=FILE.npy")]
    [InlineData("has no argument named 'y'")]
    [InlineData("is tensor<3xf32>, @main expects tensor<2x4xf32>")]
    [InlineData("not a .npy file")]
    public void BadRunInputsAreOneLineErrors(string expected)
    {
        var dir = Temp();
        var good = Path.Combine(dir, "x.npy");
        Npy.WriteFile(good, T.F32([2, 4], 0, 0, 0, 0, 0, 0, 0, 0));
        var wrong = Path.Combine(dir, "w.npy");
        Npy.WriteFile(wrong, T.F32([3], 1, 2, 3));
        var junk = Path.Combine(dir, "j.npy");
        File.WriteAllText(junk, "junk");
        string[] inputs = expected switch
        {
            "missing --input x=FILE.npy" => [],
            "has no argument named 'y'" => ["--input", $"x={good}", "--input", $"y={good}"],
            "not a .npy file" => ["--input", $"x={junk}"],
            _ => ["--input", $"x={wrong}"],
        };
        var outDir = Path.Combine(dir, "out");
        var (code, _, stderr) = Run(["run", Example("softmax_regression.ir"), .. inputs, "-o", outDir]);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.False(Directory.Exists(outDir), "nothing may be written on failure");
    }

    [Fact]
    public void UnknownOptionIsExitCode2()
    {
        var (code, _, stderr) = Run("ir", Example("softmax_regression.ir"), "--frobnicate");
        Assert.Equal(2, code);
        Assert.StartsWith("gcc-cli: error:", stderr);
    }

    [Theory]
    [InlineData("ir")]
    [InlineData("run")]
    public void EveryCommandHasHelp(string command)
    {
        var (code, stdout, _) = Run(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains("Usage:", stdout);
    }
}
