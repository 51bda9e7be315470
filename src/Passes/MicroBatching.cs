using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>micro-batch</c>: splits the entry function's batch into <see cref="PassOptions.MicroBatches"/> = M equal
/// micro-batches (GPipe), so that a function split over tasks can pipeline them: once the ops are ordered by
/// time slot (<c>schedule-tasks</c>), task 0 computes micro-batch m+1's first stage while task 1 computes
/// micro-batch m's second (docs/distributed.md, Pipelines).
/// <list type="bullet">
/// <item>The batch is dimension 0 of the first argument, of size B (a multiple of M); every argument whose
/// dimension 0 is B is batched too — unless the function splits only without them (a weight whose first
/// dimension happens to be B, read whole by every micro-batch): then only the first argument is.</item>
/// <item>A batch-dimension analysis follows each value from the arguments: each op that reads a batched value
/// says how its result relates to the batch (<see cref="OpDef.SplitBatch"/>), or why it cannot be computed one
/// micro-batch at a time — then the pass fails with one line naming the op. Values that read no batched value
/// (weights, constants, their transposes) are shared: computed once.</item>
/// <item>The rewrite: the shared ops first, in their order; then for each micro-batch m a <c>slice</c> of each
/// batched argument and a copy of every batched op on those slices, with its results' batch dimension B/M;
/// then each batched result is the <c>concatenate</c> of the copies along its batch dimension. A broadcast
/// that a batched op reads elementwise (a bias, a splat zero) is made again at the micro-batch's size.</item>
/// <item>Every copy keeps its op's source location, with <c>@mbK</c> appended to the name (<c>layer2/matmul@mb3</c>),
/// so <c>--place '^layer2/=task1'</c> pins each micro-batch's copy of a layer where the layer goes; unnamed ops
/// stay unnamed.</item>
/// </list>
/// It runs first, before fusion, so the copies fuse as the original does. With M = 1 it returns the module itself.
/// </summary>
public sealed class MicroBatching : Pass
{
    /// <summary>What is appended to a copy's source name, before the micro-batch's index.</summary>
    public const string NameSuffix = "@mb";

    public override string Name => "micro-batch";
    public override string Description => "split the entry function's batch into PassOptions.MicroBatches micro-batches (GPipe; one copy of the ops per micro-batch)";

    private static readonly OpDef SliceDef = OpRegistry.Get("slice");
    private static readonly OpDef ConcatDef = OpRegistry.Get("concatenate");

    public override PassResult Run(Module module, PassOptions options)
    {
        if (options.MicroBatches <= 1 || module.Functions.IsEmpty) return PassResult.Unchanged(module);
        var entry = module.Entry;
        return new PassResult(module.WithFunction(new Splitter(entry, options.MicroBatches).Split()), true);
    }

    /// <summary>The name of micro-batch <paramref name="m"/>'s copy of an op named <paramref name="name"/> (null stays null).</summary>
    public static string? CopyName(string? name, int m) => name is null ? null : $"{name}{NameSuffix}{m}";

    /// <summary>One function's split: the analysis, then the rewrite.</summary>
    private sealed class Splitter(Function f, int microBatches)
    {
        private readonly Dictionary<Value, BatchDim> _batch = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<Value, (Operation Op, BatchSplit Split)> _producer = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<Operation, BatchSplit> _splits = new(ReferenceEqualityComparer.Instance);
        private long _batchSize, _microSize;

        public Function Split()
        {
            var args = f.Arguments;
            if (args.IsEmpty || args[0].Type.Rank == 0)
                throw Fail($"@{f.Name}: micro-batches need a batch: the first argument must have a batch dimension 0", f.Location);
            _batchSize = args[0].Type.Shape[0];
            if (_batchSize % microBatches != 0)
                throw Fail($"@{f.Name}: argument %{f.ArgumentName(0)} ({args[0].Type}) has batch size {_batchSize}, which does not split into {microBatches} equal micro-batches", f.Location);
            _microSize = _batchSize / microBatches;
            bool SameBatch(Value a) => a.Type.Rank > 0 && a.Type.Shape[0] == _batchSize;
            try
            {
                Analyse(SameBatch);
            }
            catch (PassException first) when (args.Skip(1).Any(SameBatch))
            {
                // A weight whose first dimension happens to be the batch size: read whole by every micro-batch.
                // Any reading the analysis accepts computes the original function; this one only copies less.
                try
                {
                    Analyse(a => ReferenceEquals(a, args[0]));
                }
                catch (PassException)
                {
                    throw first; // the error of the natural reading, where every batch-sized argument is batched
                }
            }
            return Rewrite();
        }

