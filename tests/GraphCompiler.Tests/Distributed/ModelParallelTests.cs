using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using GraphCompiler.Backends.Cpu;
using GraphCompiler.IR.Ops;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Distributed;

/// <summary>
/// Model parallelism (docs/distributed.md): the task device names, placement over tasks with the network in
/// its cost model, the interpreter running a split module in one process (the reference), and the CPU
/// backend's MPI transport in a split program. The runs under mpirun are <see cref="ModelParallelRunTests"/>.
/// </summary>
public sealed class ModelParallelTests
{
    /// <summary>
    /// A three-layer perceptron 8 → 16 → 16 → 4 on a batch of 4, with fixed pseudo-random weights as constants
    /// and the layers' ops named layerK/...; it returns the logits and layer 1's activations.
    /// </summary>
    public static string Mlp()
    {
        var rng = new Random(17);
        string Values(int n, double scale) =>
            string.Join(", ", Enumerable.Range(0, n).Select(_ => ((rng.NextDouble() * 2 - 1) * scale).ToString("0.####", CultureInfo.InvariantCulture)));
        string Matrix(int rows, int cols, double scale) =>
            "[" + string.Join(", ", Enumerable.Range(0, rows).Select(_ => $"[{Values(cols, scale)}]")) + "]";
        int[] dims = [8, 16, 16, 4];
        var sb = new StringBuilder("func @main(%x: tensor<4x8xf32> {name = \"x\"}) -> (tensor<4x4xf32> {name = \"logits\"}, tensor<4x16xf32> {name = \"hidden\"}) {\n");
        var input = "%x";
        for (int l = 0; l < 3; l++)
        {
            var (i, o, n) = (dims[l], dims[l + 1], $"layer{l + 1}");
            sb.Append($"  %w{l} = constant {{value = dense<{Matrix(i, o, 0.5)}>}} : tensor<{i}x{o}xf32>\n");
            sb.Append($"  %b{l} = constant {{value = dense<[{Values(o, 0.1)}]>}} : tensor<{o}xf32>\n");
            sb.Append($"  %m{l} = dot_general {input}, %w{l} {{lhs_contract = [1], rhs_contract = [0]}} : tensor<4x{o}xf32> loc(\"{n}/matmul\")\n");
            sb.Append($"  %bb{l} = broadcast_in_dim %b{l} {{dims = [1]}} : tensor<4x{o}xf32> loc(\"{n}/bias_b\")\n");
            sb.Append($"  %s{l} = add %m{l}, %bb{l} : tensor<4x{o}xf32> loc(\"{n}/bias\")\n");
            input = $"%s{l}";
            if (l == 2) break;
            sb.Append($"  %z{l} = constant {{value = dense<0.0>}} : tensor<4x{o}xf32>\n");
            sb.Append($"  %h{l} = max %s{l}, %z{l} : tensor<4x{o}xf32> loc(\"{n}/relu\")\n");
            input = $"%h{l}";
        }
        sb.Append($"  return {input}, %h0\n}}\n");
        return sb.ToString();
    }

    /// <summary>The input every test feeds: 32 distinct values in [-1.55, 1.55].</summary>
    public static readonly double[] InputValues = [.. Enumerable.Range(0, 32).Select(k => (k % 7 - 3) * 0.5 + k * 0.003)];

    public static Tensor Input => T.F32([4, 8], InputValues);

    /// <summary>The pipeline split the mpirun tests ask for on the command line: layer 2 on task 1 (and layer 3 on task 2 with three tasks).</summary>
    public static string[] Pins(int tasks) => tasks == 2 ? ["^layer2/=/job:worker/task:1/cpu:0"] : ["^layer2/=task1", "^layer3/=task2"];

    /// <summary><see cref="Mlp"/> through the <c>tasks</c> pipeline with <see cref="Pins"/>.</summary>
    public static Module Split(int tasks, TransferCompression compression = TransferCompression.None)
    {
        var constraints = Pins(tasks).Select(p => PlacementConstraint.Parse(p).Unwrap()).ToImmutableArray();
        var options = new PassOptions
        {
            CheckEachPass = true,
            Placement = new PlacementOptions { Tasks = tasks, Constraints = constraints, CompressTransfers = compression },
        };
        return PassManager.Run(IrTest.Parse(Mlp()), PassRegistry.Tasks, options).Unwrap();
    }

    [Theory]
    [InlineData("cpu", "cpu")]
    [InlineData("gpu", "gpu")]
    [InlineData("task1", "task1")]
    [InlineData("task0", "cpu")]
    [InlineData("/job:worker/task:0/cpu:0", "cpu")]
    [InlineData("/job:worker/task:0/gpu:0", "gpu")]
    [InlineData("/job:worker/task:7/cpu:0", "task7")]
    [InlineData("/job:worker/task:7/gpu:0", null)] // only the host process has a GPU
    [InlineData("task01", null)]
    [InlineData("task1024", null)]
    [InlineData("/job:ps/task:1/cpu:0", null)]
    [InlineData("tpu", null)]
    public void TaskDevicesParseInTheIrsSpellingOrTensorFlows(string written, string? device) => Assert.Equal(device, Placement.Parse(written));

