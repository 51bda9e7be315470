using System.Collections.Immutable;

namespace GraphCompiler.IR;

/// <summary>A statically shaped tensor type: element type plus dimensions (rank 0 to 8).</summary>
public sealed class TensorType : IEquatable<TensorType>
{
    public const int MaxRank = 8;

    public ElementType Element { get; }
    public ImmutableArray<long> Shape { get; }

    public TensorType(ElementType element, ImmutableArray<long> shape)
    {
        Element = element;
        Shape = shape.IsDefault ? ImmutableArray<long>.Empty : shape;
    }

    public TensorType(ElementType element, params long[] shape) : this(element, ImmutableArray.Create(shape)) { }

    public static TensorType Scalar(ElementType element) => new(element, ImmutableArray<long>.Empty);

    public int Rank => Shape.Length;

    /// <summary>Number of elements; the caller must have checked <see cref="IsValid"/> for huge shapes.</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    public long ByteSize => ElementCount * Element.ByteSize();

    /// <summary>Why this type cannot be materialised, or null: negative dims, rank above 8, or a byte size past 2^40.</summary>
    public string? Problem
    {
        get
        {
            if (Rank > MaxRank) return $"rank {Rank} exceeds the maximum rank {MaxRank}";
            Int128 bytes = Element.ByteSize();
            foreach (var d in Shape)
            {
                if (d < 0) return $"negative dimension {d}";
                bytes *= d;
                if (bytes > (Int128)1 << 40) return $"{this} is larger than 1 TiB";
            }
            return null;
        }
    }

    public TensorType WithElement(ElementType e) => e == Element ? this : new TensorType(e, Shape);
    public TensorType WithShape(ImmutableArray<long> shape) => new(Element, shape);

    /// <summary>Row-major strides in elements.</summary>
    public long[] Strides()
    {
        var strides = new long[Rank];
        long s = 1;
        for (int i = Rank - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Shape[i];
        }
        return strides;
    }

    public bool Equals(TensorType? other) =>
        other is not null && other.Element == Element && other.Shape.AsSpan().SequenceEqual(Shape.AsSpan());

    public override bool Equals(object? obj) => Equals(obj as TensorType);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Element);
        foreach (var d in Shape) h.Add(d);
        return h.ToHashCode();
    }

    public static bool operator ==(TensorType? a, TensorType? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(TensorType? a, TensorType? b) => !(a == b);

    /// <summary>Text form: <c>tensor&lt;2x3xf32&gt;</c>, <c>tensor&lt;f32&gt;</c> for rank 0.</summary>
    public override string ToString() =>
        Rank == 0 ? $"tensor<{Element.Name()}>" : $"tensor<{string.Join("x", Shape)}x{Element.Name()}>";

    public string ShapeString => "[" + string.Join(", ", Shape) + "]";
}
