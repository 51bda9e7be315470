using GraphCompiler.IR.Analysis;
using System.Text.Json;
using GraphCompiler.IR.Text;
using GraphCompiler.Passes;
using GraphCompiler.Tests.Cli;

namespace GraphCompiler.Tests.Passes;

/// <summary>
/// The example models of the memory tests, built with the IR builder (NHWC, f32, batch 1): a plain
/// CNN of conv → bias → relu blocks and a ResNet of residual blocks with batch norm folded to a scale
/// and a shift. Weights are splat constants so that the printed files stay small (memory does not
/// depend on their values). <c>examples/cnn.ir</c> and <c>examples/resnet_block.ir</c> are their text.
/// </summary>
public static class ModelGraphs
{
    private sealed class Net(IrBuilder b)
    {
        private int _layer;
        private static TensorType F32(params long[] shape) => new(ElementType.F32, shape);

        public Value Splat(TensorType t, double v) => b.Constant(Tensor.FromDoubles(t, [.. Enumerable.Repeat(v, (int)t.ElementCount)]));

        public Value Conv(Value x, long cout, long k, long stride)
        {
            long cin = x.Type.Shape[3];
            var w = Splat(F32(k, k, cin, cout), 0.01 * (1 + _layer++ % 7));
            long pad = (k - 1) / 2, h = (x.Type.Shape[1] + 2 * pad - k) / stride + 1, wd = (x.Type.Shape[2] + 2 * pad - k) / stride + 1;
            var attrs = AttrMap.Of(("dims", new StringAttr("b01f_01io->b01f")), ("window_strides", A.Ints(stride, stride)),
                ("padding_low", A.Ints(pad, pad)), ("padding_high", A.Ints(pad, pad)));
            return b.Emit("convolution", [x, w], attrs, F32(1, h, wd, cout));
        }

        /// <summary>x + broadcast(v), or x * broadcast(v): a per-channel vector.</summary>
        public Value Channel(string op, Value x, double v)
        {
            var c = Splat(F32(x.Type.Shape[3]), v);
            return b.Emit(op, x, b.BroadcastInDim(c, x.Type, 3));
        }

        public Value Relu(Value x) => b.Emit("max", x, Splat(x.Type, 0));

        public Value BatchNorm(Value x) => Channel("add", Channel("mul", x, 0.9), 0.05);

        public Value Head(Value x, long classes)
        {
            long c = x.Type.Shape[3], hw = x.Type.Shape[1] * x.Type.Shape[2];
            var sum = b.Emit("reduce", [x], ("kind", A.Enum("sum")), ("dims", A.Ints(1, 2)));
            var mean = b.Emit("mul", sum, Splat(sum.Type, 1.0 / hw));
            var w = Splat(F32(c, classes), 0.02);
            var logits = b.Emit("dot_general", [mean, w], AttrMap.Of(("lhs_contract", A.Ints(1)), ("rhs_contract", A.Ints(0))), F32(1, classes));
            var biased = b.Emit("add", logits, b.BroadcastInDim(Splat(F32(classes), 0.1), logits.Type, 1));
            var max = b.Emit("reduce", [biased], ("kind", A.Enum("max")), ("dims", A.Ints(1)));
            var e = b.Emit("exp", b.Emit("sub", biased, b.BroadcastInDim(max, biased.Type, 0)));
            var s = b.Emit("reduce", [e], ("kind", A.Enum("sum")), ("dims", A.Ints(1)));
            return b.Emit("div", e, b.BroadcastInDim(s, e.Type, 0));
        }
    }

    /// <summary>Stem conv, then 3 stages (16, 32, 64 channels at 32², 16², 8²) of 12 conv-bias-relu blocks, then pooling and a dense softmax.</summary>
    public static Module Cnn()
    {
        var fb = new FunctionBuilder("main");
        var x = fb.Arg(new TensorType(ElementType.F32, 1, 32, 32, 3), "image");
        var b = fb.Body;
        var net = new Net(b);
        b.SourceName = "stem";
        var h = net.Relu(net.Channel("add", net.Conv(x, 16, 3, 1), 0.1));
        long[] widths = [16, 32, 64];
        for (int s = 0; s < 3; s++)
            for (int k = 0; k < 12; k++)
            {
                b.SourceName = $"stage{s + 1}/conv{k + 1}";
                h = net.Relu(net.Channel("add", net.Conv(h, widths[s], 3, s > 0 && k == 0 ? 2 : 1), 0.1));
            }
        b.SourceName = "head";
        return new Module([fb.Return([net.Head(h, 10)], [new ResultInfo("probabilities")])]);
    }

