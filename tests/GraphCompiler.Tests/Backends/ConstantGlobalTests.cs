using System.Collections.Immutable;
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Llvm;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// Constant globals reach LLVM through the C API, not as text: the generated IR declares them with
/// zero placeholders and <see cref="ConstantGlobal"/> sets their bytes after parsing.
/// </summary>
public sealed class ConstantGlobalTests
{
    private const string Lookup = """
        @c = private unnamed_addr constant [5 x i8] zeroinitializer, align 64

        define i8 @at(i64 %i) {
        entry:
          %p = getelementptr inbounds i8, ptr @c, i64 %i
          %v = load i8, ptr %p
          ret i8 %v
        }
        """;

    private static readonly ConstantGlobal Bytes = new("c", Tensor.FromBytes(new TensorType(ElementType.U8, 5), [7, 0, 255, 3, 42]));

    [Fact]
    public unsafe void TheJitSeesTheBytes()
    {
        using var jit = LlvmJit.Compile(Lookup, CpuTarget.Host(), constants: [Bytes]).Unwrap();
        var at = (delegate* unmanaged<long, byte>)jit.Lookup("at");
        Assert.Equal(new byte[] { 7, 0, 255, 3, 42 }, Enumerable.Range(0, 5).Select(i => at(i)));
    }

    [Fact]
    public void TheModuleHoldsTheBytesAsIfTheyWereText()
    {
        var ir = LlvmCompiler.OptimizedIr(Lookup, CpuTarget.Host(), constants: [Bytes]).Unwrap();
        Assert.Contains("""[5 x i8] c"\07\00\FF\03*", align 64""", ir);
    }

    [Fact]
    public void AMissingPlaceholderIsAnInternalError()
    {
        var wrongSize = Bytes with { Value = Tensor.FromBytes(new TensorType(ElementType.U8, 4), [1, 2, 3, 4]) };
        Assert.Throws<InvalidOperationException>(() => LlvmCompiler.Emit(Lookup, CpuTarget.Host(), constants: [wrongSize]));
        Assert.Throws<InvalidOperationException>(() => LlvmCompiler.Emit(Lookup, CpuTarget.Host(), constants: [Bytes with { Symbol = "d" }]));
    }

    [Fact]
    public void GeneratedIrStaysSmallAndComputesWithBigWeights()
    {
        // 1 MB of weights: as text they were 3 MB of \XX escapes.
        var rng = new Random(5);
        var wType = new TensorType(ElementType.F32, 512, 512);
        var w = Tensor.FromDoubles(wType, [.. Enumerable.Range(0, 512 * 512).Select(_ => rng.NextDouble() - 0.5)]);
        var fb = new FunctionBuilder();
        var x = fb.Arg(ElementType.F32, 2, 512);
        var y = fb.Body.Emit("dot_general", [x, fb.Body.Constant(w)], AttrMap.Of(("lhs_contract", A.Ints(1)), ("rhs_contract", A.Ints(0))),
            new TensorType(ElementType.F32, 2, 512));
        var m = new Module(ImmutableArray.Create(fb.Return(y)));

        var program = CpuCompiler.Generate(m).Unwrap();
        // The GEMM's helpers are ~250 K characters whatever the weights.
        Assert.True(program.LlvmIr.Length < 512 * 512 * 2, $"{program.LlvmIr.Length} characters of LLVM IR");
        Assert.True(program.Constants.Sum(c => c.Value.Bytes.Length) >= 512 * 512 * 4);

        var input = Tensor.FromDoubles(x.Type, [.. Enumerable.Range(0, 1024).Select(_ => rng.NextDouble() - 0.5)]);
        var expected = new Interpreter(m).Run(null, [input]).Unwrap().Results[0];
        using var exe = CpuCompiler.Jit(m).Unwrap();
        IrTest.AssertTensor(expected, exe.Run([input]).Unwrap()[0], rtol: 1e-4, atol: 1e-4);
    }
}
