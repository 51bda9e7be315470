using System.Diagnostics;
using System.Text.RegularExpressions;
using GraphCompiler.Training;

namespace GraphCompiler.Tests.Distributed;

/// <summary>
/// Fault tolerance for real (docs/distributed.md, "Checkpoints and restarts"): <c>gcc-cli train --checkpoint-every</c>
/// is killed (SIGKILL, no warning) once it has checkpointed past step <see cref="KillAfterStep"/>, alone or as one
/// rank of <c>mpirun -np 2 --data-parallel</c>; the job must stop (mpirun saying which rank died), and the same
/// command with <c>--resume-from</c> must end with variables bit-for-bit those of an uninterrupted run with the same
/// seed — the step is deterministic, so any difference means a batch was skipped, repeated or reordered, or a
/// variable (optimizer state, step count) was not restored. Plus the atomicity rules: a damaged newest
/// checkpoint is passed over (with a warning naming the file) for the previous complete one.
/// </summary>
public sealed class FaultToleranceTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Every wait is bounded: a run that hangs (a rank waiting forever on a dead peer) fails the test.</summary>
    private const int TimeoutMs = 180_000;

    private const int PollMs = 5;
    private const int CheckpointEvery = 10;

    /// <summary>Step 6 of epoch 2 (44 steps an epoch): the resumed run must replay epoch 1's shuffle and start mid-epoch.</summary>
    private const int KillAfterStep = 50;

    /// <summary>
    /// 352 steps, about a second of training after <see cref="KillAfterStep"/> at full speed: the kill lands well
    /// before the end even when the test polls late (the test checks that it did).
    /// </summary>
    private const int Epochs = 8;

    private const int StepsPerEpoch = 44;
    private const int Seed = 3;

    private static string Mlp => Path.Combine(GoldenFile.RepoRoot(), "examples", "training", "digits_mlp.ir");

    private static string[] Training(int epochs, string checkpoints, int seed = Seed) =>
        ["--data", "digits", "--epochs", epochs.ToString(), "--seed", seed.ToString(), "--optimizer", "adam", "--learning-rate", "0.01",
         "--threads", "1", "--checkpoint-every", CheckpointEvery.ToString(), "--checkpoint-dir", checkpoints];

    [Fact]
    public void AKilledRunResumedFromItsCheckpointEndsBitForBitLikeAnUninterruptedOne()
    {
        var dir = _temp.Directory("ft-single");
        var (code, output) = MpiProcesses.Launch(MpiProcesses.Gcc(["train", Mlp, .. Training(Epochs, Path.Combine(dir, "ck-full")), "-o", Path.Combine(dir, "full")]));
        Assert.True(code == 0, $"uninterrupted training failed ({code}):\n{output}");

        var checkpoints = Path.Combine(dir, "ck");
        string[] run = ["train", Mlp, .. Training(Epochs, checkpoints), "-o", Path.Combine(dir, "resumed")];
        (code, output) = KillAfterCheckpoint(MpiProcesses.Gcc(run), checkpoints, p => p);
        Assert.True(code != 0, $"the killed run exited with 0:\n{output}");
        Assert.Contains($"if the run stops, rerun it with --resume-from {checkpoints}", output);
        AssertStoppedMidRun(dir, checkpoints, output);

        (code, output) = MpiProcesses.Launch(MpiProcesses.Gcc([.. run, "--resume-from", checkpoints]));
        Assert.True(code == 0, $"the resumed run failed ({code}):\n{output}");
        Assert.Matches(@"resuming from ckpt-\d+ in .*: epoch \d+, step \d+ of 44", output);
        AssertSameVariables(Path.Combine(dir, "full"), Path.Combine(dir, "resumed"), Epochs * StepsPerEpoch);
    }

    [MpirunFact]
    public void ADataParallelJobStopsWhenOneRankIsKilledAndResumesBitForBit()
    {
        const int ranks = 2;
        var dir = _temp.Directory("ft-mpi");
        var sliced = Path.Combine(dir, "digits_mlp.ir"); // the same MLP with each rank's batch of 32 / 2
        File.WriteAllText(sliced, File.ReadAllText(Mlp).Replace("tensor<32x", $"tensor<{32 / ranks}x", StringComparison.Ordinal));
        var (code, output) = MpiProcesses.Launch(MpiProcesses.Mpirun(ranks, ["train", sliced, .. Training(Epochs, Path.Combine(dir, "ck-full")), "--data-parallel", "-o", Path.Combine(dir, "full")]));
        Assert.True(code == 0, $"uninterrupted mpirun -np {ranks} training failed ({code}):\n{output}");

        var checkpoints = Path.Combine(dir, "ck");
        string[] run = ["train", sliced, .. Training(Epochs, checkpoints), "--data-parallel", "-o", Path.Combine(dir, "resumed")];
        var clock = Stopwatch.StartNew();
        (code, output) = KillAfterCheckpoint(MpiProcesses.Mpirun(ranks, run), checkpoints, _ => RankProcess(rank: 1, checkpoints));
        Assert.True(code != 0, $"mpirun exited with 0 after rank 1 was killed:\n{output}");
        Assert.Matches(@"process rank 1 .* exited on signal 9", output.ReplaceLineEndings(" "));
        Assert.True(clock.ElapsedMilliseconds < TimeoutMs, $"the job took {clock.ElapsedMilliseconds} ms to stop");
        AssertStoppedMidRun(dir, checkpoints, output);

        (code, output) = MpiProcesses.Launch(MpiProcesses.Mpirun(ranks, [.. run, "--resume-from", checkpoints]));
        Assert.True(code == 0, $"the resumed mpirun -np {ranks} failed ({code}):\n{output}");
        Assert.Matches(@"resuming from ckpt-\d+ in .*: epoch \d+, step \d+ of 44", output);
        AssertSameVariables(Path.Combine(dir, "full"), Path.Combine(dir, "resumed"), Epochs * StepsPerEpoch);
    }

    [Fact]
    public void ADamagedNewestCheckpointIsPassedOverForThePreviousCompleteOne()
    {
        const int epochs = 2; // 88 steps: checkpoints 80 and 88 are kept
        var dir = _temp.Directory("ft-damaged");
        var checkpoints = Path.Combine(dir, "ck");
        string[] run = ["train", Mlp, .. Training(epochs, checkpoints)];
        var (code, output) = MpiProcesses.Launch(MpiProcesses.Gcc([.. run, "-o", Path.Combine(dir, "full")]));
        Assert.True(code == 0, output);
        Assert.Equal([80L, 88L], new CheckpointManager(checkpoints, 2).Steps());

        // The newest checkpoint's data cut short (a disk that filled up), and a killed writer's leftovers of a later one.
        var data = Path.Combine(checkpoints, "ckpt-88.data-00000-of-00001");
        using (var f = new FileStream(data, FileMode.Open)) f.SetLength(f.Length / 2);
        File.WriteAllText(Path.Combine(checkpoints, "ckpt-90.index.tmp"), "half");
        File.WriteAllText(Path.Combine(checkpoints, "ckpt-90.data-00000-of-00001.tmp"), "half");

        (code, output) = MpiProcesses.Launch(MpiProcesses.Gcc([.. run, "--resume-from", checkpoints, "-o", Path.Combine(dir, "resumed")]));
        Assert.True(code == 0, output);
        Assert.Contains($"warning: skipping checkpoint {Path.Combine(checkpoints, "ckpt-88")}:", output);
        Assert.Contains(data, output);
        Assert.Contains("resuming from ckpt-80", output);
        Assert.Contains("epoch 2, step 37 of 44", output);
        AssertSameVariables(Path.Combine(dir, "full"), Path.Combine(dir, "resumed"), epochs * StepsPerEpoch);
        // The resumed run rewrote checkpoint 88 whole and removed the leftovers.
        Assert.Equal([80L, 88L], new CheckpointManager(checkpoints, 2).Steps());
        Assert.Empty(Directory.GetFiles(checkpoints, "*.tmp"));
    }

    [Theory]
    [InlineData("--checkpoint-every 10", "error: --checkpoint-every needs --checkpoint-dir DIR")]
    [InlineData("--checkpoint-dir TMP", "error: --checkpoint-dir needs --checkpoint-every N (N > 0)")]
    [InlineData("--checkpoint-every -1 --checkpoint-dir TMP", "error: --checkpoint-every must be >= 0, got -1")]
    [InlineData("--checkpoint-every 10 --checkpoint-dir TMP --keep-checkpoints 0", "error: --keep-checkpoints must be >= 1, got 0")]
    [InlineData("--resume-from TMP --resume TMP/x.npz", "error: give --resume (variables only) or --resume-from (a stopped run), not both")]
    [InlineData("--resume-from TMP", "error: --resume-from: no checkpoint (ckpt-STEP.index) in TMP to resume from")]
    public void BadCheckpointOptionsAreOneLine(string options, string expected)
    {
        var dir = _temp.Directory("ft-bad");
        var (code, _, stderr) = Cli.CliTests.Run(["train", Mlp, "--backend", "interpreter", .. options.Replace("TMP", dir).Split(' ')]);
        Assert.Equal(2, code);
        Assert.Equal(expected.Replace("TMP", dir), stderr.Trim());
    }

    [Fact]
    public void ResumingWithAnotherSeedIsRefusedAndAFinishedRunTrainsNothingMore()
    {
        var dir = _temp.Directory("ft-mismatch");
        var checkpoints = Path.Combine(dir, "ck");
        var (code, _, stderr) = Cli.CliTests.Run(["train", Mlp, "--backend", "interpreter", .. Training(1, checkpoints)]);
        Assert.True(code == 0, stderr);
        var newest = Path.Combine(checkpoints, $"ckpt-{StepsPerEpoch}");

        (code, _, stderr) = Cli.CliTests.Run(["train", Mlp, "--backend", "interpreter", .. Training(1, checkpoints, seed: 4), "--resume-from", checkpoints]);
        Assert.Equal(2, code);
        Assert.Equal($"error: --resume-from {checkpoints}: cannot continue {newest}: it was written with --seed {Seed}, this run has --seed 4", stderr.Trim());

        // A checkpoint at the last step: resuming trains nothing more and writes the same variables.
        (code, var stdout, stderr) = Cli.CliTests.Run(["train", Mlp, "--backend", "interpreter", .. Training(1, checkpoints), "--resume-from", checkpoints, "-o", dir]);
        Assert.True(code == 0, stderr);
        Assert.Contains($"resuming from ckpt-{StepsPerEpoch} in {checkpoints}: training was complete ({StepsPerEpoch} steps)", stdout);
        Assert.Equal(StepsPerEpoch, Npz.ReadFile(Path.Combine(dir, "digits_mlp.variables.npz")).Unwrap()["step"].GetInt64(0));
    }

    /// <summary>
    /// Starts <paramref name="psi"/>, waits (bounded) until it has written a checkpoint of step ≥
    /// <see cref="KillAfterStep"/>, SIGKILLs the process <paramref name="victim"/> picks and waits (bounded) for
    /// the whole run to end; its exit code and output.
    /// </summary>
    private static (int Code, string Output) KillAfterCheckpoint(ProcessStartInfo psi, string checkpoints, Func<Process, Process> victim)
    {
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        try
        {
            while (NewestCheckpoint(checkpoints) < KillAfterStep)
            {
                if (p.HasExited) Assert.Fail($"{psi.FileName} ended before writing checkpoint {KillAfterStep}:\n{stdout.Result}{stderr.Result}");
                Assert.True(clock.ElapsedMilliseconds < TimeoutMs, $"no checkpoint of step {KillAfterStep} within {TimeoutMs / 1000} s");
                Thread.Sleep(PollMs);
            }
            var target = victim(p);
            target.Kill(); // SIGKILL: the process gets no chance to tidy up
            if (!ReferenceEquals(target, p)) target.Dispose();
            Assert.True(p.WaitForExit(TimeoutMs), $"{psi.FileName} did not stop within {TimeoutMs / 1000} s of the kill (a rank waiting for a dead peer?)");
            p.WaitForExit(); // and its output is read to the end
            return (p.ExitCode, stdout.Result + stderr.Result);
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
    }

    /// <summary>
    /// The gcc-cli process mpirun started as <paramref name="rank"/> of the run writing to <paramref name="checkpoints"/>:
    /// its command line names that (unique) directory and its environment holds Open MPI's rank variable.
    /// </summary>
    private static Process RankProcess(int rank, string checkpoints)
    {
        var marker = $"{GraphCompiler.Distributed.MpiWorld.RankVariable}={rank}";
        var seen = new List<string>();
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out var pid)) continue;
            try
            {
                var cmdline = ReadProcFile(Path.Combine(proc, "cmdline"));
                if (!cmdline.Contains(checkpoints, StringComparison.Ordinal) || !cmdline.Contains("gcc-cli.dll", StringComparison.Ordinal)) continue;
                var environment = ReadProcFile(Path.Combine(proc, "environ")).Split('\0');
                if (environment.Contains(marker)) return Process.GetProcessById(pid);
                seen.Add($"{pid} ({string.Join(", ", environment.Where(v => v.StartsWith(GraphCompiler.Distributed.MpiWorld.RankVariable, StringComparison.Ordinal)))})");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                // gone meanwhile, or not ours to read
            }
        }
        Assert.Fail($"no process with {marker} running for {checkpoints}; its processes: {string.Join("; ", seen)}");
        return null!;
    }

    /// <summary>A /proc file: ReadAllBytes reads to the end of files that report no length, as /proc's do.</summary>
    private static string ReadProcFile(string path) => System.Text.Encoding.UTF8.GetString(File.ReadAllBytes(path));

    /// <summary>The newest step with a <c>ckpt-STEP.index</c> in the directory (−1 for none), read independently of <see cref="CheckpointManager"/>.</summary>
    private static long NewestCheckpoint(string checkpoints) =>
        !Directory.Exists(checkpoints) ? -1
        : Directory.EnumerateFiles(checkpoints, "ckpt-*.index").Select(f => Regex.Match(Path.GetFileName(f), @"^ckpt-(\d+)\.index$"))
            .Where(m => m.Success).Select(m => long.Parse(m.Groups[1].Value)).DefaultIfEmpty(-1).Max();

    /// <summary>The kill came mid-run: no final outputs, and the newest checkpoint is short of the last step.</summary>
    private static void AssertStoppedMidRun(string dir, string checkpoints, string output)
    {
        Assert.False(File.Exists(Path.Combine(dir, "resumed", "digits_mlp.variables.npz")), $"the killed run got to the end:\n{output}");
        long newest = NewestCheckpoint(checkpoints);
        Assert.InRange(newest, KillAfterStep, Epochs * StepsPerEpoch - 1);
    }

    /// <summary>The two runs' variables (parameters, Adam's moments, the step) hold the same bits.</summary>
    private static void AssertSameVariables(string expectedDir, string actualDir, long steps)
    {
        var expected = Npz.ReadFile(Path.Combine(expectedDir, "digits_mlp.variables.npz")).Unwrap();
        var actual = Npz.ReadFile(Path.Combine(actualDir, "digits_mlp.variables.npz")).Unwrap();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(steps, actual["step"].GetInt64(0));
        Assert.True(expected.Count > 2, "the run has optimizer state to restore");
        foreach (var (name, e) in expected)
        {
            Assert.Equal(e.Type, actual[name].Type);
            Assert.True(e.Bytes.SequenceEqual(actual[name].Bytes), $"{name} differs from the uninterrupted run's");
        }
    }
}
