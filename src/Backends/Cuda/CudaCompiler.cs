using GraphCompiler.Backends.Cuda.Codegen;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda;

/// <summary>
/// Which GPUs the code is for: the PTX architecture and the multiprocessor count that kernel shapes are tuned to
/// (a GEMM's tiles shrink until its grid covers them). PTX for sm_80 (PTX ISA 7.5) also runs on later GPUs (the
/// driver compiles it for the device at load time), so it is the default: one library for A100 and H100. sm_90a is
/// Hopper's architecture-specific PTX (ISA 8.0): it runs only on compute capability 9.0 (H100, H200) and has the
/// warpgroup tensor-core instructions (<c>wgmma</c>) the large 16-bit GEMMs use there.
/// </summary>
public sealed record CudaTarget(string Arch)
{
    public static readonly IReadOnlyList<string> Archs = ["sm_80", "sm_90", "sm_90a"];

    public static readonly CudaTarget Default = new("sm_80");

    /// <summary>
    /// Streaming multiprocessors of the GPU the kernels are shaped for. By default the H100 SXM's 132, the GPU
    /// the kernels were measured on (sm_80 PTX is what it runs here too; an A100 has 108): an H100 is what this
    /// project's GPU machines have. Set it (<c>--gpu-sms</c>) for another part; a smaller count only shapes
    /// tiles larger, never wrong.
    /// </summary>
    public int Multiprocessors { get; init; } = H100Multiprocessors;

    /// <summary>
    /// Whether f32 contractions may run on tensor cores in TF32 (operands rounded to a 10-bit mantissa, f32
    /// accumulation: about 8× the FMA GEMM's throughput, relative error ~1e-3). Off by default, as PyTorch and
    /// cuDNN leave it to the user; <c>--precision tf32</c> turns it on. bf16 and f16 contractions always use tensor cores.
    /// </summary>
    public bool AllowTf32 { get; init; }

    /// <summary>
    /// Shared memory one block may use once its kernel opts in (cuFuncSetAttribute), the least over the GPUs the
    /// architecture's PTX runs on (CUDA C Programming Guide, "Technical Specifications per Compute Capability"): sm_80
    /// PTX also runs on compute capability 8.6 and 8.9 (99 KB; an A100 has 163), sm_90 PTX on 9.0 (227 KB). The generated
    /// runtime checks the device's own limit when it starts (<c>CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN</c>).
    /// </summary>
    public int MaxSharedBytesPerBlock => Hopper ? 227 * 1024 : 99 * 1024;

    /// <summary>sm_90 or sm_90a: compute capability 9.0.</summary>
    private bool Hopper => Arch.StartsWith("sm_90", StringComparison.Ordinal);

    /// <summary>
    /// Whether the PTX may use <c>wgmma.mma_async</c> (warpgroup MMA from shared-memory descriptors): only the
    /// architecture-specific sm_90a has it (PTX ISA, "Asynchronous Warpgroup Level Matrix Multiply-Accumulate").
    /// </summary>
    public bool HasWgmma => Arch == "sm_90a";

    /// <summary>
    /// Threads a multiprocessor keeps resident at full occupancy: with <see cref="Multiprocessors"/>, the parallelism a
    /// kernel needs before it may give threads more work each (a longer depthwise strip). By default compute capability
    /// 8.0's and 9.0's 2048 (CUDA C Programming Guide, "Technical Specifications per Compute Capability"; 8.6 and 8.9
    /// keep 1536); a JIT asks the driver (<see cref="CudaDevice"/>).
    /// </summary>
    public int ResidentThreadsPerMultiprocessor { get; init; } = DefaultResidentThreadsPerMultiprocessor;

    /// <summary>Compute capability 8.0's and 9.0's resident threads per multiprocessor.</summary>
    public const int DefaultResidentThreadsPerMultiprocessor = 2048;

    /// <summary>An H100 SXM5's multiprocessor count (NVIDIA's H100 datasheet).</summary>
    public const int H100Multiprocessors = 132;

