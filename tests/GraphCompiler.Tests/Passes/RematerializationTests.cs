using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Training;
using GraphCompiler.Passes;
using Xunit.Abstractions;

namespace GraphCompiler.Tests.Passes;

/// <summary>
/// <c>remat</c> on the digits training steps (examples/training): a budget below the unconstrained arena lowers the
/// arena of the step's gradient function, and the step computes the same values on the interpreter. The golden files
/// (tests/ir/remat) show the rewrite itself. <see cref="Figures"/> prints the table of docs/training.md.
/// </summary>
public sealed class RematerializationTests(ITestOutputHelper output)
{
    private static TrainingModule Step(string model) => TrainingStep.Build(
        IrTest.Parse(File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), "examples", "training", model))),
        new TrainingOptions { Loss = LossSpec.Parse("softmax-cross-entropy:labels", out _)!, Optimizer = Optimizer.Create("sgd", 0.1)! });

    /// <summary>Optimised by the driver for the host CPU, as <c>gcc-cli compile --memory-budget</c> does.</summary>
    private static Module Compile(Module m, long? budget) =>
        Compiler.Create(new CompileOptions { MemoryBudget = budget, CheckEachPass = true }).Unwrap().Optimize(m).Unwrap();

    /// <summary>The largest function arena of the optimised module (the gradient function's: forward and backward ops), as the CPU plans it.</summary>
    private static FunctionBuffers Largest(Module optimized) =>
        Compiler.Create(new CompileOptions()).Unwrap().MemoryReport(optimized).Functions.MaxBy(f => f.ArenaBytes)!;

    [Fact]
    public void ABudgetNeverRaisesTheCompiledArenaNorChangesResults()
    {
        var training = Step("digits_cnn.ir");
        var plain = Compile(training.Module, null);
        long unconstrained = Largest(plain).ArenaBytes;
        var tight = Compile(training.Module, unconstrained * 3 / 4);
        // remat keeps a recomputation only when the arena after fusion shrinks too; on this step none does.
        Assert.True(Largest(tight).ArenaBytes <= unconstrained, $"{Largest(tight).ArenaBytes} is above {unconstrained}");

        var rng = new Random(7);
        var inputs = new List<Tensor>
        {
            Tensor.FromDoubles(new TensorType(ElementType.F32, 32, 64), [.. Enumerable.Range(0, 32 * 64).Select(_ => rng.NextDouble() * 16)]),
            Tensor.FromInt64s(new TensorType(ElementType.I64, 32), [.. Enumerable.Range(0, 32).Select(_ => (long)rng.Next(10))]),
        };
        inputs.AddRange(training.Variables.Select(v => v.Initial));
        var a = new Interpreter(plain).Run(null, inputs).Unwrap();
        var b = new Interpreter(tight).Run(null, inputs).Unwrap();
        AssertClose(a.Results, b.Results);
        Assert.Equal(a.VariableUpdates.Keys.Order(), b.VariableUpdates.Keys.Order());
        foreach (var k in a.VariableUpdates.Keys) AssertClose([a.VariableUpdates[k]], [b.VariableUpdates[k]]);
    }

    private static void AssertClose(IReadOnlyList<Tensor> expected, IReadOnlyList<Tensor> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Type, actual[i].Type);
            for (long k = 0; k < expected[i].Type.ElementCount; k++)
            {
                double x = expected[i].GetDouble(k), y = actual[i].GetDouble(k);
                Assert.True(Math.Abs(x - y) <= 1e-6 * Math.Max(1, Math.Abs(x)), $"result {i}[{k}]: {y} != {x}");
            }
        }
    }

    [Fact]
    public void WithoutABudgetOrWithinItTheFunctionIsTheSameObject()
    {
        var m = Step("digits_mlp.ir").Module;
        var differentiated = PassManager.Run(m, Pipeline.Parse("differentiate,canonicalize")).Unwrap();
        var pass = new Rematerialization();
        Assert.Same(differentiated, pass.Run(differentiated, PassOptions.Default).Module);
        Assert.Same(differentiated, pass.Run(differentiated, PassOptions.Default with { MemoryBudget = long.MaxValue }).Module);
    }

    /// <summary>
    /// On the CNN step the greedy choice lowers the unfused estimate (which is exactly the memory report after
    /// <c>remat,schedule</c>), but fusion undoes the saving, so the pass keeps the function as it was.
    /// </summary>
    [Fact]
    public void ARecomputationFusionWouldUndoIsNotKept()
    {
        var m = PassManager.Run(Step("digits_cnn.ir").Module, Pipeline.Parse("differentiate,canonicalize")).Unwrap();
        var step = m.Entry;
        long before = Rematerialization.Estimate(step), budget = before * 3 / 4;
        var outcome = Rematerialization.Apply(step, budget);
        Assert.Equal(before, outcome.PeakBefore);
        Assert.True(outcome.PeakAfter < before && outcome.Recomputed > 0 && outcome.ExtraWeightedFlops > 0);
        Assert.Equal(outcome.PeakAfter, MemoryReport.Compute(new Module([outcome.Function])).Functions[0].ArenaBytes);
        Assert.True(Rematerialization.FusedArena(outcome.Function, null, PassOptions.Default) >= Rematerialization.FusedArena(step, null, PassOptions.Default));
        Assert.Same(m, new Rematerialization().Run(m, PassOptions.Default with { MemoryBudget = budget }).Module);
    }

    [Fact]
    public void TheDriverChecksTheBudget()
    {
        var r = Compiler.Create(new CompileOptions { MemoryBudget = 0 });
        Assert.False(r.Ok);
        Assert.Contains(r.Diagnostics, d => d.Message.StartsWith("MemoryBudget must be > 0", StringComparison.Ordinal));
        Assert.Equal(1 << 20, Compiler.Create(new CompileOptions { MemoryBudget = 1 << 20 }).Unwrap().PassOptions.MemoryBudget);
    }

    /// <summary>
    /// The figures of docs/training.md, "Memory for the backward pass": for each step's gradient function, remat's own
    /// estimate (unfused, scheduled, the CPU's arena plan) without a budget and at two budgets, what it recomputed,
    /// and the arena the memory report gives after the whole default pipeline (fused).
    /// </summary>
    [Fact]
    public void Figures()
    {
        var driver = Compiler.Create(new CompileOptions()).Unwrap();
        var upToRemat = new Pipeline("before-remat", [.. PassRegistry.Default.Passes.TakeWhile(p => p != "remat")]);
        Assert.Contains("remat", PassRegistry.Default.Passes);
        foreach (var model in new[] { "digits_mlp.ir", "digits_cnn.ir" })
        {
            var training = Step(model);
            var before = PassManager.Run(training.Module, upToRemat, driver.PassOptions).Unwrap();
            var grad = before.Entry; // @train_step: the forward, backward and update ops, inlined by differentiate
            var plan = driver.PassOptions.MemoryPlan!(grad);
            long estimate = Rematerialization.Estimate(grad, plan);
            long report = Report(driver, Compile(training.Module, null), grad.Name);
            output.WriteLine($"{model} @{grad.Name}: no budget: estimate {estimate}, report {report}");
            foreach (var share in new[] { 0.9, 0.75 })
            {
                long budget = (long)(estimate * share);
                var outcome = Rematerialization.Apply(grad, budget, plan);
                Assert.Equal(estimate, outcome.PeakBefore);
                Assert.True(outcome.PeakAfter <= estimate);
                long after = Report(driver, Compile(training.Module, budget), grad.Name);
                output.WriteLine($"{model} budget {budget}: estimate {outcome.PeakAfter}, {outcome.Recomputed} recomputed, " +
                                 $"extra weighted flops {outcome.ExtraWeightedFlops}, report {after}");
            }
        }
    }

    private static long Report(Compiler driver, Module optimized, string function) =>
        driver.MemoryReport(optimized).Functions.Single(f => f.Function == function).ArenaBytes;
}
