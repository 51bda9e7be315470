using System.Collections.Immutable;
using GraphCompiler.IR.Ops;
using GraphCompiler.Passes;
using GraphCompiler.Passes.Rewrites;

namespace GraphCompiler.Tests.IR;

/// <summary>
/// The traits each op declares on its <see cref="OpDef"/> hold for the op's own type rule and reference
/// semantics, and the consumers (cost models, constant folder, cse, dce, rewrite-rule table) honour them.
/// </summary>
public sealed class OpTraitsTests
{
    private static readonly OpTraits Kinds = OpTraits.Elementwise | OpTraits.IndexRemap | OpTraits.Contraction | OpTraits.Reduction;

    public static IEnumerable<object[]> Ops() => OpRegistry.All.Select(o => new object[] { o.Name });

    private static IEnumerable<OpDef> With(OpTraits t) => OpRegistry.All.Where(o => o.Has(t));

    [Theory]
    [MemberData(nameof(Ops))]
    public void TraitsAreConsistent(string name)
    {
        var def = OpRegistry.Get(name);
        var kinds = def.Traits & Kinds;
        Assert.True((kinds & (kinds - 1)) == 0, $"'{name}' has several of elementwise/index-remap/contraction/reduction: {kinds}");
        Assert.False(def.Has(OpTraits.Foldable | OpTraits.HasSideEffects), $"'{name}' is foldable and has side effects");
        if (def.IsTerminator) Assert.False(def.Has(OpTraits.Foldable), $"terminator '{name}' is foldable");
        if (def.HasAny(Kinds)) Assert.True(def.RegionNames.IsEmpty, $"'{name}' has regions and {kinds}");
        Assert.True(OpRegistry.Contains(def));
    }

    [Fact]
    public void TheTraitSetsAreTheOnesThePassesWereWrittenFor()
    {
        // The sets the passes used to spell out by name: a change here is a change of fusion, in-place
        // buffer assignment, the GPU's op coverage, or the constant folder.
        string[] elementwiseTable = [.. ElementwiseOps.All.Select(o => o.Name)];
        Assert.Equal(elementwiseTable.Append("convert").Order(StringComparer.Ordinal), With(OpTraits.Elementwise).Select(o => o.Name));
        Assert.Equal(new[] { "broadcast_in_dim", "concatenate", "dynamic_slice", "pad", "reshape", "reverse", "slice", "transpose" },
            With(OpTraits.IndexRemap).Select(o => o.Name));
        Assert.Equal(new[] { "convolution", "dot_general" }, With(OpTraits.Contraction).Select(o => o.Name));
        Assert.Equal(new[] { "arg_reduce", "reduce", "reduce_window" }, With(OpTraits.Reduction).Select(o => o.Name));
        Assert.Equal(new[] { "all_gather", "all_reduce", "all_reduce_done", "all_reduce_start", "collective_broadcast", "reduce_scatter" },
            With(OpTraits.HasSideEffects).Select(o => o.Name));
        Assert.Equal(new[] { "all_reduce_start", "send" }, With(OpTraits.AsyncStart).Select(o => o.Name));
        Assert.Equal(new[] { "all_reduce_done", "recv" }, With(OpTraits.AsyncDone).Select(o => o.Name));
        Assert.Equal(new[] { "all_gather", "all_reduce", "all_reduce_done", "all_reduce_start", "collective_broadcast", "constant", "recv", "reduce_scatter",
                "replica_id", "return", "send", "yield" },
            OpRegistry.All.Where(o => !o.Has(OpTraits.Foldable)).Select(o => o.Name));
    }

    // ---- elementwise: result shape = operand shape, and the op commutes with a permutation of elements

    private static readonly ElementType[] Candidates = [ElementType.F32, ElementType.I32, ElementType.Bool];

    /// <summary>Operand types (all [2, 3]) the op accepts, its attributes and declared result types.</summary>
    private static (ImmutableArray<TensorType> Operands, AttrMap Attrs, ImmutableArray<TensorType> Declared, ImmutableArray<TensorType> Results)? Signature(OpDef def)
    {
        var attrs = def == ElementwiseOps.Compare ? AttrMap.Of(("direction", A.Enum("lt"))) : AttrMap.Empty;
        foreach (var e in Candidates)
        {
            var t = new TensorType(e, 2, 3);
            ImmutableArray<TensorType> operands = [.. Enumerable.Range(0, def.MinOperands)
                .Select(i => def == ElementwiseOps.Select && i == 0 ? t.WithElement(ElementType.Bool) : t)];
            ImmutableArray<TensorType> declared = def.TakesResultTypes ? [t.WithElement(ElementType.F64)] : [];
            try
            {
                var results = def.InferResultTypes(new OpSignature(def, operands, attrs, declared, []));
                return (operands, attrs, declared, results);
            }
            catch (IrException)
            {
                // not this element type
            }
        }
        return null;
    }

