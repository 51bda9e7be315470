using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.IR;
using GraphCompiler.IR.Targets;

namespace GraphCompiler.Backends.Llvm;

/// <summary>
/// A JIT-compiled host program as bytes, for the compilation cache: the entry's name, arena size, its last-error
/// symbol and whether calls are serialised (collectives), signature
/// (argument and result names, types, variable updates), then the object files LLVM produced (the program's,
/// then its kernel library's). Loading it back links the objects into a fresh JIT, with no IR generation or
/// LLVM optimisation.
/// </summary>
public static class ExecutableImage
{
    // Bumped whenever the layout changes, so an image of another layout is refused rather than misread.
    private const string Magic = "GCEXE4";

    // A program's parts and its kernel library; the bound keeps a damaged count from asking for millions of reads.
    private const int MaxObjects = 1024;

    /// <summary>The image of <paramref name="executable"/>, or null when it kept no object file (or gave it away already).</summary>
    public static byte[]? Save(NativeExecutable executable)
    {
        if (executable.TakeObjectCode() is not { Count: > 0 } objects) return null;
        var p = executable.Program;
        // Sized up front: the program's object can be as large as the model's weights.
        using var stream = new MemoryStream(objects.Sum(o => o.Length + 4) + 4096);
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
                w.Write(obj);
            }
        }
        return stream.ToArray();
    }

    /// <summary>The executable an image describes, linked for <paramref name="target"/> (which must be the one it was compiled for).</summary>
    public static Result<CachedExecutable> Load(ArraySegment<byte> image, CpuTarget target, int threads)
    {
        HostProgram program;
        var objects = new List<byte[]>();
        string? lastError;
        bool serialize;
        try
        {
            using var r = new BinaryReader(new MemoryStream(image.Array!, image.Offset, image.Count));
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
                var obj = r.ReadBytes(r.ReadInt32());
                if (obj.Length == 0) return Fail("truncated executable image");
                objects.Add(obj);
            }
            if (r.BaseStream.Position != image.Count) return Fail("truncated executable image");
            program = new HostProgram(name, "", [], arena, signature);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ArgumentException or InvalidDataException)
        {
            return Fail($"unreadable executable image: {e.Message}");
        }
        var jit = LlvmJit.Load(objects, target, program.Name);
        if (!jit.Ok) return Result<CachedExecutable>.Failure(jit.Diagnostics);
        var exe = new NativeExecutable(jit.Value!, program, lastError, serialize) { Threads = threads };
        return Result<CachedExecutable>.Success(new CachedExecutable(exe, program.Signature));
    }

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
