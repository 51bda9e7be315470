using System.Runtime.InteropServices;
using System.Text;
using GraphCompiler.IR;
using GraphCompiler.IR.Targets;
using static GraphCompiler.Backends.Llvm.LlvmNative;

namespace GraphCompiler.Backends.Llvm;

/// <summary>
/// What code is generated for: a target triple, a CPU name and its feature string, as LLVM spells
/// them. <see cref="Host"/> asks LLVM for this machine's CPU and features; named baselines give
/// portable code.
/// </summary>
public sealed record CpuTarget(string Name, string Triple, string Cpu, string Features)
{
    /// <summary>Baselines for <c>--target</c>: the x86-64 psABI levels, plus <c>host</c>.</summary>
    public static readonly IReadOnlyList<string> Names = ["host", "x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"];

    public static CpuTarget Host()
    {
        LlvmLibrary.EnsureRegistered();
        return new("host", TakeMessage(LLVMGetDefaultTargetTriple()), TakeMessage(LLVMGetHostCPUName()), TakeMessage(LLVMGetHostCPUFeatures()));
    }

    public static CpuTarget? Named(string name)
    {
        if (name == "host") return Host();
        if (!Names.Contains(name)) return null;
        LlvmLibrary.EnsureRegistered();
        return new(name, TakeMessage(LLVMGetDefaultTargetTriple()), name, "");
    }

    /// <summary>Whether the target has a feature (e.g. "avx512f"), as listed in <see cref="Features"/> or implied by a psABI level.</summary>
    public bool Has(string feature) =>
        Features.Split(',').Contains("+" + feature) ||
        (Cpu, feature) switch
        {
            ("x86-64-v4", "avx512f" or "avx512bw" or "avx512vl" or "avx512dq") => true,
            ("x86-64-v4" or "x86-64-v3", "avx2" or "fma" or "avx") => true,
            _ => false,
        };

    /// <summary>The widest f32 vector the target computes natively (elements).</summary>
    public int F32Lanes => Has("avx512f") ? 16 : Has("avx") ? 8 : 4;
}

/// <summary>Compiles LLVM IR text: verify, optimise with the new pass manager, emit an object file or assembly.</summary>
public static class LlvmCompiler
{
    private static readonly object InitLock = new();
    private static bool _initialised;

    public static void InitializeTargets()
    {
        LlvmLibrary.EnsureRegistered();
        lock (InitLock)
        {
            if (_initialised) return;
            LLVMInitializeX86TargetInfo();
            LLVMInitializeX86Target();
            LLVMInitializeX86TargetMC();
            LLVMInitializeX86AsmPrinter();
            LLVMInitializeX86AsmParser();
            LLVMInitializeNVPTXTargetInfo();
            LLVMInitializeNVPTXTarget();
            LLVMInitializeNVPTXTargetMC();
            LLVMInitializeNVPTXAsmPrinter();
            // GPU kernels divide with div.full.f32 (within 2 ulp) instead of the IEEE-exact sequence, which
            // costs tens of instructions and made the elementwise kernels compute-bound; XLA makes the same
            // trade. These options are read by the NVPTX backend only; LLVM takes them once per process.
            LLVMParseCommandLineOptions(2, ["graphcompiler", "-nvptx-prec-divf32=1"], null);
            _initialised = true;
        }
    }

    /// <summary>A target machine for <paramref name="target"/>; the caller disposes it.</summary>
    internal static nint CreateTargetMachine(CpuTarget target)
    {
        InitializeTargets();
        if (LLVMGetTargetFromTriple(target.Triple, out var t, out var err) != 0)
            throw new InvalidOperationException($"LLVM has no target for {target.Triple}: {TakeMessage(err)}");
        // Recent Intel CPUs tune for 256-bit vectors; the generated kernels are written for full zmm registers.
        var features = target.Has("avx512f") ? target.Features + ",-prefer-256-bit" : target.Features;
        return LLVMCreateTargetMachine(t, target.Triple, target.Cpu, features, CodeGenLevelAggressive, RelocPIC, CodeModelDefault);
    }

