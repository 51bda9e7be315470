using System.Globalization;
using System.Text.RegularExpressions;
using GraphCompiler.IR;

namespace GraphCompiler.Cli;

/// <summary>The argument values a run was given, in argument order, and the names of the arguments given on the command line.</summary>
internal sealed record InputValues(IReadOnlyList<Tensor> Values, IReadOnlySet<string> Given);

/// <summary>
/// The <c>--input</c> options of <c>run</c> and <c>bench</c>, matched to a function's arguments. Each is one of
/// <list type="bullet">
/// <item><c>NAME=FILE.npy</c> or <c>NAME=@FILE.npy</c>: the argument's value from a .npy file;</item>
/// <item><c>NAME=2x4xf32=1,2,3,4,5,6,7,8</c>: inline values, row-major (one value fills the shape: a splat);</item>
/// <item><c>2x4xf32=1,2,...</c> or <c>@FILE.npy</c>: the same for the next argument, in order, that is not given by name (as IREE's tools take them).</item>
/// </list>
/// The type (dimensions, then the element type as <c>f32</c> or <c>float32</c>; <c>f32</c> alone for a scalar) must be the argument's.
/// </summary>
internal static partial class InputFiles
{
    public const string Forms = "NAME=FILE.npy, NAME=@FILE.npy, NAME=TYPE=VALUES, or TYPE=VALUES or @FILE.npy for the next argument (e.g. x=2x4xf32=1,2,3,4,5,6,7,8; x=2x4xf32=0 fills the shape)";

    /// <summary>One <c>--input</c>: a file, or an inline type and values; <see cref="Name"/> null for a positional one.</summary>
    private sealed record Spec(string Text, string? Name, string? File, ElementType Element, long[] Dims, string Values);

