using System.Collections.Immutable;

namespace GraphCompiler.Runtime;

/// <summary>
/// One argument or result of a compiled function: its name, element type, static shape and the size
/// of its dense row-major buffer. <see cref="UpdatedInPlace"/> marks a variable argument that the
/// function writes back into the caller's buffer (see docs/cpu-backend.md, the C ABI).
/// </summary>
public readonly record struct TensorDescriptor(string Name, DType DType, ImmutableArray<long> Shape, bool UpdatedInPlace = false)
{
    public int Rank => Shape.Length;

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    public long ByteSize => ElementCount * DType.Size();

    /// <summary>Shapes compare by value (ImmutableArray alone would compare by reference).</summary>
    public bool Equals(TensorDescriptor other) =>
        Name == other.Name && DType == other.DType && UpdatedInPlace == other.UpdatedInPlace && Shape.AsSpan().SequenceEqual(other.Shape.AsSpan());

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Name);
        h.Add(DType);
        h.Add(UpdatedInPlace);
        foreach (var d in Shape) h.Add(d);
        return h.ToHashCode();
    }

    /// <summary><c>x: f32[2,4]</c>.</summary>
    public override string ToString() => $"{Name}: {DType.Name()}[{string.Join(",", Shape)}]";
}
