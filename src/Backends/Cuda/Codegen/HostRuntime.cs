using GraphCompiler.Runtime;
using GraphCompiler.Backends.Llvm.Codegen;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// The CUDA runtime of a compiled program, emitted into its host module (there is no runtime library
/// to ship): <c>gc.cuda.init</c> loads the driver, retains device 0's primary context (the one the CUDA
/// runtime, PyTorch and CuPy use, so device pointers can be shared), loads the embedded PTX once, looks up
/// the kernels, creates a stream, allocates the device arena and uploads the constants GPU kernels read;
/// <c>gc.cuda.release</c> undoes it; <c>gc.cuda.fail</c> formats an error with the driver's error name.
/// </summary>
internal static class HostRuntime
{
    public const string Init = "gc.cuda.init";
    public const string Release = "gc.cuda.release";
    public const string Stream = "@gc.cuda.stream";
    public const string Arena = "@gc.cuda.arena";
    public const string Functions = "@gc.cuda.fn";
    public const string Constants = "@gc.cuda.const";

    /// <summary>Transfer staging (<see cref="TransferStaging"/>): compressed transfers' device slots (an i64 device pointer),
    /// every transfer's pinned host slot, the copy stream and the transfers' events.</summary>
    public const string DeviceWire = "@gc.cuda.dwire";
    public const string Pinned = "@gc.cuda.pinned";
    public const string CopyStream = "@gc.cuda.copystream";
    public const string Events = "@gc.cuda.events";

    /// <summary>CU_EVENT_DISABLE_TIMING: events only order work, and timing-free ones are the cheapest to record and wait on.</summary>
    private const int EventDisableTiming = 0x2;
    private const string Context = "@gc.cuda.ctx";
    private const string State = "@gc.cuda.state";

    /// <summary>The driver library's soname, loaded with <c>dlopen</c> on the first call.</summary>
    public const string DefaultDriver = "libcuda.so.1";

    /// <summary>The environment variable that names another driver library (docs/cuda-backend.md).</summary>
    public const string DriverVariable = "GC_CUDA_DRIVER";