    /// <summary>
    /// Parses IR text into <paramref name="context"/> and sets the initializers of its placeholder
    /// constants (<paramref name="constants"/>); returns the module or the parser's message.
    /// </summary>
    internal static unsafe Result<ModuleHandle> Parse(nint context, string irText, string name, IReadOnlyList<ConstantGlobal>? constants = null)
    {
        var bytes = Encoding.UTF8.GetBytes(irText);
        nint buffer;
        fixed (byte* p = bytes) buffer = LLVMCreateMemoryBufferWithMemoryRangeCopy(p, (nuint)bytes.Length, name);
        // The parser takes ownership of the buffer.
        if (LLVMParseIRInContext(context, buffer, out var module, out var msg) != 0)
            return Result<ModuleHandle>.Failure(new Diagnostic($"LLVM rejected the generated IR ({name}): {TakeMessage(msg)}"));
        try
        {
            ConstantGlobal.Apply(module, constants ?? []);
        }
        catch
        {
            LLVMDisposeModule(module);
            throw;
        }
        if (LLVMVerifyModule(module, ReturnStatusAction, out var vmsg) != 0)
        {
            var text = TakeMessage(vmsg);
            LLVMDisposeModule(module);
            return Result<ModuleHandle>.Failure(new Diagnostic($"generated IR does not verify ({name}): {text}"));
        }
        TakeMessage(vmsg);
        return Result<ModuleHandle>.Success(new ModuleHandle(module));
    }

    /// <summary>Sets the module's triple and data layout and runs <c>default&lt;O3&gt;</c> (or <paramref name="pipeline"/>).</summary>
    internal static void Optimize(nint module, nint machine, CpuTarget target, string pipeline = "default<O3>")
    {
        LLVMSetTarget(module, target.Triple);
        var layout = LLVMCreateTargetDataLayout(machine);
        LLVMSetModuleDataLayout(module, layout);
        LLVMDisposeTargetData(layout);
        var options = LLVMCreatePassBuilderOptions();
        LLVMPassBuilderOptionsSetLoopVectorization(options, 1);
        LLVMPassBuilderOptionsSetSLPVectorization(options, 1);
        LLVMPassBuilderOptionsSetLoopUnrolling(options, 1);
        var error = LLVMRunPasses(module, pipeline, machine, options);
        LLVMDisposePassBuilderOptions(options);
        var message = TakeError(error);
        if (message.Length > 0) throw new InvalidOperationException($"LLVM pass pipeline failed: {message}");
    }

    /// <summary>
    /// Optimises and emits an object file (or assembly text as bytes); <paramref name="constants"/> fill the text's
    /// placeholder globals. <paramref name="phases"/>, when given, times parsing, optimisation and emission.
    /// </summary>
    public static unsafe Result<byte[]> Emit(string irText, CpuTarget target, bool assembly = false, string name = "module", IReadOnlyList<ConstantGlobal>? constants = null,
        PhaseRecorder? phases = null)
    {
        var buffer = EmitToBuffer(irText, target, assembly, name, constants, phases);
        if (!buffer.Ok) return Result<byte[]>.Failure(buffer.Diagnostics);
        var bytes = CopyBuffer(buffer.Value!.Handle);
        LLVMDisposeMemoryBuffer(buffer.Value.Handle);
        return Result<byte[]>.Success(bytes);
    }

    /// <summary>Like <see cref="Emit"/>, but the code stays in an LLVM memory buffer that the caller owns (the JIT takes it without a copy).</summary>
    internal static Result<MemoryBuffer> EmitToBuffer(string irText, CpuTarget target, bool assembly, string name, IReadOnlyList<ConstantGlobal>? constants, PhaseRecorder? phases)
    {
        InitializeTargets();
        var context = LLVMContextCreate();
        var machine = CreateTargetMachine(target);
        try
        {
            var parsed = PhaseRecorder.Time(phases, "LLVM parse", () => Parse(context, irText, name, constants));
            if (!parsed.Ok) return Result<MemoryBuffer>.Failure(parsed.Diagnostics);
            using var module = parsed.Value!;
            using (phases?.Phase("LLVM optimise", $"{irText.Length / 1024} KiB of IR"))
                Optimize(module.Handle, machine, target);
            var used = UsedExternalConstants(module.Handle, constants);
            using (phases?.Phase(assembly ? "LLVM emit assembly" : "LLVM emit object"))
            {
                if (LLVMTargetMachineEmitToMemoryBuffer(machine, module.Handle, assembly ? AssemblyFile : ObjectFile, out var err, out var buffer) != 0)
                    return Result<MemoryBuffer>.Failure(new Diagnostic($"LLVM code generation failed: {TakeMessage(err)}"));
                return Result<MemoryBuffer>.Success(new MemoryBuffer(buffer, used));
            }
        }
        finally
        {
            LLVMDisposeTargetMachine(machine);
            LLVMContextDispose(context);
        }
    }

