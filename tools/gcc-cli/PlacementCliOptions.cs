using System.CommandLine;

namespace GraphCompiler.Cli;

/// <summary>
/// The device-placement options of the commands that run passes (<c>ir</c>, <c>graph</c>, <c>compile</c>):
/// <c>--place 'REGEX=cpu|gpu'</c> (repeatable) and <c>--compress-transfers none|f16|bf16</c>, passed to the
/// driver as <see cref="CompileOptions.Place"/> and <see cref="CompileOptions.CompressTransfers"/>; it checks them.
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

    /// <summary><paramref name="options"/> with the command line's placement.</summary>
    public CompileOptions Apply(ParseResult r, CompileOptions options) =>
        options with { Place = r.GetValue(Place) ?? [], CompressTransfers = r.GetValue(CompressTransfers) };
}
