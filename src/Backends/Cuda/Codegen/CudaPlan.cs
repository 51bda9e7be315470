using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// The device side of one placed function (after <c>place-devices</c> and <c>insert-transfers</c>):
/// which values live in GPU memory and where, which constants the GPU reads, and every GPU op's
/// kernels, emitted into <paramref name="device"/>. Checks that the placement is complete: a GPU op
/// reads only GPU values and constants.
/// </summary>
internal sealed class CudaPlan
{
    private static readonly ReferenceEqualityComparer Same = ReferenceEqualityComparer.Instance;

    public Function Function { get; }
    public Dictionary<Operation, IReadOnlyList<GpuKernel>> Kernels { get; } = new(ReferenceEqualityComparer.Instance);
    /// <summary>The kernels the runtime looks up at load time, in the order launches index them.</summary>
    public List<LoadedKernel> Loaded { get; } = [];
    /// <summary>Constants GPU kernels read, with their contents, in upload order.</summary>
    public List<(Value Value, Tensor Tensor)> DeviceConstants { get; } = [];

    /// <summary>Each device constant's place in <see cref="DeviceConstants"/>.</summary>
    private readonly Dictionary<Value, int> _constantIndex = new(ReferenceEqualityComparer.Instance);

    /// <summary>Uploads <paramref name="x"/>'s contents once, however many kernels read it.</summary>
    private void AddDeviceConstant(Value x, Tensor contents)
    {
        if (_constantIndex.TryAdd(x, DeviceConstants.Count)) DeviceConstants.Add((x, contents));
    }
    /// <summary>The device arena: every GPU value's buffer, then the kernels' scratch (<see cref="ScratchOffset"/>).</summary>
    public long DeviceArenaBytes { get; }

    /// <summary>Where the kernels' shared scratch starts in the device arena (<see cref="GpuKernel.ScratchBytes"/>).</summary>
    public long ScratchOffset { get; }
    public string? DeviceModeProblem { get; }

