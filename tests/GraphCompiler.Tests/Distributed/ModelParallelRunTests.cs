using System.Globalization;
using GraphCompiler.Passes;
using static GraphCompiler.Tests.Distributed.MpiProcesses;

namespace GraphCompiler.Tests.Distributed;

/// <summary>
/// Model parallelism for real: <see cref="ModelParallelTests.Mlp"/> split over 2 or 3 MPI ranks by pinning
/// (<c>gcc-cli run --tasks N --place ...</c> under <c>mpirun -np N</c>), every rank's results against the
/// single-process results — the interpreter's (the reference) and the same program compiled without tasks —
/// plus f16 and bf16 on the wire and a split program started without mpirun.
/// Tolerances: without compression the split program runs the same kernels on the same values, so its results
/// equal the single-process compiled results bit for bit, and the interpreter's within the CPU backend's usual
/// 1e-5 (its dot products accumulate in another order). With f16 or bf16 on the wire, within
/// <see cref="ModelParallelTests.F16Bound"/> of the interpreter's exact results.
/// </summary>
public sealed class ModelParallelRunTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private const double CompiledRtol = 1e-5, CompiledAtol = 1e-6;

    private static readonly string Input = "x=4x8xf32=" + string.Join(",", ModelParallelTests.InputValues.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

    private static readonly string[] ResultNames = ["logits", "hidden"];

    private (string Dir, string Model) Setup()
    {
        var dir = _temp.Directory("modelpar");
        var model = Path.Combine(dir, "mlp.ir");
        File.WriteAllText(model, ModelParallelTests.Mlp());
        return (dir, model);
    }

    private static string[] SplitArgs(int tasks, string model, params string[] more) =>
        ["run", model, "--input", Input, "--no-cache", "--tasks", tasks.ToString(), .. ModelParallelTests.Pins(tasks).SelectMany(p => new[] { "--place", p }), .. more];

    private static Tensor Read(string dir, string name)
    {
        var file = Path.Combine(dir, name + ".npy");
        Assert.True(File.Exists(file), $"no {file}");
        return Npy.ReadFile(file).Unwrap();
    }

    [MpirunTheory]
    [InlineData(2)]
    [InlineData(3)]
    public void ASplitOverRanksEqualsTheSingleProcessResult(int tasks)
    {
        var (dir, model) = Setup();
        var (code, output) = Launch(Mpirun(tasks, SplitArgs(tasks, model, "-o", Path.Combine(dir, "rank{rank}"))));
        Assert.True(code == 0, $"mpirun -np {tasks} failed ({code}):\n{output}");
        var (singleCode, singleOutput) = Launch(Gcc("run", model, "--input", Input, "--no-cache", "-o", Path.Combine(dir, "single")));
        Assert.True(singleCode == 0, singleOutput);

        var reference = new Interpreter(IrTest.Parse(ModelParallelTests.Mlp())).Run(null, [ModelParallelTests.Input]).Unwrap().Results;
        for (int rank = 0; rank < tasks; rank++)
        {
            for (int i = 0; i < ResultNames.Length; i++)
            {
                var actual = Read(Path.Combine(dir, $"rank{rank}"), ResultNames[i]);
                IrTest.AssertTensor(Read(Path.Combine(dir, "single"), ResultNames[i]), actual, rtol: 0);
                IrTest.AssertTensor(reference[i], actual, rtol: CompiledRtol, atol: CompiledAtol);
            }
        }
    }

    /// <summary>16 bits on the wire: f16 (11 significant bits, unit roundoff 2^-11) and bf16 (8, 2^-8).</summary>
    [MpirunTheory]
    [InlineData("f16", 11)]
    [InlineData("bf16", 8)]
    public void SixteenBitsOnTheWireStayWithinTheirRoundingBound(string wire, int bits)
    {
        var (dir, model) = Setup();
        var (code, output) = Launch(Mpirun(2, SplitArgs(2, model, "--compress-transfers", wire, "-o", Path.Combine(dir, "rank{rank}"))));
        Assert.True(code == 0, $"mpirun -np 2 failed ({code}):\n{output}");
        var exact = new Interpreter(IrTest.Parse(ModelParallelTests.Mlp())).Run(null, [ModelParallelTests.Input]).Unwrap().Results;
        var compression = PlacementOptions.ParseCompression(wire)!.Value;
        var rounded = new Interpreter(ModelParallelTests.Split(2, compression)).Run(null, [ModelParallelTests.Input]).Unwrap().Results;
        double u = Math.ScaleB(1, -bits);
        var bound = ModelParallelTests.F16Bound(exact, u);
        for (int rank = 0; rank < 2; rank++)
        {
            var logits = Read(Path.Combine(dir, $"rank{rank}"), "logits");
            for (long k = 0; k < logits.ElementCount; k++)
            {
                Assert.True(Math.Abs(logits.GetDouble(k) - exact[0].GetDouble(k)) <= bound, $"rank {rank}, logit {k}: {logits.GetDouble(k)} vs exact {exact[0].GetDouble(k)} (bound {bound})");
                // The same rounding as the interpreter's send: within a 16-bit step of its compressed logits.
                Assert.True(Math.Abs(logits.GetDouble(k) - rounded[0].GetDouble(k)) <= 2 * u * Math.Abs(rounded[0].GetDouble(k)) + 1e-5,
                    $"rank {rank}, logit {k}: {logits.GetDouble(k)} vs the interpreter's f16 transfers {rounded[0].GetDouble(k)}");
            }
            Assert.NotEqual(exact[0], logits); // the wire really carried 16 bits
            IrTest.AssertTensor(exact[1], Read(Path.Combine(dir, $"rank{rank}"), "hidden"), rtol: CompiledRtol, atol: CompiledAtol);
        }
    }

    /// <summary>
    /// GPipe: the batch of 4 in 4 micro-batches, layer 2 on rank 1, the ops ordered by time slot. Every rank's
    /// results equal the single-process program with the same micro-batches bit for bit (the same kernels on the
    /// same values). Against the single-process program without micro-batches they agree within
    /// <see cref="MicroBatchRtol"/>: the CPU matmul kernel's summation order depends on the number of rows it is
    /// given (a 1-row matmul differs from the same row of a 4-row one in the last bit or two).
    /// </summary>
    [MpirunFact]
    public void MicroBatchesOverTwoRanksEqualTheSingleProcessResult()
    {
        var (dir, model) = Setup();
        var (code, output) = Launch(Mpirun(2, SplitArgs(2, model, "--micro-batches", "4", "-o", Path.Combine(dir, "rank{rank}"))));
        Assert.True(code == 0, $"mpirun -np 2 --micro-batches 4 failed ({code}):\n{output}");
        var (singleCode, singleOutput) = Launch(Gcc("run", model, "--input", Input, "--no-cache", "-o", Path.Combine(dir, "single")));
        Assert.True(singleCode == 0, singleOutput);
        var (microCode, microOutput) = Launch(Gcc("run", model, "--input", Input, "--no-cache", "--micro-batches", "4", "-o", Path.Combine(dir, "micro")));
        Assert.True(microCode == 0, microOutput);
        var reference = new Interpreter(IrTest.Parse(ModelParallelTests.Mlp())).Run(null, [ModelParallelTests.Input]).Unwrap().Results;
        for (int rank = 0; rank < 2; rank++)
        {
            for (int i = 0; i < ResultNames.Length; i++)
            {
                var actual = Read(Path.Combine(dir, $"rank{rank}"), ResultNames[i]);
                IrTest.AssertTensor(Read(Path.Combine(dir, "micro"), ResultNames[i]), actual, rtol: 0);
                IrTest.AssertTensor(Read(Path.Combine(dir, "single"), ResultNames[i]), actual, rtol: MicroBatchRtol, atol: MicroBatchAtol);
                IrTest.AssertTensor(reference[i], actual, rtol: CompiledRtol, atol: CompiledAtol);
            }
        }
    }

    /// <summary>
    /// A few f32 rounding errors (2^-24 ≈ 6e-8 each) of the dot products' terms, which are of order 1 here: absolute,
    /// since a logit near 0 is a cancellation whose relative error is large.
    /// </summary>
    private const double MicroBatchRtol = 1e-6, MicroBatchAtol = 1e-6;

    [MpirunFact]
    public void WithoutMpirunASplitProgramReportsTheWorldSizeInsteadOfHanging()
    {
        var (_, model) = Setup();
        var (code, output) = Launch(Gcc(SplitArgs(2, model)));
        Assert.NotEqual(0, code);
        Assert.Contains("error 8", output);
        Assert.Contains("the program is split over 2 tasks (/job:worker/task:0..1), but the MPI world has 1 (run it with mpirun -np 2)", output);
    }
}
