namespace GraphCompiler.Tests.Cli;

/// <summary><c>--pipeline cuda</c>, <c>--place</c>, <c>--compress-transfers</c> and <c>--micro-batches</c> on <c>gcc-cli ir</c> and <c>graph</c>.</summary>
public sealed class PlacementCliTests
{
    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", name);

    [Fact]
    public void CudaPipelineWithAConstraintAndCompression()
    {
        var (code, stdout, stderr) = CliTests.Run("ir", Example("softmax_regression.ir"), "--pipeline", "cuda", "--place", ".=gpu", "--compress-transfers", "f16");
        Assert.True(code == 0, stderr);
        Assert.Contains("send %arg0 {compress = f16, from = cpu, to = gpu}", stdout);
        Assert.Contains("device = gpu", stdout);
        (code, stdout, stderr) = CliTests.Run("graph", Example("softmax_regression.ir"), "--pipeline", "cuda", "--place", ".=gpu");
        Assert.True(code == 0, stderr);
        Assert.Contains("shape=cds", stdout);
        Assert.Contains("cluster_legend", stdout);
    }

    [Theory]
    [InlineData("--place", "(=gpu", "invalid regex")]
    [InlineData("--place", "x=tpu", "device 'tpu' is not cpu or gpu")]
    [InlineData("--compress-transfers", "f8", "transfer compression 'f8' is not one of none, f16, bf16")]
    public void BadPlacementOptionsAreOneLineAndExitCode2(string option, string value, string expected)
    {
        foreach (var command in new[] { "ir", "graph" })
        {
            var (code, stdout, stderr) = CliTests.Run(command, Example("softmax_regression.ir"), "--pipeline", "cuda", option, value);
            Assert.Equal(2, code);
            Assert.Equal("", stdout);
            Assert.Contains(expected, Assert.Single(stderr.Trim().Split('\n')));
        }
    }

    [Fact]
    public void ConflictingConstraintsAreOneLine()
    {
        // One op matched by constraints for both devices (the golden file conflicting_constraints.ir has a colocated pair).
        var (code, _, stderr) = CliTests.Run("ir", Example("softmax_regression.ir"), "--passes", "place-devices", "--place", "%2=gpu", "--place", "%2=cpu");
        Assert.Equal(2, code);
        Assert.Contains("conflicting placement constraints", Assert.Single(stderr.Trim().Split('\n')));
    }

    [Fact]
    public void MicroBatchesCopyTheLayersAndACountBelowOneIsOneLine()
    {
        var (code, stdout, stderr) = CliTests.Run("ir", Example("softmax_regression.ir"), "--micro-batches", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("concatenate", stdout);
        Assert.Equal(2, stdout.Split('\n').Count(l => l.Contains(" = slice %arg0", StringComparison.Ordinal)));
        (code, stdout, stderr) = CliTests.Run("ir", Example("softmax_regression.ir"), "--micro-batches", "0");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains("MicroBatches must be at least 1, got 0", Assert.Single(stderr.Trim().Split('\n')));
    }
}
