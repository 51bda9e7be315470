using System.Collections.Immutable;
using System.Diagnostics;
using GraphCompiler.IR;
using GraphCompiler.IR.Training;

namespace GraphCompiler.Distributed;

/// <summary>Asynchronous training's settings (docs/distributed.md, "Asynchronous training: a parameter server").</summary>
public sealed record ParameterServerOptions
{
    /// <summary>
    /// S: no gradient is applied more than S updates after the version it was computed on (<see cref="StalenessBound"/>);
    /// null: <see cref="DefaultMaxStaleness"/> of the number of workers.
    /// </summary>
    public int? MaxStaleness { get; init; }

    /// <summary>
    /// 2(W − 1) for W workers: the least bound at which W equally fast workers taking turns never wait — each
    /// gradient then sees the W − 1 others' updates, and a worker is answered while W − 1 holders each hold
    /// variables up to W − 1 updates old. Slower or faster workers wait for each other within that slack.
    /// </summary>
    public static int DefaultMaxStaleness(int workers) => 2 * (workers - 1);
}

/// <summary>One applied gradient, as the server reports it: the update's number (from 1), whose it was, its loss and staleness.</summary>
public sealed record ServerUpdate(long Update, int Worker, double Loss, int Staleness);

/// <summary>
/// What the server saw: the updates applied, the loss of each in arrival order, the staleness they had, and the time
/// from the first worker's first message to the last worker's leaving.
/// </summary>
public sealed record ParameterServerReport(long Updates, int MaxStaleness, int ObservedMaxStaleness, IReadOnlyList<long> StalenessCounts,
    long HeldRequests, IReadOnlyList<double> Losses, IReadOnlyDictionary<int, long> UpdatesPerWorker, TimeSpan Elapsed)
{
    /// <summary>The mean staleness of the applied gradients.</summary>
    public double MeanStaleness => Updates == 0 ? 0 : StalenessCounts.Select((n, s) => (double)n * s).Sum() / Updates;
}

/// <summary>
/// One process's part in asynchronous parameter-server training under <c>mpirun -np N</c> (N ≥ 2), made by
/// <see cref="Training.Trainer.CreateAsync"/>: rank 0 is the <see cref="ParameterServer"/>, ranks 1..N−1 are
/// <see cref="ParameterServerWorker"/>s. The messages (tags below) travel on the transport's own communicator.
/// </summary>
public abstract class ParameterServerRole : IDisposable
{
    /// <summary>A worker asks for the variables (no payload): its first request; later ones ride on its pushes.</summary>
    internal const int RequestTag = 1;

    /// <summary>A worker's gradients, after a header holding its loss; also asks for the variables again.</summary>
    internal const int PushTag = 2;

    /// <summary>A worker leaves (no payload), holding no unanswered request, so no message is left in flight.</summary>
    internal const int LeaveTag = 3;

    /// <summary>The server's answer to a request: every parameter, in <see cref="TensorBlock"/> layout.</summary>
    internal const int VariablesTag = 4;

    /// <summary>The rank of the parameter server.</summary>
    public const int ServerRank = 0;

    private protected ParameterServerRole(MpiPointToPoint mpi, SplitTrainingModule training, int maxStaleness)
    {
        Mpi = mpi;
        Training = training;
        MaxStaleness = maxStaleness;
    }

    private protected MpiPointToPoint Mpi { get; }

    public SplitTrainingModule Training { get; }

    /// <summary>This process's rank: 0 for the server, 1..<see cref="Workers"/> for the workers.</summary>
    public int Rank => Mpi.Rank;

    /// <summary>The number of workers (the world size − 1).</summary>
    public int Workers => Mpi.Size - 1;

    /// <summary>S, the staleness bound the server enforces.</summary>
    public int MaxStaleness { get; }

    private protected static TensorBlock ParameterBlock(SplitTrainingModule training) => new([.. training.Parameters.Select(p => p.Initial.Type)], 0);

