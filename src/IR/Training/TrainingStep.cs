using System.Collections.Immutable;
using System.Text.RegularExpressions;

namespace GraphCompiler.IR.Training;

/// <summary>
/// What the training step minimises: <see cref="Output"/> itself (<c>OUTPUT</c>: the model computes its own
/// loss; a non-scalar output is summed), the mean softmax cross-entropy of the model's logits against
/// integer class labels fed as a new input (<c>softmax-cross-entropy:LABELS</c>), or the mean cross-entropy of
/// a model that already outputs probabilities, a softmax (<c>cross-entropy:LABELS</c>).
/// </summary>
public sealed record LossSpec(string Kind, string? Output = null, string? Labels = null)
{
    public const string SoftmaxCrossEntropy = "softmax-cross-entropy", CrossEntropy = "cross-entropy", ModelOutput = "output";

    /// <summary>Whether the loss takes a labels input.</summary>
    public bool TakesLabels => Kind is SoftmaxCrossEntropy or CrossEntropy;

    /// <summary>Probabilities are clamped to at least this before the log, so a confident wrong answer gives a large finite loss.</summary>
    public const double MinProbability = 1e-7;

    /// <summary>Parses the CLI form; null with <paramref name="error"/> set when it is not one.</summary>
    public static LossSpec? Parse(string text, out string? error)
    {
        error = null;
        var colon = text.IndexOf(':');
        if (colon < 0) return text.Length > 0 ? new LossSpec(ModelOutput, Output: text) : Fail(out error, text);
        var (kind, arg) = (text[..colon], text[(colon + 1)..]);
        if (kind is SoftmaxCrossEntropy or CrossEntropy && arg.Length > 0) return new LossSpec(kind, Labels: arg);
        return Fail(out error, text);
    }

    private static LossSpec? Fail(out string? error, string text)
    {
        error = $"loss '{text}' is neither an output name nor {SoftmaxCrossEntropy}:LABELS nor {CrossEntropy}:LABELS";
        return null;
    }
}

/// <summary>How to turn an inference model into a training step.</summary>
public sealed record TrainingOptions
{
    public required LossSpec Loss { get; init; }
    public required Optimizer Optimizer { get; init; }

    /// <summary>Which constants become trained variables, matched against their source names (ONNX initializer names); all by default.</summary>
    public Regex? Trainable { get; init; }

    /// <summary>Scales the gradients down when their global L2 norm exceeds this.</summary>
    public double? ClipNorm { get; init; }

    /// <summary>Integer type of the labels input for <see cref="LossSpec.SoftmaxCrossEntropy"/>.</summary>
    public ElementType LabelType { get; init; } = ElementType.I64;

    /// <summary>
    /// Synchronous data parallelism: every replica (MPI process) runs the step on its own slice of the global batch,
    /// and the gradients and the loss are averaged over the replicas (<c>all_reduce {kind = mean}</c>) before the
    /// update, so every replica applies the same update to the same variables: the step of the whole batch.
    /// </summary>
    public bool DataParallel { get; init; }

    /// <summary>
    /// With <see cref="DataParallel"/>: send the gradients as 16-bit floats (<see cref="ElementType.F16"/> or
    /// <see cref="ElementType.BF16"/>; null: f32). Each replica's gradient is rounded to that type, gathered from every
    /// replica (<c>all_gather</c>: MPI has no 16-bit sum), widened and averaged in f32, so every replica still gets the
    /// same mean — of rounded gradients. Needs <see cref="Replicas"/>, since the gathered shape holds the world size.
    /// </summary>
    public ElementType? GradientCompression { get; init; }

    /// <summary>The number of data-parallel replicas (the MPI world size); needed only with <see cref="GradientCompression"/>.</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>With <see cref="DataParallel"/>: most bytes of gradients averaged by one collective (<see cref="TrainingStep.BucketBytes"/> by default).</summary>
    public long BucketBytes { get; init; } = TrainingStep.BucketBytes;

