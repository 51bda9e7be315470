using System.Diagnostics;
using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Onnx;
using GraphCompiler.Frontend.TensorFlow;
using GraphCompiler.Tests.Conformance;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// Truncated and corrupted model files go through the whole importer (not just the protobuf reader):
/// each either imports or gives diagnostics — no exception escapes, nothing hangs.
/// </summary>
public sealed class ImporterRobustnessTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static IEnumerable<byte[]> Mutants(byte[] original, int seed, int count)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var m = (byte[])original.Clone();
            switch (i % 3)
            {
                case 0:
                    yield return m[..rng.Next(0, m.Length)];
                    break;
                case 1:
                    for (int k = 0; k < 1 + rng.Next(4); k++) m[rng.Next(m.Length)] = (byte)rng.Next(256);
                    yield return m;
                    break;
                default:
                    int at = rng.Next(m.Length);
                    m[at] ^= (byte)(1 << rng.Next(8));
                    yield return m;
                    break;
            }
        }
    }

    private void ImportsOrDiagnoses(string extension, byte[] original, Func<string, Result<Module>> import, int seed)
    {
        var dir = _temp.Directory("mutants");
        int imported = 0, rejected = 0;
        int n = 0;
        foreach (var bytes in Mutants(original, seed, 150))
        {
            var path = Path.Combine(dir, $"m{n++}{extension}");
            File.WriteAllBytes(path, bytes);
            var sw = Stopwatch.StartNew();
            Result<Module> r;
            try
            {
                r = import(path);
            }
            catch (Exception e)
            {
                Assert.Fail($"{path}: the importer threw {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                return;
            }
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"{path}: import took {sw.Elapsed}");
            if (r.Ok) imported++;
            else
            {
                rejected++;
                Assert.All(r.Diagnostics, d => Assert.DoesNotContain("\n", d.Message));
            }
        }
        Assert.True(rejected > 0, "no mutant was rejected: the mutations are not reaching the reader");
        _ = imported;
    }

    [Fact]
    public void MutatedOnnxModels() =>
        ImportsOrDiagnoses(".onnx", File.ReadAllBytes(Path.Combine(GoldenFile.RepoRoot(), "examples", "small_cnn.onnx")),
            p => OnnxImporter.Import(p), 11);

    public static IEnumerable<object[]> ConformanceModels() =>
        new[] { "test_lstm_defaults", "test_conv_with_strides_padding", "test_resize_upsample_scales_cubic", "test_loop11", "test_gathernd_example_int32", "test_layer_normalization_4d_axis0_expanded" }
            .Select(n => new object[] { n });

    [SkippableSharedTheory]
    [MemberData(nameof(ConformanceModels))]
    public void MutatedConformanceModels(string name)
    {
        var path = Path.Combine(GraphCompiler.Tests.Conformance.ConformanceFloorTests.SharedRoot, "conformance", "onnx", "node", name, "model.onnx");
        ImportsOrDiagnoses(".onnx", File.ReadAllBytes(path), p => OnnxImporter.Import(p), name.Length);
    }

    [Fact]
    public void MutatedTextGraphDefs() =>
        ImportsOrDiagnoses(".pbtxt", File.ReadAllBytes(Path.Combine(GoldenFile.RepoRoot(), "examples", "softmax_regression.pbtxt")),
            p => TensorFlowImporter.Import(p, new ImportOptions { Fetches = ["probabilities"] }), 12);

    [Fact]
    public void MutatedBinaryGraphDefs()
    {
        var text = TensorFlowFiles.ReadGraphDef(Path.Combine(GoldenFile.RepoRoot(), "examples", "softmax_regression.pbtxt")).Unwrap();
        ImportsOrDiagnoses(".pb", Google.Protobuf.MessageExtensions.ToByteArray(text),
            p => TensorFlowImporter.Import(p, new ImportOptions { Fetches = ["probabilities"] }), 13);
    }
}
