using System.Collections.Immutable;
using GraphCompiler.Distributed;
using GraphCompiler.Frontend.TensorFlow.Checkpoints;
using GraphCompiler.IR;
using GraphCompiler.IR.Training;

namespace GraphCompiler.Training;

/// <summary>One training step's outputs: the loss and the model's outputs on the batch.</summary>
public sealed record StepResult(double Loss, IReadOnlyList<Tensor> Outputs);

/// <summary>
/// Trains an inference model in-process: <see cref="TrainingStep"/> builds the step, the CPU backend
/// compiles it (or the reference interpreter runs it, for checking), and the trainer keeps the variables —
/// parameters, optimizer state, step count — between steps.
/// <code>
/// using var trainer = Trainer.Create(module, new TrainingOptions { Loss = ..., Optimizer = Optimizer.Create("adam", 1e-3)! });
/// var r = trainer.Step([images, labels]);
/// var inference = trainer.InferenceModule();
/// </code>
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly CompiledModel? _compiled;
    private readonly Interpreter? _interpreter;
    private readonly Tensor[] _variables;
    // Compiled path: pinned buffers for every argument and result (a variable's update result is the variable's
    // buffer), so a step copies only the batch in and the compiled code updates the variables in place.
    private readonly byte[][] _argumentBuffers = [];
    private readonly byte[][] _resultBuffers = [];
    private readonly nint[] _argumentPointers = [];
    private readonly nint[] _resultPointers = [];
    private bool _variablesInBuffers;
    private readonly int _dataArguments;
    private readonly int[] _updateResult; // per variable: the result that updates it
    private readonly int _outputs; // the model's outputs, which the step returns after the loss

    private Trainer(TrainingModule training, CompiledModel? compiled)
    {
        Training = training;
        _compiled = compiled;
        _interpreter = compiled is null ? new Interpreter(training.Module) : null;
        _variables = [.. training.Variables.Select(v => v.Initial)];
        _dataArguments = training.Module.Entry.Arguments.Length - _variables.Length;
        _outputs = training.Module.Find(TrainingStep.ForwardFunction)!.ResultTypes.Length - 1;
        var step = training.Module.Entry;
        _updateResult = [.. training.Variables.Select(v => step.ResultInfos.Select((r, i) => (r, i)).Single(p => p.r.Updates == v.Argument).i)];
        if (compiled is not null)
        {
            _argumentBuffers = [.. compiled.Inputs.Select(d => Pinned(d.ByteSize))];
            _argumentPointers = [.. _argumentBuffers.Select(Address)];
            // A variable's new value goes into the variable's own buffer (the ABI allows an update result's
            // buffer to be its variable's): updated in place, nothing copied back.
            var updates = training.Variables.Select((v, i) => (Result: _updateResult[i], v.Argument)).ToDictionary(p => p.Result, p => p.Argument);
            _resultBuffers = [.. compiled.Outputs.Select((d, i) => updates.ContainsKey(i) ? [] : Pinned(d.ByteSize))];
            _resultPointers = [.. _resultBuffers.Select((b, i) => updates.TryGetValue(i, out var arg) ? _argumentPointers[arg] : Address(b))];
        }
    }

    private static byte[] Pinned(long bytes) => GC.AllocateArray<byte>(checked((int)Math.Max(bytes, 1)), pinned: true);

    private static nint Address(byte[] pinned) => System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(pinned, 0);

    /// <summary>Brings <see cref="_variables"/> up to date from the buffers the compiled code updates in place.</summary>
    private void SyncVariables()
    {
        if (!_variablesInBuffers) return;
        for (int i = 0; i < _variables.Length; i++)
        {
            var arg = Training.Variables[i].Argument;
            _variables[i] = Tensor.FromBytes(_variables[i].Type, _argumentBuffers[arg].AsSpan(0, (int)_variables[i].Type.ByteSize));
        }
        _variablesInBuffers = false;
    }

    /// <summary>
    /// Builds the training step of <paramref name="inference"/>'s entry and compiles it for this CPU with
    /// <paramref name="compile"/>'s options, or runs it on the reference interpreter when its target is
    /// <c>interpreter</c>.
    /// </summary>
    /// <exception cref="CompilationException">The step cannot be built (no rule for an op, no parameters) or compiled.</exception>
    public static Trainer Create(Module inference, TrainingOptions options, CompileOptions? compile = null)
    {
        TrainingModule training;
        try
        {
            training = TrainingStep.Build(inference, options);
        }
        catch (IrException e)
        {
            throw new CompilationException([e.ToDiagnostic()]);
        }
        if (compile?.Target == "interpreter") return new Trainer(training, null);
        return new Trainer(training, CompiledModel.Compile(training.Module, compile));
    }

    /// <summary>
    /// Asynchronous training with a parameter server (docs/distributed.md), in a process <c>mpirun -np N</c> started
    /// (N ≥ 2): splits <paramref name="inference"/>'s training step (<see cref="TrainingStep.BuildSplit"/>), starts the
    /// MPI transport, and compiles the half this rank runs — rank 0 the <see cref="ParameterServer"/> (applies the
    /// optimizer), the others <see cref="ParameterServerWorker"/>s (compute gradients). Every rank must call it, and
    /// dispose what it returns (that finalises MPI).
    /// </summary>
    /// <exception cref="CompilationException">The step cannot be built or compiled.</exception>
    /// <exception cref="MpiException">No usable MPI, or a world of fewer than 2 processes.</exception>
    public static ParameterServerRole CreateAsync(Module inference, TrainingOptions options, ParameterServerOptions server, CompileOptions? compile = null)
    {
        SplitTrainingModule split;
        try
        {
            split = TrainingStep.BuildSplit(inference, options);
        }
        catch (IrException e)
        {
            throw new CompilationException([e.ToDiagnostic()]);
        }
        if (compile?.Target == "interpreter") throw new ArgumentException("asynchronous training runs compiled programs (target cpu), not the interpreter");
        var mpi = new MpiPointToPoint();
        int workers = mpi.Size - 1, bound = server.MaxStaleness ?? ParameterServerOptions.DefaultMaxStaleness(workers);
        if (workers < 1 || bound < 0)
        {
            mpi.Dispose(); // every rank finds the same: all finalise together
            throw workers < 1
                ? new MpiException($"a parameter server needs at least 2 processes (rank 0 serves, the others work); this MPI world has {mpi.Size}: run under mpirun -np N")
                : new ArgumentException($"the staleness bound must be >= 0, got {bound}");
        }
        // A rank that fails to compile leaves MPI unfinalised: it exits, and mpirun stops the others, which would
        // otherwise wait for it (finalising is collective).
        return mpi.Rank == ParameterServerRole.ServerRank
            ? new ParameterServer(mpi, split, bound, CompiledModel.Compile(split.Apply.Module, compile))
            : new ParameterServerWorker(mpi, split, bound, CompiledModel.Compile(split.Gradients, compile));
    }

    public TrainingModule Training { get; }

    /// <summary>The model's trained parameters, by name (current values).</summary>
    public IReadOnlyDictionary<string, Tensor> Parameters => Values(VariableRole.Parameter);

    /// <summary>Every variable (parameters, optimizer state, the step count), by name.</summary>
    public IReadOnlyDictionary<string, Tensor> Variables
    {
        get
        {
            SyncVariables();
            return Training.Variables.ToImmutableDictionary(v => v.Name, v => _variables[Index(v)], StringComparer.Ordinal);
        }
    }

    /// <summary>How many steps have run (the step-count variable).</summary>
    public long StepCount
    {
        get
        {
            SyncVariables();
            return _variables[Index(Training.Variables.Single(v => v.Role == VariableRole.StepCount))].GetInt64(0);
        }
    }

    private IReadOnlyDictionary<string, Tensor> Values(VariableRole role)
    {
        SyncVariables();
        return Training.Variables.Where(v => v.Role == role).ToImmutableDictionary(v => v.Name, v => _variables[Index(v)], StringComparer.Ordinal);
    }

    private int Index(TrainingVariable v) => Training.Variables.IndexOf(v); // a handful of variables; lookups are off the step path

    /// <summary>Runs one step on a batch: the model's inputs, then the labels when the loss takes them.</summary>
    /// <exception cref="ArgumentException">Wrong number or types of inputs.</exception>
    public StepResult Step(IReadOnlyList<Tensor> batch)
    {
        if (batch.Count != _dataArguments)
            throw new ArgumentException($"the training step takes {_dataArguments} batch inputs, got {batch.Count}");
        int outputs = _outputs;
        if (_compiled is not null) return CompiledStep(batch, outputs);
        var inputs = batch.Concat(_variables).ToList();
        var r = _interpreter!.Run(null, inputs);
        if (!r.Ok) throw new ArgumentException(string.Join("; ", r.Diagnostics.Select(d => d.Message)));
        var results = r.Value!.Results;
        for (int i = 0; i < _variables.Length; i++) _variables[i] = results[_updateResult[i]];
        return new StepResult(results[0].GetDouble(0), [.. results.Skip(1).Take(outputs)]);
    }

    private StepResult CompiledStep(IReadOnlyList<Tensor> batch, int outputs)
    {
        var step = Training.Module.Entry;
        for (int i = 0; i < batch.Count; i++)
        {
            if (batch[i].Type != step.Arguments[i].Type)
                throw new ArgumentException($"batch input '{step.ArgumentName(i)}' must be {step.Arguments[i].Type}, got {batch[i].Type}");
            batch[i].Bytes.CopyTo(_argumentBuffers[i]);
        }
        if (!_variablesInBuffers)
        {
            for (int i = 0; i < _variables.Length; i++) _variables[i].Bytes.CopyTo(_argumentBuffers[Training.Variables[i].Argument]);
            _variablesInBuffers = true;
        }
        _compiled!.Run(_argumentPointers, _resultPointers);
        var loss = Tensor.FromBytes(step.ResultTypes[0], _resultBuffers[0].AsSpan(0, (int)step.ResultTypes[0].ByteSize)).GetDouble(0);
        var results = Enumerable.Range(1, outputs)
            .Select(k => Tensor.FromBytes(step.ResultTypes[k], _resultBuffers[k].AsSpan(0, (int)step.ResultTypes[k].ByteSize))).ToList();
        return new StepResult(loss, results);
    }

    /// <summary>The inference model with the trained parameters as its constants (compile it again for inference).</summary>
    public Module InferenceModule() => new([Training.InferenceWith(Parameters)]);

    /// <summary>Saves every variable (parameters, optimizer state, step) to an <c>.npz</c>, keyed by name.</summary>
    public void Save(string npzPath) => Npz.WriteFile(npzPath, Variables);

    /// <summary>Loads variables saved by <see cref="Save"/> (or any .npz with matching names and types; others are left as they are).</summary>
    public Result<Trainer> Load(string npzPath)
    {
        var r = Npz.ReadFile(npzPath);
        return r.Ok ? Load(r.Value!, npzPath) : Result<Trainer>.Failure(r.Diagnostics);
    }

    /// <summary>
    /// Saves every variable as a TensorFlow checkpoint: <c>PREFIX.index</c> and <c>PREFIX.data-00000-of-00001</c>,
    /// keyed by variable name, the format SavedModels and <c>tf.train.Saver</c> use.
    /// </summary>
    public void SaveCheckpoint(string prefix) => TensorBundleWriter.Write(prefix, Variables);

    /// <summary>Loads variables from a TensorFlow checkpoint (its prefix, <c>.index</c> file, or a SavedModel's variables folder).</summary>
    public Result<Trainer> LoadCheckpoint(string prefix)
    {
        var bundle = TensorBundle.Open(prefix);
        if (!bundle.Ok) return Result<Trainer>.Failure(bundle.Diagnostics);
        var all = bundle.Value!.ReadAll();
        return all.Ok ? Load(all.Value!.Tensors, prefix) : Result<Trainer>.Failure(all.Diagnostics);
    }

    /// <summary>
    /// Takes the values whose names are variables, after checking every such value's type (all or nothing);
    /// <paramref name="source"/> names where they came from in errors. For values already read, such as a
    /// checkpoint <see cref="CheckpointManager.Latest"/> has checked whole.
    /// </summary>
    public Result<Trainer> Load(IReadOnlyDictionary<string, Tensor> values, string source)
    {
        foreach (var v in Training.Variables)
        {
            if (values.TryGetValue(v.Name, out var t) && t.Type != v.Initial.Type)
                return Result<Trainer>.Failure(new Diagnostic($"{source}: '{v.Name}' is {t.Type}, the model's variable is {v.Initial.Type}"));
        }
        if (!Training.Variables.Any(v => values.ContainsKey(v.Name)))
            return Result<Trainer>.Failure(new Diagnostic($"{source}: holds none of this model's variables ({string.Join(", ", Training.Variables.Take(3).Select(v => v.Name))}, ...)"));
        SyncVariables();
        foreach (var v in Training.Variables)
            if (values.TryGetValue(v.Name, out var t)) _variables[Index(v)] = t;
        return Result<Trainer>.Success(this);
    }

    public void Dispose() => _compiled?.Dispose();
}
