using System.Collections;
using System.Globalization;
using System.Reflection;
using System.IO.Hashing;
using System.Text;
using GraphCompiler.IR;
using GraphCompiler.IR.Text;
using Module = GraphCompiler.IR.Module;

namespace GraphCompiler.Caching;

/// <summary>
/// The key of a cache entry: an XXH128 (docs/decisions.md) over what the compiled code depends on, so that anything that could change
/// the code changes the key. That is the kind of artefact (JIT or library); the model (the file's bytes, every
/// file of a SavedModel directory, or the printed IR of an in-memory module, whose large constants print as
/// content hashes); every <see cref="CompileOptions"/> property except those that cannot change the code
/// (<see cref="Ignored"/>), found by reflection so that an option added later is part of the key without
/// anyone remembering to add it; the target's identity (CPU name and features); and the compiler itself (the
/// informational version and the module version ids of the GraphCompiler assemblies, which change with any rebuild
/// that changes them).
/// </summary>
public static class CacheKey
{
    /// <summary>Options that decide nothing about the generated code (threads are a run-time argument).</summary>
    public static readonly IReadOnlySet<string> Ignored = new HashSet<string>
    {
        nameof(CompileOptions.Threads), nameof(CompileOptions.Cache), nameof(CompileOptions.CacheDirectory),
    };

    private static readonly Lazy<string> CompilerIdentity = new(ComputeCompilerIdentity);

    /// <summary>The key for compiling <paramref name="path"/> (or, when null, <paramref name="module"/>) with <paramref name="options"/>.</summary>
    public static string Compute(string kind, string? path, Module? module, CompileOptions options, string targetIdentity)
    {
        var h = new XxHash128();
        void Text(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            Span<byte> length = stackalloc byte[4];
            // Length-prefixed, so that ("ab", "c") and ("a", "bc") hash differently.
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(length, bytes.Length);
            h.Append(length);
            h.Append(bytes);
        }

        Text("graphcompiler-cache-2");
        Text(kind);
        Text(CompilerIdentity.Value);
        Text(targetIdentity);
        if (path is not null) AppendModelFiles(h, Text, path);
        else Text(Printer.Print(module ?? throw new ArgumentNullException(nameof(module)), PrintOptions.Default));
        foreach (var p in typeof(CompileOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            if (Ignored.Contains(p.Name)) continue;
            Text(p.Name);
            AppendValue(h, Text, p.GetValue(options));
        }
        // A tfcompile config is a file the options name: its contents matter, not its path alone.
        if (options.Config is { } config && File.Exists(config)) AppendModelFiles(h, Text, config);
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>A file's bytes, or every file under a directory (sorted relative paths with their bytes).</summary>
    private static void AppendModelFiles(NonCryptographicHashAlgorithm h, Action<string> text, string path)
    {
        if (Directory.Exists(path))
        {
            var files = Directory.GetFiles(path, "*", SearchOption.AllDirectories)
                .Select(f => (Relative: Path.GetRelativePath(path, f).Replace('\\', '/'), Full: f))
                .OrderBy(f => f.Relative, StringComparer.Ordinal);
            foreach (var (relative, full) in files)
            {
                text(relative);
                AppendFile(h, text, full);
            }
        }
        else
        {
            text("file");
            AppendFile(h, text, path);
        }
    }

    private static void AppendFile(NonCryptographicHashAlgorithm h, Action<string> text, string file)
    {
        using var stream = File.OpenRead(file);
        text(stream.Length.ToString(CultureInfo.InvariantCulture));
        var buffer = new byte[1 << 20];
        int n;
        while ((n = stream.Read(buffer)) > 0) h.Append(buffer.AsSpan(0, n));
    }

    private static void AppendValue(NonCryptographicHashAlgorithm h, Action<string> text, object? value)
    {
        switch (value)
        {
            case null:
                text("\0null");
                break;
            case string s:
                text("s:" + s);
                break;
            case Tensor t:
                text("t:" + t.Type);
                h.Append(t.Bytes);
                break;
            case IDictionary d:
                var keys = d.Keys.Cast<object>().Select(k => Convert.ToString(k, CultureInfo.InvariantCulture) ?? "").OrderBy(k => k, StringComparer.Ordinal).ToList();
                text($"d:{keys.Count}");
                foreach (var k in keys)
                {
                    text(k);
                    AppendValue(h, text, d[k]);
                }
                break;
            case IEnumerable e:
                var items = e.Cast<object?>().ToList();
                text($"l:{items.Count}");
                foreach (var item in items) AppendValue(h, text, item);
                break;
            case IFormattable f:
                text("v:" + f.ToString(null, CultureInfo.InvariantCulture));
                break;
            default:
                // Records (FeedSpec) print their members.
                text("o:" + value);
                break;
        }
    }

    private static string ComputeCompilerIdentity()
    {
        var root = typeof(CacheKey).Assembly;
        var version = root.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
        var seen = new SortedDictionary<string, Guid>(StringComparer.Ordinal);
        var pending = new Stack<Assembly>([root]);
        while (pending.TryPop(out var a))
        {
            var name = a.GetName().Name ?? "";
            if (!name.StartsWith("GraphCompiler", StringComparison.Ordinal) || seen.ContainsKey(name)) continue;
            seen[name] = a.ManifestModule.ModuleVersionId;
            foreach (var reference in a.GetReferencedAssemblies())
                if (reference.Name?.StartsWith("GraphCompiler", StringComparison.Ordinal) == true && !seen.ContainsKey(reference.Name))
                    pending.Push(Assembly.Load(reference));
        }
        return version + "|" + string.Join(",", seen.Select(kv => $"{kv.Key}={kv.Value}"));
    }
}
