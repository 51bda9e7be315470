namespace GraphCompiler.Tests.Distributed;

/// <summary>
/// Synchronous data parallelism for real: <c>mpirun -np N gcc-cli train --data-parallel</c> on the digits MLP with a
/// per-process batch of 32 / N against one process training the same MLP with batch 32 on the same global batches
/// (same seed, same shuffles; process r takes slice r of each). The gradients and the loss are averaged with
/// <c>all_reduce {kind = mean}</c>, so after an epoch (44 steps of Adam) every variable must equal the single
/// process's within 1e-5 relative (the only difference is the order of the floating-point sums); with the gradients
/// sent as f16, within the rounding drift stated at <see cref="F16Tolerance"/>.
/// </summary>
public sealed class DataParallelTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private const double Tolerance = 1e-5;

    /// <summary>
    /// With f16 gradients on the wire the parameters drift from the exact run by rounding: measured 7.4e-4 of each
    /// tensor's largest value after the epoch (optimizer moments up to 3e-3); the bound leaves headroom for other CPUs.
    /// </summary>
    private const double F16Tolerance = 2e-3;

    [MpirunTheory]
    [InlineData(2, "none", "")]
    [InlineData(4, "none", "")]
    [InlineData(2, "f16", "")]
    [InlineData(2, "none", "--bucket-cap-mb 0.001")] // 1 KiB buckets: the loss with out/b, out/w, hidden/b, hidden/w — four overlapped all-reduces per step
    [InlineData(2, "none", "--no-overlap")] // blocking all-reduces
    public void NProcessesOnSlicesTrainLikeOneProcessOnTheWholeBatch(int n, string compression, string extra)
    {
        var dir = _temp.Directory("dp");
        var model = Path.Combine(GoldenFile.RepoRoot(), "examples", "training", "digits_mlp.ir");
        var sliced = Path.Combine(dir, "digits_mlp.ir"); // the same model (same weights) with the per-process batch
        File.WriteAllText(sliced, File.ReadAllText(model).Replace("tensor<32x", $"tensor<{32 / n}x", StringComparison.Ordinal));
        string[] common = ["--data", "digits", "--epochs", "1", "--optimizer", "adam", "--learning-rate", "0.01", "--threads", "1"];

        var (code, output) = MpiProcesses.Launch(MpiProcesses.Gcc(["train", model, .. common, "-o", Path.Combine(dir, "single")]));
        Assert.True(code == 0, $"single-process training failed ({code}):\n{output}");
        (code, output) = MpiProcesses.Launch(MpiProcesses.Mpirun(n,
            ["train", sliced, .. common, "--data-parallel", "--compress-gradients", compression, .. extra.Split(' ', StringSplitOptions.RemoveEmptyEntries),
                "-o", Path.Combine(dir, "parallel")]));
        Assert.True(code == 0, $"mpirun -np {n} train --data-parallel failed ({code}):\n{output}");
        Assert.Contains($"batches of 32 over {n} processes ({32 / n} each, data parallel)", output);

        var single = Npz.ReadFile(Path.Combine(dir, "single", "digits_mlp.variables.npz")).Unwrap();
        var parallel = Npz.ReadFile(Path.Combine(dir, "parallel", "digits_mlp.variables.npz")).Unwrap();
        Assert.Equal(single.Keys.Order(), parallel.Keys.Order());
        Assert.Equal(44, parallel["step"].GetInt64(0));
        foreach (var (name, expected) in single)
        {
            double tolerance = compression == "none" ? Tolerance : name.Contains("/adam/", StringComparison.Ordinal) ? 5 * F16Tolerance : F16Tolerance;
            var actual = parallel[name];
            Assert.Equal(expected.Type, actual.Type);
            double scale = 0, error = 0;
            for (long k = 0; k < expected.ElementCount; k++)
            {
                scale = Math.Max(scale, Math.Abs(expected.GetDouble(k)));
                error = Math.Max(error, Math.Abs(expected.GetDouble(k) - actual.GetDouble(k)));
            }
            Assert.True(error <= tolerance * Math.Max(scale, 1e-30), $"{name}: max difference {error} against max |value| {scale} (n = {n}, {compression})");
        }
    }
}