    /// <summary>The PTX ISA version LLVM is asked for: the oldest that has the architecture.</summary>
    public string PtxFeature => Arch switch { "sm_90a" => "+ptx80", "sm_90" => "+ptx78", _ => "+ptx75" };

    internal CpuTarget Llvm => new($"cuda-{Arch}", "nvptx64-nvidia-cuda", Arch, PtxFeature);
}

public sealed record CudaCompileOptions
{
    /// <summary>Symbol prefix: the entry points are <c>NAME_run</c> and <c>NAME_run_device</c>.</summary>
    public string Name { get; init; } = "model";

    public CudaTarget Gpu { get; init; } = CudaTarget.Default;

    /// <summary>What the host code is generated for; null means this machine.</summary>
    public CpuTarget? Host { get; init; }

    /// <summary>
    /// Emits the host program's kernels for the CPU-placed ops (required): the CPU backend's,
    /// <c>GraphCompiler.Backends.Cpu.Codegen.CpuKernels.Instance</c>.
    /// </summary>
    public IHostKernels? HostKernels { get; init; }
}

/// <summary>
/// A compiled CUDA program before LLVM turns the host side into machine code: the host module (LLVM
/// IR for the CPU, with the CPU-placed ops, the transfers and the kernel launches), its constants, the
/// PTX of every GPU kernel (also embedded in the host module), and the kernel count.
/// </summary>
public sealed record CudaProgram(string Name, string HostIr, IReadOnlyList<ConstantGlobal> Constants, long ArenaBytes, Function Signature,
    string DeviceIr, string Ptx, int Kernels)
{
    /// <summary>The host side as the LLVM layer links or JITs it, with <c>NAME_last_error</c> (why the last call failed).</summary>
    public HostProgram AsHostProgram => new(Name, HostIr + $"define ptr @{LastErrorSymbol}() nounwind {{\nentry:\n  ret ptr @gc.cuda.err\n}}\n",
        Constants, ArenaBytes, Signature);

    /// <summary><c>const char *NAME_last_error(void)</c>: the generated runtime's message for the last failed call.</summary>
    public string LastErrorSymbol => $"{Name}_last_error";

    /// <summary>The part of <see cref="ArenaBytes"/> that is the host kernels' scratch, after the host values.</summary>
    public long ScratchBytes { get; init; }

    /// <summary>Constant globals <see cref="DeviceIr"/> refers to (what <c>LlvmCompiler.Emit</c> takes beside it).</summary>
    public IReadOnlyList<ConstantGlobal> DeviceConstants { get; init; } = [];

    /// <summary>Which op each kernel computes, and its launch, as a tab-separated table (<c>NAME.kernels.tsv</c> beside a library): a GPU profile's kernel names read as the model's ops.</summary>
    public string KernelMap { get; init; } = "";
}

/// <summary>
/// The CUDA backend: a placed, transfer-explicit function (pipeline <c>cuda</c>) becomes GPU kernels
/// (NVPTX through LLVM) and a host program that runs the CPU-placed ops with the host kernels it is
/// given (<see cref="CudaCompileOptions.HostKernels"/>) and drives the GPU through the driver API.
/// </summary>
public static class CudaCompiler
{
    /// <summary>The buffer assignment options of the host arena (<c>NAME_arena_size</c>) of <paramref name="placed"/>: pass them to <c>MemoryReport.Compute</c> for the same numbers.</summary>
    public static BufferOptions HostMemoryPlan(Function placed) => new CudaPlacement(placed).HostMemoryPlan;

    /// <summary>The buffer assignment options of the device arena of <paramref name="placed"/> (GPU values, 256-byte aligned).</summary>
    public static BufferOptions DeviceMemoryPlan(Function placed) => new CudaPlacement(placed).DeviceMemoryPlan;

    /// <summary>
    /// Raised with every program <see cref="Generate"/> makes (the JIT and the library form included), for tools
    /// that want its PTX or device IR: the tests' CUDA emulator builds the kernels for the host from it.
    /// </summary>
    public static event Action<CudaProgram>? Generated;

