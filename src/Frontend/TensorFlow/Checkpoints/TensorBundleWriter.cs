using System.Buffers.Binary;
using System.Text;
using Google.Protobuf;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.IR;
using TfDataType = GraphCompiler.Frontend.Proto.TensorFlow.DataType;

namespace GraphCompiler.Frontend.TensorFlow.Checkpoints;

/// <summary>
/// Writes a TensorFlow checkpoint (a tensor bundle, what <c>tf.train.Saver</c> and SavedModels store):
/// <c>PREFIX.data-00000-of-00001</c> holds the tensors' bytes back to back, and <c>PREFIX.index</c> is a
/// LevelDB-format sorted table mapping "" to the <see cref="BundleHeaderProto"/> and each name to its
/// <see cref="BundleEntryProto"/> (type, shape, offset, size, masked CRC-32C of the bytes). One data block
/// with a restart point per entry, an empty meta-index block, an index block and the 48-byte footer, each
/// block uncompressed and checksummed — the layout <see cref="SsTable"/> and TensorFlow read. Both files are
/// written in full beside their targets (flushed to disk) before either is moved into place, the index last:
/// an index is only ever seen beside the complete data it describes, so a process killed mid-write (or a
/// machine that loses power) leaves the previous checkpoint or the new one, never a mix or half of one.
/// </summary>
public static class TensorBundleWriter
{
    private const int FooterSize = 48;

    public static void Write(string prefix, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        var sorted = tensors.OrderBy(t => Encoding.UTF8.GetBytes(t.Key), ByteOrder.Instance).ToList();
        var data = new MemoryStream();
        var rows = new List<(byte[] Key, byte[] Value)>
        {
            ([], new BundleHeaderProto { NumShards = 1, Endianness = BundleHeaderProto.Types.Endianness.Little, Version = new VersionDef { Producer = 1 } }.ToByteArray()),
        };
        foreach (var (name, t) in sorted)
        {
            if (name.Length == 0) throw new ArgumentException("a checkpoint variable needs a name");
            var shape = new TensorShapeProto();
            foreach (var d in t.Type.Shape) shape.Dim.Add(new TensorShapeProto.Types.Dim { Size = d });
            var bytes = t.Bytes;
            rows.Add((Encoding.UTF8.GetBytes(name), new BundleEntryProto
            {
                Dtype = ToTensorFlow(t.Element),
                Shape = shape,
                ShardId = 0,
                Offset = data.Length,
                Size = bytes.Length,
                Crc32C = Crc32C.Mask(Crc32C.Compute(bytes)),
            }.ToByteArray()));
            data.Write(bytes);
        }
        var dataPath = $"{prefix}.data-00000-of-00001";
        var indexPath = $"{prefix}.index";
        var dataTemp = WriteTemporary(dataPath, data.ToArray());
        var indexTemp = WriteTemporary(indexPath, Table(rows));
        File.Move(dataTemp, dataPath, overwrite: true);
        File.Move(indexTemp, indexPath, overwrite: true); // last: the index is what readers open first
    }

    /// <summary>The suffix of a file still being written (readers never open it; the next write replaces it).</summary>
    public const string TemporarySuffix = ".tmp";

    /// <summary>Writes <paramref name="bytes"/> beside <paramref name="path"/> and flushes them to disk; returns the temporary's path.</summary>
    private static string WriteTemporary(string path, byte[] bytes)
    {
        var temp = path + TemporarySuffix;
        using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            f.Write(bytes);
            f.Flush(flushToDisk: true); // a rename must not reach the disk before the bytes it names
        }
        return temp;
    }

    /// <summary>The sorted table of <paramref name="rows"/> (already in key order).</summary>
    private static byte[] Table(List<(byte[] Key, byte[] Value)> rows)
    {
        var file = new MemoryStream();
        var dataHandle = AppendBlock(file, Block(rows));
        var metaHandle = AppendBlock(file, Block([]));
        var lastKey = rows.Count > 0 ? rows[^1].Key : [];
        var indexHandle = AppendBlock(file, Block([(lastKey, Handle(dataHandle))]));
        var footer = new byte[FooterSize];
        var handles = Handle(metaHandle).Concat(Handle(indexHandle)).ToArray();
        handles.CopyTo(footer, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(footer.AsSpan(FooterSize - 8), SsTable.Magic);
        file.Write(footer);
        return file.ToArray();
    }

    /// <summary>A block: entries with no shared prefix (each its own restart point), the restart offsets, their count.</summary>
    private static byte[] Block(IReadOnlyList<(byte[] Key, byte[] Value)> rows)
    {
        var b = new MemoryStream();
        var restarts = new List<uint>();
        foreach (var (key, value) in rows)
        {
            restarts.Add((uint)b.Length);
            Varint(b, 0);
            Varint(b, (ulong)key.Length);
            Varint(b, (ulong)value.Length);
            b.Write(key);
            b.Write(value);
        }
        if (restarts.Count == 0) restarts.Add(0);
        Span<byte> word = stackalloc byte[4];
        foreach (var r in restarts)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(word, r);
            b.Write(word);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(word, (uint)restarts.Count);
        b.Write(word);
        return b.ToArray();
    }

    /// <summary>Appends the block, its compression type (0: none) and the masked CRC-32C of both; returns its offset and size.</summary>
    private static (ulong Offset, ulong Size) AppendBlock(MemoryStream file, byte[] block)
    {
        ulong offset = (ulong)file.Length;
        file.Write(block);
        byte[] type = [0];
        file.Write(type);
        Span<byte> crc = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(crc, Crc32C.Mask(Crc32C.Compute(block, type)));
        file.Write(crc);
        return (offset, (ulong)block.Length);
    }

    private static byte[] Handle((ulong Offset, ulong Size) h)
    {
        var s = new MemoryStream();
        Varint(s, h.Offset);
        Varint(s, h.Size);
        return s.ToArray();
    }

    private static void Varint(Stream s, ulong v)
    {
        while (v >= 0x80)
        {
            s.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        s.WriteByte((byte)v);
    }

    private static TfDataType ToTensorFlow(ElementType e) => e switch
    {
        ElementType.F32 => TfDataType.DtFloat,
        ElementType.F64 => TfDataType.DtDouble,
        ElementType.F16 => TfDataType.DtHalf,
        ElementType.BF16 => TfDataType.DtBfloat16,
        ElementType.I8 => TfDataType.DtInt8,
        ElementType.I16 => TfDataType.DtInt16,
        ElementType.I32 => TfDataType.DtInt32,
        ElementType.I64 => TfDataType.DtInt64,
        ElementType.U8 => TfDataType.DtUint8,
        ElementType.U16 => TfDataType.DtUint16,
        ElementType.U32 => TfDataType.DtUint32,
        ElementType.U64 => TfDataType.DtUint64,
        ElementType.Bool => TfDataType.DtBool,
        _ => throw new ArgumentException($"{e} has no TensorFlow type"),
    };

    /// <summary>Bytewise key order, as the table requires.</summary>
    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();
        public int Compare(byte[]? a, byte[]? b) => a.AsSpan().SequenceCompareTo(b);
    }
}
