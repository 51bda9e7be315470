using System.Buffers.Binary;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Checkpoints;

/// <summary>One key/value pair of a table.</summary>
public sealed record TableEntry(byte[] Key, byte[] Value);

/// <summary>
/// Reader for the immutable sorted tables TensorFlow writes as checkpoint indexes (LevelDB's
/// format: data blocks of prefix-compressed keys with restart points, an index block of block
/// handles, a 48-byte footer ending in a magic number; each block followed by a compression-type
/// byte and a masked CRC-32C). Corruption is reported, never thrown.
/// </summary>
public static class SsTable
{
    public const ulong Magic = 0xdb4775248b80fb57UL;
    private const int FooterSize = 48;
    private const int TrailerSize = 5;

    public static Result<IReadOnlyList<TableEntry>> ReadAll(byte[] file, string fileName)
    {
        string? error = null;
        var entries = new List<TableEntry>();
        if (file.Length < FooterSize)
            error = $"file of {file.Length} bytes is too short for a table footer ({FooterSize} bytes)";
        else if (BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(file.Length - 8)) != Magic)
            error = "bad table magic number (not a TensorFlow checkpoint index)";
        else
        {
            var footer = file.AsSpan(file.Length - FooterSize, FooterSize - 8);
            int pos = 0;
            if (!TryHandle(footer, ref pos, out _, out _) || !TryHandle(footer, ref pos, out ulong indexOffset, out ulong indexSize))
                error = "bad block handles in the table footer";
            else
            {
                var index = ReadBlock(file, indexOffset, indexSize, "index block", out error);
                if (index is not null)
                {
                    var handles = ParseBlock(index, "index block", out error);
                    foreach (var h in handles ?? [])
                    {
                        int hp = 0;
                        if (!TryHandle(h.Value, ref hp, out ulong off, out ulong size))
                        {
                            error = "bad block handle in the index block";
                            break;
                        }
                        var block = ReadBlock(file, off, size, $"data block at offset {off}", out error);
                        var items = block is null ? null : ParseBlock(block, $"data block at offset {off}", out error);
                        if (items is null) break;
                        entries.AddRange(items);
                    }
                }
            }
        }
        return error is null
            ? Result<IReadOnlyList<TableEntry>>.Success(entries)
            : Result<IReadOnlyList<TableEntry>>.Failure(new Diagnostic($"{fileName}: corrupt checkpoint index: {error}"));
    }

    private static bool TryHandle(ReadOnlySpan<byte> s, ref int pos, out ulong offset, out ulong size)
    {
        size = 0;
        return Snappy.TryVarint(s, ref pos, out offset) && Snappy.TryVarint(s, ref pos, out size);
    }

    /// <summary>A block's contents after checking its CRC and undoing its compression.</summary>
    private static byte[]? ReadBlock(byte[] file, ulong offset, ulong size, string what, out string? error)
    {
        error = null;
        ulong limit = (ulong)(file.Length - FooterSize);
        if (offset > limit || size > limit - offset || size + TrailerSize > limit - offset)
        {
            error = $"{what} (offset {offset}, size {size}) lies outside the file";
            return null;
        }
        var contents = file.AsSpan((int)offset, (int)size);
        byte type = file[(int)(offset + size)];
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan((int)(offset + size) + 1));
        uint actual = Crc32C.Compute(contents, file.AsSpan((int)(offset + size), 1));
        if (Crc32C.Unmask(stored) != actual)
        {
            error = $"{what}: checksum mismatch (stored {Crc32C.Unmask(stored):x8}, computed {actual:x8})";
            return null;
        }
        switch (type)
        {
            case 0: return contents.ToArray();
            case 1:
                var d = Snappy.Decompress(contents, 32L * contents.Length + 64, out var snappyError);
                if (d is null) error = $"{what}: {snappyError}";
                return d;
            default:
                error = $"{what}: unknown compression type {type}";
                return null;
        }
    }

    /// <summary>Entries of one block: shared-prefix length, suffix length, value length, suffix, value; then restart offsets and their count.</summary>
    private static List<TableEntry>? ParseBlock(byte[] block, string what, out string? error)
    {
        error = null;
        if (block.Length < 4)
        {
            error = $"{what} is too short ({block.Length} bytes)";
            return null;
        }
        uint restarts = BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(block.Length - 4));
        if (restarts > (uint)(block.Length - 4) / 4)
        {
            error = $"{what}: restart count {restarts} does not fit the block";
            return null;
        }
        int end = block.Length - 4 - (int)restarts * 4;
        for (int r = 0; r < restarts; r++)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(end + 4 * r)) > (uint)end)
            {
                error = $"{what}: restart point {r} lies outside the entries";
                return null;
            }
        }
        var result = new List<TableEntry>();
        byte[] last = [];
        int pos = 0;
        long keyBytes = 0; // shared prefixes could otherwise make a small block expand quadratically
        long keyBudget = 64L * block.Length + 4096;
        while (pos < end)
        {
            var s = block.AsSpan(0, end);
            if (!Snappy.TryVarint(s, ref pos, out ulong shared) || !Snappy.TryVarint(s, ref pos, out ulong unshared)
                || !Snappy.TryVarint(s, ref pos, out ulong valueLen))
            {
                error = $"{what}: truncated entry header at offset {pos}";
                return null;
            }
            if (shared > (ulong)last.Length || unshared > (ulong)(end - pos) || valueLen > (ulong)(end - pos) - unshared)
            {
                error = $"{what}: entry at offset {pos} overruns the block";
                return null;
            }
            keyBytes += (long)shared + (long)unshared;
            if (keyBytes > keyBudget)
            {
                error = $"{what}: implausibly long shared key prefixes";
                return null;
            }
            var key = new byte[(int)shared + (int)unshared];
            last.AsSpan(0, (int)shared).CopyTo(key);
            s.Slice(pos, (int)unshared).CopyTo(key.AsSpan((int)shared));
            pos += (int)unshared;
            var value = s.Slice(pos, (int)valueLen).ToArray();
            pos += (int)valueLen;
            result.Add(new TableEntry(key, value));
            last = key;
        }
        return result;
    }
}
