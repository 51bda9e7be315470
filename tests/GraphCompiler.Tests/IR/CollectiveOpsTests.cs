using GraphCompiler.IR.Ops;
using GraphCompiler.IR.Text;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.IR;

/// <summary>
/// The collective ops (all_reduce, all_gather, reduce_scatter, collective_broadcast, replica_id): their
/// verifier, text form, traits as the passes read them, and their values in the interpreter, alone (a world
/// of one) and as N simulated replicas (<see cref="Interpreter.RunReplicated"/>), against hand-computed values.
/// </summary>
public sealed class CollectiveOpsTests
{
    /// <summary>Runs a one-argument entry as N replicas, replica r on <paramref name="input"/>(r); returns result 0 of each.</summary>
    private static Tensor[] Replicated(string text, int n, Func<int, Tensor> input)
    {
        var m = IrTest.Parse(text);
        IrTest.AssertRoundTrip(m);
        var r = new Interpreter(m).RunReplicated(null, [.. Enumerable.Range(0, n).Select(i => (IReadOnlyList<Tensor>)[input(i)])]);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        Assert.Equal(n, r.Value!.Count);
        return [.. r.Value.Select(o => o.Results[0])];
    }

    private static string ReplicatedError(string text, int n, Func<int, Tensor> input)
    {
        var r = new Interpreter(IrTest.Parse(text)).RunReplicated(null, [.. Enumerable.Range(0, n).Select(i => (IReadOnlyList<Tensor>)[input(i)])]);
        Assert.False(r.Ok, "expected the replicated run to fail");
        return string.Join("\n", r.Diagnostics);
    }

    private static string One(string body, string argType, string resultType) =>
        $"func @main(%x: {argType}) -> ({resultType}) {{\n  {body}\n  return %y\n}}\n";

    [Fact]
    public void EveryCollectiveRoundTripsThroughTheTextFormat()
    {
        const string text = """
            func @main(%x: tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<4x4xf32>, tensor<2x2xf32>, tensor<4x2xf32>, tensor<i32>) {
              %a = all_reduce %x {group_size = 2, groups = [0, 2, 1, 3], kind = mean} : tensor<4x2xf32>
              %g = all_gather %x {dim = 1, group_size = 2, groups = [0, 1, 2, 3]} : tensor<4x4xf32>
              %s = reduce_scatter %x {dim = 0, kind = sum} : tensor<2x2xf32>
              %b = collective_broadcast %x {root = 1, group_size = 4, groups = [3, 2, 1, 0]} : tensor<4x2xf32>
              %r = replica_id : tensor<i32>
              return %a, %g, %s, %b, %r
            }
            """;
        var m = IrTest.Parse(text);
        IrTest.AssertRoundTrip(m);
        var printed = Printer.Print(m, PrintOptions.Full);
        Assert.Contains("all_reduce %arg0 {group_size = 2, groups = [0, 2, 1, 3], kind = mean} : tensor<4x2xf32>", printed);
        Assert.Contains("reduce_scatter %arg0 {dim = 0, kind = sum} : tensor<2x2xf32>", printed);
        Assert.Contains("replica_id : tensor<i32>", printed);
    }

    [Theory]
    [InlineData("sum")]
    [InlineData("mean")]
    [InlineData("max")]
    [InlineData("min")]
    public void WithOneReplicaEveryReductionIsTheIdentity(string kind)
    {
        var x = T.F32([3], 1.5, -2, 7);
        var y = IrTest.Run(One($"%y = all_reduce %x {{kind = {kind}}} : tensor<3xf32>", "tensor<3xf32>", "tensor<3xf32>"), x)[0];
        Assert.Equal(x.Bytes.ToArray(), y.Bytes.ToArray());
    }

