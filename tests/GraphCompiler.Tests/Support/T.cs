using System.Collections.Immutable;

namespace GraphCompiler.Tests;

/// <summary>Tensor literals for tests: <c>T.F32([2, 2], 1, 2, 3, 4)</c>, <c>T.I32([3], 1, 2, 3)</c>, <c>T.Bool([2], true, false)</c>.</summary>
public static class T
{
    public static Tensor Of(ElementType e, long[] shape, params double[] values)
    {
        var type = new TensorType(e, shape);
        Assert.True(values.Length == type.ElementCount, $"test literal has {values.Length} values for {type}");
        return Tensor.FromDoubles(type, values);
    }

    public static Tensor F16(long[] shape, params double[] v) => Of(ElementType.F16, shape, v);
    public static Tensor BF16(long[] shape, params double[] v) => Of(ElementType.BF16, shape, v);
    public static Tensor F32(long[] shape, params double[] v) => Of(ElementType.F32, shape, v);
    public static Tensor F64(long[] shape, params double[] v) => Of(ElementType.F64, shape, v);
    public static Tensor I8(long[] shape, params long[] v) => Ints(ElementType.I8, shape, v);
    public static Tensor I16(long[] shape, params long[] v) => Ints(ElementType.I16, shape, v);
    public static Tensor I32(long[] shape, params long[] v) => Ints(ElementType.I32, shape, v);
    public static Tensor I64(long[] shape, params long[] v) => Ints(ElementType.I64, shape, v);
    public static Tensor U8(long[] shape, params long[] v) => Ints(ElementType.U8, shape, v);
    public static Tensor U16(long[] shape, params long[] v) => Ints(ElementType.U16, shape, v);
    public static Tensor U32(long[] shape, params long[] v) => Ints(ElementType.U32, shape, v);
    public static Tensor U64(long[] shape, params long[] v) => Ints(ElementType.U64, shape, v);

    public static Tensor Bool(long[] shape, params bool[] v) =>
        Ints(ElementType.Bool, shape, [.. v.Select(b => b ? 1L : 0L)]);

    public static Tensor Ints(ElementType e, long[] shape, params long[] values)
    {
        var type = new TensorType(e, shape);
        Assert.True(values.Length == type.ElementCount, $"test literal has {values.Length} values for {type}");
        return Tensor.FromInt64s(type, values);
    }

    /// <summary>Scalar helpers.</summary>
    public static Tensor F32(double v) => F32([], v);
    public static Tensor I32(long v) => I32([], v);
    public static Tensor I64(long v) => I64([], v);

    public static double[] Doubles(Tensor t) => [.. Enumerable.Range(0, (int)t.ElementCount).Select(i => t.GetDouble(i))];
    public static long[] Longs(Tensor t) => [.. Enumerable.Range(0, (int)t.ElementCount).Select(i => t.GetInt64(i))];
    public static ImmutableArray<long> Shape(params long[] dims) => [.. dims];
}
