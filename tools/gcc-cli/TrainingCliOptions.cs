using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using GraphCompiler.IR;
using GraphCompiler.IR.Training;

namespace GraphCompiler.Cli;

/// <summary>
/// The options that turn an inference model into a training step, shared by <c>compile --train</c> and
/// <c>train</c>: <c>--loss</c>, <c>--optimizer</c>, <c>--learning-rate</c>, <c>--weight-decay</c>,
/// <c>--clip-norm</c>, <c>--trainable</c> (docs/training.md) and <c>--data-parallel</c> (docs/distributed.md).
/// </summary>
internal sealed class TrainingCliOptions
{
    public Option<string?> Loss { get; } = new("--loss") { Description = "What to minimise: an output's name (the model computes its loss), softmax-cross-entropy:LABELS (the first output is logits; LABELS becomes an int64 [batch] input of class ids), or cross-entropy:LABELS (the first output is already probabilities, a softmax)." };
    public Option<string> Optimizer { get; } = new("--optimizer") { Description = $"The optimizer: {string.Join(", ", IR.Training.Optimizer.Names)}.", DefaultValueFactory = _ => "adam" };
    public Option<double> LearningRate { get; } = new("--learning-rate") { Description = "The learning rate.", DefaultValueFactory = _ => 1e-3 };
    public Option<double> WeightDecay { get; } = new("--weight-decay") { Description = "L2 coefficient added to each gradient (g + λ·w).", DefaultValueFactory = _ => 0 };
    public Option<double?> ClipNorm { get; } = new("--clip-norm") { Description = "Scale the gradients down when their global L2 norm exceeds this." };
    public Option<bool> DataParallel { get; } = new("--data-parallel") { Description = "Average the gradients and the loss over the MPI processes (all_reduce mean) before the update: run under mpirun -np N, each process on its slice of every batch (docs/distributed.md)." };
    public Option<string> CompressGradients { get; } = new("--compress-gradients") { Description = "With --data-parallel: send the gradients as f16 or bf16 (none, f16, bf16; default none): rounded, gathered from every process, averaged in f32.", DefaultValueFactory = _ => "none" };
    public Option<int?> Replicas { get; } = new("--replicas") { Description = "With --compress-gradients: the number of processes the step is built for (default: mpirun's world size, 1 outside mpirun)." };
    public Option<double?> BucketCapMb { get; } = new("--bucket-cap-mb") { Description = "With --data-parallel: most MiB of gradients averaged by one collective (default 25, as PyTorch DDP); smaller buckets start averaging earlier in the backward pass." };
    public Option<bool> NoOverlap { get; } = new("--no-overlap") { Description = "With --data-parallel: average each bucket with one blocking all_reduce instead of starting it as soon as its gradients exist and waiting where the update needs it." };
    public Option<bool> AsyncParameterServer { get; } = new("--async-parameter-server") { Description = "Train asynchronously under mpirun -np N (N >= 2): rank 0 is a parameter server that applies each gradient as it arrives, ranks 1..N-1 are workers that compute gradients on their own batches without waiting for each other (docs/distributed.md)." };
    public Option<int?> MaxStaleness { get; } = new("--max-staleness") { Description = "With --async-parameter-server: no gradient is applied more than S updates after the variables it was computed on (default: 2 x (workers - 1))." };
    public Option<string?> Trainable { get; } = new("--trainable") { Description = "A regex selecting which constants (by source name, e.g. ONNX initializer names) are trained; default: every float constant of rank >= 1 the loss depends on." };

    public Command AddTo(Command command, bool lossRequired)
    {
        Loss.Required = lossRequired;
        foreach (var o in new Option[] { Loss, Optimizer, LearningRate, WeightDecay, ClipNorm, Trainable, DataParallel, CompressGradients, Replicas, BucketCapMb, NoOverlap }) command.Options.Add(o);
        return command;
    }

    /// <summary>Adds <see cref="AsyncParameterServer"/> and <see cref="MaxStaleness"/>, which only <c>train</c> takes.</summary>
    public Command AddAsyncTo(Command command)
    {
        command.Options.Add(AsyncParameterServer);
        command.Options.Add(MaxStaleness);
        return command;
    }

    /// <summary>
    /// What is wrong with asking for (or not asking for) asynchronous training, as one message; null when consistent.
    /// <paramref name="checkpointing"/>: checkpoint or resume options were given.
    /// </summary>
    public string? AsyncMisuse(ParseResult r, bool checkpointing, string backend)
    {
        bool async = r.GetValue(AsyncParameterServer);
        if (!async) return r.GetValue(MaxStaleness) is not null ? "--max-staleness needs --async-parameter-server" : null;
        if (r.GetValue(DataParallel)) return "--async-parameter-server and --data-parallel are two ways to train over MPI: give one";
        if (r.GetValue(CompressGradients) != "none") return "--compress-gradients compresses --data-parallel's all-reduce; --async-parameter-server sends f32 gradients";
        if (checkpointing) return "--async-parameter-server does not checkpoint or resume yet (--checkpoint-every, --resume-from, --resume): the workers' positions in their batches are not saved";
        if (backend != "cpu") return "--async-parameter-server runs compiled programs: use --backend cpu";
        if (r.GetValue(MaxStaleness) is int s && s < 0) return $"--max-staleness must be >= 0, got {s}";
        var (_, size) = Distributed.MpiWorld.Launched;
        return size < 2
            ? $"--async-parameter-server needs mpirun with at least 2 processes (rank 0 the parameter server, the others workers), e.g. mpirun -np 3 gcc-cli train ...; this process was {(size == 1 && Environment.GetEnvironmentVariable(Distributed.MpiWorld.SizeVariable) is null ? "not started by mpirun" : "started as a world of 1")}"
            : null;
    }

