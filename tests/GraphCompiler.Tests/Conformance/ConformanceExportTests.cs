using System.Text.Json;
using GraphCompiler.Tests.Backends;
using GraphCompiler.Tests.Cli;
using NumPy = GraphCompiler.Tests.IR.NumPy;
using Npy = GraphCompiler.IR.Npy;
using OnnxTensor = GraphCompiler.Frontend.Proto.Onnx.TensorProto;
using Tensor = GraphCompiler.IR.Tensor;
using TensorProtoConverter = GraphCompiler.Frontend.Tensors.TensorProtoConverter;

namespace GraphCompiler.Tests.Conformance;

/// <summary>
/// <c>gcc-cli check --export</c> and the tools/gpu-check harness that runs its output on a machine without .NET: the
/// whole loop (export, prepare.py's bundle, check.py with its floor) on this machine's CPU, where a GPU machine runs
/// the same with the cuda target. The expected outputs are the ONNX suite's own, never the compiler's.
/// </summary>
public sealed class ConformanceExportTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Node => Path.Combine(ConformanceFloorTests.SharedRoot, "conformance", "onnx", "node");

    /// <summary>
    /// Cases of several kinds: elementwise, a 0-d integer result, a sequence, f64 → f16 (a libgcc helper), a known divergence
    /// that compiles and one that does not.
    /// </summary>
    private const string Cases = "^test_(add|softmax_axis_1|size|sequence_insert_at_back|cast_DOUBLE_to_FLOAT16|cast_FLOAT_to_BFLOAT16|castlike_BFLOAT16_to_FLOAT_expanded)$";

    [SkippableSharedFact]
    public void ExportWritesEachCaseAsALibraryWithTheSuitesDataAndTolerances()
    {
        var dir = Path.Combine(_temp.Directory("gc-export"), "cases");
        var (code, stdout, stderr) = CliTests.Run("check", Node, "--backend", "cpu", "--filter", Cases, "--export", dir);
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("EXPORT test_add\n", stdout);
        Assert.Contains("XFAIL test_castlike_BFLOAT16_to_FLOAT_expanded: the model declares the input 'like'", stdout);
        Assert.EndsWith($"6 exported, 0 failed, 0 skipped, 1 expected failures: {Path.Combine(dir, "conformance.json")}\n", stdout);
        Assert.False(Directory.EnumerateDirectories(Path.GetDirectoryName(dir)!, "*.partial-*").Any(), "the staging folder was left behind");

        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "conformance.json")));
        var add = manifest.RootElement.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "test_add");
        Assert.Equal("model", add.GetProperty("prefix").GetString());
        Assert.True(File.Exists(Path.Combine(dir, add.GetProperty("lib").GetString()!)));
        // The inputs and expected output are the suite's tensors, byte for byte, with the runner's tolerances.
        var data = Path.Combine(Node, "test_add", "test_data_set_0");
        var x = TensorProtoConverter.FromOnnx(OnnxTensor.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(data, "input_0.pb"))), data).Unwrap();
        var z = TensorProtoConverter.FromOnnx(OnnxTensor.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(data, "output_0.pb"))), data).Unwrap();
        var input = add.GetProperty("inputs")[0];
        Assert.Equal("x", input.GetProperty("name").GetString());
        Assert.Equal(x, Npy.ReadFile(Path.Combine(dir, input.GetProperty("file").GetString()!)).Unwrap());
        var output = add.GetProperty("expected")[0];
        Assert.Equal(z, Npy.ReadFile(Path.Combine(dir, output.GetProperty("file").GetString()!)).Unwrap());
        Assert.Equal(GraphCompiler.Conformance.OnnxCase.Rtol, output.GetProperty("rtol").GetDouble());
        Assert.Equal(GraphCompiler.Conformance.OnnxCase.Atol, output.GetProperty("atol").GetDouble());
        var known = manifest.RootElement.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "test_cast_FLOAT_to_BFLOAT16");
        Assert.StartsWith("the expected data truncates", known.GetProperty("xfail").GetString());

        // f64 → f16 has no x86 instruction: LLVM calls libgcc's __truncdfhf2, so that library (and only it) needs libgcc_s.
        Assert.Contains("libgcc_s.so.1", ElfDynamic.Read(File.ReadAllBytes(Path.Combine(dir, "test_cast_DOUBLE_to_FLOAT16", "libmodel.so"))).Needed);
        Assert.DoesNotContain("libgcc_s.so.1", ElfDynamic.Read(File.ReadAllBytes(Path.Combine(dir, "test_add", "libmodel.so"))).Needed);

        // A second export into the same folder is refused rather than mixed with the first.
        (code, stdout, stderr) = CliTests.Run("check", Node, "--filter", "^test_add$", "--export", dir);
        Assert.Equal(2, code);
        Assert.Equal($"error: {dir}: exists and is not an empty folder; the export writes a fresh one\n", stderr);

        // A folder that cannot be made is one line and exit code 2, not an internal error.
        var blocked = Path.Combine(dir, "test_add", "libmodel.so", "cases");
        (code, stdout, stderr) = CliTests.Run("check", Node, "--filter", "^test_add$", "--export", blocked);
        Assert.Equal(2, code);
        Assert.StartsWith($"error: {blocked}: cannot be written (", stderr);
        Assert.Equal(1, stderr.Count(c => c == '\n'));
    }

    [SkippableSharedFact]
    public void GpuCheckHarnessRunsTheExportAndEnforcesTheFloor()
    {
        if (!NumPy.Available) Assert.Fail("python3-numpy is missing (the README's set-up command installs it)");
        var bundle = Path.Combine(_temp.Directory("gc-bundle"), "bundle");
        var tools = Path.Combine(GoldenFile.RepoRoot(), "tools", "gpu-check");
        var cli = $"dotnet {Path.Combine(AppContext.BaseDirectory, "gcc-cli.dll")}";
        var (code, output) = Python(Path.Combine(tools, "prepare.py"), "--cli", cli, "--target", "host", "--only", "conformance",
            "--filter", Cases, "--bundle", bundle);
        Assert.True(code == 0, output);
        Assert.Contains("floor tests/conformance/onnx.cpu.txt: 5 cases", output);

        (code, output) = Python(Path.Combine(tools, "check.py"), "--bundle", bundle);
        Assert.True(code == 0, output);
        Assert.Contains("PASS test_cast_DOUBLE_to_FLOAT16: within tolerance", output);
        Assert.Contains("PASS test_size: exact", output);
        Assert.Contains("XFAIL test_cast_FLOAT_to_BFLOAT16: the expected data truncates", output);
        Assert.Contains("floor tests/conformance/onnx.cpu.txt: 5 of 5 cases pass", output);

        // A wrong result fails the case and misses the floor.
        var expected = Path.Combine(bundle, "conformance", "test_add", "test_data_set_0.expected_0.npy");
        File.SetAttributes(expected, FileAttributes.Normal);
        var z = Npy.ReadFile(expected).Unwrap();
        var shifted = z.AsSpan<float>().ToArray().Select(v => v + 0.01f).ToArray();
        Npy.WriteFile(expected, Tensor.FromBytes(z.Type, System.Runtime.InteropServices.MemoryMarshal.AsBytes(shifted.AsSpan())));
        (code, output) = Python(Path.Combine(tools, "check.py"), "--bundle", bundle);
        Assert.Equal(1, code);
        Assert.Contains("FAIL test_add: sum: 60 of 60 elements differ", output);
        Assert.Contains("floor tests/conformance/onnx.cpu.txt: 4 of 5 cases pass", output);
        Assert.Contains("FLOOR test_add: failed", output);
    }

    private static (int Code, string Output) Python(string script, params string[] args) => AotTests.Exec(NumPy.Python, [script, .. args]);
}