    public static Result<CudaProgram> Generate(Module module, CudaCompileOptions? options = null, string? functionName = null)
    {
        options ??= new CudaCompileOptions();
        if (options.HostKernels is not { } hostKernels)
            return Result<CudaProgram>.Failure(new Diagnostic("CudaCompileOptions.HostKernels is not set: pass the CPU backend's kernels (CpuKernels.Instance)"));
        if (LlvmLibrary.Problem is { } problem) return Result<CudaProgram>.Failure(new Diagnostic(problem));
        var f = functionName is null ? module.Entry : module.Find(functionName);
        if (f is null) return Result<CudaProgram>.Failure(new Diagnostic($"no function named '{functionName}'"));
        var diags = Verifier.Verify(module);
        if (diags.Count > 0) return Result<CudaProgram>.Failure(diags);
        // Model parallelism (other processes' CPUs) is the CPU backend's: one program cannot also offload to a GPU.
        if (f.Body.Operations.FirstOrDefault(o => Placement.TaskOf(o) > 0
                || (o.Def is SendOp or RecvOp && Placement.CrossesProcesses(o.Attr.Enum("from"), o.Attr.Enum("to")))) is { } remote)
            return Result<CudaProgram>.Failure(new Diagnostic(
                $"'{remote.Name}' runs on or talks to another task ({Placement.FullName(Placement.DeviceOf(remote))}): a program split over processes compiles for a CPU target, not cuda",
                remote.Location, Diagnostic.UnsupportedOp));
        try
        {
            var device = new DeviceModule(options.Gpu);
            var plan = new CudaPlan(f, device);
            var deviceIr = device.Build(f.Name);
            var ptx = LlvmCompiler.Emit(deviceIr, options.Gpu.Llvm, assembly: true, name: $"{options.Name}_kernels", constants: device.Context.Constants);
            if (!ptx.Ok) return Result<CudaProgram>.Failure(ptx.Diagnostics);
            var cpu = options.Host ?? CpuTarget.Host();
            var emitted = ProgramEmitter.Emit(f, options.Name, f.Name, module, cpu.F32Lanes, hostKernels, plan.HostMemoryPlan,
                device: deviceMode => new CudaOffload(plan, deviceMode),
                prepare: m =>
                {
                    var uploads = plan.DeviceConstants.Select(c => (m.Constant(c.Tensor), c.Value.Type.ByteSize)).ToList();
                    HostRuntime.Emit(m, ptx.Value!, plan.Loaded, plan.DeviceArenaBytes, uploads, plan.Staging);
                });
            var ptxText = System.Text.Encoding.ASCII.GetString(ptx.Value!);
            var program = new CudaProgram(options.Name, emitted.Ir, emitted.Constants, emitted.ArenaBytes, f, deviceIr, ptxText, plan.Loaded.Count)
            {
                ScratchBytes = emitted.ScratchBytes,
                DeviceConstants = device.Context.Constants,
                KernelMap = KernelTable.Tsv(plan),
            };
            Generated?.Invoke(program);
            return Result<CudaProgram>.Success(program);
        }
        catch (CodegenException e)
        {
            return Result<CudaProgram>.Failure(new Diagnostic(e.Message, Code: Diagnostic.UnsupportedOp));
        }
    }

    /// <summary>
    /// Generates and compiles the host side in-process (LLVM's ORC JIT); the PTX is embedded as in the library.
    /// Calls are serialised: the program has one stream and one device arena. The driver is loaded on the first call.
    /// </summary>
    public static Result<NativeExecutable> Jit(Module module, CudaCompileOptions options, string? functionName = null)
    {
        var program = Generate(module, options, functionName);
        if (!program.Ok) return Result<NativeExecutable>.Failure(program.Diagnostics);
        var p = program.Value!.AsHostProgram;
        var jit = LlvmJit.Compile(p.LlvmIr, options.Host ?? CpuTarget.Host(), p.Name, p.Constants);
        if (!jit.Ok) return Result<NativeExecutable>.Failure(jit.Diagnostics);
        return Result<NativeExecutable>.Success(new NativeExecutable(jit.Value!, p, program.Value.LastErrorSymbol, serialize: true));
    }
}
