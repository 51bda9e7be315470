using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Proto.Onnx;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>If (→ <c>if</c>), Loop (→ <c>while</c>) and Scan (unrolled over its static length).</summary>
public static class OnnxControlFlowOps
{
    private static Value ScalarOf(Lowerer l, Value v, string what) =>
        v.Type.ElementCount == 1 ? l.Reshape(v) : throw new LoweringException($"{what} must have one element, got {v.Type}");

    private static void If(OnnxNode n)
    {
        var l = n.L;
        var cond = ScalarOf(l, n.Input(0), "cond");
        var thenG = n.Graph("then_branch") ?? throw n.Error("attribute 'then_branch' is required");
        var elseG = n.Graph("else_branch") ?? throw n.Error("attribute 'else_branch' is required");
        // A condition known at import time selects its branch, lowered inline: the branches may then differ in
        // sequence lengths or optional presence, and the other one is never lowered.
        if (l.Known(cond) is { } known)
        {
            var outs = n.LowerGraphAny(known.GetBool(0) ? thenG : elseG, l, []);
            for (int i = 0; i < outs.Count; i++) n.OutputAny(i, outs[i]);
            return;
        }
        var thenR = n.Branch(thenG, out var thenLayout);
        var elseR = n.Branch(elseG, out var elseLayout);
        if (thenLayout.Count != elseLayout.Count) throw n.Error($"then_branch has {thenLayout.Count} outputs, else_branch {elseLayout.Count}");
        var thenTypes = thenLayout.SelectMany(o => o.Flatten()).Select(v => v.Type).ToList();
        var elseTypes = elseLayout.SelectMany(o => o.Flatten()).Select(v => v.Type).ToList();
        if (!thenLayout.Zip(elseLayout).All(p => p.First.SameLayout(p.Second)))
        {
            // One `if` yields one list of tensors: branches must agree in structure, else the condition must be known.
            if (thenLayout.Zip(elseLayout).Any(p => p.First.GetType() != p.Second.GetType() || p.First.Flatten().Count() != p.Second.Flatten().Count()))
                n.RequireKnown(0, "the condition of an If whose branches give sequences of different lengths or optionals of different presence");
            throw n.Unsupported($"branches yield different types ({string.Join(", ", thenTypes)}) and ({string.Join(", ", elseTypes)})");
        }
        var pred = l.Convert(cond, ElementType.Bool);
        var results = l.EmitMulti("if", [pred], null, thenTypes, [thenR, elseR]);
        using var flat = ((IEnumerable<Value>)results).GetEnumerator();
        for (int i = 0; i < thenLayout.Count; i++) n.OutputAny(i, thenLayout[i].Rebuild(flat));
    }