    /// <summary>
    /// One tensor per argument of <paramref name="f"/>, in order: from its <c>--input</c> (type checked), else from
    /// <paramref name="missing"/> (null: a missing input is an error).
    /// </summary>
    public static Result<InputValues> Read(Function f, IEnumerable<string> specs, Func<int, Tensor>? missing = null)
    {
        var argNames = Enumerable.Range(0, f.Arguments.Length).Select(f.ArgumentName).ToArray();
        var expected = string.Join(", ", Enumerable.Range(0, f.Arguments.Length).Select(i => $"{argNames[i]}: {f.Arguments[i].Type}"));
        var byName = new Dictionary<string, Spec>(StringComparer.Ordinal);
        var positional = new List<Spec>();
        foreach (var text in specs)
        {
            var spec = Parse(text, argNames);
            if (!spec.Ok) return Result<InputValues>.Failure(spec.Diagnostics);
            var s = spec.Value!;
            if (s.Name is null) positional.Add(s);
            else if (!byName.TryAdd(s.Name, s)) return Fail($"--input '{s.Name}' is given twice");
        }
        var unknown = byName.Keys.FirstOrDefault(name => !argNames.Contains(name));
        if (unknown is not null) return Fail($"@{f.Name} has no argument named '{unknown}' (it takes {expected})");

        // Positional values go to the arguments not given by name, in order.
        var specFor = new Spec?[argNames.Length];
        for (int i = 0; i < argNames.Length; i++) specFor[i] = byName.GetValueOrDefault(argNames[i]);
        int next = 0;
        foreach (var s in positional)
        {
            while (next < specFor.Length && specFor[next] is not null) next++;
            if (next == specFor.Length)
                return Fail($"--input '{Short(s.Text)}': every argument of @{f.Name} is already given (it takes {expected})");
            specFor[next] = s;
        }

        var args = new List<Tensor>();
        var given = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < argNames.Length; i++)
        {
            var name = argNames[i];
            var type = f.Arguments[i].Type;
            if (specFor[i] is not { } s)
            {
                if (missing is null) return Fail($"missing --input {name}=FILE.npy (@{f.Name} takes {expected})");
                args.Add(missing(i));
                continue;
            }
            given.Add(name);
            if (s.File is { } npyPath)
            {
                var t = Npy.ReadFile(npyPath);
                if (!t.Ok) return Result<InputValues>.Failure(t.Diagnostics);
                if (t.Value!.Type != type)
                    return Fail($"{npyPath}: input '{name}' is {t.Value.Type}, @{f.Name} expects {type}");
                args.Add(t.Value);
                continue;
            }
            if (s.Element != type.Element || !s.Dims.AsSpan().SequenceEqual(type.Shape.AsSpan()))
                return Fail($"--input '{Short(s.Text)}': input '{name}' is {TypeText(s.Element, s.Dims)}, @{f.Name} expects {type}");
            var value = Inline(name, type, s.Values);
            if (!value.Ok) return Result<InputValues>.Failure(value.Diagnostics);
            args.Add(value.Value!);
        }
        return Result<InputValues>.Success(new InputValues(args, given));
    }

    private static Result<Spec> Parse(string text, string[] argNames)
    {
        // @FILE.npy: the next argument not given by name, from a file (IREE's --input=@x.npy).
        if (text.StartsWith('@'))
        {
            if (text.Length == 1) return Result<Spec>.Failure(new Diagnostic("--input '@': no file after '@'"));
            return Result<Spec>.Success(new Spec(text, null, text[1..], default, [], ""));
        }
        int eq = text.IndexOf('=');
        if (eq <= 0 || eq == text.Length - 1 && !LooksLikeType(text[..eq]))
            return Result<Spec>.Failure(new Diagnostic($"--input '{Short(text)}' must be {Forms}"));
        string head = text[..eq], rest = text[(eq + 1)..];

        // TYPE=VALUES for the next argument (unless an argument is called, say, 'f32').
        if (!argNames.Contains(head) && LooksLikeType(head)) return Inline(text, null, head, rest);

        if (rest.StartsWith('@'))
        {
            if (rest.Length == 1) return Result<Spec>.Failure(new Diagnostic($"--input '{Short(text)}': no file after '@'"));
            return Result<Spec>.Success(new Spec(text, head, rest[1..], default, [], ""));
        }
        int eq2 = rest.IndexOf('=');
        if (eq2 > 0 && LooksLikeType(rest[..eq2])) return Inline(text, head, rest[..eq2], rest[(eq2 + 1)..]);
        if (rest.Length == 0) return Result<Spec>.Failure(new Diagnostic($"--input '{Short(text)}' must be {Forms}"));
        return Result<Spec>.Success(new Spec(text, head, rest, default, [], ""));
    }

    /// <summary>An inline spec: <paramref name="type"/> is <c>DxDx...xDTYPE</c>.</summary>
    private static Result<Spec> Inline(string text, string? name, string type, string values)
    {
        var m = TypePattern().Match(type);
        var what = name is null ? $"--input '{Short(text)}'" : $"--input '{name}'";
        if (!ModelLoader.TryParseDType(m.Groups[2].Value, out var element))
            return Result<Spec>.Failure(new Diagnostic($"{what}: unknown element type '{m.Groups[2].Value}' (known: {ModelLoader.KnownDTypes})"));
        var dimTexts = m.Groups[1].Value.Split('x', StringSplitOptions.RemoveEmptyEntries);
        if (dimTexts.Length > TensorType.MaxRank)
            return Result<Spec>.Failure(new Diagnostic($"{what}: rank {dimTexts.Length} exceeds {TensorType.MaxRank}"));
        var dims = new long[dimTexts.Length];
        for (int i = 0; i < dims.Length; i++)
            if (!long.TryParse(dimTexts[i], NumberStyles.None, CultureInfo.InvariantCulture, out dims[i]))
                return Result<Spec>.Failure(new Diagnostic($"{what}: dimension '{dimTexts[i]}' is too large"));
        return Result<Spec>.Success(new Spec(text, name, null, element, dims, values));
    }

    /// <summary>A type literal: dimensions then a word (<c>2x4xf32</c>, <c>f32</c>), or dimensions with an unknown element type (reported as such).</summary>
    private static bool LooksLikeType(string s)
    {
        var m = TypePattern().Match(s);
        return m.Success && (m.Groups[1].Length > 0 || ModelLoader.TryParseDType(m.Groups[2].Value, out _));
    }

    [GeneratedRegex(@"^((?:[0-9]+x)*)([A-Za-z][A-Za-z0-9]*)$")]
    private static partial Regex TypePattern();

    /// <summary>The inline values of argument <paramref name="name"/> (its type already checked): one per element, or one for all.</summary>
    private static Result<Tensor> Inline(string name, TensorType type, string values)
    {
        var items = values.Length == 0 ? [] : values.Split(',', StringSplitOptions.TrimEntries);
        long count = type.ElementCount;
        if (items.Length != count && items.Length != 1)
            return Result<Tensor>.Failure(new Diagnostic(
                $"--input '{name}': {items.Length} value(s) for {type} ({count} element(s); or one value to fill it)"));
        var buffer = new TensorBuffer(type);
        for (int k = 0; k < items.Length; k++)
        {
            var error = Set(buffer, k, items[k]);
            if (error is not null) return Result<Tensor>.Failure(new Diagnostic($"--input '{name}': value {k} '{Short(items[k])}' {error}"));
        }
        if (items.Length == 1)
        {
            // A splat: the first element's bytes fill the rest.
            int size = type.Element.ByteSize();
            var bytes = buffer.RawBytes;
            for (long i = 1; i < count; i++) bytes[..size].CopyTo(bytes[(int)(i * size)..]);
        }
        return Result<Tensor>.Success(buffer.ToTensor());
    }

    /// <summary>Stores <paramref name="text"/> at element <paramref name="i"/>; null, or why it is not a value of the element type.</summary>
    private static string? Set(TensorBuffer buffer, long i, string text)
    {
        var e = buffer.Element;
        if (e.IsFloat())
        {
            double v;
            switch (text.ToLowerInvariant())
            {
                case "nan" or "+nan" or "-nan": v = double.NaN; break;
                case "inf" or "+inf" or "infinity" or "+infinity": v = double.PositiveInfinity; break;
                case "-inf" or "-infinity": v = double.NegativeInfinity; break;
                default:
                    if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out v))
                        return $"is not a number (a {e.Name()} value)";
                    break;
            }
            buffer.SetDouble(i, v);
            return null;
        }
        if (e.IsBool())
        {
            switch (text.ToLowerInvariant())
            {
                case "true" or "1": buffer.SetBool(i, true); return null;
                case "false" or "0": buffer.SetBool(i, false); return null;
                default: return "is not a bool (true, false, 1 or 0)";
            }
        }
        if (e.IsUnsignedInteger())
        {
            if (!ulong.TryParse(text, NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out var u))
                return $"is not a {e.Name()} value (an integer in [0, {MaxUnsigned(e)}])";
            if (u > MaxUnsigned(e)) return $"is out of range for {e.Name()} ([0, {MaxUnsigned(e)}])";
            buffer.SetInt64(i, unchecked((long)u));
            return null;
        }
        var (lo, hi) = SignedRange(e);
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var s))
            return $"is not a {e.Name()} value (an integer in [{lo}, {hi}])";
        if (s < lo || s > hi) return $"is out of range for {e.Name()} ([{lo}, {hi}])";
        buffer.SetInt64(i, s);
        return null;
    }

    private static ulong MaxUnsigned(ElementType e) => e switch
    {
        ElementType.U8 => byte.MaxValue,
        ElementType.U16 => ushort.MaxValue,
        ElementType.U32 => uint.MaxValue,
        _ => ulong.MaxValue,
    };

    private static (long Lo, long Hi) SignedRange(ElementType e) => e switch
    {
        ElementType.I8 => (sbyte.MinValue, sbyte.MaxValue),
        ElementType.I16 => (short.MinValue, short.MaxValue),
        ElementType.I32 => (int.MinValue, int.MaxValue),
        _ => (long.MinValue, long.MaxValue),
    };

    private static string TypeText(ElementType e, long[] dims) =>
        dims.Length == 0 ? $"tensor<{e.Name()}>" : $"tensor<{string.Join("x", dims)}x{e.Name()}>";

    /// <summary>A spec for a message: long inline value lists are cut.</summary>
    private static string Short(string s) => s.Length <= 60 ? s : s[..57] + "...";

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

    private static Result<InputValues> Fail(string message) => Result<InputValues>.Failure(new Diagnostic(message));
}
