using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>constant-fold</c>: an op whose operands are all constants (and whose regions read no enclosing
/// value but constants) is evaluated by the reference interpreter and replaced by one <c>constant</c>
/// per result, keeping its source name. The interpreter defines the semantics, so folding is exact.
/// <para>
/// Limits keep folding from bloating the module or the compile: a result with more than
/// <see cref="PassOptions.MaxFoldElements"/> elements stays an op (a broadcast of a scalar to 10⁸
/// elements is cheap to compute and expensive to store), as does an op whose estimated work exceeds
/// 256 times that (a big matmul of constants), and loops stop after <see cref="MaxLoopIterations"/>.
/// An op the interpreter cannot evaluate (elided constant contents, a bad index) is left as it is, and
/// so is every op that is not <see cref="OpTraits.Foldable"/> (constants, terminators, side effects).
/// </para>
/// </summary>
public sealed class ConstantFolding : FunctionPass
{
    public override string Name => "constant-fold";
    public override string Description => "evaluate ops whose operands are constants";

    /// <summary>Loop iterations one fold may take; a longer loop is left to run at run time.</summary>
    public const long MaxLoopIterations = 100_000;

    private static readonly OpDef ConstantDef = StructureOps.Constant;

    protected override Function RunOnFunction(Function f, Module module, PassOptions options)
    {
        var interpreter = new Interpreter(module, new InterpreterOptions { MaxLoopIterations = MaxLoopIterations });
        return new RegionRewriter((op, rw) =>
        {
            var folded = TryFold(op, rw, interpreter, module, options);
            if (folded is null)
            {
                rw.Emit(op);
                return;
            }
            for (int i = 0; i < folded.Value.Length; i++) rw.Emit(MakeConstant(folded.Value[i], op.Results[i], op));
        }).Rewrite(f);
    }

    /// <summary>A <c>constant</c> defining <paramref name="result"/> (the folded op's own result value, so no uses change).</summary>
    public static Operation MakeConstant(Tensor value, Value result, Operation from) =>
        new(ConstantDef, [], AttrMap.Of(("value", new TensorAttr(value))), [result], default, from.Location, from.SourceName);

    private static ImmutableArray<Tensor>? TryFold(Operation op, RegionRewriter rw, Interpreter interpreter, Module module, PassOptions options)
    {
        if (!op.Def.Has(OpTraits.Foldable) || op.Results.IsEmpty || op.HasSideEffects) return null;
        // broadcast_in_dim(c) => a bigger copy of c: left as an op (XLA does the same), since the
        // broadcast fuses into its consumers for free and the folded copy costs memory and bandwidth.
        if (op.Def is BroadcastInDimOp && op.Result.Type.ElementCount > op.Operands[0].Type.ElementCount) return null;
        foreach (var r in op.Results)
            if (r.Type.ElementCount > options.MaxFoldElements) return null;
        if (op.Operands.Any(v => rw.ConstantValue(v) is null && BroadcastOfConstant(v, rw, options) is null)) return null;
        if (op.Def.EvaluationWork(op) > options.MaxFoldElements * 256) return null;
        try
        {
            var operands = ImmutableArray.CreateBuilder<Tensor>(op.Operands.Length);
            foreach (var v in op.Operands)
            {
                if (rw.ConstantValue(v) is { } t) operands.Add(t);
                else
                {
                    var b = BroadcastOfConstant(v, rw, options)!;
                    operands.Add(interpreter.EvaluateOperation(b, [rw.ConstantValue(b.Operands[0])!])[0]);
                }
            }
            if (op.Regions.IsEmpty) return interpreter.EvaluateOperation(op, operands.MoveToImmutable());
            return EvaluateWithRegions(op, rw, module);
        }
        catch (IrException)
        {
            return null;
        }
        catch (OverflowException)
        {
            return null;
        }
    }

    /// <summary>
    /// The <c>broadcast_in_dim</c> of a constant that defines <paramref name="v"/>, when small enough to
    /// evaluate: left as an op itself (see above), it must still not stop a small computation over it
    /// from folding (batch-norm's <c>rsqrt(var + broadcast(eps))</c> per channel, say).
    /// </summary>
    private static Operation? BroadcastOfConstant(Value v, RegionRewriter rw, PassOptions options) =>
        rw.DefiningOp(v) is { Def: BroadcastInDimOp } b && v.Type.ElementCount <= options.MaxFoldElements
            && rw.ConstantValue(b.Operands[0]) is not null ? b : null;

    /// <summary>
    /// Regions may read enclosing values, which the interpreter looks up in its scopes: so the op runs
    /// inside a scratch function that first defines those values (and the operands) as constants.
    /// </summary>
    private static ImmutableArray<Tensor>? EvaluateWithRegions(Operation op, RegionRewriter rw, Module module)
    {
        var needed = new List<Value>(op.Operands);
        var defined = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        foreach (var r in op.Regions) CollectCaptures(r, defined, needed);
        var ops = new List<Operation>();
        var seen = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        foreach (var v in needed)
        {
            if (!seen.Add(v)) continue;
            if (rw.ConstantValue(v) is null) return null;
            ops.Add(rw.DefiningOp(v)!);
        }
        ops.Add(op);
        ops.Add(new Operation(OpRegistry.Get("return"), op.Results, AttrMap.Empty, []));
        const string name = "__constant_fold_scratch";
        var scratch = new Function(name, new Region([], [.. ops]), op.ResultTypes);
        var r2 = new Interpreter(new Module([.. module.Functions.Where(g => g.Name != name), scratch]),
            new InterpreterOptions { MaxLoopIterations = MaxLoopIterations }).Run(name, []);
        return r2.Ok ? r2.Value!.Results : null;
    }

    /// <summary>Adds to <paramref name="captures"/> the values a region reads but does not define.</summary>
    private static void CollectCaptures(Region region, HashSet<Value> defined, List<Value> captures)
    {
        foreach (var a in region.Arguments) defined.Add(a);
        foreach (var op in region.Operations)
        {
            foreach (var v in op.Operands)
                if (!defined.Contains(v)) captures.Add(v);
            foreach (var r in op.Regions) CollectCaptures(r, defined, captures);
            foreach (var v in op.Results) defined.Add(v);
        }
    }
}
