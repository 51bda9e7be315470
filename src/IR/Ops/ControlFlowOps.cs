using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// <c>while %init... : T... cond(%a: T...) { yield %p } body(%a: T...) { yield %next... }</c>:
/// loop-carried values start as the operands; <c>cond</c> yields a rank-0 bool; <c>body</c> yields the
/// next values. Regions may read values of enclosing regions.
/// <para>
/// <c>gpu_carried = [i, ...]</c> (set by <c>place-devices</c> on a loop on the host CPU): the carried values that stay in
/// GPU memory between iterations. Carried value i is one buffer seen as operand i, result i, both regions' argument i
/// and body's yield i, so all of them live where it does; only the condition crosses to the host each iteration.
/// </para>
/// </summary>
public sealed class WhileOp() : OpDef("while")
{
    public override OpTraits Traits => OpTraits.Foldable | OpTraits.HostControlFlow;
    public override Autodiff.VjpRule? Gradient => ControlFlowGradients.While;
    public override int MaxOperands => -1;
    public override ImmutableArray<string> RegionNames => ["cond", "body"];
    public override string? GpuValuesAttr => "gpu_carried";
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.IntsOrEmpty(GpuValuesAttr!)];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var carried = sig.Operands;
        var (cond, body) = (sig.Regions[0], sig.Regions[1]);
        CheckArgs(sig, "cond", cond, carried);
        CheckArgs(sig, "body", body, carried);
        var c = cond.Yielded;
        if (c.Length != 1 || c[0].Type != TensorType.Scalar(ElementType.Bool))
            throw sig.Error($"cond must yield one tensor<bool>, yields ({string.Join(", ", c.Select(v => v.Type))})");
        var next = body.Yielded.Select(v => v.Type).ToImmutableArray();
        if (!next.SequenceEqual(carried))
            throw sig.Error($"body yields ({string.Join(", ", next)}) but the loop carries ({string.Join(", ", carried)})");
        CheckGpuValues(sig, carried.Length, "carried values", "the loop");
        return carried;
    }

    /// <summary>Checks the op's <see cref="OpDef.GpuValuesAttr"/>: indices of its <paramref name="count"/> values, ascending, on an op the host runs.</summary>
    internal static void CheckGpuValues(OpSignature sig, int count, string values, string what)
    {
        var attr = sig.Def.GpuValuesAttr!;
        if (sig.AttributeMap[attr] is not IntArrayAttr { Values: var gpu } || gpu.Length == 0) return;
        for (int k = 0; k < gpu.Length; k++)
            if (gpu[k] < 0 || gpu[k] >= count || (k > 0 && gpu[k] <= gpu[k - 1]))
                throw sig.Error($"{attr} must list {values} (0..{count - 1}) in ascending order, got [{string.Join(", ", gpu)}]");
        if (sig.AttributeMap[Placement.AttrName] is not EnumAttr { Value: Placement.Cpu })
            throw sig.Error($"{attr} needs {what} on the host CPU (device = cpu), which runs it and reads its {(sig.Def is WhileOp ? "condition" : "predicate or index")}");
    }

    internal static void CheckArgs(OpSignature sig, string name, Region r, ImmutableArray<TensorType> expected)
    {
        var got = r.Arguments.Select(a => a.Type).ToImmutableArray();
        if (!got.SequenceEqual(expected))
            throw sig.Error($"region '{name}' takes ({string.Join(", ", got)}), expected ({string.Join(", ", expected)})");
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var state = ctx.Operands;
        long limit = ctx.Interpreter.Options.MaxLoopIterations;
        var timeLimit = ctx.Interpreter.Options.MaxLoopTime;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        for (long n = 0; ; n++)
        {
            if (!ctx.RunRegion(0, state)[0].GetBool(0)) return state;
            if (n >= limit) throw ctx.Error($"loop ran more than {limit} iterations (InterpreterOptions.MaxLoopIterations)");
            if (timeLimit is { } t && (n & 255) == 0 && System.Diagnostics.Stopwatch.GetElapsedTime(start) > t)
                throw ctx.Error($"loop ran longer than {t.TotalSeconds:0.###} s ({n} iterations; InterpreterOptions.MaxLoopTime)");
            state = ctx.RunRegion(1, state);
        }
    }
}

