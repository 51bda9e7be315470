using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// A generated host program: the whole module's text, its kernel library's (or null), the constants' bytes, the arena
/// size, and the module split for parallel compilation (or null: compile <see cref="Ir"/>).
/// </summary>
public sealed record EmittedProgram(string Ir, string? Library, IReadOnlyList<ConstantGlobal> Constants, long ArenaBytes, IReadOnlyList<ModulePart>? Parts)
{
    /// <summary>The part of <see cref="ArenaBytes"/> that is the kernels' scratch (after the values buffer assignment placed).</summary>
    public long ScratchBytes { get; init; }
}

/// <summary>
/// Emits the entry point of a compiled function:
/// <c>i32 @NAME_run(ptr args, ptr results, ptr arena, i32 threads)</c>. Every intermediate lives in
/// the caller's arena at the offset buffer assignment gave it; each op (or fusion) is one kernel
/// function; control flow (while, if, case) becomes branches around the kernels of its regions, whose
/// values have arena slots of their own; a <c>call</c> calls the callee compiled as an internal function
/// with the same ABI and an arena of its own. Results are copied to the caller's result buffers at the
/// end and variable updates written back into their arguments (or computed there, in place).
/// <para>
/// The kernels come from an <see cref="IHostKernels"/> (the CPU backend's); a device target takes part
/// through an <see cref="IDeviceHook"/>, and a split over processes (tasks) through an <see cref="ITaskHook"/>:
/// each top-level op of the entry runs under the hook's condition (only in its task's process).
/// </para>
/// </summary>
public sealed class ProgramEmitter
{
    /// <summary>What all functions of one compilation share.</summary>
    private sealed class Shared(ModuleContext module, Module? ir, string prefix, IHostKernels kernels, BufferOptions memoryPlan)
    {
        public readonly ModuleContext Module = module;
        public readonly Module? Ir = ir;
        public readonly string Prefix = prefix;
        public readonly IHostKernels Kernels = kernels;
        public readonly BufferOptions MemoryPlan = memoryPlan;
        public int KernelCount;
        public readonly Dictionary<string, (string Symbol, long Arena)> Functions = [];
        public readonly HashSet<string> InProgress = [];
    }

    private readonly Shared _shared;
    private readonly LlvmBuilder _b = new();
    private readonly Dictionary<Value, ValueBuffer> _placement = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Value, string> _pointers = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Value, Tensor> _constants = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Value, string> _direct = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Value> _inPlace = new(ReferenceEqualityComparer.Instance); // variable updates computed over their variable

    private readonly IDeviceHook? _device;
    private long _scratchBytes; // the most scratch any kernel of this function needs
    private readonly ITaskHook? _tasks;

    private ProgramEmitter(Shared shared, IDeviceHook? device = null, ITaskHook? tasks = null)
    {
        _shared = shared;
        _device = device;
        _tasks = tasks;
    }

    /// <summary>An internal <c>void ()</c> that releases the module's threads without waiting, for a library destructor.</summary>
    public const string FiniSymbol = "gc.module.fini";

