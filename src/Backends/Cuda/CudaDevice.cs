using System.Runtime.InteropServices;

namespace GraphCompiler.Backends.Cuda;

/// <summary>
/// The GPU an in-process compile will run on, as the driver describes it: a JIT (<c>run</c>/<c>check --backend cuda</c>,
/// <c>CompiledModel</c> with <c>Target = cuda</c>) compiles for that device — its architecture and multiprocessor count —
/// unless the options name them, as XLA compiles for the GPU it finds. A library (<c>compile</c>) is built for the
/// architecture it names, ahead of time, and never asks.
/// </summary>
public static class CudaDevice
{
    // cuDeviceGetAttribute's attributes (cuda.h, CUdevice_attribute).
    private const int MultiprocessorCount = 16, MaxThreadsPerMultiprocessor = 39, ComputeCapabilityMajor = 75, ComputeCapabilityMinor = 76;

    /// <summary>What the driver says of device 0 (the resident threads per multiprocessor: 8.0's and 9.0's 2048 where it does not say).</summary>
    public readonly record struct Properties(int Major, int Minor, int Multiprocessors)
    {
        public int ResidentThreadsPerMultiprocessor { get; init; } = CudaTarget.DefaultResidentThreadsPerMultiprocessor;
    }

    /// <summary>
    /// Device 0's compute capability and multiprocessor count through the driver the generated runtime loads
    /// (<c>GC_CUDA_DRIVER</c> or <c>libcuda.so.1</c>), or null where there is none or it cannot say.
    /// </summary>
    public static Properties? Query()
    {
        if (!NativeLibrary.TryLoad(CudaBackend.DriverOverride() ?? CudaBackend.DriverLibrary, out var driver)) return null;
        // The library stays loaded: the generated runtime loads it too, and a driver is not unloaded after cuInit.
        if (!NativeLibrary.TryGetExport(driver, "cuInit", out var init) || !NativeLibrary.TryGetExport(driver, "cuDeviceGet", out var get)
            || !NativeLibrary.TryGetExport(driver, "cuDeviceGetAttribute", out var attribute))
            return null;
        if (Marshal.GetDelegateForFunctionPointer<CuInit>(init)(0) != 0 || Marshal.GetDelegateForFunctionPointer<CuDeviceGet>(get)(out var device, 0) != 0)
            return null;
        var read = Marshal.GetDelegateForFunctionPointer<CuDeviceGetAttribute>(attribute);
        int? Attribute(int which) => read(out var value, which, device) == 0 ? value : null;
        if (Attribute(ComputeCapabilityMajor) is not { } major || Attribute(ComputeCapabilityMinor) is not { } minor || Attribute(MultiprocessorCount) is not { } sms || sms <= 0)
            return null;
        var device0 = new Properties(major, minor, sms);
        return Attribute(MaxThreadsPerMultiprocessor) is { } threads && threads > 0 ? device0 with { ResidentThreadsPerMultiprocessor = threads } : device0;
    }

    /// <summary>
    /// <paramref name="declared"/> made for <paramref name="device"/>: compute capability 9.0 (H100, H200) takes sm_90a and
    /// its wgmma; a later GPU sm_90 (architecture-specific PTX runs only on its own capability; the driver compiles sm_90
    /// PTX for the newer one); 8.x the default sm_80; kernel shapes for its multiprocessors and their resident threads.
    /// TF32 stays as declared.
    /// </summary>
    public static CudaTarget For(CudaTarget declared, Properties device)
    {
        var arch = (device.Major, device.Minor) switch
        {
            (9, 0) => "sm_90a",
            _ when device.Major >= 9 => "sm_90",
            _ => CudaTarget.Default.Arch,
        };
        return new CudaTarget(arch)
        {
            Multiprocessors = device.Multiprocessors, ResidentThreadsPerMultiprocessor = device.ResidentThreadsPerMultiprocessor, AllowTf32 = declared.AllowTf32,
        };
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int CuInit(uint flags);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int CuDeviceGet(out int device, int ordinal);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int CuDeviceGetAttribute(out int value, int attribute, int device);
}
