using Google.Protobuf;
using GraphCompiler.Frontend.Tensors;
using OnnxTensor = GraphCompiler.Frontend.Proto.Onnx.TensorProto;
using Tf = GraphCompiler.Frontend.Proto.TensorFlow;

namespace GraphCompiler.Tests.Frontend;

public sealed class TensorProtoConverterTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static Tf.TensorProto TfTensor(Tf.DataType dtype, params long[] dims)
    {
        var t = new Tf.TensorProto { Dtype = dtype, TensorShape = new Tf.TensorShapeProto() };
        foreach (var d in dims) t.TensorShape.Dim.Add(new Tf.TensorShapeProto.Types.Dim { Size = d });
        return t;
    }

    private static Tensor Ok(Result<Tensor> r) => r.Value ?? throw new Xunit.Sdk.XunitException(string.Join("\n", r.Diagnostics));
    private static string Err(Result<Tensor> r) => Assert.Single(r.Diagnostics).Message;

    [Fact]
    public void TfTensorContent()
    {
        var p = TfTensor(Tf.DataType.DtInt32, 2);
        p.TensorContent = ByteString.CopyFrom(1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff);
        var t = Ok(TensorProtoConverter.FromTensorFlow(p, "c"));
        Assert.Equal(new TensorType(ElementType.I32, 2), t.Type);
        Assert.Equal([1L, -2], [t.GetInt64(0), t.GetInt64(1)]);
        p.TensorContent = ByteString.CopyFrom(1, 2, 3);
        Assert.Equal("tensor 'c': tensor_content has 3 bytes, but tensor<2xi32> needs 8", Err(TensorProtoConverter.FromTensorFlow(p, "c")));
    }

    [Fact]
    public void TfTypedFieldsSplatAndRepeatLast()
    {
        var p = TfTensor(Tf.DataType.DtFloat, 2, 2);
        p.FloatVal.Add(1.5f);
        var t = Ok(TensorProtoConverter.FromTensorFlow(p, "splat"));
        Assert.All(Enumerable.Range(0, 4), i => Assert.Equal(1.5, t.GetDouble(i)));
        p.FloatVal.Add(2.5f); // fewer values than elements: the last one repeats
        t = Ok(TensorProtoConverter.FromTensorFlow(p, "r"));
        Assert.Equal([1.5, 2.5, 2.5, 2.5], Enumerable.Range(0, 4).Select(i => t.GetDouble(i)));
        p.FloatVal.Add([3, 4, 5]);
        Assert.Equal("tensor 'r': 5 values given for tensor<2x2xf32>, which holds 4", Err(TensorProtoConverter.FromTensorFlow(p, "r")));
    }

    [Fact]
    public void TfEachTypedField()
    {
        var d = TfTensor(Tf.DataType.DtDouble, 2); d.DoubleVal.Add([0.1, -3]);
        Assert.Equal(0.1, Ok(TensorProtoConverter.FromTensorFlow(d, "d")).GetDouble(0));
        var i8 = TfTensor(Tf.DataType.DtInt8, 2); i8.IntVal.Add([-128, 127]);
        Assert.Equal(-128, Ok(TensorProtoConverter.FromTensorFlow(i8, "i8")).GetInt64(0));
        var u16 = TfTensor(Tf.DataType.DtUint16, 1); u16.IntVal.Add(65535);
        Assert.Equal(65535, Ok(TensorProtoConverter.FromTensorFlow(u16, "u16")).GetInt64(0));
        var i64 = TfTensor(Tf.DataType.DtInt64); i64.Int64Val.Add(long.MinValue);
        Assert.Equal(long.MinValue, Ok(TensorProtoConverter.FromTensorFlow(i64, "i64")).GetInt64(0));
        var u32 = TfTensor(Tf.DataType.DtUint32); u32.Uint32Val.Add(uint.MaxValue);
        Assert.Equal(uint.MaxValue, Ok(TensorProtoConverter.FromTensorFlow(u32, "u32")).GetUInt64(0));
        var u64 = TfTensor(Tf.DataType.DtUint64); u64.Uint64Val.Add(ulong.MaxValue);
        Assert.Equal(ulong.MaxValue, Ok(TensorProtoConverter.FromTensorFlow(u64, "u64")).GetUInt64(0));
        var b = TfTensor(Tf.DataType.DtBool, 3); b.BoolVal.Add([true, false]);
        var bt = Ok(TensorProtoConverter.FromTensorFlow(b, "b"));
        Assert.Equal([true, false, false], Enumerable.Range(0, 3).Select(i => bt.GetBool(i)));
    }

    [Fact]
    public void TfHalfValHoldsBitPatterns()
    {
        var h = TfTensor(Tf.DataType.DtHalf, 2); h.HalfVal.Add([0x3C00, 0xC000]); // 1.0, -2.0
        var t = Ok(TensorProtoConverter.FromTensorFlow(h, "h"));
        Assert.Equal([1.0, -2.0], [t.GetDouble(0), t.GetDouble(1)]);
        var bf = TfTensor(Tf.DataType.DtBfloat16); bf.HalfVal.Add(0x3FC0); // 1.5
        Assert.Equal(1.5, Ok(TensorProtoConverter.FromTensorFlow(bf, "bf")).GetDouble(0));
    }

    [Fact]
    public void TfEmptyAndValuelessTensors()
    {
        var e = TfTensor(Tf.DataType.DtFloat, 0, 3);
        Assert.Equal(0, Ok(TensorProtoConverter.FromTensorFlow(e, "e")).ElementCount);
        var z = TfTensor(Tf.DataType.DtInt32, 3); // no values at all: zeros
        Assert.All(Enumerable.Range(0, 3), i => Assert.Equal(0, Ok(TensorProtoConverter.FromTensorFlow(z, "z")).GetInt64(i)));
    }

    [Fact]
    public void TfRejectionsNameTheTensor()
    {
        Assert.Equal("tensor 's': TensorFlow type DT_STRING (strings are not supported) has no IR element type",
            Err(TensorProtoConverter.FromTensorFlow(TfTensor(Tf.DataType.DtString), "s")));
        Assert.Contains("DT_COMPLEX64 (complex numbers are not supported)", Err(TensorProtoConverter.FromTensorFlow(TfTensor(Tf.DataType.DtComplex64), "c")));
        Assert.Contains("DT_QUINT8 (quantized types are not supported)", Err(TensorProtoConverter.FromTensorFlow(TfTensor(Tf.DataType.DtQuint8), "q")));
        Assert.Contains("DT_RESOURCE", Err(TensorProtoConverter.FromTensorFlow(TfTensor(Tf.DataType.DtResource), "r")));
        Assert.Contains("DT_VARIANT", Err(TensorProtoConverter.FromTensorFlow(TfTensor(Tf.DataType.DtVariant), "v")));
        Assert.Equal("tensor 'u': dimension 1 is unknown (-1)", Err(TensorProtoConverter.FromTensorFlow(TfTensor(Tf.DataType.DtFloat, 2, -1), "u")));
        // A huge declared shape is refused before anything is allocated, splat or not.
        var huge = TfTensor(Tf.DataType.DtFloat, 1L << 20, 1L << 20); huge.FloatVal.Add(1);
        Assert.Contains("larger than 1 TiB", Err(TensorProtoConverter.FromTensorFlow(huge, "huge")));
        var big = TfTensor(Tf.DataType.DtFloat, 1L << 30); big.FloatVal.Add(1);
        Assert.Contains("more than the", Err(TensorProtoConverter.FromTensorFlow(big, "big")));
    }

    [Fact]
    public void TfRefTypesMapAsTheirBase()
    {
        Assert.True(FrameworkElementTypes.TryFromTensorFlow(Tf.DataType.DtFloatRef, out var t, out _));
        Assert.Equal(ElementType.F32, t);
    }

    private static OnnxTensor Onnx(OnnxTensor.Types.DataType type, string name, params long[] dims)
    {
        var t = new OnnxTensor { DataType = (int)type, Name = name };
        t.Dims.Add(dims);
        return t;
    }

    [Fact]
    public void OnnxRawData()
    {
        var p = Onnx(OnnxTensor.Types.DataType.Float, "w", 2);
        p.RawData = ByteString.CopyFrom(BitConverter.GetBytes(1.5f).Concat(BitConverter.GetBytes(-2f)).ToArray());
        var t = Ok(TensorProtoConverter.FromOnnx(p));
        Assert.Equal([1.5, -2.0], [t.GetDouble(0), t.GetDouble(1)]);
        var b = Onnx(OnnxTensor.Types.DataType.Bool, "b", 2);
        b.RawData = ByteString.CopyFrom(0, 7);
        Assert.True(Ok(TensorProtoConverter.FromOnnx(b)).GetBool(1));
    }

    [Fact]
    public void OnnxTypedFields()
    {
        var f = Onnx(OnnxTensor.Types.DataType.Float, "f", 2); f.FloatData.Add([1, 2]);
        Assert.Equal(2.0, Ok(TensorProtoConverter.FromOnnx(f)).GetDouble(1));
        var d = Onnx(OnnxTensor.Types.DataType.Double, "d"); d.DoubleData.Add(0.1);
        Assert.Equal(0.1, Ok(TensorProtoConverter.FromOnnx(d)).GetDouble(0));
        var i8 = Onnx(OnnxTensor.Types.DataType.Int8, "i8", 2); i8.Int32Data.Add([-5, 100]);
        Assert.Equal(-5, Ok(TensorProtoConverter.FromOnnx(i8)).GetInt64(0));
        var u8 = Onnx(OnnxTensor.Types.DataType.Uint8, "u8"); u8.Int32Data.Add(255);
        Assert.Equal(255, Ok(TensorProtoConverter.FromOnnx(u8)).GetInt64(0));
        var bo = Onnx(OnnxTensor.Types.DataType.Bool, "bo"); bo.Int32Data.Add(1);
        Assert.True(Ok(TensorProtoConverter.FromOnnx(bo)).GetBool(0));
        var h = Onnx(OnnxTensor.Types.DataType.Float16, "h"); h.Int32Data.Add(0x3C00);
        Assert.Equal(1.0, Ok(TensorProtoConverter.FromOnnx(h)).GetDouble(0));
        var bf = Onnx(OnnxTensor.Types.DataType.Bfloat16, "bf"); bf.Int32Data.Add(0xC000); // -2.0
        Assert.Equal(-2.0, Ok(TensorProtoConverter.FromOnnx(bf)).GetDouble(0));
        var i64 = Onnx(OnnxTensor.Types.DataType.Int64, "i64"); i64.Int64Data.Add(-1);
        Assert.Equal(-1, Ok(TensorProtoConverter.FromOnnx(i64)).GetInt64(0));
        var u32 = Onnx(OnnxTensor.Types.DataType.Uint32, "u32"); u32.Uint64Data.Add(uint.MaxValue);
        Assert.Equal(uint.MaxValue, Ok(TensorProtoConverter.FromOnnx(u32)).GetUInt64(0));
        var u64 = Onnx(OnnxTensor.Types.DataType.Uint64, "u64"); u64.Uint64Data.Add(ulong.MaxValue);
        Assert.Equal(ulong.MaxValue, Ok(TensorProtoConverter.FromOnnx(u64)).GetUInt64(0));
        Assert.Equal(0, Ok(TensorProtoConverter.FromOnnx(Onnx(OnnxTensor.Types.DataType.Float, "e", 0, 4))).ElementCount);
    }

    [Fact]
    public void OnnxRejections()
    {
        var f = Onnx(OnnxTensor.Types.DataType.Float, "f", 3); f.FloatData.Add([1, 2]);
        Assert.Equal("tensor 'f': float_data has 2 values, but tensor<3xf32> holds 3", Err(TensorProtoConverter.FromOnnx(f)));
        Assert.Equal("tensor 'n': no data for tensor<2xi64> (expected raw_data or int64_data)", Err(TensorProtoConverter.FromOnnx(Onnx(OnnxTensor.Types.DataType.Int64, "n", 2))));
        Assert.Contains("ONNX type STRING has no IR element type (strings are not supported)", Err(TensorProtoConverter.FromOnnx(Onnx(OnnxTensor.Types.DataType.String, "s"))));
        Assert.Contains("COMPLEX64", Err(TensorProtoConverter.FromOnnx(Onnx(OnnxTensor.Types.DataType.Complex64, "c"))));
        Assert.Contains("dimension 0 is negative", Err(TensorProtoConverter.FromOnnx(Onnx(OnnxTensor.Types.DataType.Float, "neg", -1))));
    }

    [Fact]
    public void OnnxExternalData()
    {
        var dir = _temp.Directory("gc-onnx-ext");
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "w.bin"), [9, 9, 9, 9, 1, 0, 0, 0, 2, 0, 0, 0]);
            var p = Onnx(OnnxTensor.Types.DataType.Int32, "w", 2);
            p.DataLocation = OnnxTensor.Types.DataLocation.External;
            p.ExternalData.Add(new GraphCompiler.Frontend.Proto.Onnx.StringStringEntryProto { Key = "location", Value = "w.bin" });
            p.ExternalData.Add(new GraphCompiler.Frontend.Proto.Onnx.StringStringEntryProto { Key = "offset", Value = "4" });
            p.ExternalData.Add(new GraphCompiler.Frontend.Proto.Onnx.StringStringEntryProto { Key = "length", Value = "8" });
            var t = Ok(TensorProtoConverter.FromOnnx(p, dir));
            Assert.Equal([1L, 2], [t.GetInt64(0), t.GetInt64(1)]);
            Assert.Contains("external file 'w.bin'", Err(TensorProtoConverter.FromOnnx(p)));
            p.ExternalData[0].Value = "missing.bin";
            Assert.Contains("does not exist beside the model", Err(TensorProtoConverter.FromOnnx(p, dir)));
            p.ExternalData[0].Value = "../escape.bin";
            Assert.Contains("leaves the model's folder", Err(TensorProtoConverter.FromOnnx(p, dir)));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