    /// <summary>
    /// Emits <c>NAME_run</c> (and <c>NAME_arena_size</c>, <c>NAME_release</c>) for <paramref name="f"/>,
    /// with <paramref name="kernels"/> writing the kernel of each op or fusion, over an arena laid out
    /// with <paramref name="memoryPlan"/> (the target's: <c>CpuCompiler.MemoryPlan</c>, say; callees get
    /// it without <see cref="BufferOptions.Holds"/>). With <paramref name="device"/>, the ops the hook
    /// claims (another device's kernels and the transfers) are its to emit, <paramref name="memoryPlan"/>
    /// must leave out the values it keeps elsewhere, and <c>NAME_run_device</c> is emitted too, the same
    /// program over arguments and results in device memory (the hook's argument says which program).
    /// <paramref name="prepare"/> runs first, on the empty module. With <paramref name="tasks"/> (not with
    /// <paramref name="device"/>), the entry function's ops run in their tasks' processes only. With
    /// <paramref name="separateLibrary"/>, target-only helpers go to <c>Library</c>, the kernel library's module
    /// (<see cref="ModuleContext.SeparateLibrary"/>), and the program only declares them. With <paramref name="parts"/>
    /// above 1, <c>Parts</c> is the program split into up to that many modules to compile in parallel
    /// (<see cref="ModulePartitioner"/>), when it is large enough. With <paramref name="externalConstantMinBytes"/>,
    /// constants that large stay out of the code (<see cref="ModuleContext.ExternalConstantMinBytes"/>: the JIT's way).
    /// </summary>
    public static EmittedProgram Emit(Function f, string name, string sourceName, Module? module,
        int lanes, IHostKernels kernels, BufferOptions memoryPlan, Func<bool, IDeviceHook>? device = null, Action<ModuleContext>? prepare = null,
        ITaskHook? tasks = null, bool separateLibrary = false, int parts = 1, long? externalConstantMinBytes = null)
    {
        if (device is not null && tasks is not null) throw new CodegenException("a program split over processes (tasks) cannot also offload to a GPU");
        var shared = new Shared(new ModuleContext(lanes) { SeparateLibrary = separateLibrary, ExternalConstantMinBytes = externalConstantMinBytes }, module, name, kernels, memoryPlan);
        prepare?.Invoke(shared.Module);
        shared.Module.Declare("declare void @llvm.memmove.p0.p0.i64(ptr, ptr, i64, i1)");
        var entry = new ProgramEmitter(shared, device?.Invoke(false), tasks);
        long arena = entry.EmitFunction(f, $"{name}_run", external: true), scratch = entry._scratchBytes;
        if (device is not null)
        {
            // The same kernels over device pointers: the same scratch.
            var onDevice = new ProgramEmitter(shared, device(true));
            arena = Math.Max(arena, onDevice.EmitFunction(f, $"{name}_run_device", external: true));
            scratch = Math.Max(scratch, onDevice._scratchBytes);
        }
        shared.Module.AddFunction($"define i64 @{name}_arena_size() nounwind {{\nentry:\n  ret i64 {arena}\n}}");
        // NAME_release stops the kernels' worker threads (waiting for a call in flight); gc.module.fini,
        // for a library destructor, does the same unless a call is in flight.
        string Stop(bool wait) => string.Concat(shared.Module.StopHooks.Select(h => $"  call void @{h}(i1 {(wait ? "true" : "false")})\n"));
        var hooks = string.Concat(shared.Module.ReleaseHooks.Select(h => $"  call void @{h}()\n"));
        shared.Module.AddFunction($"define void @{name}_release() nounwind {{\nentry:\n{Stop(true)}{hooks}  ret void\n}}");
        shared.Module.AddFunction($"define internal void @{FiniSymbol}() nounwind {{\nentry:\n{Stop(false)}  ret void\n}}");
        return new EmittedProgram(shared.Module.Build(sourceName), shared.Module.LibraryIr(), shared.Module.Constants, arena,
            parts > 1 ? ModulePartitioner.Split(shared.Module, sourceName, parts) : null) { ScratchBytes = scratch };
    }