    /// <summary>Stem conv, then 3 stages (16, 32, 64 channels) of 4 basic residual blocks (projection shortcut where the shape changes), then the head.</summary>
    public static Module ResNet()
    {
        var fb = new FunctionBuilder("main");
        var x = fb.Arg(new TensorType(ElementType.F32, 1, 32, 32, 3), "image");
        var b = fb.Body;
        var net = new Net(b);
        b.SourceName = "stem";
        var h = net.Relu(net.BatchNorm(net.Conv(x, 16, 3, 1)));
        long[] widths = [16, 32, 64];
        for (int s = 0; s < 3; s++)
            for (int k = 0; k < 4; k++)
            {
                long stride = s > 0 && k == 0 ? 2 : 1;
                var block = $"stage{s + 1}/block{k + 1}";
                b.SourceName = block + "/conv1";
                var y = net.Relu(net.BatchNorm(net.Conv(h, widths[s], 3, stride)));
                b.SourceName = block + "/conv2";
                y = net.BatchNorm(net.Conv(y, widths[s], 3, 1));
                b.SourceName = block + "/shortcut";
                var shortcut = stride == 1 ? h : net.BatchNorm(net.Conv(h, widths[s], 1, stride));
                b.SourceName = block + "/out";
                h = net.Relu(b.Emit("add", y, shortcut));
            }
        b.SourceName = "head";
        return new Module([fb.Return([net.Head(h, 10)], [new ResultInfo("probabilities")])]);
    }

    public static string Text(Module m, string comment) =>
        string.Join("", comment.Split('\n').Select(l => "// " + l + "\n")) + Printer.Print(m);
}

public sealed class BufferAssignmentTests
{
    private static Module Run(Module m, params string[] passes) =>
        PassManager.Run(m, new Pipeline("t", [.. passes]), new PassOptions { CheckEachPass = true }).Unwrap();

    /// <summary>Every invariant of a layout, each pair of arena values checked.</summary>
    private static void AssertValid(FunctionBuffers a, string what)
    {
        var arena = a.InArena.ToList();
        foreach (var v in arena)
        {
            Assert.True(v.Offset % 64 == 0 && v.Size % 64 == 0, $"{what}: {v.Name} at {v.Offset} size {v.Size} is not 64-aligned");
            Assert.True(v.Size >= v.Bytes && v.Offset + v.Size <= a.ArenaBytes, $"{what}: {v.Name} does not fit");
        }
        for (int i = 0; i < arena.Count; i++)
            for (int j = i + 1; j < arena.Count; j++)
            {
                var (p, q) = (arena[i], arena[j]);
                if (p.Size == 0 || q.Size == 0) continue;
                bool timeOverlap = p.Start <= q.End && q.Start <= p.End;
                bool spaceOverlap = p.Offset < q.Offset + q.Size && q.Offset < p.Offset + p.Size;
                if (!timeOverlap || !spaceOverlap) continue;
                // Only an in-place take-over may share: one ends at the op where the other begins.
                bool inPlace = p.Buffer == q.Buffer && (p.End == q.Start && q.SharesWith is not null || q.End == p.Start && p.SharesWith is not null);
                Assert.True(inPlace, $"{what}: {p.Name} [{p.Start},{p.End}] and {q.Name} [{q.Start},{q.End}] overlap at {p.Offset}/{q.Offset}");
            }
        Assert.True(a.ArenaBytes >= a.LowerBoundBytes, $"{what}: arena {a.ArenaBytes} below the lower bound {a.LowerBoundBytes}");
        Assert.True(a.ArenaBytes <= a.NoReuseBytes, $"{what}: arena {a.ArenaBytes} above the no-reuse total {a.NoReuseBytes}");
    }

    [Fact]
    public void RandomDagLayoutsNeverOverlapLiveBuffers()
    {
        for (int seed = 0; seed < 80; seed++)
        {
            var m = Run(RandomDags.Dag(seed, 10 + seed, regions: seed % 3 == 0), "schedule");
            AssertValid(BufferAssignment.Compute(m.Entry), $"seed {seed}");
            AssertValid(BufferAssignment.Compute(m.Entry, new BufferOptions { InPlace = false }), $"seed {seed} without in-place");
        }
    }

