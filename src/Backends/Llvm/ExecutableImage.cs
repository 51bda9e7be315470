using System.Buffers;
using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.IR;
using GraphCompiler.IR.Targets;

namespace GraphCompiler.Backends.Llvm;

/// <summary>
/// A JIT-compiled host program as bytes, for the compilation cache: the entry's name, arena size, its last-error
/// symbol and whether calls are serialised (collectives), signature
/// (argument and result names, types, variable updates), then the object files LLVM produced (the program's,
/// then its kernel library's), each at an offset that is a multiple of <see cref="ObjectAlignment"/>, then the
/// external constants' table and block (<see cref="JitConstants"/>) at a multiple of <see cref="JitConstants.Alignment"/>.
/// Loading it back links the objects into a fresh JIT, with no IR generation or LLVM optimisation, straight from
/// the image's memory (a mapped cache entry): the objects are parsed where they lie, and the weights are used
/// where they lie for as long as the executable lives, so a hit neither copies nor hashes them twice.
/// </summary>
public static class ExecutableImage
{
    // Bumped whenever the layout changes, so an image of another layout is refused rather than misread.
    private const string Magic = "GCEXE5";

    /// <summary>An object's offset in the image is a multiple of this (ELF readers want 8), so LLVM can parse it where it lies.</summary>
    public const int ObjectAlignment = 16;

    // A program's parts and its kernel library; the bound keeps a damaged count from asking for millions of reads.
    private const int MaxObjects = 1024;

    /// <summary>The image of <paramref name="executable"/>, or null when it kept no object file (or gave it away already).</summary>
    public static byte[]? Save(NativeExecutable executable)
    {
        if (executable.TakeObjectCode() is not { Count: > 0 } objects) return null;
        var p = executable.Program;
        var constants = executable.Constants;
        long size = objects.Sum(o => (long)o.Length + 4 + ObjectAlignment) + (constants?.Bytes ?? 0) + JitConstants.Alignment + 4096;
        if (size > Array.MaxLength) return null; // more than one array can hold: not cached
        // Sized up front: the weights can be hundreds of megabytes.
        using var stream = new MemoryStream((int)size);
        using (var w = new BinaryWriter(stream))
        {
            w.Write(Magic);
            w.Write(p.Name);
            w.Write(p.ArenaBytes);
            w.Write(executable.LastErrorSymbol ?? "");
            w.Write(executable.Serialized);
            WriteSignature(w, p.Signature);
            w.Write(objects.Count);
            foreach (var obj in objects)
            {
                w.Write(obj.Length);
                Pad(w, ObjectAlignment);
                w.Write(obj);
            }
            var entries = constants?.Entries ?? [];
            w.Write(entries.Count);
            foreach (var e in entries)
            {
                w.Write(e.Symbol);
                w.Write(e.Offset);
                w.Write(e.Length);
            }
            w.Write(constants?.Bytes ?? 0);
            Pad(w, JitConstants.Alignment);
            w.Flush();
            constants?.WriteTo(stream);
        }
        return stream.ToArray();
    }

    /// <summary>
    /// The executable an image describes, linked for <paramref name="target"/> (which must be the one it was compiled
    /// for). It takes <paramref name="image"/> over (a mapped cache entry, say): the weights are used where they lie
    /// and the image is released with the executable (at once when it cannot load).
    /// </summary>
    public static Result<CachedExecutable> Load(IMemoryOwner<byte> image, CpuTarget target, int threads) => Load(image.Memory, image, target, threads);

    /// <summary>As <see cref="Load(IMemoryOwner{byte}, CpuTarget, int)"/>, for an image the caller keeps: read only until this returns (the weights are copied).</summary>
    public static Result<CachedExecutable> Load(ReadOnlyMemory<byte> image, CpuTarget target, int threads) => Load(image, null, target, threads);

