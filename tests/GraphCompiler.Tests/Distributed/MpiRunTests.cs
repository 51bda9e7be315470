using System.Diagnostics;

namespace GraphCompiler.Tests.Distributed;

/// <summary>
/// The CPU backend's MPI transport for real: <c>mpirun -np N</c> around the built gcc-cli, one JIT-compiled
/// process per rank, each writing its results to <c>rank{rank}/</c>; every rank's results must equal what
/// the interpreter's <see cref="Interpreter.RunReplicated"/> computes for that replica (the oracle, not
/// numbers the compiled code produced). Plus the errors a process gets without mpirun or without libmpi.
/// Each mpirun starts N .NET processes that each JIT the program: a few seconds on two cores, so few runs.
/// </summary>
public sealed class MpiRunTests : IDisposable
{
    private static ProcessStartInfo Gcc(params string[] args) => MpiProcesses.Gcc(args);

    private static ProcessStartInfo Mpirun(int n, params string[] args) => MpiProcesses.Mpirun(n, args);

    private static (int Code, string Output) Launch(ProcessStartInfo psi) => MpiProcesses.Launch(psi);

    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Input = "2x4xf32=1,2,3,4,5,6,7,8";

    /// <summary>
    /// A program for <paramref name="n"/> (2 or 4) replicas using every collective, on per-rank data made with
    /// replica_id: d = x * (r + 1) and e = x - 3 r, groups that reorder ranks, and dimensions 0 and 1; two
    /// all-reduces split into start/done pairs, in flight together while other work runs.
    /// </summary>
    private static string Program(int n)
    {
        var (reorder, pairs) = n == 2 ? ("[1, 0]", "[0, 1]") : ("[0, 2, 1, 3]", "[3, 1, 0, 2]");
        return $$"""
            func @main(%x: tensor<2x4xf32> {name = "x"}) -> (tensor<i32> {name = "rank"}, tensor<2x4xf32> {name = "sum"},
                tensor<2x4xf32> {name = "mean"}, tensor<2x4xf32> {name = "max"}, tensor<2x4xf32> {name = "min"}, tensor<2x4xf64> {name = "sum64"},
                tensor<{{2 * n}}x4xf32> {name = "gather0"}, tensor<2x8xf32> {name = "gather1"}, tensor<1x4xf32> {name = "scatter0"},
                tensor<2x{{4 / n}}xf32> {name = "scatter1"}, tensor<2x4xf32> {name = "bcast"}, tensor<2x4xf32> {name = "async_mean"},
                tensor<2x4xf32> {name = "async_max"}) {
              %r = replica_id : tensor<i32>
              %rf = convert %r : tensor<f32>
              %rb = broadcast_in_dim %rf {dims = []} : tensor<2x4xf32>
              %one = constant {value = dense<1.0>} : tensor<2x4xf32>
              %three = constant {value = dense<3.0>} : tensor<2x4xf32>
              %r1 = add %rb, %one : tensor<2x4xf32>
              %d = mul %x, %r1 : tensor<2x4xf32>
              %r3 = mul %rb, %three : tensor<2x4xf32>
              %e = sub %x, %r3 : tensor<2x4xf32>
              %sum = all_reduce %d {kind = sum} : tensor<2x4xf32>
              %mean = all_reduce %d {kind = mean} : tensor<2x4xf32>
              %max = all_reduce %e {group_size = 2, groups = {{reorder}}, kind = max} : tensor<2x4xf32>
              %min = all_reduce %e {kind = min} : tensor<2x4xf32>
              %d64 = convert %d : tensor<2x4xf64>
              %sum64 = all_reduce %d64 {kind = sum} : tensor<2x4xf64>
              %g0 = all_gather %d {dim = 0} : tensor<{{2 * n}}x4xf32>
              %g1 = all_gather %e {dim = 1, group_size = 2, groups = {{pairs}}} : tensor<2x8xf32>
              %s0 = reduce_scatter %d {dim = 0, group_size = 2, groups = {{pairs}}, kind = sum} : tensor<1x4xf32>
              %s1 = reduce_scatter %e {dim = 1, kind = mean} : tensor<2x{{4 / n}}xf32>
              %b = collective_broadcast %e {group_size = 2, groups = {{reorder}}, root = 1} : tensor<2x4xf32>
              %am = all_reduce_start %d {kind = mean} : tensor<2x4xf32>
              %ax = all_reduce_start %e {group_size = 2, groups = {{reorder}}, kind = max} : tensor<2x4xf32>
              %between = add %d, %e : tensor<2x4xf32>
              %amd = all_reduce_done %am : tensor<2x4xf32>
              %axd = all_reduce_done %ax : tensor<2x4xf32>
              %asyncmean = add %amd, %between : tensor<2x4xf32>
              return %r, %sum, %mean, %max, %min, %sum64, %g0, %g1, %s0, %s1, %b, %asyncmean, %axd
            }
            """;
    }