    [Fact]
    public void ArgumentsAndConstantsAreNotInTheArena()
    {
        var f = IrTest.Parse("""
            func @main(%x: tensor<100xf32>) -> (tensor<100xf32>) {
              %c = constant {value = dense<2.0>} : tensor<100xf32>
              %a = mul %x, %c : tensor<100xf32>
              return %a
            }
            """).Entry;
        var a = BufferAssignment.Compute(f);
        Assert.Equal([BufferKind.Argument, BufferKind.Constant, BufferKind.Arena], a.Values.Select(v => v.Kind));
        Assert.Equal(448, a.ArenaBytes); // 400 bytes rounded up to 64
        Assert.Equal(448, a.NoReuseBytes);
        Assert.Equal(448, a.LowerBoundBytes);
    }

    [Fact]
    public void ElementwiseChainsRunInPlace()
    {
        var f = IrTest.Parse("""
            func @main(%x: tensor<256xf32>) -> (tensor<256xi32>) {
              %a = exp %x : tensor<256xf32>
              %b = neg %a : tensor<256xf32>
              %c = convert %b : tensor<256xi32>
              %d = tanh %a : tensor<256xf32>
              return %c
            }
            """).Entry;
        var a = BufferAssignment.Compute(f);
        var v = a.Values.ToDictionary(x => x.Name);
        // %0 is still read by tanh (%3) after neg, so neg cannot take it; convert takes neg's buffer.
        Assert.Null(v["%1"].SharesWith);
        Assert.Equal("%1", v["%2"].SharesWith);
        Assert.Equal(v["%1"].Offset, v["%2"].Offset);
        Assert.Equal("%0", v["%3"].SharesWith);
        Assert.Equal(2048, a.ArenaBytes);
        Assert.Equal(4096, a.NoReuseBytes);
        var noInPlace = BufferAssignment.Compute(f, new BufferOptions { InPlace = false });
        Assert.Equal(3072, noInPlace.ArenaBytes);
        AssertValid(a, "chain");
    }

    [Fact]
    public void VariableUpdatesAliasTheirArgumentOnlyWhenItIsDead()
    {
        var m = IrTest.Parse("""
            func @main(%w: tensor<64xf32> {variable}, %g: tensor<64xf32>) -> (tensor<64xf32> {updates = %w}, tensor<64xf32>) {
              %n = sub %w, %g : tensor<64xf32>
              %y = mul %n, %g : tensor<64xf32>
              return %n, %y
            }
            func @late(%w: tensor<64xf32> {variable}, %g: tensor<64xf32>) -> (tensor<64xf32> {updates = %w}, tensor<64xf32>) {
              %n = sub %w, %g : tensor<64xf32>
              %y = mul %w, %g : tensor<64xf32>
              return %n, %y
            }
            """);
        var main = BufferAssignment.Compute(m.Find("main")!);
        var n = main.Values.Single(v => v.Name == "%0");
        Assert.Equal(BufferKind.VariableAlias, n.Kind);
        Assert.Equal("%arg0", n.SharesWith);
        Assert.Equal(256, main.ArenaBytes); // only %y
        var late = BufferAssignment.Compute(m.Find("late")!); // %w is read after the update is computed
        Assert.Equal(BufferKind.Arena, late.Values.Single(v => v.Name == "%0").Kind);
        Assert.Equal(512, late.ArenaBytes);
    }

