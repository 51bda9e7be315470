using System.Collections.Immutable;
using GraphCompiler.IR.Text;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Passes;

/// <summary>
/// <c>fuse</c>: random-DAG differential tests (bitwise-identical interpreter results), kernel counts,
/// and structural properties (fusions are self-contained, no cycles, nothing fused twice).
/// </summary>
public sealed class FusionTests
{
    internal static Module RunPasses(Module m, params string[] passes)
    {
        var r = PassManager.Run(m, new Pipeline("test", [.. passes]), new PassOptions { CheckEachPass = true });
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        return r.Value!;
    }

    internal static void AssertBitwiseEqual(ImmutableArray<Tensor> expected, ImmutableArray<Tensor> actual, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(expected[i].Equals(actual[i]), $"result {i} differs\nexpected {expected[i]}\nactual   {actual[i]}\n{context}");
    }

    internal static ImmutableArray<Tensor> Run(Module m, IReadOnlyList<Tensor> inputs)
    {
        var r = new Interpreter(m).Run(null, inputs);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        return r.Value!.Results;
    }

    internal static Tensor RandomTensor(Random rng, TensorType t)
    {
        var v = new double[t.ElementCount];
        for (int i = 0; i < v.Length; i++)
            v[i] = rng.Next(10) == 0 ? (rng.Next(3) switch { 0 => 0.0, 1 => -0.0, _ => 1e30 }) : Math.Round((rng.NextDouble() * 8 - 4) * 1000) / 1000;
        return Tensor.FromDoubles(t, v);
    }

    private static readonly string[] Unary = ["neg", "exp", "tanh", "abs", "logistic", "sqrt", "log"];
    private static readonly string[] Binary = ["add", "mul", "sub", "max", "div", "min"];

    /// <summary>A random DAG over tensor&lt;4x8xf32&gt; values with broadcasts, row reductions, dots, converts and reshapes.</summary>
    internal static Function RandomDag(Random rng)
    {
        var fb = new FunctionBuilder();
        var m48 = new TensorType(ElementType.F32, 4, 8);
        var b = fb.Body;
        var pool = new List<Value> { fb.Arg(m48), fb.Arg(m48) };
        var vec = fb.Arg(ElementType.F32, 8);
        var w = fb.Arg(ElementType.F32, 8, 8);
        int n = rng.Next(4, 16);
        for (int i = 0; i < n; i++)
        {
            Value Pick() => pool[rng.Next(pool.Count)];
            Value v = rng.Next(10) switch
            {
                0 or 1 => b.Emit(Unary[rng.Next(Unary.Length)], Pick()),
                2 or 3 or 4 => b.Emit(Binary[rng.Next(Binary.Length)], Pick(), Pick()),
                5 => b.Emit("add", Pick(), b.BroadcastInDim(vec, m48, 1)),
                6 => b.BroadcastInDim(b.Emit("reduce", [Pick()], ("kind", A.Enum(rng.Next(2) == 0 ? "sum" : "max")), ("dims", A.Ints(1))), m48, 0),
                7 => b.Emit("dot_general", [Pick(), w], AttrMap.Of(("lhs_contract", A.Ints(1)), ("rhs_contract", A.Ints(rng.Next(2)))), m48),
                8 => b.Convert(b.Convert(Pick(), ElementType.F16), ElementType.F32),
                _ => b.Reshape(b.Emit("max", b.Reshape(Pick(), 32), b.Constant(Tensor.FromDoubles(new TensorType(ElementType.F32, 32), new double[32]))), 4, 8),
            };
            pool.Add(v);
        }
        // Return the last value and a couple of random others (so some intermediates have outside users).
        var results = new List<Value> { pool[^1] };
        for (int i = 0; i < rng.Next(0, 3); i++) results.Add(pool[rng.Next(2, pool.Count)]);
        return fb.Return([.. results]);
    }

    [Fact]
    public void RandomDagsGiveBitwiseIdenticalResultsAfterFuse()
    {
        int fusions = 0;
        for (int seed = 0; seed < 150; seed++)
        {
            var rng = new Random(seed);
            var m = new Module([RandomDag(rng)]);
            Assert.Empty(Verifier.Verify(m));
            var fused = RunPasses(m, "fuse");
            fusions += fused.Entry.Body.Operations.Count(o => o.Name == "fusion");
            AssertStructure(fused.Entry.Body);
            var inputs = m.Entry.ArgumentTypes.Select(t => RandomTensor(rng, t)).ToList();
            AssertBitwiseEqual(Run(m, inputs), Run(fused, inputs), $"seed {seed}\n{Printer.Print(m)}\n{Printer.Print(fused)}");
        }
        Assert.True(fusions > 150, $"only {fusions} fusions formed over 150 random graphs");
    }

