using GraphCompiler.IR.Ops;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Passes;

/// <summary>
/// <c>--precision bf16|f16</c> (the <c>mixed-precision</c> pass) through the driver on the CPU: where the pass goes in the
/// pipeline, that every contraction of a real model reads 16-bit operands with 16-bit weights, and that the compiled
/// model's error against the f32 interpreter is the format's (differential, against the unchanged model). The IR it
/// writes is golden-tested in tests/ir/mixed-precision/.
/// </summary>
public sealed class MixedPrecisionTests
{
    private static string Cnn => Path.Combine(GoldenFile.RepoRoot(), "benchmarks", "models", "cnn_8x3x32x32.onnx");

    private static IEnumerable<Operation> AllOps(Function f) =>
        f.Body.Operations.SelectMany(o => o.Regions.Length == 0 ? [o] : o.Regions.SelectMany(r => r.Operations).Prepend(o));

    [Theory]
    [InlineData("bf16", ElementType.BF16, 8)]
    [InlineData("f16", ElementType.F16, 11)]
    public void ACnnComputesItsContractionsIn16BitsWithinTheFormatsError(string precision, ElementType low, int significandBits)
    {
        var driver = Compiler.Create(new CompileOptions { Precision = precision }).Unwrap();
        Assert.Equal(driver.Pipeline!.Passes.IndexOf("fold-batchnorm") + 1, driver.Pipeline.Passes.IndexOf("mixed-precision"));
        var model = driver.Load(Cnn).Unwrap();
        var optimised = driver.Optimize(model).Unwrap();
        var contractions = AllOps(optimised.Entry).Where(o => o.Def.Has(OpTraits.Contraction)).ToList();
        Assert.True(contractions.Count >= 3, "the CNN has two convolutions and a dense layer");
        Assert.All(contractions, c =>
        {
            Assert.All(c.Operands, v => Assert.Equal(low, v.Type.Element));
            Assert.Equal(ElementType.F32, c.Result.Type.Element);
        });
        // The weights are 16-bit constants; none of the f32 originals survives.
        var constants = AllOps(optimised.Entry).Where(o => o.Def is ConstantOp && o.Result.Type.ElementCount > 100).ToList();
        Assert.All(constants, c => Assert.Equal(low, c.Result.Type.Element));

        var rng = new Random(4);
        var input = model.Entry.Arguments[0].Type;
        var x = Tensor.FromDoubles(input, [.. Enumerable.Range(0, (int)input.ElementCount).Select(_ => rng.NextDouble() * 2 - 1)]);
        var expected = new Interpreter(model).Run(null, [x]).Unwrap().Results[0];
        using var exe = driver.Jit(optimised).Unwrap();
        var actual = exe.Run([x]).Unwrap()[0];
        double scale = Enumerable.Range(0, (int)expected.ElementCount).Max(i => Math.Abs(expected.GetDouble(i)));
        double worst = Enumerable.Range(0, (int)expected.ElementCount).Max(i => Math.Abs(expected.GetDouble(i) - actual.GetDouble(i)));
        // Three contractions, each adding its operands' rounding (2^-significandBits relative, twice): a few units of the
        // format at the output's scale, and far more than f32's own rounding (~2^-24: the 16-bit path did run).
        double unit = Math.Pow(2, -significandBits);
        Assert.InRange(worst / scale, unit / 4, 8 * unit); // measured: 1.3 units for both formats
    }

    [Fact]
    public void Tf32GoesWithTheCudaTargetAndUnknownPrecisionsAreRefused()
    {
        var tf32 = Compiler.Create(new CompileOptions { Precision = "tf32" });
        Assert.False(tf32.Ok);
        Assert.Contains("cuda target", tf32.Diagnostics[0].Message);
        var fp8 = Compiler.Create(new CompileOptions { Precision = "fp8" });
        Assert.False(fp8.Ok);
        Assert.Contains("precision 'fp8' is not one of f32, tf32, bf16, f16", fp8.Diagnostics[0].Message);
        // f32, the default, adds nothing to the pipeline.
        Assert.DoesNotContain("mixed-precision", Compiler.Create(new CompileOptions { Precision = "f32" }).Unwrap().Pipeline!.Passes);
    }
}
