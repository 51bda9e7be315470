using System.IO.Compression;
using System.Reflection;
using System.Security;
using System.Text;
using System.Text.RegularExpressions;
using GraphCompiler.IR;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using IrDiagnostic = GraphCompiler.IR.Diagnostic;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>compile --nupkg</c>: a NuGet package of a compiled model. The generated C# binding is compiled here with
/// Roslyn (so the consumer needs no <c>AllowUnsafeBlocks</c>) into <c>lib/net10.0/ID.dll</c>, and the shared
/// library goes to <c>runtimes/linux-x64/native/</c>, from where NuGet lists it in the app's deps.json and
/// the runtime's probing finds it for the binding's <c>[LibraryImport("libNAME.so")]</c>.
/// </summary>
internal static partial class ModelPackage
{
    public const string TargetFramework = "net10.0";

    /// <summary>NuGet's rules for an id: letters, digits, '.', '_', '-', at most 100 characters.</summary>
    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")]
    private static partial Regex IdPattern();

    /// <summary>A SemVer 2 version without build metadata, as NuGet normalises it (MAJOR.MINOR.PATCH[-PRERELEASE]).</summary>
    [GeneratedRegex(@"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")]
    private static partial Regex VersionPattern();

    public static string? CheckId(string id) =>
        IdPattern().IsMatch(id) && !id.EndsWith('.') ? null : $"package id '{id}' must be letters, digits, '.', '_' or '-' (at most 100, not ending in '.')";

    public static string? CheckVersion(string version) =>
        VersionPattern().IsMatch(version) ? null : $"package version '{version}' must be MAJOR.MINOR.PATCH with an optional -PRERELEASE (e.g. 1.0.0 or 1.0.0-beta.1)";

