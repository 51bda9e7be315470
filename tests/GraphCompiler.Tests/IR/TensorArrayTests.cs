namespace GraphCompiler.Tests.IR;

/// <summary>The typed helpers for callers outside the compiler: Tensor.FromArray, AsSpan and ToArray.</summary>
public sealed class TensorArrayTests
{
    [Fact]
    public void FromArrayInfersTheElementTypeAndKeepsRowMajorOrder()
    {
        var t = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        Assert.Equal(new TensorType(ElementType.F32, 2, 3), t.Type);
        Assert.Equal(6.0, t.GetDouble(5));
        Assert.Equal(4.0, t.GetDouble(3)); // row 1, column 0

        Assert.Equal(ElementType.I64, Tensor.FromArray(new long[] { -1, 2 }, 2).Element);
        Assert.Equal(ElementType.U8, Tensor.FromArray(new byte[] { 7 }).Element);
        Assert.Equal(ElementType.F16, Tensor.FromArray(new[] { (Half)1.5 }, 1).Element);
        Assert.Equal(-1, Tensor.FromArray(new long[] { -1, 2 }, 2).GetInt64(0));
    }

    [Fact]
    public void FromArrayWithNoShapeIsAScalarAndCopiesItsInput()
    {
        var data = new int[] { 42 };
        var t = Tensor.FromArray(data);
        data[0] = 0;
        Assert.Equal(0, t.Type.Rank);
        Assert.Equal(42, t.GetInt64(0));
    }

    [Fact]
    public void FromArrayRejectsAWrongElementCountOrShape()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.FromArray(new float[5], 2, 3));
        Assert.Contains("needs 6 elements, got 5", e.Message);
        Assert.Throws<ArgumentException>(() => Tensor.FromArray<float>([], 2, -1));
    }

    [Fact]
    public void FromArrayRejectsATypeWithNoElementType()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.FromArray(new decimal[] { 1m }, 1));
        Assert.Contains("Decimal is not a tensor element type", e.Message);
        Assert.Throws<ArgumentException>(() => Tensor.FromArray(new char[] { 'a' }, 1));
    }

    [Fact]
    public void BoolsAreStoredAsZeroOrOne()
    {
        var t = Tensor.FromArray(new[] { true, false, true }, 3);
        Assert.Equal(ElementType.Bool, t.Element);
        Assert.Equal([1, 0, 1], t.Bytes.ToArray());
        Assert.Equal([true, false, true], t.ToArray<bool>());
    }

    [Fact]
    public void AsSpanAndToArrayReadTheElementsBack()
    {
        double[] values = [0.5, -2.25, double.NaN, 1e300];
        var t = Tensor.FromArray(values, 2, 2);
        Assert.Equal(values, t.AsSpan<double>().ToArray());
        Assert.Equal(values, t.ToArray<double>());

        var fromIr = Tensor.FromDoubles(new TensorType(ElementType.U16, 3), [1, 65535, 3]);
        Assert.Equal(new ushort[] { 1, 65535, 3 }, fromIr.ToArray<ushort>());
    }

    [Fact]
    public void AsSpanMaterialisesASplat()
    {
        var t = Tensor.Splat(new TensorType(ElementType.I32, 2, 2), Tensor.FromArray(new[] { 9 }));
        Assert.Equal([9, 9, 9, 9], t.ToArray<int>());
    }

    [Fact]
    public void AWrongTypeOfTheSameSizeIsRejected()
    {
        var f32 = Tensor.FromArray(new float[] { 1, 2 }, 2);
        // int has float's size but not its kind: reading the bits as ints would be silently wrong.
        var e = Assert.Throws<InvalidOperationException>(() => f32.AsSpan<int>().ToArray());
        Assert.Equal("cannot view a tensor<2xf32> as Int32 (4 bytes): its .NET element type is float", e.Message);
        Assert.Throws<InvalidOperationException>(() => f32.ToArray<uint>());
        Assert.Throws<InvalidOperationException>(() => Tensor.FromArray(new long[] { 1 }).ToArray<ulong>());
    }

    [Fact]
    public void AWrongTypeOfAnotherSizeIsRejected()
    {
        var i32 = Tensor.FromArray(new[] { 1, 2 }, 2);
        Assert.Throws<InvalidOperationException>(() => i32.ToArray<long>());
        Assert.Throws<InvalidOperationException>(() => i32.ToArray<short>());
        var bf16 = Tensor.Zeros(new TensorType(ElementType.BF16, 2));
        var e = Assert.Throws<InvalidOperationException>(() => bf16.ToArray<ushort>());
        Assert.Contains("bf16 has no .NET type", e.Message);
    }
}