    /// <summary>The training options the command line gives; one clear message for the first bad one.</summary>
    public Result<TrainingOptions> Apply(ParseResult r, string defaultLoss)
    {
        var lossText = r.GetValue(Loss) ?? defaultLoss;
        var loss = LossSpec.Parse(lossText, out var lossError);
        if (loss is null) return Fail($"--loss: {lossError}");
        var lr = r.GetValue(LearningRate);
        if (!(lr > 0) || double.IsInfinity(lr)) return Fail($"--learning-rate must be a positive number, got {lr.ToString(CultureInfo.InvariantCulture)}");
        var name = r.GetValue(Optimizer)!;
        if (IR.Training.Optimizer.Create(name, lr) is not { } optimizer)
            return Fail($"--optimizer '{name}' is not one of {string.Join(", ", IR.Training.Optimizer.Names)}");
        var decay = r.GetValue(WeightDecay);
        if (!(decay >= 0) || double.IsInfinity(decay)) return Fail($"--weight-decay must be >= 0, got {decay.ToString(CultureInfo.InvariantCulture)}");
        var clip = r.GetValue(ClipNorm);
        if (clip is { } c && (!(c > 0) || double.IsInfinity(c))) return Fail($"--clip-norm must be a positive number, got {c.ToString(CultureInfo.InvariantCulture)}");
        Regex? trainable = null;
        if (r.GetValue(Trainable) is { } pattern)
        {
            try
            {
                trainable = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                return Fail($"--trainable '{pattern}' is an invalid regex: {e.Message}");
            }
        }
        bool parallel = r.GetValue(DataParallel);
        var wireName = r.GetValue(CompressGradients)!;
        if (wireName is not ("none" or "f16" or "bf16")) return Fail($"--compress-gradients '{wireName}' is not one of none, f16, bf16");
        ElementType? wire = wireName == "f16" ? ElementType.F16 : wireName == "bf16" ? ElementType.BF16 : null;
        if (wire is not null && !parallel) return Fail("--compress-gradients needs --data-parallel (it compresses what the processes exchange)");
        int replicas = r.GetValue(Replicas) ?? Distributed.MpiWorld.Launched.Size;
        if (replicas < 1) return Fail($"--replicas must be >= 1, got {replicas}");
        long bucketBytes = TrainingStep.BucketBytes;
        if (r.GetValue(BucketCapMb) is { } mb)
        {
            if (!parallel) return Fail("--bucket-cap-mb needs --data-parallel (it sizes the gradients' all-reduces)");
            if (!(mb > 0) || mb * (1 << 20) > long.MaxValue / 2) return Fail($"--bucket-cap-mb must be a positive number of MiB, got {mb.ToString(CultureInfo.InvariantCulture)}");
            bucketBytes = Math.Max(1, (long)(mb * (1 << 20)));
        }
        if (r.GetValue(NoOverlap) && !parallel) return Fail("--no-overlap needs --data-parallel (it is about the gradients' all-reduces)");
        return Result<TrainingOptions>.Success(new TrainingOptions
        {
            Loss = loss,
            Optimizer = optimizer with { WeightDecay = decay },
            ClipNorm = clip,
            Trainable = trainable,
            DataParallel = parallel,
            GradientCompression = wire,
            Replicas = replicas,
            BucketBytes = bucketBytes,
            OverlapCommunication = !r.GetValue(NoOverlap),
        });
    }

    /// <summary>The option that asks <c>compile</c> and <c>ir</c> for the training step instead of the model.</summary>
    public Option<bool> Train { get; } = new("--train") { Description = "Use the model's training step instead of the model (see --loss, --optimizer; docs/training.md)." };

    /// <summary>Adds <see cref="Train"/> and the training options to a command that works on a model or its step.</summary>
    public Command AddWithTrain(Command command)
    {
        command.Options.Add(Train);
        return AddTo(command, lossRequired: false);
    }

    /// <summary>A training option given without <c>--train</c>, as one message; null when consistent.</summary>
    public string? Misuse(ParseResult r) =>
        !r.GetValue(Train) && (r.GetValue(Loss) is not null || r.GetValue(DataParallel)) ? "--loss and the other training options need --train" : null;

    /// <summary>The training step of <paramref name="model"/> as the command line asks for it.</summary>
    public Result<TrainingModule> BuildStep(ParseResult r, Module model)
    {
        if (r.GetValue(Loss) is null)
            return Result<TrainingModule>.Failure(new Diagnostic("--train needs --loss OUTPUT (the model computes its loss), --loss softmax-cross-entropy:LABELS or --loss cross-entropy:LABELS"));
        var options = Apply(r, "");
        if (!options.Ok) return Result<TrainingModule>.Failure(options.Diagnostics);
        try
        {
            return Result<TrainingModule>.Success(TrainingStep.Build(model, options.Value!));
        }
        catch (IrException e)
        {
            return Result<TrainingModule>.Failure(e.ToDiagnostic());
        }
    }

    private static Result<TrainingOptions> Fail(string message) => Result<TrainingOptions>.Failure(new Diagnostic(message));
}
