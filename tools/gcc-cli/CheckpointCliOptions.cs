using System.CommandLine;
using GraphCompiler.IR;
using GraphCompiler.Training;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>train</c>'s fault-tolerance options (docs/distributed.md, "Checkpoints and restarts"):
/// <c>--checkpoint-every N --checkpoint-dir DIR [--keep-checkpoints K]</c> write a TensorFlow checkpoint of
/// every variable every N steps (<see cref="CheckpointManager"/>), and <c>--resume-from DIR</c> continues a
/// stopped run at the exact step of the newest complete checkpoint in DIR.
/// </summary>
internal sealed class CheckpointCliOptions
{
    /// <summary>
    /// Enough history to survive one damaged checkpoint (the newest, say, on a disk that filled up) without
    /// letting a long run fill the disk.
    /// </summary>
    private const int DefaultKeep = 2;

    public Option<int> Every { get; } = new("--checkpoint-every") { Description = "Write a checkpoint of every variable (parameters, optimizer state, step) every N steps, and after the last step; 0: none.", DefaultValueFactory = _ => 0 };
    public Option<string?> Directory { get; } = new("--checkpoint-dir") { Description = "Where --checkpoint-every writes its checkpoints (ckpt-STEP.index and .data-00000-of-00001, TensorFlow's layout, and the file 'checkpoint' naming the newest)." };
    public Option<int> Keep { get; } = new("--keep-checkpoints") { Description = "How many of the newest checkpoints to keep; older ones are deleted.", DefaultValueFactory = _ => DefaultKeep };
    public Option<string?> ResumeFrom { get; } = new("--resume-from") { Description = "Continue a stopped run from the newest complete checkpoint in this directory: its variables and its place in the data (same epoch, same position in that epoch's shuffle). Give the stopped run's --seed, --data and batch." };

    public Command AddTo(Command command)
    {
        foreach (var o in new Option[] { Every, Directory, Keep, ResumeFrom }) command.Options.Add(o);
        return command;
    }

    /// <summary>The checkpoint writer the options ask for (null when none); an error message when they do not fit together.</summary>
    public CheckpointManager? Writer(ParseResult r, out string? error)
    {
        error = null;
        int every = r.GetValue(Every), keep = r.GetValue(Keep);
        var dir = r.GetValue(Directory);
        if (every < 0) error = $"--checkpoint-every must be >= 0, got {every}";
        else if (keep < 1) error = $"--keep-checkpoints must be >= 1, got {keep}";
        else if (every > 0 && dir is null) error = "--checkpoint-every needs --checkpoint-dir DIR";
        else if (every == 0 && dir is not null) error = "--checkpoint-dir needs --checkpoint-every N (N > 0)";
        else if (dir is not null && File.Exists(dir)) error = $"--checkpoint-dir {dir} exists and is not a directory";
        return error is null && every > 0 ? new CheckpointManager(dir!, keep) : null;
    }
}

/// <summary>
/// Where a training run stands, stored in each of its checkpoints beside the variables (as int64 scalars under
/// <c>_train/</c>, which no model variable is called): the steps done in this run's data order, and what
/// fixes that order — the seed (split and shuffles), the global batch and the number of training examples.
/// A run resumed with the same three visits exactly the batches the stopped run would have.
/// </summary>
internal sealed record RunPosition(long Step, long Seed, long GlobalBatch, long Examples)
{
    private const string Prefix = "_train/";
    private const string StepName = Prefix + "step", SeedName = Prefix + "seed", BatchName = Prefix + "global_batch", ExamplesName = Prefix + "examples";

    /// <summary>The position's tensors, to store with the variables.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> Tensors() =>
    [
        new(StepName, Int64(Step)),
        new(SeedName, Int64(Seed)),
        new(BatchName, Int64(GlobalBatch)),
        new(ExamplesName, Int64(Examples)),
    ];

    private static Tensor Int64(long v) => Tensor.FromInt64s(TensorType.Scalar(ElementType.I64), [v]);

    /// <summary>The position a checkpoint stores; an error naming it when it stores none (not written by <c>train --checkpoint-every</c>).</summary>
    public static RunPosition? From(TrainingCheckpoint checkpoint, out string? error)
    {
        error = null;
        long? Read(string name) => checkpoint.Tensors.TryGetValue(name, out var t) && t.Type == TensorType.Scalar(ElementType.I64) ? t.GetInt64(0) : null;
        if (Read(StepName) is { } step && Read(SeedName) is { } seed && Read(BatchName) is { } batch && Read(ExamplesName) is { } examples)
            return new RunPosition(step, seed, batch, examples);
        error = $"{checkpoint.Prefix}: not a checkpoint of train --checkpoint-every (no {StepName}, {SeedName}, {BatchName}, {ExamplesName}); start from its variables with --resume instead";
        return null;
    }

    /// <summary>Why this run cannot continue <paramref name="stored"/>'s data order, or null when it can.</summary>
    public string? Mismatch(RunPosition stored)
    {
        if (stored.Seed != Seed) return $"it was written with --seed {stored.Seed}, this run has --seed {Seed}";
        if (stored.GlobalBatch != GlobalBatch) return $"it was written with global batches of {stored.GlobalBatch}, this run's are {GlobalBatch}";
        if (stored.Examples != Examples) return $"it was written training on {stored.Examples} examples, this run has {Examples}";
        return null;
    }
}
