using GraphCompiler.Frontend.TensorFlow.Checkpoints;
using GraphCompiler.Training;

namespace GraphCompiler.Tests.Training;

/// <summary>
/// <see cref="CheckpointManager"/> on its own: TensorFlow's layout (<c>ckpt-STEP.*</c> and the <c>checkpoint</c>
/// state file), keeping the newest K, and which checkpoint a restart trusts when the newest is damaged, half
/// written or missing a file — the previous complete one, or one clear failure naming the files when there is none.
/// </summary>
public sealed class CheckpointManagerTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static IReadOnlyDictionary<string, Tensor> Variables(float value) => new Dictionary<string, Tensor>
    {
        ["dense/w"] = Tensor.FromDoubles(new TensorType(ElementType.F32, 2, 3), [value, 1, 2, 3, 4, 5]),
        ["step"] = Tensor.FromInt64s(TensorType.Scalar(ElementType.I64), [(long)value]),
    };

    [Fact]
    public void SavesKeepTheNewestKInTensorFlowsLayout()
    {
        var dir = Path.Combine(_temp.Directory("ckpt"), "run");
        var manager = new CheckpointManager(dir, keep: 2);
        foreach (var step in new[] { 10, 20, 30 }) manager.Save(step, Variables(step));

        Assert.Equal([20L, 30L], manager.Steps());
        Assert.Equal(["checkpoint", "ckpt-20.data-00000-of-00001", "ckpt-20.index", "ckpt-30.data-00000-of-00001", "ckpt-30.index"],
            Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal("model_checkpoint_path: \"ckpt-30\"\nall_model_checkpoint_paths: \"ckpt-20\"\nall_model_checkpoint_paths: \"ckpt-30\"\n",
            File.ReadAllText(Path.Combine(dir, "checkpoint")));
        // A TensorFlow bundle any reader opens.
        var read = TensorBundle.Open(Path.Combine(dir, "ckpt-30")).Unwrap().ReadAll().Unwrap();
        Assert.Equal(30, read.Tensors["step"].GetInt64(0));

        var latest = manager.Latest().Unwrap();
        Assert.Equal(30, latest.Step);
        Assert.Equal(Path.Combine(dir, "ckpt-30"), latest.Prefix);
        Assert.Equal(30.0, latest.Tensors["dense/w"].GetDouble(0));
    }

    [Theory]
    [InlineData("truncated data")]
    [InlineData("missing data")]
    [InlineData("flipped byte")]
    public void ADamagedNewestCheckpointFallsBackToThePreviousOne(string damage)
    {
        var dir = _temp.Directory("ckpt");
        var manager = new CheckpointManager(dir, keep: 2);
        manager.Save(10, Variables(10));
        manager.Save(20, Variables(20));
        var data = Path.Combine(dir, "ckpt-20.data-00000-of-00001");
        switch (damage)
        {
            case "truncated data":
                using (var f = new FileStream(data, FileMode.Open)) f.SetLength(f.Length - 1);
                break;
            case "missing data":
                File.Delete(data);
                break;
            default:
                var bytes = File.ReadAllBytes(data);
                bytes[0] ^= 1;
                File.WriteAllBytes(data, bytes);
                break;
        }

        var skipped = new List<string>();
        var latest = manager.Latest(skipped.Add).Unwrap();
        Assert.Equal(10, latest.Step);
        Assert.Equal(10.0, latest.Tensors["dense/w"].GetDouble(0));
        var line = Assert.Single(skipped);
        Assert.StartsWith($"skipping checkpoint {Path.Combine(dir, "ckpt-20")}: ", line);
        Assert.Contains(data, line);
    }

    [Fact]
    public void LeftoversOfAKilledWriterAreIgnoredAndThenRemoved()
    {
        var dir = _temp.Directory("ckpt");
        var manager = new CheckpointManager(dir, keep: 2);
        manager.Save(10, Variables(10));
        // Killed while writing checkpoint 20: both temporaries, no index yet, and the state file still names 10.
        File.WriteAllText(Path.Combine(dir, "ckpt-20.data-00000-of-00001.tmp"), "partial");
        File.WriteAllText(Path.Combine(dir, "ckpt-20.index.tmp"), "partial");
        Assert.Equal([10L], manager.Steps());
        Assert.Equal(10, manager.Latest().Unwrap().Step);

        // Killed after renaming checkpoint 30's index, before the state file: complete, so it counts.
        manager.Save(30, Variables(30));
        File.WriteAllText(Path.Combine(dir, "checkpoint"), "model_checkpoint_path: \"ckpt-10\"\nall_model_checkpoint_paths: \"ckpt-10\"\n");
        Assert.Equal(30, manager.Latest().Unwrap().Step);

        manager.Save(40, Variables(40));
        Assert.Equal([30L, 40L], manager.Steps());
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
        Assert.False(File.Exists(Path.Combine(dir, "ckpt-10.index")));
    }

    [Fact]
    public void WithNoCompleteCheckpointTheFailureNamesEachFileTried()
    {
        var dir = _temp.Directory("ckpt");
        var none = new CheckpointManager(dir, keep: 2).Latest();
        Assert.False(none.Ok);
        Assert.Equal($"no checkpoint (ckpt-STEP.index) in {dir} to resume from", Assert.Single(none.Diagnostics).Message);

        var manager = new CheckpointManager(dir, keep: 2);
        manager.Save(10, Variables(10));
        File.Delete(Path.Combine(dir, "ckpt-10.data-00000-of-00001"));
        var broken = manager.Latest();
        Assert.False(broken.Ok);
        var message = Assert.Single(broken.Diagnostics).Message;
        Assert.StartsWith($"checkpoint {Path.Combine(dir, "ckpt-10")} is incomplete or damaged: ", message);
        Assert.Contains("ckpt-10.data-00000-of-00001 does not exist", message);
    }

    [Fact]
    public void ACheckpointWriteLeavesNoTemporaries()
    {
        var dir = _temp.Directory("ckpt");
        TensorBundleWriter.Write(Path.Combine(dir, "v"), Variables(1));
        Assert.Equal(["v.data-00000-of-00001", "v.index"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }
}
