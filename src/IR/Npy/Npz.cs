using System.IO.Compression;

namespace GraphCompiler.IR;

/// <summary>
/// NumPy's <c>.npz</c>: a zip archive of <c>NAME.npy</c> members (what <c>numpy.savez</c> writes and
/// <c>numpy.load</c> reads). Written stored (uncompressed) with a fixed timestamp, so the same tensors give
/// the same bytes; read with the same checks as single <c>.npy</c> files, and a member name may not leave
/// the archive (no <c>..</c>, no absolute path).
/// </summary>
public static class Npz
{
    private static readonly DateTimeOffset FixedTime = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The archive's bytes.</summary>
    public static byte[] Write(IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, t) in tensors)
            {
                var entry = zip.CreateEntry(name + ".npy", CompressionLevel.NoCompression);
                entry.LastWriteTime = FixedTime;
                using var s = entry.Open();
                s.Write(Npy.Write(t));
            }
        }
        return stream.ToArray();
    }

    public static void WriteFile(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        // Written beside the target and moved into place, so a failure leaves no half-written archive.
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, Write(tensors));
        File.Move(temp, path, overwrite: true);
    }

    public static Result<IReadOnlyDictionary<string, Tensor>> ReadFile(string path)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var entry in zip.Entries)
            {
                var name = entry.FullName;
                if (!name.EndsWith(".npy", StringComparison.Ordinal) || name.Contains("..", StringComparison.Ordinal) || name.StartsWith('/'))
                    return Fail(path, $"member '{name}' is not a NAME.npy inside the archive");
                if (entry.Length > int.MaxValue) return Fail(path, $"member '{name}' is larger than 2 GiB");
                using var s = entry.Open();
                var bytes = new byte[entry.Length];
                s.ReadExactly(bytes);
                var t = Npy.Read(bytes);
                if (!t.Ok) return Fail(path, $"member '{name}': {t.Diagnostics[0].Message}");
                result[name[..^4]] = t.Value!;
            }
            return Result<IReadOnlyDictionary<string, Tensor>>.Success(result);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return Fail(path, e.Message);
        }
    }

    private static Result<IReadOnlyDictionary<string, Tensor>> Fail(string path, string message) =>
        Result<IReadOnlyDictionary<string, Tensor>>.Failure(new Diagnostic($"{path}: {message}"));
}
