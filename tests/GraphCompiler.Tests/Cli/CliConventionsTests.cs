using GraphCompiler.Tests.Frontend;
using static GraphCompiler.Tests.Cli.CliTests;

namespace GraphCompiler.Tests.Cli;

/// <summary>
/// gcc-cli in a user's hands: quieter <c>--print-after all</c> and <c>--memory-report</c>, TensorFlow's
/// <c>--config</c>/<c>--signature</c>/<c>--tags</c>, feed dtypes as TensorFlow and NumPy spell them,
/// <c>run --print-full</c>, and IREE-style inline <c>--input</c> values.
/// </summary>
public sealed class CliConventionsTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", name);

    private string Temp() => _temp.Directory("gcc-cli");

    private static void AssertOneLineError(int code, string stdout, string stderr, params string[] expected)
    {
        Assert.True(code == 2, $"exit code {code}; stdout: {stdout}; stderr: {stderr}");
        foreach (var e in expected) Assert.Contains(e, stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("   at ", stderr);
    }

    private string WriteIr(string text)
    {
        var path = Path.Combine(Temp(), "model.ir");
        File.WriteAllText(path, text);
        return path;
    }

    // ----- ir --print-after, --memory-report -----

    [Fact]
    public void PrintAfterAllPrintsOnlyTheHeaderOfAPassThatChangedNothing()
    {
        var (code, stdout, stderr) = Run("ir", Example("softmax_regression.ir"), "--print-after", "all");
        Assert.True(code == 0, stderr);
        var lines = stdout.TrimEnd('\n').Split('\n');
        Assert.StartsWith("// ----- after ", lines[0]);
        var headers = lines.Select((l, i) => (l, i)).Where(x => x.l.StartsWith("// ----- after ", StringComparison.Ordinal)).ToList();
        var unchanged = headers.Where(h => h.l.EndsWith(" (unchanged) -----", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(unchanged); // fold-batchnorm has nothing to fold here
        Assert.Contains("// ----- after fold-batchnorm (unchanged) -----", lines);
        foreach (var (_, i) in unchanged)
            Assert.True(i == lines.Length - 1 || lines[i + 1].StartsWith("// ----- after ", StringComparison.Ordinal), $"IR printed after '{lines[i]}'");
        // Every pass that changed something prints the whole function after its header.
        var changed = headers.Count - unchanged.Count;
        Assert.Equal(changed, lines.Count(l => l.StartsWith("func @main(", StringComparison.Ordinal)));
        foreach (var (l, i) in headers.Except(unchanged)) Assert.StartsWith("func @main(", lines[i + 1]);
    }

    [Fact]
    public void PrintAfterOnePassStillPrintsItAndSaysWhenItChangedNothing()
    {
        var (code, stdout, stderr) = Run("ir", Example("softmax_regression.ir"), "--print-after", "fold-batchnorm");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("// ----- after fold-batchnorm (unchanged) -----\nfunc @main(", stdout);
    }

    [Fact]
    public void MemoryReportPrintsOnlyTheReportUnlessPrintAfterAsksForTheIr()
    {
        var (code, stdout, stderr) = Run("ir", Example("softmax_regression.ir"), "--memory-report");
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("func @main(", stdout);
        var lines = stdout.TrimEnd('\n').Split('\n');
        Assert.All(lines[..^1], l => Assert.StartsWith("// memory @", l));
        Assert.Matches(@"^memory: peak \d+ bytes, no-reuse \d+ bytes, lower bound \d+ bytes$", lines[^1]);

        (code, var both, stderr) = Run("ir", Example("softmax_regression.ir"), "--memory-report", "--print-after", "all");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("// ----- after ", both);
        Assert.Contains("func @main(", both);
        Assert.EndsWith(stdout, both); // the same report, last
    }

    // ----- TensorFlow: --config, --signature, --tags; feed dtypes -----

    [SharedDataFact]
    public void SignatureAndTagsPickTheSavedModelsFunction()
    {
        var model = SharedData.Tf("cases/tfjs_node_module_with_multiple_signatures_1");
        var dir = Temp();
        string[] common = ["--feed", "x:float32[3]", "--input", "x=3xf32=1,2,3", "--backend", "interpreter", "--print-full"];
        var (code, stdout, stderr) = Run(["run", model, .. common, "-o", Path.Combine(dir, "default")]);
        Assert.True(code == 0, stderr);
        Assert.Equal(T.F32([3], 3, 6, 9), Npy.ReadFile(Path.Combine(dir, "default", "output_0.npy")).Value!);

        (code, stdout, stderr) = Run(["run", model, "--signature", "timestwo", "--tags", "serve", .. common, "-o", Path.Combine(dir, "two")]);
        Assert.True(code == 0, stderr);
        Assert.Equal(T.F32([3], 2, 4, 6), Npy.ReadFile(Path.Combine(dir, "two", "output_0.npy")).Value!);

        (code, stdout, stderr) = Run("ir", model, "--signature", "nope");
        AssertOneLineError(code, stdout, stderr, "no signature 'nope'", "timestwo");
        (code, stdout, stderr) = Run("ir", model, "--tags", "serve,gpu");
        AssertOneLineError(code, stdout, stderr, "no MetaGraphDef tagged {gpu, serve}");
    }

    [SharedDataFact]
    public void ConfigNamesTheFeedsAndFetches()
    {
        var dir = SharedData.Tf("cases/tf_aot_test_graph_tfadd_1");
        var (code, stdout, stderr) = Run("ir", Path.Combine(dir, "test_graph_tfadd.pbtxt"), "--config", Path.Combine(dir, "test_graph_tfadd.config.pbtxt"));
        Assert.True(code == 0, stderr);
        Assert.StartsWith("func @main(", stdout);
        Assert.Contains("x_const", stdout);
        Assert.Contains("y_reshape", stdout);

        (code, stdout, stderr) = Run("ir", Path.Combine(dir, "test_graph_tfadd.pbtxt"), "--config", Path.Combine(Temp(), "absent.pbtxt"));
        AssertOneLineError(code, stdout, stderr, "absent.pbtxt");
    }

    [Theory]
    [InlineData("--signature", "serving_default")]
    [InlineData("--tags", "serve")]
    [InlineData("--config", "c.pbtxt")]
    public void TensorFlowOptionsOnAnIrFileAreAnError(string option, string value)
    {
        var (code, stdout, stderr) = Run("ir", Example("softmax_regression.ir"), option, value);
        AssertOneLineError(code, stdout, stderr, "apply to TensorFlow models, not IR files");
    }

    [Fact]
    public void TensorFlowOptionsAreOnEveryCommandThatLoadsAModel()
    {
        foreach (var command in new[] { "ir", "run", "graph", "compile", "bench" })
        {
            var (code, stdout, _) = Run(command, "--help");
            Assert.Equal(0, code);
            foreach (var option in new[] { "--config", "--signature", "--tags", "--feed" }) Assert.Contains(option, stdout);
        }
    }

    [Theory]
    [InlineData("float32", ElementType.F32)]
    [InlineData("f32", ElementType.F32)]
    [InlineData("float16", ElementType.F16)]
    [InlineData("half", ElementType.F16)]
    [InlineData("bfloat16", ElementType.BF16)]
    [InlineData("float64", ElementType.F64)]
    [InlineData("double", ElementType.F64)]
    [InlineData("int8", ElementType.I8)]
    [InlineData("int16", ElementType.I16)]
    [InlineData("int32", ElementType.I32)]
    [InlineData("int64", ElementType.I64)]
    [InlineData("i64", ElementType.I64)]
    [InlineData("uint8", ElementType.U8)]
    [InlineData("uint16", ElementType.U16)]
    [InlineData("uint32", ElementType.U32)]
    [InlineData("uint64", ElementType.U64)]
    [InlineData("bool", ElementType.Bool)]
    public void CliFeedDTypesTakeTensorFlowAndNumPySpellings(string dtype, ElementType expected)
    {
        var feed = ModelLoader.ParseFeed($"input:0:{dtype}[2,3]");
        Assert.True(feed.Ok, string.Join("\n", feed.Diagnostics));
        Assert.Equal("input:0", feed.Value!.Name);
        Assert.Equal(new TensorType(expected, 2, 3), feed.Value.Type);
    }

    [Fact]
    public void FeedInTensorFlowSpellingImportsTheSameModel()
    {
        string[] rest = ["--fetch", "probabilities:0"];
        var (code, ours, stderr) = Run(["ir", Example("softmax_regression.pbtxt"), "--feed", "x:f32[2,4]", .. rest]);
        Assert.True(code == 0, stderr);
        (code, var theirs, stderr) = Run(["ir", Example("softmax_regression.pbtxt"), "--feed", "x:float32[2,4]", .. rest]);
        Assert.True(code == 0, stderr);
        Assert.Equal(ours, theirs);
        Assert.Contains("tensor<2x4xf32>", theirs);

        (code, var stdout, stderr) = Run(["ir", Example("softmax_regression.pbtxt"), "--feed", "x:float[2,4]", .. rest]);
        AssertOneLineError(code, stdout, stderr, "--feed 'x:float[2,4]': unknown dtype 'float'", "f32", "float32", "bfloat16", "int64");
    }

    // ----- run --print-full -----

    [Fact]
    public void PrintFullPrintsEveryElement()
    {
        var model = WriteIr("func @main(%x: tensor<12xf32> {name = \"x\"}) -> (tensor<12xf32>) {\n  %0 = add %x, %x : tensor<12xf32>\n  return %0\n}\n");
        var dir = Temp();
        var (code, stdout, stderr) = Run("run", model, "--input", "x=12xf32=1.5", "--backend", "interpreter", "-o", dir);
        Assert.True(code == 0, stderr);
        Assert.Contains("...", stdout);
        Assert.Equal(8, Threes(stdout));

        (code, stdout, stderr) = Run("run", model, "--input", "x=12xf32=1.5", "--backend", "interpreter", "-o", dir, "--print-full");
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("...", stdout);
        Assert.Equal(12, Threes(stdout));

        static int Threes(string s) => System.Text.RegularExpressions.Regex.Matches(s[s.IndexOf('[')..], @"\b3(\.0)?\b").Count;
    }

    // ----- IREE-style --input -----

    [Theory]
    [InlineData("file")]
    [InlineData("@file")]
    [InlineData("inline")]
    [InlineData("inline, TensorFlow dtype")]
    [InlineData("positional")]
    [InlineData("positional @file")]
    public void InputsFromFilesAndInlineValuesAgree(string form)
    {
        var dir = Temp();
        var x = Path.Combine(dir, "x.npy");
        Npy.WriteFile(x, T.F32([2, 4], 1, 0, 0.5f, 0, 0, -2, 0, 1));
        const string values = "1,0,0.5,0,0,-2,0,1";
        var spec = form switch
        {
            "file" => $"x={x}",
            "@file" => $"x=@{x}",
            "inline" => $"x=2x4xf32={values}",
            "inline, TensorFlow dtype" => $"x=2x4xfloat32={values}",
            "positional @file" => $"@{x}",
            _ => $"2x4xf32={values}",
        };
        var (code, _, stderr) = Run("run", Example("softmax_regression.ir"), "--input", $"x={x}", "-o", Path.Combine(dir, "want"), "--backend", "interpreter");
        Assert.True(code == 0, stderr);
        (code, _, stderr) = Run("run", Example("softmax_regression.ir"), "--input", spec, "-o", Path.Combine(dir, "got"), "--backend", "interpreter");
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "want", "probabilities.npy")), File.ReadAllBytes(Path.Combine(dir, "got", "probabilities.npy")));
    }

    [Fact]
    public void ASplatFillsTheShape()
    {
        var dir = Temp();
        var zeros = Path.Combine(dir, "zeros.npy");
        Npy.WriteFile(zeros, T.F32([2, 4], 0, 0, 0, 0, 0, 0, 0, 0));
        var (code, _, stderr) = Run("run", Example("softmax_regression.ir"), "--input", $"x={zeros}", "-o", Path.Combine(dir, "want"), "--backend", "interpreter");
        Assert.True(code == 0, stderr);
        (code, _, stderr) = Run("run", Example("softmax_regression.ir"), "--input", "x=2x4xf32=0", "-o", Path.Combine(dir, "got"), "--backend", "interpreter");
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "want", "probabilities.npy")), File.ReadAllBytes(Path.Combine(dir, "got", "probabilities.npy")));
    }

    [Fact]
    public void PositionalInputsGoToTheArgumentsNotGivenByName()
    {
        var model = WriteIr("func @main(%a: tensor<2xf32> {name = \"a\"}, %b: tensor<2xf32> {name = \"b\"}, %c: tensor<2xi32> {name = \"c\"}) -> (tensor<2xf32>, tensor<2xi32>) {\n  %0 = sub %a, %b : tensor<2xf32>\n  %1 = add %c, %c : tensor<2xi32>\n  return %0, %1\n}\n");
        var dir = Temp();
        var (code, stdout, stderr) = Run("run", model, "--input", "2xf32=10,20", "--input", "b=2xf32=1,2", "--input", "2xint32=-3,7", "--backend", "interpreter", "-o", dir);
        Assert.True(code == 0, stderr);
        Assert.Equal(T.F32([2], 9, 18), Npy.ReadFile(Path.Combine(dir, "result0.npy")).Value!);
        Assert.Equal(T.I32([2], -6, 14), Npy.ReadFile(Path.Combine(dir, "result1.npy")).Value!);
    }

    [Fact]
    public void BenchTakesInlineInputs()
    {
        var (code, stdout, stderr) = Run("bench", Example("softmax_regression.ir"), "--input", "2x4xf32=0.25", "--iterations", "1", "--warmup", "0");
        Assert.True(code == 0, stderr);
        Assert.Contains("input x: f32[2,4]\n", stdout);
        Assert.DoesNotContain("random", stdout);
    }

    [Theory]
    [InlineData("x=3xf32=1,2,3", "--input 'x=3xf32=1,2,3': input 'x' is tensor<3xf32>, @main expects tensor<2x4xf32>")]
    [InlineData("x=2x4xi32=0", "input 'x' is tensor<2x4xi32>, @main expects tensor<2x4xf32>")]
    [InlineData("4x2xf32=0", "input 'x' is tensor<4x2xf32>, @main expects tensor<2x4xf32>")]
    [InlineData("x=2x4xf32=1,2,3", "--input 'x': 3 value(s) for tensor<2x4xf32> (8 element(s); or one value to fill it)")]
    [InlineData("x=2x4xf32=", "--input 'x': 0 value(s) for tensor<2x4xf32>")]
    [InlineData("x=2x4xf32=1,2,a,4,5,6,7,8", "--input 'x': value 2 'a' is not a number")]
    [InlineData("x=2x4xf33=0", "--input 'x': unknown element type 'f33' (known: ")]
    [InlineData("x=@", "--input 'x=@': no file after '@'")]
    [InlineData("x=", "--input 'x=' must be NAME=FILE.npy, NAME=@FILE.npy, NAME=TYPE=VALUES, or TYPE=VALUES or @FILE.npy for the next argument")]
    [InlineData("y=2x4xf32=0", "@main has no argument named 'y'")]
    public void BadInlineInputsNameTheInputAndTheProblem(string spec, string expected)
    {
        var outDir = Path.Combine(Temp(), "out");
        var (code, stdout, stderr) = Run("run", Example("softmax_regression.ir"), "--input", spec, "-o", outDir, "--backend", "interpreter");
        AssertOneLineError(code, stdout, stderr, expected);
        Assert.False(Directory.Exists(outDir), "nothing may be written on failure");
    }

    [Theory]
    [InlineData("2xi8=1,200", "--input 'a': value 1 '200' is out of range for i8 ([-128, 127])")]
    [InlineData("2xu8=1,-1", "--input 'a': value 1 '-1' is not a u8 value")]
    [InlineData("2xbool=true,maybe", "--input 'a': value 1 'maybe' is not a bool")]
    public void InlineValuesAreCheckedAgainstTheElementType(string spec, string expected)
    {
        var type = spec[2..spec.IndexOf('=')];
        var model = WriteIr($"func @main(%a: tensor<2x{type}> {{name = \"a\"}}) -> (tensor<2x{type}>) {{\n  return %a\n}}\n");
        var (code, stdout, stderr) = Run("run", model, "--input", spec, "-o", Path.Combine(Temp(), "out"), "--backend", "interpreter");
        AssertOneLineError(code, stdout, stderr, expected);
    }

    [Fact]
    public void MoreInputsThanArgumentsIsAnError()
    {
        var (code, stdout, stderr) = Run("run", Example("softmax_regression.ir"), "--input", $"x={Example("softmax_regression.x.npy")}",
            "--input", "2x4xf32=0", "-o", Path.Combine(Temp(), "out"), "--backend", "interpreter");
        AssertOneLineError(code, stdout, stderr, "--input '2x4xf32=0': every argument of @main is already given (it takes x: tensor<2x4xf32>)");
    }

    // ----- IREE-style --output, and -o as an output folder everywhere -----

    [Fact]
    public void OutputsGoToTheFilesNamedAndTheRestToTheFolder()
    {
        var model = WriteIr("func @main(%a: tensor<2xf32> {name = \"a\"}) -> (tensor<2xf32> {name = \"neg\"}, tensor<2xf32> {name = \"twice\"}, tensor<2xf32> {name = \"sq\"}) {\n  %0 = neg %a : tensor<2xf32>\n  %1 = add %a, %a : tensor<2xf32>\n  %2 = mul %a, %a : tensor<2xf32>\n  return %0, %1, %2\n}\n");
        var dir = Temp();
        var named = Path.Combine(dir, "files", "second.npy");
        var positional = Path.Combine(dir, "files", "first.npy");
        var (code, stdout, stderr) = Run("run", model, "--input", "2xf32=1,3", "--output", $"twice=@{named}", "--output", $"@{positional}",
            "-o", Path.Combine(dir, "rest"), "--backend", "interpreter");
        Assert.True(code == 0, stderr);
        Assert.Equal(T.F32([2], -1, -3), Npy.ReadFile(positional).Value!);
        Assert.Equal(T.F32([2], 2, 6), Npy.ReadFile(named).Value!);
        Assert.Equal(T.F32([2], 1, 9), Npy.ReadFile(Path.Combine(dir, "rest", "sq.npy")).Value!);
        Assert.Equal(["sq.npy"], Directory.GetFiles(Path.Combine(dir, "rest")).Select(Path.GetFileName));
        Assert.Contains($"{named}: tensor<2xf32> [2.0, 6.0]", stdout);
    }

    [Fact]
    public void RunWithoutAnOutputFolderPrintsAndWritesNothing()
    {
        var dir = Temp();
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "gcc-cli.dll"), "run", Example("softmax_regression.ir"), "--input", "2x4xf32=0"])
        {
            WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        Assert.StartsWith("probabilities: tensor<2x3xf32> [[", stdout);
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Theory]
    [InlineData("nope=@x.npy", "@main has no result named 'nope' (its results: probabilities)")]
    [InlineData("@", "give a file after '@'")]
    [InlineData("probabilities", "expected NAME=@FILE.npy or @FILE.npy")]
    [InlineData("@a.npy|@b.npy", "every result of @main already has a file")]
    [InlineData("probabilities=@a.npy|probabilities=@b.npy", "--output 'probabilities' is given twice")]
    public void BadOutputsAreOneLineErrors(string specs, string expected)
    {
        var dir = Temp();
        var args = new List<string> { "run", Example("softmax_regression.ir"), "--input", "2x4xf32=0" };
        foreach (var spec in specs.Split('|')) args.AddRange(["--output", spec.Replace("@a", "@" + Path.Combine(dir, "a")).Replace("@b", "@" + Path.Combine(dir, "b"))]);
        var (code, stdout, stderr) = Run([.. args]);
        AssertOneLineError(code, stdout, stderr, expected);
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void DashOIsAnOutputFolderOnEveryCommandThatWrites()
    {
        foreach (var command in new[] { "run", "compile", "graph" })
        {
            var (code, stdout, _) = Run(command, "--help");
            Assert.Equal(0, code);
            Assert.Matches(@"-o, --output-dir <output-dir>", stdout);
        }
    }
}
