using GraphCompiler.Backends.Cpu.Aot;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Targets;

namespace GraphCompiler.Backends.Cpu;

/// <summary>
/// The CPU as a compilation target: every core op compiles; JIT through LLVM's ORC, AOT as a shared library
/// with a C header and a C# binding. <paramref name="machine"/> is the CPU the code is for (null: this one).
/// </summary>
public sealed class CpuBackend(CpuTarget? machine = null) : ITarget, ICacheableTarget
{
    public string Name => "cpu";

    public CpuTarget? Machine { get; } = machine;

    public string DefaultPipeline => "default";

    public bool Supports(Operation op) => true;

    public BufferOptions? MemoryPlan(Function f) => CpuCompiler.MemoryPlan;

    public string? RunUnavailable => LlvmLibrary.Problem;

    public Result<IExecutable> Jit(Module optimized, string? function, int threads, JitOptions? options = null)
    {
        var exe = CpuCompiler.Jit(optimized, new CpuCompileOptions { Target = Machine, Phases = options?.Phases, KeepObjectCode = options?.KeepImage ?? false }, function);
        if (!exe.Ok) return Result<IExecutable>.Failure(exe.Diagnostics);
        exe.Value!.Threads = threads;
        return Result<IExecutable>.Success(exe.Value);
    }

    public Result<TargetArtifacts> Package(Module optimized, string? function, PackageOptions options)
    {
        var machine = Machine?.Name ?? "host";
        var a = AotCompiler.Compile(optimized, new AotOptions { Name = options.Name, Target = machine, Namespace = options.Namespace, IncludeObject = options.IncludeObject, Phases = options.Phases }, function);
        if (!a.Ok) return Result<TargetArtifacts>.Failure(a.Diagnostics);
        var abi = a.Value!.Abi;
        return Result<TargetArtifacts>.Success(new TargetArtifacts(a.Value.Files,
            $"{abi.Name}_run: {abi.Arguments.Count} argument(s), {abi.Results.Count} result(s), arena {abi.ArenaBytes} bytes, target {machine}", abi.ArenaBytes));
    }

    /// <summary>The CPU the code is for, as LLVM names it: the same model and options compile differently on another CPU.</summary>
    public string CacheIdentity
    {
        get
        {
            var t = Machine ?? CpuTarget.Host();
            return $"cpu|{t.Name}|{t.Triple}|{t.Cpu}|{t.Features}";
        }
    }

    public byte[]? Save(IExecutable executable) => executable is NativeExecutable native ? ExecutableImage.Save(native) : null;

    public Result<CachedExecutable> Restore(System.Buffers.IMemoryOwner<byte> image, int threads) => ExecutableImage.Load(image, Machine ?? CpuTarget.Host(), threads);
}
