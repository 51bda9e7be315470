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
}
