using GraphCompiler.IR.Ops;
using GraphCompiler.Passes;
using GraphCompiler.Tests.Distributed;

namespace GraphCompiler.Tests.Passes;

/// <summary>
/// The <c>micro-batch</c> pass (GPipe) and <c>schedule-tasks</c>: the reference interpreter's results of the
/// micro-batched module against the original's, the refusals, and the driver's option. The IR it writes is
/// golden-tested in tests/ir/micro-batch/.
/// </summary>
public sealed class MicroBatchingTests
{
    private static PassOptions With(int microBatches) => PassOptions.Default with { CheckEachPass = true, MicroBatches = microBatches };

    private static Module Split(Module m, int microBatches) =>
        PassManager.Run(m, new Pipeline("test", ["micro-batch"]), With(microBatches)).Unwrap();

    private static IReadOnlyList<Tensor> Interpret(Module m, params Tensor[] inputs) =>
        new Interpreter(m).Run(null, inputs).Unwrap().Results;

    /// <summary>
    /// The small CNN of tests/ir/micro-batch/cnn.ir (the golden file shows its split): convolution, bias, relu,
    /// 2×2 max pooling, flatten, dense, softmax, on a batch of 4 NHWC images.
    /// </summary>
    private static string Cnn => GoldenFile.Load(Path.Combine(GoldenFile.RepoRoot(), "tests", "ir", "micro-batch", "cnn.ir")).Input;

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void AMicroBatchedMlpComputesExactlyTheOriginalResults(int microBatches)
    {
        var original = IrTest.Parse(ModelParallelTests.Mlp());
        var split = Split(original, microBatches);
        Assert.Equal(microBatches, split.Entry.Body.Operations.Count(op => op.SourceName?.StartsWith("layer2/matmul" + MicroBatching.NameSuffix, StringComparison.Ordinal) == true));
        var expected = Interpret(original, ModelParallelTests.Input);
        var actual = Interpret(split, ModelParallelTests.Input);
        // Each row is computed by the same sums in the same order: bit for bit.
        for (int i = 0; i < expected.Count; i++) IrTest.AssertTensor(expected[i], actual[i], rtol: 0);
    }

