using System.Collections.Immutable;

namespace GraphCompiler.IR;

/// <summary>Index arithmetic shared by op definitions: row-major ravel/unravel and axis checks.</summary>
public static class Shapes
{
    /// <summary>Writes the multi-index of row-major position <paramref name="linear"/> into <paramref name="index"/>.</summary>
    public static void Unravel(long linear, ImmutableArray<long> shape, Span<long> index)
    {
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            long n = shape[d];
            if (n == 0)
            {
                index[d] = 0;
                continue;
            }
            index[d] = linear % n;
            linear /= n;
        }
    }

    public static long Ravel(ReadOnlySpan<long> index, ReadOnlySpan<long> strides)
    {
        long p = 0;
        for (int d = 0; d < index.Length; d++) p += index[d] * strides[d];
        return p;
    }

    /// <summary>Checks that every entry of <paramref name="dims"/> is a distinct dimension of a rank-<paramref name="rank"/> tensor.</summary>
    public static void CheckDims(OpSignature sig, string attr, ImmutableArray<long> dims, int rank)
    {
        var seen = new HashSet<long>();
        foreach (var d in dims)
        {
            if (d < 0 || d >= rank) throw sig.Error($"'{attr}' entry {d} is out of range for rank {rank}");
            if (!seen.Add(d)) throw sig.Error($"'{attr}' lists dimension {d} twice");
        }
    }

    /// <summary>Checks that <paramref name="values"/> has <paramref name="length"/> entries.</summary>
    public static void CheckLength(OpSignature sig, string attr, ImmutableArray<long> values, int length)
    {
        if (values.Length != length) throw sig.Error($"'{attr}' has {values.Length} entries, expected {length}");
    }

    public static ImmutableArray<long> Of(params long[] dims) => [.. dims];

    /// <summary>The shape without the listed dimensions (the kept ones stay in order).</summary>
    public static ImmutableArray<long> Without(ImmutableArray<long> shape, IEnumerable<long> dims)
    {
        var drop = new HashSet<long>(dims);
        var b = ImmutableArray.CreateBuilder<long>();
        for (int d = 0; d < shape.Length; d++)
            if (!drop.Contains(d)) b.Add(shape[d]);
        return b.ToImmutable();
    }

    /// <summary>Extent of <paramref name="n"/> elements with <paramref name="dilation"/> - 1 holes between neighbours (XLA DilatedBound).</summary>
    public static long DilatedSize(long n, long dilation) => n == 0 ? 0 : checked((n - 1) * dilation + 1);

    /// <summary>
    /// How many windows of extent <paramref name="window"/> fit, <paramref name="stride"/> apart, in
    /// <paramref name="size"/> (XLA StridedBound): floor((size - window) / stride) + 1, or 0 when none fits.
    /// </summary>
    public static long WindowCount(long size, long window, long stride) =>
        size <= 0 || window > size ? 0 : (size - window) / stride + 1;
}