    /// <summary>A push: the loss in a header of <see cref="TensorBlock.Alignment"/> bytes, then every gradient.</summary>
    private protected static TensorBlock PushBlock(SplitTrainingModule training) =>
        new([.. training.Parameters.Select(p => p.Initial.Type)], TensorBlock.Alignment);

    /// <summary>The loss's type: the gradients program's first result.</summary>
    private protected TensorType LossType => Training.Gradients.Entry.ResultTypes[0];

    /// <summary>Finalises MPI when this process's transport started it: every rank must dispose its role.</summary>
    public virtual void Dispose() => Mpi.Dispose();
}

/// <summary>
/// Rank 0: holds the variables (parameters, optimizer state, step count) in the compiled <c>@apply_gradients</c>'s
/// buffers, applies each pushed gradient as it arrives, and answers the workers' requests for the variables in
/// arrival order as far as <see cref="StalenessBound"/> allows.
/// </summary>
public sealed class ParameterServer : ParameterServerRole
{
    private readonly CompiledModel _apply;
    private readonly TensorBlock _parameters;
    private readonly TensorBlock _push;
    private readonly byte[][] _others; // optimizer states and the step count, one pinned buffer each
    private readonly nint[] _arguments;
    private readonly nint[] _results;
    private readonly ImmutableArray<TrainingVariable> _variables;
    private readonly int _parameterCount;

    internal ParameterServer(MpiPointToPoint mpi, SplitTrainingModule training, int maxStaleness, CompiledModel apply) : base(mpi, training, maxStaleness)
    {
        _apply = apply;
        _variables = training.Apply.Variables;
        _parameters = ParameterBlock(training);
        _push = PushBlock(training);
        int grads = _parameterCount = training.Parameters.Length;
        if (!_variables.Take(grads).All(v => v.Role == VariableRole.Parameter)) throw new ArgumentException("the split step's parameters must come first among its variables");
        var others = _variables.Skip(grads).ToList();
        _others = [.. others.Select(v => GC.AllocateArray<byte>((int)Math.Max(v.Initial.Type.ByteSize, 1), pinned: true))];
        _arguments = new nint[apply.Inputs.Count];
        for (int k = 0; k < grads; k++) _arguments[k] = _push.Address(k);
        for (int k = 0; k < grads; k++) _arguments[_variables[k].Argument] = _parameters.Address(k);
        for (int k = 0; k < others.Count; k++) _arguments[others[k].Argument] = System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(_others[k], 0);
        for (int i = 0; i < _variables.Length; i++) _variables[i].Initial.Bytes.CopyTo(Buffer(i));
        // Every result updates its variable in place: its buffer is the variable's.
        var entry = training.Apply.Module.Entry;
        _results = [.. entry.ResultInfos.Select(r => _arguments[r.Updates ?? throw new InvalidOperationException("@apply_gradients has a result that updates no variable")])];
    }

    /// <summary>Variable <paramref name="i"/>'s bytes: parameters come first (<see cref="TrainingStep.BuildSplit"/>), in the parameter block; the rest each in its own buffer.</summary>
    private Span<byte> Buffer(int i) =>
        i < _parameterCount ? _parameters.Bytes(i) : _others[i - _parameterCount].AsSpan(0, (int)_variables[i].Initial.Type.ByteSize);

    /// <summary>Every variable (parameters, optimizer state, the step count), by name: their current values.</summary>
    public IReadOnlyDictionary<string, Tensor> Variables =>
        Enumerable.Range(0, _variables.Length).ToImmutableDictionary(i => _variables[i].Name, i => Tensor.FromBytes(_variables[i].Initial.Type, Buffer(i)), StringComparer.Ordinal);