    [Fact]
    public void RandomDagsGiveBitwiseIdenticalResultsThroughTheDefaultPipeline()
    {
        for (int seed = 1000; seed < 1060; seed++)
        {
            var rng = new Random(seed);
            var m = new Module([RandomDag(rng)]);
            var compiled = RunPasses(m, [.. PassRegistry.Default.Passes]);
            var inputs = m.Entry.ArgumentTypes.Select(t => RandomTensor(rng, t)).ToList();
            AssertBitwiseEqual(Run(m, inputs), Run(compiled, inputs), $"seed {seed}\n{Printer.Print(m)}\n{Printer.Print(compiled)}");
        }
    }

    /// <summary>Each fusion is self-contained (checked by the verifier) and no fusion feeds a path back into itself.</summary>
    private static void AssertStructure(Region body)
    {
        // Topological order of the printed region is the proof of acyclicity: every operand is defined earlier.
        var defined = new HashSet<Value>(body.Arguments, ReferenceEqualityComparer.Instance);
        foreach (var op in body.Operations)
        {
            foreach (var v in op.Operands) Assert.Contains(v, defined);
            foreach (var r in op.Results) Assert.True(defined.Add(r), "a value is defined twice");
        }
    }

    private static int Kernels(Module m) =>
        m.Entry.Body.Operations.Count(o => o.Name is not "return" and not "constant");

    private static Module Softmax(long rows, long cols) => IrTest.Parse($$"""
        func @main(%x: tensor<{{rows}}x{{cols}}xf32>) -> (tensor<{{rows}}x{{cols}}xf32>) {
          %m = reduce %x {kind = max, dims = [1]} : tensor<{{rows}}xf32>
          %mb = broadcast_in_dim %m {dims = [0]} : tensor<{{rows}}x{{cols}}xf32>
          %d = sub %x, %mb : tensor<{{rows}}x{{cols}}xf32>
          %e = exp %d : tensor<{{rows}}x{{cols}}xf32>
          %s = reduce %e {kind = sum, dims = [1]} : tensor<{{rows}}xf32>
          %sb = broadcast_in_dim %s {dims = [0]} : tensor<{{rows}}x{{cols}}xf32>
          %p = div %e, %sb : tensor<{{rows}}x{{cols}}xf32>
          return %p
        }
        """);

    [Theory]
    [InlineData(4, 8, 1)]        // 32-byte rows: one row kernel (three passes per row, in cache)
    [InlineData(3, 1000, 1)]     // 4000-byte rows
    [InlineData(2, 32768, 2)]    // 128 KiB rows: at most two passes per row, so max | exp-sum-div
    public void SoftmaxBecomesAtMostTwoKernels(long rows, long cols, int expected)
    {
        var m = Softmax(rows, cols);
        var fused = RunPasses(m, "fuse");
        Assert.Equal(7, Kernels(m));
        Assert.Equal(expected, Kernels(fused));
        if (rows * cols <= 4000)
        {
            var x = RandomTensor(new Random(7), m.Entry.ArgumentTypes[0]);
            AssertBitwiseEqual(Run(m, [x]), Run(fused, [x]), Printer.Print(fused));
        }
    }

    [Fact]
    public void FuseIsIdempotent()
    {
        for (int seed = 0; seed < 30; seed++)
        {
            var once = RunPasses(new Module([RandomDag(new Random(seed))]), "fuse");
            var r = new Fusion().Run(once, PassOptions.Default);
            Assert.False(r.Changed, $"seed {seed}: a second fuse changed\n{Printer.Print(once)}");
            Assert.Same(once, r.Module);
        }
    }

    [Fact]
    public void CostModelDuplicatesOnlyCheapProducersThatSaveTraffic()
    {
        var model = FusionCostModel.Default;
        var b = new IrBuilder();
        var x = new Value(new TensorType(ElementType.F32, 64, 64));
        var bias = new Value(new TensorType(ElementType.F32, 64));
        var none = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        var withX = new HashSet<Value>([x], ReferenceEqualityComparer.Instance);
        b.BroadcastInDim(bias, x.Type, 1);
        b.Emit("exp", x);
        b.Emit("neg", x);
        b.Convert(x, ElementType.F16);
        var ops = b.Operations;
        bool Free(Value _) => false;
        Assert.True(model.ShouldDuplicate(ops[0], none, 0, Free));          // broadcast of a vector: reads 256 B instead of 16 KiB
        Assert.False(model.ShouldDuplicate(ops[0], none, model.MaxCopies, Free)); // duplication factor exhausted
        Assert.False(model.ShouldDuplicate(ops[1], withX, 0, Free));        // exp: 32 flops/element > 4 × 4 bytes saved
        Assert.False(model.ShouldDuplicate(ops[2], none, 0, Free));         // neg: reads x instead of its result, saves nothing
        Assert.True(model.ShouldDuplicate(ops[2], withX, 0, Free));         // neg of an input the consumer reads anyway
        Assert.False(model.ShouldDuplicate(ops[3], none, 0, Free));         // f16 result is smaller than its input
    }
}
