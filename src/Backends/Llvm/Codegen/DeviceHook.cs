using GraphCompiler.IR;

namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>What a device hook sees of the host program being emitted.</summary>
/// <param name="B">The builder of the host function being emitted.</param>
/// <param name="HostPointer">The host buffer of a value the host side placed (argument, arena slot, constant, result).</param>
/// <param name="ReturnIf">Returns the second argument (an i32 status) from the program when the first (an i1) holds.</param>
public sealed record DeviceSite(LlvmBuilder B, ModuleContext Module, Func<Value, string> HostPointer, Action<string, string> ReturnIf);

/// <summary>
/// Lets a device take part in the host program <see cref="ProgramEmitter"/> emits (a GPU target
/// implements it): it claims the ops placed on it and the transfers, and keeps its values in its own
/// memory.
/// </summary>
public interface IDeviceHook
{
    /// <summary>Whether <paramref name="v"/> has no host buffer (it lives on the device, or nowhere).</summary>
    bool Elsewhere(Value v);

    /// <summary>Emits <paramref name="op"/> when it is the device's (a kernel or a transfer); false leaves it to the host kernels.</summary>
    bool TryEmit(Operation op, DeviceSite site);

    /// <summary>The address (an i64) of the device buffer of <paramref name="v"/>, which the device keeps (<see cref="Elsewhere"/>).</summary>
    string DeviceAddress(Value v, DeviceSite site);

    /// <summary>From now on <paramref name="v"/>'s device buffer is at <paramref name="address"/> (a loop's region arguments are its carried buffers).</summary>
    void Alias(Value v, string address);

    /// <summary>Copies <paramref name="bytes"/> from device address <paramref name="from"/> to <paramref name="to"/>, in order with the device's kernels.</summary>
    void CopyOnDevice(DeviceSite site, string to, string from, long bytes);

    /// <summary>Before the first op: bring the device up.</summary>
    void Prologue(DeviceSite site);

    /// <summary>After the last op, before results are copied out: wait for the device.</summary>
    void Epilogue(DeviceSite site);
}

/// <summary>
/// How the host program's kernels are emitted: one function per op or fusion that runs on the host
/// (the CPU backend's <c>CpuKernels.Instance</c>). The host program calls each as
/// <c>i32 @name(ptr out..., ptr in..., ptr scratch, i32 threads)</c>, which returns 0, or a nonzero status.
/// </summary>
public interface IHostKernels
{
    /// <summary>
    /// Emits <c>define internal i32 @name(ptr out..., ptr in..., ptr scratch, i32 threads)</c> computing
    /// <paramref name="outputs"/> from <paramref name="inputs"/> through <paramref name="ops"/> (in order,
    /// without a terminator). <paramref name="constants"/> gives the contents of inputs that are
    /// compile-time constants. With <paramref name="outputsOverwriteInputs"/>, an output buffer may be an input's
    /// (an in-place variable update, read elementwise): the kernel must read each input element before it
    /// stores the outputs' element there, so no output may serve as scratch for a contraction first.
    /// Returns the bytes of scratch the kernel needs: <c>scratch</c> points to that many (64-byte aligned) in the
    /// caller's arena, after its values, shared by every kernel of the function, so its contents last one call.
    /// </summary>
    long Emit(ModuleContext module, string name, IReadOnlyList<Value> inputs, IReadOnlyList<Operation> ops, IReadOnlyList<Value> outputs,
        IReadOnlyDictionary<Value, Tensor> constants, bool outputsOverwriteInputs = false);
}

/// <summary>
/// Lets a program split over several processes (tasks, MPI ranks: model parallelism) take part in the
/// host program <see cref="ProgramEmitter"/> emits for its entry function: every process runs the same
/// code (SPMD), a top-level op runs only in the process of its task, and the transfers between tasks
/// are the hook's to emit. The CPU backend implements it over MPI.
/// </summary>
public interface ITaskHook
{
    /// <summary>Before the first op: join the processes and check there are as many as the program's tasks.</summary>
    void Prologue(DeviceSite site);

    /// <summary>Emits <paramref name="op"/> when it is a transfer between tasks; false leaves it to the host program.</summary>
    bool TryEmit(Operation op, DeviceSite site);

    /// <summary>An i1 that holds in the processes where the top-level op <paramref name="op"/> runs, or null: in all of them.</summary>
    string? RunsHere(Operation op, DeviceSite site);

    /// <summary>After the results were copied to the caller's buffers (<paramref name="results"/>, in order): make them every process's.</summary>
    void Epilogue(DeviceSite site, IReadOnlyList<string> results);
}