    /// <summary>The trained parameters, by name.</summary>
    public IReadOnlyDictionary<string, Tensor> Parameters =>
        Enumerable.Range(0, _parameterCount).ToImmutableDictionary(i => _variables[i].Name, i => Tensor.FromBytes(_variables[i].Initial.Type, Buffer(i)), StringComparer.Ordinal);

    /// <summary>The inference model with the trained parameters as its constants.</summary>
    public Module InferenceModule() => new([Training.Apply.InferenceWith(Parameters)]);

    /// <summary>
    /// Serves until every worker has left: probes for the next message from any worker, applies a pushed gradient at
    /// once (and takes the push as the worker's next request), then answers every request the bound allows, oldest
    /// first. <paramref name="onUpdate"/> sees each applied gradient.
    /// </summary>
    /// <exception cref="MpiException">A message failed, or a worker broke the protocol.</exception>
    public ParameterServerReport Serve(Action<ServerUpdate>? onUpdate = null)
    {
        var bound = new StalenessBound(MaxStaleness);
        var present = Enumerable.Range(1, Workers).ToHashSet();
        var losses = new List<double>();
        var perWorker = present.ToDictionary(w => w, _ => 0L);
        var clock = new Stopwatch();
        while (present.Count > 0)
        {
            var (source, tag, bytes) = Mpi.Probe();
            clock.Start(); // from the first message on: the workers' compilation is not training time
            if (!present.Contains(source)) throw new MpiException($"rank {source} sent tag {tag} but is not a present worker");
            try
            {
                switch (tag)
                {
                    case RequestTag:
                        Mpi.Receive([], source, tag);
                        bound.Request(source);
                        break;
                    case PushTag:
                        Mpi.Receive(_push.Buffer, source, tag);
                        int staleness = bound.Push(source);
                        _apply.Run(_arguments, _results);
                        double loss = Tensor.FromBytes(LossType, _push.Buffer.AsSpan(0, (int)LossType.ByteSize)).GetDouble(0);
                        losses.Add(loss);
                        perWorker[source]++;
                        onUpdate?.Invoke(new ServerUpdate(bound.Version, source, loss, staleness));
                        bound.Request(source);
                        break;
                    case LeaveTag:
                        Mpi.Receive([], source, tag);
                        bound.Leave(source);
                        present.Remove(source);
                        break;
                    default:
                        throw new MpiException($"rank {source} sent a message with tag {tag} ({bytes} bytes), which the parameter server does not know");
                }
            }
            catch (InvalidOperationException e)
            {
                throw new MpiException($"rank {source} broke the parameter-server protocol: {e.Message}");
            }
            while (bound.TryAnswer(out var worker, out _)) Mpi.Send(_parameters.Buffer, worker, VariablesTag);
        }
        return new ParameterServerReport(bound.Version, MaxStaleness, bound.ObservedMaxStaleness, bound.StalenessCounts, bound.HeldRequests,
            losses, perWorker, clock.Elapsed);
    }

