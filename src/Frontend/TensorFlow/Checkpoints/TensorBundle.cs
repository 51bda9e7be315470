using System.Text;
using Google.Protobuf;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Checkpoints;

/// <summary>A checkpoint entry that <see cref="TensorBundle.ReadAll"/> left out, and why.</summary>
public sealed record SkippedVariable(string Name, string Reason);

/// <summary>The numeric variables of a checkpoint, by name, and the entries that are not numeric tensors.</summary>
public sealed record CheckpointVariables(IReadOnlyDictionary<string, Tensor> Tensors, IReadOnlyList<SkippedVariable> Skipped);

/// <summary>
/// A TensorFlow V2 checkpoint ("tensor bundle"): <c>PREFIX.index</c>, a table from variable name to
/// <see cref="BundleEntryProto"/> (the empty key holds the <see cref="BundleHeaderProto"/>), and
/// <c>PREFIX.data-NNNNN-of-MMMMM</c> shards holding the raw little-endian tensor bytes.
/// </summary>
public sealed class TensorBundle
{
    public string Prefix { get; }
    public BundleHeaderProto Header { get; }

    /// <summary>Entries by variable name, in the table's (sorted) order.</summary>
    public IReadOnlyDictionary<string, BundleEntryProto> Entries { get; }

    public IReadOnlyList<string> Names { get; }

    private TensorBundle(string prefix, BundleHeaderProto header, Dictionary<string, BundleEntryProto> entries, List<string> names)
    {
        Prefix = prefix;
        Header = header;
        Entries = entries;
        Names = names;
    }

    /// <summary>
    /// Opens a bundle given its prefix (<c>.../variables/variables</c>), its <c>.index</c> file, or a
    /// SavedModel's <c>variables</c> folder.
    /// </summary>
    public static Result<TensorBundle> Open(string path)
    {
        string prefix = path.EndsWith(".index", StringComparison.Ordinal) ? path[..^".index".Length]
            : Directory.Exists(path) ? Path.Combine(path, "variables")
            : path;
        string indexPath = prefix + ".index";
        var bytes = Protobuf.ProtoFiles.ReadAllBytes(indexPath);
        if (bytes.Value is not { } data) return Result<TensorBundle>.Failure(bytes.Diagnostics);
        var table = SsTable.ReadAll(data, indexPath);
        if (table.Value is not { } rows) return Result<TensorBundle>.Failure(table.Diagnostics);

        BundleHeaderProto? header = null;
        var entries = new Dictionary<string, BundleEntryProto>(StringComparer.Ordinal);
        var names = new List<string>();
        foreach (var row in rows)
        {
            var name = Encoding.UTF8.GetString(row.Key);
            try
            {
                if (row.Key.Length == 0)
                {
                    header = BundleHeaderProto.Parser.ParseFrom(row.Value);
                    continue;
                }
                if (entries.TryAdd(name, BundleEntryProto.Parser.ParseFrom(row.Value))) names.Add(name);
                else return Fail($"{indexPath}: corrupt checkpoint index: entry '{name}' appears twice");
            }
            catch (InvalidProtocolBufferException e)
            {
                return Result<TensorBundle>.Failure(Protobuf.ProtoFiles.NotValid(indexPath,
                    row.Key.Length == 0 ? nameof(BundleHeaderProto) : $"{nameof(BundleEntryProto)} (entry '{name}')", e.Message));
            }
        }
        if (header is null) return Fail($"{indexPath}: checkpoint index has no header entry (empty key)");
        if (header.Endianness != BundleHeaderProto.Types.Endianness.Little)
            return Fail($"{indexPath}: checkpoint was written big-endian; only little-endian bundles are supported");
        if (header.NumShards < 1 && entries.Count > 0)
            return Fail($"{indexPath}: checkpoint header declares {header.NumShards} data shards");
        return Result<TensorBundle>.Success(new TensorBundle(prefix, header, entries, names));
    }

    public string ShardPath(int shard) => $"{Prefix}.data-{shard:D5}-of-{Header.NumShards:D5}";