    [Fact]
    public void ATaskDeviceKnowsItsProcessAndItsFullName()
    {
        Assert.Equal(0, Placement.TaskOf(Placement.Gpu));
        Assert.Equal(3, Placement.TaskOf("task3"));
        Assert.True(Placement.CrossesProcesses(Placement.Cpu, "task1"));
        Assert.False(Placement.CrossesProcesses(Placement.Cpu, Placement.Gpu));
        Assert.Equal("/job:worker/task:3/cpu:0", Placement.FullName("task3"));
        Assert.Equal("/job:worker/task:0/gpu:0", Placement.FullName(Placement.Gpu));
        Assert.Equal("task2", Placement.TaskCpu(2));
        Assert.Equal("cpu", Placement.TaskCpu(0));
    }

    [Fact]
    public void ATransferBetweenTasksCostsTheNetworksLatencyPlusBytesOverItsBandwidth()
    {
        var model = DeviceCostModel.Default;
        Assert.Equal(25e9 / 8, model.NetworkBytesPerSecond);
        Assert.Equal(5e-6, model.NetworkLatencySeconds);
        var type = new TensorType(ElementType.F32, 1024, 1024); // 4 MiB
        Assert.Equal(5e-6 + 4194304 / 3.125e9, model.TransferSeconds(type, Placement.Cpu, "task1"), 12);
        Assert.Equal(5e-6 + 2097152 / 3.125e9, model.TransferSeconds(type, "task2", "task1", TransferCompression.F16), 12);
        // Inside one process the host-device link is used, as before.
        Assert.Equal(model.TransferSeconds(type), model.TransferSeconds(type, Placement.Cpu, Placement.Gpu));
    }

    [Fact]
    public void ATaskConstraintIsHardAndAddsTheTasksItNames()
    {
        var split = Split(3);
        var ops = split.Entry.Body.Operations;
        Assert.Equal(["cpu", "task1", "task2"], ops.Where(o => o.Def is FusionOp).Select(Placement.DeviceOf));
        // Every edge between tasks is a pair: host → task 1 → task 2 → host.
        Assert.Equal([("cpu", "task1"), ("task1", "task2"), ("task2", "cpu")],
            ops.Where(o => o.Def is SendOp).Select(o => (o.Attr.Enum("from"), o.Attr.Enum("to"))));
        Assert.Contains("placement constraint 'x=/job:worker/task:1/gpu:0'", PlacementConstraint.Parse("x=/job:worker/task:1/gpu:0").Diagnostics[0].Message);
    }

    [Fact]
    public void TheInterpreterRunsASplitModuleInOneProcessExactly()
    {
        var reference = new Interpreter(IrTest.Parse(Mlp())).Run(null, [Input]).Unwrap().Results;
        foreach (var tasks in new[] { 2, 3 })
        {
            var split = Split(tasks);
            Assert.Equal(tasks, Enumerable.Range(0, tasks).Count(k => split.Entry.Body.Operations.Any(o => Placement.TaskOf(o) == k)));
            var actual = new Interpreter(split).Run(null, [Input]).Unwrap().Results;
            for (int i = 0; i < reference.Length; i++) IrTest.AssertTensor(reference[i], actual[i], rtol: 0);
        }
    }

    [Fact]
    public void TheInterpreterRoundsCompressedTransfersToF16WithABoundedError()
    {
        var exact = new Interpreter(IrTest.Parse(Mlp())).Run(null, [Input]).Unwrap().Results;
        var compressed = new Interpreter(Split(2, TransferCompression.F16)).Run(null, [Input]).Unwrap().Results;
        // hidden (layer 1's activations) is computed and returned on the host: never on the wire.
        IrTest.AssertTensor(exact[1], compressed[1], rtol: 0);
        Assert.NotEqual(exact[0], compressed[0]);
        var bound = F16Bound(exact);
        for (long k = 0; k < exact[0].ElementCount; k++)
            Assert.True(Math.Abs(exact[0].GetDouble(k) - compressed[0].GetDouble(k)) <= bound, $"logit {k}: {compressed[0].GetDouble(k)} vs {exact[0].GetDouble(k)} (bound {bound})");
    }

    /// <summary>
    /// A first-order bound on the logits' error when layer 1's activations h (to task 1) and the logits y (back)
    /// cross the wire in 16 bits: each is rounded with relative error u (f16: 2^-11, bf16: 2^-8); an error in h
    /// grows by at most 16 × 0.5 (inputs × largest weight) through each of layers 2 and 3. Bound:
    /// u (64 max|h| + max|y|), plus a little for f32 rounding.
    /// </summary>
    public static double F16Bound(IReadOnlyList<Tensor> exact, double u = 1.0 / 2048)
    {
        double MaxAbs(Tensor t) => Enumerable.Range(0, (int)t.ElementCount).Max(k => Math.Abs(t.GetDouble(k)));
        return u * (64 * MaxAbs(exact[1]) + MaxAbs(exact[0])) + 1e-5;
    }

    [Fact]
    public void ASplitProgramCarriesTheMpiTransportAndOneWithoutTasksDoesNot()
    {
        var split = CpuCompiler.Generate(Split(2)).Unwrap();
        Assert.NotNull(split.LastErrorSymbol);
        foreach (var call in new[] { "MPI_Isend", "MPI_Recv", "MPI_Wait", "MPI_Bcast", "the MPI world has %d (run it with mpirun -np %d)" })
            Assert.Contains(call, split.LlvmIr);
        var single = CpuCompiler.Generate(IrTest.Parse(Mlp())).Unwrap();
        Assert.Null(single.LastErrorSymbol);
        Assert.DoesNotContain("MPI", single.LlvmIr);
    }
}
