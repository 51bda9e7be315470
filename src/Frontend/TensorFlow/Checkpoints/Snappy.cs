namespace GraphCompiler.Frontend.TensorFlow.Checkpoints;

/// <summary>Raw Snappy decompression (the block format LevelDB tables use for compression type 1).</summary>
public static class Snappy
{
    /// <summary>The decompressed bytes, or null with the reason when the input is malformed.</summary>
    public static byte[]? Decompress(ReadOnlySpan<byte> input, long maxOutput, out string error)
    {
        error = "";
        int pos = 0;
        if (!TryVarint(input, ref pos, out ulong length) || length > (ulong)maxOutput || length > (ulong)Array.MaxLength)
        {
            error = "bad snappy length header";
            return null;
        }
        var output = new byte[length];
        int o = 0;
        while (pos < input.Length)
        {
            byte tag = input[pos++];
            int kind = tag & 3;
            if (kind == 0)
            {
                // Literal: length-1 in the tag's upper 6 bits, or in 1-4 following bytes.
                long len = tag >> 2;
                if (len >= 60)
                {
                    int extra = (int)len - 59;
                    if (pos + extra > input.Length) { error = "truncated snappy literal"; return null; }
                    len = 0;
                    for (int i = 0; i < extra; i++) len |= (long)input[pos + i] << (8 * i);
                    pos += extra;
                }
                len += 1;
                if (len > input.Length - pos || len > output.Length - o) { error = "snappy literal overruns its buffer"; return null; }
                input.Slice(pos, (int)len).CopyTo(output.AsSpan(o));
                pos += (int)len;
                o += (int)len;
                continue;
            }
            int copyLen;
            long offset;
            if (kind == 1)
            {
                if (pos >= input.Length) { error = "truncated snappy copy"; return null; }
                copyLen = 4 + ((tag >> 2) & 7);
                offset = ((tag >> 5) << 8) | input[pos++];
            }
            else
            {
                int bytes = kind == 2 ? 2 : 4;
                if (pos + bytes > input.Length) { error = "truncated snappy copy"; return null; }
                copyLen = 1 + (tag >> 2);
                offset = 0;
                for (int i = 0; i < bytes; i++) offset |= (long)input[pos + i] << (8 * i);
                pos += bytes;
            }
            if (offset <= 0 || offset > o || copyLen > output.Length - o) { error = "snappy copy out of range"; return null; }
            // Byte by byte: a copy may overlap its own output (run-length style).
            for (int i = 0; i < copyLen; i++, o++) output[o] = output[o - offset];
        }
        if (o != output.Length) { error = $"snappy data decodes to {o} bytes, header says {output.Length}"; return null; }
        return output;
    }

    internal static bool TryVarint(ReadOnlySpan<byte> s, ref int pos, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= s.Length) return false;
            byte b = s[pos++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return true;
        }
        return false;
    }
}