    [Fact]
    public void WithOneReplicaGatherScatterBroadcastAndReplicaIdAreTrivial()
    {
        var x = T.F32([2, 2], 1, 2, 3, 4);
        Assert.Equal(x, IrTest.Run(One("%y = all_gather %x {dim = 1} : tensor<2x2xf32>", "tensor<2x2xf32>", "tensor<2x2xf32>"), x)[0]);
        Assert.Equal(x, IrTest.Run(One("%y = reduce_scatter %x {dim = 0, kind = sum} : tensor<2x2xf32>", "tensor<2x2xf32>", "tensor<2x2xf32>"), x)[0]);
        Assert.Equal(x, IrTest.Run(One("%y = collective_broadcast %x : tensor<2x2xf32>", "tensor<2x2xf32>", "tensor<2x2xf32>"), x)[0]);
        Assert.Equal(0, IrTest.Run(One("%y = replica_id : tensor<i32>", "tensor<2x2xf32>", "tensor<i32>"), x)[0].GetInt64(0));
        // Shapes for two replicas do not run as one.
        Assert.Contains("assume 2 replicas, the world has 1", IrTest.RunError(One("%y = all_gather %x {dim = 0} : tensor<4x2xf32>", "tensor<2x2xf32>", "tensor<4x2xf32>"), x));
        Assert.Contains("groups list 2 replicas, the world has 1",
            IrTest.RunError(One("%y = all_reduce %x {group_size = 1, groups = [1, 0], kind = sum} : tensor<2x2xf32>", "tensor<2x2xf32>", "tensor<2x2xf32>"), x));
    }

    [Fact]
    public void OneReplicatedReplicaIsAPlainRun()
    {
        // Every op at once, N = 1 through RunReplicated: the same values as Run, a world of one.
        const string text = """
            func @main(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<i32>) {
              %a = all_reduce %x {kind = mean} : tensor<2x2xf32>
              %g = all_gather %x {dim = 1} : tensor<2x2xf32>
              %s = reduce_scatter %x {dim = 0, kind = max} : tensor<2x2xf32>
              %b = collective_broadcast %x : tensor<2x2xf32>
              %r = replica_id : tensor<i32>
              return %a, %g, %s, %b, %r
            }
            """;
        var x = T.F32([2, 2], 1, -2, 3.5, 4);
        var one = new Interpreter(IrTest.Parse(text)).RunReplicated(null, [[x]]);
        Assert.True(one.Ok, string.Join("\n", one.Diagnostics));
        Assert.Equal(IrTest.Run(text, x).ToArray(), one.Value![0].Results.ToArray());
        Assert.All(one.Value[0].Results.Take(4), y => Assert.Equal(x, y));
        Assert.Equal(0, one.Value[0].Results[4].GetInt64(0));
    }

    [Theory]
    [InlineData("sum", 6, 60)]
    [InlineData("mean", 1.5, 15)]
    [InlineData("max", 3, 30)]
    [InlineData("min", 0, 0)]
    public void AllReduceOverFourReplicas(string kind, double first, double second)
    {
        var ys = Replicated(One($"%y = all_reduce %x {{kind = {kind}}} : tensor<2xf32>", "tensor<2xf32>", "tensor<2xf32>"), 4, r => T.F32([2], r, 10 * r));
        foreach (var y in ys) IrTest.AssertTensor(T.F32([2], first, second), y, rtol: 0);
    }

    [Fact]
    public void AllReduceWithinGroups()
    {
        // Groups {0, 2} and {1, 3}: replicas 0 and 2 get 1 + 3, replicas 1 and 3 get 2 + 4 (x_r = r + 1).
        var text = One("%y = all_reduce %x {group_size = 2, groups = [0, 2, 1, 3], kind = sum} : tensor<f64>", "tensor<f64>", "tensor<f64>");
        var ys = Replicated(text, 4, r => T.F64([], r + 1));
        Assert.Equal(new[] { 4.0, 6, 4, 6 }, ys.Select(y => y.GetDouble(0)));
        // Groups of one: the identity, in a world of two.
        var alone = Replicated(One("%y = all_reduce %x {group_size = 1, groups = [0, 1], kind = max} : tensor<f64>", "tensor<f64>", "tensor<f64>"), 2, r => T.F64([], 5 * r));
        Assert.Equal(new[] { 0.0, 5 }, alone.Select(y => y.GetDouble(0)));
    }

    [Fact]
    public void AllReduceRoundsOnceAfterAnExactF64Sum()
    {
        // 2^24 + 1 + 1 in f32 steps loses both ones (2^24 + 1 rounds to 2^24); summed in f64 and rounded once it is 2^24 + 2.
        float big = 16777216f;
        var ys = Replicated(One("%y = all_reduce %x {kind = sum} : tensor<f32>", "tensor<f32>", "tensor<f32>"), 3, r => T.F32([], r == 0 ? big : 1));
        foreach (var y in ys) Assert.Equal(16777218.0, y.GetDouble(0));
    }

