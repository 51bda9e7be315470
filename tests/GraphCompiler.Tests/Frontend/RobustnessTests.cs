using System.Diagnostics;
using GraphCompiler.Frontend.Onnx;
using GraphCompiler.Frontend.Protobuf;
using GraphCompiler.Frontend.TensorFlow;
using GraphCompiler.Frontend.TensorFlow.Checkpoints;
using GraphCompiler.Frontend.Tensors;
using Xunit.Abstractions;
using GraphDef = GraphCompiler.Frontend.Proto.TensorFlow.GraphDef;
using ModelProto = GraphCompiler.Frontend.Proto.Onnx.ModelProto;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// Mutated real files (truncations, byte flips with a fixed seed): every read must succeed or give
/// a diagnostic, with no exception escaping, quickly.
/// </summary>
public sealed class RobustnessTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private const int MutantsPerFile = 300;

    /// <summary>Truncations at evenly spread offsets, then random byte flips.</summary>
    private static IEnumerable<byte[]> Mutants(byte[] original, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < MutantsPerFile / 3; i++)
            yield return original[..(int)((long)original.Length * i / (MutantsPerFile / 3))];
        for (int i = 0; i < MutantsPerFile - MutantsPerFile / 3; i++)
        {
            var m = (byte[])original.Clone();
            int flips = 1 + rng.Next(4);
            for (int k = 0; k < flips; k++) m[rng.Next(m.Length)] ^= (byte)(1 + rng.Next(255));
            yield return m;
        }
    }

    private void Check(string label, byte[] original, Func<byte[], bool> read)
    {
        int ok = 0, rejected = 0;
        var watch = Stopwatch.StartNew();
        foreach (var m in Mutants(original, 1234))
        {
            var one = Stopwatch.StartNew();
            if (read(m)) ok++;
            else rejected++;
            Assert.True(one.Elapsed < TimeSpan.FromSeconds(5), $"{label}: one mutant took {one.Elapsed}");
        }
        output.WriteLine($"{label}: {ok} read, {rejected} rejected with a diagnostic, {watch.ElapsedMilliseconds} ms");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60));
        Assert.True(rejected > 0, $"{label}: no mutant was rejected");
    }

    /// <summary>A read that reports failure must say why.</summary>
    private static bool Outcome<T>(Result<T> r) where T : class
    {
        if (!r.Ok) Assert.NotEmpty(r.Diagnostics);
        return r.Ok;
    }

    [SharedDataFact]
    public void MutatedBinaryGraphDef()
    {
        var path = SharedData.Tf("cases/tf2onnx_regression_graphdef/frozen.pb");
        Check("graphdef.pb", File.ReadAllBytes(path), m =>
        {
            var g = TensorFlowFiles.ParseGraphDef(m, "m.pb");
            // Constants inside must convert or be diagnosed too.
            foreach (var n in g.Value?.Node ?? [])
                if (n.Attr.TryGetValue("value", out var v) && v.Tensor is { } t)
                    Outcome(TensorProtoConverter.FromTensorFlow(t, n.Name));
            return Outcome(g);
        });
    }

    [SharedDataFact]
    public void MutatedTextGraphDef()
    {
        var bytes = File.ReadAllBytes(SharedData.Tf("realistic/tf_graphdef2mlir/const-values.pbtxt"));
        Check("const-values.pbtxt", bytes, m =>
        {
            var g = ProtoFiles.ParseText(GraphDef.Parser, m, "m.pbtxt");
            foreach (var n in g.Value?.Node ?? [])
                if (n.Attr.TryGetValue("value", out var v) && v.Tensor is { } t)
                    Outcome(TensorProtoConverter.FromTensorFlow(t, n.Name));
            if (!g.Ok) Assert.Matches(@"^m\.pbtxt:\d+:\d+: error: ", g.Diagnostics[0].ToString());
            return Outcome(g);
        });
    }

    [SharedDataFact]
    public void MutatedOnnxModel()
    {
        var dir = Path.Combine(SharedData.Root, "conformance", "onnx", "node");
        var model = Path.Combine(dir, "test_conv_with_strides_padding", "model.onnx");
        Assert.True(File.Exists(model), $"{model} is missing from the shared data");
        Assert.True(OnnxFiles.ReadModel(model).Ok);
        Check(Path.GetFileName(Path.GetDirectoryName(model))!, File.ReadAllBytes(model), m =>
        {
            var r = ProtoFiles.ParseBinary(ModelProto.Parser, m, "m.onnx");
            foreach (var init in r.Value?.Graph?.Initializer ?? [])
                Outcome(TensorProtoConverter.FromOnnx(init));
            return Outcome(r);
        });
    }

    [SharedDataFact]
    public void MutatedCheckpoint()
    {
        var src = SharedData.Tf("realistic/serving_saved_model_counter/variables");
        var dir = _temp.Directory("gc-ckpt");
        try
        {
            foreach (var f in Directory.EnumerateFiles(src)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            var index = Path.Combine(dir, "variables.index");
            var original = File.ReadAllBytes(index);
            Check("variables.index", original, m =>
            {
                File.WriteAllBytes(index, m);
                var b = TensorBundle.Open(dir);
                return Outcome(b) && Outcome(b.Value!.ReadAll());
            });
            // A flipped data byte is caught by the entry's checksum.
            File.WriteAllBytes(index, original);
            var data = Directory.EnumerateFiles(dir, "variables.data-*").Single();
            var bytes = File.ReadAllBytes(data);
            bytes[0] ^= 0xff;
            File.WriteAllBytes(data, bytes);
            var all = TensorBundle.Open(dir).Unwrap().ReadAll();
            Assert.False(all.Ok);
            Assert.Contains("checksum mismatch", all.Diagnostics[0].Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void BinaryParseErrorNamesFileAndMessage()
    {
        var r = ProtoFiles.ParseBinary(GraphDef.Parser, [0x0a, 0x7f, 0x01], "bad.pb");
        Assert.StartsWith("bad.pb: not a valid GraphDef protobuf: ", Assert.Single(r.Diagnostics).Message);
    }

    [Fact]
    public void SnappyRoundTripOfAHandMadeBlock()
    {
        // "abcabcabcX": literal "abc", copy (offset 3, length 6), literal "X".
        byte[] compressed = [10, 2 << 2, (byte)'a', (byte)'b', (byte)'c', 1 | ((6 - 4) << 2), 3, 0, (byte)'X'];
        var d = Snappy.Decompress(compressed, 1000, out var error);
        Assert.True(d is not null, error);
        Assert.Equal("abcabcabcX"u8.ToArray(), d);
        Assert.Null(Snappy.Decompress(compressed[..5], 1000, out error));
    }
}
