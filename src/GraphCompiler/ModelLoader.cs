using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Onnx;
using GraphCompiler.Frontend.TensorFlow;
using GraphCompiler.IR;
using GraphCompiler.IR.Text;

namespace GraphCompiler;

/// <summary>
/// Loads a model of any supported format into IR. The format is chosen by <see cref="Detect"/>
/// (extension, then content); each format is one branch of <see cref="Load"/>.
/// </summary>
public static partial class ModelLoader
{
    public enum Format { Ir, Onnx, TensorFlow }

    /// <summary>The formats, for messages.</summary>
    public const string Supported = ".ir (GraphCompiler IR text), .onnx (ONNX ModelProto), .pb/.pbtxt (TensorFlow GraphDef), a SavedModel directory";

    public static Result<Module> Load(string path, ImportOptions options)
    {
        if (!File.Exists(path) && !Directory.Exists(path))
            return Result<Module>.Failure(new Diagnostic($"{path}: no such file"));
        var format = Detect(path);
        if (format is null)
            return Result<Module>.Failure(new Diagnostic($"{path}: unknown model format (supported: {Supported})"));
        if (format != Format.TensorFlow && (options.Signature is not null || options.Tags is not null || options.ConfigPath is not null))
            return Result<Module>.Failure(new Diagnostic($"{path}: a signature, tags and a tfcompile config apply to TensorFlow models, not {(format == Format.Ir ? "IR files" : "ONNX models")}"));
        switch (format.Value)
        {
            case Format.Ir:
                if (options.Feeds.Count > 0 || options.Fetches.Count > 0 || options.ConstantInputs.Count > 0)
                    return Result<Module>.Failure(new Diagnostic($"{path}: feeds, fetches and constant inputs apply to imported models, not IR files"));
                return Parser.ParseFile(path);
            case Format.Onnx:
                return Importing(path, () => OnnxImporter.Import(path, options));
            case Format.TensorFlow:
                return Importing(path, () => TensorFlowImporter.Import(path, options));
            default:
                throw new InvalidOperationException($"format {format} has no loader");
        }
    }

    /// <summary>The format of a model path: by extension, else by sniffing the first bytes; null if unknown.</summary>
    public static Format? Detect(string path)
    {
        if (Directory.Exists(path))
            return File.Exists(Path.Combine(path, "saved_model.pb")) || File.Exists(Path.Combine(path, "saved_model.pbtxt")) ? Format.TensorFlow : null;
        switch (Path.GetExtension(path).ToLowerInvariant())
        {
            case ".ir": return Format.Ir;
            case ".onnx": return Format.Onnx;
            case ".pb" or ".pbtxt" or ".meta": return Format.TensorFlow;
        }
        Span<byte> head = stackalloc byte[64];
        int n;
        try
        {
            using var s = File.OpenRead(path);
            n = s.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var text = System.Text.Encoding.UTF8.GetString(head[..n]).TrimStart();
        // IR text starts with a comment or a function; an ONNX ModelProto with field 1 (ir_version, varint).
        if (text.StartsWith("func ", StringComparison.Ordinal) || text.StartsWith("//", StringComparison.Ordinal)) return Format.Ir;
        if (n > 0 && head[0] == 0x08) return Format.Onnx;
        // A GraphDef in text format starts with its first node (after comments).
        if (text.StartsWith("node {", StringComparison.Ordinal) || text.StartsWith("node{", StringComparison.Ordinal)) return Format.TensorFlow;
        return null;
    }

    /// <summary>Runs an importer; a file that cannot be read becomes a diagnostic naming it.</summary>
    private static Result<Module> Importing(string path, Func<Result<Module>> import)
    {
        try
        {
            return import();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Result<Module>.Failure(new Diagnostic($"{path}: {e.Message}"));
        }
    }

    /// <summary>TensorFlow/NumPy dtype names and the element types they denote (our own names are accepted too).</summary>
    private static readonly (string Name, ElementType Type)[] TensorFlowDTypes =
    [
        ("float16", ElementType.F16), ("half", ElementType.F16), ("bfloat16", ElementType.BF16),
        ("float32", ElementType.F32), ("float64", ElementType.F64), ("double", ElementType.F64),
        ("int8", ElementType.I8), ("int16", ElementType.I16), ("int32", ElementType.I32), ("int64", ElementType.I64),
        ("uint8", ElementType.U8), ("uint16", ElementType.U16), ("uint32", ElementType.U32), ("uint64", ElementType.U64),
    ];

    /// <summary>The dtype names <see cref="TryParseDType"/> accepts, for messages: ours, then TensorFlow/NumPy's.</summary>
    public static string KnownDTypes =>
        string.Join(", ", Enum.GetValues<ElementType>().Select(t => t.Name())) + "; or as TensorFlow/NumPy spell them: "
        + string.Join(", ", TensorFlowDTypes.Select(d => d.Name));

    /// <summary>An element type by our name (<c>f32</c>, <c>i64</c>, <c>bool</c>) or TensorFlow/NumPy's (<c>float32</c>, <c>int64</c>, <c>bfloat16</c>).</summary>
    public static bool TryParseDType(string name, out ElementType type)
    {
        if (ElementTypes.TryParse(name, out type)) return true;
        foreach (var (n, t) in TensorFlowDTypes)
        {
            if (n != name) continue;
            type = t;
            return true;
        }
        return false;
    }

    /// <summary>Parses <c>NAME</c> or <c>NAME:dtype[d0,d1,...]</c> (the name may itself contain ':'); the dtype in our spelling or TensorFlow/NumPy's.</summary>
    public static Result<FeedSpec> ParseFeed(string spec)
    {
        var m = FeedPattern().Match(spec);
        if (!m.Success) return spec.Length > 0 && !spec.EndsWith(']')
            ? Result<FeedSpec>.Success(new FeedSpec(spec))
            : Result<FeedSpec>.Failure(new Diagnostic($"feed '{spec}' must be NAME or NAME:dtype[d0,d1,...] (e.g. x:f32[1,28,28])"));
        if (!TryParseDType(m.Groups[2].Value, out var dtype))
            return Result<FeedSpec>.Failure(new Diagnostic($"feed '{spec}': unknown dtype '{m.Groups[2].Value}' (known: {KnownDTypes})"));
        var dims = ImmutableArray.CreateBuilder<long>();
        foreach (var d in m.Groups[3].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!long.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                return Result<FeedSpec>.Failure(new Diagnostic($"feed '{spec}': dimension '{d}' is not a non-negative integer"));
            dims.Add(v);
        }
        if (dims.Count > TensorType.MaxRank)
            return Result<FeedSpec>.Failure(new Diagnostic($"feed '{spec}': rank {dims.Count} exceeds {TensorType.MaxRank}"));
        return Result<FeedSpec>.Success(new FeedSpec(m.Groups[1].Value, new TensorType(dtype, dims.ToImmutable())));
    }

    [GeneratedRegex(@"^(.+):([a-z0-9]+)\[([^\]]*)\]$")]
    private static partial Regex FeedPattern();
}