    [Fact]
    public void FusedVariableUpdatesAliasOnlyWhenTheKernelReadsTheVariableElementwise()
    {
        var m = IrTest.Parse("""
            func @loop(%w: tensor<8x8xf32> {variable}, %g: tensor<8x8xf32>) -> (tensor<8x8xf32> {updates = %w}) {
              %n = fusion %w, %g {kind = loop} : tensor<8x8xf32>
                body(%a: tensor<8x8xf32>, %b: tensor<8x8xf32>) {
                  %e = exp %b : tensor<8x8xf32>
                  %s = sub %a, %e : tensor<8x8xf32>
                  yield %s
                }
              return %n
            }
            func @transposed(%w: tensor<8x8xf32> {variable}, %g: tensor<8x8xf32>) -> (tensor<8x8xf32> {updates = %w}) {
              %n = fusion %w, %g {kind = loop} : tensor<8x8xf32>
                body(%a: tensor<8x8xf32>, %b: tensor<8x8xf32>) {
                  %t = transpose %a {perm = [1, 0]} : tensor<8x8xf32>
                  %s = sub %t, %b : tensor<8x8xf32>
                  yield %s
                }
              return %n
            }
            func @epilogue(%w: tensor<8x8xf32> {variable}, %x: tensor<8x4xf32>, %d: tensor<4x8xf32>) -> (tensor<8x8xf32> {updates = %w}) {
              %n = fusion %x, %d, %w {kind = output} : tensor<8x8xf32>
                body(%a: tensor<8x4xf32>, %b: tensor<4x8xf32>, %c: tensor<8x8xf32>) {
                  %g = dot_general %a, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<8x8xf32>
                  %s = sub %c, %g : tensor<8x8xf32>
                  yield %s
                }
              return %n
            }
            func @independent(%w: tensor<8x8xf32> {variable}, %g: tensor<8x8xf32>) -> (tensor<8x8xf32> {updates = %w}, tensor<8x8xf32>) {
              %n, %y = fusion %w, %g {kind = loop} : tensor<8x8xf32>, tensor<8x8xf32>
                body(%a: tensor<8x8xf32>, %b: tensor<8x8xf32>) {
                  %e = exp %b : tensor<8x8xf32>
                  %s = mul %a, %b : tensor<8x8xf32>
                  yield %e, %s
                }
              return %n, %y
            }
            """);
        BufferKind KindOfUpdate(string f) => BufferAssignment.Compute(m.Find(f)!).Values.Single(v => v.Name == "%0").Kind;
        Assert.Equal(BufferKind.VariableAlias, KindOfUpdate("loop"));
        Assert.Equal(BufferKind.VariableAlias, KindOfUpdate("epilogue")); // the contraction reads x and d; only the epilogue reads w
        // Element (i, j) of the new w needs element (j, i) of the old, which an earlier element already overwrote.
        Assert.Equal(BufferKind.Arena, KindOfUpdate("transposed"));
        // The new w does not depend on w: nothing orders its store after the load of w that %y needs.
        Assert.Equal(BufferKind.Arena, KindOfUpdate("independent"));
    }

    [Fact]
    public void NestedRegionValuesLiveForTheirOwnerOp()
    {
        var f = IrTest.Parse("""
            func @main(%x: tensor<64xf32>, %p: tensor<bool>) -> (tensor<64xf32>) {
              %a = exp %x : tensor<64xf32>
              %r = if %p : tensor<64xf32>
                then() {
                  %t = tanh %a : tensor<64xf32>
                  %u = neg %t : tensor<64xf32>
                  yield %u
                }
                else() {
                  yield %a
                }
              %z = abs %r : tensor<64xf32>
              return %z
            }
            """).Entry;
        var a = BufferAssignment.Compute(f);
        var v = a.Values.ToDictionary(x => x.Name);
        Assert.Equal((1, 1), (v["%2"].Start, v["%2"].End));
        Assert.Equal((1, 1), (v["%3"].Start, v["%3"].End));
        Assert.Null(v["%3"].SharesWith); // no in-place inside regions
        Assert.Equal((0, 1), (v["%0"].Start, v["%0"].End)); // read inside the region: live to the if
        Assert.Equal(4 * 256, a.LowerBoundBytes); // at the if: %a, %r, %t, %u
        AssertValid(a, "if");
    }

    public static TheoryData<string> Models => ["cnn", "resnet"];

    /// <summary>The acceptance numbers: peak within 10% of the lower bound and well under no reuse.</summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void RealisticModelsNeedLittleMoreThanTheLowerBound(string name)
    {
        var model = name == "cnn" ? ModelGraphs.Cnn() : ModelGraphs.ResNet();
        Assert.InRange(model.Entry.Body.Operations.Length, 200, 600);
        var scheduled = Run(model, PassRegistry.Default.Passes.ToArray());
        var a = BufferAssignment.Compute(scheduled.Entry);
        AssertValid(a, name);
        Assert.True(a.ArenaBytes <= 1.1 * a.LowerBoundBytes, $"{name}: peak {a.ArenaBytes} > 1.1 x lower bound {a.LowerBoundBytes}");
        Assert.True(a.ArenaBytes * 5 < a.NoReuseBytes, $"{name}: peak {a.ArenaBytes} not well under no-reuse {a.NoReuseBytes}");
    }

