using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using GraphCompiler.IR.Text;
using GraphCompiler.Tests.Cli;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// Which artefacts <c>gcc-cli compile</c> writes: the object file only with <c>--object</c>, a NuGet package
/// with <c>--nupkg</c> (its layout here; tests/…/Packaging consumes it), and a header whose build line works as written.
/// </summary>
public sealed partial class AotArtefactTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", name);

    private static string[] Files(string dir) => [.. Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal)];

    [Fact]
    public void TheObjectFileIsWrittenOnlyWithObject()
    {
        var plain = Path.Combine(_temp.Directory("gc-aot"), "out");
        var (code, stdout, stderr) = CliTests.Run("compile", Example("softmax_regression.ir"), "-o", plain, "--name", "sm");
        Assert.True(code == 0, stderr);
        Assert.Equal(["libsm.so", "sm.cs", "sm.h"], Files(plain));
        Assert.DoesNotContain("sm.o", stdout);

        var withObject = Path.Combine(_temp.Directory("gc-aot"), "out");
        (code, _, stderr) = CliTests.Run("compile", Example("softmax_regression.ir"), "-o", withObject, "--name", "sm", "--object");
        Assert.True(code == 0, stderr);
        Assert.Equal(["libsm.so", "sm.cs", "sm.h", "sm.o"], Files(withObject));
        var obj = File.ReadAllBytes(Path.Combine(withObject, "sm.o"));
        Assert.Equal("\u007fELF"u8.ToArray(), obj[..4]);
        Assert.Equal(1, BitConverter.ToUInt16(obj, 16)); // e_type ET_REL: relocatable, for static linking
    }

    [GeneratedRegex(@"^ \*   (cc app\.c .*)$", RegexOptions.Multiline)]
    private static partial Regex BuildLine();

    [Fact]
    public void TheHeadersBuildLineBuildsAProgramThatRunsWithoutLdLibraryPath()
    {
        var dir = Path.Combine(_temp.Directory("gc-aot"), "out");
        var (code, _, stderr) = CliTests.Run("compile", Example("softmax_regression.ir"), "-o", dir, "--name", "sm");
        Assert.True(code == 0, stderr);
        var match = BuildLine().Match(File.ReadAllText(Path.Combine(dir, "sm.h")));
        Assert.True(match.Success, "sm.h shows no 'cc app.c ...' build line");
        Assert.Equal("cc app.c -I. -L. -lsm -Wl,-rpath,'$ORIGIN' -o app", match.Groups[1].Value);

        File.WriteAllText(Path.Combine(dir, "app.c"), """
            #include <stdio.h>
            #include <stdlib.h>
            #include "sm.h"
            int main(void) {
              float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, p[6];
              void *args[1] = {x}, *results[1] = {p};
              void *arena = aligned_alloc(64, 128 + (size_t)SM_ARENA_SIZE / 64 * 64);
              if (sm_run(args, results, arena, 1) != SM_OK) return 1;
              for (int i = 0; i < 6; i++) printf("%.9g\n", p[i]);
              free(arena);
              return 0;
            }
            """);
        // The line exactly as the header shows it, through a shell (it quotes $ORIGIN for one).
        var (rc, output) = Exec(dir, "sh", "-c", match.Groups[1].Value);
        Assert.True(rc == 0, $"the header's build line failed:\n{output}");
        (rc, output) = Exec(dir, Path.Combine(dir, "app"));
        Assert.True(rc == 0, $"./app exited with {rc}:\n{output}");

        var model = Parser.ParseFile(Example("softmax_regression.ir")).Unwrap();
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }, 2, 4);
        var expected = new Interpreter(model).Run(null, [x]).Unwrap().Results[0].ToArray<float>();
        var actual = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => float.Parse(l, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f, $"p[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    [Fact]
    public void NupkgHoldsTheCompiledBindingAndTheNativeLibrary()
    {
        var dir = Path.Combine(_temp.Directory("gc-aot"), "out");
        var (code, stdout, stderr) = CliTests.Run("compile", Example("softmax_regression.ir"), "-o", dir, "--name", "sm",
            "--nupkg", "--package-id", "Acme.Softmax", "--package-version", "2.1.0-beta.1", "--namespace", "Acme");
        Assert.True(code == 0, stderr);
        Assert.Equal(["Acme.Softmax.2.1.0-beta.1.nupkg", "libsm.so", "sm.cs", "sm.h"], Files(dir));
        Assert.Contains("Acme.Softmax.2.1.0-beta.1.nupkg (", stdout);

        using var zip = ZipFile.OpenRead(Path.Combine(dir, "Acme.Softmax.2.1.0-beta.1.nupkg"));
        Assert.Equal(["Acme.Softmax.nuspec", "[Content_Types].xml", "lib/net10.0/Acme.Softmax.dll", "lib/net10.0/Acme.Softmax.xml", "runtimes/linux-x64/native/libsm.so"],
            zip.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal));
        using (var s = zip.GetEntry("runtimes/linux-x64/native/libsm.so")!.Open())
        using (var copy = new MemoryStream())
        {
            s.CopyTo(copy);
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "libsm.so")), copy.ToArray());
        }
        XNamespace ns = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd";
        using (var s = zip.GetEntry("Acme.Softmax.nuspec")!.Open())
        {
            var metadata = XDocument.Load(s).Root!.Element(ns + "metadata")!;
            Assert.Equal("Acme.Softmax", metadata.Element(ns + "id")!.Value);
            Assert.Equal("2.1.0-beta.1", metadata.Element(ns + "version")!.Value);
            Assert.Equal("net10.0", metadata.Element(ns + "dependencies")!.Element(ns + "group")!.Attribute("targetFramework")!.Value);
        }
        // The assembly is the binding, compiled: its public class and the P/Invoke stubs the generator made.
        using (var s = zip.GetEntry("lib/net10.0/Acme.Softmax.dll")!.Open())
        using (var copy = new MemoryStream())
        {
            s.CopyTo(copy);
            copy.Position = 0;
            using var pe = new System.Reflection.PortableExecutable.PEReader(copy);
            var md = System.Reflection.Metadata.PEReaderExtensions.GetMetadataReader(pe);
            var types = md.TypeDefinitions.Select(h => md.GetTypeDefinition(h)).Select(t => md.GetString(t.Namespace) + "." + md.GetString(t.Name)).ToList();
            Assert.Contains("Acme.Sm", types);
            Assert.Equal("Acme.Softmax", md.GetString(md.GetAssemblyDefinition().Name));
        }
    }

    [Theory]
    [InlineData("package id 'bad id' must be", "--nupkg", "--package-id", "bad id")]
    [InlineData("package version '1.0' must be MAJOR.MINOR.PATCH", "--nupkg", "--package-version", "1.0")]
    [InlineData("--package-id and --package-version need --nupkg", "--package-id", "Acme")]
    public void BadPackageOptionsFailOnOneLineAndWriteNothing(string message, params string[] options)
    {
        var dir = Path.Combine(_temp.Directory("gc-aot"), "out");
        var (code, _, stderr) = CliTests.Run(["compile", Example("softmax_regression.ir"), "-o", dir, "--name", "sm", .. options]);
        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(Directory.Exists(dir));
    }

    internal static (int Code, string Output) Exec(string directory, string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program, args) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment.Remove("LD_LIBRARY_PATH"); // the rpath alone must find the library
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(true);
            Assert.Fail($"{program} did not finish within 120 s");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
