using GraphCompiler.Frontend.Lowering;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx.Ops;

/// <summary>
/// Sequence and optional ops, resolved at import time (see <see cref="OnnxValue"/>): a sequence is a list of IR
/// tensors whose length is known, so positions must be known too; what reaches the IR are the element tensors
/// and the slices, concatenations and reshapes that split and join them.
/// </summary>
public static class OnnxSequenceOps
{
    private static void SequenceEmpty(OnnxNode n) => n.OutputSequence(0, []);

    private static void SequenceConstruct(OnnxNode n)
    {
        var items = n.Inputs;
        if (items.Select(v => v.Type.Element).Distinct().Count() > 1)
            throw n.Error($"elements have different element types ({string.Join(", ", items.Select(v => v.Type.Element.Name()))})");
        n.OutputSequence(0, items);
    }

    /// <summary>
    /// A position input known at import time, made non-negative: ONNX counts negative positions from the end;
    /// valid positions are [-n, n-1], or [-n, n] where <paramref name="endAllowed"/> (SequenceInsert appends).
    /// </summary>
    private static int Position(OnnxNode n, int input, int length, bool endAllowed, int dflt)
    {
        if (!n.Has(input)) return dflt;
        var p = n.KnownInts(input, "the position");
        if (p.Length != 1) throw n.Error($"position must be a scalar, got {p.Length} values");
        long hi = endAllowed ? length : length - 1;
        if (p[0] < -length || p[0] > hi) throw n.Error($"position {p[0]} is out of range for a sequence of {length} (valid: {-length}..{hi})");
        return (int)(p[0] < 0 ? p[0] + length : p[0]);
    }

    private static void SequenceInsert(OnnxNode n)
    {
        var seq = n.SequenceInput(0);
        var x = n.Input(1);
        if (seq.Length > 0 && seq[0].Type.Element != x.Type.Element)
            throw n.Error($"inserting {x.Type.Element.Name()} into a sequence of {seq[0].Type.Element.Name()}");
        n.OutputSequence(0, seq.Insert(Position(n, 2, seq.Length, endAllowed: true, seq.Length), x));
    }

    private static void SequenceErase(OnnxNode n)
    {
        var seq = n.SequenceInput(0);
        if (seq.Length == 0) throw n.Error("erasing from an empty sequence");
        n.OutputSequence(0, seq.RemoveAt(Position(n, 1, seq.Length, endAllowed: false, seq.Length - 1)));
    }

    private static void SequenceAt(OnnxNode n)
    {
        var seq = n.SequenceInput(0);
        if (!n.Has(1)) throw n.Error("input #1 (position) is required");
        n.Output(0, seq[Position(n, 1, seq.Length, endAllowed: false, 0)]);
    }

    // The length is static by construction, so it is a constant.
    private static void SequenceLength(OnnxNode n) => n.Output(0, n.L.Constant(Tensor.Scalar(ElementType.I64, n.SequenceInput(0).Length)));

    /// <summary>ConcatFromSequence: concatenate along <c>axis</c>, or stack along a new axis when <c>new_axis</c> = 1.</summary>
    private static void ConcatFromSequence(OnnxNode n)
    {
        var seq = n.SequenceInput(0);
        if (seq.Length == 0) throw n.Error("concatenating an empty sequence (its result's shape is unknown)");
        bool newAxis = n.Int("new_axis", 0) == 1;
        int rank = seq[0].Type.Rank;
        int axis = Lowerer.Axis(n.Int("axis"), newAxis ? rank + 1 : rank, "axis");
        var parts = newAxis
            ? [.. seq.Select(v => n.L.Reshape(v, [.. v.Type.Shape.Take(axis), 1, .. v.Type.Shape.Skip(axis)]))]
            : seq.ToList();
        n.Output(0, parts.Count == 1 ? parts[0] : OnnxT.Concat(n.L, parts, axis));
    }

