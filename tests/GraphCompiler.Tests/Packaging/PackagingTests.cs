using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using GraphCompiler.IR.Text;
using GraphCompiler.Tests.Cli;

namespace GraphCompiler.Tests.Packaging;

/// <summary>
/// The packages as a user consumes them: a console app in a temp directory with one PackageReference, built by
/// <c>dotnet build</c> against a local feed, run, and its printed results compared with the reference interpreter.
/// Restores go to a temp packages folder (so no stale same-version copy lands in the global cache) while
/// third-party packages still come from the configured feed.
/// </summary>
public sealed partial class PackagingTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private static readonly float[] X = [1, 2, 3, 4, -5, 0.5f, 6, -7];

    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", name);

    /// <summary>softmax_regression.ir on <see cref="X"/>, by the reference interpreter.</summary>
    private static float[] Expected()
    {
        var model = Parser.ParseFile(Example("softmax_regression.ir")).Unwrap();
        return new Interpreter(model).Run(null, [Tensor.FromArray(X, 2, 4)]).Unwrap().Results[0].ToArray<float>();
    }

    private const string PrintValues = """
        Console.WriteLine(string.Join(" ", p.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))));
        """;

    [Fact]
    public void TheLibraryPackageRunsAModelThroughTheJitInAConsoleApp()
    {
        var feed = _temp.Directory("gc-feed");
        var (rc, output) = Dotnet(GoldenFile.RepoRoot(), "pack", "GraphCompiler.sln", "-c", Configuration, "--no-build", "-nologo", "-o", feed);
        Assert.True(rc == 0, $"dotnet pack failed:\n{output}");
        var version = Directory.GetFiles(feed).Select(f => LibraryPackage().Match(Path.GetFileName(f))).Single(m => m.Success).Groups[1].Value;
        // Every package GraphCompiler depends on was produced (the old package named five it did not).
        foreach (var id in new[] { "IR", "Frontend", "Passes", "Runtime", "Backends.Llvm", "Backends.Cpu", "Backends.Cuda" })
            Assert.True(File.Exists(Path.Combine(feed, $"GraphCompiler.{id}.{version}.nupkg")), $"dotnet pack made no GraphCompiler.{id} package");

        var app = App("GraphCompiler", version, $$"""
            using GraphCompiler;
            using GraphCompiler.IR;

            using var model = CompiledModel.Compile(args[0], new CompileOptions { Threads = 1 });
            var x = Tensor.FromArray(new float[] { {{string.Join(", ", X.Select(v => v.ToString("R", CultureInfo.InvariantCulture) + "f"))}} }, 2, 4);
            var result = model.Run([x])[0];
            Console.WriteLine(result.Type);
            var p = result.ToArray<float>();
            {{PrintValues}}
            """);
        var lines = BuildAndRun(app, feed, Example("softmax_regression.ir"));
        Assert.Equal("tensor<2x3xf32>", lines[0]);
        AssertClose(Expected(), lines[1]);
    }

    [Fact]
    public void AModelPackageFromCompileNupkgWorksWithOnePackageReference()
    {
        var feed = _temp.Directory("gc-feed");
        var (code, _, stderr) = CliTests.Run("compile", Example("softmax_regression.ir"), "-o", feed, "--name", "softmax",
            "--nupkg", "--package-id", "GcTests.Softmax", "--package-version", "1.2.3", "--namespace", "Models");
        Assert.True(code == 0, stderr);

        // No AllowUnsafeBlocks and no native-library set-up: the package carries both.
        var app = App("GcTests.Softmax", "1.2.3", $$"""
            using Models;

            var x = new float[] { {{string.Join(", ", X.Select(v => v.ToString("R", CultureInfo.InvariantCulture) + "f"))}} };
            var p = new float[Softmax.ProbabilitiesResultElements];
            using var model = new Softmax(threads: 1);
            model.Run(x, p);
            Console.WriteLine(string.Join("x", Softmax.ProbabilitiesResultShape.ToArray()));
            {{PrintValues}}
            """);
        Assert.DoesNotContain("AllowUnsafeBlocks", File.ReadAllText(Path.Combine(app, "app.csproj")));
        var lines = BuildAndRun(app, feed);
        Assert.Equal("2x3", lines[0]);
        AssertClose(Expected(), lines[1]);
    }

    [GeneratedRegex(@"^GraphCompiler\.([0-9][^/]*)\.nupkg$")]
    private static partial Regex LibraryPackage();

    /// <summary>A console project referencing one package, with <paramref name="program"/> as its Program.cs.</summary>
    private string App(string packageId, string version, string program)
    {
        var dir = _temp.Directory("gc-app");
        File.WriteAllText(Path.Combine(dir, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="{packageId}" Version="[{version}]" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), program);
        return dir;
    }

    /// <summary>Builds the app against <paramref name="feed"/> plus the configured sources, runs it, returns its output lines.</summary>
    private string[] BuildAndRun(string app, string feed, params string[] args)
    {
        var packages = _temp.Directory("gc-nuget");
        var (rc, output) = Dotnet(app, "build", "-c", "Release", "-nologo", "-v", "quiet",
            $"-p:RestoreAdditionalProjectSources={feed}", $"-p:RestorePackagesPath={packages}");
        Assert.True(rc == 0, $"dotnet build of the consumer failed:\n{output}");
        (rc, output) = Dotnet(app, [Path.Combine(app, "bin", "Release", "net10.0", "app.dll"), .. args]);
        Assert.True(rc == 0, $"the consumer exited with {rc}:\n{output}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    private static void AssertClose(float[] expected, string line)
    {
        var actual = line.Split(' ').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f * Math.Max(1, Math.Abs(expected[i])), $"p[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
    }

    private static (int Code, string Output) Dotnet(string directory, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", args) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        // The test host's MSBuild settings must not leak into a separate build.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(300_000))
        {
            p.Kill(true);
            Assert.Fail($"dotnet {string.Join(' ', args)} did not finish within 300 s");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
