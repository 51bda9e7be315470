using System.Buffers.Binary;
using System.Numerics;

namespace GraphCompiler.Frontend.TensorFlow.Checkpoints;

/// <summary>CRC-32C (Castagnoli), as LevelDB tables and tensor bundles store it, plus LevelDB's masking.</summary>
public static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(0xFFFFFFFFu, data);

    /// <summary>Continues a raw (pre-inverted) CRC state.</summary>
    internal static uint Update(uint state, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            state = BitOperations.Crc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (var b in data) state = BitOperations.Crc32C(state, b);
        return state;
    }

    /// <summary>CRC of <paramref name="a"/> followed by <paramref name="b"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => ~Update(Update(0xFFFFFFFFu, a), b);

    // Masked so that a CRC stored inside CRC-covered data does not defeat it (LevelDB's crc32c::Mask).
    public static uint Mask(uint crc) => ((crc >> 15) | (crc << 17)) + 0xa282ead8u;

    public static uint Unmask(uint masked)
    {
        uint rot = masked - 0xa282ead8u;
        return (rot >> 17) | (rot << 15);
    }
}
