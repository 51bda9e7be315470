using System.Text.RegularExpressions;

namespace GraphCompiler.Tests.Cli;

/// <summary>
/// <c>gcc-cli train</c> and <c>gcc-cli compile --train</c> as a user runs them on the digits examples: the stated
/// accuracies on held-back digits (softmax regression ≥ 90%, CNN ≥ 97%), the files written, and one clear
/// line with exit code 2 for each bad option.
/// </summary>
public sealed class TrainCliTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", "training", name);

    private static double Accuracy(string stdout)
    {
        var m = Regex.Match(stdout, @"test accuracy: (\d+)/(\d+) = ");
        Assert.True(m.Success, stdout);
        return double.Parse(m.Groups[1].Value) / double.Parse(m.Groups[2].Value);
    }

    [Theory]
    [InlineData("digits_softmax.ir", "10", 0.90)]
    [InlineData("digits_cnn.ir", "15", 0.97)]
    public void TrainedModelsReachTheirAccuracyOnHeldBackDigits(string model, string epochs, double floor)
    {
        var dir = _temp.Directory("gcc-train");
        var (code, stdout, stderr) = CliTests.Run("train", Example(model), "--data", "digits", "--epochs", epochs,
            "--optimizer", "adam", "--learning-rate", "0.01", "-o", dir);
        Assert.True(code == 0, stderr);
        Assert.True(Accuracy(stdout) >= floor, stdout);
        var stem = Path.GetFileNameWithoutExtension(model);
        Assert.Contains("<polyline", File.ReadAllText(Path.Combine(dir, "loss.svg")));
        Assert.True(File.Exists(Path.Combine(dir, $"{stem}.variables.npz")));

        // The trained model is an ordinary inference model: it loads and runs again.
        var (runCode, runOut, runErr) = CliTests.Run("ir", Path.Combine(dir, $"{stem}.trained.ir"), "--memory-report");
        Assert.True(runCode == 0, runErr);
        Assert.Contains("peak", runOut);
        // Not a terminal: one line per epoch on stderr, not a redrawn bar.
        Assert.Equal(int.Parse(epochs), Regex.Matches(stderr, "^epoch \\d+/\\d+: mean loss", RegexOptions.Multiline).Count);
    }

    [Fact]
    public void CompileTrainWritesTheStepLibraryAndItsInitialVariables()
    {
        var dir = _temp.Directory("gcc-train-aot");
        var (code, stdout, stderr) = CliTests.Run("compile", Example("digits_mlp.ir"), "--train", "--loss", "softmax-cross-entropy:labels",
            "--optimizer", "sgd", "--learning-rate", "0.1", "-o", dir, "--name", "digits");
        Assert.True(code == 0, stderr);
        var header = File.ReadAllText(Path.Combine(dir, "digits.h"));
        Assert.Contains("labels", header);
        Assert.Contains("hidden/w", header.Replace("hidden_w", "hidden/w"));
        Assert.Contains("also written to argument", header);
        Assert.True(File.Exists(Path.Combine(dir, "libdigits.so")));
        var variables = Npz.ReadFile(Path.Combine(dir, "digits.variables.npz")).Unwrap();
        Assert.Equal(["hidden/b", "hidden/w", "out/b", "out/w", "step"], variables.Keys.Order(StringComparer.Ordinal));
        Assert.Contains("digits.variables.npz", stdout);
    }

    [Theory]
    [InlineData("--optimizer", "adamw", "--optimizer 'adamw' is not one of")]
    [InlineData("--learning-rate", "-1", "--learning-rate must be a positive number, got -1")]
    [InlineData("--loss", "hinge:y", "--loss: loss 'hinge:y' is neither an output name nor softmax-cross-entropy:LABELS nor cross-entropy:LABELS")]
    [InlineData("--trainable", "(", "--trainable '(' is an invalid regex")]
    [InlineData("--epochs", "0", "--epochs must be >= 1, got 0")]
    [InlineData("--data", "/nonexistent/d.npz", "/nonexistent/d.npz")]
    [InlineData("--resume", "/nonexistent/run", "--resume /nonexistent/run: neither an .npz file nor a TensorFlow checkpoint (no /nonexistent/run.index)")]
    public void BadTrainingOptionsAreOneLine(string option, string value, string expected)
    {
        var (code, _, stderr) = CliTests.Run("train", Example("digits_softmax.ir"), option, value);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void CompileTrainWithoutALossSaysWhatItNeeds()
    {
        var (code, _, stderr) = CliTests.Run("compile", Example("digits_mlp.ir"), "--train", "-o", _temp.Directory("gcc-train-bad"));
        Assert.Equal(2, code);
        Assert.Contains("--train needs --loss OUTPUT", stderr);
        var (code2, _, stderr2) = CliTests.Run("compile", Example("digits_mlp.ir"), "--loss", "x", "-o", _temp.Directory("gcc-train-bad"));
        Assert.Equal(2, code2);
        Assert.Contains("--loss and the other training options need --train", stderr2);
    }
}
