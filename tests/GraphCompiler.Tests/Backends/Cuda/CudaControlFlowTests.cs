using GraphCompiler.IR;
using GraphCompiler.Passes;
using Xunit;
using static GraphCompiler.Tests.Backends.Cuda.CudaEmulatorTests;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// Host control flow with GPU regions: the host runs the while or if (it reads the condition), the ops of its regions run
/// as GPU kernels, launched per iteration or in the branch taken; values from outside the op reach the GPU once, before it;
/// a loop's carried values computed on the GPU stay there (<c>gpu_carried</c>), other region arguments and yields are host
/// values. Against the interpreter, on the emulated driver, which also counts the bytes each run copies.
/// </summary>
[Collection(CudaDriverCollection.Name)]
public sealed class CudaControlFlowTests
{
    private const string Rnn = """
        func @main(%h0: tensor<64x256xf32>, %w: tensor<256x256xf32>, %n: tensor<i32>) -> (tensor<64x256xf32>) {
          %zero = constant {value = dense<0>} : tensor<i32>
          %one = constant {value = dense<1>} : tensor<i32>
          %i, %h = while %zero, %h0 : tensor<i32>, tensor<64x256xf32>
            cond(%ci: tensor<i32>, %ch: tensor<64x256xf32>) {
              %p = compare %ci, %n {direction = lt} : tensor<bool>
              yield %p
            }
            body(%bi: tensor<i32>, %bh: tensor<64x256xf32>) {
              %m = dot_general %bh, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<64x256xf32>
              %t = tanh %m : tensor<64x256xf32>
              %bn = add %bi, %one : tensor<i32>
              yield %bn, %t
            }
          return %h
        }
        """;