    /// <summary>
    /// The .nupkg bytes for the library <c>libNAME.so</c> and binding <c>NAME.cs</c> among <paramref name="files"/>;
    /// deterministic: the same inputs give the same bytes.
    /// </summary>
    public static Result<byte[]> Build(string name, string id, string version, IReadOnlyList<(string FileName, byte[] Data)> files)
    {
        var library = files.FirstOrDefault(f => f.FileName == $"lib{name}.so").Data;
        var binding = files.FirstOrDefault(f => f.FileName == $"{name}.cs").Data;
        if (library is null || binding is null) return Fail<byte[]>($"the target produced no lib{name}.so and {name}.cs to package");

        var assembly = CompileBinding(id, version, Encoding.UTF8.GetString(binding));
        if (!assembly.Ok) return Result<byte[]>.Failure(assembly.Diagnostics);
        var (dll, xml) = assembly.Value!;

        using var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string path, byte[] data)
            {
                var entry = archive.CreateEntry(path, CompressionLevel.Optimal);
                entry.LastWriteTime = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero); // reproducible bytes
                using var s = entry.Open();
                s.Write(data);
            }
            Add("[Content_Types].xml", Encoding.UTF8.GetBytes(ContentTypes));
            Add($"{id}.nuspec", Encoding.UTF8.GetBytes(Nuspec(name, id, version)));
            Add($"lib/{TargetFramework}/{id}.dll", dll);
            Add($"lib/{TargetFramework}/{id}.xml", xml);
            Add($"runtimes/linux-x64/native/lib{name}.so", library);
        }
        return Result<byte[]>.Success(zip.ToArray());
    }

    private static string Nuspec(string name, string id, string version) => $"""
        <?xml version="1.0" encoding="utf-8"?>
        <package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
          <metadata>
            <id>{SecurityElement.Escape(id)}</id>
            <version>{SecurityElement.Escape(version)}</version>
            <authors>gcc-cli</authors>
            <description>The model compiled by GraphCompiler (gcc-cli compile) as lib{name}.so for linux-x64, with its C# binding.</description>
            <dependencies>
              <group targetFramework="{TargetFramework}" />
            </dependencies>
          </metadata>
        </package>
        """;

    private const string ContentTypes = """
        <?xml version="1.0" encoding="utf-8"?>
        <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
          <Default Extension="nuspec" ContentType="application/octet" />
          <Default Extension="dll" ContentType="application/octet" />
          <Default Extension="xml" ContentType="application/octet" />
          <Default Extension="so" ContentType="application/octet" />
        </Types>
        """;

    /// <summary>The binding compiled against the .NET reference assemblies, with the SDK's LibraryImport generator: (dll, xml docs).</summary>
    private static Result<CompiledBinding> CompileBinding(string id, string version, string source)
    {
        if (FindReferencePack() is not { } pack)
            return Fail<CompiledBinding>($"--nupkg needs the .NET {Environment.Version.Major} SDK's reference pack (packs/Microsoft.NETCore.App.Ref/{Environment.Version.Major}.*) next to the runtime; install the SDK");
        var generatorPath = LibraryImportGenerator(pack);
        var refs = Path.Combine(pack, "ref", $"net{Environment.Version.Major}.0");
        if (!File.Exists(generatorPath) || !Directory.Exists(refs)) return Fail<CompiledBinding>($"the .NET reference pack {pack} lacks ref/ or the LibraryImport generator");

        var parse = new CSharpParseOptions(LanguageVersion.Latest, DocumentationMode.Parse);
        var attributes = $"""
            [assembly: System.Runtime.Versioning.TargetFramework(".NETCoreApp,Version=v{Environment.Version.Major}.0")]
            [assembly: System.Reflection.AssemblyVersion("{version.Split('-')[0]}.0")]
            [assembly: System.Reflection.AssemblyInformationalVersion("{version}")]
            """;
        var compilation = CSharpCompilation.Create(id,
            [CSharpSyntaxTree.ParseText(source, parse, path: "binding.cs"), CSharpSyntaxTree.ParseText(attributes, parse, path: "assembly.cs")],
            Directory.GetFiles(refs, "*.dll").Select(p => MetadataReference.CreateFromFile(p)),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, optimizationLevel: OptimizationLevel.Release,
                nullableContextOptions: NullableContextOptions.Enable, deterministic: true));
        var generators = new AnalyzerFileReference(generatorPath, new GeneratorLoader()).GetGenerators(LanguageNames.CSharp);
        CSharpGeneratorDriver.Create(generators, parseOptions: parse).RunGeneratorsAndUpdateCompilation(compilation, out var generated, out var generatorDiagnostics);

        using var dll = new MemoryStream();
        using var xml = new MemoryStream();
        var emitted = generated.Emit(dll, xmlDocumentationStream: xml);
        var error = generatorDiagnostics.Concat(emitted.Diagnostics).FirstOrDefault(d => d.Severity == DiagnosticSeverity.Error);
        if (error is not null || !emitted.Success)
            return Fail<CompiledBinding>($"the generated C# binding did not compile (a bug): {error?.ToString() ?? "no diagnostic"}");
        return Result<CompiledBinding>.Success(new CompiledBinding(dll.ToArray(), xml.ToArray()));
    }

    /// <summary>The SDK's LibraryImport source generator inside a reference pack (the tests compile bindings with it too).</summary>
    internal static string LibraryImportGenerator(string pack) => Path.Combine(pack, "analyzers", "dotnet", "cs", "Microsoft.Interop.LibraryImportGenerator.dll");

    /// <summary>The newest <c>packs/Microsoft.NETCore.App.Ref/MAJOR.*</c> of the dotnet installation this process runs on.</summary>
    internal static string? FindReferencePack()
    {
        // .../dotnet/shared/Microsoft.NETCore.App/10.0.x/System.Private.CoreLib.dll → .../dotnet
        var root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", ".."));
        var packs = Path.Combine(root, "packs", "Microsoft.NETCore.App.Ref");
        if (!Directory.Exists(packs)) return null;
        var major = Environment.Version.Major + ".";
        return Directory.GetDirectories(packs).Where(d => Path.GetFileName(d).StartsWith(major, StringComparison.Ordinal))
            .OrderByDescending(d => Version.TryParse(Path.GetFileName(d).Split('-')[0], out var v) ? v : new Version())
            .FirstOrDefault();
    }

    private static Result<T> Fail<T>(string message) where T : class => Result<T>.Failure(new IrDiagnostic(message));

    private sealed record CompiledBinding(byte[] Dll, byte[] Xml);

    private sealed class GeneratorLoader : IAnalyzerAssemblyLoader
    {
        public void AddDependencyLocation(string fullPath) { }
        public Assembly LoadFromPath(string fullPath) => Assembly.LoadFrom(fullPath);
    }
}
