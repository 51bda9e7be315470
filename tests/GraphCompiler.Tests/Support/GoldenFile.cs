namespace GraphCompiler.Tests;

/// <summary>
/// A file-driven IR test (<c>tests/ir/&lt;folder&gt;/*.ir</c>):
/// <code>
/// // pipeline: NAME[,NAME...]
/// &lt;input IR&gt;
/// // ----- expected -----
/// &lt;expected output: printed IR, or the diagnostics when the input is rejected&gt;
/// </code>
/// Setting <c>UPDATE_GOLDEN=1</c> rewrites the expected section with the actual output.
/// </summary>
public sealed record GoldenFile(string Path, string Pipeline, string Input, string Expected, int InputFirstLine)
{
    public const string Separator = "// ----- expected -----";

    public static GoldenFile Load(string path)
    {
        var text = File.ReadAllText(path).ReplaceLineEndings("\n");
        var lines = text.Split('\n');
        var header = lines.FirstOrDefault() ?? "";
        const string prefix = "// pipeline:";
        if (!header.StartsWith(prefix, StringComparison.Ordinal))
            throw new InvalidDataException($"{path}:1: a golden test starts with '{prefix} NAME[,NAME...]'");
        int sep = Array.IndexOf(lines, Separator);
        var input = string.Join("\n", lines[1..(sep < 0 ? lines.Length : sep)]);
        var expected = sep < 0 ? "" : string.Join("\n", lines[(sep + 1)..]);
        return new GoldenFile(path, header[prefix.Length..].Trim(), input, expected.TrimEnd('\n') + "\n", 2);
    }

    /// <summary>Input lines are offset by the header so that diagnostics name the file's real line numbers.</summary>
    public string InputWithHeaderPadding => "\n" + Input;

    public void Rewrite(string actual)
    {
        var header = $"// pipeline: {Pipeline}";
        File.WriteAllText(Path, header + "\n" + Input.TrimEnd('\n') + "\n" + Separator + "\n" + actual.TrimEnd('\n') + "\n");
    }

    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(System.IO.Path.Combine(d.FullName, "GraphCompiler.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("cannot find the repository root (GraphCompiler.sln) above " + AppContext.BaseDirectory);
    }

    /// <summary>Every golden file, as repo-relative paths (the theory's case names).</summary>
    public static IEnumerable<object[]> All()
    {
        var root = System.IO.Path.Combine(RepoRoot(), "tests", "ir");
        return Directory.EnumerateFiles(root, "*.ir", SearchOption.AllDirectories)
            .Select(p => System.IO.Path.GetRelativePath(RepoRoot(), p).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .Select(p => new object[] { p });
    }
}

/// <summary>A small line diff (longest common subsequence) for golden mismatches.</summary>
public static class TextDiff
{
    public static string Unified(string expected, string actual)
    {
        var a = expected.Split('\n');
        var b = actual.Split('\n');
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (int i = a.Length - 1; i >= 0; i--)
            for (int j = b.Length - 1; j >= 0; j--)
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
        var sb = new System.Text.StringBuilder();
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                sb.Append("  ").AppendLine(a[x]);
                x++;
                y++;
            }
            else if (y < b.Length && (x == a.Length || lcs[x, y + 1] >= lcs[x + 1, y]))
                sb.Append("+ ").AppendLine(b[y++]);
            else sb.Append("- ").AppendLine(a[x++]);
        }
        return sb.ToString();
    }
}
