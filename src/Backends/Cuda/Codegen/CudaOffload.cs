using GraphCompiler.Runtime;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// What the host program does for the GPU: launches each GPU op's kernels on the library's stream, and runs every
/// transfer through pinned memory on a copy stream (<see cref="TransferStaging"/>), started at its <c>send</c> and
/// awaited at its <c>recv</c>: a host→device copy overlaps the kernels queued between them (the compute stream waits
/// for it only at the first GPU reader), and a device→host copy lets the GPU keep working while the CPU op that
/// needs the value waits for that copy only. The device arena holds the GPU's values at offsets from its own
/// buffer assignment.
/// <para>
/// Device mode (<c>NAME_run_device</c>): arguments and results are device pointers. An argument's
/// host→device transfer becomes the argument itself, and a GPU value that is only returned is computed
/// straight into the result; a model that reads an argument or writes a result on the CPU is refused
/// with an error, as such a pointer cannot be read by the host.
/// </para>
/// </summary>
internal sealed class CudaOffload(CudaPlan plan, bool deviceMode) : IDeviceHook
{
    private readonly Dictionary<Value, string> _devicePointers = new(ReferenceEqualityComparer.Instance);

    public bool Elsewhere(Value v) => plan.OnDevice(v) || plan.Nowhere(v);

    public void Prologue(DeviceSite site)
    {
        var (b, m) = (site.B, site.Module);
        var status = b.Let($"call i32 @{HostRuntime.Init}()", "cuinit");
        site.ReturnIf(b.Let($"icmp ne i32 {status}, 0"), status);
        DriverApi.Call(m, b, "cuCtxSetCurrent", $"ptr {b.Let("load ptr, ptr @gc.cuda.ctx")}", "cuCtxSetCurrent");
        // A transfer to the GPU inside a loop waits for its previous copy before refilling its slot: give the first one a record.
        if (plan.Staging.Nested.Count > 0)
        {
            var copyStream = b.Let($"load ptr, ptr {HostRuntime.CopyStream}", "copystream");
            foreach (var send in plan.Staging.Nested)
                DriverApi.Call(m, b, "cuEventRecord", $"ptr {Event(b, 2 * plan.Staging.ToDevice[send].Index + 1)}, ptr {copyStream}", "cuEventRecord (a loop's transfer)");
        }
        if (!deviceMode) return;
        if (plan.DeviceModeProblem is { } problem)
        {
            b.Line($"call i32 (ptr, i64, ptr, ...) @snprintf(ptr {DriverApi.ErrorBuffer}, i64 {DriverApi.ErrorBufferBytes}, ptr {HostStrings.Literal(m, "%s")}, ptr {HostStrings.Literal(m, problem)})");
            b.Line($"ret i32 {(int)RuntimeStatus.DeviceRunRefused}");
            b.Block(b.FreshLabel("unreachable"));
            return;
        }
        var f = plan.Function;
        for (int i = 0; i < f.Arguments.Length; i++)
        {
            var p = b.Let($"ptrtoint ptr {site.HostPointer(f.Arguments[i])} to i64", "darg");
            foreach (var recv in plan.ReceivedArguments(f.Arguments[i])) _devicePointers[recv] = p;
        }
        var returned = f.Body.Yielded;
        for (int i = 0; i < returned.Length; i++)
        {
            if (plan.ComputedIntoResult(returned[i]) is not { } gpuValue) continue;
            var slot = b.Let($"getelementptr inbounds ptr, ptr %results, i64 {i}");
            _devicePointers[gpuValue] = b.Let($"ptrtoint ptr {b.Let($"load ptr, ptr {slot}")} to i64", "dres");
        }
    }

    public void Epilogue(DeviceSite site) =>
        DriverApi.Call(site.Module, site.B, "cuStreamSynchronize", $"ptr {site.B.Let($"load ptr, ptr {HostRuntime.Stream}")}", "waiting for the GPU (cuStreamSynchronize)");

