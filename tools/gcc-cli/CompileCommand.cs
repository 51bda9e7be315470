using System.CommandLine;
using GraphCompiler.IR;
using GraphCompiler.IR.Targets;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>gcc-cli compile MODEL -o DIR --name NAME [--target T]</c>: ahead-of-time compilation (tfcompile-style)
/// for the CPU, or with <c>--target cuda</c> for a CPU host with an NVIDIA GPU (pipeline <c>cuda</c>: ops placed
/// by cost, transfers explicit; <c>--place</c>, <c>--compress-transfers</c>, <c>--gpu-arch</c>). Writes
/// libNAME.so, NAME.h and NAME.cs (and NAME.ptx and NAME.kernels.tsv for cuda) into DIR, all or nothing; NAME.o with <c>--object</c>,
/// and <c>ID.VERSION.nupkg</c> (binding compiled, library under runtimes/linux-x64/native) with <c>--nupkg</c>.
/// With <c>--train</c> the library's function is the model's training step (<see cref="IR.Training.TrainingStep"/>:
/// batch in, loss and outputs out, every variable updated in place) and <c>NAME.variables.npz</c> holds the
/// variables' initial values.
/// </summary>
internal static class CompileCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var outputDir = new Option<string>("--output-dir", "-o") { Description = "Directory for the artefacts (created if missing).", Required = true };
        var name = new Option<string>("--name") { Description = "C identifier: symbol prefix and file stem (NAME_run, libNAME.so, NAME.h, NAME.cs).", DefaultValueFactory = _ => "model" };
        var target = new Option<string>("--target") { Description = "What to generate code for: a CPU, or cuda (this CPU and an NVIDIA GPU).", DefaultValueFactory = _ => "host" };
        target.AcceptOnlyFromAmong([.. Targets.Packaging]);
        var arch = new Option<string?>("--gpu-arch") { Description = $"With --target cuda: the PTX's architecture ({string.Join(", ", Targets.GpuArchs)}; default {Targets.DefaultGpuArch}); sm_80's also runs on later GPUs." };
        var sms = new Option<int?>("--gpu-sms") { Description = "With --target cuda: the GPU's multiprocessor count that kernel shapes are tuned to (default: an H100's 132)." };
        var placement = new PlacementCliOptions();
        var function = new Option<string?>("--function") { Description = "The function to compile (default: main, else the first)." };
        var ns = new Option<string?>("--namespace") { Description = "Namespace of the generated C# class (default: none)." };
        var obj = new Option<bool>("--object") { Description = "Also write NAME.o, the object libNAME.so is linked from (for static linking)." };
        var nupkg = new Option<bool>("--nupkg") { Description = "Also write ID.VERSION.nupkg: the C# binding compiled into ID.dll plus libNAME.so for linux-x64; one PackageReference uses it." };
        var packageId = new Option<string?>("--package-id") { Description = "With --nupkg: the package and assembly name (default: NAME)." };
        var packageVersion = new Option<string?>("--package-version") { Description = "With --nupkg: the package version (default: 1.0.0)." };
        var training = new TrainingCliOptions();
        var timing = new TimingCliOptions();
        var budget = MemoryBudgetOption();
        var cmd = placement.AddTo(model.AddTo(new Command("compile", "Compile a model ahead of time for the CPU or CUDA: shared library, C header and C# binding; object file and NuGet package on request.")));
        cmd.Options.Add(arch);
        cmd.Options.Add(sms);
        cmd.Options.Add(outputDir);
        cmd.Options.Add(name);
        cmd.Options.Add(target);
        cmd.Options.Add(function);
        cmd.Options.Add(ns);
        cmd.Options.Add(obj);
        cmd.Options.Add(nupkg);
        cmd.Options.Add(packageId);
        cmd.Options.Add(packageVersion);
        cmd.Options.Add(budget);
        training.AddWithTrain(cmd);
        timing.AddTo(cmd);
        cmd.SetAction(r => training.Misuse(r) is { } misuse ? Cli.Fail(misuse)
            : ParseMemoryBudget(r.GetValue(budget), out var bytes) is { } badBudget ? Cli.Fail(badBudget) : Run(r, model, placement, timing, r.GetValue(training.Train) ? training : null, r.GetValue(model.Model)!, r.GetValue(outputDir)!, r.GetValue(name)!, r.GetValue(target)!, r.GetValue(arch), r.GetValue(sms), r.GetValue(function), r.GetValue(ns),
            new Packaging(r.GetValue(obj), r.GetValue(nupkg), r.GetValue(packageId), r.GetValue(packageVersion)), bytes));
        return cmd;
    }

    /// <summary><c>--memory-budget BYTES</c>, shared by <c>compile</c>, <c>ir</c> and <c>train</c>.</summary>
    internal static Option<string?> MemoryBudgetOption() => new("--memory-budget")
    {
        Description = "Arena bytes to fit each function in by recomputing cheap values (training activations) instead of keeping them live (the remat pass; best effort): a number, or with a suffix K, M, G (powers of 1024).",
    };

    /// <summary>Parses <c>--memory-budget</c>: null when it is fine (<paramref name="bytes"/> null when absent), else the error line.</summary>
    internal static string? ParseMemoryBudget(string? text, out long? bytes)
    {
        bytes = null;
        if (text is null) return null;
        var t = text.Trim();
        long scale = t.Length > 0 ? char.ToUpperInvariant(t[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 } : 1;
        if (scale > 1) t = t[..^1];
        if (!long.TryParse(t, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) || n <= 0 || n > long.MaxValue / scale)
            return $"--memory-budget '{text}' must be a positive number of bytes, optionally with K, M or G (e.g. 64K, 2M, 1G)";
        bytes = n * scale;
        return null;
    }

    private static int Run(ParseResult r, ModelOptions model, PlacementCliOptions placement, TimingCliOptions timing, TrainingCliOptions? training, string path, string outputDir, string name, string target, string? arch, int? sms,
        string? function, string? ns, Packaging packaging, long? memoryBudget)
    {
        // The driver checks the options before anything is loaded, so a typo costs no compilation.
        if (File.Exists(outputDir)) return Cli.Fail($"{outputDir} exists and is not a directory");
        var id = packaging.Id ?? name;
        var version = packaging.Version ?? "1.0.0";
        if (!packaging.NuGet && (packaging.Id ?? packaging.Version) is not null) return Cli.Fail("--package-id and --package-version need --nupkg");
        if (packaging.NuGet && (ModelPackage.CheckId(id) ?? ModelPackage.CheckVersion(version)) is { } badPackage) return Cli.Fail(badPackage);
        var options = model.Apply(r, new CompileOptions { Target = target, GpuArch = arch, GpuMultiprocessors = sms, Function = function, LibraryName = name, Namespace = ns, ObjectFile = packaging.Object, MemoryBudget = memoryBudget });
        if (!options.Ok) return Cli.FailOne(options.Diagnostics);
        if (Cli.Driver(timing.Apply(r, placement.Apply(r, options.Value!)), out var bad) is not { } driver) return bad;

        // Load, optimise and package, or the cached artefacts of an identical earlier compilation.
        var phases = timing.Recorder(r);
        var extra = new List<(string Name, byte[] Data)>();
        var artefacts = training is null ? driver.WithPhases(phases).LoadAndPackage(path) : PackageTrainingStep(r, driver.WithPhases(phases), training, path, name, extra);
        if (!artefacts.Ok) return Cli.FailOne(artefacts.Diagnostics);

        var files = artefacts.Value!.Files.Concat(extra).ToList();
        if (packaging.NuGet)
        {
            var package = ModelPackage.Build(name, id, version, files);
            if (!package.Ok) return Cli.FailOne(package.Diagnostics);
            files = [.. files, ($"{id}.{version}.nupkg", package.Value!)];
        }
        Cli.WriteAll(outputDir, files);
        foreach (var (fileName, data) in files)
            Console.Out.WriteLine($"{Path.Combine(outputDir, fileName)} ({data.Length} bytes)");
        Console.Out.WriteLine(artefacts.Value.Summary);
        timing.Report(r, phases);
        return Cli.Ok;
    }

    /// <summary>The training step of the model at <paramref name="path"/>, optimised and packaged; its variables' initial values go to <paramref name="extra"/> as NAME.variables.npz.</summary>
    private static Result<TargetArtifacts> PackageTrainingStep(ParseResult r, Compiler driver, TrainingCliOptions training, string path, string name,
        List<(string Name, byte[] Data)> extra)
    {
        var module = driver.Load(path);
        if (!module.Ok) return Result<TargetArtifacts>.Failure(module.Diagnostics);
        var built = training.BuildStep(r, module.Value!);
        if (!built.Ok) return Result<TargetArtifacts>.Failure(built.Diagnostics);
        var step = built.Value!;
        var optimised = driver.Optimize(step.Module);
        if (!optimised.Ok) return Result<TargetArtifacts>.Failure(optimised.Diagnostics);
        extra.Add(($"{name}.variables.npz", Npz.Write(step.Variables.Select(v => KeyValuePair.Create(v.Name, v.Initial)))));
        return driver.Package(optimised.Value!);
    }

    /// <summary>Which extra artefacts were asked for: the object file, and a NuGet package with its id and version.</summary>
    private sealed record Packaging(bool Object, bool NuGet, string? Id, string? Version);
}
