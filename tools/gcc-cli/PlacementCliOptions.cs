using System.CommandLine;
using GraphCompiler.Backends.Cuda;
using GraphCompiler.IR;
using GraphCompiler.Passes;

namespace GraphCompiler.Cli;

/// <summary>
/// The device-placement options of the commands that run passes (<c>ir</c>, <c>graph</c>; <c>compile</c>
/// may add them too): <c>--place 'REGEX=cpu|gpu'</c> (repeatable) and <c>--compress-transfers none|f16|bf16</c>.
/// The GPU is the CUDA backend's (<see cref="CudaCapabilities.Supports"/>): <c>place-devices</c> puts an op
/// on the GPU only where that backend has a kernel.
/// </summary>
internal sealed class PlacementCliOptions
{
    public Option<string[]> Place { get; } = new("--place")
    {
        Description = "Pin ops to a device: REGEX=cpu or REGEX=gpu, matched against each op's source name (loc), else its result name (%5). Repeatable; ops the GPU cannot run stay on the CPU.",
    };

    public Option<string?> CompressTransfers { get; } = new("--compress-transfers")
    {
        Description = "Send f32 tensors between devices as f16 or bf16 (none, f16, bf16; default none).",
    };

    public Command AddTo(Command command)
    {
        command.Options.Add(Place);
        command.Options.Add(CompressTransfers);
        return command;
    }

    /// <summary>The placement options the command line gives; a bad constraint or compression is one diagnostic.</summary>
    public Result<PlacementOptions> PlacementOptions(ParseResult r)
    {
        var options = new PlacementOptions { GpuSupports = CudaCapabilities.Supports };
        foreach (var spec in r.GetValue(Place) ?? [])
        {
            var c = PlacementConstraint.Parse(spec);
            if (!c.Ok) return Result<PlacementOptions>.Failure(c.Diagnostics);
            options = options with { Constraints = options.Constraints.Add(c.Value!) };
        }
        if (r.GetValue(CompressTransfers) is { } text)
        {
            if (Passes.PlacementOptions.ParseCompression(text) is not { } compression)
                return Result<PlacementOptions>.Failure(new Diagnostic($"--compress-transfers '{text}' is not one of none, f16, bf16"));
            options = options with { CompressTransfers = compression };
        }
        return Result<PlacementOptions>.Success(options);
    }

    /// <summary><paramref name="baseOptions"/> (default: <see cref="PassOptions.Default"/>) with the command line's placement.</summary>
    public Result<PassOptions> PassOptions(ParseResult r, PassOptions? baseOptions = null)
    {
        var p = PlacementOptions(r);
        return p.Ok
            ? Result<PassOptions>.Success((baseOptions ?? Passes.PassOptions.Default) with { Placement = p.Value! })
            : Result<PassOptions>.Failure(p.Diagnostics);
    }
}