    public bool TryEmit(Operation op, DeviceSite site)
    {
        switch (op.Def)
        {
            case SendOp when op.Attr.Enum("to") == Placement.Gpu:
                SendToDevice(op, site);
                return true;
            case RecvOp when op.Attr.Enum("to") == Placement.Gpu:
                ReceiveOnDevice(op, site);
                return true;
            case SendOp:
                if (!deviceMode) StartCopyToHost(op, site); // device mode copies a result at its recv, on the device
                return true;
            case RecvOp:
                ReceiveOnHost(op, site);
                return true;
        }
        if (!plan.Kernels.TryGetValue(op, out var kernels)) return false;
        foreach (var k in kernels) Launch(k, site);
        return true;
    }

    public string DeviceAddress(Value v, DeviceSite site) => DevicePointer(v, site);

    public void Alias(Value v, string address) => _devicePointers[v] = address;

    public void CopyOnDevice(DeviceSite site, string to, string from, long bytes)
    {
        if (bytes == 0) return;
        DriverApi.Call(site.Module, site.B, "cuMemcpyDtoDAsync_v2", $"i64 {to}, i64 {from}, i64 {bytes}, ptr {Stream(site.B)}", "copying a loop-carried value (cuMemcpyDtoDAsync)");
    }

    private string DevicePointer(Value v, DeviceSite site)
    {
        if (_devicePointers.TryGetValue(v, out var p)) return p;
        var b = site.B;
        if (plan.ConstantIndex(v) is { } c)
            return b.Let($"load i64, ptr {b.Let($"getelementptr inbounds [{plan.DeviceConstants.Count} x i64], ptr {HostRuntime.Constants}, i64 0, i64 {c}")}", "dconst");
        var offset = plan.DeviceOffset(v) ?? throw new CodegenException("a GPU value has no device buffer");
        return b.Let($"add i64 {b.Let($"load i64, ptr {HostRuntime.Arena}", "darena")}, {offset}", "dptr");
    }

    private string Stream(LlvmBuilder b) => b.Let($"load ptr, ptr {HostRuntime.Stream}", "stream");

    /// <summary>
    /// A host value leaving for the GPU, at its send: copied (or narrowed) into its pinned slot, so the host buffer is free at
    /// once; then, once the compute stream has finished with the destination's device buffer ("free"), the copy stream
    /// copies the slot there (into the 16-bit device slot when compressed) and records "arrived".
    /// </summary>
    private void SendToDevice(Operation op, DeviceSite site)
    {
        var x = op.Operands[0];
        if (_devicePointers.ContainsKey(op.Result)) return; // device mode: the argument is already there
        var b = site.B;
        var (index, offset, bytes) = plan.Staging.ToDevice[op];
        if (plan.Staging.Nested.Contains(op))
            DriverApi.Call(site.Module, b, "cuEventSynchronize", $"ptr {Event(b, 2 * index + 1)}", "waiting for a loop's previous copy to the GPU (cuEventSynchronize)");
        var slot = PinnedSlot(b, offset);
        string target;
        if (WireKernel.Wire(op) is { } wire)
        {
            b.Line($"call void @\"{WireKernel.Host(site.Module, narrow: true, wire, plan.HostHelpers)}\"(ptr {slot}, ptr {site.HostPointer(x)}, i64 {x.Type.ElementCount})");
            target = DeviceWireSlot(b, op);
        }
        else
        {
            site.Module.Declare("declare void @llvm.memcpy.p0.p0.i64(ptr noalias, ptr noalias, i64, i1)");
            b.Line($"call void @llvm.memcpy.p0.p0.i64(ptr {slot}, ptr {site.HostPointer(x)}, i64 {bytes}, i1 false)");
            target = DevicePointer(op.Result, site);
        }
        OnCopyStream(site, index, "a device buffer free for a copy", copy =>
            DriverApi.Call(site.Module, b, "cuMemcpyHtoDAsync_v2", $"i64 {target}, ptr {slot}, i64 {bytes}, ptr {copy}", "copying to the GPU (cuMemcpyHtoDAsync)"));
    }

