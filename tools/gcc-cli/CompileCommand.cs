using System.CommandLine;
using GraphCompiler.Backends.Cpu.Aot;
using GraphCompiler.Backends.Cpu.Llvm;
using GraphCompiler.Frontend;
using GraphCompiler.IR;
using GraphCompiler.Passes;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>gcc-cli compile MODEL -o DIR --name NAME [--target T]</c>: ahead-of-time compilation for the CPU
/// (tfcompile-style). Writes NAME.o, libNAME.so, NAME.h and NAME.cs into DIR, all or nothing.
/// </summary>
internal static class CompileCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("model") { Description = $"The model: {ModelLoader.Supported}." };
        var outputDir = new Option<string>("--output-dir", "-o") { Description = "Directory for the artefacts (created if missing).", Required = true };
        var name = new Option<string>("--name") { Description = "C identifier: symbol prefix and file stem (NAME_run, libNAME.so, NAME.h, NAME.cs).", DefaultValueFactory = _ => "model" };
        var target = new Option<string>("--target") { Description = $"CPU to generate code for: {string.Join(", ", CpuTarget.Names)}.", DefaultValueFactory = _ => "host" };
        var feeds = new Option<string[]>("--feed") { Description = "An imported model's input as NAME or NAME:dtype[d0,d1,...] (fixes unknown dimensions). Repeat per input." };
        var fetches = new Option<string[]>("--fetch") { Description = "An imported model's output to compute. Repeat per output; default: the model's outputs." };
        var constants = new Option<string[]>("--constant") { Description = "Bind an imported model's input to a value at compile time: NAME=FILE.npy (shapes, axes). Repeat per input." };
        var function = new Option<string?>("--function") { Description = "The function to compile (default: main, else the first)." };
        var ns = new Option<string?>("--namespace") { Description = "Namespace of the generated C# class (default: none)." };
        var cmd = new Command("compile", "Compile a model ahead of time for the CPU: object file, shared library, C header and C# binding.")
        {
            file, outputDir, name, target, feeds, fetches, constants, function, ns,
        };
        cmd.SetAction(r => Run(r.GetValue(file)!, r.GetValue(outputDir)!, r.GetValue(name)!, r.GetValue(target)!,
            r.GetValue(feeds) ?? [], r.GetValue(fetches) ?? [], r.GetValue(constants) ?? [], r.GetValue(function), r.GetValue(ns)));
        return cmd;
    }

    private static int Run(string path, string outputDir, string name, string target, string[] feedSpecs, string[] fetches, string[] constantSpecs, string? function, string? ns)
    {
        // Cheap checks first, so that a typo costs no compilation.
        if (!AotAbi.IsIdentifier(name)) return Cli.Fail($"--name '{name}' must be a C identifier (letters, digits, '_'; not starting with a digit)");
        if (!CpuTarget.Names.Contains(target)) return Cli.Fail($"unknown --target '{target}' (known: {string.Join(", ", CpuTarget.Names)})");
        if (ns is not null && !ns.Split('.').All(AotAbi.IsIdentifier)) return Cli.Fail($"--namespace '{ns}' is not a C# namespace name");
        if (File.Exists(outputDir)) return Cli.Fail($"{outputDir} exists and is not a directory");
        var feeds = new List<FeedSpec>();
        foreach (var spec in feedSpecs)
        {
            var f = ModelLoader.ParseFeed(spec);
            if (!f.Ok) return FailOne(f.Diagnostics);
            feeds.Add(f.Value!);
        }

        var constants = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var spec in constantSpecs)
        {
            int eq = spec.LastIndexOf('=');
            if (eq <= 0) return Cli.Fail($"--constant '{spec}' must be NAME=FILE.npy");
            var value = Npy.ReadFile(spec[(eq + 1)..]);
            if (!value.Ok) return FailOne(value.Diagnostics);
            if (!constants.TryAdd(spec[..eq], value.Value!)) return Cli.Fail($"--constant '{spec[..eq]}' is given twice");
        }

        var module = ModelLoader.Load(path, new ImportOptions { Feeds = feeds, Fetches = fetches, ConstantInputs = constants });
        if (!module.Ok) return FailOne(module.Diagnostics);
        if (function is not null && module.Value!.Find(function) is null) return Cli.Fail($"{path}: no function named '{function}'");
        var optimised = PassManager.Run(module.Value!, PassRegistry.Default);
        if (!optimised.Ok) return FailOne(optimised.Diagnostics);
        var artefacts = AotCompiler.Compile(optimised.Value!, new AotOptions { Name = name, Target = target, Namespace = ns }, function);
        if (!artefacts.Ok) return FailOne(artefacts.Diagnostics);

        Cli.WriteAll(outputDir, artefacts.Value!.Files);
        var abi = artefacts.Value.Abi;
        foreach (var (fileName, data) in artefacts.Value.Files)
            Console.Out.WriteLine($"{Path.Combine(outputDir, fileName)} ({data.Length} bytes)");
        Console.Out.WriteLine($"{name}_run: {abi.Arguments.Count} argument(s), {abi.Results.Count} result(s), arena {abi.ArenaBytes} bytes, target {target}");
        return Cli.Ok;
    }

    /// <summary>Bad input is reported on one line: the first problem, and how many more there are.</summary>
    private static int FailOne(IReadOnlyList<Diagnostic> diagnostics)
    {
        var first = diagnostics.Count > 0 ? diagnostics[0].ToString().ReplaceLineEndings(" ") : "error: compilation failed";
        var more = diagnostics.Count > 1 ? $" (and {diagnostics.Count - 1} more problem{(diagnostics.Count == 2 ? "" : "s")})" : "";
        Console.Error.WriteLine(first + more);
        return Cli.BadInput;
    }
}