    [Fact]
    public void EveryMicroBatchHasItsOwnCopyOfEachLayer()
    {
        var split = Split(IrTest.Parse(ModelParallelTests.Mlp()), 4);
        var names = split.Entry.Body.Operations.Select(op => op.SourceName).OfType<string>().ToHashSet();
        for (int m = 0; m < 4; m++)
            foreach (var layer in new[] { "layer1/matmul", "layer2/matmul", "layer3/matmul" })
                Assert.Contains(MicroBatching.CopyName(layer, m)!, names);
        // The weights are constants read by every copy, not copied.
        Assert.Equal(6, split.Entry.Body.Operations.Count(op => op.Def is ConstantOp && op.Result.Type.Rank > 0 && op.Attr.Tensor("value").IsSplat is false));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void AMicroBatchedCnnComputesTheOriginalResults(int microBatches)
    {
        var rng = new Random(5);
        var original = IrTest.Parse(Cnn);
        var inputs = original.Entry.ArgumentTypes.Select(t => GradientCheck.RandomTensor(t, rng, -1, 1)).ToArray();
        var expected = Interpret(original, inputs);
        var actual = Interpret(Split(original, microBatches), inputs);
        for (int i = 0; i < expected.Count; i++) IrTest.AssertTensor(expected[i], actual[i], rtol: 1e-6, atol: 1e-7);
    }

    [Fact]
    public void AWeightWhoseFirstDimensionIsTheBatchSizeIsSharedNotSliced()
    {
        const string text = """
            func @main(%x: tensor<4x4xf32>, %w: tensor<4x4xf32>) -> (tensor<4x4xf32>) {
              %m = dot_general %x, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<4x4xf32> loc("dense")
              return %m
            }
            """;
        var original = IrTest.Parse(text);
        var split = Split(original, 2);
        Assert.Equal(2, split.Entry.Body.Operations.Count(op => op.Name == "slice"));
        var (x, w) = (T.F32([4, 4], [.. Enumerable.Range(0, 16).Select(k => k * 0.25 - 2)]), T.F32([4, 4], [.. Enumerable.Range(0, 16).Select(k => 1.5 - k * 0.125)]));
        IrTest.AssertTensor(Interpret(original, x, w)[0], Interpret(split, x, w)[0], rtol: 0);
    }

    [Fact]
    public void AReductionOverTheBatchIsRefusedWithOneLineNamingTheOp()
    {
        const string text = """
            func @main(%x: tensor<8x4xf32>) -> (tensor<4xf32>) {
              %s = reduce %x {kind = sum, dims = [0]} : tensor<4xf32> loc("loss/mean")
              return %s
            }
            """;
        var r = PassManager.Run(IrTest.Parse(text), new Pipeline("test", ["micro-batch"]), With(2));
        Assert.False(r.Ok);
        var message = Assert.Single(r.Diagnostics).Message;
        Assert.Contains("'reduce' ('loss/mean')", message);
        Assert.Contains("reduces across the batch dimension 0", message);
    }

    [Fact]
    public void AWholeBatchOperandThatIsNotABroadcastIsRefused()
    {
        // The constant differs from row to row: each micro-batch would need its own rows of it.
        const string text = """
            func @main(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>) {
              %c = constant {value = dense<[[1.0, 2.0], [3.0, 4.0]]>} : tensor<2x2xf32>
              %y = add %x, %c : tensor<2x2xf32> loc("shift")
              return %y
            }
            """;
        var r = PassManager.Run(IrTest.Parse(text), new Pipeline("test", ["micro-batch"]), With(2));
        Assert.False(r.Ok);
        Assert.Contains("at 'add' ('shift'): operand #1 (tensor<2x2xf32>) is the same for every micro-batch but spans the whole batch along dimension 0", Assert.Single(r.Diagnostics).Message);
    }

    [Fact]
    public void TheBatchFollowsATransposeAndAReductionOfAnotherDimension()
    {
        const string text = """
            func @main(%x: tensor<4x3xf32>) -> (tensor<3x4xf32>, tensor<4xf32>) {
              %t = transpose %x {perm = [1, 0]} : tensor<3x4xf32>
              %e = exp %t : tensor<3x4xf32>
              %s = reduce %e {kind = sum, dims = [0]} : tensor<4xf32>
              return %e, %s
            }
            """;
        var original = IrTest.Parse(text);
        var split = Split(original, 2);
        // The transposed results are joined along their batch dimension, 1.
        Assert.Contains(split.Entry.Body.Operations, op => op.Name == "concatenate" && op.Attr.Int("dimension") == 1);
        var x = T.F32([4, 3], [.. Enumerable.Range(0, 12).Select(k => k * 0.1 - 0.5)]);
        var (expected, actual) = (Interpret(original, x), Interpret(split, x));
        for (int i = 0; i < expected.Count; i++) IrTest.AssertTensor(expected[i], actual[i], rtol: 0);
    }

    [Fact]
    public void AnOpWithoutABatchRuleIsRefusedByName()
    {
        const string text = """
            func @main(%x: tensor<8x4xf32>) -> (tensor<8x4xf32>) {
              %r = reverse %x {dims = [1]} : tensor<8x4xf32> loc("flip")
              return %r
            }
            """;
        var r = PassManager.Run(IrTest.Parse(text), new Pipeline("test", ["micro-batch"]), With(2));
        Assert.False(r.Ok);
        Assert.Contains("at 'reverse' ('flip'): the op does not say how it treats the batch dimension", Assert.Single(r.Diagnostics).Message);
    }

    [Fact]
    public void ABatchThatDoesNotDivideIsRefusedNamingTheArgumentAndTheSizes()
    {
        var text = ModelParallelTests.Mlp(); // batch 4
        var r = PassManager.Run(IrTest.Parse(text), new Pipeline("test", ["micro-batch"]), With(3));
        Assert.False(r.Ok);
        Assert.Contains("argument %x (tensor<4x8xf32>) has batch size 4, which does not split into 3 equal micro-batches", Assert.Single(r.Diagnostics).Message);
    }

    [Fact]
    public void OneMicroBatchReturnsTheSameModule()
    {
        var m = IrTest.Parse(ModelParallelTests.Mlp());
        var r = new MicroBatching().Run(m, PassOptions.Default);
        Assert.Same(m, r.Module);
        Assert.False(r.Changed);
    }

    [Fact]
    public void ScheduleTasksLeavesAFunctionOnOneTaskAsItIs()
    {
        var m = PassManager.Run(IrTest.Parse(ModelParallelTests.Mlp()), PassRegistry.Default, PassOptions.Default).Unwrap();
        var r = new TaskScheduling().Run(m, PassOptions.Default);
        Assert.Same(m, r.Module);
    }

    [Fact]
    public void TheSplitPipelineOrdersMicroBatchesByTimeSlot()
    {
        // Big enough stages that compute outweighs the network: stage s of micro-batch m starts in slot m + s.
        const int batch = 256, width = 256, microBatches = 4;
        var text = $$"""
            func @main(%x: tensor<{{batch}}x{{width}}xf32>, %w1: tensor<{{width}}x{{width}}xf32>, %w2: tensor<{{width}}x{{width}}xf32>) -> (tensor<{{batch}}x{{width}}xf32>) {
              %m1 = dot_general %x, %w1 {lhs_contract = [1], rhs_contract = [0]} : tensor<{{batch}}x{{width}}xf32> loc("layer1/matmul")
              %m2 = dot_general %m1, %w2 {lhs_contract = [1], rhs_contract = [0]} : tensor<{{batch}}x{{width}}xf32> loc("layer2/matmul")
              return %m2
            }
            """;
        var options = With(microBatches) with
        {
            Placement = new PlacementOptions { Tasks = 2, Constraints = [PlacementConstraint.Parse("^layer2/=task1").Unwrap()] },
        };
        var m = PassManager.Run(IrTest.Parse(text), PassRegistry.Tasks with { Passes = PassRegistry.Tasks.Passes.Insert(0, "micro-batch") }, options).Unwrap();
        var order = m.Entry.Body.Operations.Where(op => op.Def is not (SendOp or RecvOp)).Select(op => op.SourceName)
            .Where(n => n is not null && n.Contains("/matmul" + MicroBatching.NameSuffix, StringComparison.Ordinal)).ToList();
        // The location regex pins every micro-batch's copy of layer 2 to task 1, and no copy of layer 1 leaves the host.
        foreach (var op in m.Entry.Body.Operations.Where(op => op.Def is not (SendOp or RecvOp) && op.SourceName is not null))
            Assert.Equal(op.SourceName!.StartsWith("layer2/", StringComparison.Ordinal) ? "task1" : "cpu", Placement.DeviceOf(op));
        Assert.Equal(
            ["layer1/matmul@mb0", "layer1/matmul@mb1", "layer2/matmul@mb0", "layer1/matmul@mb2", "layer2/matmul@mb1", "layer1/matmul@mb3", "layer2/matmul@mb2", "layer2/matmul@mb3"],
            order);
    }

    [Fact]
    public void TheDriverPutsMicroBatchFirstAndChecksTheCount()
    {
        var bad = Compiler.Create(new CompileOptions { MicroBatches = 0 });
        Assert.False(bad.Ok);
        Assert.Contains("MicroBatches must be at least 1, got 0", Assert.Single(bad.Diagnostics).Message);
        foreach (var options in new[] { new CompileOptions { Tasks = 2 }, new CompileOptions() })
        {
            var plain = Compiler.Create(options).Unwrap().Pipeline!;
            var split = Compiler.Create(options with { MicroBatches = 4 }).Unwrap();
            Assert.Equal(string.Join(",", ["micro-batch", .. plain.Passes]), split.Pipeline!.ToString());
            Assert.Equal(4, split.PassOptions.MicroBatches);
        }
        Assert.Contains("schedule-tasks", Compiler.Create(new CompileOptions { Tasks = 2 }).Unwrap().Pipeline!.Passes);
    }
}
