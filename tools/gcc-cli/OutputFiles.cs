using GraphCompiler.IR;

namespace GraphCompiler.Cli;

/// <summary>
/// The <c>--output</c> options of <c>run</c>, matched to a function's results, as IREE's tools take them:
/// <c>NAME=@FILE.npy</c> (or <c>NAME=FILE.npy</c>) for the result named NAME (or <c>resultN</c>), and
/// <c>@FILE.npy</c> for the next result, in order, not given by name.
/// </summary>
internal static class OutputFiles
{
    /// <summary>One file path per result of <paramref name="f"/>, null where no <c>--output</c> names it.</summary>
    public static Result<string?[]> Resolve(Function f, IEnumerable<string> specs)
    {
        var names = Enumerable.Range(0, f.ResultTypes.Length).Select(f.ResultName).ToArray();
        var files = new string?[names.Length];
        var positional = new List<string>();
        foreach (var spec in specs)
        {
            if (spec.StartsWith('@'))
            {
                if (spec.Length == 1) return Fail("--output '@': give a file after '@' (e.g. @out.npy)");
                positional.Add(spec[1..]);
                continue;
            }
            int eq = spec.IndexOf('=');
            if (eq <= 0 || eq == spec.Length - 1)
                return Fail($"--output '{spec}': expected NAME=@FILE.npy or @FILE.npy");
            var name = spec[..eq];
            var file = spec[(eq + 1)..].TrimStart('@');
            int index = Array.IndexOf(names, name);
            if (index < 0) return Fail($"--output '{spec}': @{f.Name} has no result named '{name}' (its results: {string.Join(", ", names)})");
            if (files[index] is not null) return Fail($"--output '{name}' is given twice");
            files[index] = file;
        }
        int next = 0;
        foreach (var file in positional)
        {
            while (next < files.Length && files[next] is not null) next++;
            if (next == files.Length) return Fail($"--output '@{file}': every result of @{f.Name} already has a file ({names.Length} results)");
            files[next] = file;
        }
        var twice = files.Where(p => p is not null).GroupBy(p => Path.GetFullPath(p!)).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) return Fail($"--output: two results would be written to '{twice.First()}'");
        return Result<string?[]>.Success(files);
    }

    private static Result<string?[]> Fail(string message) => Result<string?[]>.Failure(new Diagnostic(message));
}
