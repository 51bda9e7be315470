using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GraphCompiler.IR;
using GraphCompiler.Runtime;

namespace GraphCompiler.Cli;

/// <summary>
/// <c>gcc-cli bench MODEL [--backend cpu|cuda] [--tasks N --place REGEX=DEVICE --micro-batches M] [--threads N] [--warmup N] [--iterations N] [--input NAME=FILE.npy|NAME=TYPE=VALUES|TYPE=VALUES]...</c>:
/// compiles once (timing load, passes and code generation), then times <c>--iterations</c> runs after
/// <c>--warmup</c> runs on the allocation-free path (pinned buffers, <see cref="CompiledModel.Run(ReadOnlySpan{nint}, ReadOnlySpan{nint})"/>).
/// Inputs without <c>--input</c> are seeded random tensors of the argument's type (<see cref="InputFiles.Random"/>).
/// Variables that the model updates are updated in place from one run to the next. The last line is
/// <c>bench: median X ms, min X ms, max X ms, N runs, T threads</c>.
/// </summary>
internal static class BenchCommand
{
    public const int DefaultWarmup = 3, DefaultIterations = 20;

    public static Command Create()
    {
        var model = new ModelOptions();
        var backend = Cli.BackendOption("Which target runs the model (a native one: cpu).");
        var threads = new Option<int>("--threads") { Description = "Most threads a run may use; 0: GC_NUM_THREADS, else every core.", DefaultValueFactory = _ => 0 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed runs before timing.", DefaultValueFactory = _ => DefaultWarmup };
        var iterations = new Option<int>("--iterations") { Description = "Timed runs.", DefaultValueFactory = _ => DefaultIterations };
        var inputs = new Option<string[]>("--input", "-i") { Description = "An input value as NAME=FILE.npy, NAME=@FILE.npy, NAME=2x4xf32=1,2,... (one value fills the shape) or 2x4xf32=1,2,... (the next argument not given by name); inputs not given are seeded random tensors." };
        var seed = new Option<int>("--seed") { Description = "Seed of the random inputs.", DefaultValueFactory = _ => 0 };
        var function = new Option<string?>("--function") { Description = "The function to run (default: main, else the first)." };
        var cmd = model.AddTo(new Command("bench", "Compile a model once and time its runs: median, min and max per run."));
        var timing = new TimingCliOptions();
        timing.AddTo(cmd, cache: false);
        var placement = new PlacementCliOptions();
        placement.AddTo(cmd);
        foreach (var o in new Option[] { backend, threads, warmup, iterations, inputs, seed, function }) cmd.Options.Add(o);
        cmd.SetAction(r => Run(r, model, timing, placement, r.GetValue(backend)!, r.GetValue(threads), r.GetValue(warmup), r.GetValue(iterations),
            r.GetValue(inputs) ?? [], r.GetValue(seed), r.GetValue(function)));
        return cmd;
    }

    private static int Run(ParseResult r, ModelOptions model, TimingCliOptions timing, PlacementCliOptions placement, string backend, int threads, int warmup, int iterations, string[] inputSpecs, int seed, string? functionName)
    {
        if (threads < 0) return Cli.Fail($"--threads must be >= 0 (0: the default), got {threads}");
        if (warmup < 0) return Cli.Fail($"--warmup must be >= 0, got {warmup}");
        if (iterations < 1) return Cli.Fail($"--iterations must be >= 1, got {iterations}");

        var path = r.GetValue(model.Model)!;
        // Placement too: a model split over tasks (--tasks, --place, --micro-batches) is timed under mpirun, each rank timing its runs.
        var options = model.Apply(r, placement.Apply(r, new CompileOptions { Target = backend, Function = functionName, Threads = threads }));
        if (!options.Ok) return Cli.FailOne(options.Diagnostics);
        if (Cli.Driver(options.Value!, out var bad) is not { } driver) return bad;
        var sw = Stopwatch.StartNew();
        var loaded = driver.Load(path);
        if (!loaded.Ok) return Cli.FailOne(loaded.Diagnostics);
        var load = sw.Elapsed;
        var f = functionName is null ? loaded.Value!.Entry : loaded.Value!.Find(functionName);
        if (f is null) return Cli.Fail($"{path}: no function named '{functionName}'");

        var random = new Random(seed);
        var inputs = InputFiles.Read(f, inputSpecs, i => InputFiles.Random(f.Arguments[i].Type, random));
        if (!inputs.Ok) return Cli.FailOne(inputs.Diagnostics);
        var given = inputs.Value!.Given;

        CompiledModel compiled;
        try
        {
            compiled = CompiledModel.Compile(loaded.Value!, options.Value! with { Function = f.Name });
        }
        catch (CompilationException e)
        {
            return Cli.FailOne(e.Diagnostics);
        }
        using (compiled)
        {
            var t = compiled.Timings;
            Console.Out.WriteLine(Invariant($"compile: load {Ms(load)} ms, optimize {Ms(t.Optimize)} ms, codegen {Ms(t.CodeGen)} ms, total {Ms(load + t.Optimize + t.CodeGen)} ms"));
            for (int i = 0; i < compiled.Inputs.Count; i++)
                Console.Out.WriteLine($"input {compiled.Inputs[i]}{(given.Contains(compiled.Inputs[i].Name) ? "" : $" (random, seed {seed})")}");
            foreach (var o in compiled.Outputs) Console.Out.WriteLine($"output {o}");
            timing.Report(r, [new IR.Targets.PhaseTiming("import", 0, load, 0), .. t.Phases], new Dictionary<string, string>());

            // Pinned buffers, filled once: the timed loop allocates nothing.
            var inputBuffers = inputs.Value!.Values.Select(x => Pinned(x.Bytes)).ToArray();
            var outputBuffers = compiled.Outputs.Select(o => Pinned(new byte[o.ByteSize])).ToArray();
            var inPtrs = inputBuffers.Select(Address).ToArray();
            var outPtrs = outputBuffers.Select(Address).ToArray();
            try
            {
                for (int i = 0; i < warmup; i++) compiled.Run(inPtrs, outPtrs);
                var times = new double[iterations];
                for (int i = 0; i < iterations; i++)
                {
                    long start = Stopwatch.GetTimestamp();
                    compiled.Run(inPtrs, outPtrs);
                    times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }
                Array.Sort(times);
                double median = iterations % 2 == 1 ? times[iterations / 2] : (times[iterations / 2 - 1] + times[iterations / 2]) / 2;
                Console.Out.WriteLine($"warmup: {warmup} run(s)");
                Console.Out.WriteLine(Invariant($"bench: median {median:F3} ms, min {times[0]:F3} ms, max {times[^1]:F3} ms, {iterations} runs, {compiled.EffectiveThreads} threads"));
                return Cli.Ok;
            }
            catch (RuntimeException e)
            {
                return Cli.Fail(e.Message);
            }
        }
    }

    private static byte[] Pinned(ReadOnlySpan<byte> contents)
    {
        var a = GC.AllocateArray<byte>(Math.Max(contents.Length, 1), pinned: true);
        contents.CopyTo(a);
        return a;
    }

    private static unsafe nint Address(byte[] pinned) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("F1", CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