    [Fact]
    public void AllGatherConcatenatesInRankOrder()
    {
        // Two replicas, dim 1: x_r = [[r], [10 + r]] -> [[0, 1], [10, 11]] on both.
        var two = Replicated(One("%y = all_gather %x {dim = 1} : tensor<2x2xi32>", "tensor<2x1xi32>", "tensor<2x2xi32>"), 2, r => T.I32([2, 1], r, 10 + r));
        foreach (var y in two) Assert.Equal(new[] { 0, 1, 10, 11 }, y.ToArray<int>());
        // Four replicas in groups {3, 1} and {0, 2}, dim 0: rank order is the listed order.
        var four = Replicated(One("%y = all_gather %x {dim = 0, group_size = 2, groups = [3, 1, 0, 2]} : tensor<4xf32>", "tensor<2xf32>", "tensor<4xf32>"), 4,
            r => T.F32([2], r, -r));
        Assert.Equal(new float[] { 0, 0, 2, -2 }, four[0].ToArray<float>());
        Assert.Equal(new float[] { 3, -3, 1, -1 }, four[1].ToArray<float>());
        Assert.Equal(four[0], four[2]);
        Assert.Equal(four[1], four[3]);
    }

    [Fact]
    public void ReduceScatterGivesEachRankItsBlockOfTheSum()
    {
        // x_r = [1, 2, 3, 4] + r over two replicas: the sum is [3, 5, 7, 9]; rank 0 gets [3, 5], rank 1 [7, 9].
        var ys = Replicated(One("%y = reduce_scatter %x {dim = 0, kind = sum} : tensor<2xf32>", "tensor<4xf32>", "tensor<2xf32>"), 2,
            r => T.F32([4], 1 + r, 2 + r, 3 + r, 4 + r));
        Assert.Equal(new float[] { 3, 5 }, ys[0].ToArray<float>());
        Assert.Equal(new float[] { 7, 9 }, ys[1].ToArray<float>());
        // Dim 1 of a 2x4, groups {1, 0} and {2, 3}, mean: x_r = r everywhere except row 1 = 10 r.
        var text = One("%y = reduce_scatter %x {dim = 1, group_size = 2, groups = [1, 0, 2, 3], kind = mean} : tensor<2x2xf32>", "tensor<2x4xf32>", "tensor<2x2xf32>");
        var four = Replicated(text, 4, r => T.F32([2, 4], r, r, r, r, 10 * r, 10 * r, 10 * r, 10 * r));
        Assert.Equal(new float[] { 0.5f, 0.5f, 5, 5 }, four[0].ToArray<float>());
        Assert.Equal(new float[] { 2.5f, 2.5f, 25, 25 }, four[3].ToArray<float>());
        Assert.Equal(four[0], four[1]); // same sums, and both halves of a row are equal
    }

    [Fact]
    public void BroadcastSendsTheRootsOperand()
    {
        var text = One("%y = collective_broadcast %x {group_size = 2, groups = [0, 1, 2, 3], root = 1} : tensor<2xi64>", "tensor<2xi64>", "tensor<2xi64>");
        var ys = Replicated(text, 4, r => T.I64([2], r, 100 * r));
        Assert.Equal(new long[] { 1, 100, 1, 100, 3, 300, 3, 300 }, ys.SelectMany(y => y.ToArray<long>()));
        Assert.Contains("root 2 is not a position in a group of 2",
            ReplicatedError(One("%y = collective_broadcast %x {root = 2} : tensor<2xi64>", "tensor<2xi64>", "tensor<2xi64>"), 2, r => T.I64([2], r, r)));
    }