    /// <param name="constants">Host globals (their LLVM names) and byte sizes, in device-constant order.</param>
    /// <param name="staging">The transfers' staging buffers, streams and events to make.</param>
    public static void Emit(ModuleContext m, byte[] ptx, IReadOnlyList<LoadedKernel> kernels, long arenaBytes, IReadOnlyList<(string Global, long Bytes)> constants, TransferStaging staging)
    {
        var api = DriverApi.All;
        m.Declare("declare ptr @dlopen(ptr, i32)");
        m.Declare("declare ptr @dlsym(ptr, ptr)");
        m.Declare("declare i32 @snprintf(ptr, i64, ptr, ...)");
        m.Global($"{DriverApi.ApiTable} = internal global [{api.Count} x ptr] zeroinitializer");
        m.Global($"{DriverApi.ErrorBuffer} = internal global [{DriverApi.ErrorBufferBytes} x i8] zeroinitializer");
        m.Global($"{State} = internal global i32 0");
        m.Global($"{Context} = internal global ptr null");
        m.Global("@gc.cuda.module = internal global ptr null");
        m.Global($"{Stream} = internal global ptr null");
        m.Global($"{Arena} = internal global i64 0");
        m.Global($"{DeviceWire} = internal global i64 0");
        m.Global($"{Pinned} = internal global ptr null");
        m.Global($"{CopyStream} = internal global ptr null");
        m.Global($"{Events} = internal global [{Math.Max(1, staging.Events)} x ptr] zeroinitializer");
        m.Global($"{Functions} = internal global [{Math.Max(1, kernels.Count)} x ptr] zeroinitializer");
        m.Global($"{Constants} = internal global [{Math.Max(1, constants.Count)} x i64] zeroinitializer");
        m.Global($"@gc.cuda.ptx = private unnamed_addr constant [{ptx.Length + 1} x i8] c\"{HostStrings.Escape(ptx)}\\00\", align 16");

        // gc.cuda.fail(what, code): "WHAT failed: CUDA_ERROR_NAME (code)".
        var noName = HostStrings.Literal(m, "unknown CUDA error");
        var format = HostStrings.Literal(m, "%s failed: %s (CUresult %d)");
        var getName = api.Single(e => e.Name == "cuGetErrorName").Index;
        m.AddFunction($$"""
            define internal void @{{DriverApi.Fail}}(ptr %what, i32 %code) nounwind {
            entry:
              %name = alloca ptr
              store ptr {{noName}}, ptr %name
              %fp = load ptr, ptr getelementptr inbounds ([{{api.Count}} x ptr], ptr {{DriverApi.ApiTable}}, i64 0, i64 {{getName}})
              %have = icmp ne ptr %fp, null
              br i1 %have, label %ask, label %format
            ask:
              %r = call i32 %fp(i32 %code, ptr %name)
              br label %format
            format:
              %n = load ptr, ptr %name
              %ok = icmp ne ptr %n, null
              %s = select i1 %ok, ptr %n, ptr {{noName}}
              %p = call i32 (ptr, i64, ptr, ...) @snprintf(ptr {{DriverApi.ErrorBuffer}}, i64 {{DriverApi.ErrorBufferBytes}}, ptr {{format}}, ptr %what, ptr %s, i32 %code)
              ret void
            }
            """);

        var b = new LlvmBuilder();
        var state = b.Let($"load i32, ptr {State}");
        var fresh = b.FreshLabel("fresh");
        var known = b.FreshLabel("known");
        b.CondBr(b.Let($"icmp eq i32 {state}, 0"), fresh, known);
        b.Block(known);
        // 1: ready; 2: an earlier attempt failed (its message stays in the error buffer).
        b.Line($"ret i32 {b.Let($"select i1 {b.Let($"icmp eq i32 {state}, 1")}, i32 0, i32 {(int)RuntimeStatus.NoDevice}")}");
        b.Block(fresh);
        // GC_CUDA_DRIVER, when set and not empty, names another driver library (the tests' emulator, a driver
        // outside the loader's path); otherwise the driver's own soname.
        m.Declare("declare ptr @getenv(ptr)");
        var env = b.Let($"call ptr @getenv(ptr {HostStrings.Literal(m, DriverVariable)})", "env");
        var envSet = b.FreshLabel("envset");
        var chosen = b.FreshLabel("chosen");
        var entryBlock = b.CurrentBlock;
        b.CondBr(b.Let($"icmp ne ptr {env}, null"), envSet, chosen);
        b.Block(envSet);
        var nonEmpty = b.Let($"icmp ne i8 {b.Let($"load i8, ptr {env}")}, 0");
        var fromEnv = b.Let($"select i1 {nonEmpty}, ptr {env}, ptr {HostStrings.Literal(m, DefaultDriver)}");
        b.Br(chosen);
        b.Block(chosen);
        var driver = b.Let($"phi ptr [ {HostStrings.Literal(m, DefaultDriver)}, %{entryBlock} ], [ {fromEnv}, %{envSet} ]", "driver");
        var lib = b.Let($"call ptr @dlopen(ptr {driver}, i32 2)", "lib");
        FailIfNull(m, b, lib, "cannot load %s: no NVIDIA driver on this machine", driver);
        foreach (var e in api)
        {
            var fp = b.Let($"call ptr @dlsym(ptr {lib}, ptr {HostStrings.Literal(m, e.Name)})", "sym");
            FailIfNull(m, b, fp, $"the CUDA driver has no {e.Name}: it is too old");
            b.Line($"store ptr {fp}, ptr {b.Let($"getelementptr inbounds [{api.Count} x ptr], ptr {DriverApi.ApiTable}, i64 0, i64 {e.Index}")}");
        }
        var dev = b.Alloca("i32");
        DriverApi.Call(m, b, "cuInit", "i32 0", "cuInit");
        DriverApi.Call(m, b, "cuDeviceGet", $"ptr {dev}, i32 0", "cuDeviceGet (device 0)");
        var d = b.Let($"load i32, ptr {dev}");
        DriverApi.Call(m, b, "cuDevicePrimaryCtxRetain", $"ptr {Context}, i32 {d}", "cuDevicePrimaryCtxRetain");
        DriverApi.Call(m, b, "cuCtxSetCurrent", $"ptr {b.Let($"load ptr, ptr {Context}")}", "cuCtxSetCurrent");
        LoadModule(m, b);
        var module = b.Let("load ptr, ptr @gc.cuda.module");
        for (int k = 0; k < kernels.Count; k++)
        {
            var slot = b.Let($"getelementptr inbounds [{kernels.Count} x ptr], ptr {Functions}, i64 0, i64 {k}");
            DriverApi.Call(m, b, "cuModuleGetFunction", $"ptr {slot}, ptr {module}, ptr {HostStrings.Literal(m, kernels[k].Name)}", $"cuModuleGetFunction ({kernels[k].Name})");
        }
        OptInToSharedMemory(m, b, kernels, d);
        DriverApi.Call(m, b, "cuStreamCreate", $"ptr {Stream}, i32 0", "cuStreamCreate");
        if (arenaBytes > 0)
            DriverApi.Call(m, b, "cuMemAlloc_v2", $"ptr {Arena}, i64 {arenaBytes}", $"cuMemAlloc of the {arenaBytes}-byte device arena");
        if (staging.DeviceWireBytes > 0)
            DriverApi.Call(m, b, "cuMemAlloc_v2", $"ptr {DeviceWire}, i64 {staging.DeviceWireBytes}", $"cuMemAlloc of the {staging.DeviceWireBytes}-byte compressed-transfer staging");
        if (staging.Events > 0)
        {
            DriverApi.Call(m, b, "cuStreamCreate", $"ptr {CopyStream}, i32 0", "cuStreamCreate (the copy stream)");
            DriverApi.Call(m, b, "cuMemAllocHost_v2", $"ptr {Pinned}, i64 {staging.PinnedBytes}", $"cuMemAllocHost of the {staging.PinnedBytes}-byte pinned staging");
            for (int e = 0; e < staging.Events; e++)
                DriverApi.Call(m, b, "cuEventCreate", $"ptr {b.Let($"getelementptr inbounds [{staging.Events} x ptr], ptr {Events}, i64 0, i64 {e}")}, i32 {EventDisableTiming}", "cuEventCreate");
        }
        for (int c = 0; c < constants.Count; c++)
        {
            var slot = b.Let($"getelementptr inbounds [{constants.Count} x i64], ptr {Constants}, i64 0, i64 {c}");
            var bytes = Math.Max(1, constants[c].Bytes);
            DriverApi.Call(m, b, "cuMemAlloc_v2", $"ptr {slot}, i64 {bytes}", $"cuMemAlloc of a {bytes}-byte constant");
            DriverApi.Call(m, b, "cuMemcpyHtoD_v2", $"i64 {b.Let($"load i64, ptr {slot}")}, ptr {constants[c].Global}, i64 {constants[c].Bytes}", "uploading a constant (cuMemcpyHtoD)");
        }
        b.Line($"store i32 1, ptr {State}");
        b.Line("ret i32 0");
        m.AddFunction($"define internal i32 @{Init}() nounwind {{\n{b.Body()}}}");

        // Release: frees what init made, in reverse; safe to call when init never ran or failed.
        var r = new LlvmBuilder();
        var st = r.Let($"load i32, ptr {State}");
        var up = r.FreshLabel("up");
        var done = r.FreshLabel("done");
        r.CondBr(r.Let($"icmp eq i32 {st}, 1"), up, done);
        r.Block(up);
        string Fp(string name) => r.Let($"load ptr, ptr {r.Let($"getelementptr inbounds [{api.Count} x ptr], ptr {DriverApi.ApiTable}, i64 0, i64 {DriverApi.Get(name).Index}")}", "fp");
        r.Let($"call i32 {Fp("cuCtxSetCurrent")}(ptr {r.Let($"load ptr, ptr {Context}")})");
        r.Let($"call i32 {Fp("cuStreamSynchronize")}(ptr {r.Let($"load ptr, ptr {Stream}")})");
        for (int c = 0; c < constants.Count; c++)
            r.Let($"call i32 {Fp("cuMemFree_v2")}(i64 {r.Let($"load i64, ptr {r.Let($"getelementptr inbounds [{constants.Count} x i64], ptr {Constants}, i64 0, i64 {c}")}")})");
        if (arenaBytes > 0) r.Let($"call i32 {Fp("cuMemFree_v2")}(i64 {r.Let($"load i64, ptr {Arena}")})");
        if (staging.DeviceWireBytes > 0) r.Let($"call i32 {Fp("cuMemFree_v2")}(i64 {r.Let($"load i64, ptr {DeviceWire}")})");
        if (staging.Events > 0)
        {
            r.Let($"call i32 {Fp("cuStreamSynchronize")}(ptr {r.Let($"load ptr, ptr {CopyStream}")})");
            for (int e = 0; e < staging.Events; e++)
                r.Let($"call i32 {Fp("cuEventDestroy_v2")}(ptr {r.Let($"load ptr, ptr {r.Let($"getelementptr inbounds [{staging.Events} x ptr], ptr {Events}, i64 0, i64 {e}")}")})");
            r.Let($"call i32 {Fp("cuMemFreeHost")}(ptr {r.Let($"load ptr, ptr {Pinned}")})");
            r.Let($"call i32 {Fp("cuStreamDestroy_v2")}(ptr {r.Let($"load ptr, ptr {CopyStream}")})");
        }
        r.Let($"call i32 {Fp("cuStreamDestroy_v2")}(ptr {r.Let($"load ptr, ptr {Stream}")})");
        r.Let($"call i32 {Fp("cuModuleUnload")}(ptr {r.Let("load ptr, ptr @gc.cuda.module")})");
        r.Let($"call i32 {Fp("cuDevicePrimaryCtxRelease_v2")}(i32 0)");
        r.Line($"store i32 0, ptr {State}");
        r.Br(done);
        r.Block(done);
        r.Line("ret void");
        m.AddFunction($"define internal void @{Release}() nounwind {{\n{r.Body()}}}");
        m.OnRelease(Release);
    }