    /// <summary>
    /// Compiles the parts of a split program (<see cref="Codegen.ModulePartitioner"/>) to object files, each in its own
    /// LLVM context on its own thread; one part takes the single-module path (and its detailed phases).
    /// </summary>
    public static Result<byte[][]> EmitParts(IReadOnlyList<Codegen.ModulePart> parts, CpuTarget target, string name, PhaseRecorder? phases = null)
    {
        var buffers = EmitPartsToBuffers(parts, target, name, phases);
        if (!buffers.Ok) return Result<byte[][]>.Failure(buffers.Diagnostics);
        var objects = new byte[buffers.Value!.Length][];
        for (int i = 0; i < objects.Length; i++)
        {
            objects[i] = CopyBuffer(buffers.Value[i].Handle);
            LLVMDisposeMemoryBuffer(buffers.Value[i].Handle);
        }
        return Result<byte[][]>.Success(objects);
    }

    // LLVM's own worker threads get 8 MiB; instruction selection recurses on deep expression trees.
    private const int CodegenStackBytes = 8 << 20;

    internal static Result<MemoryBuffer[]> EmitPartsToBuffers(IReadOnlyList<Codegen.ModulePart> parts, CpuTarget target, string name, PhaseRecorder? phases)
    {
        string PartName(int i) => i == 0 ? name : $"{name}.part{i}";
        if (parts.Count == 1)
        {
            var one = EmitToBuffer(parts[0].Ir, target, assembly: false, name, parts[0].Constants, phases);
            return one.Ok ? Result<MemoryBuffer[]>.Success([one.Value!]) : Result<MemoryBuffer[]>.Failure(one.Diagnostics);
        }
        InitializeTargets();
        var results = new Result<MemoryBuffer>[parts.Count];
        // Threads of our own, not the thread pool's: a caller on a pool thread (the CLI, a server) would leave
        // Parallel.For waiting for the pool to grow, and the parts would run one after another.
        using (phases?.Phase("LLVM parse, optimise and emit", $"{parts.Count} modules in parallel"))
        {
            void Run(int i) => results[i] = EmitToBuffer(parts[i].Ir, target, assembly: false, PartName(i), parts[i].Constants, null);
            var threads = Enumerable.Range(1, parts.Count - 1)
                .Select(i => new Thread(() => Run(i), CodegenStackBytes) { Name = $"gc-codegen-{i}", IsBackground = true }).ToList();
            threads.ForEach(t => t.Start());
            Run(0);
            threads.ForEach(t => t.Join());
        }
        if (results.FirstOrDefault(r => !r.Ok) is { } failed)
        {
            foreach (var r in results.Where(r => r.Ok)) LLVMDisposeMemoryBuffer(r.Value!.Handle);
            return Result<MemoryBuffer[]>.Failure(failed.Diagnostics);
        }
        return Result<MemoryBuffer[]>.Success([.. results.Select(r => r.Value!)]);
    }

    /// <summary>The external constants the optimised code still reads (the optimiser drops loads it folds or finds dead).</summary>
    private static IReadOnlySet<string> UsedExternalConstants(nint module, IReadOnlyList<ConstantGlobal>? constants)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in constants ?? [])
            if (c.External && LLVMGetNamedGlobal(module, c.Symbol) is var g && g != 0 && LLVMGetFirstUse(g) != 0) used.Add(c.Symbol);
        return used;
    }

    internal static unsafe byte[] CopyBuffer(nint buffer) =>
        new ReadOnlySpan<byte>(LLVMGetBufferStart(buffer), checked((int)LLVMGetBufferSize(buffer))).ToArray();

    /// <summary>The optimised IR text (for tests and <c>--emit llvm</c>).</summary>
    public static Result<string> OptimizedIr(string irText, CpuTarget target, string name = "module", IReadOnlyList<ConstantGlobal>? constants = null)
    {
        InitializeTargets();
        var context = LLVMContextCreate();
        var machine = CreateTargetMachine(target);
        try
        {
            var parsed = Parse(context, irText, name, constants);
            if (!parsed.Ok) return Result<string>.Failure(parsed.Diagnostics);
            using var module = parsed.Value!;
            Optimize(module.Handle, machine, target);
            return Result<string>.Success(TakeMessage(LLVMPrintModuleToString(module.Handle)));
        }
        finally
        {
            LLVMDisposeTargetMachine(machine);
            LLVMContextDispose(context);
        }
    }
}

