using System.Collections.Immutable;
using System.Text.RegularExpressions;
using GraphCompiler.IR;

namespace GraphCompiler.Passes;

/// <summary>How <c>send</c> carries f32 tensors over the link: as is, or rounded to 16 bits (TensorFlow's transfer compression).</summary>
public enum TransferCompression { None, F16, BF16 }

/// <summary>
/// What <c>place-devices</c> and <c>insert-transfers</c> read (docs/passes.md, place-devices).
/// The default has no GPU, so placement puts everything on the CPU.
/// </summary>
public sealed record PlacementOptions
{
    /// <summary>Whether the GPU backend has kernels for an op (a top-level op or a whole fusion); null: there is no GPU.</summary>
    public Func<Operation, bool>? GpuSupports { get; init; }

    /// <summary>User constraints, in order: an op matched by one runs on its device when that device can run it.</summary>
    public ImmutableArray<PlacementConstraint> Constraints { get; init; } = [];

    public DeviceCostModel CostModel { get; init; } = DeviceCostModel.Default;

    /// <summary>
    /// How many tasks (processes: MPI ranks) the function may be split over: the CPUs cpu (task 0),
    /// task1, ... task(N-1) are candidates beside the GPU. A constraint naming a task beyond them adds
    /// the tasks up to it. 1: one process.
    /// </summary>
    public int Tasks { get; init; } = 1;

    /// <summary>The wire format of f32 transfers; the cost model counts the bytes actually sent.</summary>
    public TransferCompression CompressTransfers { get; init; } = TransferCompression.None;

    public static readonly PlacementOptions Default = new();

    /// <summary>The <c>compress</c> attribute value of <paramref name="c"/>.</summary>
    public static string AttributeValue(TransferCompression c) => c switch
    {
        TransferCompression.F16 => "f16",
        TransferCompression.BF16 => "bf16",
        _ => "none",
    };

    /// <summary>Parses <c>none|f16|bf16</c> (the CLI's <c>--compress-transfers</c>); null for anything else.</summary>
    public static TransferCompression? ParseCompression(string text) => text switch
    {
        "none" => TransferCompression.None,
        "f16" => TransferCompression.F16,
        "bf16" => TransferCompression.BF16,
        _ => null,
    };
}

/// <summary>
/// <c>REGEX=DEVICE</c>: ops whose name the regex finds (unanchored) run on that device — cpu, gpu, taskK or
/// <c>/job:worker/task:K/cpu:0</c> (<see cref="IR.Placement.Parse"/>; kept in the IR's spelling). The name is the
/// op's source name (<c>loc("...")</c>, the TensorFlow/ONNX node name) when it has one, else its first
/// result's printed name as the function prints when the pass runs (e.g. <c>%5</c>).
/// A constraint is soft, as TensorFlow's soft placement: an op the GPU cannot run stays on the CPU. A task's
/// CPU runs anything, so a task constraint always holds (it is how a pipeline split is asked for).
/// </summary>
public sealed record PlacementConstraint(Regex Pattern, string Device, string Text)
{
    /// <summary>Parses <c>REGEX=DEVICE</c>; the device follows the last '=', so the regex may contain '='.</summary>
    public static Result<PlacementConstraint> Parse(string spec)
    {
        int eq = spec.LastIndexOf('=');
        if (eq < 0) return Fail($"placement constraint '{spec}' must be REGEX=cpu or REGEX=gpu (or a task's CPU: REGEX=taskK, REGEX=/job:worker/task:K/cpu:0)");
        var (pattern, written) = (spec[..eq], spec[(eq + 1)..].Trim());
        if (IR.Placement.Parse(written) is not { } device)
            return Fail($"placement constraint '{spec}': device '{written}' is not cpu or gpu, nor a task's CPU (taskK or /job:worker/task:K/cpu:0, 1 <= K < {IR.Placement.MaxTasks})");
        if (pattern.Length == 0) return Fail($"placement constraint '{spec}' has an empty regex");
        try
        {
            // A timeout, because the pattern comes from the user and op names are matched many times.
            var regex = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            return Result<PlacementConstraint>.Success(new PlacementConstraint(regex, device, spec));
        }
        catch (ArgumentException e)
        {
            return Fail($"placement constraint '{spec}': invalid regex: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    private static Result<PlacementConstraint> Fail(string message) => Result<PlacementConstraint>.Failure(new Diagnostic(message));

    public override string ToString() => Text;
}