    [Fact]
    public void ReplicaIdSlicesPerReplicaData()
    {
        // Each replica takes row replica_id of a shared 4x2 table, then all replicas sum their rows.
        const string text = """
            func @main(%t: tensor<4x2xf32>) -> (tensor<i32>, tensor<1x2xf32>) {
              %r = replica_id : tensor<i32>
              %z = constant {value = dense<0>} : tensor<i32>
              %row = dynamic_slice %t, %r, %z {sizes = [1, 2]} : tensor<1x2xf32>
              %s = all_reduce %row {kind = sum} : tensor<1x2xf32>
              return %r, %s
            }
            """;
        var m = IrTest.Parse(text);
        var table = T.F32([4, 2], 1, 2, 3, 4, 5, 6, 7, 8);
        var r = new Interpreter(m).RunReplicated(null, [[table], [table], [table], [table]]);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        Assert.Equal(new long[] { 0, 1, 2, 3 }, r.Value!.Select(o => o.Results[0].GetInt64(0)));
        foreach (var o in r.Value!) Assert.Equal(new float[] { 16, 20 }, o.Results[1].ToArray<float>());
    }

    [Fact]
    public void CollectivesInALoopMeetOncePerIteration()
    {
        // Three iterations of acc = all_reduce(acc + 1) over two replicas starting at r: (0+1)+(1+1)=3, 2*(3+1)=8, 2*(8+1)=18.
        const string text = """
            func @main(%x: tensor<f32>) -> (tensor<f32>) {
              %zero = constant {value = dense<0>} : tensor<i32>
              %i, %acc = while %zero, %x : tensor<i32>, tensor<f32>
                cond(%c: tensor<i32>, %a0: tensor<f32>) {
                  %three = constant {value = dense<3>} : tensor<i32>
                  %lt = compare %c, %three {direction = lt} : tensor<bool>
                  yield %lt
                }
                body(%c: tensor<i32>, %a: tensor<f32>) {
                  %one = constant {value = dense<1>} : tensor<i32>
                  %onef = constant {value = dense<1.0>} : tensor<f32>
                  %n = add %c, %one : tensor<i32>
                  %b = add %a, %onef : tensor<f32>
                  %s = all_reduce %b {kind = sum} : tensor<f32>
                  yield %n, %s
                }
              return %acc
            }
            """;
        foreach (var y in Replicated(text, 2, r => T.F32([], r))) Assert.Equal(18.0, y.GetDouble(0));
    }

    [Fact]
    public void AReplicaThatSkipsACollectiveFailsTheRunInsteadOfHanging()
    {
        const string text = """
            func @main(%x: tensor<f32>) -> (tensor<f32>) {
              %r = replica_id : tensor<i32>
              %z = constant {value = dense<0>} : tensor<i32>
              %p = compare %r, %z {direction = eq} : tensor<bool>
              %y = if %p : tensor<f32>
                then() {
                  %s = all_reduce %x {kind = sum} : tensor<f32>
                  yield %s
                }
                else() {
                  yield %x
                }
              return %y
            }
            """;
        var error = ReplicatedError(text, 2, r => T.F32([], r));
        Assert.Contains("replica 0: ", error);
        Assert.Contains("waits for replica 1, which finished without reaching it", error);
    }

    [Theory]
    [InlineData("%y = all_reduce %x {kind = sum} : tensor<4xi32>", "tensor<4xi32>", "reduces float tensors")]
    [InlineData("%y = all_reduce %x {group_size = 2, groups = [0, 1, 1, 2], kind = sum} : tensor<4xf32>", "tensor<4xf32>", "replica 1 is in two groups")]
    [InlineData("%y = all_reduce %x {group_size = 2, groups = [0, 1, 5, 2], kind = sum} : tensor<4xf32>", "tensor<4xf32>", "replica id 5 is outside 0..3")]
    [InlineData("%y = all_reduce %x {group_size = 3, groups = [0, 1, 2, 3], kind = sum} : tensor<4xf32>", "tensor<4xf32>", "not a multiple of group_size 3")]
    [InlineData("%y = all_reduce %x {group_size = 2, kind = sum} : tensor<4xf32>", "tensor<4xf32>", "group_size (2) is given without groups")]
    [InlineData("%y = reduce_scatter %x {dim = 0, group_size = 3, groups = [0, 1, 2], kind = sum} : tensor<1xf32>", "tensor<4xf32>", "dimension 0 (4) is not divisible by the group size 3")]
    [InlineData("%y = reduce_scatter %x {dim = 0, kind = sum} : tensor<3xf32>", "tensor<4xf32>", "must divide the operand's (4)")]
    [InlineData("%y = all_gather %x {dim = 0, group_size = 2, groups = [0, 1]} : tensor<6xf32>", "tensor<4xf32>", "result must be tensor<8xf32>")]
    [InlineData("%y = all_gather %x {dim = 1} : tensor<4xf32>", "tensor<4xf32>", "dim 1 is out of range")]
    [InlineData("%y = collective_broadcast %x {group_size = 2, groups = [0, 1], root = 2} : tensor<4xf32>", "tensor<4xf32>", "root 2 is not a position in a group of 2")]
    public void TheVerifierRejects(string body, string argType, string expected)
    {
        var resultType = body[(body.LastIndexOf(": ", StringComparison.Ordinal) + 2)..];
        IrTest.Rejects(One(body, argType, resultType), expected);
    }

