using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>
/// Variables: VariableV2/VarHandleOp give a handle (<see cref="TfResource"/>); reads give the frozen
/// checkpoint value or, for variables of a tfcompile config, the argument (or its latest update);
/// Assign/AssignAdd/AssignSub/AssignVariableOp/AssignAddVariableOp/AssignSubVariableOp record the new value.
/// </summary>
public static class TfVariableOps
{
    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("VariableV2", Handle), ("Variable", Handle), ("VarHandleOp", Handle),
        ("ReadVariableOp", n => n.Output(0, TfVariables.Read(n, Resource(n, 0)))),
        ("Assign", n => Assign(n, null)), ("AssignAdd", n => Assign(n, "add")), ("AssignSub", n => Assign(n, "sub")),
        ("AssignVariableOp", n => Assign(n, null)), ("AssignAddVariableOp", n => Assign(n, "add")),
        ("AssignSubVariableOp", n => Assign(n, "sub")),
        ("VarIsInitializedOp", IsInitialized), ("IsVariableInitialized", IsInitialized),
        ("_Arg", Argument), ("_Retval", n => n.Output(0, n.Raw(0))),
    ];

    /// <summary>
    /// Every variable of an import has a value (frozen from the checkpoint, or an argument the caller
    /// gives), so the initialisation checks are constant true; a variable without one is an error here.
    /// </summary>
    private static void IsInitialized(TfNode n)
    {
        TfVariables.Get(n, Resource(n, 0));
        n.Output(0, n.L.Constant(Tensor.Scalar(ElementType.Bool, 1)));
    }

    /// <summary>
    /// A function graph's argument: tensor arguments are bound as feeds before lowering, so reaching here
    /// means a resource argument (a variable, resolved when read) or one that was not fed.
    /// </summary>
    private static void Argument(TfNode n)
    {
        if (n.Attr("T")?.Type == Proto.TensorFlow.DataType.DtResource) n.Output(0, new TfResource(n.Name));
        else throw n.Error("function argument was not fed");
    }

    private static void Handle(TfNode n) => n.Output(0, new TfResource(n.Name));

    private static TfResource Resource(TfNode n, int i) =>
        n.Raw(i) as TfResource ?? throw n.Error($"input #{i} is not a variable");

    private static void Assign(TfNode n, string? op)
    {
        var r = Resource(n, 0);
        var value = n.Input(1);
        if (op is not null) value = n.L.Binary(op, TfVariables.Read(n, r), value);
        TfVariables.Write(n, r, value);
        // Assign/AssignAdd output the variable (a ref); the resource forms have no outputs.
        if (!n.Op.EndsWith("VariableOp", StringComparison.Ordinal)) n.Output(0, r);
    }
}

/// <summary>Reading and writing variables during an import.</summary>
internal static class TfVariables
{
    public static TfVariable Get(TfNode n, TfResource r) => Get(n.Ctx, r);

    public static TfVariable Get(TfImportContext ctx, TfResource r, TensorType? written = null)
    {
        if (ctx.Variables.TryGetValue(r.Variable, out var v)) return v;
        var key = ctx.CheckpointKeys.GetValueOrDefault(r.Variable) ?? r.Variable;
        if (!ctx.Checkpoint.TryGetValue(key, out var t) && ctx.MakeArgumentVariable?.Invoke(r.Variable, written) is { } arg)
        {
            ctx.Variables[r.Variable] = arg;
            return arg;
        }
        if (t is null)
            throw new LoweringException($"variable '{r.Variable}' has no value: it is not in the checkpoint{(key != r.Variable ? $" (key '{key}')" : "")} and not a variable of the config");
        v = new TfVariable(r.Variable) { Frozen = t };
        ctx.Variables[r.Variable] = v;
        return v;
    }

    public static Value Read(TfNode n, TfResource r) => Read(n.Ctx, n.L, r);

    public static Value Read(TfImportContext ctx, Lowerer l, TfResource r)
    {
        var v = Get(ctx, r);
        if (v.Updated is { } u)
        {
            if (!ReferenceEquals(v.UpdatedIn, l)) throw new LoweringException($"variable '{r.Variable}' read in another control-flow region than its update", isUnsupported: true);
            return u;
        }
        if (v.Argument is { } a) return a;
        return l.Constant(v.Frozen!);
    }

    public static void Write(TfNode n, TfResource r, Value value)
    {
        var v = Get(n.Ctx, r, value.Type);
        if (v.ReadOnly) throw n.Error($"variable '{r.Variable}' is read-only in the config but is assigned");
        var current = v.Argument?.Type ?? v.Frozen?.Type;
        if (current is not null && current != value.Type)
            throw n.Error($"assigns {value.Type} to variable '{r.Variable}' of type {current}");
        if (v.UpdatedIn is not null && !ReferenceEquals(v.UpdatedIn, n.L) || v.UpdatedIn is null && n.Ctx.TopLevel is not null && !ReferenceEquals(n.Ctx.TopLevel, n.L))
            throw n.Unsupported($"variable '{r.Variable}' assigned inside a control-flow region");
        v.Updated = value;
        v.UpdatedIn = n.L;
    }
}