    private static Tensor RandomTensor(TensorType t, Random rng) => t.Element.IsFloat()
        ? Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => Math.Round(rng.NextDouble() * 4 - 1, 3))])
        : Tensor.FromInt64s(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => (long)(t.Element.IsBool() ? rng.Next(2) : rng.Next(-9, 10)))]);

    private static Tensor Permute(Tensor t, int[] perm)
    {
        var o = new TensorBuffer(t.Type);
        for (int k = 0; k < perm.Length; k++) o.CopyElement(k, t, perm[k]);
        return o.ToTensor();
    }

    public static IEnumerable<object[]> ElementwiseOpNames() => With(OpTraits.Elementwise).Select(o => new object[] { o.Name });

    [Theory]
    [MemberData(nameof(ElementwiseOpNames))]
    public void ElementwiseOpsArePointwise(string name)
    {
        var def = OpRegistry.Get(name);
        var sig = Signature(def);
        Assert.True(sig is not null, $"'{name}' accepts none of {string.Join(", ", Candidates)} at shape [2, 3]");
        var (operandTypes, attrs, _, resultTypes) = sig.Value;
        Assert.Single(resultTypes);
        Assert.Equal(operandTypes[^1].Shape, resultTypes[0].Shape);

        var rng = new Random(name.GetHashCode(StringComparison.Ordinal) & 0xFFFF);
        var operands = operandTypes.Select(t => new Value(t)).ToImmutableArray();
        var op = new Operation(def, operands, attrs, [new Value(resultTypes[0])]);
        var interpreter = new Interpreter(new Module([]));
        for (int trial = 0; trial < 5; trial++)
        {
            var inputs = operandTypes.Select(t => RandomTensor(t, rng)).ToImmutableArray();
            int[] perm = [.. Enumerable.Range(0, 6).OrderBy(_ => rng.Next())];
            var y = interpreter.EvaluateOperation(op, inputs)[0];
            var yPermuted = interpreter.EvaluateOperation(op, [.. inputs.Select(x => Permute(x, perm))])[0];
            Assert.Equal(Permute(y, perm).Bytes.ToArray(), yPermuted.Bytes.ToArray());
        }
    }

    // ---- index remapping: every result element is an input element

    /// <summary>One use of each index-remapping op on a [4, 6] input of distinct values (and -1 as padding).</summary>
    private static readonly Dictionary<string, Func<IrBuilder, Value, Value, Value>> RemapExamples = new()
    {
        ["reshape"] = (b, x, _) => b.Reshape(x, 3, 8),
        ["broadcast_in_dim"] = (b, x, _) => b.BroadcastInDim(x, new TensorType(ElementType.F32, 4, 2, 6), 0, 2),
        ["transpose"] = (b, x, _) => b.Emit("transpose", [x], ("perm", A.Ints(1, 0))),
        ["slice"] = (b, x, _) => b.Emit("slice", [x], ("start", A.Ints(1, 1)), ("limit", A.Ints(4, 6)), ("stride", A.Ints(2, 3))),
        ["dynamic_slice"] = (b, x, _) => b.Emit("dynamic_slice", [x, b.Constant(Tensor.FromInt64s(TensorType.Scalar(ElementType.I32), [2])),
            b.Constant(Tensor.FromInt64s(TensorType.Scalar(ElementType.I32), [5]))], ("sizes", A.Ints(2, 3))),
        ["concatenate"] = (b, x, _) => b.Emit("concatenate", [x, b.Emit("reverse", [x], ("dims", A.Ints(0)))], ("dimension", A.Int(1))),
        ["pad"] = (b, x, p) => b.Emit("pad", [x, p], ("low", A.Ints(1, 2)), ("high", A.Ints(0, 1)), ("interior", A.Ints(1, 0))),
        ["reverse"] = (b, x, _) => b.Emit("reverse", [x], ("dims", A.Ints(0, 1))),
    };

    [Fact]
    public void EveryIndexRemapOpHasAnExample() =>
        Assert.Equal(With(OpTraits.IndexRemap).Select(o => o.Name), RemapExamples.Keys.Order(StringComparer.Ordinal));

    [Theory]
    [InlineData("reshape")]
    [InlineData("broadcast_in_dim")]
    [InlineData("transpose")]
    [InlineData("slice")]
    [InlineData("dynamic_slice")]
    [InlineData("concatenate")]
    [InlineData("pad")]
    [InlineData("reverse")]
    public void IndexRemapOpsOnlySelectInputElements(string name)
    {
        var fb = new FunctionBuilder();
        var x = fb.Arg(ElementType.F32, 4, 6);
        var pad = fb.Arg(ElementType.F32);
        var y = RemapExamples[name](fb.Body, x, pad);
        var op = fb.Body.LastOperation!;
        Assert.Equal(name, op.Name);
        Assert.True(op.Def.Has(OpTraits.IndexRemap));
        var m = new Module([fb.Return(y)]);

        var rng = new Random(7);
        double[] values = [.. Enumerable.Range(1, 24).Select(v => (double)v).OrderBy(_ => rng.Next())];
        var input = Tensor.FromDoubles(new TensorType(ElementType.F32, 4, 6), values);
        var r = new Interpreter(m).Run(null, [input, Tensor.Scalar(ElementType.F32, -1)]);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        var result = r.Value!.Results[0];
        var allowed = values.Append(-1).ToHashSet();
        for (long k = 0; k < result.ElementCount; k++)
            Assert.Contains(result.GetDouble(k), allowed);
        // A selection, not a constant: the result depends on the input.
        Assert.True(Enumerable.Range(0, (int)result.ElementCount).Select(k => result.GetDouble(k)).Where(v => v > 0).Distinct().Count() > 1);
    }

    // ---- cost

    [Theory]
    [InlineData(3, 5, 7)]
    [InlineData(64, 1, 128)]
    public void DotGeneralCostsTwoMnk(int m, int n, int k)
    {
        var fb = new FunctionBuilder();
        var a = fb.Arg(ElementType.F32, m, k);
        var b = fb.Arg(ElementType.F32, k, n);
        fb.Body.Emit("dot_general", [a, b], AttrMap.Of(("lhs_contract", A.Ints(1)), ("rhs_contract", A.Ints(0))), new TensorType(ElementType.F32, m, n));
        var op = fb.Body.LastOperation!;
        var cost = op.Def.Cost(op);
        Assert.Equal(2.0 * m * n * k, cost.Flops);
        Assert.Equal(4.0 * (m * k + k * n + m * n), cost.Bytes);
        Assert.Equal((double)m * n * k, op.Def.EvaluationWork(op));
    }

    [Fact]
    public void CostModelsReadTheOpCost()
    {
        var fb = new FunctionBuilder();
        var x = fb.Arg(ElementType.F32, 8, 16);
        var e = fb.Body.Emit("exp", x);
        var ops = new List<Operation> { fb.Body.LastOperation! };
        var s = fb.Body.Emit("add", e, x);
        ops.Add(fb.Body.LastOperation!);
        fb.Body.Emit("sqrt", s);
        ops.Add(fb.Body.LastOperation!);
        fb.Body.Emit("reduce", [s], AttrMap.Of(("kind", A.Enum("sum")), ("dims", A.Ints(1))));
        ops.Add(fb.Body.LastOperation!);
        fb.Body.Constant(Tensor.Zeros(new TensorType(ElementType.F32, 4)));
        ops.Add(fb.Body.LastOperation!);
        // exp, add, sqrt over 8x16, a sum over the 128 elements, a constant.
        double[] flops = [128, 128, 128, 128, 0];
        double[] weighted = [32 * 128, 128, 8 * 128, 128, 0];
        for (int i = 0; i < ops.Count; i++)
        {
            var op = ops[i];
            var cost = op.Def.Cost(op);
            Assert.Equal(flops[i], cost.Flops);
            Assert.Equal(weighted[i], cost.WeightedFlops);
            Assert.Equal(cost.Flops, DeviceCostModel.Flops(op));
            Assert.Equal(cost.Bytes, DeviceCostModel.Bytes(op));
            Assert.Equal(cost.WeightedFlops, FusionCostModel.Flops(op));
            Assert.Equal(op.Operands.Sum(v => (double)v.Type.ByteSize) + op.Results.Sum(v => (double)v.Type.ByteSize), cost.Bytes);
        }
    }

    // ---- side effects: the folder, cse and dce leave such ops alone

    /// <summary>An op with side effects (none is registered today): returns its operand, observably.</summary>
    private sealed class EffectOp() : OpDef("test_effect")
    {
        public override int MinOperands => 1;
        public override OpTraits Traits => OpTraits.HasSideEffects;
        public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig) => [sig.Operand(0)];
        public override ImmutableArray<Tensor> Evaluate(EvalContext ctx) => ctx.Operands;
    }

    private static readonly TensorType T4 = new(ElementType.F32, 4);

    /// <summary>main() = constant c; two <paramref name="def"/>(c), unused or returned; returns c or the first.</summary>
    private static Module TwoUses(OpDef def, bool returnFirst)
    {
        var c = new Value(T4);
        var (r1, r2) = (new Value(T4), new Value(T4));
        ImmutableArray<Operation> ops =
        [
            new(StructureOps.Constant, [], AttrMap.Of(("value", new TensorAttr(Tensor.FromDoubles(T4, [1, 2, 3, 4])))), [c]),
            new(def, [c], AttrMap.Empty, [r1]),
            new(def, [c], AttrMap.Empty, [r2]),
            new(OpRegistry.Get("return"), [returnFirst ? r1 : c], AttrMap.Empty, []),
        ];
        return new Module([new Function("main", new Region([], ops), [T4])]);
    }

    private static string[] OpNames(Module m) => [.. m.Entry.Body.Operations.Select(o => o.Name)];

    [Fact]
    public void TheFolderSkipsOpsWithSideEffects()
    {
        var fold = new ConstantFolding();
        // A pure op of constants folds ...
        Assert.Equal(new[] { "constant", "constant", "constant", "return" }, OpNames(fold.Run(TwoUses(ElementwiseOps.Neg, true), PassOptions.Default).Module));
        // ... an op with side effects does not.
        var effect = new EffectOp();
        var m = TwoUses(effect, true);
        Assert.False(fold.Run(m, PassOptions.Default).Changed);
        Assert.Equal(new[] { "constant", "test_effect", "test_effect", "return" }, OpNames(m));
    }

    [Fact]
    public void CseAndDceKeepOpsWithSideEffects()
    {
        Assert.Equal(new[] { "constant", "neg", "return" }, OpNames(new CommonSubexpressionElimination().Run(TwoUses(ElementwiseOps.Neg, true), PassOptions.Default).Module));
        Assert.Equal(new[] { "constant", "return" }, OpNames(new DeadCodeElimination().Run(TwoUses(ElementwiseOps.Neg, false), PassOptions.Default).Module));

        var effect = new EffectOp();
        Assert.False(new CommonSubexpressionElimination().Run(TwoUses(effect, true), PassOptions.Default).Changed);
        Assert.False(new DeadCodeElimination().Run(TwoUses(effect, false), PassOptions.Default).Changed);
    }

    // ---- rewrite rules name registered op definitions

    [Fact]
    public void RuleTableChecksItsOpsAgainstTheRegistry()
    {
        Assert.All(AlgebraicRules.All, r => Assert.True(OpRegistry.Contains(r.Op), r.Name));

        var unknown = new BinaryOp("frobnicate", TypeClass.Numeric, (x, y) => x + y);
        var e = Assert.Throws<InvalidOperationException>(() => RewriteRule.Table([new("frob-zero", unknown, (_, _) => null)]));
        Assert.Contains("'frob-zero'", e.Message);
        Assert.Contains("'frobnicate'", e.Message);

        // A definition that shares a registered name but is not the registered instance fails too.
        var strayAdd = new BinaryOp("add", TypeClass.Numeric, (x, y) => x + y);
        Assert.Throws<InvalidOperationException>(() => RewriteRule.Table([new("stray-add", strayAdd, (_, _) => null)]));

        Assert.Throws<InvalidOperationException>(() => RewriteRule.Table(
            [new("twice", ElementwiseOps.Add, (_, _) => null), new("twice", ElementwiseOps.Sub, (_, _) => null)]));
        Assert.Single(RewriteRule.Table([new("ok", ElementwiseOps.Add, (_, _) => null)]));
    }

    // ---- splats

    [Fact]
    public void IsSplatComparesBits()
    {
        Assert.True(Tensor.FromDoubles(T4, [2, 2, 2, 2]).IsSplat);
        Assert.False(Tensor.FromDoubles(T4, [2, 2, 2, 3]).IsSplat);
        Assert.False(Tensor.FromDoubles(T4, [0, 0, -0.0, 0]).IsSplat);
        Assert.True(Tensor.Scalar(ElementType.F32, 5).IsSplat);
        Assert.True(Tensor.Zeros(new TensorType(ElementType.F32, 0, 3)).IsSplat);
    }
}
