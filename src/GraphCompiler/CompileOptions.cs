using GraphCompiler.Frontend;
using GraphCompiler.IR;

namespace GraphCompiler;

/// <summary>How <see cref="CompiledModel.Compile(string, CompileOptions?)"/> loads, optimises and compiles a model.</summary>
public sealed record CompileOptions
{
    /// <summary>An imported model's inputs (name, and optionally a type that fixes unknown dimensions); empty: the model's own.</summary>
    public IReadOnlyList<FeedSpec> Feeds { get; init; } = [];

    /// <summary>An imported model's outputs to compute; empty: the model's own.</summary>
    public IReadOnlyList<string> Fetches { get; init; } = [];

    /// <summary>Imported-model inputs bound to values at compile time (shapes, axes); they are not inputs of the compiled model.</summary>
    public IReadOnlyDictionary<string, Tensor> Constants { get; init; } = new Dictionary<string, Tensor>();

    /// <summary>SavedModel: the signature key (default <c>serving_default</c>, else the only one).</summary>
    public string? Signature { get; init; }

    /// <summary>SavedModel: the MetaGraph tag set, comma-separated (default <c>serve</c>).</summary>
    public string? Tags { get; init; }

    /// <summary>The function to compile (default: <c>main</c>, else the first).</summary>
    public string? Function { get; init; }

    /// <summary>The most threads a run may use; 0: <c>GC_NUM_THREADS</c>, else every core. Changeable later with <see cref="CompiledModel.Threads"/>.</summary>
    public int Threads { get; init; }

    /// <summary>The CPU to generate code for: null or <c>host</c> (this machine), <c>x86-64</c>, <c>x86-64-v2</c>, <c>-v3</c>, <c>-v4</c>.</summary>
    public string? Target { get; init; }

    /// <summary>The pass pipeline run before code generation: a name (<c>default</c>) or <c>none</c>.</summary>
    public string Pipeline { get; init; } = "default";

    /// <summary>The import options these options imply (for <see cref="ModelLoader.Load"/>).</summary>
    public ImportOptions ToImportOptions() => new()
    {
        Feeds = Feeds,
        Fetches = Fetches,
        ConstantInputs = Constants,
        Signature = Signature,
        Tags = Tags,
    };
}
