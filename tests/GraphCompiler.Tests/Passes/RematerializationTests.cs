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
        // remat works on the fused kernels and keeps the smallest arena it reached: never above the unconstrained one.
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
    /// A deep relu MLP's step (batch 64, six 128-wide layers, SGD): every layer's pre-activation (the relu mask's input)
    /// and activation (the next weight gradient's input) are live from the forward kernels to the backward ones. The
    /// pass works on the fused kernels, so its arena is the compiled one: at a budget it first recomputes relu kernels
    /// (an activation from its pre-activation, which stays live anyway: 8 KiB of flops per 32 KiB freed), and only
    /// when those are used up a layer's GEMM.
    /// </summary>
    [Fact]
    public void ABudgetLowersTheCompiledArenaOfADeepStepCheapKernelsFirst()
    {
        var training = TrainingStep.Build(IrTest.Parse(DeepMlp(batch: 64, width: 128, layers: 6)),
            new TrainingOptions { Loss = LossSpec.Parse("softmax-cross-entropy:labels", out _)!, Optimizer = Optimizer.Create("sgd", 0.1)! });
        var plain = Compile(training.Module, null);
        long unconstrained = Largest(plain).ArenaBytes;
        long budget = unconstrained * 3 / 4;
        var tight = Compile(training.Module, budget);
        long arena = Largest(tight).ArenaBytes;
        Assert.True(arena <= budget, $"arena {arena} is above the budget {budget} (was {unconstrained})");
        var clones = tight.Entry.Body.Operations.Where(o => o.SourceName?.EndsWith(Rematerialization.Marker, StringComparison.Ordinal) == true).ToList();
        Assert.NotEmpty(clones);
        Assert.Contains(clones, o => !o.Regions[0].Operations.Any(i => i.Def.Has(OpTraits.Contraction))); // relu kernels

        var rng = new Random(3);
        var inputs = new List<Tensor>
        {
            Tensor.FromDoubles(new TensorType(ElementType.F32, 64, 32), [.. Enumerable.Range(0, 64 * 32).Select(_ => rng.NextDouble() - 0.3)]),
            Tensor.FromInt64s(new TensorType(ElementType.I64, 64), [.. Enumerable.Range(0, 64).Select(_ => (long)rng.Next(10))]),
        };
        inputs.AddRange(training.Variables.Select(v => v.Initial));
        var a = new Interpreter(plain).Run(null, inputs).Unwrap();
        var b = new Interpreter(tight).Run(null, inputs).Unwrap();
        AssertClose(a.Results, b.Results);
        foreach (var k in a.VariableUpdates.Keys) AssertClose([a.VariableUpdates[k]], [b.VariableUpdates[k]]);
    }

    /// <summary>A relu MLP on <c>%x: [batch, 32]</c> to 10 logits, with distinct small weights per layer (splats would let CSE merge layers).</summary>
    internal static string DeepMlp(int batch, int width, int layers)
    {
        var text = new System.Text.StringBuilder($"func @main(%x: tensor<{batch}x32xf32> {{name = \"x\"}}) -> (tensor<{batch}x10xf32> {{name = \"logits\"}}) {{\n");
        string x = "%x";
        int inputs = 32;
        for (int i = 0; i < layers; i++)
        {
            text.Append($"  %w{i} = constant {{value = dense<{0.01 * (i + 1)}>}} : tensor<{inputs}x{width}xf32> loc(\"l{i}/w\")\n");
            text.Append($"  %b{i} = constant {{value = dense<{0.001 * (i + 1)}>}} : tensor<{width}xf32> loc(\"l{i}/b\")\n");
            text.Append($"  %m{i} = dot_general {x}, %w{i} {{lhs_contract = [1], rhs_contract = [0]}} : tensor<{batch}x{width}xf32>\n");
            text.Append($"  %bb{i} = broadcast_in_dim %b{i} {{dims = [1]}} : tensor<{batch}x{width}xf32>\n");
            text.Append($"  %h{i} = add %m{i}, %bb{i} : tensor<{batch}x{width}xf32>\n");
            text.Append($"  %z{i} = constant {{value = dense<0.0>}} : tensor<{batch}x{width}xf32>\n");
            text.Append($"  %a{i} = max %h{i}, %z{i} : tensor<{batch}x{width}xf32>\n");
            (x, inputs) = ($"%a{i}", width);
        }
        text.Append($"  %wo = constant {{value = dense<0.02>}} : tensor<{width}x10xf32> loc(\"out/w\")\n");
        text.Append($"  %logits = dot_general {x}, %wo {{lhs_contract = [1], rhs_contract = [0]}} : tensor<{batch}x10xf32>\n");
        return text.Append("  return %logits\n}\n").ToString();
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
        var sgd = new TrainingOptions { Loss = LossSpec.Parse("softmax-cross-entropy:labels", out _)!, Optimizer = Optimizer.Create("sgd", 0.1)! };
        var models = new (string Name, Func<TrainingModule> Step)[]
        {
            ("digits_mlp.ir", () => Step("digits_mlp.ir")),
            ("digits_cnn.ir", () => Step("digits_cnn.ir")),
            ("deep MLP 8x256, batch 128", () => TrainingStep.Build(IrTest.Parse(DeepMlp(batch: 128, width: 256, layers: 8)), sgd)),
        };
        foreach (var (model, step) in models)
        {
            var training = step();
            var before = PassManager.Run(training.Module, upToRemat, driver.PassOptions).Unwrap();
            var grad = before.Entry; // @train_step: the forward, backward and update ops, inlined by differentiate
            var plan = driver.PassOptions.MemoryPlan!(grad);
            long estimate = Rematerialization.Estimate(grad, plan);
            long report = Report(driver, Compile(training.Module, null), grad.Name);
            double flops = grad.Body.Operations.Where(o => !o.Def.IsTerminator).Sum(o => o.Def.Cost(o).WeightedFlops);
            output.WriteLine($"{model} @{grad.Name}: no budget: estimate {estimate}, report {report}, weighted flops {flops}");
            Assert.Equal(report, estimate); // remat runs on the kernels: its estimate is the compiled arena
            foreach (var share in new[] { 0.75, 0.5 })
            {
                long budget = (long)(estimate * share);
                var outcome = Rematerialization.Apply(grad, budget, plan);
                Assert.Equal(estimate, outcome.PeakBefore);
                Assert.True(outcome.PeakAfter <= estimate);
                var budgeted = Compiler.Create(new CompileOptions { MemoryBudget = budget }).Unwrap();
                var report2 = budgeted.MemoryReport(budgeted.Optimize(training.Module).Unwrap(), training.Module);
                long after = report2.Functions.Single(f => f.Function == grad.Name).ArenaBytes;
                output.WriteLine($"{model} budget {budget}: estimate {outcome.PeakAfter}, report {after}; " +
                                 (report2.Remat.TryGetValue(grad.Name, out var r)
                                     ? $"report's remat line: peak {r.PeakWithoutBudget} without, {r.Recomputed} recomputed, {r.ExtraWeightedFlops} extra of {r.WeightedFlops} ({100 * r.ExtraWeightedFlops / r.WeightedFlops:F1} %)"
                                     : "nothing recomputed"));
                Assert.Equal(outcome.PeakAfter, after);
                if (after < estimate) Assert.Equal(estimate, report2.Remat[grad.Name].PeakWithoutBudget);
            }
        }
    }

    private static long Report(Compiler driver, Module optimized, string function) =>
        driver.MemoryReport(optimized).Functions.Single(f => f.Function == function).ArenaBytes;
}