    /// <summary>
    /// With <see cref="DataParallel"/> (f32 gradients): average each bucket with an <c>all_reduce_start</c>/<c>all_reduce_done</c>
    /// pair, which <c>overlap-collectives</c> issues as soon as the bucket's gradients exist and waits for only where the
    /// update needs it, so the reduction runs while the rest of the backward pass computes. False: one blocking
    /// <c>all_reduce</c> per bucket. The values are the same either way.
    /// </summary>
    public bool OverlapCommunication { get; init; } = true;
}

/// <summary>What a variable of a training step holds: a trained parameter, an optimizer state, or the step counter.</summary>
public enum VariableRole { Parameter, OptimizerState, StepCount }

/// <summary>A variable argument of the training step with its initial value.</summary>
public sealed record TrainingVariable(string Name, int Argument, VariableRole Role, Tensor Initial);

/// <summary>A training step: the module (entry <c>@train_step</c>), its variables, and how to make inference models from trained values.</summary>
public sealed record TrainingModule(Module Module, ImmutableArray<TrainingVariable> Variables, Function Inference,
    ImmutableDictionary<string, Operation> Parameters)
{
    /// <summary>
    /// The inference model with each trained parameter's constant replaced by <paramref name="values"/>
    /// (by parameter name): the function to compile again for inference after training.
    /// </summary>
    public Function InferenceWith(IReadOnlyDictionary<string, Tensor> values)
    {
        var map = new Dictionary<Operation, Operation>(ReferenceEqualityComparer.Instance);
        foreach (var (name, op) in Parameters)
        {
            if (!values.TryGetValue(name, out var v)) continue;
            if (v.Type != op.ResultType()) throw new IrException($"trained value of '{name}' is {v.Type}, the model's constant is {op.ResultType()}");
            map[op] = new Operation(op.Def, [], op.Attributes.With("value", new TensorAttr(v)), op.Results, location: op.Location, sourceName: op.SourceName);
        }
        var ops = Inference.Body.Operations.Select(o => map.GetValueOrDefault(o) ?? o).ToImmutableArray();
        return Inference.WithBody(Inference.Body.WithOperations(ops));
    }
}

/// <summary>
/// Builds a training step from an inference model, as <c>gcc-cli compile --train</c> and the C# trainer do:
/// the chosen float constants (ONNX initializers, folded TensorFlow variables) become arguments of a
/// function <c>@forward(inputs..., [labels], parameters...)</c> returning the loss and the model's outputs;
/// <c>@train_step</c> takes the same inputs plus every parameter, optimizer state and the step counter as
/// variables, asks for the loss's gradient with respect to the parameters (a <c>gradient</c> op, which the
/// <c>differentiate</c> pass expands), clips it, applies the optimizer, and returns the loss and the outputs
/// with every variable updated in place.
/// </summary>
public static partial class TrainingStep
{
    public const string StepFunction = "train_step", ForwardFunction = "forward";

    public static TrainingModule Build(Module inference, TrainingOptions options)
    {
        var f = inference.Entry;
        var lossOutput = LossOutputIndex(f, options.Loss);
        var parameters = TrainableParameters(f, lossOutput, options.Trainable);

        var forward = BuildForward(f, lossOutput, parameters, options);
        var step = BuildStep(f, forward, parameters, options);
        var others = inference.Functions.Where(g => !ReferenceEquals(g, f) && g.Name is not (StepFunction or ForwardFunction));
        var module = new Module([step.Function, forward, .. others]);
        var problems = Verifier.Verify(module);
        if (problems.Count > 0) throw new InvalidOperationException("the training step does not verify: " + problems[0].Message);
        return new TrainingModule(module, step.Variables, f,
            parameters.ToImmutableDictionary(p => p.Name, p => p.Constant, StringComparer.Ordinal));
    }

    private sealed record Parameter(string Name, Operation Constant);

    private static int LossOutputIndex(Function f, LossSpec loss)
    {
        if (loss.Output is not { } name) return 0;
        for (int i = 0; i < f.ResultTypes.Length; i++)
            if (f.ResultName(i) == name) return i;
        throw new IrException($"the model has no output '{name}' (outputs: {string.Join(", ", Enumerable.Range(0, f.ResultTypes.Length).Select(f.ResultName))})");
    }