    /// <summary>
    /// A transfer's copy on the copy stream: event 2·<paramref name="index"/> recorded on the compute stream here
    /// (<paramref name="reached"/>: what the compute stream has finished by now), the copy stream waits for it, copies, and
    /// records event 2·index + 1 ("arrived"), which the recv waits for.
    /// </summary>
    private void OnCopyStream(DeviceSite site, int index, string reached, Action<string> copy)
    {
        var b = site.B;
        var stream = b.Let($"load ptr, ptr {HostRuntime.CopyStream}", "copystream");
        DriverApi.Call(site.Module, b, "cuEventRecord", $"ptr {Event(b, 2 * index)}, ptr {Stream(b)}", $"cuEventRecord ({reached})");
        DriverApi.Call(site.Module, b, "cuStreamWaitEvent", $"ptr {stream}, ptr {Event(b, 2 * index)}, i32 0", "cuStreamWaitEvent");
        copy(stream);
        DriverApi.Call(site.Module, b, "cuEventRecord", $"ptr {Event(b, 2 * index + 1)}, ptr {stream}", "cuEventRecord (a copy arrived)");
    }

    /// <summary>At the recv before the first GPU reader: the compute stream waits for the copy (then widens it when compressed).</summary>
    private void ReceiveOnDevice(Operation recv, DeviceSite site)
    {
        var send = plan.Producer(recv.Operands[0]);
        if (_devicePointers.ContainsKey(send.Result)) return; // device mode: an argument, already on the device
        var b = site.B;
        var (index, _, _) = plan.Staging.ToDevice[send];
        DriverApi.Call(site.Module, b, "cuStreamWaitEvent", $"ptr {Stream(b)}, ptr {Event(b, 2 * index + 1)}, i32 0", "cuStreamWaitEvent (a copy to the GPU)");
        if (WireKernel.Wire(send) is not null) LaunchWire(send, site, DevicePointer(send.Result, site), DeviceWireSlot(b, send));
    }

    /// <summary>The 16-bit device slot of compressed transfer <paramref name="send"/>.</summary>
    private string DeviceWireSlot(LlvmBuilder b, Operation send) =>
        b.Let($"add i64 {b.Let($"load i64, ptr {HostRuntime.DeviceWire}", "dwire")}, {plan.Staging.DeviceWireOffsets[send]}", "dslot");

    /// <summary>Launches the widening or narrowing kernel of compressed transfer <paramref name="send"/>: <c>(dst, src)</c>, device pointers.</summary>
    private void LaunchWire(Operation send, DeviceSite site, string dst, string src)
    {
        var (name, index, grid) = plan.WireKernels[send];
        Launch(site, name, index, (grid, 1, 1), WireKernel.Block, [dst, src]);
    }

    private string Event(LlvmBuilder b, int index) =>
        b.Let($"load ptr, ptr {b.Let($"getelementptr inbounds [{plan.Staging.Events} x ptr], ptr {HostRuntime.Events}, i64 0, i64 {index}")}", "event");

    private string PinnedSlot(LlvmBuilder b, long offset) => b.Let($"getelementptr inbounds i8, ptr {b.Let($"load ptr, ptr {HostRuntime.Pinned}", "pinned")}, i64 {offset}", "slot");

    /// <summary>
    /// A GPU value leaving for the host, at its send (right after its producer): once the compute stream has produced it
    /// ("ready"), the copy stream copies it (narrowed first when compressed) into its pinned slot and records "arrived".
    /// The host goes on queueing kernels; only the recv waits.
    /// </summary>
    private void StartCopyToHost(Operation send, DeviceSite site)
    {
        var b = site.B;
        var (index, offset, bytes) = plan.Staging.ToHost[send];
        var source = DevicePointer(send.Operands[0], site);
        if (WireKernel.Wire(send) is not null)
        {
            var slot = DeviceWireSlot(b, send);
            LaunchWire(send, site, slot, source);
            source = slot;
        }
        OnCopyStream(site, index, "a value ready for the host", copy =>
            DriverApi.Call(site.Module, b, "cuMemcpyDtoHAsync_v2", $"ptr {PinnedSlot(b, offset)}, i64 {source}, i64 {bytes}, ptr {copy}", "copying from the GPU (cuMemcpyDtoHAsync)"));
    }