    /// <summary>
    /// Kernels with dynamic shared memory: the device must allow the largest per block (its opt-in limit, queried: the
    /// compile-time budget is the architecture's least, <see cref="CudaTarget.MaxSharedBytesPerBlock"/>), and each kernel
    /// opts in to its own amount (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES), without which a launch asking for
    /// more than 48 KB fails.
    /// </summary>
    private static void OptInToSharedMemory(ModuleContext m, LlvmBuilder b, IReadOnlyList<LoadedKernel> kernels, string device)
    {
        int most = kernels.Select(k => k.DynamicSharedBytes).DefaultIfEmpty(0).Max();
        if (most == 0) return;
        var widest = kernels.First(k => k.DynamicSharedBytes == most).Name;
        var limit = b.Alloca("i32");
        DriverApi.Call(m, b, "cuDeviceGetAttribute", $"ptr {limit}, i32 {MaxSharedMemoryPerBlockOptin}, i32 {device}",
            "cuDeviceGetAttribute (MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)");
        var allowed = b.Let($"load i32, ptr {limit}", "optin");
        var tooSmall = b.FreshLabel("smem.short");
        var enough = b.FreshLabel("smem.ok");
        b.CondBr(b.Let($"icmp slt i32 {allowed}, {most}"), tooSmall, enough);
        b.Block(tooSmall);
        FailWith(m, b, $"kernel {widest} needs {most} bytes of shared memory per block; this GPU allows %d (compile for its architecture: --gpu-arch)", $"i32 {allowed}");
        b.Block(enough);
        for (int k = 0; k < kernels.Count; k++)
        {
            var (name, bytes) = kernels[k];
            if (bytes == 0) continue;
            var fn = b.Let($"load ptr, ptr {b.Let($"getelementptr inbounds [{kernels.Count} x ptr], ptr {Functions}, i64 0, i64 {k}")}", "fn");
            DriverApi.Call(m, b, "cuFuncSetAttribute", $"ptr {fn}, i32 {FuncMaxDynamicSharedSizeBytes}, i32 {bytes}",
                $"cuFuncSetAttribute ({name}: {bytes} bytes of dynamic shared memory)");
        }
    }

