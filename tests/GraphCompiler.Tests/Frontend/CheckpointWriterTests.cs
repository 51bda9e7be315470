using GraphCompiler.Frontend.TensorFlow.Checkpoints;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// The TensorFlow checkpoint writer, read back by the reader that reads TensorFlow's own checkpoints, and a
/// real checkpoint (a SavedModel's variables, written by TensorFlow) rewritten by us and read again.
/// </summary>
public sealed class CheckpointWriterTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void WrittenTensorsReadBackBitForBit()
    {
        var prefix = Path.Combine(_temp.Directory("gc-ckpt"), "model.ckpt");
        var tensors = new Dictionary<string, Tensor>
        {
            ["dense/kernel"] = Tensor.FromDoubles(new TensorType(ElementType.F32, 2, 3), [1, -2, 3.5, 0, 1e-7, -0.25]),
            ["dense/bias"] = Tensor.FromDoubles(new TensorType(ElementType.F64, 3), [0.1, 0.2, 0.3]),
            ["global_step"] = Tensor.FromInt64s(TensorType.Scalar(ElementType.I64), [42]),
            ["mask"] = Tensor.FromInt64s(new TensorType(ElementType.Bool, 2), [1, 0]),
            ["half"] = Tensor.FromDoubles(new TensorType(ElementType.F16, 2), [0.5, -3]),
        };
        TensorBundleWriter.Write(prefix, tensors);
        Assert.True(File.Exists(prefix + ".data-00000-of-00001"));
        var bundle = TensorBundle.Open(prefix + ".index").Unwrap();
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), bundle.Names);
        var read = bundle.ReadAll().Unwrap();
        Assert.Empty(read.Skipped);
        foreach (var (name, t) in tensors)
        {
            Assert.Equal(t.Type, read.Tensors[name].Type);
            Assert.Equal(t.Bytes.ToArray(), read.Tensors[name].Bytes.ToArray());
        }
    }

    [SharedDataFact]
    public void ARealCheckpointSurvivesARewrite()
    {
        var original = Path.Combine(SharedData.Tf("realistic"), "tf_saved_models", "SimpleV1Model", "variables", "variables");
        var read = TensorBundle.Open(original).Unwrap().ReadAll().Unwrap();
        Assert.NotEmpty(read.Tensors);
        var prefix = Path.Combine(_temp.Directory("gc-ckpt"), "variables");
        TensorBundleWriter.Write(prefix, read.Tensors);
        var again = TensorBundle.Open(prefix).Unwrap().ReadAll().Unwrap();
        Assert.Equal(read.Tensors.Keys.Order(StringComparer.Ordinal), again.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, t) in read.Tensors) Assert.Equal(t.Bytes.ToArray(), again.Tensors[name].Bytes.ToArray());
    }

    [Fact]
    public void ACorruptedWrittenCheckpointIsReportedNotRead()
    {
        var prefix = Path.Combine(_temp.Directory("gc-ckpt"), "c");
        TensorBundleWriter.Write(prefix, [KeyValuePair.Create("w", Tensor.FromDoubles(new TensorType(ElementType.F32, 4), [1, 2, 3, 4]))]);
        var data = prefix + ".data-00000-of-00001";
        var bytes = File.ReadAllBytes(data);
        bytes[3] ^= 0x40;
        File.WriteAllBytes(data, bytes);
        var r = TensorBundle.Open(prefix).Unwrap().ReadTensor("w");
        Assert.False(r.Ok);
        Assert.Contains("checksum mismatch", r.Diagnostics[0].Message);
    }
}
