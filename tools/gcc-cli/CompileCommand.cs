using System.CommandLine;
using GraphCompiler.Backends.Cpu.Aot;
using GraphCompiler.Backends.Cpu.Codegen;
using GraphCompiler.Backends.Cuda;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.IR;
using GraphCompiler.Passes;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>gcc-cli compile MODEL -o DIR --name NAME [--target T]</c>: ahead-of-time compilation (tfcompile-style)
/// for the CPU, or with <c>--target cuda</c> for a CPU host with an NVIDIA GPU (pipeline <c>cuda</c>: ops placed
/// by cost, transfers explicit; <c>--place</c>, <c>--compress-transfers</c>, <c>--gpu-arch</c>). Writes NAME.o,
/// libNAME.so, NAME.h and NAME.cs (and NAME.ptx for cuda) into DIR, all or nothing.
/// </summary>
internal static class CompileCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var outputDir = new Option<string>("--output-dir", "-o") { Description = "Directory for the artefacts (created if missing).", Required = true };
        var name = new Option<string>("--name") { Description = "C identifier: symbol prefix and file stem (NAME_run, libNAME.so, NAME.h, NAME.cs).", DefaultValueFactory = _ => "model" };
        var target = new Option<string>("--target") { Description = $"What to generate code for: a CPU ({string.Join(", ", CpuTarget.Names)}) or cuda (this CPU and an NVIDIA GPU).", DefaultValueFactory = _ => "host" };
        var arch = new Option<string>("--gpu-arch") { Description = $"With --target cuda: the PTX's architecture ({string.Join(", ", CudaTarget.Archs)}); sm_80's also runs on later GPUs.", DefaultValueFactory = _ => CudaTarget.Default.Arch };
        var placement = new PlacementCliOptions();
        var function = new Option<string?>("--function") { Description = "The function to compile (default: main, else the first)." };
        var ns = new Option<string?>("--namespace") { Description = "Namespace of the generated C# class (default: none)." };
        var cmd = placement.AddTo(model.AddTo(new Command("compile", "Compile a model ahead of time for the CPU or CUDA: object file, shared library, C header and C# binding.")));
        cmd.Options.Add(arch);
        cmd.Options.Add(outputDir);
        cmd.Options.Add(name);
        cmd.Options.Add(target);
        cmd.Options.Add(function);
        cmd.Options.Add(ns);
        cmd.SetAction(r => Run(r, model, placement, r.GetValue(model.Model)!, r.GetValue(outputDir)!, r.GetValue(name)!, r.GetValue(target)!, r.GetValue(arch)!, r.GetValue(function), r.GetValue(ns)));
        return cmd;
    }

    private static int Run(ParseResult r, ModelOptions model, PlacementCliOptions placement, string path, string outputDir, string name, string target, string arch,
        string? function, string? ns)
    {
        bool cuda = target == "cuda";
        // Cheap checks first, so that a typo costs no compilation.
        if (!AotAbi.IsIdentifier(name)) return Cli.Fail($"--name '{name}' must be a C identifier (letters, digits, '_'; not starting with a digit)");
        if (!cuda && !CpuTarget.Names.Contains(target)) return Cli.Fail($"unknown --target '{target}' (known: {string.Join(", ", CpuTarget.Names)}, cuda)");
        if (!CudaTarget.Archs.Contains(arch)) return Cli.Fail($"unknown --gpu-arch '{arch}' (known: {string.Join(", ", CudaTarget.Archs)})");
        var passOptions = placement.PassOptions(r);
        if (!passOptions.Ok) return Cli.FailOne(passOptions.Diagnostics);
        if (ns is not null && !ns.Split('.').All(AotAbi.IsIdentifier)) return Cli.Fail($"--namespace '{ns}' is not a C# namespace name");
        if (File.Exists(outputDir)) return Cli.Fail($"{outputDir} exists and is not a directory");

        var module = model.Load(path, r);
        if (!module.Ok) return Cli.FailOne(module.Diagnostics);
        if (function is not null && module.Value!.Find(function) is null) return Cli.Fail($"{path}: no function named '{function}'");
        var optimised = PassManager.Run(module.Value!, cuda ? PassRegistry.Cuda : PassRegistry.Default, passOptions.Value!);
        if (!optimised.Ok) return Cli.FailOne(optimised.Diagnostics);
        var artefacts = cuda
            ? CudaAot.Compile(optimised.Value!, new AotOptions { Name = name, Target = "host", Namespace = ns }, new CudaTarget(arch), CpuKernels.Instance, function)
            : AotCompiler.Compile(optimised.Value!, new AotOptions { Name = name, Target = target, Namespace = ns }, function);
        if (!artefacts.Ok) return Cli.FailOne(artefacts.Diagnostics);

        Cli.WriteAll(outputDir, artefacts.Value!.Files);
        var abi = artefacts.Value.Abi;
        foreach (var (fileName, data) in artefacts.Value.Files)
            Console.Out.WriteLine($"{Path.Combine(outputDir, fileName)} ({data.Length} bytes)");
        Console.Out.WriteLine($"{name}_run: {abi.Arguments.Count} argument(s), {abi.Results.Count} result(s), arena {abi.ArenaBytes} bytes, target {target}");
        return Cli.Ok;
    }
}
