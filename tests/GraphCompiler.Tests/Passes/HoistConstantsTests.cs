using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.IR.Ops;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Passes;

/// <summary><c>hoist-constants</c> against the reference interpreter, with both evaluators; its golden files show the policy.</summary>
public sealed class HoistConstantsTests
{
    /// <summary>The interpreter without the default's small limits, so that every chosen root is evaluated.</summary>
    private static readonly PassOptions Unlimited = PassOptions.Default with
    {
        CheckEachPass = true,
        ConstantEvaluator = new InterpreterConstantEvaluator(maxWork: 1e12, maxResultElements: long.MaxValue),
    };

    private static readonly PassOptions Jit = PassOptions.Default with { CheckEachPass = true, ConstantEvaluator = new JitConstantEvaluator(interpretSmall: false) };

    /// <summary>
    /// Weights computed from constants the way exporters write them: iota → convert → scale → sin / rem →
    /// reshape → transpose, a dot_general of two such matrices, a select on a comparison, a broadcast of a
    /// scalar; the 300×400 weights (120 000 elements) are above constant-fold's 65 536. One argument, so the
    /// function also has work that must stay.
    /// </summary>
    private const string Weights = """
        func @main(%x: tensor<400x300xf32>) -> (tensor<400x300xf32>, tensor<300x8xf32>, tensor<120000xi32>, tensor<8x8xf32>) {
          %i = iota {dimension = 0} : tensor<120000xi32>
          %seven = constant {value = dense<7>} : tensor<i32>
          %sevens = broadcast_in_dim %seven {dims = []} : tensor<120000xi32>
          %m = rem %i, %sevens : tensor<120000xi32>
          %f = convert %i : tensor<120000xf32>
          %step = constant {value = dense<0.001>} : tensor<f32>
          %steps = broadcast_in_dim %step {dims = []} : tensor<120000xf32>
          %phase = mul %f, %steps : tensor<120000xf32>
          %s = sin %phase : tensor<120000xf32>
          %mf = convert %m : tensor<120000xf32>
          %zero = constant {value = dense<0.0>} : tensor<f32>
          %zeros = broadcast_in_dim %zero {dims = []} : tensor<120000xf32>
          %pos = compare %s, %zeros {direction = gt} : tensor<120000xbool>
          %w1 = select %pos, %s, %mf : tensor<120000xf32>
          %w2 = reshape %w1 : tensor<300x400xf32>
          %w = transpose %w2 {perm = [1, 0]} : tensor<400x300xf32>
          %y = mul %x, %w : tensor<400x300xf32>
          %a = iota {dimension = 0} : tensor<300x8xf32>
          %b = iota {dimension = 1} : tensor<300x8xf32>
          %ab = add %a, %b : tensor<300x8xf32>
          %c = cos %ab : tensor<300x8xf32>
          %ct = transpose %c {perm = [1, 0]} : tensor<8x300xf32>
          %g = dot_general %ct, %c {lhs_contract = [1], rhs_contract = [0]} : tensor<8x8xf32>
          return %y, %c, %i, %g
        }
        """;