    private long EmitFunction(Function f, string symbol, bool external)
    {
        var plan = BufferAssignment.Compute(f, external ? _shared.MemoryPlan : _shared.MemoryPlan with { Holds = null });
        foreach (var v in plan.Values) _placement[v.Value] = v;
        // The kernels' scratch follows the values: one region, reused by every kernel (they run one after another).
        long align = Math.Max(1, _shared.MemoryPlan.Alignment);
        long values = (plan.ArenaBytes + align - 1) / align * align;
        _b.Line($"%kernel.scratch = getelementptr inbounds i8, ptr %arena, i64 {values}");
        // Zero or fewer threads means one per online CPU; more than that never helps compute-bound kernels and
        // makes the pool's spinning workers fight for the CPUs.
        var cpusOk = _b.Let($"call i32 @{OnlineCpus(_shared.Module)}()", "cpus");
        var within = _b.Let($"and i1 {_b.Let("icmp sgt i32 %threads.arg, 0")}, {_b.Let($"icmp slt i32 %threads.arg, {cpusOk}")}");
        _b.Line($"%threads = select i1 {within}, i32 %threads.arg, i32 {cpusOk}");
        for (int i = 0; i < f.Arguments.Length; i++)
            _pointers[f.Arguments[i]] = _b.Let($"load ptr, ptr {_b.Let($"getelementptr inbounds ptr, ptr %args, i64 {i}", "slot")}", "arg");

        // A result computed by a kernel of this body and returned once is written by that kernel straight
        // into the caller's result buffer instead of being copied there at the end. A variable update that
        // buffer assignment put in its variable's buffer (the variable is dead by then) is written there:
        // the caller may pass that same buffer as the result's, and then nothing is copied at all.
        var returned = f.Body.Yielded;
        var resultPointers = new string[returned.Length];
        for (int i = 0; i < returned.Length; i++)
            resultPointers[i] = _b.Let($"load ptr, ptr {_b.Let($"getelementptr inbounds ptr, ptr %results, i64 {i}", "slot")}", "res");
        var inPlace = InPlaceUpdates(f, plan);
        foreach (var v in inPlace.Keys) _inPlace.Add(v);
        foreach (var (v, i) in inPlace) _direct[v] = _device is null ? _pointers[f.Arguments[f.ResultInfos[i].Updates!.Value]] : resultPointers[i];
        foreach (var (v, i) in DirectResults.Of(f))
            if (f.ResultInfos[i].Updates is null) _direct.TryAdd(v, resultPointers[i]);

        _device?.Prologue(Site);
        _tasks?.Prologue(Site);
        EmitRegion(f.Body);
        _device?.Epilogue(Site);

        for (int i = 0; i < returned.Length; i++)
        {
            var v = returned[i];
            if (inPlace.TryGetValue(v, out var first) && first == i)
            {
                var (variable, result) = (_pointers[f.Arguments[f.ResultInfos[i].Updates!.Value]], resultPointers[i]);
                if (_device is null) CopyUnlessSame(result, variable, v.Type.ByteSize);
                else CopyUnlessSame(variable, result, v.Type.ByteSize);
                continue;
            }
            if (!_direct.TryGetValue(v, out var p) || p != resultPointers[i]) Copy(resultPointers[i], v);
            if (f.ResultInfos[i].Updates is { } a) Copy(_pointers[f.Arguments[a]], v);
        }
        if (_tasks is not null)
        {
            _tasks.Epilogue(Site, resultPointers);
            // The variable updates other processes copied above were not theirs to compute: the broadcast results are.
            for (int i = 0; i < returned.Length; i++)
                if (f.ResultInfos[i].Updates is { } a) CopyUnlessSame(_pointers[f.Arguments[a]], resultPointers[i], returned[i].Type.ByteSize);
        }
        _b.Line("ret i32 0");
        var linkage = external ? "" : "internal ";
        long bytes = _scratchBytes == 0 ? plan.ArenaBytes : values + (_scratchBytes + align - 1) / align * align;
        // The caller's arena in huge pages (callees' arenas are this code's own short-lived mallocs).
        var advise = external && bytes >= ArenaAdvice.HugePageBytes
            ? $"  call void @{ArenaAdvice.Helper(_shared.Module)}(ptr %arena, i64 {bytes})\n" : "";
        _shared.Module.AddFunction($"define {linkage}i32 @{symbol}(ptr %args, ptr %results, ptr %arena, i32 %threads.arg) nounwind {{\n{_b.Body(entryCode: advise)}}}");
        return bytes;
    }