    [MpirunTheory]
    [InlineData(2)]
    [InlineData(4)]
    public void EveryRankGetsTheInterpretersReplicatedResults(int n)
    {
        var dir = _temp.Directory("mpi");
        var ir = Path.Combine(dir, "collectives.ir");
        File.WriteAllText(ir, Program(n));
        var (code, output) = Launch(Mpirun(n, "run", ir, "--input", $"x={Input}", "--no-cache", "-o", Path.Combine(dir, "rank{rank}")));
        Assert.True(code == 0, $"mpirun -np {n} failed ({code}):\n{output}");

        var module = IrTest.Parse(Program(n));
        var x = T.F32([2, 4], 1, 2, 3, 4, 5, 6, 7, 8);
        var expected = new Interpreter(module).RunReplicated(null, [.. Enumerable.Repeat<IReadOnlyList<Tensor>>([x], n)]);
        Assert.True(expected.Ok, string.Join("\n", expected.Diagnostics));
        var f = module.Entry;
        for (int rank = 0; rank < n; rank++)
        {
            for (int i = 0; i < f.ResultTypes.Length; i++)
            {
                var file = Path.Combine(dir, $"rank{rank}", f.ResultName(i) + ".npy");
                Assert.True(File.Exists(file), $"rank {rank} wrote no {file}:\n{output}");
                var actual = Npy.ReadFile(file).Unwrap();
                // MPI reduces in f32 in its own order, the interpreter in f64 in rank order: equal for these small integers and halves.
                IrTest.AssertTensor(expected.Value![rank].Results[i], actual, rtol: 1e-6);
            }
        }
        Assert.Equal(rankIds(n), Enumerable.Range(0, n).Select(k => Npy.ReadFile(Path.Combine(dir, $"rank{k}", "rank.npy")).Unwrap().GetInt64(0)));

        static IEnumerable<long> rankIds(int n) => Enumerable.Range(0, n).Select(k => (long)k);
    }

    [MpirunFact]
    public void WithoutMpirunTheWorldOfOneIsReportedAsTheWrongSize()
    {
        // MPI starts as a singleton (world of one); the program's groups need two replicas.
        var dir = _temp.Directory("mpi");
        var ir = Path.Combine(dir, "collectives.ir");
        File.WriteAllText(ir, Program(2));
        var (code, output) = Launch(Gcc("run", ir, "--input", $"x={Input}", "--no-cache"));
        Assert.NotEqual(0, code);
        Assert.Contains("error 8", output);
        Assert.Contains("the MPI world has 1 (run it with mpirun -np 2)", output);
    }

    [Fact]
    public void AMissingMpiLibraryIsAClearError()
    {
        var dir = _temp.Directory("mpi");
        var ir = Path.Combine(dir, "collectives.ir");
        File.WriteAllText(ir, Program(2));
        var psi = Gcc("run", ir, "--input", $"x={Input}", "--no-cache");
        psi.Environment["GCC_MPI_LIBRARY"] = "libmpi-that-is-not-there.so.40";
        var (code, output) = Launch(psi);
        Assert.NotEqual(0, code);
        Assert.Contains("error 7 (no usable MPI library", output);
        Assert.Contains("cannot load libmpi-that-is-not-there.so.40", output);
        Assert.Contains("install openmpi-bin", output);
    }
}

/// <summary>A test skipped, visibly, when Open MPI's mpirun is not installed (it needs a real MPI world, or Open MPI's singleton start).</summary>
public sealed class MpirunFactAttribute : FactAttribute
{
    public static readonly string? Mpirun = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    public const string Missing = "no mpirun on PATH: install openmpi-bin and libopenmpi-dev (scripts/setup.sh does)";

    public MpirunFactAttribute()
    {
        if (Mpirun is null) Skip = Missing;
    }
}

/// <summary>A theory skipped, visibly, when Open MPI's mpirun is not installed.</summary>
public sealed class MpirunTheoryAttribute : TheoryAttribute
{
    public MpirunTheoryAttribute()
    {
        if (MpirunFactAttribute.Mpirun is null) Skip = MpirunFactAttribute.Missing;
    }
}
