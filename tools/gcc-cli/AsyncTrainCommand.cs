using System.Diagnostics;
using GraphCompiler.Distributed;
using GraphCompiler.IR;
using GraphCompiler.IR.Training;
using GraphCompiler.Training;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>mpirun -np N gcc-cli train MODEL --async-parameter-server [--max-staleness S]</c>: rank 0 serves the variables
/// and applies every gradient as it arrives; ranks 1..N−1 each train on their own share of every epoch's batches —
/// the model's batch is each worker's — pushing gradients and pulling variables without waiting for each other,
/// within the staleness bound (docs/distributed.md, "Asynchronous training: a parameter server"). Rank 0 prints the
/// progress, the report (with the staleness seen) and the test accuracy, and writes the outputs as <c>train</c> does.
/// </summary>
internal static class AsyncTrainCommand
{
    /// <summary>What <see cref="TrainCommand"/> has read and checked: the model, the options, the data split.</summary>
    public sealed record Setup(string Path, Module Model, TrainingOptions Options, CompileOptions Compile, TensorType Input,
        Dataset Train, Dataset Test, int Epochs, int Seed, string? OutputDir);

    public static int Run(Setup run, int? maxStaleness)
    {
        int batch = (int)run.Input.Shape[0];
        if (run.Train.Count < batch) return Cli.Fail($"{run.Train.Count} training examples do not fill one batch of {batch}");
        var sw = Stopwatch.StartNew();
        ParameterServerRole role;
        try
        {
            role = Trainer.CreateAsync(run.Model, run.Options, new ParameterServerOptions { MaxStaleness = maxStaleness }, run.Compile);
        }
        catch (CompilationException e)
        {
            return Cli.FailOne(e.Diagnostics);
        }
        catch (MpiException e)
        {
            return Cli.Fail(e.Message);
        }
        using (role)
        {
            try
            {
                return role is ParameterServer server ? Serve(server, run, batch, sw.Elapsed) : Work((ParameterServerWorker)role, run, batch);
            }
            catch (MpiException e)
            {
                // A dead or misbehaving peer: mpirun ends the whole job once this rank exits non-zero.
                Console.Error.WriteLine($"error: rank {role.Rank}: {e.Message}");
                return Cli.InternalError;
            }
        }
    }

    /// <summary>
    /// A worker's share: global step g of the run (epoch e's shuffle, the seed's e-th, as in <c>train</c>) belongs to
    /// worker g mod W, so each epoch's batches are split evenly and together cover the data once.
    /// </summary>
    private static int Work(ParameterServerWorker worker, Setup run, int batch)
    {
        int stepsPerEpoch = run.Train.Count / batch;
        var labelType = run.Options.Loss.TakesLabels ? worker.Training.Gradients.Entry.ArgumentTypes[1].Element : ElementType.I64;
        var rng = new Random(run.Seed);
        var order = Enumerable.Range(0, run.Train.Count).ToArray();
        long g = 0;
        for (int epoch = 1; epoch <= run.Epochs; epoch++)
        {
            rng.Shuffle(order);
            for (int s = 0; s < stepsPerEpoch; s++, g++)
            {
                if (g % worker.Workers != worker.Rank - 1) continue;
                var (x, y) = run.Train.Batch(order.AsSpan(s * batch, batch), run.Input, labelType);
                worker.Step(run.Options.Loss.TakesLabels ? [x, y] : [x]);
            }
        }
        worker.Leave();
        return Cli.Ok;
    }

    private static int Serve(ParameterServer server, Setup run, int batch, TimeSpan built)
    {
        var options = run.Options;
        int stepsPerEpoch = run.Train.Count / batch;
        long total = (long)run.Epochs * stepsPerEpoch;
        var parameters = server.Parameters.Values.Sum(t => t.ElementCount);
        Console.Out.WriteLine(TrainCommand.Invariant($"parameter server (rank 0) and {server.Workers} worker{(server.Workers == 1 ? "" : "s")} built and compiled in {built.TotalSeconds:F2} s: {server.Parameters.Count} parameter tensors, {parameters} parameters, {options.Optimizer.Name} lr {options.Optimizer.LearningRate}"));
        var share = server.Workers == 1 ? "one worker takes every batch" : $"each of {server.Workers} workers takes every {Ordinal(server.Workers)} batch";
        Console.Out.WriteLine($"data: {run.Train.Count} training and {run.Test.Count} test examples, batches of {batch}; {share}, asynchronously, staleness bound {server.MaxStaleness}");

        var losses = new List<double>();
        var progress = new TrainCommand.ProgressLine(Console.Error);
        Stopwatch? clock = null;
        string? diverged = null;
        var report = server.Serve(u =>
        {
            clock ??= Stopwatch.StartNew();
            losses.Add(u.Loss);
            if (!double.IsFinite(u.Loss)) diverged ??= $"the loss became {u.Loss} at update {u.Update} (worker {u.Worker}): lower --learning-rate or set --clip-norm";
            int epoch = (int)((u.Update - 1) / stepsPerEpoch) + 1, step = (int)((u.Update - 1) % stepsPerEpoch) + 1;
            progress.Show(epoch, run.Epochs, step, stepsPerEpoch, u.Loss, u.Update * batch / Math.Max(clock.Elapsed.TotalSeconds, 1e-9));
            if (step == stepsPerEpoch) progress.EndEpoch(epoch, run.Epochs, losses.TakeLast(stepsPerEpoch).Average());
        });
        progress.Done();
        if (diverged is not null) return Cli.Fail(diverged);
        if (report.Updates != total) return Cli.Fail($"the workers pushed {report.Updates} gradients, expected {total}: do all ranks run the same command?");
        double seconds = report.Elapsed.TotalSeconds;
        var epochMeans = Enumerable.Range(0, run.Epochs).Select(e => losses.Skip(e * stepsPerEpoch).Take(stepsPerEpoch).Average()).ToList();
        Console.Out.WriteLine(TrainCommand.Invariant($"trained {report.Updates} steps in {seconds:F2} s ({report.Updates * batch / seconds:F0} examples/s); loss {losses[0]:F4} -> {epochMeans[^1]:F4} (last epoch's mean)"));
        Console.Out.WriteLine(TrainCommand.Invariant($"staleness: max {report.ObservedMaxStaleness} (bound {report.MaxStaleness}), mean {report.MeanStaleness:F2}; updates by staleness {string.Join(", ", report.StalenessCounts.Select((n, s) => $"{s}: {n}"))}; {report.HeldRequests} requests waited for the bound"));
        Console.Out.WriteLine($"updates per worker: {string.Join(", ", report.UpdatesPerWorker.OrderBy(p => p.Key).Select(p => $"rank {p.Key}: {p.Value}"))}");
        return TrainCommand.Finish(server.InferenceModule(), server.Variables, run.Test, run.Input, run.Compile, "cpu", run.OutputDir, run.Path,
            options, batch, losses, epochMeans);
    }

    private static string Ordinal(int n) => n switch { 2 => "2nd", 3 => "3rd", _ => $"{n}th" };
}
