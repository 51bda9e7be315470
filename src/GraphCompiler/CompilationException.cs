using GraphCompiler.IR;

namespace GraphCompiler;

/// <summary>
/// The one exception <see cref="CompiledModel.Compile(string, CompileOptions?)"/> throws for a model it
/// cannot compile: unreadable or malformed file, unsupported op, bad option. <see cref="Diagnostics"/>
/// holds every problem (one line each); <see cref="Exception.Message"/> is the first, with a count of the rest.
/// </summary>
public sealed class CompilationException(IReadOnlyList<Diagnostic> diagnostics) : Exception(Summarize(diagnostics))
{
    public IReadOnlyList<Diagnostic> Diagnostics { get; } = diagnostics;

    /// <summary>The first diagnostic on one line, and how many more there are.</summary>
    public static string Summarize(IReadOnlyList<Diagnostic> diagnostics)
    {
        if (diagnostics.Count == 0) return "error: compilation failed";
        var first = diagnostics[0].ToString().ReplaceLineEndings(" ");
        var more = diagnostics.Count - 1;
        return more == 0 ? first : $"{first} (and {more} more problem{(more == 1 ? "" : "s")})";
    }
}