        private static PassException Fail(string message, SourceLocation? location) => new(new Diagnostic(message, location));

        // ---- the analysis: each value's relation to the batch ----

        /// <summary>Fills <see cref="_batch"/> and <see cref="_splits"/>, the arguments <paramref name="batchedArgument"/> selects batched along 0.</summary>
        private void Analyse(Func<Value, bool> batchedArgument)
        {
            _batch.Clear();
            _splits.Clear();
            _producer.Clear();
            foreach (var a in f.Arguments) _batch[a] = batchedArgument(a) ? new BatchDim(0) : BatchDim.Shared;
            foreach (var op in f.Body.Operations)
            {
                if (op.Def.IsTerminator) continue;
                var inputs = DevicePlacement.Inputs(op).ToList();
                bool batched = inputs.Any(v => _batch.GetValueOrDefault(v).IsBatched);
                BatchSplit split;
                if (!batched)
                {
                    // Shared: asked only for the broadcasts it makes; an op that cannot split still runs once.
                    var asked = op.Regions.IsEmpty && op.Results.Length == 1 ? op.Def.SplitBatch(op, Operands(op)) : BatchSplit.Shared;
                    split = asked.Refusal is null && !asked.Result.IsBatched ? asked : BatchSplit.Shared;
                }
                else
                {
                    split = op.Regions.IsEmpty && op.Results.Length == 1
                        ? op.Def.SplitBatch(op, Operands(op))
                        : BatchSplit.Refuse(op.Regions.IsEmpty ? $"it has {op.Results.Length} results, not one" : "it has regions that read a batched value");
                    if (split.Refusal is { } why) throw Refused(op, why);
                    if (split.Result.Dim is not { } d || d >= op.Result.Type.Rank || op.Result.Type.Shape[d] != _batchSize)
                        throw Refused(op, $"its result {op.Result.Type} has no dimension of the batch size {_batchSize} where it says the batch is ({split.Result.Dim})");
                }
                _splits[op] = split;
                foreach (var r in op.Results)
                {
                    _batch[r] = op.Results.Length == 1 ? split.Result : BatchDim.Shared;
                    _producer[r] = (op, split);
                }
            }
        }

        private BatchDim[] Operands(Operation op) => [.. op.Operands.Select(v => _batch.GetValueOrDefault(v))];

        private PassException Refused(Operation op, string why)
        {
            var name = op.SourceName is null ? "" : $" ('{op.SourceName}')";
            return Fail($"@{f.Name}: cannot split the batch into {microBatches} micro-batches at '{op.Name}'{name}: {why}", op.Location);
        }

        // ---- the rewrite ----