    /// <summary>
    /// <c>i32 @gc.online.cpus()</c>: the online CPUs (at least 1), asked once per process and kept. glibc answers
    /// <c>sysconf(_SC_NPROCESSORS_ONLN)</c> (84) by reading /sys, 6.4 µs: 13 % of a 50 µs model call.
    /// </summary>
    private static string OnlineCpus(ModuleContext module)
    {
        const string name = "gc.online.cpus";
        if (!module.FirstHelper(name)) return name;
        module.Declare("declare i64 @sysconf(i32) nounwind");
        module.Global($"@{name}.count = internal global i32 0, align 4");
        module.AddFunction($$"""
            define internal i32 @{{name}}() nounwind {
            entry:
              %known = load atomic i32, ptr @{{name}}.count monotonic, align 4
              %have = icmp sgt i32 %known, 0
              br i1 %have, label %done, label %ask
            ask:
              %n = call i64 @sysconf(i32 84)
              %t = trunc i64 %n to i32
              %ok = icmp sgt i32 %t, 0
              %cpus = select i1 %ok, i32 %t, i32 1
              store atomic i32 %cpus, ptr @{{name}}.count monotonic, align 4
              ret i32 %cpus
            done:
              ret i32 %known
            }
            """ + "\n");
        return name;
    }

    /// <summary>The variable updates buffer assignment writes into their variables, with the (first) result each is.</summary>
    private static Dictionary<Value, int> InPlaceUpdates(Function f, FunctionBuffers plan)
    {
        var aliased = new HashSet<Value>(plan.Values.Where(v => v.Kind == BufferKind.VariableAlias).Select(v => v.Value), ReferenceEqualityComparer.Instance);
        var map = new Dictionary<Value, int>(ReferenceEqualityComparer.Instance);
        var returned = f.Body.Yielded;
        for (int i = 0; i < returned.Length; i++)
            if (f.ResultInfos[i].Updates is not null && aliased.Contains(returned[i])) map.TryAdd(returned[i], i);
        return map;
    }

    /// <summary>Copies <paramref name="bytes"/> unless the two buffers are one (a caller that passed the variable as the result buffer).</summary>
    private void CopyUnlessSame(string dst, string src, long bytes)
    {
        var copy = _b.FreshLabel("copy");
        var done = _b.FreshLabel("copied");
        _b.CondBr(_b.Let($"icmp eq ptr {dst}, {src}"), done, copy);
        _b.Block(copy);
        _b.Line($"call void @llvm.memmove.p0.p0.i64(ptr {dst}, ptr {src}, i64 {bytes}, i1 false)");
        _b.Br(done);
        _b.Block(done);
    }

    private void Copy(string dst, Value src) =>
        _b.Line($"call void @llvm.memmove.p0.p0.i64(ptr {dst}, ptr {_pointers[src]}, i64 {src.Type.ByteSize}, i1 false)");

    private string Slot(Value v, string what)
    {
        if (!_placement.TryGetValue(v, out var vb) || vb.Kind != BufferKind.Arena)
            throw new CodegenException($"'{what}' result has no arena buffer");
        return _b.Let($"getelementptr inbounds i8, ptr %arena, i64 {vb.Offset}", "buf");
    }

    private void EmitRegion(Region region)
    {
        foreach (var op in region.Operations)
        {
            if (op.Def.IsTerminator) break;
            EmitOp(op);
        }
    }

