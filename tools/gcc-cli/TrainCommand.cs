using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using GraphCompiler.IR;
using GraphCompiler.IR.Text;
using GraphCompiler.IR.Training;
using GraphCompiler.Training;
using GraphCompiler.Distributed;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>gcc-cli train MODEL --data digits|FILE.npz [--epochs N] [--loss ...] [--optimizer ...] [-o DIR]</c>:
/// builds the model's training step, compiles it for this CPU (or runs it on the interpreter), trains on
/// seeded shuffles of the data's training part with a progress line (epoch, step, loss, examples/s), then
/// measures accuracy on the held-back part with the trained inference model and writes, under DIR,
/// <c>MODEL.trained.ir</c> (the inference model with the trained weights: compile or run it as any model),
/// every variable as <c>MODEL.variables.npz</c> and as a TensorFlow checkpoint (<c>MODEL.ckpt.index</c>,
/// <c>MODEL.ckpt.data-00000-of-00001</c>), and <c>loss.svg</c>. With <c>--checkpoint-every N --checkpoint-dir DIR</c>
/// it checkpoints every N steps, and <c>--resume-from DIR</c> continues a stopped run bit for bit
/// (<see cref="CheckpointCliOptions"/>): each epoch's shuffle follows from the seed and the epoch alone.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var training = new TrainingCliOptions();
        var checkpoints = new CheckpointCliOptions();
        var data = new Option<string>("--data") { Description = $"The dataset: 'digits' (the 1,797 8×8 handwritten digits in {Dataset.DigitsPath}) or an .npz with x [N, ...] and integer labels y [N].", DefaultValueFactory = _ => "digits" };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training data.", DefaultValueFactory = _ => 10 };
        var testFraction = new Option<double>("--test-fraction") { Description = "The share of the data held back to measure accuracy.", DefaultValueFactory = _ => 0.2 };
        var seed = new Option<int>("--seed") { Description = "Seed of the split and the shuffles.", DefaultValueFactory = _ => 0 };
        var backend = new Option<string>("--backend") { Description = "What runs the step: cpu (compiled) or interpreter.", DefaultValueFactory = _ => "cpu" };
        backend.AcceptOnlyFromAmong("cpu", "interpreter");
        var threads = new Option<int>("--threads") { Description = "Most threads a step may use; 0: GC_NUM_THREADS, else every core.", DefaultValueFactory = _ => 0 };
        var outputDir = new Option<string?>("--output-dir", "-o") { Description = "Where to write MODEL.trained.ir, the variables (MODEL.variables.npz and the TensorFlow checkpoint MODEL.ckpt.*) and loss.svg." };
        var resume = new Option<string?>("--resume") { Description = "Start from the variables of an earlier run: its MODEL.variables.npz, or a TensorFlow checkpoint (MODEL.ckpt prefix or .index file)." };
        var budget = CompileCommand.MemoryBudgetOption();
        var cmd = checkpoints.AddTo(training.AddTo(training.AddAsyncTo(model.AddTo(new Command("train", "Train a model on a labelled dataset with a compiled training step; report test accuracy and write the trained model and a loss curve."))), lossRequired: false));
        foreach (var o in new Option[] { data, epochs, testFraction, seed, backend, threads, outputDir, resume, budget }) cmd.Options.Add(o);
        cmd.SetAction(r => CompileCommand.ParseMemoryBudget(r.GetValue(budget), out var bytes) is { } badBudget ? Cli.Fail(badBudget)
            : Run(r, model, training, checkpoints, r.GetValue(data)!, r.GetValue(epochs), r.GetValue(testFraction), r.GetValue(seed),
            r.GetValue(backend)!, r.GetValue(threads), r.GetValue(outputDir), r.GetValue(resume), bytes));
        return cmd;
    }

    private static int Run(ParseResult r, ModelOptions modelOptions, TrainingCliOptions trainingOptions, CheckpointCliOptions checkpointOptions, string data, int epochs,
        double testFraction, int seed, string backend, int threads, string? outputDir, string? resume, long? memoryBudget)
    {
        if (epochs < 1) return Cli.Fail($"--epochs must be >= 1, got {epochs}");
        if (!(testFraction > 0 && testFraction < 1)) return Cli.Fail($"--test-fraction must be between 0 and 1, got {testFraction.ToString(CultureInfo.InvariantCulture)}");
        if (threads < 0) return Cli.Fail($"--threads must be >= 0, got {threads}");
        if (outputDir is not null && File.Exists(outputDir)) return Cli.Fail($"{outputDir} exists and is not a directory");
        var checkpoints = checkpointOptions.Writer(r, out var checkpointError);
        if (checkpointError is not null) return Cli.Fail(checkpointError);
        var resumeFrom = r.GetValue(checkpointOptions.ResumeFrom);
        if (resumeFrom is not null && resume is not null) return Cli.Fail("give --resume (variables only) or --resume-from (a stopped run), not both");
        if (trainingOptions.AsyncMisuse(r, checkpoints is not null || resumeFrom is not null || resume is not null, backend) is { } asyncError) return Cli.Fail(asyncError);
        var options = trainingOptions.Apply(r, $"{LossSpec.SoftmaxCrossEntropy}:labels");
        if (!options.Ok) return Cli.FailOne(options.Diagnostics);
        var dataset = data == "digits" ? Dataset.Digits() : Dataset.FromNpz(data);
        if (!dataset.Ok) return Cli.FailOne(dataset.Diagnostics);

        var path = r.GetValue(modelOptions.Model)!;
        var compile = modelOptions.Apply(r, new CompileOptions { Target = backend, Threads = threads, MemoryBudget = memoryBudget });
        if (!compile.Ok) return Cli.FailOne(compile.Diagnostics);
        if (Cli.Driver(compile.Value!, out var bad) is not { } driver) return bad;
        var loaded = driver.Load(path);
        if (!loaded.Ok) return Cli.FailOne(loaded.Diagnostics);
        var inference = loaded.Value!.Entry;
        if (inference.Arguments.Length != 1 || inference.ResultTypes.Length < 1)
            return Cli.Fail($"{path}: train takes a model with one input (a batch of examples) and its logits as first output; @{inference.Name} has {inference.Arguments.Length} inputs");
        var input = inference.Arguments[0].Type;
        int batch = input.Rank > 0 ? (int)input.Shape[0] : 0;
        var ds = dataset.Value!;
        if (batch < 1 || input.ElementCount / batch != ds.FeatureCount)
            return Cli.Fail($"{path}: input '{inference.ArgumentName(0)}' is {input}, which is not a batch of {ds.FeatureCount}-feature examples");
        var (train, test) = ds.Split(testFraction, seed);
        if (r.GetValue(trainingOptions.AsyncParameterServer))
            return AsyncTrainCommand.Run(new AsyncTrainCommand.Setup(path, loaded.Value!, options.Value!, compile.Value! with { Function = null }, input, train, test, epochs, seed, outputDir),
                r.GetValue(trainingOptions.MaxStaleness));
        // Data parallel: the model's batch is each process's slice; a step consumes one global batch of
        // world × batch examples, process r taking slice r (every process shuffles alike, with the same seed).
        var (rank, world) = options.Value!.DataParallel ? MpiWorld.Launched : (0, 1);
        int globalBatch = batch * world;
        if (train.Count < globalBatch) return Cli.Fail($"{data}: {train.Count} training examples do not fill one batch of {globalBatch}");
        var console = rank == 0 ? Console.Out : TextWriter.Null; // one report, from rank 0

        Trainer trainer;
        var sw = Stopwatch.StartNew();
        try
        {
            trainer = Trainer.Create(loaded.Value!, options.Value!, compile.Value! with { Function = null });
        }
        catch (CompilationException e)
        {
            return Cli.FailOne(e.Diagnostics);
        }
        using (trainer)
        {
            if (resume is not null && !resume.EndsWith(".npz", StringComparison.Ordinal) && !resume.EndsWith(".index", StringComparison.Ordinal)
                && !File.Exists(resume + ".index") && !Directory.Exists(resume))
                return Cli.Fail($"--resume {resume}: neither an .npz file nor a TensorFlow checkpoint (no {resume}.index)");
            if (resume is not null && (resume.EndsWith(".npz", StringComparison.Ordinal) ? trainer.Load(resume) : trainer.LoadCheckpoint(resume)) is { Ok: false } failed)
                return Cli.FailOne(failed.Diagnostics);
            int stepsPerEpoch = train.Count / globalBatch;
            long totalSteps = (long)epochs * stepsPerEpoch;
            var position = new RunPosition(0, seed, globalBatch, train.Count);
            if (resumeFrom is not null)
            {
                if (Resume(trainer, resumeFrom, position, totalSteps, rank == 0 ? Console.Error : TextWriter.Null) is not { } resumed)
                    return Cli.BadInput;
                position = resumed;
                console.WriteLine(position.Step == totalSteps ? $"resuming from {CheckpointManager.Stem}-{position.Step} in {resumeFrom}: training was complete ({totalSteps} steps)"
                    : $"resuming from {CheckpointManager.Stem}-{position.Step} in {resumeFrom}: epoch {position.Step / stepsPerEpoch + 1}, step {position.Step % stepsPerEpoch + 1} of {stepsPerEpoch}");
            }
            var parameters = trainer.Parameters.Values.Sum(t => t.ElementCount);
            console.WriteLine(Invariant($"training step built and compiled in {sw.Elapsed.TotalSeconds:F2} s ({backend}): {trainer.Parameters.Count} parameter tensors, {parameters} parameters, {options.Value!.Optimizer.Name} lr {options.Value.Optimizer.LearningRate}"));
            console.WriteLine(world == 1 ? $"data: {train.Count} training and {test.Count} test examples, batches of {batch}"
                : $"data: {train.Count} training and {test.Count} test examples, batches of {globalBatch} over {world} processes ({batch} each, data parallel)");

            if (checkpoints is not null) // said up front: a run that dies says nothing more
                console.WriteLine($"checkpoints every {r.GetValue(checkpointOptions.Every)} steps in {checkpoints.Directory} (the newest {checkpoints.Keep} kept); if the run stops, rerun it with --resume-from {checkpoints.Directory}");
            var labelType = trainer.Training.Module.Entry.ArgumentTypes.Length > 1 && options.Value.Loss.TakesLabels
                ? trainer.Training.Module.Entry.ArgumentTypes[1].Element : ElementType.I64;
            var losses = new List<double>();
            var epochMeans = new List<double>();
            var rng = new Random(seed);
            var order = Enumerable.Range(0, train.Count).ToArray();
            var progress = new ProgressLine(rank == 0 ? Console.Error : TextWriter.Null);
            var clock = Stopwatch.StartNew();
            long done = position.Step; // steps of this run's data order taken so far, by this process or the one it resumes
            int firstEpoch = (int)(done / stepsPerEpoch) + 1;
            for (int epoch = 1; epoch <= epochs; epoch++)
            {
                // Every epoch's shuffle, also those a resumed run skips: epoch e's order is the seed's e-th shuffle.
                rng.Shuffle(order);
                if (epoch < firstEpoch) continue;
                int firstStep = epoch == firstEpoch ? (int)(done % stepsPerEpoch) : 0;
                double sum = 0;
                for (int s = firstStep; s < stepsPerEpoch; s++)
                {
                    var (x, y) = train.Batch(order.AsSpan(s * globalBatch + rank * batch, batch), input, labelType);
                    var result = trainer.Step(options.Value.Loss.TakesLabels ? [x, y] : [x]);
                    if (!double.IsFinite(result.Loss))
                    {
                        progress.Done();
                        return Cli.Fail($"the loss became {result.Loss} at epoch {epoch}, step {s + 1}: lower --learning-rate or set --clip-norm");
                    }
                    losses.Add(result.Loss);
                    sum += result.Loss;
                    double rate = losses.Count * globalBatch / clock.Elapsed.TotalSeconds;
                    progress.Show(epoch, epochs, s + 1, stepsPerEpoch, result.Loss, rate);
                    done++;
                    if (checkpoints is not null && rank == 0 && (done % r.GetValue(checkpointOptions.Every) == 0 || done == totalSteps))
                        checkpoints.Save(done, trainer.Variables.Concat((position with { Step = done }).Tensors()));
                }
                epochMeans.Add(sum / (stepsPerEpoch - firstStep));
                progress.EndEpoch(epoch, epochs, epochMeans[^1]);
            }
            progress.Done();
            double seconds = clock.Elapsed.TotalSeconds;
            if (losses.Count > 0)
                console.WriteLine(Invariant($"trained {losses.Count} steps in {seconds:F2} s ({losses.Count * globalBatch / seconds:F0} examples/s); loss {losses[0]:F4} -> {epochMeans[^1]:F4} (last epoch's mean)"));

            if (rank != 0) return Cli.Ok; // every process holds the same variables: rank 0 evaluates and writes them
            return Finish(trainer.InferenceModule(), trainer.Variables, test, input, compile.Value! with { Function = null }, backend, outputDir, path,
                options.Value, batch, losses, epochMeans);
        }
    }

    /// <summary>
    /// Rank 0's end of a run: prints the test accuracy of the trained <paramref name="inferenceModule"/> and writes, with
    /// <paramref name="outputDir"/>, the trained model, every variable (.npz and TensorFlow checkpoint) and the loss curve.
    /// </summary>
    internal static int Finish(Module inferenceModule, IReadOnlyDictionary<string, Tensor> variables, Dataset test, TensorType input, CompileOptions compile,
        string backend, string? outputDir, string path, TrainingOptions options, int batch, List<double> losses, List<double> epochMeans)
    {
        var accuracy = Accuracy(inferenceModule, test, input, compile, backend);
        if (!accuracy.Ok) return Cli.FailOne(accuracy.Diagnostics);
        Console.Out.WriteLine(Invariant($"test accuracy: {accuracy.Value!.Correct}/{accuracy.Value.Total} = {100.0 * accuracy.Value.Correct / accuracy.Value.Total:F2}%"));
        if (outputDir is null) return Cli.Ok;
        var stem = Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(path));
        var title = Invariant($"{stem}: {options.Optimizer.Name}, lr {options.Optimizer.LearningRate}, batch {batch}");
        var files = new List<(string Name, byte[] Data)> { ($"{stem}.trained.ir", System.Text.Encoding.UTF8.GetBytes(Printer.Print(inferenceModule, PrintOptions.Full))) };
        // A resumed run that had nothing left to train has no losses to draw: the stopped run's curve stays.
        if (losses.Count > 0) files.Add(("loss.svg", System.Text.Encoding.UTF8.GetBytes(LossCurve.Svg(losses, epochMeans, title))));
        Cli.WriteAll(outputDir, files);
        Npz.WriteFile(Path.Combine(outputDir, $"{stem}.variables.npz"), variables);
        GraphCompiler.Frontend.TensorFlow.Checkpoints.TensorBundleWriter.Write(Path.Combine(outputDir, $"{stem}.ckpt"), variables);
        foreach (var f in new[] { $"{stem}.trained.ir", $"{stem}.variables.npz", $"{stem}.ckpt.index" }.Concat(losses.Count > 0 ? ["loss.svg"] : []))
            Console.Out.WriteLine(Path.Combine(outputDir, f));
        return Cli.Ok;
    }

    /// <summary>
    /// Loads the newest complete checkpoint in <paramref name="directory"/> into <paramref name="trainer"/> after
    /// checking it continues this run's data order (<paramref name="run"/>) within <paramref name="totalSteps"/>
    /// and holds every variable; returns its position, or null with the error printed.
    /// </summary>
    private static RunPosition? Resume(Trainer trainer, string directory, RunPosition run, long totalSteps, TextWriter warnings)
    {
        var latest = new CheckpointManager(directory, 1).Latest(skipped => warnings.WriteLine($"warning: {skipped}"));
        if (latest.Value is not { } checkpoint)
        {
            Cli.FailOne([new Diagnostic($"--resume-from: {latest.Diagnostics[0].Message}"), .. latest.Diagnostics.Skip(1)]);
            return null;
        }
        if (RunPosition.From(checkpoint, out var notOurs) is not { } stored)
        {
            Cli.Fail($"--resume-from {directory}: {notOurs}");
            return null;
        }
        var why = run.Mismatch(stored) ?? (stored.Step > totalSteps ? $"it is at step {stored.Step}, past this run's {totalSteps} (raise --epochs)" : null);
        var missing = trainer.Training.Variables.Select(v => v.Name).Where(n => !checkpoint.Tensors.ContainsKey(n)).ToList();
        why ??= missing.Count > 0 ? $"it lacks the variable{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Take(3))} (a checkpoint of another model or optimizer?)" : null;
        if (why is not null)
        {
            Cli.Fail($"--resume-from {directory}: cannot continue {checkpoint.Prefix}: {why}");
            return null;
        }
        if (trainer.Load(checkpoint.Tensors, checkpoint.Prefix) is { Ok: false } failed)
        {
            Cli.FailOne(failed.Diagnostics);
            return null;
        }
        return stored;
    }

    private sealed record Score(int Correct, int Total);

    /// <summary>Runs the trained inference model over the test set in its batch size (the last batch padded by repeating examples, which are not counted).</summary>
    private static Result<Score> Accuracy(Module inference, Dataset test, TensorType input, CompileOptions options, string backend)
    {
        int batch = (int)input.Shape[0];
        Func<Tensor, Tensor> run;
        CompiledModel? compiled = null;
        if (backend == "interpreter")
        {
            var interpreter = new Interpreter(inference);
            run = x => interpreter.Run(null, [x]).Unwrap().Results[0];
        }
        else
        {
            try
            {
                compiled = CompiledModel.Compile(inference, options);
            }
            catch (CompilationException e)
            {
                return Result<Score>.Failure(e.Diagnostics);
            }
            run = x => compiled.Run([x])[0];
        }
        using (compiled)
        {
            int correct = 0;
            var rows = new int[batch];
            for (int start = 0; start < test.Count; start += batch)
            {
                int n = Math.Min(batch, test.Count - start);
                for (int i = 0; i < batch; i++) rows[i] = start + Math.Min(i, n - 1);
                var (x, _) = test.Batch(rows, input, ElementType.I64);
                var logits = run(x);
                int classes = (int)(logits.ElementCount / batch);
                for (int i = 0; i < n; i++)
                {
                    int best = 0;
                    for (int c = 1; c < classes; c++)
                        if (logits.GetDouble(i * classes + c) > logits.GetDouble(i * classes + best)) best = c;
                    if (best == test.Labels[start + i]) correct++;
                }
            }
            return Result<Score>.Success(new Score(correct, test.Count));
        }
    }

    internal static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The progress display: on a terminal one line redrawn in place (a bar, step, loss, throughput) at most
    /// ten times a second; otherwise one line per epoch, so logs stay readable.
    /// </summary>
    internal sealed class ProgressLine(TextWriter w)
    {
        private const int BarWidth = 24;
        private readonly bool _interactive = !Console.IsErrorRedirected;
        private long _lastDraw;

        public void Show(int epoch, int epochs, int step, int steps, double loss, double examplesPerSecond)
        {
            if (!_interactive) return;
            long now = Stopwatch.GetTimestamp();
            if (step != steps && Stopwatch.GetElapsedTime(_lastDraw, now).TotalMilliseconds < 100) return;
            _lastDraw = now;
            int filled = step * BarWidth / steps;
            w.Write(Invariant($"\repoch {epoch}/{epochs} [{new string('#', filled)}{new string('.', BarWidth - filled)}] step {step}/{steps}  loss {loss:F4}  {examplesPerSecond:F0} examples/s   "));
        }

        public void EndEpoch(int epoch, int epochs, double meanLoss)
        {
            if (_interactive) w.WriteLine();
            else w.WriteLine(Invariant($"epoch {epoch}/{epochs}: mean loss {meanLoss:F4}"));
        }

        public void Done() => w.Flush();
    }
}
