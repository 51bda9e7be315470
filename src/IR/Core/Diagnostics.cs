namespace GraphCompiler.IR;

/// <summary>A position in a source file (1-based line and column).</summary>
public readonly record struct SourceLocation(string File, int Line, int Column)
{
    public override string ToString() => $"{Diagnostic.Printable(File)}:{Line}:{Column}";
}

/// <summary>
/// A user-facing error: one line, naming what and where. <see cref="Code"/> classifies errors that
/// tools treat specially (e.g. <see cref="UnsupportedOp"/>: an op, type or feature the compiler does
/// not take, which the conformance runner reports as SKIP).
/// </summary>
public sealed record Diagnostic(string Message, SourceLocation? Location = null, string? Code = null)
{
    public const string UnsupportedOp = "unsupported-op";

    private readonly string _message = Printable(Message);

    /// <summary>The message, with control and other invisible characters escaped (see <see cref="Printable"/>).</summary>
    public string Message { get => _message; init => _message = Printable(value); }

    /// <summary>
    /// Text quoted from input, made safe to show: control characters (terminal escape sequences, line
    /// breaks), Unicode format characters (bidirectional overrides), line/paragraph separators and lone
    /// surrogates become <c>\uXXXX</c>, so that a message is one line and shows exactly what was read.
    /// Every diagnostic's message goes through this, whichever frontend made it.
    /// </summary>
    public static string Printable(string s)
    {
        int i = 0;
        while (i < s.Length && !NeedsEscape(s, i)) i++;
        if (i == s.Length) return s;
        var sb = new System.Text.StringBuilder(s.Length + 16).Append(s, 0, i);
        for (; i < s.Length; i++)
        {
            if (NeedsEscape(s, i)) sb.Append($"\\u{(int)s[i]:x4}");
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }

    private static bool NeedsEscape(string s, int i)
    {
        char c = s[i];
        if (c < 0x20 || c == 0x7f) return true;
        if (c < 0x80) return false;
        if (char.IsHighSurrogate(c)) return i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1]);
        if (char.IsLowSurrogate(c)) return i == 0 || !char.IsHighSurrogate(s[i - 1]);
        return char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Control or System.Globalization.UnicodeCategory.Format
            or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator;
    }

    public override string ToString() => Location is { } l ? $"{l}: error: {Message}" : $"error: {Message}";
}

/// <summary>
/// Raised inside op definitions and the interpreter for invalid IR or input; always caught at the
/// API boundary (verifier, parser, interpreter) and turned into a <see cref="Diagnostic"/>.
/// </summary>
public sealed class IrException(string message, SourceLocation? location = null) : Exception(message)
{
    public SourceLocation? Location { get; } = location;
    public Diagnostic ToDiagnostic() => new(Message, Location);
}

/// <summary>Either a value or the diagnostics explaining why there is none.</summary>
public sealed class Result<T> where T : class
{
    public T? Value { get; }
    public IReadOnlyList<Diagnostic> Diagnostics { get; }
    public bool Ok => Value is not null;

    private Result(T? value, IReadOnlyList<Diagnostic> diagnostics)
    {
        Value = value;
        Diagnostics = diagnostics;
    }

    public static Result<T> Success(T value) => new(value, []);
    public static Result<T> Failure(params Diagnostic[] diagnostics) => new(null, diagnostics);
    public static Result<T> Failure(IReadOnlyList<Diagnostic> diagnostics) => new(null, diagnostics);

    public T Unwrap() => Value ?? throw new InvalidOperationException(string.Join("\n", Diagnostics));
}