    private void ReceiveOnHost(Operation op, DeviceSite site)
    {
        var b = site.B;
        var src = op.Operands[0];
        var gpuValue = plan.SentValue(src);
        var bytes = op.Result.Type.ByteSize;
        if (deviceMode && plan.ReturnedDirectly(op.Result))
        {
            if (plan.ComputedIntoResult(op.Result) is not null) return; // the kernel wrote the result itself
            var dst = b.Let($"ptrtoint ptr {site.HostPointer(op.Result)} to i64");
            DriverApi.Call(site.Module, b, "cuMemcpyDtoDAsync_v2", $"i64 {dst}, i64 {DevicePointer(gpuValue, site)}, i64 {bytes}, ptr {Stream(b)}", "copying a result (cuMemcpyDtoDAsync)");
            return;
        }
        // Wait for this copy only, then from the pinned slot into place (widened when it came compressed).
        var send = plan.Producer(src);
        var (index, offset, _) = plan.Staging.ToHost[send];
        DriverApi.Call(site.Module, b, "cuEventSynchronize", $"ptr {Event(b, 2 * index + 1)}", "waiting for a copy from the GPU (cuEventSynchronize)");
        var slot = PinnedSlot(b, offset);
        if (WireKernel.Wire(send) is { } wire)
        {
            b.Line($"call void @\"{WireKernel.Host(site.Module, narrow: false, wire, plan.HostHelpers)}\"(ptr {site.HostPointer(op.Result)}, ptr {slot}, i64 {op.Result.Type.ElementCount})");
            return;
        }
        site.Module.Declare("declare void @llvm.memcpy.p0.p0.i64(ptr noalias, ptr noalias, i64, i1)");
        b.Line($"call void @llvm.memcpy.p0.p0.i64(ptr {site.HostPointer(op.Result)}, ptr {slot}, i64 {bytes}, i1 false)");
    }

    private void Launch(GpuKernel k, DeviceSite site)
    {
        string[] pointers = [.. k.Parameters.Select(p => DevicePointer(p, site))];
        if (k.ScratchBytes > 0)
            pointers = [.. pointers, site.B.Let($"add i64 {site.B.Let($"load i64, ptr {HostRuntime.Arena}", "darena")}, {plan.ScratchOffset}", "scratch")];
        if (k.Scalars is { } scalars) pointers = [.. pointers, .. scalars.Select(s => s.ToString(System.Globalization.CultureInfo.InvariantCulture))];
        Launch(site, k.Name, plan.KernelIndex(k), (k.GridX, k.GridY, k.GridZ), k.Block, pointers, k.DynamicSharedBytes);
    }

    /// <summary>cuLaunchKernel of kernel <paramref name="index"/> on the compute stream with these parameters (device pointers and i64 scalars, 8 bytes each).</summary>
    private void Launch(DeviceSite site, string name, int index, (long X, long Y, long Z) grid, int block, string[] parameters, int dynamicShared = 0)
    {
        var b = site.B;
        int n = Math.Max(1, parameters.Length);
        var values = b.Alloca($"[{n} x i64]");
        var pointers = b.Alloca($"[{n} x ptr]");
        for (int i = 0; i < parameters.Length; i++)
        {
            var slot = b.Let($"getelementptr inbounds [{n} x i64], ptr {values}, i64 0, i64 {i}");
            b.Line($"store i64 {parameters[i]}, ptr {slot}");
            b.Line($"store ptr {slot}, ptr {b.Let($"getelementptr inbounds [{n} x ptr], ptr {pointers}, i64 0, i64 {i}")}");
        }
        var fn = b.Let($"load ptr, ptr {b.Let($"getelementptr inbounds [{plan.Loaded.Count} x ptr], ptr {HostRuntime.Functions}, i64 0, i64 {index}")}", "kernel");
        DriverApi.Call(site.Module, b, "cuLaunchKernel",
            $"ptr {fn}, i32 {grid.X}, i32 {grid.Y}, i32 {grid.Z}, i32 {block}, i32 1, i32 1, i32 {dynamicShared}, ptr {Stream(b)}, ptr {pointers}, ptr null",
            $"launching {name} (cuLaunchKernel)");
    }
}
