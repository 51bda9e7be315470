using System.CommandLine;
using GraphCompiler.Frontend;
using GraphCompiler.IR;

namespace GraphCompiler.Cli;

/// <summary>
/// The model argument and the options every command that loads a model shares: <c>--feed</c>,
/// <c>--fetch</c>, <c>--constant</c> (imported models only; see docs/cpu-backend.md).
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

    /// <summary>The import options the command line gives (each spec checked, each .npy read).</summary>
    public Result<ImportOptions> ImportOptions(ParseResult r)
    {
        var feeds = new List<FeedSpec>();
        foreach (var spec in r.GetValue(Feeds) ?? [])
        {
            var f = ModelLoader.ParseFeed(spec);
            if (!f.Ok) return Result<ImportOptions>.Failure(f.Diagnostics);
            feeds.Add(f.Value!);
        }
        var constants = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var spec in r.GetValue(Constants) ?? [])
        {
            var c = ModelLoader.ParseNamedNpy(spec, "--constant");
            if (!c.Ok) return Result<ImportOptions>.Failure(c.Diagnostics);
            if (!constants.TryAdd(c.Value!.Name, c.Value.Value))
                return Result<ImportOptions>.Failure(new Diagnostic($"--constant '{c.Value.Name}' is given twice"));
        }
        return Result<ImportOptions>.Success(new ImportOptions { Feeds = feeds, Fetches = r.GetValue(Fetches) ?? [], ConstantInputs = constants });
    }

    /// <summary>Loads the model named by <paramref name="path"/> with the command line's import options.</summary>
    public Result<Module> Load(string path, ParseResult r)
    {
        var options = ImportOptions(r);
        return options.Ok ? ModelLoader.Load(path, options.Value!) : Result<Module>.Failure(options.Diagnostics);
    }
}