    public override void Dispose()
    {
        _apply.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// Ranks 1..N−1: each <see cref="Step"/> computes the loss and gradients of a batch with the compiled
/// <c>@compute_gradients</c> at the variables last received from the server, and pushes them; the server's answer
/// (fresh variables) is received at the start of the next step. <see cref="Leave"/> ends the worker's part.
/// </summary>
public sealed class ParameterServerWorker : ParameterServerRole
{
    private readonly CompiledModel _gradients;
    private readonly TensorBlock _parameters;
    private readonly TensorBlock _push;
    private readonly byte[][] _batch;
    private readonly nint[] _arguments;
    private readonly nint[] _results;
    private bool _requested; // a request (or push) the server has yet to answer
    private bool _left;

    internal ParameterServerWorker(MpiPointToPoint mpi, SplitTrainingModule training, int maxStaleness, CompiledModel gradients) : base(mpi, training, maxStaleness)
    {
        _gradients = gradients;
        _parameters = ParameterBlock(training);
        _push = PushBlock(training);
        int parameters = training.Parameters.Length, data = gradients.Inputs.Count - parameters;
        _batch = [.. gradients.Inputs.Take(data).Select(d => GC.AllocateArray<byte>((int)Math.Max(d.ByteSize, 1), pinned: true))];
        _arguments = [.. _batch.Select(b => System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(b, 0)),
            .. Enumerable.Range(0, parameters).Select(_parameters.Address)];
        // The loss lands in the push's header and each gradient in its place: the push is sent as computed.
        _results = [_push.Header, .. Enumerable.Range(0, parameters).Select(_push.Address)];
    }

    /// <summary>How many gradients this worker has pushed.</summary>
    public long Pushes { get; private set; }

    /// <summary>
    /// Computes the loss and gradients of <paramref name="batch"/> (the model's inputs, then the labels) at the
    /// variables the server last sent (waiting for them first), pushes them, and returns the loss.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong number or types of inputs.</exception>
    /// <exception cref="MpiException">A message failed.</exception>
    public double Step(IReadOnlyList<Tensor> batch)
    {
        ObjectDisposedException.ThrowIf(_left, this);
        var entry = Training.Gradients.Entry;
        if (batch.Count != _batch.Length) throw new ArgumentException($"the gradients program takes {_batch.Length} batch inputs, got {batch.Count}");
        for (int i = 0; i < batch.Count; i++)
        {
            if (batch[i].Type != entry.Arguments[i].Type)
                throw new ArgumentException($"batch input '{entry.ArgumentName(i)}' must be {entry.Arguments[i].Type}, got {batch[i].Type}");
            batch[i].Bytes.CopyTo(_batch[i]);
        }
        if (!_requested) Mpi.Send([], ServerRank, RequestTag);
        Mpi.Receive(_parameters.Buffer, ServerRank, VariablesTag);
        _gradients.Run(_arguments, _results);
        double loss = Tensor.FromBytes(LossType, _push.Buffer.AsSpan(0, (int)LossType.ByteSize)).GetDouble(0);
        Mpi.Send(_push.Buffer, ServerRank, PushTag);
        _requested = true;
        Pushes++;
        return loss;
    }

    /// <summary>Leaves the training: takes the server's answer to the last push (so no message stays in flight), then says so.</summary>
    public void Leave()
    {
        if (_left) return;
        if (_requested) Mpi.Receive(_parameters.Buffer, ServerRank, VariablesTag);
        Mpi.Send([], ServerRank, LeaveTag);
        _requested = false;
        _left = true;
    }

    public override void Dispose()
    {
        _gradients.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// Tensors laid out in one pinned buffer, each at a multiple of <see cref="Alignment"/> bytes after a header of
/// <c>header</c> bytes: one message on the wire, and each tensor an argument or result of a compiled program in place.
/// </summary>
internal sealed class TensorBlock
{
    /// <summary>
    /// A cache line: every tensor starts as aligned as the buffer itself (a pinned array, as <see cref="Training.Trainer"/>
    /// gives the compiled code), and no two tensors share a line.
    /// </summary>
    public const int Alignment = 64;

    private readonly int[] _offsets;
    private readonly int[] _sizes;

    public TensorBlock(IReadOnlyList<TensorType> types, int header)
    {
        _offsets = new int[types.Count];
        _sizes = [.. types.Select(t => checked((int)t.ByteSize))];
        long at = header;
        for (int i = 0; i < types.Count; i++)
        {
            _offsets[i] = checked((int)at);
            at += (_sizes[i] + Alignment - 1) / Alignment * Alignment;
        }
        Buffer = GC.AllocateArray<byte>(checked((int)Math.Max(at, 1)), pinned: true);
    }

    public byte[] Buffer { get; }

    public nint Header => System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(Buffer, 0);

    public nint Address(int i) => Header + _offsets[i];

    public Span<byte> Bytes(int i) => Buffer.AsSpan(_offsets[i], _sizes[i]);
}
