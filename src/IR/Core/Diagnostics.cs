namespace GraphCompiler.IR;

/// <summary>A position in a source file (1-based line and column).</summary>
public readonly record struct SourceLocation(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}

/// <summary>
/// A user-facing error: one line, naming what and where. <see cref="Code"/> classifies errors that
/// tools treat specially (e.g. <see cref="UnsupportedOp"/>: an op, type or feature the compiler does
/// not take, which the conformance runner reports as SKIP).
/// </summary>
public sealed record Diagnostic(string Message, SourceLocation? Location = null, string? Code = null)
{
    public const string UnsupportedOp = "unsupported-op";

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