    /// <summary>
    /// A recurrent loop, h ← tanh(h·W) n times: the body's product and tanh run on the GPU every iteration (the loop counter
    /// and the condition too, as <c>.*=gpu</c> asks); W goes to the GPU once, before the loop.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5)]
    public void WhileBodyRunsOnTheGpuEachIteration(int iterations)
    {
        var placed = PlaceOnGpu(Rnn);
        var text = GraphCompiler.IR.Text.Printer.Print(placed);
        Assert.Matches(@"while [^\n]*device = cpu", text);
        Assert.Matches(@"= fusion [^\n]*device = gpu, kind = output", text); // the product with tanh after it
        // W is read on the GPU inside the body: its transfer is at the top of the function, not in the body.
        var body = placed.Entry.Body.Operations.Single(o => o.Def is GraphCompiler.IR.Ops.WhileOp).Regions[1];
        var w = placed.Entry.Arguments[1];
        Assert.Contains(placed.Entry.Body.Operations, o => o.Def is GraphCompiler.IR.Ops.SendOp && ReferenceEquals(o.Operands[0], w));
        Assert.DoesNotContain(body.Operations, o => o.Def is GraphCompiler.IR.Ops.SendOp && ReferenceEquals(o.Operands[0], w));

        var rng = new Random(iterations);
        Tensor Uniform(int rows, int cols, double scale) =>
            Tensor.FromDoubles(new TensorType(ElementType.F32, rows, cols), [.. Enumerable.Range(0, rows * cols).Select(_ => (rng.NextDouble() - 0.5) * scale)]);
        Tensor[] inputs = [Uniform(64, 256, 2), Uniform(256, 256, 0.2), Tensor.FromDoubles(new TensorType(ElementType.I32), [iterations])];
        // Both carried values stay on the GPU: the body has no transfer, the condition sends the host its one byte.
        Assert.Matches(@"while [^\n]*gpu_carried = \[0, 1\]", text);
        Assert.DoesNotContain(body.Operations, o => o.Def is GraphCompiler.IR.Ops.SendOp or GraphCompiler.IR.Ops.RecvOp);
        long before = CudaEmulator.Launches;
        var copied = CudaEmulator.Copied;
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-5, inputs: inputs, branches: true);
        // Every iteration launches the body's kernels (at least the product's and tanh's, maybe fused into one).
        Assert.True(CudaEmulator.Launches - before >= iterations, $"{CudaEmulator.Launches - before} launches for {iterations} iterations");
        Assert.True(program.Kernels >= 2, "the condition's and the body's kernels");
        // Over PCIe: h0, W and n in once, h out once, and a predicate per test; on the device, the carried values' copies.
        const long state = 64 * 256 * 4, weights = 256 * 256 * 4, counter = 4;
        var after = CudaEmulator.Copied;
        Assert.Equal(state + weights + counter, after.ToDevice - copied.ToDevice);
        Assert.Equal(state + (iterations + 1), after.ToHost - copied.ToHost);
        Assert.Equal((iterations + 1) * (state + counter), after.OnDevice - copied.OnDevice);
    }

    /// <summary>
    /// The recurrent loop placed by the cost model alone: the counter and the condition on the CPU, the product and tanh on the
    /// GPU, and the state carried there (<c>gpu_carried = [1]</c>), so nothing crosses PCIe inside the loop: h0 and W go to
    /// the GPU once, h comes back once, whatever the trip count.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(0)]
    [InlineData(3)]
    public void TheCostModelKeepsARecurrentStateOnTheGpu(int iterations)
    {
        var options = PassOptions.Default with { Placement = new PlacementOptions { GpuSupports = GraphCompiler.Backends.Cuda.CudaCapabilities.Supports } };
        var placed = PassManager.Run(IrTest.Parse(Rnn), PassRegistry.Cuda, options).Unwrap();
        var text = GraphCompiler.IR.Text.Printer.Print(placed);
        Assert.Matches(@"while [^\n]*gpu_carried = \[1\]", text);
        Assert.Matches(@"compare [^\n]*device = cpu", text);
        var loop = placed.Entry.Body.Operations.Single(o => o.Def is GraphCompiler.IR.Ops.WhileOp);
        Assert.DoesNotContain(loop.Regions.SelectMany(r => r.Operations), o => o.Def is GraphCompiler.IR.Ops.SendOp or GraphCompiler.IR.Ops.RecvOp);

        var rng = new Random(iterations + 20);
        Tensor Uniform(int rows, int cols, double scale) =>
            Tensor.FromDoubles(new TensorType(ElementType.F32, rows, cols), [.. Enumerable.Range(0, rows * cols).Select(_ => (rng.NextDouble() - 0.5) * scale)]);
        var copied = CudaEmulator.Copied;
        RunAndCompare(placed, rtol: 1e-4, atol: 1e-5, inputs: [Uniform(64, 256, 2), Uniform(256, 256, 0.2), Tensor.FromDoubles(new TensorType(ElementType.I32), [iterations])], branches: true);
        var after = CudaEmulator.Copied;
        Assert.Equal(64 * 256 * 4 + 256 * 256 * 4, after.ToDevice - copied.ToDevice);
        Assert.Equal(64 * 256 * 4, after.ToHost - copied.ToHost);
    }

    /// <summary>
    /// Carried values that rotate on the GPU, a' = tanh(a + b) and b' = a: the yield of a as b' is copied through b's own device
    /// slot first, since a's buffer is overwritten in the same step; all three carried values stay on the GPU.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4)]
    public void CarriedValuesRotateOnTheGpu(int iterations)
    {
        var placed = PlaceOnGpu("""
            func @main(%a0: tensor<128x128xf32>, %b0: tensor<128x128xf32>, %n: tensor<i32>) -> (tensor<128x128xf32>, tensor<128x128xf32>) {
              %zero = constant {value = dense<0>} : tensor<i32>
              %one = constant {value = dense<1>} : tensor<i32>
              %i, %a, %b = while %zero, %a0, %b0 : tensor<i32>, tensor<128x128xf32>, tensor<128x128xf32>
                cond(%ci: tensor<i32>, %ca: tensor<128x128xf32>, %cb: tensor<128x128xf32>) {
                  %p = compare %ci, %n {direction = lt} : tensor<bool>
                  yield %p
                }
                body(%bi: tensor<i32>, %ba: tensor<128x128xf32>, %bb: tensor<128x128xf32>) {
                  %s = add %ba, %bb : tensor<128x128xf32>
                  %t = tanh %s : tensor<128x128xf32>
                  %bn = add %bi, %one : tensor<i32>
                  yield %bn, %t, %ba
                }
              return %a, %b
            }
            """);
        Assert.Matches(@"while [^\n]*gpu_carried = \[0, 1, 2\]", GraphCompiler.IR.Text.Printer.Print(placed));
        var rng = new Random(iterations + 30);
        Tensor Uniform() => Tensor.FromDoubles(new TensorType(ElementType.F32, 128, 128), [.. Enumerable.Range(0, 128 * 128).Select(_ => rng.NextDouble() - 0.5)]);
        RunAndCompare(placed, rtol: 1e-5, atol: 1e-6, inputs: [Uniform(), Uniform(), Tensor.FromDoubles(new TensorType(ElementType.I32), [iterations])], branches: true);
    }

    /// <summary>
    /// A case inside a loop, all on the GPU: branch i mod 3 runs tanh, a square, or yields a constant. Every branch yields on
    /// the GPU or a constant (uploaded with the kernels' constants), so the case keeps its result there (<c>gpu_results</c>),
    /// and the loop its state; per iteration only the case's index and the loop's predicate cross to the host.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(0)]
    [InlineData(5)]
    public void BranchResultsStayOnTheGpuInsideALoop(int iterations)
    {
        var placed = PlaceOnGpu("""
            func @main(%h0: tensor<64x64xf32>, %n: tensor<i32>) -> (tensor<64x64xf32>) {
              %zero = constant {value = dense<0>} : tensor<i32>
              %one = constant {value = dense<1>} : tensor<i32>
              %three = constant {value = dense<3>} : tensor<i32>
              %i, %h = while %zero, %h0 : tensor<i32>, tensor<64x64xf32>
                cond(%ci: tensor<i32>, %ch: tensor<64x64xf32>) {
                  %p = compare %ci, %n {direction = lt} : tensor<bool>
                  yield %p
                }
                body(%bi: tensor<i32>, %bh: tensor<64x64xf32>) {
                  %r = rem %bi, %three : tensor<i32>
                  %u = case %r : tensor<64x64xf32>
                    branch() {
                      %t = tanh %bh : tensor<64x64xf32>
                      yield %t
                    }
                    branch() {
                      %s = mul %bh, %bh : tensor<64x64xf32>
                      yield %s
                    }
                    branch() {
                      %c = constant {value = dense<0.25>} : tensor<64x64xf32>
                      yield %c
                    }
                  %bn = add %bi, %one : tensor<i32>
                  yield %bn, %u
                }
              return %h
            }
            """);
        var text = GraphCompiler.IR.Text.Printer.Print(placed);
        Assert.Matches(@"case [^\n]*gpu_results = \[0\]", text);
        Assert.Matches(@"while [^\n]*gpu_carried = \[0, 1\]", text);
        var rng = new Random(iterations + 40);
        var h0 = Tensor.FromDoubles(new TensorType(ElementType.F32, 64, 64), [.. Enumerable.Range(0, 64 * 64).Select(_ => rng.NextDouble() * 2 - 1)]);
        var copied = CudaEmulator.Copied;
        RunAndCompare(placed, rtol: 1e-5, atol: 1e-6, inputs: [h0, Tensor.FromDoubles(new TensorType(ElementType.I32), [iterations])], branches: true);
        var after = CudaEmulator.Copied;
        const long state = 64 * 64 * 4;
        Assert.Equal(state + 4, after.ToDevice - copied.ToDevice); // h0 and n
        Assert.Equal(state + (iterations + 1) + 4L * iterations, after.ToHost - copied.ToHost); // h, each predicate, each index
    }

    /// <summary>
    /// Training through a loop on the GPU: the gradient of h ← tanh(h·W) over 6 steps with respect to W and h0 (the forward
    /// loop stacks each step's state, the reverse loop walks the stack back), every op forced onto the GPU: both loops keep
    /// their carried values there (the stacks and the gradients' accumulators included), and the value and both gradients
    /// match the interpreter's.
    /// </summary>
    [CudaEmulatorFact]
    public void TheGradientOfARecurrentLoopRunsOnTheGpu()
    {
        var f = IrTest.Parse("""
            func @main(%w: tensor<64x64xf32>, %h0: tensor<8x64xf32>) -> (tensor<8x64xf32>) {
              %zero = constant {value = dense<0>} : tensor<i64>
              %n = constant {value = dense<6>} : tensor<i64>
              %i, %h = while %zero, %h0 : tensor<i64>, tensor<8x64xf32>
                cond(%ci: tensor<i64>, %ch: tensor<8x64xf32>) {
                  %p = compare %ci, %n {direction = lt} : tensor<bool>
                  yield %p
                }
                body(%bi: tensor<i64>, %bh: tensor<8x64xf32>) {
                  %one = constant {value = dense<1>} : tensor<i64>
                  %next = add %bi, %one : tensor<i64>
                  %m = dot_general %bh, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<8x64xf32>
                  %t = tanh %m : tensor<8x64xf32>
                  yield %next, %t
                }
              return %h
            }
            """).Entry;
        var module = new Module([GraphCompiler.IR.Autodiff.Gradients.Differentiate(f, 0, [0, 1], "main")]);
        var placed = CudaBackendTests.PlaceOnGpu(module);
        var loops = Placement.HostedOps(placed.Entry.Body).Where(o => o.Def is GraphCompiler.IR.Ops.WhileOp).ToList();
        Assert.True(loops.Count >= 2, $"{loops.Count} loops: the forward one and the reverse one");
        Assert.All(loops, l => Assert.True(l.Attributes["gpu_carried"] is not null, "a loop keeps nothing on the GPU"));
        var rng = new Random(23);
        Tensor[] inputs = [.. f.ArgumentTypes.Select((t, k) => Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => (rng.NextDouble() - 0.5) * (k == 0 ? 0.3 : 2))]))];
        RunAndCompare(placed, rtol: 1e-4, atol: 1e-5, inputs: inputs, branches: true);
    }

    /// <summary>
    /// Every way of splitting a loop with a branch inside between the devices is computed alike: each op of the regions and
    /// the one after the loop on the CPU or the GPU, any subset of the carried values kept on the GPU and the branch's
    /// result too, drawn at random (seeded), connected by insert-transfers alone, against the interpreter. The loop carries
    /// a counter, a state through a product and tanh, and an accumulator that the branch adds the state to or subtracts it
    /// from by the counter's parity.
    /// </summary>
    [CudaEmulatorTheory]
    [MemberData(nameof(Seeds))]
    public void AnySplitOfALoopBetweenTheDevicesComputesTheSame(int seed)
    {
        var rng = new Random(seed);
        string D() => rng.Next(2) == 0 ? "cpu" : "gpu";
        string Subset(int n) => string.Join(", ", Enumerable.Range(0, n).Where(_ => rng.Next(2) == 1));
        string Listed(string attr, string subset) => subset.Length == 0 ? "" : $", {attr} = [{subset}]";
        var text = $$"""
            func @main(%x: tensor<16x16xf32>, %w: tensor<16x16xf32>, %n: tensor<i32>) -> (tensor<16x16xf32>, tensor<16x16xf32>) {
              %zero = constant {value = dense<0>} : tensor<i32>
              %one = constant {value = dense<1>} : tensor<i32>
              %two = constant {value = dense<2>} : tensor<i32>
              %z = constant {value = dense<0.0>} : tensor<16x16xf32>
              %i, %h, %acc = while %zero, %x, %z {device = cpu{{Listed("gpu_carried", Subset(3))}}} : tensor<i32>, tensor<16x16xf32>, tensor<16x16xf32>
                cond(%ci: tensor<i32>, %ch: tensor<16x16xf32>, %ca: tensor<16x16xf32>) {
                  %p = compare %ci, %n {device = {{D()}}, direction = lt} : tensor<bool>
                  yield %p
                }
                body(%bi: tensor<i32>, %bh: tensor<16x16xf32>, %ba: tensor<16x16xf32>) {
                  %m = dot_general %bh, %w {device = {{D()}}, lhs_contract = [1], rhs_contract = [0]} : tensor<16x16xf32>
                  %t = tanh %m {device = {{D()}}} : tensor<16x16xf32>
                  %r = rem %bi, %two {device = {{D()}}} : tensor<i32>
                  %even = compare %r, %zero {device = {{D()}}, direction = eq} : tensor<bool>
                  %u = if %even {device = cpu{{Listed("gpu_results", Subset(1))}}} : tensor<16x16xf32>
                    then() {
                      %s = add %ba, %t {device = {{D()}}} : tensor<16x16xf32>
                      yield %s
                    }
                    else() {
                      %d = sub %ba, %t {device = {{D()}}} : tensor<16x16xf32>
                      yield %d
                    }
                  %bn = add %bi, %one {device = {{D()}}} : tensor<i32>
                  yield %bn, %t, %u
                }
              %o = add %h, %acc {device = {{D()}}} : tensor<16x16xf32>
              return %o, %acc
            }
            """;
        var placed = PassManager.Run(IrTest.Parse(text), new Pipeline("transfers", ["insert-transfers"]), PassOptions.Default).Unwrap();
        var inputs = new Tensor[]
        {
            Tensor.FromDoubles(new TensorType(ElementType.F32, 16, 16), [.. Enumerable.Range(0, 256).Select(_ => rng.NextDouble() - 0.5)]),
            Tensor.FromDoubles(new TensorType(ElementType.F32, 16, 16), [.. Enumerable.Range(0, 256).Select(_ => (rng.NextDouble() - 0.5) * 0.5)]),
            Tensor.FromDoubles(new TensorType(ElementType.I32), [rng.Next(0, 6)]),
        };
        RunAndCompare(placed, rtol: 1e-5, atol: 1e-6, inputs: inputs, branches: true);
    }

    public static IEnumerable<object[]> Seeds() => Enumerable.Range(1, 24).Select(s => new object[] { s });

    /// <summary>
    /// A loop whose body sends a CPU value to the GPU every iteration while nothing comes back (the condition is the CPU's):
    /// each iteration's send must wait for the previous copy to leave the pinned slot before refilling it. The emulator
    /// starts a copy to the device as late as it may, so without that wait every copy would read the last iteration's value.
    /// x ← x + broadcast(i + 1), n times: x0 + n(n + 1)/2.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(1)]
    [InlineData(6)]
    public void ALoopsRepeatedCopyToTheGpuWaitsForItsSlot(int iterations)
    {
        var module = IrTest.Parse("""
            func @main(%x0: tensor<256x256xf32>, %n: tensor<i32>) -> (tensor<256x256xf32>) {
              %zero = constant {value = dense<0>} : tensor<i32>
              %one = constant {value = dense<1>} : tensor<i32>
              %i, %x = while %zero, %x0 {device = cpu, gpu_carried = [1]} : tensor<i32>, tensor<256x256xf32>
                cond(%ci: tensor<i32>, %cx: tensor<256x256xf32>) {
                  %p = compare %ci, %n {device = cpu, direction = lt} : tensor<bool>
                  yield %p
                }
                body(%bi: tensor<i32>, %bx: tensor<256x256xf32>) {
                  %bn = add %bi, %one {device = cpu} : tensor<i32>
                  %f = convert %bn {device = cpu} : tensor<f32>
                  %fb = broadcast_in_dim %f {device = cpu, dims = []} : tensor<256x256xf32>
                  %s = add %bx, %fb {device = gpu} : tensor<256x256xf32>
                  yield %bn, %s
                }
              return %x
            }
            """);
        var placed = PassManager.Run(module, new Pipeline("transfers", ["insert-transfers"]), PassOptions.Default).Unwrap();
        var body = placed.Entry.Body.Operations.Single(o => o.Def is GraphCompiler.IR.Ops.WhileOp).Regions[1];
        Assert.Contains(body.Operations, o => o.Def is GraphCompiler.IR.Ops.SendOp && o.Attr.Enum("to") == Placement.Gpu);
        Assert.DoesNotContain(body.Operations, o => o.Def is GraphCompiler.IR.Ops.SendOp && o.Attr.Enum("to") == Placement.Cpu);
        var rng = new Random(iterations);
        var x0 = Tensor.FromDoubles(new TensorType(ElementType.F32, 256, 256), [.. Enumerable.Range(0, 256 * 256).Select(_ => rng.NextDouble())]);
        RunAndCompare(placed, rtol: 1e-6, atol: 0, inputs: [x0, Tensor.FromDoubles(new TensorType(ElementType.I32), [iterations])], branches: true);
    }

    /// <summary>
    /// if with GPU branches: a product and exp in one, a sum in the other; the predicate is read by the host, which runs
    /// one branch; both operands are received on the GPU before the if.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void IfBranchesRunOnTheGpu(bool predicate)
    {
        var placed = PlaceOnGpu("""
            func @main(%p: tensor<bool>, %x: tensor<128x128xf32>, %w: tensor<128x128xf32>) -> (tensor<128x128xf32>) {
              %r = if %p : tensor<128x128xf32>
                then() {
                  %a = dot_general %x, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<128x128xf32>
                  %e = exp %a : tensor<128x128xf32>
                  yield %e
                }
                else() {
                  %s = add %x, %w : tensor<128x128xf32>
                  yield %s
                }
              return %r
            }
            """);
        var text = GraphCompiler.IR.Text.Printer.Print(placed);
        Assert.Matches(@"= if [^\n]*device = cpu", text);
        Assert.Matches(@"= fusion [^\n]*device = gpu, kind = output", text); // the product with exp after it
        Assert.Matches(@"= add [^\n]*device = gpu", text);
        var rng = new Random(predicate ? 1 : 2);
        Tensor Uniform() => Tensor.FromDoubles(new TensorType(ElementType.F32, 128, 128), [.. Enumerable.Range(0, 128 * 128).Select(_ => (rng.NextDouble() - 0.5) * 0.3)]);
        Tensor[] inputs = [Tensor.FromDoubles(new TensorType(ElementType.Bool), [predicate ? 1 : 0]), Uniform(), Uniform()];
        Assert.Matches(@"= if [^\n]*gpu_results = \[0\]", text); // both branches yield on the GPU: the result stays there
        long before = CudaEmulator.Launches;
        var copied = CudaEmulator.Copied;
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-5, inputs: inputs, branches: true);
        // The branch taken, not the other: one output fusion (a GEMM launch) or one add.
        Assert.Equal(2, program.Kernels);
        Assert.Equal(1, CudaEmulator.Launches - before);
        Assert.Equal(128 * 128 * 4, CudaEmulator.Copied.ToHost - copied.ToHost);
    }

    /// <summary>
    /// case with its branches on the host's choice: one yields an argument as it is (a host value), one runs a GPU kernel,
    /// one yields a constant; an index out of range runs the last branch, as the interpreter does.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(9)]
    public void CaseBranchesRunWhereThePlacementSays(int index)
    {
        var placed = PlaceOnGpu("""
            func @main(%i: tensor<i32>, %x: tensor<256x256xf32>, %w: tensor<256x256xf32>) -> (tensor<256x256xf32>) {
              %r = case %i : tensor<256x256xf32>
                branch() {
                  yield %x
                }
                branch() {
                  %d = mul %x, %w : tensor<256x256xf32>
                  %e = exp %d : tensor<256x256xf32>
                  yield %e
                }
                branch() {
                  %z = constant {value = dense<7.0>} : tensor<256x256xf32>
                  yield %z
                }
              return %r
            }
            """);
        var text = GraphCompiler.IR.Text.Printer.Print(placed);
        Assert.Matches(@"= case [^\n]*device = cpu", text);
        Assert.Matches(@"= (fusion|mul) [^\n]*device = gpu", text);
        var rng = new Random(index + 10);
        Tensor Uniform() => Tensor.FromDoubles(new TensorType(ElementType.F32, 256, 256), [.. Enumerable.Range(0, 256 * 256).Select(_ => rng.NextDouble() - 0.5)]);
        long before = CudaEmulator.Launches;
        RunAndCompare(placed, rtol: 1e-6, atol: 0, inputs: [Tensor.FromDoubles(new TensorType(ElementType.I32), [index]), Uniform(), Uniform()], branches: true);
        Assert.Equal(index == 1 ? 1 : 0, CudaEmulator.Launches - before);
    }

    /// <summary>
    /// Control flow inside control flow: an if whose then-branch runs a loop with a GPU body that reads a value computed on
    /// the GPU outside both (read there directly, no transfer in either region), and whose trip count is computed on the GPU
    /// too, compared with the counter there each iteration (the host reads the predicate). Each level is placed and
    /// connected as a body of its own.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void NestedControlFlowRunsItsInnerBodyOnTheGpu(bool predicate)
    {
        var placed = PlaceOnGpu("""
            func @main(%p: tensor<bool>, %x: tensor<64x64xf32>, %w: tensor<64x64xf32>, %k: tensor<i32>) -> (tensor<64x64xf32>) {
              %ws = mul %w, %w : tensor<64x64xf32>
              %two = constant {value = dense<2>} : tensor<i32>
              %n = add %k, %two : tensor<i32>
              %r = if %p : tensor<64x64xf32>
                then() {
                  %zero = constant {value = dense<0>} : tensor<i32>
                  %one = constant {value = dense<1>} : tensor<i32>
                  %i, %h = while %zero, %x : tensor<i32>, tensor<64x64xf32>
                    cond(%ci: tensor<i32>, %ch: tensor<64x64xf32>) {
                      %c = compare %ci, %n {direction = lt} : tensor<bool>
                      yield %c
                    }
                    body(%bi: tensor<i32>, %bh: tensor<64x64xf32>) {
                      %m = dot_general %bh, %ws {lhs_contract = [1], rhs_contract = [0]} : tensor<64x64xf32>
                      %t = tanh %m : tensor<64x64xf32>
                      %bn = add %bi, %one : tensor<i32>
                      yield %bn, %t
                    }
                  yield %h
                }
                else() {
                  %s = sub %x, %ws : tensor<64x64xf32>
                  yield %s
                }
              return %r
            }
            """);
        var text = GraphCompiler.IR.Text.Printer.Print(placed);
        Assert.Matches(@"= if [^\n]*device = cpu", text);
        Assert.Matches(@"= while [^\n]*device = cpu", text);
        Assert.Matches(@"= fusion [^\n]*device = gpu, kind = output", text);
        var rng = new Random(predicate ? 3 : 4);
        Tensor Uniform(double scale) => Tensor.FromDoubles(new TensorType(ElementType.F32, 64, 64), [.. Enumerable.Range(0, 64 * 64).Select(_ => (rng.NextDouble() - 0.5) * scale)]);
        Tensor[] inputs = [Tensor.FromDoubles(new TensorType(ElementType.Bool), [predicate ? 1 : 0]), Uniform(2), Uniform(0.5), Tensor.FromDoubles(new TensorType(ElementType.I32), [2])];
        long before = CudaEmulator.Launches;
        RunAndCompare(placed, rtol: 1e-4, atol: 1e-5, inputs: inputs, branches: true);
        // Four iterations of the inner body when the branch is taken.
        Assert.True(CudaEmulator.Launches - before >= (predicate ? 4 : 1), $"{CudaEmulator.Launches - before} launches");
    }
}