    [Fact]
    public void CollectivesHaveSideEffectsAndReplicaIdIsNotFoldable()
    {
        foreach (var def in CollectiveOps.All.Where(d => d is CollectiveOp))
        {
            Assert.True(def.Has(OpTraits.HasSideEffects), def.Name);
            Assert.False(def.HasAny(OpTraits.Foldable | OpTraits.Elementwise | OpTraits.IndexRemap | OpTraits.Reduction), def.Name);
        }
        Assert.False(CollectiveOps.ReplicaId.Has(OpTraits.Foldable));
    }

    [Fact]
    public void NoPassFoldsMergesHoistsOrDropsACollective()
    {
        // An all_reduce of a constant (foldable operands), twice (CSE bait), and one whose result is unused (DCE bait),
        // and replica_id feeding arithmetic (folding bait).
        const string text = """
            func @main(%x: tensor<2xf32>) -> (tensor<2xf32>, tensor<i32>) {
              %c = constant {value = dense<[1.0, 2.0]>} : tensor<2xf32>
              %a = all_reduce %c {kind = sum} : tensor<2xf32>
              %b = all_reduce %c {kind = sum} : tensor<2xf32>
              %unused = all_gather %x {dim = 0} : tensor<4xf32>
              %s = add %a, %b : tensor<2xf32>
              %t = add %s, %x : tensor<2xf32>
              %r = replica_id : tensor<i32>
              %one = constant {value = dense<1>} : tensor<i32>
              %r1 = add %r, %one : tensor<i32>
              return %t, %r1
            }
            """;
        var m = IrTest.Parse(text);
        var after = PassManager.Run(m, new Pipeline("test", ["canonicalize", "hoist-constants", "cse", "dce", "fuse"]), new PassOptions { CheckEachPass = true }).Unwrap();
        var ops = Flatten(after.Entry.Body).ToList();
        Assert.Equal(2, ops.Count(o => o.Def == CollectiveOps.AllReduce));
        Assert.Single(ops, o => o.Def == CollectiveOps.AllGather);
        Assert.Single(ops, o => o.Def == CollectiveOps.ReplicaId);
        // No collective ended up inside a fusion body.
        Assert.All(after.Entry.Body.Operations.Where(o => o.Def is FusionOp), f => Assert.DoesNotContain(Flatten(f.Regions[0]), CollectiveOps.IsCollective));

        // The optimised module still computes the same values, replicated: 2 * (2 * [1, 2]) + x, and r + 1.
        var run = new Interpreter(after).RunReplicated(null, [[T.F32([2], 0, 0)], [T.F32([2], 1, 1)]]);
        Assert.True(run.Ok, string.Join("\n", run.Diagnostics));
        Assert.Equal(new float[] { 4, 8 }, run.Value![0].Results[0].ToArray<float>());
        Assert.Equal(new float[] { 5, 9 }, run.Value[1].Results[0].ToArray<float>());
        Assert.Equal(new long[] { 1, 2 }, run.Value.Select(o => o.Results[1].GetInt64(0)));
    }

    private static IEnumerable<Operation> Flatten(Region r) => r.Operations.SelectMany(o => o.Regions.SelectMany(Flatten).Prepend(o));

    [Fact]
    public void TheCostCountsTheWireTraffic()
    {
        var m = IrTest.Parse(One("%y = all_reduce %x {kind = sum} : tensor<8xf32>", "tensor<8xf32>", "tensor<8xf32>"));
        var op = m.Entry.Body.Operations[0];
        var cost = op.Def.Cost(op);
        Assert.Equal(8, cost.Flops);
        Assert.Equal(2 * (32 + 32), cost.Bytes);
    }
}