/// <summary>An LLVM memory buffer holding an object, and the external constants (<see cref="JitConstants"/>) its code reads.</summary>
internal sealed record MemoryBuffer(nint Handle, IReadOnlySet<string> UsedExternalConstants);

/// <summary>Owns an LLVM module until disposed or handed to the JIT (<see cref="Release"/>).</summary>
internal sealed class ModuleHandle(nint handle) : IDisposable
{
    public nint Handle { get; private set; } = handle;

    public nint Release()
    {
        var h = Handle;
        Handle = 0;
        return h;
    }

    public void Dispose()
    {
        if (Handle != 0) LLVMDisposeModule(Handle);
        Handle = 0;
    }
}

/// <summary>
/// An in-process ORC LLJIT holding one compiled module; symbols of the process (libm, libpthread)
/// resolve through a search generator. Disposing it frees the code: callers must be done with
/// every function pointer first.
/// </summary>
public sealed class LlvmJit : IDisposable
{
    private nint _jit;

    private LlvmJit(nint jit, IReadOnlyList<byte[]>? objectCode, JitConstants? constants)
    {
        _jit = jit;
        _objectCode = objectCode;
        Constants = constants;
    }

    /// <summary>The program's external constants (its weights), whose addresses the JIT's library defines; null when it has none.</summary>
    public JitConstants? Constants { get; }

    /// <summary>
    /// Optimises and compiles IR text to an object file (<see cref="LlvmCompiler.Emit"/>) and links it, with the kernel
    /// library <paramref name="library"/> it declares (<see cref="KernelLibrary"/>) when given, against a copy of its
    /// external constants (<see cref="JitConstants"/>). Going through objects, rather than handing ORC the IR module,
    /// leaves the objects to keep (<paramref name="keepObjectCode"/>, <see cref="TakeObjectCode"/>): a compilation
    /// cache loads the same bytes later without LLVM's optimiser (<see cref="LoadInPlace"/>).
    /// </summary>
    public static Result<LlvmJit> Compile(string irText, CpuTarget target, string name = "module", IReadOnlyList<ConstantGlobal>? constants = null,
        PhaseRecorder? phases = null, bool keepObjectCode = false, string? library = null, IReadOnlyList<Codegen.ModulePart>? parts = null)
    {
        byte[]? libraryObject = null;
        if (library is not null)
        {
            var l = KernelLibrary.Object(library, target, phases);
            if (!l.Ok) return Result<LlvmJit>.Failure(l.Diagnostics);
            libraryObject = l.Value!;
        }
        parts ??= [new Codegen.ModulePart(irText, constants ?? [])];
        var buffers = LlvmCompiler.EmitPartsToBuffers(parts, target, name, phases);
        if (!buffers.Ok) return Result<LlvmJit>.Failure(buffers.Diagnostics);
        // Only what the optimised code still reads: weights it no longer needs (repacked, folded) are left behind.
        var used = buffers.Value!.SelectMany(b => b.UsedExternalConstants).ToHashSet(StringComparer.Ordinal);
        var external = JitConstants.Copy([.. parts.SelectMany(p => p.Constants).Where(c => c.External && used.Contains(c.Symbol))]);
        // The buffers go to the JIT as they are: for a model with 100 MB of weights, a copy is 100 MB more at the peak.
        var handles = buffers.Value!.Select(b => b.Handle).ToList();
        IReadOnlyList<byte[]>? kept = keepObjectCode ? [.. handles.Select(LlvmCompiler.CopyBuffer), .. libraryObject is null ? [] : new[] { libraryObject }] : null;
        if (libraryObject is not null) handles.Add(CopyToBuffer(libraryObject, "gc_kernels"));
        using (phases?.Phase("JIT load"))
            return Load(handles, target, kept, external);
    }

    /// <summary>
    /// Links object files that lie in memory the caller keeps readable until the JIT has linked them (an executable
    /// image's; see <see cref="ExecutableImage.Load"/>): LLVM parses them where they are, with no copy of its own.
    /// An object that is not <see cref="ExecutableImage.ObjectAlignment"/>-aligned (an image in a plain array) is
    /// copied: LLVM's ELF reader refuses one that is not. The JIT takes <paramref name="constants"/> (also on failure).
    /// </summary>
    public static unsafe Result<LlvmJit> LoadInPlace(IReadOnlyList<(nint Start, int Length)> objects, CpuTarget target, string name, JitConstants? constants) =>
        Load([.. objects.Select((o, i) => o.Start % ExecutableImage.ObjectAlignment == 0
                ? LLVMCreateMemoryBufferWithMemoryRange((byte*)o.Start, (nuint)o.Length, i == 0 ? name : $"{name}.{i}", requiresNullTerminator: 0)
                : LLVMCreateMemoryBufferWithMemoryRangeCopy((byte*)o.Start, (nuint)o.Length, i == 0 ? name : $"{name}.{i}"))],
            target, null, constants);

