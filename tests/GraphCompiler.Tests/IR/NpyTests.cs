using System.Diagnostics;

namespace GraphCompiler.Tests.IR;

public sealed class NpyTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    public static IEnumerable<object[]> AllTypes() => Enum.GetValues<ElementType>().Select(t => new object[] { t });

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void RoundTripsEveryElementType(ElementType t)
    {
        var type = new TensorType(t, 2, 3);
        var values = new double[] { 0, 1, 0, 1, 1, 0 };
        var tensor = Tensor.FromDoubles(type, values);
        var back = Npy.Read(Npy.Write(tensor));
        Assert.True(back.Ok, string.Join("\n", back.Diagnostics));
        Assert.Equal(tensor, back.Value);
    }

    [Fact]
    public void HeaderIsAlignedAndNumPyStyle()
    {
        var bytes = Npy.Write(T.F32([2, 3], 1, 2, 3, 4, 5, 6));
        int headerLen = bytes[8] | (bytes[9] << 8);
        Assert.Equal(0, (10 + headerLen) % 64);
        var header = System.Text.Encoding.ASCII.GetString(bytes, 10, headerLen);
        Assert.StartsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", header);
        Assert.EndsWith("\n", header);
        Assert.Contains("'shape': (4,)", System.Text.Encoding.ASCII.GetString(Npy.Write(T.I32([4], 1, 2, 3, 4)), 10, 60));
        Assert.Contains("'shape': ()", System.Text.Encoding.ASCII.GetString(Npy.Write(T.F64([], 1)), 10, 60));
    }

    private static byte[] Handmade(string header, byte[] body)
    {
        var h = System.Text.Encoding.ASCII.GetBytes(header);
        return [0x93, .. "NUMPY"u8, 1, 0, (byte)h.Length, 0, .. h, .. body];
    }

    [Fact]
    public void ReadsBigEndianAndFortranOrder()
    {
        var be = Npy.Read(Handmade("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }\n", [0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe]));
        IrTest.AssertTensor(T.I32([2], 258, -2), be.Value!);
        // Column-major [[1, 2, 3], [4, 5, 6]] is stored 1 4 2 5 3 6.
        var f = Npy.Read(Handmade("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }\n", [1, 4, 2, 5, 3, 6]));
        IrTest.AssertTensor(T.U8([2, 3], 1, 2, 3, 4, 5, 6), f.Value!);
    }

    [Theory]
    [InlineData("not numpy at all", "not a .npy file")]
    [InlineData("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }\n", "unsupported dtype '<c8'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n", "data is truncated: tensor<4xf32> needs 16 bytes, file has 4")]
    [InlineData("{'descr': '<f4', 'shape': (1,), }\n", "malformed header")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }\n", "larger than 1 TiB")]
    public void RejectsBadFilesWithOneLine(string header, string expected)
    {
        var bytes = header.StartsWith('{') ? Handmade(header, [0, 0, 0, 0]) : System.Text.Encoding.ASCII.GetBytes(header);
        var r = Npy.Read(bytes);
        Assert.False(r.Ok);
        Assert.Contains(expected, r.Diagnostics[0].Message);
        Assert.DoesNotContain("\n", r.Diagnostics[0].Message);
    }

    [Fact]
    public void TruncatedPrefixesNeverThrow()
    {
        var full = Npy.Write(T.F32([3], 1, 2, 3));
        for (int n = 0; n < full.Length; n++)
            Assert.False(Npy.Read(full.AsSpan(0, n)).Ok);
    }

    [SkippableNumPyFact]
    public void NumPyReadsWhatWeWrite()
    {
        var dir = _temp.Directory("npy");
        Npy.WriteFile(Path.Combine(dir, "a.npy"), T.F32([2, 2], 1.5, -2, 3, 4));
        Npy.WriteFile(Path.Combine(dir, "b.npy"), T.Bool([3], true, false, true));
        Npy.WriteFile(Path.Combine(dir, "c.npy"), T.I64([], -5));
        var output = NumPy.Run($"import numpy as np; a=np.load('{dir}/a.npy'); b=np.load('{dir}/b.npy'); c=np.load('{dir}/c.npy'); " +
                               "print(a.dtype, a.shape, a.tolist(), b.dtype, b.tolist(), c.dtype, c.shape, int(c))");
        Assert.Equal("float32 (2, 2) [[1.5, -2.0], [3.0, 4.0]] bool [True, False, True] int64 () -5", output.Trim());
    }

    [SkippableNumPyFact]
    public void WeReadWhatNumPyWrites()
    {
        var dir = _temp.Directory("npy");
        NumPy.Run($"import numpy as np; np.save('{dir}/f.npy', np.asfortranarray(np.arange(6, dtype=np.float16).reshape(2, 3))); " +
                  $"np.save('{dir}/u.npy', np.array([1, 65535], dtype='>u2'))");
        IrTest.AssertTensor(T.F16([2, 3], 0, 1, 2, 3, 4, 5), Npy.ReadFile(Path.Combine(dir, "f.npy")).Value!);
        IrTest.AssertTensor(T.U16([2], 1, 65535), Npy.ReadFile(Path.Combine(dir, "u.npy")).Value!);
    }
}

/// <summary>Runs Debian's python3 with NumPy (installed by the set-up script).</summary>
public static class NumPy
{
    public const string Python = "/usr/bin/python3";

    public static bool Available { get; } = Probe();

    private static bool Probe()
    {
        try
        {
            return Run("import numpy").Length >= 0;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    public static string Run(string code)
    {
        var psi = new ProcessStartInfo(Python, ["-c", code]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"python failed: {stderr}");
        return stdout;
    }
}

/// <summary>A fact that is skipped, visibly, when Debian's python3-numpy is missing.</summary>
public sealed class SkippableNumPyFactAttribute : FactAttribute
{
    public SkippableNumPyFactAttribute()
    {
        if (!NumPy.Available) Skip = "python3-numpy is not installed (the README's set-up command installs it)";
    }
}

/// <summary>A theory that is skipped, visibly, when Debian's python3-numpy is missing.</summary>
public sealed class SkippableNumPyTheoryAttribute : TheoryAttribute
{
    public SkippableNumPyTheoryAttribute()
    {
        if (!NumPy.Available) Skip = "python3-numpy is not installed (the README's set-up command installs it)";
    }
}