    /// <summary>CUdevice_attribute CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN (cuda.h).</summary>
    private const int MaxSharedMemoryPerBlockOptin = 97;

    /// <summary>CUfunction_attribute CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES (cuda.h).</summary>
    private const int FuncMaxDynamicSharedSizeBytes = 8;

    /// <summary>Bytes of the PTX assembler's error log the module load keeps (its first lines: the first error names its line).</summary>
    private const int JitLogBytes = 1024;

    /// <summary>
    /// <c>cuModuleLoadDataEx</c> of the embedded PTX with the driver's JIT error log (<c>CU_JIT_ERROR_LOG_BUFFER</c>,
    /// <c>CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES</c>: options 5 and 6 of <c>CUjit_option</c>): when the driver's PTX assembler
    /// rejects the module, the error says which line and why, on one line after the driver's error name, rather than
    /// only CUDA_ERROR_INVALID_PTX.
    /// </summary>
    private static void LoadModule(ModuleContext m, LlvmBuilder b)
    {
        const int errorLogBuffer = 5, errorLogBufferSize = 6;
        m.Global($"@gc.cuda.jitlog = internal global [{JitLogBytes} x i8] zeroinitializer");
        m.Declare("declare i64 @strlen(ptr)");
        var options = b.Alloca("[2 x i32]");
        var values = b.Alloca("[2 x ptr]");
        b.Line($"store i32 {errorLogBuffer}, ptr {options}");
        b.Line($"store i32 {errorLogBufferSize}, ptr {b.Let($"getelementptr inbounds [2 x i32], ptr {options}, i64 0, i64 1")}");
        b.Line($"store ptr @gc.cuda.jitlog, ptr {values}");
        // The size travels in the pointer-sized slot itself, as the driver's header says for integer options.
        b.Line($"store ptr inttoptr (i64 {JitLogBytes} to ptr), ptr {b.Let($"getelementptr inbounds [2 x ptr], ptr {values}, i64 0, i64 1")}");
        b.Line("store i8 0, ptr @gc.cuda.jitlog");
        DriverApi.Call(m, b, "cuModuleLoadDataEx", $"ptr @gc.cuda.module, ptr @gc.cuda.ptx, i32 2, ptr {options}, ptr {values}",
            "loading the PTX (cuModuleLoadDataEx)", () =>
            {
                // ": LOG" after the driver's message, the log's line breaks as spaces (the message is one line).
                var last = b.Let($"getelementptr inbounds [{JitLogBytes} x i8], ptr @gc.cuda.jitlog, i64 0, i64 {JitLogBytes - 1}");
                b.Line($"store i8 0, ptr {last}");
                var logged = b.Let("load i8, ptr @gc.cuda.jitlog");
                b.If(b.Let($"icmp ne i8 {logged}, 0"), () =>
                {
                    // One pass: line breaks become spaces, and the length kept ends at the last other character.
                    var kept = b.Reduce("0", b.Let("call i64 @strlen(ptr @gc.cuda.jitlog)"), "i64", "0", (end, i) =>
                    {
                        var at = b.Let($"getelementptr inbounds i8, ptr @gc.cuda.jitlog, i64 {i}");
                        var c = b.Let($"load i8, ptr {at}");
                        var space = b.Let($"or i1 {b.Let($"icmp eq i8 {c}, 10")}, {b.Let($"icmp eq i8 {c}, 13")}");
                        b.Line($"store i8 {b.Let($"select i1 {space}, i8 32, i8 {c}")}, ptr {at}");
                        var blank = b.Let($"or i1 {space}, {b.Let($"icmp eq i8 {c}, 32")}");
                        return b.Let($"select i1 {blank}, i64 {end}, i64 {b.Let($"add i64 {i}, 1")}");
                    }, "log");
                    var used = b.Let($"call i64 @strlen(ptr {DriverApi.ErrorBuffer})");
                    var tail = b.Let($"getelementptr inbounds i8, ptr {DriverApi.ErrorBuffer}, i64 {used}");
                    b.Line($"call i32 (ptr, i64, ptr, ...) @snprintf(ptr {tail}, i64 {b.Let($"sub i64 {DriverApi.ErrorBufferBytes}, {used}")}, ptr {HostStrings.Literal(m, ": %.*s")}, i32 {b.Let($"trunc i64 {kept} to i32")}, ptr @gc.cuda.jitlog)");
                }, "jitlog");
            });
    }