    /// <summary>
    /// SplitToSequence: slices along <c>axis</c>. No <c>split</c> input: pieces of 1, squeezed unless keepdims;
    /// a scalar: pieces of that size (the last may be smaller); a 1-D tensor: the pieces' sizes.
    /// </summary>
    private static void SplitToSequence(OnnxNode n)
    {
        var x = n.Input(0);
        int axis = Lowerer.Axis(n.Int("axis", 0), x.Type.Rank, "axis");
        long dim = x.Type.Shape[axis];
        long[] sizes;
        bool squeeze = false;
        if (!n.Has(1))
        {
            sizes = [.. Enumerable.Repeat(1L, (int)dim)];
            squeeze = n.Int("keepdims", 1) == 0;
        }
        else
        {
            var split = n.RequireKnown(1, "split");
            var values = n.KnownInts(1, "split");
            if (split.Type.Rank == 0)
            {
                if (values[0] <= 0) throw n.Error($"split size {values[0]} must be positive");
                sizes = [.. Enumerable.Range(0, (int)((dim + values[0] - 1) / values[0])).Select(k => Math.Min(values[0], dim - k * values[0]))];
            }
            else sizes = values;
        }
        if (sizes.Any(s => s < 0) || sizes.Sum() != dim)
            throw n.Error($"split sizes [{string.Join(", ", sizes)}] do not add up to dimension {dim}");
        var parts = new List<Value>();
        long start = 0;
        foreach (var size in sizes)
        {
            var part = OnnxT.SliceAxis(n.L, x, axis, start, start + size);
            parts.Add(squeeze ? n.L.Reshape(part, [.. x.Type.Shape.Where((_, d) => d != axis)]) : part);
            start += size;
        }
        n.OutputSequence(0, parts);
    }

    /// <summary>
    /// SequenceMap, unrolled: the body is lowered once per element, with element k of every sequence input and
    /// the tensor inputs as they are; body output j's values form output sequence j.
    /// </summary>
    private static void SequenceMap(OnnxNode n)
    {
        var body = n.Graph("body") ?? throw n.Error("attribute 'body' is required");
        var inputs = Enumerable.Range(0, n.InputCount).Select(n.AnyInput).ToList();
        int length = n.SequenceInput(0).Length;
        foreach (var (v, k) in inputs.Select((v, k) => (v, k)))
            if (v is OnnxValue.OfSequence s && s.Elements.Length != length)
                throw n.Error($"input #{k} has {s.Elements.Length} elements, input #0 has {length}");
            else if (v is not (OnnxValue.OfSequence or OnnxValue.OfTensor))
                throw n.Error($"input #{k} is a {v.Describe()}; SequenceMap takes sequences and tensors");
        var outputs = Enumerable.Range(0, body.Output.Count).Select(_ => new List<Value>()).ToList();
        for (int i = 0; i < length; i++)
        {
            var args = inputs.Select(v => v is OnnxValue.OfSequence s ? new OnnxValue.OfTensor(s.Elements[i]) : v).ToList();
            var outs = n.LowerGraphAny(body, n.L, args);
            for (int j = 0; j < outs.Count; j++)
                outputs[j].Add(outs[j] is OnnxValue.OfTensor t ? t.Value : throw n.Unsupported($"body output #{j} is a {outs[j].Describe()} (sequences of sequences)"));
        }
        for (int j = 0; j < outputs.Count; j++) n.OutputSequence(j, outputs[j]);
    }

    /// <summary>Optional: wraps its input, or, without one, is absent (the <c>type</c> attribute only types the empty value).</summary>
    private static void Optional(OnnxNode n) =>
        n.OutputAny(0, new OnnxValue.OfOptional(n.Has(0) ? n.AnyInput(0) : null));

    /// <summary>OptionalHasElement: presence is decided at import time, so a constant. A tensor or sequence (opset 18) is present; no input is not.</summary>
    private static void OptionalHasElement(OnnxNode n)
    {
        bool has = n.Has(0) && n.AnyInput(0) is not OnnxValue.OfOptional { Element: null };
        n.Output(0, n.L.Constant(Tensor.Scalar(ElementType.Bool, has ? 1 : 0)));
    }

    private static void OptionalGetElement(OnnxNode n)
    {
        switch (n.AnyInput(0))
        {
            case OnnxValue.OfOptional { Element: null }:
                throw n.Error($"input '{n.Proto.Input[0]}' is an absent optional (decided at import time)");
            case OnnxValue.OfOptional { Element: { } e }:
                n.OutputAny(0, e);
                break;
            case var v: // opset 18: a tensor or sequence passes through
                n.OutputAny(0, v);
                break;
        }
    }

    public static readonly IReadOnlyList<(string, OnnxLowering)> All =
    [
        ("SequenceEmpty", SequenceEmpty), ("SequenceConstruct", SequenceConstruct), ("SequenceInsert", SequenceInsert),
        ("SequenceErase", SequenceErase), ("SequenceAt", SequenceAt), ("SequenceLength", SequenceLength),
        ("ConcatFromSequence", ConcatFromSequence), ("SplitToSequence", SplitToSequence), ("SequenceMap", SequenceMap),
        ("Optional", Optional), ("OptionalHasElement", OptionalHasElement), ("OptionalGetElement", OptionalGetElement),
    ];
}
