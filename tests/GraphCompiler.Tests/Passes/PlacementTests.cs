using GraphCompiler.Backends.Cuda;
using GraphCompiler.IR.Ops;
using GraphCompiler.IR.Text;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Passes;

/// <summary><c>place-devices</c>, <c>insert-transfers</c> and their cost model (the golden files in tests/ir/ show the rewrites).</summary>
public sealed class PlacementTests
{
    private static readonly PassOptions Cuda = new()
    {
        CheckEachPass = true,
        Placement = new PlacementOptions { GpuSupports = CudaCapabilities.Supports },
    };

    private static Operation Op(string text) => IrTest.Parse(text).Entry.Body.Operations[0];

    private static Module Run(Module m, PassOptions options, params string[] passes) =>
        PassManager.Run(m, new Pipeline("t", [.. passes]), options).Unwrap();

    [Fact]
    public void ATinyOpPrefersTheCpu()
    {
        var add = Op(IrTest.Func("%a = add %arg0, %arg0 : tensor<2x4xf32>\n  return %a", "tensor<2x4xf32>", "tensor<2x4xf32>"));
        var cost = DeviceCostModel.Default;
        Assert.Equal(8, DeviceCostModel.Flops(add));
        Assert.Equal(96, DeviceCostModel.Bytes(add));
        // Even before any transfer, the GPU's launch overhead alone loses.
        Assert.True(cost.Seconds(add, Placement.Cpu) < cost.Seconds(add, Placement.Gpu));
        Assert.Equal(96 / 20e9, cost.Seconds(add, Placement.Cpu), 1e-15);
    }

    [Fact]
    public void A2048CubedDotPrefersTheGpuTransfersIncluded()
    {
        var dot = Op(IrTest.Func("%d = dot_general %arg0, %arg1 {lhs_contract = [1], rhs_contract = [0]} : tensor<2048x2048xf32>\n  return %d",
            "tensor<2048x2048xf32>", "tensor<2048x2048xf32>", "tensor<2048x2048xf32>"));
        var cost = DeviceCostModel.Default;
        Assert.Equal(2.0 * 2048 * 2048 * 2048, DeviceCostModel.Flops(dot));
        var matrix = dot.Result.Type;
        var gpu = cost.Seconds(dot, Placement.Gpu) + 3 * cost.TransferSeconds(matrix);
        var cpu = cost.Seconds(dot, Placement.Cpu);
        Assert.True(gpu < cpu / 50, $"gpu {gpu} s, cpu {cpu} s");
        Assert.Equal(2.0 * 2048 * 2048 * 2048 / 100e9, cpu, 1e-9); // compute-bound: 172 ms
    }

    [Fact]
    public void ConvolutionReduceAndFusionFlops()
    {
        // 3x3 window, 3 input features, 8 output features, 2x2 output: 2 * 32 outputs * 27 multiply-adds.
        var conv = Op(IrTest.Func("%c = convolution %arg0, %arg1 {dims = \"b01f_01io->b01f\"} : tensor<1x2x2x8xf32>\n  return %c",
            "tensor<1x2x2x8xf32>", "tensor<1x4x4x3xf32>", "tensor<3x3x3x8xf32>"));
        Assert.Equal(2.0 * 32 * 27, DeviceCostModel.Flops(conv));
        var reduce = Op(IrTest.Func("%r = reduce %arg0 {dims = [1], kind = sum} : tensor<4xf32>\n  return %r", "tensor<4xf32>", "tensor<4x16xf32>"));
        Assert.Equal(64, DeviceCostModel.Flops(reduce));
        var fusion = Op(IrTest.Func("""
            %f = fusion %arg0 {kind = loop} : tensor<4xf32>
                body(%x: tensor<4xf32>) {
                  %a = add %x, %x : tensor<4xf32>
                  %e = exp %a : tensor<4xf32>
                  yield %e
                }
              return %f
            """, "tensor<4xf32>", "tensor<4xf32>"));
        Assert.Equal(8, DeviceCostModel.Flops(fusion)); // two ops over four elements
    }

