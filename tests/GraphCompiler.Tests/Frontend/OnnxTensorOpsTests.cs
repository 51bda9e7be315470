using System.Text.RegularExpressions;
using GraphCompiler.Cli.Check;
using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Onnx;
using GraphCompiler.Frontend.Protobuf;
using GraphCompiler.Frontend.Tensors;
using Google.Protobuf;
using Xunit.Abstractions;
using P = GraphCompiler.Frontend.Proto.Onnx;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// The tensor-manipulation ONNX lowerings (shape, indexing, generators, resize): hand-worked edge
/// cases, and the ONNX node cases whose shape inputs are graph inputs, run with those inputs bound
/// as initializers (a static-shape importer needs them at import time).
/// </summary>
public sealed class OnnxTensorOpsTests(ITestOutputHelper output)
{
    private const string TensorOps =
        "^test_(argmax|argmin|blackmanwindow|hannwindow|hammingwindow|compress|concat|constant|constantofshape|cumsum|depthtospace|det|dropout|" +
        "training_dropout|edge_pad|reflect_pad|expand|eyelike|flatten|gather|gathernd|melweightmatrix|nonzero|onehot|range|reshape|resize|" +
        "reversesequence|scatter|scatternd|shape|size|slice|spacetodepth|split|squeeze|tile|top_k|transpose|tril|triu|unique|unsqueeze|upsample|pad)";

    // ---- conformance cases with value inputs bound at import time ----------------------------------------

    [SharedDataFact]
    public void NodeCasesWithBoundValueInputs()
    {
        var root = Path.Combine(SharedData.Root, "conformance", "onnx", "node");
        var re = new Regex(Environment.GetEnvironmentVariable("ONNXT_FILTER") ?? TensorOps);
        var failures = new List<string>();
        int passed = 0;
        foreach (var dir in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(dir);
            if (!re.IsMatch(name)) continue;
            var plain = new OnnxCase(dir).Import();
            if (plain.Ok || !plain.Diagnostics.Any(d => d.Message.Contains("depends on input values"))) continue;
            var r = RunBound(dir);
            if (r is null) passed++;
            else failures.Add($"{name}: {r}");
        }
        output.WriteLine($"{passed} passed with bound inputs");
        foreach (var f in failures) output.WriteLine(f);
        Assert.True(failures.All(f => f.Contains("unsupported op")), string.Join("\n", failures));
    }

    /// <summary>Imports the case with every graph input bound to data set 0's value, runs it, compares; null when it matches.</summary>
    private static string? RunBound(string dir)
    {
        var model = OnnxFiles.ReadModel(Path.Combine(dir, "model.onnx")).Value!;
        var set = Path.Combine(dir, "test_data_set_0");
        var g = model.Graph;
        var inputs = g.Input.Where(i => !g.Initializer.Any(t => t.Name == i.Name)).ToList();
        for (int k = 0; k < inputs.Count; k++)
        {
            var t = P.TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(set, $"input_{k}.pb")));
            t.Name = inputs[k].Name;
            g.Initializer.Add(t);
            g.Input.Remove(inputs[k]);
        }
        var m = OnnxImporter.Import(model, dir, new ImportOptions());
        if (!m.Ok) return string.Join("; ", m.Diagnostics.Select(d => d.Message));
        var outs = new Interpreter(m.Value!).Run(null, []);
        if (!outs.Ok) return "run: " + outs.Diagnostics[0].Message;
        for (int k = 0; ; k++)
        {
            var path = Path.Combine(set, $"output_{k}.pb");
            if (!File.Exists(path)) return k == outs.Value!.Results.Length ? null : $"{outs.Value!.Results.Length} outputs, expected {k}";
            var expected = TensorProtoConverter.FromOnnx(P.TensorProto.Parser.ParseFrom(File.ReadAllBytes(path))).Value!;
            var diff = TensorComparison.Compare(expected, outs.Value!.Results[k], OnnxCase.Rtol, OnnxCase.Atol);
            if (diff is not null) return $"output #{k}: {diff}";
        }
    }
}