    private static Tensor Input(TensorType t)
    {
        var rng = new Random(3);
        return Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => rng.NextDouble() * 2 - 1)]);
    }

    private static ImmutableArray<Tensor> Run(Module m, Tensor[] inputs)
    {
        var r = new Interpreter(m).Run(null, inputs);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        return r.Value!.Results;
    }

    private static Module Hoist(Module m, PassOptions options) => PassManager.Run(m, new Pipeline("test", ["hoist-constants"]), options).Unwrap();

    [Fact]
    public void InterpreterEvaluatedGraphComputesBitIdenticalResults()
    {
        var m = IrTest.Parse(Weights);
        var inputs = new[] { Input(m.Entry.ArgumentTypes[0]) };
        var after = Hoist(m, Unlimited);
        Assert.Contains("hoisted:", after.ToString());
        RandomGraphs.AssertBitwiseEqual(Run(m, inputs), Run(after, inputs), after.ToString());
    }

    [Fact]
    public void JitEvaluatedGraphAgreesWithTheInterpreter()
    {
        Assert.True(LlvmLibrary.Available, LlvmLibrary.Problem);
        var m = IrTest.Parse(Weights);
        var inputs = new[] { Input(m.Entry.ArgumentTypes[0]) };
        var after = Hoist(m, Jit);
        Assert.Contains("hoisted:", after.ToString());
        var (expected, actual) = (Run(m, inputs), Run(after, inputs));
        for (int i = 0; i < expected.Length; i++) IrTest.AssertTensor(expected[i], actual[i], rtol: 1e-5, atol: 1e-5);
    }

    [Fact]
    public void OnlyCheapOpsOfConstantsRemain()
    {
        var after = Hoist(IrTest.Parse(Weights), Unlimited).Entry.Body.Operations;
        var constant = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        var kept = new List<string>();
        foreach (var op in after)
        {
            if (op.Def.IsTerminator) continue;
            if (op.Def == StructureOps.Constant || op.Operands.All(constant.Contains))
            {
                foreach (var r in op.Results) constant.Add(r);
                if (op.Def != StructureOps.Constant) kept.Add(op.Name);
            }
        }
        // The returned 120 000-element iota costs one flop per element to compute, 480 KB to store: it stays,
        // and so does the broadcast of a scalar that the argument's multiply reads.
        Assert.Equal(["iota"], kept);
        Assert.DoesNotContain(after, o => o.Name is "sin" or "cos" or "rem" or "select" or "dot_general" or "transpose" or "reshape");
    }

    [Fact]
    public void OpsOnArgumentsAndOpsWithSideEffectsStay()
    {
        var t = new TensorType(ElementType.F32, 100_000);
        var (arg, c, e, s, sum) = (new Value(t), new Value(t), new Value(t), new Value(t), new Value(t));
        var iota = new Value(t);
        ImmutableArray<Operation> ops =
        [
            new(OpRegistry.Get("iota"), [], AttrMap.Empty, [iota]),
            new(OpRegistry.Get("sin"), [iota], AttrMap.Empty, [c]),
            new(new EffectOp(), [c], AttrMap.Empty, [e]),
            new(OpRegistry.Get("sin"), [e], AttrMap.Empty, [s]),
            new(OpRegistry.Get("add"), [arg, s], AttrMap.Empty, [sum]),
            new(OpRegistry.Get("return"), [sum], AttrMap.Empty, []),
        ];
        var m = new Module([new Function("main", new Region([arg], ops), [t])]);
        var after = new HoistConstants().Run(m, Unlimited with { CheckEachPass = false }).Module;
        // sin(iota) is computed once; the side-effecting op, the sin after it and the add of the argument stay.
        Assert.Equal(["constant", "test_effect", "sin", "add", "return"], after.Entry.Body.Operations.Select(o => o.Name));
        Assert.True(Math.Abs(Math.Sin(99_999) - after.Entry.Body.Operations[0].Attr.Tensor("value").GetDouble(99_999)) < 1e-6);
    }

    [Fact]
    public void TheDefaultEvaluatorDeclinesBigWork()
    {
        var m = IrTest.Parse(Weights.Replace("120000", "1200000").Replace("300x400", "3000x400").Replace("400x300", "400x3000"));
        var after = new HoistConstants().Run(m, PassOptions.Default).Module.ToString();
        // The 1.2 M-element weights are beyond the interpreter's limits and stay ops; the small cos/dot_general part is computed.
        Assert.Contains("= sin", after);
        Assert.DoesNotContain("= dot_general", after);
    }

    /// <summary>A constant computation whose result (16 GiB) no tensor can hold, as a TF Const with one value makes it.</summary>
    private const string Huge = """
        func @main() -> (tensor<65536x65536xf32>) {
          %one = constant {value = dense<1.0>} : tensor<f32>
          %b = broadcast_in_dim %one {dims = []} : tensor<65536x65536xf32>
          %e = exp %b : tensor<65536x65536xf32>
          return %e
        }
        """;

    [Fact]
    public void AResultNoTensorCanHoldIsNeverStored()
    {
        // exp is expensive enough to store at any size, but 16 GiB is more than a tensor holds: it stays an op.
        var after = new HoistConstants().Run(IrTest.Parse(Huge), Jit).Module;
        Assert.Equal(["constant", "broadcast_in_dim", "exp", "return"], after.Entry.Body.Operations.Select(o => o.Name));
        // Running it in-process is then refused with the reason, on both backends, instead of overflowing.
        using var exe = GraphCompiler.Backends.Cpu.CpuCompiler.Jit(after).Unwrap();
        var run = exe.Run([]);
        Assert.False(run.Ok);
        Assert.Contains("more than a tensor holds", run.Diagnostics[0].Message);
        var interpreted = new Interpreter(after).Run(null, []);
        Assert.False(interpreted.Ok);
        Assert.Contains("more than a tensor holds", interpreted.Diagnostics[0].Message);
    }

    /// <summary>An op with side effects (none is registered): returns its operand, observably.</summary>
    private sealed class EffectOp() : OpDef("test_effect")
    {
        public override int MinOperands => 1;
        public override OpTraits Traits => OpTraits.HasSideEffects;
        public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig) => [sig.Operand(0)];
        public override ImmutableArray<Tensor> Evaluate(EvalContext ctx) => ctx.Operands;
    }
}