    private static unsafe Result<CachedExecutable> Load(ReadOnlyMemory<byte> image, IDisposable? owner, CpuTarget target, int threads)
    {
        bool ownerTaken = false;
        using var pin = image.Pin();
        try
        {
            var start = (byte*)pin.Pointer;
            HostProgram program;
            var objects = new List<(nint Start, int Length)>();
            string? lastError;
            bool serialize;
            JitConstants? constants = null;
            try
            {
                using var r = new BinaryReader(new UnmanagedMemoryStream(start, image.Length));
                if (r.ReadString() != Magic) return Fail("not an executable image of this version");
                var name = r.ReadString();
                var arena = r.ReadInt64();
                lastError = r.ReadString() is { Length: > 0 } symbol ? symbol : null;
                serialize = r.ReadBoolean();
                var signature = ReadSignature(r);
                int count = r.ReadInt32();
                if (count is < 1 or > MaxObjects) return Fail($"an executable image holds 1 to {MaxObjects} object files, this one says {count}");
                for (int i = 0; i < count; i++)
                {
                    int length = r.ReadInt32();
                    long offset = AlignUp(r.BaseStream.Position, ObjectAlignment);
                    if (length <= 0 || offset + length > image.Length) return Fail("truncated executable image");
                    objects.Add(((nint)(start + offset), length));
                    r.BaseStream.Position = offset + length;
                }
                var entries = new List<JitConstants.Entry>();
                count = r.ReadInt32();
                if (count < 0 || count > image.Length) return Fail("damaged executable image (constant count)");
                for (int i = 0; i < count; i++) entries.Add(new JitConstants.Entry(r.ReadString(), r.ReadInt64(), r.ReadInt64()));
                long bytes = r.ReadInt64();
                long block = AlignUp(r.BaseStream.Position, JitConstants.Alignment);
                if (bytes < 0 || block + bytes != image.Length) return Fail("truncated executable image");
                if (entries.Any(e => e.Offset < 0 || e.Length < 0 || e.Offset % JitConstants.Alignment != 0 || e.Offset + e.Length > bytes))
                    return Fail("damaged executable image (constant table)");
                program = new HostProgram(name, "", [], arena, signature);
                // In place, the weights keep the image (the mapping) alive as long as the executable.
                if (entries.Count > 0) constants = JitConstants.FromBlock(start + block, entries, bytes, owner, out ownerTaken);
            }
            catch (Exception e) when (e is EndOfStreamException or IOException or ArgumentException or InvalidDataException)
            {
                return Fail($"unreadable executable image: {e.Message}");
            }
            // LoadInPlace takes the constants (and disposes them if it fails); the objects are read until the entry
            // points are looked up, which links them, in NativeExecutable's constructor.
            var jit = LlvmJit.LoadInPlace(objects, target, program.Name, constants);
            if (!jit.Ok) return Result<CachedExecutable>.Failure(jit.Diagnostics);
            var exe = new NativeExecutable(jit.Value!, program, lastError, serialize) { Threads = threads };
            return Result<CachedExecutable>.Success(new CachedExecutable(exe, program.Signature));
        }
        finally
        {
            if (!ownerTaken) owner?.Dispose();
        }
    }

    private static void Pad(BinaryWriter w, int alignment)
    {
        while (w.BaseStream.Position % alignment != 0) w.Write((byte)0);
    }

    private static long AlignUp(long offset, int alignment) => (offset + alignment - 1) / alignment * alignment;

    private static void WriteSignature(BinaryWriter w, Function f)
    {
        w.Write(f.Name);
        w.Write(f.Arguments.Length);
        for (int i = 0; i < f.Arguments.Length; i++)
        {
            WriteName(w, f.ArgumentInfos[i].Name);
            w.Write(f.ArgumentInfos[i].IsVariable);
            WriteType(w, f.Arguments[i].Type);
        }
        w.Write(f.ResultTypes.Length);
        for (int i = 0; i < f.ResultTypes.Length; i++)
        {
            WriteName(w, f.ResultInfos[i].Name);
            w.Write(f.ResultInfos[i].Updates ?? -1);
            WriteType(w, f.ResultTypes[i]);
        }
    }

    /// <summary>A function with the recorded interface and an empty body: all the executable and its callers need of it.</summary>
    private static Function ReadSignature(BinaryReader r)
    {
        var name = r.ReadString();
        var args = new List<Value>();
        var argInfos = new List<ArgumentInfo>();
        for (int i = r.ReadInt32(); i > 0; i--)
        {
            argInfos.Add(new ArgumentInfo(ReadName(r), r.ReadBoolean()));
            args.Add(new Value(ReadType(r)));
        }
        var results = new List<TensorType>();
        var resultInfos = new List<ResultInfo>();
        for (int i = r.ReadInt32(); i > 0; i--)
        {
            var resultName = ReadName(r);
            var updates = r.ReadInt32();
            resultInfos.Add(new ResultInfo(resultName, updates < 0 ? null : updates));
            results.Add(ReadType(r));
        }
        return new Function(name, new Region([.. args], []), [.. results], [.. argInfos], [.. resultInfos]);
    }

    private static void WriteName(BinaryWriter w, string? name)
    {
        w.Write(name is not null);
        if (name is not null) w.Write(name);
    }

    private static string? ReadName(BinaryReader r) => r.ReadBoolean() ? r.ReadString() : null;

    private static void WriteType(BinaryWriter w, TensorType t)
    {
        w.Write((int)t.Element);
        w.Write(t.Rank);
        foreach (var d in t.Shape) w.Write(d);
    }

    private static TensorType ReadType(BinaryReader r)
    {
        var element = (ElementType)r.ReadInt32();
        if (!Enum.IsDefined(element)) throw new InvalidDataException($"element type {(int)element}");
        var rank = r.ReadInt32();
        if (rank is < 0 or > TensorType.MaxRank) throw new InvalidDataException($"rank {rank}");
        var shape = new long[rank];
        for (int i = 0; i < rank; i++) shape[i] = r.ReadInt64();
        return new TensorType(element, ImmutableArray.Create(shape));
    }

    private static Result<CachedExecutable> Fail(string message) => Result<CachedExecutable>.Failure(new Diagnostic(message));
}