/// <summary>
/// <c>if %pred : T... then() { yield ... } else() { yield ... }</c>: runs one branch; both yield the result types.
/// <c>gpu_results = [i, ...]</c> (set by <c>place-devices</c> on an if on the host CPU): the results kept in GPU memory,
/// where each branch yields them.
/// </summary>
public sealed class IfOp() : OpDef("if")
{
    public override OpTraits Traits => OpTraits.Foldable | OpTraits.HostControlFlow;
    public override Autodiff.VjpRule? Gradient => ControlFlowGradients.Branches;
    public override int MinOperands => 1;
    public override ImmutableArray<string> RegionNames => ["then", "else"];
    public override string? GpuValuesAttr => CaseOp.GpuResults;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.IntsOrEmpty(CaseOp.GpuResults)];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        if (sig.Operand(0) != TensorType.Scalar(ElementType.Bool)) throw sig.Error($"predicate must be tensor<bool>, got {sig.Operand(0)}");
        var types = CaseOp.BranchTypes(sig, ["then", "else"]);
        WhileOp.CheckGpuValues(sig, types.Length, "results", "the if");
        return types;
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx) => ctx.RunRegion(ctx.Operand(0).GetBool(0) ? 0 : 1, []);
}

/// <summary>
/// <c>case %index : T... branch() {...} branch() {...}</c>: runs branch <c>index</c>; an index out of
/// range runs the last branch (XLA's rule, which makes the last branch the default). <c>gpu_results</c> as on <c>if</c>.
/// </summary>
public sealed class CaseOp() : OpDef("case")
{
    /// <summary>The attribute of <c>if</c> and <c>case</c> listing the results kept in GPU memory (<see cref="OpDef.GpuValuesAttr"/>).</summary>
    internal const string GpuResults = "gpu_results";

    public override OpTraits Traits => OpTraits.Foldable | OpTraits.HostControlFlow;
    public override Autodiff.VjpRule? Gradient => ControlFlowGradients.Branches;
    public override int MinOperands => 1;
    public override ImmutableArray<string> RegionNames => ["branch"];
    public override bool VariadicRegions => true;
    public override string? GpuValuesAttr => GpuResults;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.IntsOrEmpty(GpuResults)];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var idx = sig.Operand(0);
        if (idx.Rank != 0 || !idx.Element.IsInteger()) throw sig.Error($"index must be a rank-0 integer, got {idx}");
        if (sig.Regions.Length == 0) throw sig.Error("needs at least one branch");
        var types = BranchTypes(sig, [.. sig.Regions.Select((_, i) => $"branch #{i}")]);
        WhileOp.CheckGpuValues(sig, types.Length, "results", "the case");
        return types;
    }

    internal static ImmutableArray<TensorType> BranchTypes(OpSignature sig, string[] names)
    {
        ImmutableArray<TensorType>? first = null;
        for (int i = 0; i < sig.Regions.Length; i++)
        {
            var r = sig.Regions[i];
            if (r.Arguments.Length != 0) throw sig.Error($"{names[i]} takes no arguments");
            var types = r.Yielded.Select(v => v.Type).ToImmutableArray();
            if (first is { } f && !f.SequenceEqual(types))
                throw sig.Error($"{names[i]} yields ({string.Join(", ", types)}), {names[0]} yields ({string.Join(", ", f)})");
            first ??= types;
        }
        return first ?? [];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var idx = ctx.Operand(0);
        long i = idx.Element.IsUnsignedInteger() ? (long)Math.Min(idx.GetUInt64(0), long.MaxValue) : idx.GetInt64(0);
        int n = ctx.Op.Regions.Length;
        return ctx.RunRegion(i < 0 || i >= n ? n - 1 : (int)i, []);
    }
}

/// <summary><c>call %args... {callee = @f} : T...</c>: calls another function of the module.</summary>
public sealed class CallOp() : OpDef("call")
{
    public override int MaxOperands => -1;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Symbol("callee")];
    public override bool TakesResultTypes => true;

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig) =>
        Callee(sig, "only the entry function may") is { } f ? f.ResultTypes : sig.Declared;

    /// <summary>
    /// The function a call-like op (call, gradient) names in <c>callee</c>, checked against the operands and
    /// refused when it updates variables; null when the module is not known yet (checked again when it is).
    /// </summary>
    internal static Function? Callee(OpSignature sig, string whyNoUpdates)
    {
        var name = sig.Attr.Symbol("callee");
        var f = sig.ResolveFunction(name);
        if (f is null) return null;
        if (!f.ArgumentTypes.SequenceEqual(sig.Operands))
            throw sig.Error($"@{name} takes ({string.Join(", ", f.ArgumentTypes)}), got ({string.Join(", ", sig.Operands)})");
        if (f.ResultInfos.Any(r => r.Updates is not null))
            throw sig.Error($"@{name} updates variables; {whyNoUpdates}");
        return f;
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx) =>
        ctx.Interpreter.CallFunction(ctx.Attr.Symbol("callee"), ctx.Operands);
}

public static class ControlFlowOps
{
    public static readonly ImmutableArray<OpDef> All = [new WhileOp(), new IfOp(), new CaseOp(), new CallOp()];
}
