using GraphCompiler.IR.Targets;

namespace GraphCompiler.Caching;

/// <summary>An ahead-of-time compilation's files, summary and arena size as one cache payload.</summary>
internal static class CachedArtifacts
{
    // Bumped whenever the layout changes, so an entry of another layout reads as a miss.
    private const string Magic = "GCAOT1";

    /// <summary>The payload, as a view of the stream's buffer (no copy of what may be hundreds of megabytes).</summary>
    public static ArraySegment<byte> Write(TargetArtifacts a)
    {
        var stream = new MemoryStream(checked((int)Math.Min(int.MaxValue, a.Files.Sum(f => (long)f.Data.Length) + 4096)));
        using (var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(a.Summary);
            w.Write(a.ArenaBytes);
            w.Write(a.Files.Count);
            foreach (var (name, data) in a.Files)
            {
                w.Write(name);
                w.Write(data.Length);
                w.Write(data);
            }
        }
        return new ArraySegment<byte>(stream.GetBuffer(), 0, (int)stream.Length);
    }

    /// <summary>The artefacts, or null when the payload is not one of this layout (the caller recompiles).</summary>
    public static TargetArtifacts? Read(ArraySegment<byte> payload)
    {
        try
        {
            using var r = new BinaryReader(new MemoryStream(payload.Array!, payload.Offset, payload.Count));
            if (r.ReadString() != Magic) return null;
            var summary = r.ReadString();
            var arena = r.ReadInt64();
            var files = new List<(string, byte[])>();
            for (int n = r.ReadInt32(); n > 0; n--)
            {
                var name = r.ReadString();
                var length = r.ReadInt32();
                var data = r.ReadBytes(length);
                if (data.Length != length) return null;
                files.Add((name, data));
            }
            return r.BaseStream.Position == payload.Count ? new TargetArtifacts(files, summary, arena) : null;
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ArgumentException)
        {
            return null;
        }
    }
}