    /// <summary>
    /// Loop as <c>while</c> over (iteration, cond, loop-carried..., scan accumulators...). Scan outputs are
    /// preallocated [trip count, ...] and filled with dynamic_update_slice, so they need the trip count
    /// known at import time and a body that cannot stop early (its cond output is its cond input or true).
    /// </summary>
    private static void Loop(OnnxNode n)
    {
        var l = n.L;
        var body = n.Graph("body") ?? throw n.Error("attribute 'body' is required");
        var initAny = Enumerable.Range(2, Math.Max(0, n.InputCount - 2)).Select(n.AnyInput).ToList();
        int nScan = body.Output.Count - 1 - initAny.Count;
        if (nScan < 0) throw n.Error($"body has {body.Output.Count} outputs for {initAny.Count} loop-carried values");
        if (initAny.Any(v => v is not OnnxValue.OfTensor) ||
            body.Output.Skip(1).Take(initAny.Count).Any(o => o.Type is { } t && t.ValueCase is not (TypeProto.ValueOneofCase.TensorType or TypeProto.ValueOneofCase.None)))
        {
            UnrolledLoop(n, body, initAny, nScan);
            return;
        }
        var mIn = n.Optional(0);
        var condIn = n.Optional(1);
        var init = initAny.Select(v => ((OnnxValue.OfTensor)v).Value).ToList();
        var i64 = TensorType.Scalar(ElementType.I64);
        var boolT = TensorType.Scalar(ElementType.Bool);
        long? trip = mIn is not null && l.Known(mIn) is not null ? l.KnownInts(mIn, "M")[0] : null;
        var m = mIn is null ? null : l.Convert(ScalarOf(l, mIn, "M"), ElementType.I64);
        var c0 = condIn is null ? l.Constant(Tensor.Scalar(ElementType.Bool, 1)) : l.Convert(ScalarOf(l, condIn, "cond"), ElementType.Bool);

        var scanTypes = new List<TensorType>();
        if (nScan > 0)
        {
            // Scan outputs need a static length: the trip count must be known at compile time.
            if (trip is null && mIn is not null) trip = n.KnownInts(0, "trip count M")[0];
            if (trip is null) throw n.Unsupported("scan outputs without a trip count");
            if (!CannotStopEarly(body)) throw n.Unsupported("scan outputs of a loop whose condition may end it early (data-dependent length)");
            // Whether the loop runs at all decides whether the scan outputs have rows: the initial condition is
            // needed at compile time like the trip count (from a graph input: bind it).
            if (condIn is not null && l.Known(c0) is null) n.RequireKnown(1, "the initial condition of a loop with scan outputs");
            if (l.Known(c0) is not { } c0Known || !c0Known.GetBool(0))
                throw n.Unsupported("scan outputs with an initial condition that is not known to be true");
            // A body that needs the iteration number at import time (a Slice by it, as loops written for
            // dynamic runtimes do) cannot be a while body; with the trip count known it is unrolled instead.
            if (trip <= MaxUnrolledIterations && !n.LowersCleanly(() => l.B.Region([i64, boolT, .. init.Select(v => v.Type)], (inner, args) =>
                {
                    n.LowerGraph(body, l.Nested(inner), [.. args]);
                    return [];
                })))
            {
                UnrolledLoop(n, body, initAny, nScan);
                return;
            }
            // Probe the body once to learn the scan outputs' per-iteration types.
            l.B.Region([i64, boolT, .. init.Select(v => v.Type)], (inner, args) =>
            {
                var outs = n.LowerGraph(body, l.Nested(inner), [.. args]);
                scanTypes.AddRange(outs.Skip(1 + init.Count).Select(o => o.Type));
                return [];
            });
        }
        var accTypes = scanTypes.Select(t => t.WithShape([trip!.Value, .. t.Shape])).ToList();
        List<TensorType> carried = [i64, boolT, .. init.Select(v => v.Type), .. accTypes];

        var cond = l.B.Region(carried, (inner, args) =>
        {
            var li = l.Nested(inner);
            var go = args[1];
            if (m is not null) go = li.Emit("and", li.Compare("lt", args[0], m), go);
            return [go];
        });
        var bodyR = l.B.Region(carried, (inner, args) =>
        {
            var li = l.Nested(inner);
            var outs = n.LowerGraph(body, li, [.. args.Take(2 + init.Count)]);
            var next = new List<Value> { li.Emit("add", args[0], li.Scalar(ElementType.I64, 1)), li.Convert(ScalarOf(li, outs[0], "cond"), ElementType.Bool) };
            for (int k = 0; k < init.Count; k++)
            {
                if (outs[1 + k].Type != init[k].Type)
                    throw n.Unsupported($"loop-carried value #{k} changes type from {init[k].Type} to {outs[1 + k].Type}");
                next.Add(outs[1 + k]);
            }
            for (int s = 0; s < nScan; s++)
            {
                var acc = args[2 + init.Count + s];
                var row = li.Reshape(outs[1 + init.Count + s], [1, .. scanTypes[s].Shape]);
                List<Value> idx = [args[0], .. Enumerable.Range(0, scanTypes[s].Rank).Select(_ => li.Scalar(ElementType.I64, 0))];
                next.Add(li.Emit("dynamic_update_slice", [acc, row, .. idx]));
            }
            return next;
        });
        List<Value> start = [l.Scalar(ElementType.I64, 0), c0, .. init, .. accTypes.Select(t => l.Fill(t, 0))];
        var results = l.EmitMulti("while", start, null, carried, [cond, bodyR]);
        for (int k = 0; k < init.Count + nScan; k++) n.Output(k, results[2 + k]);
    }

    /// <summary>The most iterations <see cref="UnrolledLoop"/> lowers before giving up.</summary>
    public const int MaxUnrolledIterations = 4096;

    /// <summary>
    /// Loop with sequence or optional loop-carried values, unrolled at import time: a sequence may grow each
    /// iteration, which one <c>while</c> (fixed carried types) cannot express. The trip count, the initial
    /// condition and each iteration's condition output must be known at import time; scan outputs are stacked.
    /// </summary>
    private static void UnrolledLoop(OnnxNode n, GraphProto body, List<OnnxValue> state, int nScan)
    {
        var l = n.L;
        long? trip = n.Has(0) ? n.KnownInts(0, "the trip count of a loop over sequences")[0] : null;
        bool go = !n.Has(1) || n.RequireKnown(1, "the initial condition of a loop over sequences").GetBool(0);
        var scans = Enumerable.Range(0, nScan).Select(_ => new List<Value>()).ToList();
        for (long i = 0; go && (trip is null || i < trip); i++)
        {
            if (i >= MaxUnrolledIterations)
                throw n.Unsupported($"a loop over sequences that runs more than {MaxUnrolledIterations} iterations");
            List<OnnxValue> args = [new OnnxValue.OfTensor(l.Constant(Tensor.Scalar(ElementType.I64, i))),
                new OnnxValue.OfTensor(l.Constant(Tensor.Scalar(ElementType.Bool, 1))), .. state];
            var outs = n.LowerGraphAny(body, l, args);
            go = outs[0] is OnnxValue.OfTensor { Value: var c } && l.Known(c) is { } known ? known.GetBool(0)
                : throw n.Unsupported("a loop over sequences whose condition depends on runtime data (the number of iterations, and so the sequences' lengths, must be known at import time)");
            state = [.. outs.Skip(1).Take(state.Count)];
            for (int s = 0; s < nScan; s++)
                scans[s].Add(outs[1 + state.Count + s] is OnnxValue.OfTensor t ? t.Value : throw n.Unsupported($"scan output #{s} is a {outs[1 + state.Count + s].Describe()}"));
        }
        for (int k = 0; k < state.Count; k++) n.OutputAny(k, state[k]);
        for (int s = 0; s < nScan; s++)
        {
            if (scans[s].Count == 0) throw n.Unsupported($"scan output #{s} of a loop over sequences that runs no iterations (its shape is unknown)");
            if (scans[s].Select(v => v.Type).Distinct().Count() > 1) throw n.Error($"scan output #{s} changes type between iterations");
            var rows = scans[s].Select(v => l.Reshape(v, [1, .. v.Type.Shape])).ToList();
            n.Output(state.Count + s, rows.Count == 1 ? rows[0] : OnnxT.Concat(l, rows, 0));
        }
    }

