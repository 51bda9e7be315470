using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Onnx.Ops;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Import;

/// <summary>
/// Unrolls a TF1 while frame at import time: the condition is evaluated on import-time-known values
/// (typically a counter from a constant, compared with a constant) and the body is lowered once per
/// iteration, each with that iteration's types, so loop variables may change shape (a tensor grown by
/// ConcatV2). Only frames that a <c>while</c> cannot express come here (<see cref="TfLoops"/>): a
/// <c>while</c> keeps the code size independent of the trip count. Nested frames lower inside each
/// iteration the usual way (a <c>while</c>, or unrolled in turn).
/// </summary>
internal static class TfLoopUnroller
{
    /// <summary>The most iterations unrolled; the same bound as the ONNX importer's unrolled loops.</summary>
    public const int MaxIterations = OnnxControlFlowOps.MaxUnrolledIterations;

    /// <summary>
    /// The loop variables' final values. <paramref name="changed"/> says which variable changes type
    /// (why the frame is unrolled), for the error when the trip count is not known at import time.
    /// </summary>
    public static IReadOnlyList<Value> Unroll(TfNode mergeNode, TfLoopFrame frame, IReadOnlyList<Value> inits, string changed)
    {
        var scope = mergeNode.Scope;
        var l = mergeNode.L;
        LowerInvariants(scope, frame, inits);
        var values = inits;
        for (int i = 0; ; i++)
        {
            // One scope per iteration: the frame's nodes are lowered anew, on this iteration's values.
            var s = new TfScope(scope, l);
            TfLoops.BindVariables(s, frame, values, body: true);
            s.Lower([frame.Cond]);
            if (l.Known(TfLoops.ConditionOf(s, frame)) is not { } go)
                throw new LoweringException($"{changed}, and the loop condition '{frame.Cond}' is not known at import time, so the loop can be neither a while (static shapes) nor unrolled");
            if (!go.GetBool(0)) return values;
            if (i >= MaxIterations)
                throw new LoweringException($"{changed}, so the loop is unrolled at import time, but it runs more than {MaxIterations} iterations");
            s.Lower(frame.Next);
            values = [.. frame.Next.Select(t => s.Lookup(t) as Value ?? throw new LoweringException("loop body yields a resource"))];
        }
    }

    /// <summary>
    /// Lowers the frame's Enters that the condition or body read (invariants) once, before the loop,
    /// rather than in every iteration.
    /// </summary>
    private static void LowerInvariants(TfScope scope, TfLoopFrame frame, IReadOnlyList<Value> inits)
    {
        var probe = new TfScope(scope, scope.Lowerer);
        TfLoops.BindVariables(probe, frame, inits, body: true);
        var read = probe.Needed([frame.Cond, .. frame.Next]).Where(frame.Enters.Contains);
        scope.Lower([.. read.Select(e => new TensorName(e, 0))]);
    }
}