    /// <summary>
    /// An importer that emits every constant and bias/scale broadcast first (TensorFlow node order, say)
    /// keeps dozens of activation-sized broadcasts live from the start; <c>schedule</c> moves each one
    /// down to its reader and the arena falls back to the lower bound of the good order.
    /// </summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void SchedulingRepairsAHoistedOrder(string name)
    {
        var model = name == "cnn" ? ModelGraphs.Cnn() : ModelGraphs.ResNet();
        var ops = model.Entry.Body.Operations;
        bool Hoisted(Operation op) => op.Name == "constant" ||
            op.Name == "broadcast_in_dim" && ops.Any(c => c.Name == "constant" && c.Results[0] == op.Operands[0]);
        var hoisted = new Module([model.Entry.WithBody(model.Entry.Body.WithOperations([.. ops.Where(Hoisted), .. ops.Where(o => !Hoisted(o))]))]);
        var before = BufferAssignment.Compute(Run(hoisted, "dce").Entry);
        var after = BufferAssignment.Compute(Run(hoisted, PassRegistry.Default.Passes.ToArray()).Entry);
        Console.WriteLine($"{name} hoisted: dce only peak {before.ArenaBytes} lb {before.LowerBoundBytes}; default peak {after.ArenaBytes} lb {after.LowerBoundBytes} no-reuse {after.NoReuseBytes}");
        AssertValid(before, name + " hoisted");
        AssertValid(after, name + " scheduled");
        Assert.True(before.ArenaBytes > 4 * after.ArenaBytes, $"{name}: {before.ArenaBytes} vs {after.ArenaBytes}");
        Assert.True(after.ArenaBytes <= 1.1 * after.LowerBoundBytes);
    }

    [Theory]
    [InlineData("cnn.ir")]
    [InlineData("resnet_block.ir")]
    public void ExampleFilesAreTheBuiltModels(string file)
    {
        var path = Path.Combine(GoldenFile.RepoRoot(), "examples", file);
        var (model, comment) = file == "cnn.ir"
            ? (ModelGraphs.Cnn(), "A plain CNN (NHWC, f32): a stem conv, 3 stages of 12 conv -> bias -> relu blocks\n(16, 32, 64 channels at 32x32, 16x16, 8x8), global average pooling, dense softmax over 10 classes.\nWeights are splat constants to keep the file small. Generated by ModelGraphs.Cnn (tests); see docs/passes.md:\n  gcc-cli ir examples/cnn.ir --memory-report")
            : (ModelGraphs.ResNet(), "A small ResNet (NHWC, f32): a stem conv, 3 stages of 4 basic residual blocks (conv-bn-relu-conv-bn\n+ shortcut, relu; 1x1 projection shortcuts where the shape changes), pooling, dense softmax over 10 classes.\nBatch norm is folded to a per-channel scale and shift. Weights are splat constants to keep the file small.\nGenerated by ModelGraphs.ResNet (tests); see docs/passes.md:\n  gcc-cli ir examples/resnet_block.ir --memory-report");
        var text = ModelGraphs.Text(model, comment);
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1") File.WriteAllText(path, text);
        Assert.Equal(text, File.ReadAllText(path).ReplaceLineEndings("\n"));
    }

    [Fact]
    public void CliPrintsTheReportLastAndJsonOnRequest()
    {
        var path = Path.Combine(GoldenFile.RepoRoot(), "examples", "resnet_block.ir");
        var (code, stdout, stderr) = CliTests.Run("ir", path, "--memory-report");
        Assert.True(code == 0, stderr);
        var last = stdout.TrimEnd('\n').Split('\n')[^1];
        var match = System.Text.RegularExpressions.Regex.Match(last, @"^memory: peak (\d+) bytes, no-reuse (\d+) bytes, lower bound (\d+) bytes$");
        Assert.True(match.Success, last);
        Assert.StartsWith("// memory @main: arena ", stdout); // only the report: no IR before it
        Assert.DoesNotContain("func @main(", stdout);
        var expected = BufferAssignment.Compute(Run(ModelGraphs.ResNet(), PassRegistry.Default.Passes.ToArray()).Entry);
        Assert.Equal(expected.ArenaBytes, long.Parse(match.Groups[1].Value));
        Assert.Equal(expected.NoReuseBytes, long.Parse(match.Groups[2].Value));
        Assert.Equal(expected.LowerBoundBytes, long.Parse(match.Groups[3].Value));

        (code, stdout, stderr) = CliTests.Run("ir", path, "--memory-report", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var main = doc.RootElement.GetProperty("functions")[0];
        Assert.Equal("main", main.GetProperty("name").GetString());
        Assert.Equal(expected.ArenaBytes, main.GetProperty("peak_bytes").GetInt64());
        Assert.Equal(expected.LowerBoundBytes, main.GetProperty("lower_bound_bytes").GetInt64());
        Assert.Equal(expected.Values.Length, main.GetProperty("values").GetArrayLength());

        (code, _, stderr) = CliTests.Run("ir", path, "--json");
        Assert.Equal(2, code);
        Assert.Contains("--memory-report", stderr);
    }
}