    /// <summary>The GPU half of each compressed transfer, by its send: the widening or narrowing kernel, its index and grid.</summary>
    public Dictionary<Operation, (string Name, int Index, long Grid)> WireKernels { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>Where device→host transfers and compressed transfers stage their bytes (<see cref="TransferStaging"/>).</summary>
    public TransferStaging Staging { get; }

    /// <summary>Host helper functions already defined in the host module (the run and run_device entry points share them).</summary>
    public HashSet<string> HostHelpers { get; } = [];

    private readonly Dictionary<Value, Operation> _producer = new(Same);
    private readonly Dictionary<Value, int> _uses = new(Same);
    private readonly CudaPlacement _placement;
    private readonly IReadOnlyDictionary<Value, int> _direct;
    private readonly Dictionary<string, int> _kernelIndex = [];
    private readonly Dictionary<Value, long> _offsets = new(Same);

    public CudaPlan(Function f, DeviceModule device)
    {
        Function = f;
        // The ops inside host control flow (loop bodies, branches) launch their kernels and transfers as top-level ones do.
        var ops = Placement.HostedOps(f.Body).ToList();
        _placement = new CudaPlacement(ops);
        _direct = DirectResults.Of(f);
        foreach (var op in f.Body.Operations) ArenaModel.ForEachUse(op, v => _uses[v] = _uses.GetValueOrDefault(v) + 1);
        foreach (var op in ops)
            foreach (var r in op.Results) _producer[r] = op;
        foreach (var op in ops)
        {
            if (op.Def is ConstantOp or SendOp or RecvOp || op.Def.IsTerminator || Placement.DeviceOf(op) != Placement.Gpu) continue;
            if (!CudaCapabilities.Supports(op))
                throw new CodegenException($"'{op.Name}'{Where(op)} is placed on the GPU but the CUDA backend has no kernel for it");
            var constants = new Dictionary<Value, Tensor>(Same);
            foreach (var x in op.Operands)
            {
                if (_producer.TryGetValue(x, out var p) && p.Def is ConstantOp)
                {
                    constants[x] = p.Attr.Tensor("value");
                    AddDeviceConstant(x, constants[x]);
                }
                else if (!OnDevice(x))
                    throw new CodegenException($"'{op.Name}'{Where(op)} runs on the GPU but reads a value that is not there; run insert-transfers after place-devices");
            }
            var kernels = GpuCodegen.Emit(device, op, constants);
            // A kernel launched several times (a sort network's step) is looked up once.
            foreach (var k in kernels.Where(k => !_kernelIndex.ContainsKey(k.Name)))
            {
                _kernelIndex[k.Name] = Loaded.Count;
                Loaded.Add(new LoadedKernel(k.Name, k.DynamicSharedBytes));
            }
            Kernels[op] = kernels;
        }
        foreach (var send in ops.Where(o => o.Def is SendOp))
        {
            if (WireKernel.Wire(send) is not { } wire) continue;
            var (name, grid) = WireKernel.Emit(device, narrow: send.Attr.Enum("to") == Placement.Cpu, wire, send.Result.Type.ElementCount);
            WireKernels[send] = (name, Loaded.Count, grid);
            Loaded.Add(new LoadedKernel(name, 0));
        }
        // A value host control flow keeps on the GPU (a loop's carried value, a branch's result) is copied there on the device
        // from a loop's operand and each yield: those must be GPU values, or constants (uploaded with the kernels' ones).
        foreach (var owner in ops.Where(Placement.HostsRegions))
            for (int i = 0; i < owner.Results.Length; i++)
            {
                if (Placement.ValueDevice(owner, i) != Placement.Gpu) continue;
                var sources = owner.Regions.Select((r, ri) => (r, ri)).Where(p => Placement.YieldDevice(owner, p.ri, i) == Placement.Gpu).Select(p => p.r.Yielded[i]);
                if (owner.Def is WhileOp) sources = sources.Prepend(owner.Operands[i]);
                foreach (var x in sources)
                {
                    if (_producer.TryGetValue(x, out var p) && p.Def is ConstantOp)
                    {
                        AddDeviceConstant(x, p.Attr.Tensor("value"));
                    }
                    else if (!OnDevice(x))
                        throw new CodegenException($"'{owner.Name}'{Where(owner)} keeps value {i} on the GPU but copies it from a value that is not there; run insert-transfers after place-devices");
                }
            }
        Staging = new TransferStaging(f, ops);
        var buffers = BufferAssignment.Compute(f, _placement.DeviceMemoryPlan);
        foreach (var v in buffers.Values)
            if (v.Kind == BufferKind.Arena) _offsets[v.Value] = v.Offset;
        // One scratch region for every kernel that needs one: they run in order on the compute stream.
        long scratch = Kernels.Values.SelectMany(k => k).Select(k => k.ScratchBytes).DefaultIfEmpty(0).Max();
        ScratchOffset = (buffers.ArenaBytes + CudaPlacement.DeviceAlignment - 1) / CudaPlacement.DeviceAlignment * CudaPlacement.DeviceAlignment;
        DeviceArenaBytes = scratch > 0 ? ScratchOffset + scratch : buffers.ArenaBytes;
        DeviceModeProblem = FindDeviceModeProblem();
    }

    private static string Where(Operation op) => op.SourceName is { } s ? $" (\"{s}\")" : "";

    /// <summary>GPU values: results of GPU ops and of transfers toward the GPU.</summary>
    public bool OnDevice(Value v) => _placement.OnDevice(v);

    /// <summary>A send toward the host has no buffer of its own: its recv copies straight from the GPU value.</summary>
    public bool Nowhere(Value v) => _placement.Nowhere(v);

    /// <summary>The options the host program lays out its arena with (<see cref="CudaPlacement.HostMemoryPlan"/>).</summary>
    public BufferOptions HostMemoryPlan => _placement.HostMemoryPlan;

    public long? DeviceOffset(Value v) => _offsets.TryGetValue(v, out var o) ? o : null;

    public int? ConstantIndex(Value v) => _constantIndex.TryGetValue(v, out var i) ? i : null;

    public int KernelIndex(GpuKernel k) => _kernelIndex[k.Name];

    /// <summary>The op that produces <paramref name="v"/>.</summary>
    public Operation Producer(Value v) => _producer[v];

    /// <summary>The value a send (whose result is <paramref name="sent"/>) carries.</summary>
    public Value SentValue(Value sent) => _producer[sent].Operands[0];

    /// <summary>The send and recv results that carry argument <paramref name="arg"/> to the GPU.</summary>
    public IEnumerable<Value> ReceivedArguments(Value arg)
    {
        foreach (var op in Function.Body.Operations)
        {
            if (op.Def is not SendOp || op.Attr.Enum("to") != Placement.Gpu || !ReferenceEquals(op.Operands[0], arg)) continue;
            yield return op.Result;
            foreach (var r in Function.Body.Operations.Where(o => o.Def is RecvOp && ReferenceEquals(o.Operands[0], op.Result)))
                yield return r.Result;
        }
    }

    /// <summary>
    /// For a returned value that is a GPU value's trip to the host, read by nothing else: that GPU value,
    /// which device mode computes straight into the caller's result. Null otherwise.
    /// </summary>
    public Value? ComputedIntoResult(Value returned)
    {
        if (!_producer.TryGetValue(returned, out var recv) || recv.Def is not RecvOp || recv.Attr.Enum("to") != Placement.Cpu) return null;
        var send = _producer[recv.Operands[0]];
        var g = send.Operands[0];
        if (!_producer.TryGetValue(g, out var op) || !Kernels.ContainsKey(op)) return null;
        return _uses.GetValueOrDefault(g) == 1 && _uses.GetValueOrDefault(send.Result) == 1 && ReturnedDirectly(returned) ? g : null;
    }

    /// <summary>
    /// Whether the caller's result buffer is <paramref name="v"/>'s buffer (<see cref="DirectResults"/>) and
    /// nothing else reads it (in device mode that buffer is device memory).
    /// </summary>
    public bool ReturnedDirectly(Value v) => _direct.ContainsKey(v) && _uses.GetValueOrDefault(v) == 1;

    private string? FindDeviceModeProblem()
    {
        var f = Function;
        if (WireKernels.Count > 0)
            return "run_device keeps arguments and results on the GPU, so there is no transfer to compress; compile without --compress-transfers (use run)";
        foreach (var a in f.Arguments)
        {
            int sends = f.Body.Operations.Count(o => o.Def is SendOp && o.Attr.Enum("to") == Placement.Gpu && ReferenceEquals(o.Operands[0], a));
            if (_uses.GetValueOrDefault(a) != sends)
                return "run_device needs every argument to be read on the GPU only; this model reads one on the CPU (use run)";
        }
        var yielded = f.Body.Yielded;
        for (int i = 0; i < yielded.Length; i++)
        {
            var v = yielded[i];
            bool fromGpu = _producer.TryGetValue(v, out var op) && op.Def is RecvOp && op.Attr.Enum("to") == Placement.Cpu;
            if (!fromGpu || !ReturnedDirectly(v))
                return "run_device needs every result to be computed on the GPU and returned once; this model writes one on the CPU (use run)";
        }
        return null;
    }
}

/// <summary>A kernel the runtime looks up once at load time (<c>cuModuleGetFunction</c>), and the dynamic shared memory per block it opts in to (0: none).</summary>
internal readonly record struct LoadedKernel(string Name, int DynamicSharedBytes);

/// <summary>
/// The staging of one function's transfers, laid out at compile time and allocated once at init. Every transfer gets a
/// slot of pinned host memory (<c>cuMemAllocHost</c>; a DMA from or to pageable memory is not asynchronous) and two events,
/// and its copy runs on the copy stream:
/// <list type="bullet">
/// <item>device→host: the send records "ready" on the compute stream, the copy stream waits for it and copies into the
/// slot, then records "arrived"; the recv waits for "arrived" only and copies (or widens) the slot into place. Later
/// kernels keep the GPU busy meanwhile, and the device buffer stays untouched until the recv (the arena keeps a send's
/// operand live until its recv);</item>
/// <item>host→device: the send copies (or narrows) the host value into the slot, so the host buffer is free at once, and
/// records "free" on the compute stream (the kernels queued before it are done with the device buffer, which the arena
/// may have given an earlier value); the copy stream waits for it, copies, and records "arrived"; the recv, just before
/// the first GPU reader, makes the compute stream wait for "arrived" (and widens a compressed value), so the copy
/// overlaps every kernel queued in between;</item>
/// <item>each compressed transfer gets its own 16-bit device slot, since several may be in flight.</item>
/// </list>
/// Slots are reused by the next call only after this one's stream synchronisation, by which every copy has landed. A transfer
/// inside host control flow reuses its slot and events every iteration. A copy to the host is awaited by its recv in the same
/// iteration; a copy to the GPU may still be queued when the next iteration's send refills its slot (nothing in the loop
/// need wait for it: a loop's carried values may stay on the GPU), so such a send first waits for its previous "arrived"
/// (<see cref="Nested"/>), which the prologue records once so that the first iteration has one to wait for.
/// </summary>
internal sealed class TransferStaging
{
    /// <summary>Slot alignment: a 256-byte line, as device allocations (DMA engines move aligned lines fastest).</summary>
    private const long Alignment = CudaPlacement.DeviceAlignment;