    /// <summary>One variable's value; non-numeric types, partitioned variables and bad data are diagnostics naming it.</summary>
    public Result<Tensor> ReadTensor(string name)
    {
        if (!Entries.TryGetValue(name, out var entry))
            return FailTensor($"{Prefix}: checkpoint has no variable '{name}'");
        string what = $"checkpoint variable '{name}'";
        if (entry.Slices.Count > 0)
            return FailTensor($"{what} is partitioned into {entry.Slices.Count} slices, which is not supported");
        if (!FrameworkElementTypes.TryFromTensorFlow(entry.Dtype, out var element, out var reason))
            return FailTensor($"{what}: {reason}");
        var dims = TensorProtoConverter.TensorFlowShape(entry.Shape, what);
        if (dims.Value is not { } shape) return Result<Tensor>.Failure(dims.Diagnostics);
        var checkedType = TensorProtoConverter.CheckedType(element, shape, what);
        if (checkedType.Value is not { } type) return Result<Tensor>.Failure(checkedType.Diagnostics);
        if (entry.Size != type.ByteSize)
            return FailTensor($"{what}: entry says {entry.Size} bytes, but {type} needs {type.ByteSize}");
        if (entry.ShardId < 0 || entry.ShardId >= Header.NumShards)
            return FailTensor($"{what}: shard {entry.ShardId} is not among the {Header.NumShards} data files");
        if (entry.Offset < 0) return FailTensor($"{what}: negative offset {entry.Offset}");
        var path = ShardPath(entry.ShardId);
        byte[] bytes;
        try
        {
            if (!File.Exists(path)) return FailTensor($"{what}: data file {path} does not exist");
            using var f = File.OpenRead(path);
            if (entry.Offset > f.Length || entry.Size > f.Length - entry.Offset)
                return FailTensor($"{what}: bytes [{entry.Offset}, {entry.Offset + entry.Size}) lie past the end of {path} ({f.Length} bytes)");
            bytes = new byte[entry.Size];
            f.Seek(entry.Offset, SeekOrigin.Begin);
            f.ReadExactly(bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return FailTensor($"{what}: cannot read {path}: {e.Message}");
        }
        uint crc = Crc32C.Compute(bytes);
        if (Crc32C.Unmask(entry.Crc32C) != crc)
            return FailTensor($"{what}: checksum mismatch in {path} (stored {Crc32C.Unmask(entry.Crc32C):x8}, computed {crc:x8}); the checkpoint is corrupt");
        if (element == ElementType.Bool)
            for (int i = 0; i < bytes.Length; i++) bytes[i] = bytes[i] != 0 ? (byte)1 : (byte)0;
        return Result<Tensor>.Success(Tensor.FromBytes(type, bytes));
    }

    /// <summary>
    /// Every numeric variable. Entries whose type is not numeric (strings such as TF2's
    /// <c>_CHECKPOINTABLE_OBJECT_GRAPH</c>, resources, variants) are listed in Skipped; any other
    /// problem fails the whole read.
    /// </summary>
    public Result<CheckpointVariables> ReadAll()
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var skipped = new List<SkippedVariable>();
        var errors = new List<Diagnostic>();
        foreach (var name in Names)
        {
            var entry = Entries[name];
            if (!FrameworkElementTypes.TryFromTensorFlow(entry.Dtype, out _, out var reason))
            {
                skipped.Add(new SkippedVariable(name, reason));
                continue;
            }
            var t = ReadTensor(name);
            if (t.Value is { } value) tensors[name] = value;
            else errors.AddRange(t.Diagnostics);
        }
        return errors.Count == 0
            ? Result<CheckpointVariables>.Success(new CheckpointVariables(tensors, skipped))
            : Result<CheckpointVariables>.Failure(errors);
    }

    private static Result<TensorBundle> Fail(string message) => Result<TensorBundle>.Failure(new Diagnostic(message));
    private static Result<Tensor> FailTensor(string message) => Result<Tensor>.Failure(new Diagnostic(message));
}
