using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace GraphCompiler.Frontend.Tensors;

/// <summary>
/// Opens an external data file named by a model (ONNX <c>external_data</c> location) only when it is a
/// regular file inside the model's folder once every symbolic link on the way has been resolved: a link
/// to <c>/etc/passwd</c>, a <c>../</c> path, a FIFO (which would block the reader), a device, a socket or
/// a directory is refused before anything is opened, and the opened handle is checked again.
/// </summary>
internal static class ExternalDataFile
{
    private const int MaxLinks = 40; // as Linux's ELOOP limit

    /// <summary>
    /// Opens <paramref name="location"/> (relative to <paramref name="modelDirectory"/>) for reading, or
    /// says why not (the message names neither the tensor nor the location; the caller adds them).
    /// </summary>
    public static FileStream? Open(string modelDirectory, string location, out string? problem)
    {
        problem = null;
        if (Path.IsPathRooted(location) || location.Contains('\0'))
        {
            problem = "must be relative to the model's folder";
            return null;
        }
        string root, path;
        try
        {
            root = RealPath(Path.GetFullPath(modelDirectory));
            var lexical = Path.GetFullPath(Path.Combine(Path.GetFullPath(modelDirectory), location));
            if (!IsInside(Path.GetFullPath(modelDirectory), lexical))
            {
                problem = "leaves the model's folder";
                return null;
            }
            path = RealPath(lexical);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            problem = $"cannot be resolved: {e.Message}";
            return null;
        }
        if (!IsInside(root, path))
        {
            problem = $"resolves (through symbolic links) to {path}, outside the model's folder";
            return null;
        }
        if (FileKind(path, handle: null) is { } kind && kind != "a regular file")
        {
            problem = $"is {kind}, not a regular file";
            return null;
        }
        if (Directory.Exists(path))
        {
            problem = "is a directory, not a regular file";
            return null;
        }
        if (!File.Exists(path))
        {
            problem = $"does not exist beside the model (looked for {path})";
            return null;
        }
        FileStream f;
        try
        {
            // The resolved path has no links left; the handle is checked again in case the file was swapped.
            f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.None);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problem = $"cannot be opened: {e.Message}";
            return null;
        }
        if ((FileKind(path, f.SafeFileHandle) is { } opened && opened != "a regular file") || !f.CanSeek)
        {
            f.Dispose();
            problem = "is not a regular file";
            return null;
        }
        return f;
    }

    private static bool IsInside(string root, string path)
    {
        var prefix = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return path.StartsWith(prefix, comparison);
    }

    /// <summary>
    /// The canonical absolute path, as realpath(3): each component is resolved in turn, and a symbolic
    /// link's target (relative to the link's folder) replaces it, so <c>..</c> inside a link's target
    /// is applied to where the link really is. Components that do not exist are kept as they are.
    /// </summary>
    internal static string RealPath(string fullPath)
    {
        var rootPart = Path.GetPathRoot(fullPath) ?? "";
        var pending = new Stack<string>(fullPath[rootPart.Length..]
            .Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar).Where(s => s.Length > 0).Reverse());
        var current = rootPart;
        int links = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }
            var next = Path.Combine(current, part);
            var target = new FileInfo(next).LinkTarget;
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks) throw new IOException($"too many levels of symbolic links at {next}");
            var targetRoot = Path.GetPathRoot(target) ?? "";
            if (targetRoot.Length > 0) current = targetRoot; // an absolute target starts again from its root
            foreach (var p in target[targetRoot.Length..].Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar)
                         .Where(s => s.Length > 0).Reverse())
                pending.Push(p);
        }
        return current;
    }

    // ---- file type (Unix) ---------------------------------------------------------------------------
    // .NET has no public API for the file type beyond "directory": FileAttributes of a FIFO, a device
    // or a socket read as Normal. The runtime's own stat wrappers (System.Native, shipped with every
    // .NET on Unix) report it in a layout that does not depend on the platform: Flags then Mode.

    private const int S_IFMT = 0xF000, S_IFIFO = 0x1000, S_IFCHR = 0x2000, S_IFDIR = 0x4000, S_IFBLK = 0x6000,
        S_IFREG = 0x8000, S_IFLNK = 0xA000, S_IFSOCK = 0xC000;

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_LStat", SetLastError = true)]
    private static extern int LStat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] status);

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_FStat", SetLastError = true)]
    private static extern int FStat(SafeFileHandle fd, byte[] status);

    /// <summary>What kind of file this is ("a regular file", "a FIFO", ...), or null where that cannot be told.</summary>
    private static string? FileKind(string path, SafeFileHandle? handle)
    {
        if (OperatingSystem.IsWindows()) return null;
        var status = new byte[512]; // FileStatus is ~130 bytes; room to spare
        int rc;
        try
        {
            rc = handle is null ? LStat(path, status) : FStat(handle, status);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        if (rc != 0) return null;
        int mode = BitConverter.ToInt32(status, 4);
        return (mode & S_IFMT) switch
        {
            S_IFREG => "a regular file",
            S_IFIFO => "a FIFO (named pipe)",
            S_IFCHR => "a character device",
            S_IFBLK => "a block device",
            S_IFDIR => "a directory",
            S_IFLNK => "a symbolic link",
            S_IFSOCK => "a socket",
            _ => $"of unknown type (mode 0x{mode:x})",
        };
    }
}
