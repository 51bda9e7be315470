using GraphCompiler.Runtime;
using GraphCompiler.Backends.Llvm.Codegen;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// The CUDA driver API as the generated host code calls it: each entry point is looked up with
/// <c>dlsym</c> in <c>libcuda.so.1</c> when the library first runs, so a library (or a process) built
/// with a CUDA target loads and reports a clear error on a machine without a driver. The _v2 names
/// are the ones the driver's own header maps the plain names to.
/// </summary>
internal static class DriverApi
{
    public sealed record Entry(int Index, string Name);

    // Signatures are written at each call site (DriverApi.Call's args), as the driver's header gives them.
    private static readonly string[] Names =
    [
        "cuInit", "cuDeviceGet", "cuDevicePrimaryCtxRetain", "cuCtxSetCurrent", "cuModuleLoadDataEx", "cuModuleGetFunction",
        "cuStreamCreate", "cuMemAlloc_v2", "cuMemcpyHtoD_v2", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2",
        "cuMemcpyDtoDAsync_v2", "cuLaunchKernel", "cuStreamSynchronize", "cuGetErrorName", "cuMemFree_v2",
        "cuModuleUnload", "cuStreamDestroy_v2", "cuDevicePrimaryCtxRelease_v2",
        "cuMemAllocHost_v2", "cuMemFreeHost", "cuEventCreate", "cuEventRecord", "cuStreamWaitEvent", "cuEventSynchronize",
        "cuEventDestroy_v2", "cuDeviceGetAttribute", "cuFuncSetAttribute",
    ];

    public static readonly IReadOnlyList<Entry> All = [.. Names.Select((n, i) => new Entry(i, n))];

    public static Entry Get(string name) => All.Single(e => e.Name == name);

    public const string ApiTable = "@gc.cuda.api";
    public const string ErrorBuffer = "@gc.cuda.err";

    /// <summary>
    /// The error buffer's size (what <c>NAME_last_error</c> returns): room for the driver's message and the first lines of
    /// the PTX assembler's log when loading the module fails.
    /// </summary>
    public const int ErrorBufferBytes = 2048;
    public const string Fail = "gc.cuda.fail";

    /// <summary>
    /// Calls a driver entry point; on a nonzero CUresult, formats "WHAT failed: CUDA_ERROR_..." into the
    /// error buffer, lets <paramref name="explain"/> add to it, and returns status 3 from the enclosing function (which returns i32).
    /// </summary>
    public static void Call(ModuleContext m, LlvmBuilder b, string name, string args, string what, Action? explain = null)
    {
        var e = Get(name);
        var fp = b.Let($"load ptr, ptr {b.Let($"getelementptr inbounds [{All.Count} x ptr], ptr {ApiTable}, i64 0, i64 {e.Index}")}", "fp");
        var r = b.Let($"call i32 {fp}({args})", "cu");
        var failed = b.FreshLabel("cufail");
        var ok = b.FreshLabel("cuok");
        b.CondBr(b.Let($"icmp ne i32 {r}, 0"), failed, ok);
        b.Block(failed);
        var msg = HostStrings.Literal(m, what);
        b.Line($"call void @{Fail}(ptr {msg}, i32 {r})");
        explain?.Invoke();
        b.Line($"ret i32 {(int)RuntimeStatus.DeviceCallFailed}");
        b.Block(ok);
    }
}