    private static unsafe nint CopyToBuffer(byte[] bytes, string name)
    {
        fixed (byte* p = bytes) return LLVMCreateMemoryBufferWithMemoryRangeCopy(p, (nuint)bytes.Length, name);
    }

    /// <summary>Links the objects in <paramref name="buffers"/> against <paramref name="constants"/>; the JIT takes both over (also on failure).</summary>
    private static Result<LlvmJit> Load(IReadOnlyList<nint> buffers, CpuTarget target, IReadOnlyList<byte[]>? kept, JitConstants? constants)
    {
        var loaded = Link(buffers, target, kept, constants);
        if (!loaded.Ok) constants?.Dispose();
        return loaded;
    }

    private static Result<LlvmJit> Link(IReadOnlyList<nint> buffers, CpuTarget target, IReadOnlyList<byte[]>? kept, JitConstants? constants)
    {
        LlvmCompiler.InitializeTargets();
        var builder = LLVMOrcCreateLLJITBuilder();
        // The JIT's own target machine: same CPU and features as the code it links.
        LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder,
            LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(LlvmCompiler.CreateTargetMachine(target)));
        var err = TakeError(LLVMOrcCreateLLJIT(out var jit, builder));
        if (err.Length > 0)
        {
            foreach (var b in buffers) LLVMDisposeMemoryBuffer(b);
            return Result<LlvmJit>.Failure(new Diagnostic($"cannot create the LLVM JIT: {err}"));
        }
        var dylib = LLVMOrcLLJITGetMainJITDylib(jit);
        err = TakeError(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(out var generator, LLVMOrcLLJITGetGlobalPrefix(jit), 0, 0));
        if (err.Length > 0)
        {
            foreach (var b in buffers) LLVMDisposeMemoryBuffer(b);
            TakeError(LLVMOrcDisposeLLJIT(jit));
            return Result<LlvmJit>.Failure(new Diagnostic($"cannot resolve process symbols in the JIT: {err}"));
        }
        LLVMOrcJITDylibAddGenerator(dylib, generator);
        if (constants is not null && constants.Define(jit, dylib) is { Length: > 0 } undefined)
        {
            foreach (var b in buffers) LLVMDisposeMemoryBuffer(b);
            TakeError(LLVMOrcDisposeLLJIT(jit));
            return Result<LlvmJit>.Failure(new Diagnostic($"cannot define the program's constants in the JIT: {undefined}"));
        }
        // The JIT takes ownership of each buffer, also on failure.
        for (int i = 0; i < buffers.Count; i++)
        {
            err = TakeError(LLVMOrcLLJITAddObjectFile(jit, dylib, buffers[i]));
            if (err.Length > 0)
            {
                for (int j = i + 1; j < buffers.Count; j++) LLVMDisposeMemoryBuffer(buffers[j]);
                TakeError(LLVMOrcDisposeLLJIT(jit));
                return Result<LlvmJit>.Failure(new Diagnostic($"the JIT rejected the object file: {err}"));
            }
        }
        return Result<LlvmJit>.Success(new LlvmJit(jit, kept, constants));
    }

    private IReadOnlyList<byte[]>? _objectCode;

    /// <summary>The object files this JIT links (the program's, then the kernel library's), if they were kept, and lets go of them (the program's is as large as the code and weights).</summary>
    public IReadOnlyList<byte[]>? TakeObjectCode() => Interlocked.Exchange(ref _objectCode, null);

    /// <summary>The address of a compiled function (materialising it on first lookup).</summary>
    public nint Lookup(string symbol)
    {
        ObjectDisposedException.ThrowIf(_jit == 0, this);
        var err = TakeError(LLVMOrcLLJITLookup(_jit, out var address, symbol));
        if (err.Length > 0) throw new InvalidOperationException($"JIT lookup of {symbol} failed: {err}");
        return (nint)address;
    }

    public void Dispose()
    {
        if (_jit != 0) TakeError(LLVMOrcDisposeLLJIT(_jit));
        _jit = 0;
        // After the code that reads them.
        Constants?.Dispose();
    }
}
