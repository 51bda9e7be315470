using System.Xml.Linq;

namespace GraphCompiler.Tests.Architecture;

/// <summary>The dependency rule: Frontend and Passes on IR only; the shared LLVM layer on IR and Runtime; each target backend (CPU, CUDA) on IR, Runtime and the LLVM layer, never on another backend; Runtime and IR on nothing of ours; the public API (src/GraphCompiler) on all of them.</summary>
public sealed class LayeringTests
{
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["src/IR/GraphCompiler.IR.csproj"] = [],
        ["src/Runtime/GraphCompiler.Runtime.csproj"] = [],
        ["src/Frontend/GraphCompiler.Frontend.csproj"] = ["src/IR/GraphCompiler.IR.csproj"],
        ["src/Passes/GraphCompiler.Passes.csproj"] = ["src/IR/GraphCompiler.IR.csproj"],
        // The LLVM binding, the element evaluator, the host program emitter and the AOT library form, shared by the targets.
        ["src/Backends/Llvm/GraphCompiler.Backends.Llvm.csproj"] = ["src/IR/GraphCompiler.IR.csproj", "src/Runtime/GraphCompiler.Runtime.csproj"],
        ["src/Backends/Cpu/GraphCompiler.Backends.Cpu.csproj"] = ["src/IR/GraphCompiler.IR.csproj", "src/Runtime/GraphCompiler.Runtime.csproj", "src/Backends/Llvm/GraphCompiler.Backends.Llvm.csproj"],
        // A CUDA program's host kernels come from its caller (CudaCompileOptions.HostKernels), not from a CPU backend reference (docs/decisions.md).
        ["src/Backends/Cuda/GraphCompiler.Backends.Cuda.csproj"] = ["src/IR/GraphCompiler.IR.csproj", "src/Runtime/GraphCompiler.Runtime.csproj", "src/Backends/Llvm/GraphCompiler.Backends.Llvm.csproj"],
        // The public API sits above every layer.
        ["src/GraphCompiler/GraphCompiler.csproj"] =
        [
            "src/IR/GraphCompiler.IR.csproj", "src/Frontend/GraphCompiler.Frontend.csproj", "src/Passes/GraphCompiler.Passes.csproj",
            "src/Backends/Cpu/GraphCompiler.Backends.Cpu.csproj", "src/Backends/Cuda/GraphCompiler.Backends.Cuda.csproj",
            "src/Backends/Llvm/GraphCompiler.Backends.Llvm.csproj", "src/Runtime/GraphCompiler.Runtime.csproj",
        ],
        // The command line parses arguments, maps them to the driver's options and prints: no pass or backend.
        ["tools/gcc-cli/GraphCompiler.Cli.csproj"] =
        [
            "src/GraphCompiler/GraphCompiler.csproj", "src/IR/GraphCompiler.IR.csproj", "src/Frontend/GraphCompiler.Frontend.csproj",
        ],
    };

    public static IEnumerable<object[]> Projects()
    {
        var root = GoldenFile.RepoRoot();
        return new[] { "src", "tools" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(root, d), "*.csproj", SearchOption.AllDirectories))
            .Select(p => Path.GetRelativePath(GoldenFile.RepoRoot(), p).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .Select(p => new object[] { p });
    }

    [Theory]
    [MemberData(nameof(Projects))]
    public void ProjectReferencesFollowTheLayering(string project)
    {
        Assert.True(Allowed.ContainsKey(project), $"{project} is not in the layering table; add it with its allowed references");
        var root = GoldenFile.RepoRoot();
        var dir = Path.GetDirectoryName(Path.Combine(root, project))!;
        var refs = XDocument.Load(Path.Combine(root, project)).Descendants("ProjectReference")
            .Select(e => Path.GetRelativePath(root, Path.GetFullPath(Path.Combine(dir, e.Attribute("Include")!.Value))).Replace('\\', '/'))
            .ToList();
        foreach (var r in refs)
            Assert.True(Allowed[project].Contains(r), $"{project} must not reference {r} (allowed: {string.Join(", ", Allowed[project])})");
    }

    [Fact]
    public void EveryLayerExists() =>
        Assert.Equal(Allowed.Keys.Order(StringComparer.Ordinal), Projects().Select(p => (string)p[0]));

    /// <summary>A backend's internals are its own: no backend opens them to another (tests may see them).</summary>
    [Fact]
    public void NoBackendOpensItsInternalsToAnother()
    {
        var root = GoldenFile.RepoRoot();
        var backends = Directory.EnumerateFiles(Path.Combine(root, "src", "Backends"), "*.csproj", SearchOption.AllDirectories).ToList();
        var names = backends.Select(p => XDocument.Load(p).Descendants("AssemblyName").Single().Value).ToHashSet();
        foreach (var project in backends)
        {
            var friends = XDocument.Load(project).Descendants("InternalsVisibleTo").Select(e => e.Attribute("Include")!.Value);
            var sources = Directory.EnumerateFiles(Path.GetDirectoryName(project)!, "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/"))
                .SelectMany(f => System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(f), @"InternalsVisibleTo\(""([^""]+)""\)").Select(m => m.Groups[1].Value));
            foreach (var friend in friends.Concat(sources))
                Assert.False(names.Contains(friend), $"{Path.GetRelativePath(root, project)} opens its internals to {friend}");
        }
    }
}