    [Fact]
    public void CompressionHalvesTheBytesOfF32TransfersOnly()
    {
        var cost = DeviceCostModel.Default;
        var f32 = new TensorType(ElementType.F32, 1 << 20);
        var i32 = new TensorType(ElementType.I32, 1 << 20);
        Assert.Equal(10e-6 + 4.0 * (1 << 20) / 25e9, cost.TransferSeconds(f32), 1e-12);
        Assert.Equal(10e-6 + 2.0 * (1 << 20) / 25e9, cost.TransferSeconds(f32, TransferCompression.F16), 1e-12);
        Assert.Equal(cost.TransferSeconds(i32), cost.TransferSeconds(i32, TransferCompression.BF16));
    }

    [Theory]
    [InlineData("conv.*=gpu", "conv.*", "gpu")]
    [InlineData("a=b=cpu", "a=b", "cpu")]
    [InlineData("^%5$ = gpu", "^%5$ ", "gpu")]
    public void ConstraintsParse(string spec, string regex, string device)
    {
        var c = PlacementConstraint.Parse(spec).Unwrap();
        Assert.Equal(regex, c.Pattern.ToString());
        Assert.Equal(device, c.Device);
    }

    [Theory]
    [InlineData("conv", "must be REGEX=cpu or REGEX=gpu")]
    [InlineData("conv=tpu", "device 'tpu' is not cpu or gpu")]
    [InlineData("=gpu", "has an empty regex")]
    [InlineData("[a=gpu", "invalid regex")]
    public void BadConstraintsAreOneLineDiagnostics(string spec, string expected)
    {
        var r = PlacementConstraint.Parse(spec);
        Assert.False(r.Ok);
        var message = Assert.Single(r.Diagnostics).ToString();
        Assert.Contains(expected, message);
        Assert.DoesNotContain('\n', message);
    }

    private const string Mixed = """
        func @main(%x: tensor<256x256xf32>, %w: tensor<256x256xf32>) -> (tensor<256x256xf32>, tensor<256x256xf32>) {
          %h = dot_general %x, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<256x256xf32>
          %s = sin %h : tensor<256x256xf32>
          %y = dot_general %s, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<256x256xf32>
          %z = mul %s, %y : tensor<256x256xf32>
          return %y, %z
        }
        """;

    private static Tensor Seeded(TensorType t, int seed)
    {
        var rng = new Random(seed);
        var b = new TensorBuffer(t);
        for (long i = 0; i < t.ElementCount; i++) b.SetDouble(i, rng.NextDouble() - 0.5);
        return b.ToTensor();
    }

    [Fact]
    public void TransfersKeepResultsExactAndCompressionClose()
    {
        var m = IrTest.Parse(Mixed);
        var placed = Run(m, Cuda, "place-devices", "schedule", "insert-transfers");
        var ops = placed.Entry.Body.Operations;
        Assert.Contains(ops, o => o.Def is SendOp);
        Assert.Contains(ops, o => Placement.DeviceOf(o) == Placement.Gpu);
        IrTest.AssertRoundTrip(placed);
        var t = new TensorType(ElementType.F32, 256, 256);
        Tensor[] inputs = [Seeded(t, 1), Seeded(t, 2)];
        var expected = new Interpreter(m).Run(null, inputs).Value!.Results;
        var actual = new Interpreter(placed).Run(null, inputs).Value!.Results;
        for (int i = 0; i < expected.Length; i++) IrTest.AssertTensor(expected[i], actual[i]);

        var compressed = Run(m, Cuda with { Placement = Cuda.Placement with { CompressTransfers = TransferCompression.F16 } },
            "place-devices", "insert-transfers");
        Assert.All(compressed.Entry.Body.Operations.Where(o => o.Def is SendOp), s => Assert.Equal("f16", s.Attr.Enum("compress")));
        var rounded = new Interpreter(compressed).Run(null, inputs).Value!.Results;
        for (int i = 0; i < expected.Length; i++) IrTest.AssertTensor(expected[i], rounded[i], rtol: 0.05, atol: 0.05);
    }

