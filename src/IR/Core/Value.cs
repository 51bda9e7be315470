namespace GraphCompiler.IR;

/// <summary>
/// An SSA value: a function or region argument, or an operation result. Identity is by reference;
/// the printer numbers values, so nothing in the IR depends on names.
/// </summary>
public sealed class Value(TensorType type)
{
    public TensorType Type { get; } = type;
    public override string ToString() => $"value: {Type}";
}
