using System.CommandLine;
using GraphCompiler.Frontend;
using GraphCompiler.IR;

namespace GraphCompiler.Cli;

/// <summary>
/// The model argument and the options every command that loads a model shares: <c>--feed</c>,
/// <c>--fetch</c>, <c>--constant</c> (imported models only; see docs/cpu-backend.md), and TensorFlow's <c>--config</c>
/// (a tfcompile config), <c>--signature</c> and <c>--tags</c> (SavedModels; see docs/frontends.md). They map onto
/// <see cref="CompileOptions"/>; the driver loads the model.
/// </summary>
internal sealed class ModelOptions
{
    public Argument<string> Model { get; } = new("model") { Description = $"The model: {ModelLoader.Supported}." };

    public Option<string[]> Feeds { get; } = new("--feed") { Description = "An imported model's input as NAME or NAME:dtype[d0,d1,...] (fixes unknown dimensions; dtype as f32 or float32, i64 or int64, ...). Repeat per input." };

    public Option<string[]> Fetches { get; } = new("--fetch") { Description = "An imported model's output to compute. Repeat per output; default: the model's outputs." };

    public Option<string[]> Constants { get; } = new("--constant") { Description = "Bind an imported model's input to a value at compile time: NAME=FILE.npy (shapes, axes). Repeat per input." };

    public Option<string?> Config { get; } = new("--config") { Description = "TensorFlow: a tfcompile config (tf2xla.Config, text or binary) naming the feeds and fetches." };

    public Option<string?> Signature { get; } = new("--signature") { Description = "TensorFlow SavedModel: the signature key to import (default: serving_default, else the only one)." };

    public Option<string?> Tags { get; } = new("--tags") { Description = "TensorFlow SavedModel: the MetaGraph's tag set, comma-separated (default: serve)." };

    /// <summary>Adds the model argument (unless <paramref name="withArgument"/> is false) and the options to a command.</summary>
    public Command AddTo(Command command, bool withArgument = true)
    {
        if (withArgument) command.Arguments.Add(Model);
        command.Options.Add(Feeds);
        command.Options.Add(Fetches);
        command.Options.Add(Constants);
        command.Options.Add(Config);
        command.Options.Add(Signature);
        command.Options.Add(Tags);
        return command;
    }

    /// <summary><paramref name="options"/> (default: new) with the command line's feeds, fetches, constants (each spec checked, each .npy read), config, signature and tags.</summary>
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
        return Result<CompileOptions>.Success((options ?? new CompileOptions()) with
        {
            Feeds = feeds,
            Fetches = r.GetValue(Fetches) ?? [],
            Constants = constants,
            Config = r.GetValue(Config),
            Signature = r.GetValue(Signature),
            Tags = r.GetValue(Tags),
        });
    }
}