    [Fact]
    public void BothPassesAreIdempotent()
    {
        var placed = Run(IrTest.Parse(Mixed), Cuda, "place-devices", "insert-transfers");
        Assert.Same(placed, new DevicePlacement().Run(placed, Cuda).Module);
        Assert.Same(placed, new TransferInsertion().Run(placed, Cuda).Module);
    }

    [Fact]
    public void WithoutAGpuEverythingIsOnTheCpuAndNothingMoves()
    {
        var m = Run(IrTest.Parse(Mixed), new PassOptions { CheckEachPass = true }, "place-devices", "schedule", "insert-transfers");
        var ops = m.Entry.Body.Operations.Where(o => !o.Def.IsTerminator).ToList();
        Assert.All(ops, o => Assert.Equal(Placement.Cpu, Placement.DeviceOf(o)));
        Assert.DoesNotContain(ops, o => o.Def is SendOp or RecvOp);
    }

    [Fact]
    public void TheCudaPipelineRunsOnTheExamplesAndTheCpuBackendTakesItsOutputWithoutAGpu()
    {
        foreach (var name in new[] { "cnn.ir", "resnet_block.ir", "softmax_regression.ir" })
        {
            var path = Path.Combine(GoldenFile.RepoRoot(), "examples", name);
            var m = Parser.ParseModule(File.ReadAllText(path), name).Unwrap();
            var placed = PassManager.Run(m, PassRegistry.Cuda, Cuda with { Placement = Cuda.Placement with { Constraints = [PlacementConstraint.Parse(".=gpu").Unwrap()] } }).Unwrap();
            Assert.Empty(Verifier.Verify(placed));
        }
        // CompiledModel runs a pipeline without placement options: all on the CPU, still compilable.
        var softmax = Path.Combine(GoldenFile.RepoRoot(), "examples", "softmax_regression.ir");
        using var model = CompiledModel.Compile(softmax, new CompileOptions { Threads = 1, Pipeline = "cuda" });
        var x = T.F32([2, 4], 1, 0, 0, 0, 0, 0, 0, 1);
        var p = model.Run([x])[0];
        Assert.Equal(1.0, p.GetDouble(0) + p.GetDouble(1) + p.GetDouble(2), 5);
    }

    /// <summary>
    /// With tasks and a GPU, a loop on the host has its body placed on the host's devices only: a region's ops run in the
    /// host's process (only the entry's top-level ops run under a task's condition), so a constraint naming a task does not
    /// reach them, while one naming the GPU does; the loop itself stays on the host CPU.
    /// </summary>
    [Fact]
    public void ARegionsOpsStayInTheHostsProcess()
    {
        var m = IrTest.Parse("""
            func @main(%x: tensor<512x512xf32>, %n: tensor<i32>) -> (tensor<512x512xf32>) {
              %zero = constant {value = dense<0>} : tensor<i32>
              %one = constant {value = dense<1>} : tensor<i32>
              %i, %y = while %zero, %x : tensor<i32>, tensor<512x512xf32>
                cond(%ci: tensor<i32>, %cy: tensor<512x512xf32>) {
                  %p = compare %ci, %n {direction = lt} : tensor<bool>
                  yield %p
                }
                body(%bi: tensor<i32>, %by: tensor<512x512xf32>) {
                  %t = dot_general %by, %by {lhs_contract = [1], rhs_contract = [0]} : tensor<512x512xf32> loc("mm")
                  %bn = add %bi, %one : tensor<i32> loc("count")
                  yield %bn, %t
                }
              return %y
            }
            """);
        var options = Cuda with
        {
            Placement = Cuda.Placement with { Tasks = 2, Constraints = [PlacementConstraint.Parse("^count=task1").Unwrap(), PlacementConstraint.Parse("^mm=gpu").Unwrap()] },
        };
        var text = Printer.Print(Run(m, options, "place-devices", "insert-transfers"));
        Assert.Matches(@"while [^\n]*device = cpu", text);
        Assert.Matches(@"= dot_general [^\n]*device = gpu[^\n]*loc\(""mm""\)", text);
        Assert.Matches(@"= add [^\n]*device = cpu[^\n]*loc\(""count""\)", text);
        Assert.DoesNotContain("task1", text);
    }
}
