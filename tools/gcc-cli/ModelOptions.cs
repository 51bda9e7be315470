using System.CommandLine;
using GraphCompiler.Frontend;
using GraphCompiler.IR;

namespace GraphCompiler.Cli;

/// <summary>
/// The model argument and the options every command that loads a model shares: <c>--feed</c>,
/// <c>--fetch</c>, <c>--constant</c> (imported models only; see docs/cpu-backend.md). They map onto
/// <see cref="CompileOptions"/>; the driver loads the model.
/// </summary>
internal sealed class ModelOptions
{
    public Argument<string> Model { get; } = new("model") { Description = $"The model: {ModelLoader.Supported}." };

    public Option<string[]> Feeds { get; } = new("--feed") { Description = "An imported model's input as NAME or NAME:dtype[d0,d1,...] (fixes unknown dimensions). Repeat per input." };

    public Option<string[]> Fetches { get; } = new("--fetch") { Description = "An imported model's output to compute. Repeat per output; default: the model's outputs." };

    public Option<string[]> Constants { get; } = new("--constant") { Description = "Bind an imported model's input to a value at compile time: NAME=FILE.npy (shapes, axes). Repeat per input." };

    /// <summary>Adds the model argument (unless <paramref name="withArgument"/> is false) and the options to a command.</summary>
    public Command AddTo(Command command, bool withArgument = true)
    {
        if (withArgument) command.Arguments.Add(Model);
        command.Options.Add(Feeds);
        command.Options.Add(Fetches);
        command.Options.Add(Constants);
        return command;
    }

    /// <summary><paramref name="options"/> (default: new) with the command line's feeds, fetches and constants (each spec checked, each .npy read).</summary>
    public Result<CompileOptions> Apply(ParseResult r, CompileOptions? options = null)
    {
        var feeds = new List<FeedSpec>();
        foreach (var spec in r.GetValue(Feeds) ?? [])
        {
            var f = ModelLoader.ParseFeed(spec);
            if (!f.Ok) return Result<CompileOptions>.Failure(f.Diagnostics.Select(d => d with { Message = "--" + d.Message }).ToList());
            feeds.Add(f.Value!);
        }
        var constants = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var spec in r.GetValue(Constants) ?? [])
        {
            int eq = spec.LastIndexOf('=');
            if (eq <= 0 || eq == spec.Length - 1) return Result<CompileOptions>.Failure(new Diagnostic($"--constant '{spec}' must be NAME=FILE.npy"));
            var value = Npy.ReadFile(spec[(eq + 1)..]);
            if (!value.Ok) return Result<CompileOptions>.Failure(value.Diagnostics);
            if (!constants.TryAdd(spec[..eq], value.Value!))
                return Result<CompileOptions>.Failure(new Diagnostic($"--constant '{spec[..eq]}' is given twice"));
        }
        return Result<CompileOptions>.Success((options ?? new CompileOptions()) with { Feeds = feeds, Fetches = r.GetValue(Fetches) ?? [], Constants = constants });
    }
}
