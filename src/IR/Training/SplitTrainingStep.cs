using System.Collections.Immutable;

namespace GraphCompiler.IR.Training;

/// <summary>
/// A training step cut in two for a parameter server (docs/distributed.md, "Asynchronous training"): the
/// workers' half computes the loss and the gradients at the parameters it is given, the server's half applies
/// the optimizer to the variables with gradients it is given.
/// </summary>
/// <param name="Gradients">
/// Entry <c>@compute_gradients(inputs..., [labels], parameters...) → (loss, gradient of each parameter...)</c>:
/// plain arguments, nothing updated in place; the parameters in <see cref="TrainingModule.Variables"/>' order.
/// </param>
/// <param name="Apply">
/// Entry <c>@apply_gradients(gradients..., parameters..., optimizer states..., step)</c>: clips the gradients
/// (<see cref="TrainingOptions.ClipNorm"/>) and applies the optimizer, every variable updated in place, as the
/// update half of <c>@train_step</c>; its variables' arguments count from after the gradients.
/// </param>
public sealed record SplitTrainingModule(Module Gradients, TrainingModule Apply)
{
    /// <summary>The trained parameters, in argument order of both halves.</summary>
    public ImmutableArray<TrainingVariable> Parameters => [.. Apply.Variables.Where(v => v.Role == VariableRole.Parameter)];
}

public static partial class TrainingStep
{
    public const string GradientsFunction = "compute_gradients", ApplyFunction = "apply_gradients";

    /// <summary>
    /// The two halves of the training step <see cref="Build"/> makes, for asynchronous training: the same
    /// parameters, forward function, loss, clipping and optimizer, but the gradients leave one program and enter
    /// the other, which a parameter server applies in the order they arrive.
    /// </summary>
    public static SplitTrainingModule BuildSplit(Module inference, TrainingOptions options)
    {
        if (options.DataParallel) throw new IrException("a split training step has no collectives: it cannot be data parallel");
        var f = inference.Entry;
        var lossOutput = LossOutputIndex(f, options.Loss);
        var parameters = TrainableParameters(f, lossOutput, options.Trainable);
        var forward = BuildForward(f, lossOutput, parameters, options);
        var others = inference.Functions.Where(g => !ReferenceEquals(g, f) && g.Name is not (GradientsFunction or ForwardFunction)).ToList();
        var gradients = new Module([BuildGradients(forward, parameters), forward, .. others]);
        var (apply, variables) = BuildApply(parameters, options);
        var applyModule = new Module([apply]);
        foreach (var m in new[] { gradients, applyModule })
        {
            var problems = Verifier.Verify(m);
            if (problems.Count > 0) throw new InvalidOperationException($"@{m.Entry.Name} does not verify: {problems[0].Message}");
        }
        return new SplitTrainingModule(gradients, new TrainingModule(applyModule, variables, f,
            parameters.ToImmutableDictionary(p => p.Name, p => p.Constant, StringComparer.Ordinal)));
    }

    /// <summary>@compute_gradients(forward's arguments) → (loss, gradients...): the forward function differentiated with respect to its parameters.</summary>
    private static Function BuildGradients(Function forward, List<Parameter> parameters)
    {
        var fb = new FunctionBuilder(GradientsFunction);
        var args = Enumerable.Range(0, forward.Arguments.Length).Select(i => fb.Arg(forward.Arguments[i].Type, forward.ArgumentName(i))).ToList();
        var r = Differentiate(fb.Body, forward, args, parameters.Count);
        int forwardResults = forward.ResultTypes.Length;
        var results = new List<Value> { r[0] };
        results.AddRange(r[forwardResults..]);
        var infos = new List<ResultInfo> { new("loss") };
        infos.AddRange(parameters.Select(p => new ResultInfo($"{p.Name}/gradient")));
        return fb.Return(results, infos);
    }

    /// <summary>
    /// A <c>gradient</c> op (the <c>differentiate</c> pass expands it) calling @forward with <paramref name="args"/>,
    /// with respect to its last <paramref name="parameters"/> arguments: @forward's results, then one gradient per parameter.
    /// </summary>
    private static ImmutableArray<Value> Differentiate(IrBuilder b, Function forward, IReadOnlyList<Value> args, int parameters)
    {
        var wrt = Enumerable.Range(args.Count - parameters, parameters).Select(i => (long)i).ToArray();
        var resultTypes = forward.ResultTypes.Concat(args.Skip(args.Count - parameters).Select(a => a.Type)).ToList();
        return b.EmitMulti("gradient", args, AttrMap.Of(("callee", A.Symbol(ForwardFunction)), ("wrt", A.Ints(wrt))), resultTypes);
    }

