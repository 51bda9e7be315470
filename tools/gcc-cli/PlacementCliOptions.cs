using System.CommandLine;

namespace GraphCompiler.Cli;

/// <summary>
/// The device-placement and precision options of the commands that run passes (<c>ir</c>, <c>graph</c>, <c>compile</c>, <c>run</c>, <c>bench</c>):
/// <c>--place 'REGEX=DEVICE'</c> (repeatable), <c>--compress-transfers none|f16|bf16</c>, <c>--tasks N</c>, <c>--micro-batches M</c> and
/// <c>--precision f32|tf32|bf16|f16</c>, passed to the driver as <see cref="CompileOptions.Place"/>, <see cref="CompileOptions.CompressTransfers"/>,
/// <see cref="CompileOptions.Tasks"/>, <see cref="CompileOptions.MicroBatches"/> and <see cref="CompileOptions.Precision"/>; it checks them.
/// </summary>
internal sealed class PlacementCliOptions
{
    public Option<string[]> Place { get; } = new("--place")
    {
        Description = "Pin ops to a device: REGEX=cpu, REGEX=gpu, REGEX=taskK or REGEX=/job:worker/task:K/cpu:0 (task K's CPU: MPI rank K), matched against each op's source name (loc), else its result name (%5). Repeatable; ops the GPU cannot run stay on the CPU.",
    };

    public Option<int?> Tasks { get; } = new("--tasks")
    {
        Description = "Split the model over N processes (MPI ranks; run it with mpirun -np N): placement may put ops on the CPUs of tasks 0..N-1, and transfers between them are MPI messages (default 1).",
    };

    public Option<int?> MicroBatches { get; } = new("--micro-batches")
    {
        Description = "Split the batch (dimension 0 of the first argument) into M micro-batches, one copy of the layers each, so that a model split with --tasks pipelines them (GPipe; default 1).",
    };

    public Option<string?> CompressTransfers { get; } = new("--compress-transfers")
    {
        Description = "Send f32 tensors between devices as f16 or bf16 (none, f16, bf16; default none).",
    };

    public Option<string?> Precision { get; } = PrecisionOption();

    /// <summary><c>--precision</c>, also <c>check</c>'s.</summary>
    public static Option<string?> PrecisionOption()
    {
        var precision = new Option<string?>("--precision")
        {
            Description = "How matmuls and convolutions compute: f32 (default, as the model says); bf16 or f16 (operands rounded to 16 bits, weights stored so, f32 accumulation; GPU tensor cores); tf32 (--target cuda: f32 matmuls on TF32 tensor cores).",
        };
        precision.AcceptOnlyFromAmong([.. GraphCompiler.Precision.Names]);
        return precision;
    }

    public Command AddTo(Command command)
    {
        command.Options.Add(Precision);
        command.Options.Add(Place);
        command.Options.Add(CompressTransfers);
        command.Options.Add(Tasks);
        command.Options.Add(MicroBatches);
        return command;
    }

    /// <summary><paramref name="options"/> with the command line's placement.</summary>
    public CompileOptions Apply(ParseResult r, CompileOptions options) =>
        options with { Place = r.GetValue(Place) ?? [], CompressTransfers = r.GetValue(CompressTransfers), Tasks = r.GetValue(Tasks) ?? 1,
            MicroBatches = r.GetValue(MicroBatches) ?? 1, Precision = r.GetValue(Precision),
        };
}