    /// <summary><see cref="ChooseParameters"/>; an error when there is none.</summary>
    private static List<Parameter> TrainableParameters(Function f, int lossOutput, Regex? trainable)
    {
        var parameters = ChooseParameters(f, lossOutput, trainable);
        if (parameters.Count == 0)
            throw new IrException("no trainable parameters: no float constant with a source name reaches the loss" +
                (trainable is { } r ? $" and matches '{r}'" : ""));
        return parameters;
    }

    /// <summary>
    /// Float constants with a source name and at least one dimension (so scalars a lowering made — relu's 0,
    /// an epsilon — stay constants) that the loss output depends on and the trainable pattern matches.
    /// </summary>
    private static List<Parameter> ChooseParameters(Function f, int lossOutput, Regex? trainable)
    {
        var needed = new HashSet<Value>(ReferenceEqualityComparer.Instance) { f.Body.Yielded[lossOutput] };
        var ops = f.Body.Operations;
        for (int i = ops.Length - 1; i >= 0; i--)
        {
            var op = ops[i];
            if (!op.Results.Any(needed.Contains)) continue;
            needed.UnionWith(op.Operands);
            foreach (var inner in op.Regions.SelectMany(r => r.Operations)) needed.UnionWith(inner.Operands);
        }
        var result = new List<Parameter>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var op in ops)
        {
            if (op.Def.Name != "constant" || !needed.Contains(op.Result)) continue;
            var t = op.ResultType();
            if (!t.Element.IsFloat() || t.Rank == 0 || op.SourceName is not { } source) continue;
            if (trainable is not null && !trainable.IsMatch(source)) continue;
            var name = source;
            for (int k = 2; !names.Add(name); k++) name = $"{source}_{k}";
            result.Add(new Parameter(name, op));
        }
        return result;
    }

    /// <summary>@forward(inputs..., [labels], parameters...) → (loss, model outputs...).</summary>
    private static Function BuildForward(Function f, int lossOutput, List<Parameter> parameters, TrainingOptions options)
    {
        var fb = new FunctionBuilder(ForwardFunction);
        var map = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < f.Arguments.Length; i++) map[f.Arguments[i]] = fb.Arg(f.Arguments[i].Type, f.ArgumentName(i));
        Value? labels = null;
        if (options.Loss.TakesLabels)
        {
            var logits = f.ResultTypes[lossOutput];
            if (logits.Rank != 2 || !logits.Element.IsFloat())
                throw new IrException($"{options.Loss.Kind} needs [batch, classes] float {(options.Loss.Kind == LossSpec.CrossEntropy ? "probabilities" : "logits")}, output '{f.ResultName(lossOutput)}' is {logits}");
            labels = fb.Arg(new TensorType(options.LabelType, logits.Shape[0]), options.Loss.Labels);
        }
        var constants = new HashSet<Operation>(parameters.Select(p => p.Constant), ReferenceEqualityComparer.Instance);
        foreach (var p in parameters) map[p.Constant.Result] = fb.Arg(p.Constant.ResultType(), p.Name);

        ImmutableArray<Operation> body = [.. f.Body.Operations.SkipLast(1).Where(o => !constants.Contains(o)).Select(o => o.MapOperands(map))];
        var outputs = f.Body.Yielded.Select(v => map.GetValueOrDefault(v) ?? v).ToList();
        var b = fb.Body;
        var loss = labels is null ? outputs[lossOutput]
            : options.Loss.Kind == LossSpec.CrossEntropy ? CrossEntropy(b, outputs[lossOutput], labels)
            : SoftmaxCrossEntropy(b, outputs[lossOutput], labels);
        var ops = body.Concat(b.Operations).ToImmutableArray();
        var results = new List<Value> { loss };
        results.AddRange(outputs);
        var info = new List<ResultInfo> { new("loss") };
        info.AddRange(Enumerable.Range(0, outputs.Count).Select(i => new ResultInfo(f.ResultName(i))));
        var built = fb.Return(results, info);
        // The builder's body holds only the loss ops; put the model's ops before them.
        return built.WithBody(new Region(built.Body.Arguments, [.. body, .. built.Body.Operations]));
    }

    /// <summary>mean over the batch of logsumexp(z) − z[label], computed from z − max(z) so exp cannot overflow.</summary>
    public static Value SoftmaxCrossEntropy(IrBuilder b, Value logits, Value labels)
    {
        var t = logits.Type;
        var max = b.Emit("reduce", [logits], ("kind", A.Enum("max")), ("dims", A.Ints(1)));
        var shifted = b.Emit("sub", logits, b.BroadcastInDim(max, t, 0));
        var sum = b.Emit("reduce", [b.Emit("exp", shifted)], ("kind", A.Enum("sum")), ("dims", A.Ints(1)));
        return BatchMean(b, b.Emit("sub", b.Emit("log", sum), AtLabel(b, shifted, labels)));
    }

    /// <summary>mean over the batch of −log max(p[label], <see cref="LossSpec.MinProbability"/>).</summary>
    public static Value CrossEntropy(IrBuilder b, Value probabilities, Value labels)
    {
        var picked = AtLabel(b, probabilities, labels);
        var clamped = b.Emit("max", picked, b.Splat(picked.Type, LossSpec.MinProbability));
        return b.Emit("neg", BatchMean(b, b.Emit("log", clamped)));
    }

    /// <summary>Row n's element at column labels[n]: a one-hot select and a row sum ([batch, classes] → [batch]).</summary>
    private static Value AtLabel(IrBuilder b, Value values, Value labels)
    {
        var t = values.Type;
        var classIds = b.Emit("iota", [], AttrMap.Of(("dimension", A.Int(1))), t.WithElement(labels.Type.Element));
        var isLabel = b.Compare(classIds, b.BroadcastInDim(labels, classIds.Type, 0), "eq");
        return b.Emit("reduce", [b.Emit("select", isLabel, values, b.Splat(t, 0))], ("kind", A.Enum("sum")), ("dims", A.Ints(1)));
    }

    private static Value BatchMean(IrBuilder b, Value perExample)
    {
        var total = b.Emit("reduce", [perExample], ("kind", A.Enum("sum")), ("dims", A.Ints(0)));
        return b.Emit("div", total, b.Scalar(perExample.Type.Element, perExample.Type.Shape[0]));
    }

    private sealed record Step(Function Function, ImmutableArray<TrainingVariable> Variables);

    private static Step BuildStep(Function f, Function forward, List<Parameter> parameters, TrainingOptions options)
    {
        var fb = new FunctionBuilder(StepFunction);
        int dataArgs = forward.Arguments.Length - parameters.Count;
        var args = new List<Value>();
        for (int i = 0; i < dataArgs; i++) args.Add(fb.Arg(forward.Arguments[i].Type, forward.ArgumentName(i)));
        var vars = DeclareVariables(fb, parameters, options.Optimizer, args.Count);
        var paramArgs = vars.Params;

        var b = fb.Body;
        var stepNumber = b.Emit("add", vars.Step, b.Scalar(ElementType.I64, 1));
        var r = Differentiate(b, forward, [.. args, .. paramArgs], parameters.Count);
        int forwardResults = forward.ResultTypes.Length;
        IReadOnlyList<Value> grads = r[forwardResults..];
        var outputs = new List<Value>(r[..forwardResults]);
        if (options.DataParallel)
        {
            // Each replica's loss is the mean over its slice; the mean of those (equal slices) is the whole batch's,
            // and so is the mean of their gradients. Clipping then sees the global gradient, as on one process.
            (grads, outputs[0]) = AverageInBuckets(b, grads, outputs[0], options);
        }
        if (options.ClipNorm is { } clip) grads = GradientClipping.ByGlobalNorm(b, grads, clip);

        var results = outputs;
        var infos = Enumerable.Range(0, forwardResults).Select(i => new ResultInfo(forward.ResultName(i))).ToList();
        AppendUpdates(b, vars, grads, parameters, options.Optimizer, stepNumber, results, infos);
        return new Step(fb.Return(results, infos), vars.Variables);
    }

    /// <summary>
    /// Most bytes of gradients averaged by one collective (PyTorch DDP's default bucket, 25 MiB): a few large messages
    /// cost far less than one per parameter tensor — each collective is a synchronisation of every replica, whose
    /// latency dominates small tensors — while a bucket stays small enough not to double the step's memory.
    /// </summary>
    public const long BucketBytes = 25L << 20;

    /// <summary>
    /// The replicas' mean of <paramref name="grads"/> and of the loss: consecutive gradients of one element type, last
    /// parameter first, are flattened into buckets of at most <see cref="TrainingOptions.BucketBytes"/> (the loss rides in
    /// the first one when it has their type), each averaged by one collective and cut back into its tensors. Last
    /// first, as PyTorch DDP orders its buckets: the backward pass produces the last layers' gradients first, so the
    /// first bucket is complete, and can start its reduction, while the earlier layers' gradients are computed.
    /// </summary>
    private static (IReadOnlyList<Value> Grads, Value Loss) AverageInBuckets(IrBuilder b, IReadOnlyList<Value> grads, Value loss, TrainingOptions options)
    {
        var members = new List<Value>();
        bool lossInside = grads.Count > 0 && loss.Type.Element == grads[0].Type.Element && options.GradientCompression is null;
        if (lossInside) members.Add(loss);
        members.AddRange(grads.Reverse());
        var averaged = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
        var bucket = new List<Value>();
        long bytes = 0;
        void Flush()
        {
            if (bucket.Count == 0) return;
            var flat = bucket.Select(v => b.Reshape(v, v.Type.ElementCount)).ToList();
            var joined = flat.Count == 1 ? flat[0] : b.Emit("concatenate", flat, AttrMap.Of(("dimension", A.Int(0))));
            var mean = options.GradientCompression is { } wire ? CompressedMean(b, joined, wire, options.Replicas)
                : options.OverlapCommunication ? AllReduceMeanAsync(b, joined) : AllReduceMean(b, joined);
            long at = 0;
            foreach (var v in bucket)
            {
                long n = v.Type.ElementCount;
                var part = bucket.Count == 1 ? mean : b.Emit("slice", [mean], AttrMap.Of(("start", A.Ints(at)), ("limit", A.Ints(at + n))));
                averaged[v] = b.Reshape(part, [.. v.Type.Shape]);
                at += n;
            }
            bucket.Clear();
            bytes = 0;
        }
        foreach (var v in members)
        {
            if (bucket.Count > 0 && (v.Type.Element != bucket[0].Type.Element || bytes + v.Type.ByteSize > options.BucketBytes)) Flush();
            bucket.Add(v);
            bytes += v.Type.ByteSize;
        }
        Flush();
        return ([.. grads.Select(g => averaged[g])], lossInside ? averaged[loss] : AllReduceMean(b, loss));
    }

    private static Value AllReduceMean(IrBuilder b, Value v) => b.Emit("all_reduce", [v], AttrMap.Of(("kind", A.Enum("mean"))));

    private static Value AllReduceMeanAsync(IrBuilder b, Value v) =>
        b.Emit("all_reduce_done", b.Emit("all_reduce_start", [v], AttrMap.Of(("kind", A.Enum("mean")))));

    /// <summary>The mean over <paramref name="replicas"/> replicas of <paramref name="g"/> rounded to <paramref name="wire"/>: gathered as [replicas, n] 16-bit rows, summed in g's type.</summary>
    private static Value CompressedMean(IrBuilder b, Value g, ElementType wire, int replicas)
    {
        long n = g.Type.ElementCount;
        var row = b.Reshape(b.Convert(g, wire), 1, n);
        var all = b.Emit("all_gather", [row], AttrMap.Of(("dim", A.Int(0))), new TensorType(wire, replicas, n));
        var sum = b.Emit("reduce", [b.Convert(all, g.Type.Element)], AttrMap.Of(("dims", A.Ints(0)), ("kind", A.Enum("sum"))));
        var mean = b.Emit("div", sum, b.Splat(sum.Type, replicas));
        return b.Reshape(mean, [.. g.Type.Shape]);
    }
}