    private void EmitOp(Operation op)
    {
        if (op.Def is ConstantOp)
        {
            var value = op.Attr.Tensor("value");
            _pointers[op.Result] = _shared.Module.Constant(value);
            _constants[op.Result] = value;
            return;
        }
        foreach (var r in op.Results)
            if (_device is null || !_device.Elsewhere(r)) _pointers[r] = _direct.TryGetValue(r, out var p) ? p : Slot(r, op.Name);
        if (_tasks is null)
        {
            EmitOpHere(op);
            return;
        }
        if (_tasks.TryEmit(op, Site)) return;
        // The buffers' addresses above are computed in every process (later ops use them); the op runs in its own.
        if (_tasks.RunsHere(op, Site) is not { } here)
        {
            EmitOpHere(op);
            return;
        }
        var run = _b.FreshLabel("task.run");
        var skip = _b.FreshLabel("task.skip");
        _b.CondBr(here, run, skip);
        _b.Block(run);
        EmitOpHere(op);
        _b.Br(skip);
        _b.Block(skip);
    }

    /// <summary>Emits <paramref name="op"/>, whose result buffers are known, in this process.</summary>
    private void EmitOpHere(Operation op)
    {
        if (_device is not null && _device.TryEmit(op, Site)) return;
        switch (op.Def)
        {
            case WhileOp: While(op); return;
            case IfOp: Branches(op, BranchIndex(op.Operands[0], 2, ifStyle: true)); return;
            case CaseOp: Branches(op, BranchIndex(op.Operands[0], op.Regions.Length, ifStyle: false)); return;
            case CallOp: Call(op); return;
        }

        if (_device is null && TryConcatenateSlices(op)) return;

        var kname = $"{_shared.Prefix}.k{_shared.KernelCount++}";
        var body = KernelBody.Of(op);
        bool overwrites = op.Results.Any(_inPlace.Contains); // (a caller may pass the variable as the result buffer)
        long scratch = _shared.Kernels.Emit(_shared.Module, kname, body.Inputs, body.Ops, body.Outputs, body.Constants(_constants), overwrites);
        _scratchBytes = Math.Max(_scratchBytes, scratch);
        var args = op.Results.Concat(body.OuterInputs).Select(v => $"ptr {_pointers[v]}").Append("ptr %kernel.scratch").Append("i32 %threads");
        var status = _b.Let($"call i32 @{kname}({string.Join(", ", args)})", "status");
        ReturnIf(_b.Let($"icmp ne i32 {status}, 0"), status);
    }

    /// <summary>
    /// A concatenation whose operands are contiguous slices of its result (every dimension before the joined
    /// one has size 1) is one copy per operand — none for an operand that buffer assignment already placed in
    /// its slice (<see cref="ConcatInPlace"/>), so a whole chain in one buffer emits no code at all.
    /// </summary>
    private bool TryConcatenateSlices(Operation op)
    {
        if (op.Def is not ConcatenateOp) return false;
        int d = op.Attr.Int32("dimension");
        if (op.Result.Type.Shape.Take(d).Any(n => n != 1)) return false;
        var dst = _pointers[op.Result];
        long? start = !_direct.ContainsKey(op.Result) && _placement.TryGetValue(op.Result, out var whole) && whole.Kind == BufferKind.Arena ? whole.Offset : null;
        long at = 0;
        foreach (var x in op.Operands)
        {
            long bytes = x.Type.ByteSize;
            bool inSlice = start is { } s0 && !_direct.ContainsKey(x) && _placement.TryGetValue(x, out var xb) && xb.Kind == BufferKind.Arena && xb.Offset == s0 + at;
            if (!inSlice && bytes > 0)
            {
                var slice = _b.Let($"getelementptr inbounds i8, ptr {dst}, i64 {at}", "slice");
                _b.Line($"call void @llvm.memmove.p0.p0.i64(ptr {slice}, ptr {_pointers[x]}, i64 {bytes}, i1 false)");
            }
            at += bytes;
        }
        return true;
    }

