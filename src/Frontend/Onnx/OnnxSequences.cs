using System.Collections.Immutable;
using GraphCompiler.Frontend.Proto.Onnx;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx;

/// <summary>
/// A value of an ONNX graph at import time. Compiled code has static shapes, so ONNX's sequence and optional
/// types are decided while importing: a sequence is an ordered list of IR tensors (its length known), an
/// optional is absent or holds one value (a tensor or a sequence). Only tensors reach the IR.
/// </summary>
public abstract record OnnxValue
{
    /// <summary>A tensor: one IR value.</summary>
    public sealed record OfTensor(Value Value) : OnnxValue;

    /// <summary>A sequence of tensors, length known at import time (empty allowed).</summary>
    public sealed record OfSequence(ImmutableArray<Value> Elements) : OnnxValue;

    /// <summary>An optional: <see cref="Element"/> is null when absent.</summary>
    public sealed record OfOptional(OnnxValue? Element) : OnnxValue;

    /// <summary>"tensor", "sequence of 3", "optional (absent)": for error messages.</summary>
    public string Describe() => this switch
    {
        OfTensor t => $"tensor {t.Value.Type}",
        OfSequence s => $"sequence of {s.Elements.Length}",
        OfOptional { Element: null } => "optional (absent)",
        OfOptional o => $"optional ({o.Element.Describe()})",
        _ => "?",
    };

    /// <summary>The IR tensors this value is made of, in order (what a function argument list or region yield carries).</summary>
    public IEnumerable<Value> Flatten() => this switch
    {
        OfTensor t => [t.Value],
        OfSequence s => s.Elements,
        OfOptional { Element: { } e } => e.Flatten(),
        _ => [],
    };

    /// <summary>
    /// The names of <see cref="Flatten"/>'s tensors for a graph input or output called <paramref name="name"/>:
    /// a tensor is <c>name</c>, sequence element k is <c>name[k]</c>, an optional is named as what it holds.
    /// </summary>
    public IEnumerable<string> FlatNames(string name) => this switch
    {
        OfTensor => [name],
        OfSequence s => Enumerable.Range(0, s.Elements.Length).Select(k => ElementName(name, k)),
        OfOptional { Element: { } e } => e.FlatNames(name),
        _ => [],
    };

    public static string ElementName(string name, int k) => $"{name}[{k}]";

    /// <summary>True when <paramref name="other"/> has the same structure and tensor types (so one IR op can yield either).</summary>
    public bool SameLayout(OnnxValue other) => (this, other) switch
    {
        (OfTensor a, OfTensor b) => a.Value.Type == b.Value.Type,
        (OfSequence a, OfSequence b) => a.Elements.Select(v => v.Type).SequenceEqual(b.Elements.Select(v => v.Type)),
        (OfOptional { Element: null }, OfOptional { Element: null }) => true,
        (OfOptional { Element: { } a }, OfOptional { Element: { } b }) => a.SameLayout(b),
        _ => false,
    };

    /// <summary>This value's structure filled with the next tensors of <paramref name="values"/> (the inverse of <see cref="Flatten"/>).</summary>
    public OnnxValue Rebuild(IEnumerator<Value> values)
    {
        Value Next() => values.MoveNext() ? values.Current : throw new InvalidOperationException("too few values to rebuild a sequence or optional");
        return this switch
        {
            OfTensor => new OfTensor(Next()),
            OfSequence s => new OfSequence([.. s.Elements.Select(_ => Next())]),
            OfOptional { Element: { } e } => new OfOptional(e.Rebuild(values)),
            _ => this,
        };
    }
}

/// <summary>The kinds of ONNX types the importer takes for graph inputs and outputs, and how their tensors are named.</summary>
public static class OnnxTypes
{
    /// <summary>The tensor type inside <paramref name="t"/> (a tensor, a sequence of tensors, an optional of either), or null.</summary>
    public static TypeProto.Types.Tensor? InnerTensor(TypeProto? t) => t?.ValueCase switch
    {
        TypeProto.ValueOneofCase.TensorType => t.TensorType,
        TypeProto.ValueOneofCase.SequenceType => InnerTensor(t.SequenceType.ElemType),
        TypeProto.ValueOneofCase.OptionalType => InnerTensor(t.OptionalType.ElemType),
        _ => null,
    };

    public static bool IsSequence(TypeProto? t) =>
        t?.ValueCase == TypeProto.ValueOneofCase.SequenceType ||
        (t?.ValueCase == TypeProto.ValueOneofCase.OptionalType && IsSequence(t.OptionalType.ElemType));

    public static bool IsOptional(TypeProto? t) => t?.ValueCase == TypeProto.ValueOneofCase.OptionalType;

    /// <summary>True for a tensor, a sequence of tensors, or an optional of those: what the importer can represent.</summary>
    public static bool IsTaken(TypeProto? t) => t?.ValueCase switch
    {
        TypeProto.ValueOneofCase.TensorType => true,
        TypeProto.ValueOneofCase.SequenceType => t.SequenceType.ElemType?.ValueCase == TypeProto.ValueOneofCase.TensorType,
        TypeProto.ValueOneofCase.OptionalType => t.OptionalType.ElemType?.ValueCase is TypeProto.ValueOneofCase.TensorType
            || (t.OptionalType.ElemType?.ValueCase == TypeProto.ValueOneofCase.SequenceType && IsTaken(t.OptionalType.ElemType)),
        _ => false,
    };

    /// <summary>The graph input a feed name belongs to: <c>x</c> for <c>x</c> and for a sequence element <c>x[k]</c>.</summary>
    public static string BaseName(string feedName)
    {
        if (feedName.EndsWith(']') && feedName.LastIndexOf('[') is > 0 and var open &&
            int.TryParse(feedName.AsSpan(open + 1, feedName.Length - open - 2), out _))
            return feedName[..open];
        return feedName;
    }
}
