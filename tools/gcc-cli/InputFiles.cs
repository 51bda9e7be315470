using GraphCompiler.IR;

namespace GraphCompiler.Cli;

/// <summary>The <c>--input NAME=FILE.npy</c> options of <c>run</c> and <c>bench</c>, matched to a function's arguments.</summary>
internal static class InputFiles
{
    /// <summary>
    /// One tensor per argument of <paramref name="f"/>, in order: from its <c>--input</c> file (type
    /// checked), else from <paramref name="missing"/> (null: a missing input is an error).
    /// </summary>
    public static Result<IReadOnlyList<Tensor>> Read(Function f, IEnumerable<string> specs, Func<int, Tensor>? missing = null)
    {
        var given = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            int eq = spec.LastIndexOf('=');
            if (eq <= 0 || eq == spec.Length - 1) return Fail($"--input '{spec}' must be NAME=FILE.npy");
            if (!given.TryAdd(spec[..eq], spec[(eq + 1)..])) return Fail($"--input '{spec[..eq]}' is given twice");
        }
        var expected = string.Join(", ", Enumerable.Range(0, f.Arguments.Length).Select(i => $"{f.ArgumentName(i)}: {f.Arguments[i].Type}"));
        var unknown = given.Keys.FirstOrDefault(name => !Enumerable.Range(0, f.Arguments.Length).Any(i => f.ArgumentName(i) == name));
        if (unknown is not null) return Fail($"@{f.Name} has no argument named '{unknown}' (it takes {expected})");

        var args = new List<Tensor>();
        for (int i = 0; i < f.Arguments.Length; i++)
        {
            var name = f.ArgumentName(i);
            if (!given.TryGetValue(name, out var npyPath))
            {
                if (missing is null) return Fail($"missing --input {name}=FILE.npy (@{f.Name} takes {expected})");
                args.Add(missing(i));
                continue;
            }
            var t = Npy.ReadFile(npyPath);
            if (!t.Ok) return Result<IReadOnlyList<Tensor>>.Failure(t.Diagnostics);
            if (t.Value!.Type != f.Arguments[i].Type)
                return Fail($"{npyPath}: input '{name}' is {t.Value.Type}, @{f.Name} expects {f.Arguments[i].Type}");
            args.Add(t.Value);
        }
        return Result<IReadOnlyList<Tensor>>.Success(args);
    }

    /// <summary>
    /// A seeded random tensor of <paramref name="type"/>: floats uniform in [-1, 1), integers in [0, 4)
    /// (small, so that they also work as indices and sizes), bools 0/1 with equal odds.
    /// </summary>
    public static Tensor Random(TensorType type, Random random)
    {
        var buffer = new TensorBuffer(type);
        for (long i = 0; i < type.ElementCount; i++)
        {
            if (type.Element.IsFloat()) buffer.SetDouble(i, random.NextDouble() * 2 - 1);
            else if (type.Element.IsBool()) buffer.SetBool(i, random.Next(2) == 1);
            else buffer.SetInt64(i, random.Next(4));
        }
        return buffer.ToTensor();
    }

    private static Result<IReadOnlyList<Tensor>> Fail(string message) => Result<IReadOnlyList<Tensor>>.Failure(new Diagnostic(message));
}