    /// <summary>
    /// Loop-carried values live in the while's result buffers; both regions' arguments are those buffers. A value the device
    /// keeps (<c>gpu_carried</c>) is its buffer, and its copies (the start value in, each yield back) run on the device.
    /// </summary>
    private void While(Operation op)
    {
        var (cond, body) = (op.Regions[0], op.Regions[1]);
        int n = op.Results.Length;
        var onDevice = op.Results.Select(r => _device?.Elsewhere(r) ?? false).ToArray();
        var yielded = body.Yielded;
        // A yield of another carried value (a swap, a rotation) would be overwritten before it is read: those go
        // through the body arguments' own slots first (found before the arguments become the carried buffers).
        var swap = new string?[n];
        for (int i = 0; i < n; i++)
        {
            int j = body.Arguments.IndexOf(yielded[i]);
            if (j >= 0 && j != i) swap[i] = onDevice[i] ? _device!.DeviceAddress(body.Arguments[i], Site) : Slot(body.Arguments[i], "while");
        }
        var carried = new string[n];
        for (int i = 0; i < n; i++)
        {
            if (onDevice[i])
            {
                carried[i] = _device!.DeviceAddress(op.Results[i], Site);
                _device.CopyOnDevice(Site, carried[i], _device.DeviceAddress(op.Operands[i], Site), op.Results[i].Type.ByteSize);
                _device.Alias(cond.Arguments[i], carried[i]);
                _device.Alias(body.Arguments[i], carried[i]);
                continue;
            }
            carried[i] = _pointers[op.Results[i]];
            Copy(carried[i], op.Operands[i]);
            _pointers[cond.Arguments[i]] = carried[i];
            _pointers[body.Arguments[i]] = carried[i];
        }
        var head = _b.FreshLabel("while.cond");
        var bodyLabel = _b.FreshLabel("while.body");
        var exit = _b.FreshLabel("while.exit");
        _b.Br(head);
        _b.Block(head);
        EmitRegion(cond);
        var flag = _b.Let($"load i8, ptr {_pointers[cond.Yielded[0]]}");
        _b.CondBr(_b.Let($"icmp ne i8 {flag}, 0"), bodyLabel, exit);
        _b.Block(bodyLabel);
        EmitRegion(body);
        var source = new string[n];
        for (int i = 0; i < n; i++)
        {
            int j = body.Arguments.IndexOf(yielded[i]);
            if (j < 0) source[i] = onDevice[i] ? _device!.DeviceAddress(yielded[i], Site) : _pointers[yielded[i]];
            else if (j == i) source[i] = "";
            else
            {
                source[i] = swap[i]!;
                CopyCarried(onDevice[i], source[i], carried[j], yielded[i].Type.ByteSize);
            }
        }
        for (int i = 0; i < n; i++)
            if (source[i] != "") CopyCarried(onDevice[i], carried[i], source[i], yielded[i].Type.ByteSize);
        _b.Br(head);
        _b.Block(exit);
    }

    private void CopyCarried(bool onDevice, string dst, string src, long bytes)
    {
        if (onDevice) _device!.CopyOnDevice(Site, dst, src, bytes);
        else _b.Line($"call void @llvm.memmove.p0.p0.i64(ptr {dst}, ptr {src}, i64 {bytes}, i1 false)");
    }

    /// <summary>The branch to run as an i64: if's predicate picks 0 (then) or 1 (else); case's out-of-range index picks the last.</summary>
    private string BranchIndex(Value v, int count, bool ifStyle)
    {
        var e = v.Type.Element;
        var mt = LlvmTypes.Memory(e);
        var raw = _b.Let($"load {mt}, ptr {_pointers[v]}");
        if (ifStyle) return _b.Let($"select i1 {_b.Let($"icmp ne i8 {raw}, 0")}, i64 0, i64 1");
        var wide = mt == "i64" ? raw : _b.Let($"{(e.IsUnsignedInteger() ? "zext" : "sext")} {mt} {raw} to i64");
        // Unsigned compare: negative values (and huge u64) are out of range too.
        var inRange = _b.Let($"icmp ult i64 {wide}, {count}");
        return _b.Let($"select i1 {inRange}, i64 {wide}, i64 {count - 1}");
    }