    /// <summary>Each transfer's events (2·Index, 2·Index + 1), pinned slot and bytes on the wire.</summary>
    public Dictionary<Operation, (int Index, long Offset, long Bytes)> ToHost { get; } = new(ReferenceEqualityComparer.Instance);
    public Dictionary<Operation, (int Index, long Offset, long Bytes)> ToDevice { get; } = new(ReferenceEqualityComparer.Instance);
    public Dictionary<Operation, long> DeviceWireOffsets { get; } = new(ReferenceEqualityComparer.Instance);
    public long PinnedBytes { get; }
    public long DeviceWireBytes { get; }

    /// <summary>The transfers to the GPU inside host control flow, which may run again before their last copy has left the slot.</summary>
    public HashSet<Operation> Nested { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>Events: two per transfer ("ready" or "free", then "arrived").</summary>
    public int Events => 2 * (ToHost.Count + ToDevice.Count);

    private static long Align(long x) => (x + Alignment - 1) / Alignment * Alignment;

    /// <param name="hosted">The ops the host program runs (<see cref="Placement.HostedOps"/>).</param>
    public TransferStaging(Function f, IReadOnlyList<Operation> hosted)
    {
        var top = new HashSet<Operation>(f.Body.Operations, ReferenceEqualityComparer.Instance);
        foreach (var send in hosted.Where(o => o.Def is SendOp))
        {
            var wire = WireKernel.Wire(send);
            long bytes = wire is { } w ? send.Result.Type.ElementCount * w.ByteSize() : send.Result.Type.ByteSize;
            var slots = send.Attr.Enum("to") == Placement.Cpu ? ToHost : ToDevice;
            if (slots == ToDevice && !top.Contains(send)) Nested.Add(send);
            slots[send] = (ToHost.Count + ToDevice.Count, PinnedBytes, bytes);
            PinnedBytes = Align(PinnedBytes + bytes);
            if (wire is null) continue;
            DeviceWireOffsets[send] = DeviceWireBytes;
            DeviceWireBytes = Align(DeviceWireBytes + bytes);
        }
    }
}

/// <summary>
/// Where the values of a placed function live: GPU memory (results of GPU ops and of transfers toward
/// the GPU, and a loop's carried values kept there), nowhere (a send toward the host: its recv copies from the GPU value), or the host; and the
/// buffer assignment options of each side's arena.
/// </summary>
internal sealed class CudaPlacement
{
    private readonly Dictionary<Value, Operation> _producer = new(ReferenceEqualityComparer.Instance);

