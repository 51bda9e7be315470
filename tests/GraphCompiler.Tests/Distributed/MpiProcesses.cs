using System.Diagnostics;

namespace GraphCompiler.Tests.Distributed;

/// <summary>
/// Starting the built gcc-cli, alone or under <c>mpirun -np N</c>, as docs/distributed.md gives the command,
/// for the tests that run compiled programs over MPI (<see cref="MpiRunTests"/>, <see cref="ModelParallelRunTests"/>).
/// </summary>
internal static class MpiProcesses
{
    /// <summary>A hung rank (a message or collective another rank never reaches) fails the test instead of hanging CI.</summary>
    public const int TimeoutMs = 180_000;

    public static ProcessStartInfo Gcc(params string[] args) =>
        WithMpiEnvironment(new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "gcc-cli.dll"), .. args]));

    /// <summary>mpirun -np N gcc-cli ARGS, as docs/distributed.md gives it.</summary>
    public static ProcessStartInfo Mpirun(int n, params string[] args) =>
        WithMpiEnvironment(new ProcessStartInfo(MpirunFactAttribute.Mpirun!,
            ["--oversubscribe", "--bind-to", "none", "-np", n.ToString(), "dotnet", Path.Combine(AppContext.BaseDirectory, "gcc-cli.dll"), .. args]));

    /// <summary>CI runs as root (Open MPI refuses without both variables); containers lack the single-copy mechanism (CMA).</summary>
    private static ProcessStartInfo WithMpiEnvironment(ProcessStartInfo psi)
    {
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        psi.Environment["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none";
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        return psi;
    }

    public static (int Code, string Output) Launch(ProcessStartInfo psi)
    {
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeoutMs))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{psi.FileName} did not finish within {TimeoutMs / 1000} s (a rank waiting for a message or a collective?)");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
