using System.Diagnostics;
using System.Text;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR.Text;
using GraphCompiler.Tests.Cli;
using OnnxTensor = GraphCompiler.Frontend.Proto.Onnx.TensorProto;
using StringStringEntryProto = GraphCompiler.Frontend.Proto.Onnx.StringStringEntryProto;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// Regressions for an attacker-style probe of the inputs: external data that escapes the model's folder
/// or blocks, input that chooses the stack depth, a short file that asks for a gigabyte, header lengths
/// that overflow, terminal escapes echoed in messages, and loops with astronomical trip counts. Each
/// must end quickly in one clear diagnostic.
/// </summary>
public sealed class HardeningTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    // ---- 1. ONNX external data ------------------------------------------------------------------

    private static OnnxTensor ExternalTensor(string location)
    {
        var p = new OnnxTensor { Name = "w", DataType = (int)OnnxTensor.Types.DataType.Int32, DataLocation = OnnxTensor.Types.DataLocation.External };
        p.Dims.Add(2);
        p.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        return p;
    }

    /// <summary>The converter's answer, which must come within 10 s (a FIFO used to block it for ever).</summary>
    private static Result<Tensor> ConvertWithin10s(OnnxTensor p, string dir)
    {
        var task = Task.Run(() => TensorProtoConverter.FromOnnx(p, dir));
        Assert.True(task.Wait(TimeSpan.FromSeconds(10)), $"reading external data '{p.ExternalData[0].Value}' did not finish within 10 s");
        return task.Result;
    }

    private static string Rejected(OnnxTensor p, string dir)
    {
        var r = ConvertWithin10s(p, dir);
        Assert.False(r.Ok, $"external data '{p.ExternalData[0].Value}' was read");
        var message = Assert.Single(r.Diagnostics).Message;
        Assert.Contains("tensor 'w'", message);
        Assert.Contains($"'{p.ExternalData[0].Value}'", message);
        return message;
    }

    /// <summary>A model folder <c>model/</c> with a good <c>w.bin</c>, beside a <c>secret.bin</c> of the same size outside it.</summary>
    private (string Model, string Outside) ModelFolder()
    {
        var top = _temp.Directory("gc-extdata");
        var model = Directory.CreateDirectory(Path.Combine(top, "model")).FullName;
        File.WriteAllBytes(Path.Combine(model, "w.bin"), [1, 0, 0, 0, 2, 0, 0, 0]);
        var outside = Path.Combine(top, "secret.bin");
        File.WriteAllBytes(outside, [7, 0, 0, 0, 7, 0, 0, 0]);
        return (model, outside);
    }

    [Fact]
    public void ExternalDataThroughASymlinkOutOfTheModelFolderIsRefused()
    {
        if (OperatingSystem.IsWindows()) return; // symbolic links need privileges there
        var (model, outside) = ModelFolder();
        File.CreateSymbolicLink(Path.Combine(model, "link.bin"), outside);
        File.CreateSymbolicLink(Path.Combine(model, "relative.bin"), "../secret.bin");
        Directory.CreateSymbolicLink(Path.Combine(model, "up"), Path.GetDirectoryName(outside)!);
        File.CreateSymbolicLink(Path.Combine(model, "passwd.bin"), "/etc/passwd");
        File.CreateSymbolicLink(Path.Combine(model, "chain.bin"), "link.bin"); // inside, then out
        foreach (var location in new[] { "link.bin", "relative.bin", "up/secret.bin", "passwd.bin", "chain.bin" })
            Assert.Contains("outside the model's folder", Rejected(ExternalTensor(location), model));

        // A link that stays inside the folder is fine.
        File.CreateSymbolicLink(Path.Combine(model, "alias.bin"), "w.bin");
        var t = ConvertWithin10s(ExternalTensor("alias.bin"), model);
        Assert.True(t.Ok, string.Join("\n", t.Diagnostics));
        Assert.Equal([1L, 2], [t.Value!.GetInt64(0), t.Value.GetInt64(1)]);
    }

    [Fact]
    public async Task ExternalDataThatIsAFifoIsRefusedWithoutBlocking()
    {
        if (OperatingSystem.IsWindows()) return;
        var (model, _) = ModelFolder();
        var fifo = Path.Combine(model, "pipe.bin");
        using (var mk = Process.Start("mkfifo", [fifo]))
        {
            mk.WaitForExit();
            Assert.Equal(0, mk.ExitCode);
        }
        var task = Task.Run(() => TensorProtoConverter.FromOnnx(ExternalTensor("pipe.bin"), model));
        if (await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(10))) != task)
        {
            // The reader is blocked in open(); a writer releases it (with no reader, this open would block).
            using (new FileStream(fifo, FileMode.Open, FileAccess.Write)) { }
            await task;
            Assert.Fail("reading a FIFO as external data blocked");
        }
        var result = await task;
        Assert.False(result.Ok);
        var message = Assert.Single(result.Diagnostics).Message;
        Assert.Contains("tensor 'w'", message);
        Assert.Contains("'pipe.bin' is a FIFO (named pipe), not a regular file", message);
    }

    [Fact]
    public void ExternalDataThatIsADirectoryDeviceOrParentPathIsRefused()
    {
        if (OperatingSystem.IsWindows()) return;
        var (model, _) = ModelFolder();
        Directory.CreateDirectory(Path.Combine(model, "dir.bin"));
        Assert.Contains("is a directory, not a regular file", Rejected(ExternalTensor("dir.bin"), model));
        Assert.Contains("leaves the model's folder", Rejected(ExternalTensor("../secret.bin"), model));
        Assert.Contains("leaves the model's folder", Rejected(ExternalTensor("sub/../../secret.bin"), model));
        Assert.Contains("must be relative to the model's folder", Rejected(ExternalTensor("/dev/zero"), model));
        Assert.Contains("does not exist", Rejected(ExternalTensor("missing.bin"), model));
        var ok = ConvertWithin10s(ExternalTensor("./w.bin"), model);
        Assert.True(ok.Ok, string.Join("\n", ok.Diagnostics));
    }

    // ---- 2. nesting depth in .ir text -----------------------------------------------------------

    /// <summary><paramref name="depth"/> <c>if</c> ops, each in the then-region of the one before.</summary>
    private static string NestedIfs(int depth)
    {
        var sb = new StringBuilder("func @main(%p: tensor<bool>, %x: tensor<f32>) -> (tensor<f32>) {\n");
        for (int i = 0; i < depth; i++) sb.Append($"%r{i} = if %p : tensor<f32> then() {{\n");
        sb.Append("%y = neg %x : tensor<f32>\nyield %y\n");
        for (int i = depth - 1; i >= 0; i--)
        {
            sb.Append("} else() { yield %x }\n");
            sb.Append(i > 0 ? $"yield %r{i}\n" : "return %r0\n}\n");
        }
        return sb.ToString();
    }

    private string WriteIr(string name, string text)
    {
        var path = Path.Combine(_temp.Directory("gc-harden-ir"), name);
        File.WriteAllText(path, text);
        return path;
    }

    // These run gcc-cli as a process: before the fix the stack overflow killed the process.
    [Fact]
    public void DenseLiteralNested100000DeepIsAPositionedError()
    {
        var path = WriteIr("deep-dense.ir", "func @main() -> (tensor<f32>) {\n  %c = constant {value = dense<" + new string('[', 100_000) + ">} : tensor<f32>\n  return %c\n}\n");
        var (code, _, stderr) = CliTests.Run("ir", path);
        Assert.Equal(2, code);
        Assert.Contains($"{path}:2:{"  %c = constant {value = dense<".Length + 1 + Parser.MaxDenseNesting}: error: dense literal nested deeper than {Parser.MaxDenseNesting}", stderr);
    }

    [Fact]
    public void Regions100000DeepAreAPositionedError()
    {
        var path = WriteIr("deep-regions.ir", NestedIfs(100_000));
        var sw = Stopwatch.StartNew();
        var (code, _, stderr) = CliTests.Run("ir", path);
        Assert.Equal(2, code);
        Assert.Contains($"{path}:{Parser.MaxRegionNesting + 2}:", stderr);
        Assert.Contains($"error: regions nested deeper than {Parser.MaxRegionNesting}", stderr);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"took {sw.Elapsed}");
    }

    [Fact]
    public void RegionsAtTheNestingLimitParseVerifyPrintAndRunQuickly()
    {
        // On a thread with a 1 MiB stack (smaller than the main thread's and .NET's default for threads).
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                AtTheLimit();
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, 1 << 20);
        thread.Start();
        thread.Join();
        if (failure is not null) throw new Xunit.Sdk.XunitException(failure.ToString());
    }

    private static void AtTheLimit()
    {
        var sw = Stopwatch.StartNew();
        var text = NestedIfs(Parser.MaxRegionNesting);
        var m = Parser.ParseModule(text, "limit.ir");
        Assert.True(m.Ok, string.Join("\n", m.Diagnostics));
        Assert.Empty(Verifier.Verify(m.Value!));
        var printed = Printer.Print(m.Value!);
        var again = Parser.ParseModule(printed, "printed.ir");
        Assert.True(again.Ok, string.Join("\n", again.Diagnostics));
        Assert.Equal(printed, Printer.Print(again.Value!));
        var run = new Interpreter(m.Value!).Run(null, [T.Bool([], true), T.F32(3)]);
        Assert.True(run.Ok, string.Join("\n", run.Diagnostics));
        Assert.Equal(-3.0, run.Value!.Results[0].GetDouble(0));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");

        var over = Parser.ParseModule(NestedIfs(Parser.MaxRegionNesting + 1), "over.ir");
        Assert.Equal($"over.ir:{Parser.MaxRegionNesting + 2}:33: error: regions nested deeper than {Parser.MaxRegionNesting}", Assert.Single(over.Diagnostics).ToString());
    }

    [Fact]
    public void DenseLiteralAtTheRankLimitStillParses()
    {
        var m = IrTest.Parse("func @main() -> (tensor<1x1x1x1x1x1x1x2xi32>) {\n  %c = constant {value = dense<[[[[[[[[1, 2]]]]]]]]>} : tensor<1x1x1x1x1x1x1x2xi32>\n  return %c\n}\n");
        var t = IrTest.Run(Printer.Print(m))[0];
        Assert.Equal([1L, 2], [t.GetInt64(0), t.GetInt64(1)]);
        var deeper = Parser.ParseModule("func @main() -> (tensor<f32>) {\n  %c = constant {value = dense<[[[[[[[[[1]]]]]]]]]>} : tensor<f32>\n  return %c\n}\n");
        Assert.Contains("dense literal nested deeper than 8", Assert.Single(deeper.Diagnostics).Message);
    }

    // ---- 3. splat constants ---------------------------------------------------------------------

    private const string GigabyteSplat = """
        func @main() -> (tensor<16384x16384xf32>) {
          %c = constant {value = dense<1.5>} : tensor<16384x16384xf32>
          return %c
        }
        """;

    [Fact]
    public void SplatConstantIsNotMaterialisedByParsingVerifyingOrPrinting()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        var m = Parser.ParseModule(GigabyteSplat, "splat.ir");
        Assert.True(m.Ok, string.Join("\n", m.Diagnostics));
        Assert.Empty(Verifier.Verify(m.Value!));
        var printed = Printer.Print(m.Value!);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("{value = dense<1.5>} : tensor<16384x16384xf32>", printed);
        Assert.True(allocated < 16 << 20, $"allocated {allocated} bytes");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"took {sw.Elapsed}");

        var t = m.Value!.Entry.Body.Operations[0].Attr.Tensor("value");
        Assert.True(t.IsSplat);
        Assert.Equal(1.5, t.GetDouble(16384L * 16384 - 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.GetDouble(16384L * 16384));
    }

    [Fact]
    public void SplatTensorBehavesLikeItsMaterialisedBytes()
    {
        var type = new TensorType(ElementType.F32, 3, 5);
        var splat = Tensor.Splat(type, T.F32(2.5));
        var dense = Tensor.FromDoubles(type, Enumerable.Repeat(2.5, 15).ToArray());
        Assert.True(splat.IsSplat);
        Assert.True(dense.IsSplat);
        Assert.False(T.F32([2], 1, 2).IsSplat);
        Assert.Equal(dense.ContentHash(), splat.ContentHash());
        Assert.Equal(dense.GetHashCode(), splat.GetHashCode());
        Assert.Equal(dense, splat);
        Assert.Equal(splat, dense);
        Assert.NotEqual(splat, Tensor.Splat(type, T.F32(2.25)));
        Assert.Equal(dense.Bytes.ToArray(), splat.Bytes.ToArray());
        Assert.Equal(dense.ToString(), splat.ToString());
    }

    [Fact]
    public void SplatConstantThroughTheCliAnswersQuickly()
    {
        var path = WriteIr("splat.ir", GigabyteSplat);
        var sw = Stopwatch.StartNew();
        var (code, stdout, stderr) = CliTests.Run("ir", path);
        Assert.True(code == 0, stderr);
        Assert.Contains("{value = dense<1.5>} : tensor<16384x16384xf32>", stdout);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"took {sw.Elapsed}"); // the process start included
    }

    // ---- 4. .npy header lengths -----------------------------------------------------------------

    [Theory]
    [InlineData(2, 0x7FFFFFF4u)]
    [InlineData(2, 0x7FFFFFFFu)]
    [InlineData(3, 0x80000000u)]
    [InlineData(3, 0xFFFFFFFFu)]
    public void NpyHeaderLengthNear2To31IsATruncationDiagnostic(int version, uint headerLength)
    {
        var bytes = new byte[64];
        new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)version, 0 }.CopyTo(bytes, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), headerLength);
        var r = Npy.Read(bytes);
        Assert.False(r.Ok);
        Assert.Contains($"truncated header: the header length is {headerLength} bytes", Assert.Single(r.Diagnostics).Message);
    }

    // ---- 5. control characters in diagnostics ---------------------------------------------------

    [Theory]
    [InlineData("func @main() -> (tensor<f\u001b[2J32>) {\n  return\n}\n", "unknown element type 'f\\u001b[2J32'")]
    [InlineData("func @ma\u001b]0;pwned\u0007in() -> () {\n}\n", "expected '(', found '\\u001b'")]
    [InlineData("func @main() -> () {\n  %c = constant {value = \"\u009b31m\"} : tensor<f32>\n  return\n}\n", "got \"\\u009b31m\"")]
    public void ParseErrorsEscapeControlCharacters(string text, string expected)
    {
        var r = Parser.ParseModule(text, "evil\u001b.ir");
        Assert.False(r.Ok);
        var shown = Assert.Single(r.Diagnostics).ToString();
        Assert.Contains(expected, shown);
        Assert.StartsWith("evil\\u001b.ir:", shown);
        Assert.DoesNotContain(shown, c => char.IsControl(c));
    }

    [Fact]
    public void DiagnosticsEscapeInvisibleCharactersOnce()
    {
        Assert.Equal("a\\u001bb\\u202ec\\u2028\\ud800 é 漢 \U0001F600", new Diagnostic("a\u001bb\u202ec\u2028\ud800 é 漢 \U0001F600").Message);
        var d = new Diagnostic("plain") with { Message = "x\ny" };
        Assert.Equal("x\\u000ay", d.Message);
        Assert.Equal("already \\u001b escaped", new Diagnostic(new Diagnostic("already \\u001b escaped").Message).Message);
    }

    // ---- 6. loop limits in the interpreter ------------------------------------------------------

    private const string EndlessLoop = """
        func @main(%x: tensor<i64>) -> (tensor<i64>) {
          %one = constant {value = dense<1>} : tensor<i64>
          %big = constant {value = dense<9223372036854775807>} : tensor<i64>
          %r = while %x : tensor<i64>
            cond(%c: tensor<i64>) {
              %p = compare %c, %big {direction = lt} : tensor<bool>
              yield %p
            }
            body(%b: tensor<i64>) {
              %n = add %b, %one : tensor<i64>
              yield %n
            }
          return %r
        }
        """;

    [Fact]
    public void AstronomicalTripCountStopsWithinSecondsByDefault()
    {
        var sw = Stopwatch.StartNew();
        var r = new Interpreter(IrTest.Parse(EndlessLoop)).Run(null, [T.I64(0)]);
        Assert.False(r.Ok);
        var d = Assert.Single(r.Diagnostics);
        Assert.Contains($"'while': loop ran more than {InterpreterOptions.DefaultMaxLoopIterations} iterations", d.Message);
        Assert.NotNull(d.Location);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}");
    }

    [Fact]
    public void LoopTimeBudgetIsConfigurable()
    {
        var sw = Stopwatch.StartNew();
        var options = new InterpreterOptions { MaxLoopIterations = long.MaxValue, MaxLoopTime = TimeSpan.FromMilliseconds(200) };
        var r = new Interpreter(IrTest.Parse(EndlessLoop), options).Run(null, [T.I64(0)]);
        Assert.False(r.Ok);
        Assert.Contains("'while': loop ran longer than 0.2 s", Assert.Single(r.Diagnostics).Message);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");
    }
}