        private Function Rewrite()
        {
            var body = f.Body.Operations;
            var output = ImmutableArray.CreateBuilder<Operation>();
            foreach (var op in body)
                if (!op.Def.IsTerminator && !IsBatched(op)) output.Add(op);
            var copies = new Dictionary<Value, Value>[microBatches];
            for (int m = 0; m < microBatches; m++)
            {
                var map = copies[m] = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
                var resized = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
                for (int i = 0; i < f.Arguments.Length; i++)
                {
                    var a = f.Arguments[i];
                    if (_batch[a].IsBatched) map[a] = Emit(output, SliceOf(a, f.ArgumentName(i), m));
                }
                foreach (var op in body)
                {
                    if (op.Def.IsTerminator || !IsBatched(op)) continue;
                    var split = _splits[op];
                    int d = split.Result.Dim!.Value;
                    var operands = op.Operands.Select((v, i) =>
                        map.TryGetValue(v, out var c) ? c
                        : ((split.ResizedOperands >> i) & 1) != 0 ? Resized(output, resized, v, d, m)
                        : v).ToImmutableArray();
                    output.Add(Copy(op, split, operands, d, m, map));
                }
            }
            var terminator = body[^1];
            var joined = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
            var results = terminator.Operands.Select(v =>
            {
                if (_batch.GetValueOrDefault(v).Dim is not { } d) return v;
                if (!joined.TryGetValue(v, out var j))
                {
                    var producer = _producer.TryGetValue(v, out var p) ? p.Op : null;
                    var concat = new Operation(ConcatDef, [.. copies.Select(c => c[v])], AttrMap.Of(("dimension", new IntAttr(d))),
                        [new Value(v.Type)], [], producer?.Location, producer?.SourceName);
                    joined[v] = j = Emit(output, concat);
                }
                return j;
            }).ToImmutableArray();
            output.Add(terminator.With(operands: results));
            return f.WithBody(f.Body.WithOperations(WithoutDeadOps(output.ToImmutable())));
        }

        private bool IsBatched(Operation op) => op.Results.Length == 1 && _batch[op.Result].IsBatched;

        private static Value Emit(ImmutableArray<Operation>.Builder output, Operation op)
        {
            output.Add(op);
            return op.Result;
        }

        private TensorType Micro(TensorType t, int d) => t.WithShape(t.Shape.SetItem(d, _microSize));

        /// <summary>Micro-batch <paramref name="m"/>'s rows of a batched argument.</summary>
        private Operation SliceOf(Value a, string name, int m)
        {
            var t = a.Type;
            long[] start = new long[t.Rank], limit = [.. t.Shape];
            start[0] = m * _microSize;
            limit[0] = (m + 1) * _microSize;
            var attrs = AttrMap.Of(("start", new IntArrayAttr([.. start])), ("limit", new IntArrayAttr([.. limit])));
            return new Operation(SliceDef, [a], attrs, [new Value(Micro(t, 0))], [], null, CopyName(name, m));
        }

        /// <summary>Micro-batch <paramref name="m"/>'s copy of a batched op, reading <paramref name="operands"/>.</summary>
        private Operation Copy(Operation op, BatchSplit split, ImmutableArray<Value> operands, int d, int m, Dictionary<Value, Value> map)
        {
            var result = new Value(Micro(op.Result.Type, d));
            map[op.Result] = result;
            var attrs = split.Attributes?.Invoke(op, [result.Type]) ?? op.Attributes;
            return new Operation(op.Def, operands, attrs, [result], [], op.Location, CopyName(op.SourceName, m));
        }

        /// <summary>A shared broadcast made again at the micro-batch's size along <paramref name="d"/> (once per micro-batch).</summary>
        private Value Resized(ImmutableArray<Operation>.Builder output, Dictionary<Value, Value> resized, Value v, int d, int m)
        {
            if (resized.TryGetValue(v, out var done)) return done;
            var (op, split) = _producer[v];
            var result = new Value(Micro(v.Type, d));
            var attrs = split.Attributes?.Invoke(op, [result.Type]) ?? op.Attributes;
            return resized[v] = Emit(output, new Operation(op.Def, op.Operands, attrs, [result], [], op.Location, CopyName(op.SourceName, m)));
        }

        /// <summary>
        /// <paramref name="ops"/> without the pure ops nothing reads any more: the whole-batch broadcasts that every
        /// micro-batch now makes at its own size.
        /// </summary>
        private static ImmutableArray<Operation> WithoutDeadOps(ImmutableArray<Operation> ops)
        {
            var read = new HashSet<Value>(ReferenceEqualityComparer.Instance);
            var kept = new List<Operation>(ops.Length);
            for (int i = ops.Length - 1; i >= 0; i--)
            {
                var op = ops[i];
                bool live = op.Def.IsTerminator || op.HasSideEffects || op.Results.IsEmpty || op.Results.Any(read.Contains);
                if (!live) continue;
                kept.Add(op);
                read.UnionWith(DevicePlacement.Inputs(op));
            }
            kept.Reverse();
            return [.. kept];
        }
    }
}