    private readonly HashSet<Value> _carried = new(ReferenceEqualityComparer.Instance);

    public CudaPlacement(Function f) : this([.. Placement.HostedOps(f.Body)]) { }

    /// <param name="hosted">The ops the host program runs (<see cref="Placement.HostedOps"/>), when the caller has them.</param>
    public CudaPlacement(IReadOnlyList<Operation> hosted)
    {
        foreach (var op in hosted)
        {
            foreach (var r in op.Results) _producer[r] = op;
            if (!Placement.HostsRegions(op)) continue;
            // A loop's value kept in GPU memory is one device buffer seen as its result and its regions' arguments.
            for (int i = 0; i < op.Results.Length; i++)
            {
                if (Placement.ResultDevice(op, i) != Placement.Gpu) continue;
                _carried.Add(op.Results[i]);
                for (int ri = 0; ri < op.Regions.Length; ri++)
                    if (Placement.RegionArgumentDevice(op, ri, i) == Placement.Gpu) _carried.Add(op.Regions[ri].Arguments[i]);
            }
        }
        HostMemoryPlan = new BufferOptions { InPlace = false, Alignment = GraphCompiler.Runtime.Abi.ArenaAlignment, Holds = v => !OnDevice(v) && !Nowhere(v) };
        DeviceMemoryPlan = new BufferOptions { InPlace = false, Alignment = DeviceAlignment, Holds = OnDevice };
    }

    /// <summary>
    /// cuMemAlloc returns 256-byte aligned memory (the driver API documents it); keeping every offset a multiple
    /// of it starts each value on a fresh 128-byte line, so 16-byte vector accesses and coalesced rows stay aligned.
    /// </summary>
    public const int DeviceAlignment = 256;

    public bool OnDevice(Value v) => _carried.Contains(v) ||
        _producer.TryGetValue(v, out var op) && op.Def is not ConstantOp && (op.Def switch
        {
            SendOp or RecvOp => op.Attr.Enum("to") == Placement.Gpu,
            _ => Placement.DeviceOf(op) == Placement.Gpu,
        });

    public bool Nowhere(Value v) => _producer.TryGetValue(v, out var op) && op.Def is SendOp && op.Attr.Enum("to") == Placement.Cpu;

    /// <summary>The host arena: kernels declare their buffers noalias (no in-place reuse); GPU values are elsewhere.</summary>
    public BufferOptions HostMemoryPlan { get; }

    /// <summary>The device arena: GPU values only, 256-byte aligned.</summary>
    public BufferOptions DeviceMemoryPlan { get; }
}