    private void Branches(Operation op, string index)
    {
        int n = op.Regions.Length;
        var labels = Enumerable.Range(0, n).Select(i => _b.FreshLabel($"branch{i}.")).ToArray();
        var join = _b.FreshLabel("branch.join");
        var cases = string.Join(" ", Enumerable.Range(0, n - 1).Select(i => $"i64 {i}, label %{labels[i]}"));
        _b.Line($"switch i64 {index}, label %{labels[n - 1]} [ {cases} ]");
        for (int i = 0; i < n; i++)
        {
            _b.Block(labels[i]);
            var region = op.Regions[i];
            EmitRegion(region);
            for (int k = 0; k < op.Results.Length; k++)
            {
                var (result, yielded) = (op.Results[k], region.Yielded[k]);
                if (_device?.Elsewhere(result) == true) // a result the device keeps (gpu_results): copied there
                    _device.CopyOnDevice(Site, _device.DeviceAddress(result, Site), _device.DeviceAddress(yielded, Site), result.Type.ByteSize);
                else Copy(_pointers[result], yielded);
            }
            _b.Br(join);
        }
        _b.Block(join);
    }

    private void Call(Operation op)
    {
        var calleeName = op.Attr.Symbol("callee");
        var callee = _shared.Ir?.Find(calleeName) ?? throw new CodegenException($"call of @{calleeName}: the function is not in the module");
        if (!_shared.Functions.TryGetValue(calleeName, out var compiled))
        {
            if (!_shared.InProgress.Add(calleeName)) throw new CodegenException($"recursive call of @{calleeName} is not supported by the CPU backend");
            var symbol = $"{_shared.Prefix}.fn.{_shared.Functions.Count}";
            long arena = new ProgramEmitter(_shared).EmitFunction(callee, symbol, external: false);
            compiled = (symbol, arena);
            _shared.Functions[calleeName] = compiled;
            _shared.InProgress.Remove(calleeName);
        }
        var args = _b.Alloca($"[{Math.Max(op.Operands.Length, 1)} x ptr]");
        var results = _b.Alloca($"[{Math.Max(op.Results.Length, 1)} x ptr]");
        for (int i = 0; i < op.Operands.Length; i++)
            _b.Line($"store ptr {_pointers[op.Operands[i]]}, ptr {_b.Let($"getelementptr inbounds ptr, ptr {args}, i64 {i}")}");
        for (int i = 0; i < op.Results.Length; i++)
            _b.Line($"store ptr {_pointers[op.Results[i]]}, ptr {_b.Let($"getelementptr inbounds ptr, ptr {results}, i64 {i}")}");
        _shared.Module.Declare("declare noalias ptr @malloc(i64)");
        _shared.Module.Declare("declare void @free(ptr)");
        var arenaPtr = _b.Let($"call ptr @malloc(i64 {Math.Max(compiled.Arena, 1)})", "calleearena");
        ReturnIf(_b.Let($"icmp eq ptr {arenaPtr}, null"), "1");
        var status = _b.Let($"call i32 @{compiled.Symbol}(ptr {args}, ptr {results}, ptr {arenaPtr}, i32 %threads)", "status");
        _b.Line($"call void @free(ptr {arenaPtr})");
        ReturnIf(_b.Let($"icmp ne i32 {status}, 0"), status);
    }

    private DeviceSite Site => new(_b, _shared.Module, v => _pointers[v], ReturnIf);

    /// <summary>Returns <paramref name="code"/> from the function when <paramref name="cond"/> holds (a kernel or callee failed).</summary>
    private void ReturnIf(string cond, string code)
    {
        var failed = _b.FreshLabel("failed");
        var ok = _b.FreshLabel("ok");
        _b.CondBr(cond, failed, ok);
        _b.Block(failed);
        _b.Line($"ret i32 {code}");
        _b.Block(ok);
    }
}
