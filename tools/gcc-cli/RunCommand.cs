using System.CommandLine;
using GraphCompiler.IR;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>gcc-cli run MODEL --input NAME=FILE.npy ... [-o DIR] [--output NAME=@FILE.npy ...] [--backend cpu|interpreter] [--print-full] [--tasks N] [--place REGEX=taskK]</c>:
/// run a model (any format <see cref="ModelLoader"/> reads; inputs: see <see cref="InputFiles"/>), print its results, and
/// write each result named by <c>--output</c> to its file (IREE's form) and every other one as <c>DIR/NAME.npy</c>.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var inputs = new Option<string[]>("--input", "-i")
        {
            Description = "An argument value: NAME=FILE.npy or NAME=@FILE.npy (NAME is the argument's name, or argN), NAME=2x4xf32=1,2,... inline "
                + "(one value fills the shape), or 2x4xf32=1,2,... or @FILE.npy for the next argument not given by name. Repeat per argument.",
            AllowMultipleArgumentsPerToken = false,
        };
        var outputDir = new Option<string?>("--output-dir", "-o") { Description = "Folder to write one NAME.npy per result into (created if missing); results are printed either way. '{rank}' in it (and in --output files) is the MPI rank under mpirun." };
        var outputs = new Option<string[]>("--output")
        {
            Description = "Where one result goes: NAME=@FILE.npy (NAME is the result's name, or resultN), or @FILE.npy for the next result not given by name. Repeat per result.",
            AllowMultipleArgumentsPerToken = false,
        };
        var backend = Cli.BackendOption("Which target runs the graph.");
        var function = new Option<string?>("--function") { Description = "The function to run (default: main, else the first)." };
        var printFull = new Option<bool>("--print-full") { Description = "Print every element of each result (default: the first 8)." };
        var timing = new TimingCliOptions();
        var placement = new PlacementCliOptions();
        var cmd = placement.AddTo(model.AddTo(new Command("run", "Run a model on .npy inputs and write its results as .npy files.")));
        cmd.Options.Add(inputs);
        cmd.Options.Add(outputDir);
        cmd.Options.Add(outputs);
        cmd.Options.Add(backend);
        cmd.Options.Add(function);
        cmd.Options.Add(printFull);
        timing.AddTo(cmd);
        cmd.SetAction(r => Run(r, model, placement, timing, r.GetValue(inputs) ?? [], r.GetValue(outputs) ?? [], r.GetValue(outputDir), r.GetValue(backend)!, r.GetValue(function), r.GetValue(printFull)));
        return cmd;
    }

    /// <summary>Replaced by the process's MPI rank in output paths, so the ranks of one mpirun write different files.</summary>
    private const string RankPlaceholder = "{rank}";

    private static int Run(ParseResult r, ModelOptions model, PlacementCliOptions placement, TimingCliOptions timing, string[] inputSpecs, string[] outputSpecs, string? outputDir, string backendName, string? functionName, bool printFull)
    {
        var path = r.GetValue(model.Model)!;
        var options = model.Apply(r, new CompileOptions { Target = backendName, Function = functionName });
        if (!options.Ok) return Cli.FailOne(options.Diagnostics);
        if (Cli.Driver(timing.Apply(r, placement.Apply(r, options.Value!)), out var bad) is not { } driver) return bad;
        var phases = timing.Recorder(r);
        driver = driver.WithPhases(phases);

        // A cache hit needs no import: the entry has the function's interface, all the inputs are read against.
        var cached = driver.CachedJit(path);
        var compiled = cached is null ? null : Result<JitCompilation>.Success(cached);
        Function? f;
        if (compiled is null)
        {
            var loaded = driver.Load(path);
            if (!loaded.Ok) return Cli.FailOne(loaded.Diagnostics);
            var module = loaded.Value!;
            f = functionName is null ? module.Entry : module.Find(functionName);
            if (f is null) return Cli.Fail($"{path}: no function named '{functionName}'");
            var read = InputFiles.Read(f, inputSpecs);
            if (!read.Ok) return Cli.FailOne(read.Diagnostics);
            if (OutputFiles.Resolve(f, outputSpecs) is { Ok: false } badOutputs) return Cli.FailOne(badOutputs.Diagnostics);
            compiled = driver.LoadAndJit(path, module);
            if (!compiled.Ok) return Cli.FailOne(compiled.Diagnostics);
        }
        f = compiled.Value!.Signature;
        using var executable = compiled.Value!.Executable;
        var destinations = OutputFiles.Resolve(f, outputSpecs);
        if (!destinations.Ok) return Cli.FailOne(destinations.Diagnostics);
        var args = InputFiles.Read(f, inputSpecs);
        if (!args.Ok) return Cli.FailOne(args.Diagnostics);
        var result = executable.Run(args.Value!.Values);
        if (!result.Ok) return Cli.FailOne(result.Diagnostics);
        // Under mpirun, each rank names its files: {rank} in -o and --output is this process's MPI rank (0 without MPI).
        var rank = (GraphCompiler.Distributed.MpiWorld.Current?.Rank ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture);
        outputDir = outputDir?.Replace(RankPlaceholder, rank, StringComparison.Ordinal);
        var perRank = destinations.Value!.Select(d => d?.Replace(RankPlaceholder, rank, StringComparison.Ordinal)).ToArray();

        var files = new List<(string, byte[])>();
        var named = new List<(string Path, byte[] Data)>();
        var used = new HashSet<string>();
        for (int i = 0; i < result.Value!.Count; i++)
        {
            var t = result.Value[i];
            var name = Cli.SafeFileName(f.ResultName(i));
            if (perRank[i] is { } file)
            {
                named.Add((file, Npy.Write(t)));
                Console.Out.WriteLine($"{file}: {t.Type} {TensorFormatter.Format(t, printFull ? long.MaxValue : 8)}");
                continue;
            }
            while (!used.Add(name)) name += "_";
            if (outputDir is not null) files.Add((name + ".npy", Npy.Write(t)));
            Console.Out.WriteLine($"{name}{(outputDir is null ? "" : ".npy")}: {t.Type} {TensorFormatter.Format(t, printFull ? long.MaxValue : 8)}");
        }
        if (outputDir is not null) Cli.WriteAll(outputDir, files);
        foreach (var group in named.GroupBy(n => Path.GetDirectoryName(Path.GetFullPath(n.Path))!))
            Cli.WriteAll(group.Key, [.. group.Select(n => (Path.GetFileName(n.Path), n.Data))]);
        timing.Report(r, phases);
        return Cli.Ok;
    }
}