    /// <summary>When <paramref name="pointer"/> is null: <see cref="FailWith"/>; the code after continues where it is not.</summary>
    private static void FailIfNull(ModuleContext m, LlvmBuilder b, string pointer, string format, string? argument = null)
    {
        var isNull = b.FreshLabel("null");
        var ok = b.FreshLabel("ok");
        b.CondBr(b.Let($"icmp eq ptr {pointer}, null"), isNull, ok);
        b.Block(isNull);
        FailWith(m, b, format, argument is null ? null : $"ptr {argument}");
        b.Block(ok);
    }

    /// <summary>Formats the error (<paramref name="format"/> with one typed <paramref name="argument"/>, e.g. <c>ptr %x</c>), marks init failed and returns NoDevice.</summary>
    private static void FailWith(ModuleContext m, LlvmBuilder b, string format, string? argument = null)
    {
        var args = argument is null ? $"ptr {HostStrings.Literal(m, "%s")}, ptr {HostStrings.Literal(m, format)}" : $"ptr {HostStrings.Literal(m, format)}, {argument}";
        b.Line($"call i32 (ptr, i64, ptr, ...) @snprintf(ptr {DriverApi.ErrorBuffer}, i64 {DriverApi.ErrorBufferBytes}, {args})");
        b.Line($"store i32 2, ptr {State}");
        b.Line($"ret i32 {(int)RuntimeStatus.NoDevice}");
    }
}