    /// <summary>True when the body's cond output is its cond input passed straight through.</summary>
    private static bool CannotStopEarly(GraphProto body)
    {
        if (body.Input.Count < 2) return false;
        var name = body.Output[0].Name;
        for (int guard = 0; guard < 64; guard++)
        {
            if (name == body.Input[1].Name) return true;
            var producer = body.Node.FirstOrDefault(x => x.Output.Contains(name));
            if (producer is not { OpType: "Identity" }) return false;
            name = producer.Input[0];
        }
        return false;
    }

    /// <summary>Scan (opset 9+), unrolled: each step slices the scan inputs, lowers the body inline and stacks the scan outputs.</summary>
    private static void Scan(OnnxNode n)
    {
        var l = n.L;
        if (n.Opset < 9) throw n.Unsupported("Scan before opset 9 (batched form)");
        var body = n.Graph("body") ?? throw n.Error("attribute 'body' is required");
        int nIn = (int)n.Int("num_scan_inputs");
        var inputs = Enumerable.Range(0, n.InputCount).Select(n.Input).ToList();
        int nState = inputs.Count - nIn;
        int nOut = body.Output.Count - nState;
        var inDirs = n.Ints("scan_input_directions") ?? new long[nIn];
        var outDirs = n.Ints("scan_output_directions") ?? new long[nOut];
        var inAxes = n.Ints("scan_input_axes") ?? new long[nIn];
        var outAxes = n.Ints("scan_output_axes") ?? new long[nOut];
        var scans = inputs.Skip(nState).ToList();
        var axes = scans.Select((s, k) => Lowerer.Axis(inAxes[k], s.Type.Rank, "scan_input_axes")).ToArray();
        if (nIn == 0) throw n.Unsupported("Scan without scan inputs");
        long len = scans[0].Type.Shape[axes[0]];
        if (scans.Select((s, k) => s.Type.Shape[axes[k]]).Any(x => x != len)) throw n.Error("scan inputs have different lengths");
        var state = inputs.Take(nState).ToList();
        var steps = Enumerable.Range(0, nOut).Select(_ => new Value[len]).ToList();
        for (long t = 0; t < len; t++)
        {
            var slices = scans.Select((s, k) =>
            {
                long at = inDirs[k] == 1 ? len - 1 - t : t;
                var st = new long[s.Type.Rank];
                var lim = s.Type.Shape.ToArray();
                st[axes[k]] = at;
                lim[axes[k]] = at + 1;
                var sh = s.Type.Shape.ToArray();
                sh[axes[k]] = 1;
                var sl = l.Emit("slice", [s], AttrMap.Of(("start", OnnxMatMulOps.Ints(st)), ("limit", OnnxMatMulOps.Ints(lim)),
                    ("stride", OnnxMatMulOps.Ints(Enumerable.Repeat(1L, s.Type.Rank)))), s.Type.WithShape([.. sh]));
                return l.Reshape(sl, [.. s.Type.Shape.Where((_, d) => d != axes[k])]);
            }).ToList();
            var outs = n.LowerGraph(body, l, [.. state, .. slices]);
            state = [.. outs.Take(nState)];
            for (int k = 0; k < nOut; k++) steps[k][outDirs[k] == 1 ? len - 1 - t : t] = outs[nState + k];
        }
        for (int k = 0; k < nState; k++) n.Output(k, state[k]);
        for (int k = 0; k < nOut; k++)
        {
            var elemType = steps[k][0].Type;
            int axis = Lowerer.Axis(outAxes[k], elemType.Rank + 1, "scan_output_axes");
            var shape1 = elemType.Shape.ToList();
            shape1.Insert(axis, 1);
            var parts = steps[k].Select(v => l.Reshape(v, [.. shape1])).ToList();
            n.Output(nState + k, parts.Count == 1 ? parts[0] : l.Emit("concatenate", [.. parts], ("dimension", new IntAttr(axis))));
        }
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("If", If), ("Loop", Loop), ("Scan", Scan),
    ];
}
