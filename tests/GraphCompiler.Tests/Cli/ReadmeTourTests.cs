using System.Diagnostics;
using System.Text.RegularExpressions;

using GraphCompiler.Tests.IR;

namespace GraphCompiler.Tests.Cli;

/// <summary>
/// The README's tour runs as written: every shell command in its indented code blocks runs from the repository
/// root (with <c>gcc-cli</c> on the PATH, as the set-up leaves it), exits as the shown output implies (2 when it
/// shows an error, else 0), and prints the lines the README shows.
/// </summary>
public sealed partial class ReadmeTourTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>One case per code block (a block's commands depend on each other, as the python3 line on the run before it).</summary>
    public static IEnumerable<object[]> Blocks() =>
        ReadmeTour.Parse(File.ReadAllLines(Path.Combine(GoldenFile.RepoRoot(), "README.md")))
            .GroupBy(c => c.Block).Select(b => new object[] { b.First().Line, b.First().Text });

    [Fact]
    public void TheTourHasCommandsForEveryCommandLineVerb()
    {
        var commands = ReadmeTour.Parse(File.ReadAllLines(Path.Combine(GoldenFile.RepoRoot(), "README.md")));
        foreach (var verb in new[] { "ir", "run", "graph", "check", "bench" })
            Assert.Contains(commands, c => c.Text.StartsWith($"gcc-cli {verb} ", StringComparison.Ordinal));
        Assert.DoesNotContain(commands, c => c.Text.Contains("dotnet run", StringComparison.Ordinal));
    }

    [Fact]
    public void ShownOutputMatchesInOrderWithEllipsesAndNumberWildcards()
    {
        string[] printed = ["header", "bench: median 1.25 ms, min 1.1 ms", "x: [[0.380630, 0.19]]", "559 passed, 0 failed"];
        Assert.Null(ReadmeTour.FirstUnmatched(["...", "bench: median X ms, min X ms", "x: [[0.3806..., ...]]"], printed));
        Assert.Null(ReadmeTour.FirstUnmatched(["header", "...", "559 passed, 0 failed"], printed));
        Assert.Equal("559 passed, 1 failed", ReadmeTour.FirstUnmatched(["559 passed, 1 failed"], printed));
        Assert.Equal("header", ReadmeTour.FirstUnmatched(["559 passed, 0 failed", "header"], printed)); // order matters
        Assert.Equal("bench: median X s, min X ms", ReadmeTour.FirstUnmatched(["bench: median X s, min X ms"], printed));
    }

    [Theory]
    [MemberData(nameof(Blocks))]
    public void CodeBlockRunsAsWritten(int line, string text)
    {
        var root = GoldenFile.RepoRoot();
        var commands = ReadmeTour.Parse(File.ReadAllLines(Path.Combine(root, "README.md")));
        var first = commands.Single(c => c.Line == line);
        Assert.Equal(text, first.Text);
        foreach (var command in commands.Where(c => c.Block == first.Block)) RunsAsWritten(command, root);
    }

    private void RunsAsWritten(ReadmeTour.Command command, string root)
    {
        var (code, output) = RunShell(command.Text, root);
        var shown = string.Join("\n", command.Expected);
        int expectedCode = command.Expected.Any(l => l.Contains("error:", StringComparison.Ordinal)) ? 2 : 0;
        Assert.True(code == expectedCode, $"`{command.Text}` exited with {code}, expected {expectedCode}:\n{output}");
        var mismatch = ReadmeTour.FirstUnmatched(command.Expected, output.Split('\n'));
        Assert.True(mismatch is null, $"`{command.Text}` did not print the README's line '{mismatch}'. It printed:\n{output}\nThe README shows:\n{shown}");
    }

    /// <summary>Runs one command line with bash from <paramref name="cwd"/>, a <c>gcc-cli</c> shim for the built CLI first on the PATH.</summary>
    private (int Code, string Output) RunShell(string commandLine, string cwd)
    {
        var bin = _temp.Directory("readme-bin");
        var shim = Path.Combine(bin, "gcc-cli");
        File.WriteAllText(shim, $"#!/bin/sh\nexec dotnet \"{Path.Combine(AppContext.BaseDirectory, "gcc-cli.dll")}\" \"$@\"\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(shim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // The README's python3 is Debian's, which the set-up gives NumPy (a pyenv or venv python3 earlier on the PATH may lack it).
        File.CreateSymbolicLink(Path.Combine(bin, "python3"), NumPy.Python);
        var psi = new ProcessStartInfo("bash", ["-c", commandLine + " 2>&1"])
        {
            WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        psi.Environment["PATH"] = bin + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(true);
            Assert.Fail($"`{commandLine}` did not finish within 5 minutes");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}

/// <summary>The shell commands of a README: indented code-block lines starting with <c>gcc-cli</c>, <c>python3</c> or <c>$ </c>, continued by a trailing backslash, each followed by the output it shows.</summary>
public static partial class ReadmeTour
{
    /// <summary>A command at README line <paramref name="Line"/>, in code block number <paramref name="Block"/>.</summary>
    public sealed record Command(int Line, int Block, string Text, IReadOnlyList<string> Expected)
    {
        public override string ToString() => $"README.md:{Line}: {(Text.Length <= 70 ? Text : Text[..67] + "...")}";
    }

    private static readonly string[] Programs = ["gcc-cli ", "python3 ", "cat ", "dotnet run --project tools/gcc-cli"];

    public static IReadOnlyList<Command> Parse(IReadOnlyList<string> lines)
    {
        var commands = new List<Command>();
        bool fenced = false;
        int block = 0;
        for (int i = 0; i < lines.Count; i++)
        {
            if (lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal)) fenced = !fenced;
            if (fenced || !lines[i].StartsWith("    ", StringComparison.Ordinal))
            {
                if (lines[i].Trim().Length > 0) block++;
                continue;
            }
            var text = lines[i].Trim();
            if (text.StartsWith("$ ", StringComparison.Ordinal)) text = text[2..];
            if (!Programs.Any(p => text.StartsWith(p, StringComparison.Ordinal))) continue;
            int start = i;
            while (text.EndsWith('\\') && i + 1 < lines.Count) text = text[..^1].TrimEnd() + " " + lines[++i].Trim();
            var expected = new List<string>();
            while (i + 1 < lines.Count && lines[i + 1].StartsWith("    ", StringComparison.Ordinal) && !IsCommand(lines[i + 1]))
                expected.Add(lines[++i].Trim());
            commands.Add(new Command(start + 1, block, text, expected));
        }
        return commands;
    }

    private static bool IsCommand(string line)
    {
        var text = line.Trim();
        if (text.StartsWith("$ ", StringComparison.Ordinal)) return true;
        return Programs.Any(p => text.StartsWith(p, StringComparison.Ordinal));
    }

    /// <summary>
    /// The first shown line that the output lacks, in order, or null. A line <c>...</c> skips any number of lines;
    /// inside a line <c>...</c> matches any text and a lone <c>X</c> any number.
    /// </summary>
    public static string? FirstUnmatched(IReadOnlyList<string> expected, IReadOnlyList<string> actual)
    {
        int at = 0;
        foreach (var line in expected)
        {
            if (line == "...") continue;
            var pattern = new Regex("^" + string.Join(".*", line.Split("...").Select(part => NumberWildcard().Replace(Regex.Escape(part), @"[0-9.]+"))) + "$");
            while (at < actual.Count && !pattern.IsMatch(actual[at].Trim())) at++;
            if (at == actual.Count) return line;
            at++;
        }
        return null;
    }

    /// <summary>A lone X (an escaped regex fragment still reads "X" there) standing for a measured number.</summary>
    [GeneratedRegex(@"(?<![A-Za-z0-9_])X(?![A-Za-z0-9_])")]
    private static partial Regex NumberWildcard();
}
