using GraphCompiler.IR;
using GraphCompiler.Runtime;

namespace GraphCompiler.Backends.Llvm;

/// <summary>The runtime's view (<see cref="TensorDescriptor"/>) of an IR function's arguments and results.</summary>
public static class RuntimeDescriptors
{
    /// <summary>The ABI element type of an IR element type (the two enums list the same types in the same order).</summary>
    public static DType ToDType(this ElementType t) => DTypes.Parse(t.Name()) ?? throw new ArgumentOutOfRangeException(nameof(t), t, "no runtime dtype");

    public static TensorDescriptor Describe(string name, TensorType type, bool updatedInPlace = false) =>
        new(name, type.Element.ToDType(), type.Shape, updatedInPlace);

    /// <summary>One descriptor per argument, in order; a variable that a result updates is <see cref="TensorDescriptor.UpdatedInPlace"/>.</summary>
    public static IReadOnlyList<TensorDescriptor> Inputs(Function f)
    {
        var updated = f.ResultInfos.Where(r => r.Updates is not null).Select(r => r.Updates!.Value).ToHashSet();
        return [.. f.Arguments.Select((a, i) => Describe(f.ArgumentName(i), a.Type, updated.Contains(i)))];
    }

    /// <summary>One descriptor per result, in order.</summary>
    public static IReadOnlyList<TensorDescriptor> Outputs(Function f) =>
        [.. f.ResultTypes.Select((t, i) => Describe(f.ResultName(i), t))];
}