    /// <summary>@apply_gradients(gradients..., variables...): clipping and the optimizer, as in @train_step after its gradient.</summary>
    private static (Function Function, ImmutableArray<TrainingVariable> Variables) BuildApply(List<Parameter> parameters, TrainingOptions options)
    {
        var fb = new FunctionBuilder(ApplyFunction);
        IReadOnlyList<Value> grads = [.. parameters.Select(p => fb.Arg(p.Constant.ResultType(), $"{p.Name}/gradient"))];
        var vars = DeclareVariables(fb, parameters, options.Optimizer, parameters.Count);
        var b = fb.Body;
        var stepNumber = b.Emit("add", vars.Step, b.Scalar(ElementType.I64, 1));
        if (options.ClipNorm is { } clip) grads = GradientClipping.ByGlobalNorm(b, grads, clip);
        var results = new List<Value>();
        var infos = new List<ResultInfo>();
        AppendUpdates(b, vars, grads, parameters, options.Optimizer, stepNumber, results, infos);
        return (fb.Return(results, infos), vars.Variables);
    }

    /// <summary>A step's variable arguments: each parameter, each parameter's optimizer states, the step count.</summary>
    private sealed record VariableArguments(List<Value> Params, List<List<Value>> States, Value Step, int StepArgument, ImmutableArray<TrainingVariable> Variables);

    /// <summary>
    /// Declares the variables as arguments from <paramref name="first"/> on: the parameters (initialised with their
    /// constants), then each parameter's optimizer states (zeros), then the step count.
    /// </summary>
    private static VariableArguments DeclareVariables(FunctionBuilder fb, List<Parameter> parameters, Optimizer opt, int first)
    {
        var variables = ImmutableArray.CreateBuilder<TrainingVariable>();
        var paramArgs = new List<Value>();
        foreach (var p in parameters)
        {
            variables.Add(new TrainingVariable(p.Name, first + paramArgs.Count, VariableRole.Parameter, ((TensorAttr)p.Constant.Attributes["value"]!).Value));
            paramArgs.Add(fb.Arg(p.Constant.ResultType(), p.Name, variable: true));
        }
        var states = new List<List<Value>>();
        int next = first + paramArgs.Count;
        foreach (var p in parameters)
        {
            var s = new List<Value>();
            foreach (var stateName in opt.StateNames)
            {
                var name = $"{p.Name}/{opt.Name}/{stateName}";
                variables.Add(new TrainingVariable(name, next++, VariableRole.OptimizerState, Tensor.Zeros(p.Constant.ResultType())));
                s.Add(fb.Arg(p.Constant.ResultType(), name, variable: true));
            }
            states.Add(s);
        }
        var stepType = TensorType.Scalar(ElementType.I64);
        variables.Add(new TrainingVariable("step", next, VariableRole.StepCount, Tensor.Zeros(stepType)));
        var stepArg = fb.Arg(stepType, "step", variable: true);
        return new VariableArguments(paramArgs, states, stepArg, next, variables.ToImmutable());
    }

    /// <summary>
    /// The optimizer's update of every parameter with its gradient, appended to <paramref name="results"/>: each
    /// parameter's new value, then every new optimizer state, then the step count, each updating its variable.
    /// </summary>
    private static void AppendUpdates(IrBuilder b, VariableArguments vars, IReadOnlyList<Value> grads, List<Parameter> parameters, Optimizer opt,
        Value stepNumber, List<Value> results, List<ResultInfo> infos)
    {
        var newStates = new List<(Value Value, int Arg, string Name)>();
        for (int k = 0; k < parameters.Count; k++)
        {
            // The optimizer applies its own weight decay (ONNX's norm_coefficient is part of each update).
            var update = opt.Update(b, vars.Params[k], grads[k], vars.States[k], stepNumber);
            results.Add(update.Param);
            infos.Add(new ResultInfo(parameters[k].Name, Updates: vars.Variables[k].Argument));
            for (int s = 0; s < update.State.Length; s++)
            {
                var v = vars.Variables.First(x => x.Name == $"{parameters[k].Name}/{opt.Name}/{opt.StateNames[s]}");
                newStates.Add((update.State[s], v.Argument, v.Name));
            }
        }
        foreach (var (v, arg, name) in newStates)
        {
            results.Add(v);
            infos.Add(new ResultInfo(name, Updates: arg));
        }
        results.Add(stepNumber);
        infos.Add(new ResultInfo("step", Updates: vars.StepArgument));
    }
}
