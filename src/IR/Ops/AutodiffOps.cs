using System.Collections.Immutable;
using GraphCompiler.IR.Autodiff;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// <c>gradient %args... {callee = @f, wrt = [i, ...], of = k} : T...</c>: calls <c>@f</c> and also returns the
/// gradient of (the sum of the elements of) its result <c>k</c> with respect to each argument listed in
/// <c>wrt</c>: the results are f's results followed by one tensor per <c>wrt</c> entry, of that argument's
/// type. It is how a graph asks for its own derivatives (ONNX's <c>Gradient</c>, a training step); the
/// <c>differentiate</c> pass replaces it by a call to the function <see cref="Gradients"/> builds, and the
/// interpreter evaluates it the same way.
/// </summary>
public sealed class GradientOp() : OpDef("gradient")
{
    public override int MaxOperands => -1;
    public override bool TakesResultTypes => true;
    public override ImmutableArray<AttrSpec> Attributes => [AttrSpec.Symbol("callee"), AttrSpec.Ints("wrt"), AttrSpec.Int("of", 0)];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        if (CallOp.Callee(sig, "differentiate a function without updates") is not { } f) return sig.Declared;
        var name = f.Name;
        long of = sig.Attr.Int("of");
        if (of < 0 || of >= f.ResultTypes.Length) throw sig.Error($"'of' is {of}, but @{name} has {f.ResultTypes.Length} results");
        if (!f.ResultTypes[(int)of].Element.IsFloat()) throw sig.Error($"result #{of} of @{name} is {f.ResultTypes[(int)of]}, not a float tensor");
        var wrt = sig.Attr.Ints("wrt");
        foreach (var w in wrt)
        {
            if (w < 0 || w >= f.Arguments.Length) throw sig.Error($"'wrt' names argument #{w}, but @{name} has {f.Arguments.Length}");
            if (!f.ArgumentTypes[(int)w].Element.IsFloat()) throw sig.Error($"argument #{w} of @{name} is {f.ArgumentTypes[(int)w]}, not a float tensor");
        }
        if (wrt.Distinct().Count() != wrt.Length) throw sig.Error("'wrt' lists an argument twice");
        return [.. f.ResultTypes, .. wrt.Select(w => f.ArgumentTypes[(int)w])];
    }

    /// <summary>The function a <c>gradient</c> op stands for (what the <c>differentiate</c> pass calls instead).</summary>
    public static Function Expand(Operation op, Module module, string name)
    {
        var callee = op.Attr.Symbol("callee");
        var f = module.Find(callee) ?? throw new IrException($"'gradient' of unknown function @{callee}", op.Location);
        return Gradients.Differentiate(f, op.Attr.Int32("of"), [.. op.Attr.Ints("wrt").Select(w => checked((int)w))], name, module.Find);
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var module = ctx.Interpreter.Module;
        var g = Expand(ctx.Op, module, $"__gradient_of_{ctx.Attr.Symbol("callee")}");
        var r = new Interpreter(new Module([.. module.Functions, g]), ctx.Interpreter.Options).Run(g.Name, ctx.Operands);
        return r.Ok ? r.Value!.Results : throw new IrException(string.Join("; ", r.Diagnostics.Select(d => d.Message)), ctx.Op.Location);
    }
}

public static class AutodiffOps
{
    public static readonly ImmutableArray<OpDef> All = [new GradientOp()];
}
