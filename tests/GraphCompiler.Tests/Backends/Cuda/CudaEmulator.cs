using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using GraphCompiler.Backends.Cuda;
using GraphCompiler.Backends.Llvm;
using Xunit;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// The tests' CUDA driver (tests/cuda-emulator: cuda_emulator.c and emulator_threads.c), built once per test process with <c>cc</c>:
/// a generated CUDA program runs unchanged (host code, driver calls, launches, transfers) while its kernels
/// run on CPU threads, compiled from the same LLVM IR as the PTX with the NVPTX intrinsics renamed to the
/// emulator's (thread registers, barrier, warp shuffle). What it cannot check is NVPTX's own code generation
/// and the GPU's memory model; tools/gpu-check does, on a GPU.
/// </summary>
internal static partial class CudaEmulator
{
    private static readonly Lazy<(string? Library, string? Problem)> Built = new(Build);
    private static int _registered;

    /// <summary>Why the emulator cannot run here (no C compiler), or null.</summary>
    public static string? Problem => Built.Value.Problem;

    private static string Library => Built.Value.Library ?? throw new InvalidOperationException(Problem);

    private static (string?, string?) Build()
    {
        var sources = Path.Combine(GoldenFile.RepoRoot(), "tests", "cuda-emulator");
        var dir = Path.Combine(Path.GetTempPath(), $"gc-cuda-emulator-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var library = Path.Combine(dir, "libgccuda_emulator.so");
        var (status, output) = Exec("cc", "-O1", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o", library,
            Path.Combine(sources, "cuda_emulator.c"), Path.Combine(sources, "emulator_threads.c"), "-lpthread", "-ldl");
        if (status != 0) return (null, $"cannot build the CUDA emulator: {output}");
        NativeLibrary.Load(library); // stays loaded: the generated runtime's dlopen of the same path gets this copy
        return (library, null);
    }

    /// <summary><see cref="AotTests.Exec"/>, with a missing program (no cc here) reported as a failure, not thrown.</summary>
    private static (int Status, string Output) Exec(string program, params string[] args)
    {
        try
        {
            return AotTests.Exec(program, args);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"{program}: {e.Message}");
        }
    }

    /// <summary>Kernels launched through the emulator since the process started.</summary>
    public static unsafe long Launches => ((delegate* unmanaged<long>)Export("gcemu_launches"))();

    /// <summary>Bytes copied by asynchronous copies since the process started: to the device, to the host, and on the device.</summary>
    public static unsafe (long ToDevice, long ToHost, long OnDevice) Copied
    {
        get
        {
            var bytes = (delegate* unmanaged<int, long>)Export("gcemu_copied_bytes");
            return (bytes(0), bytes(1), bytes(2));
        }
    }

    /// <summary>
    /// Has the emulated driver describe its device as compute capability <paramref name="major"/>.<paramref name="minor"/>
    /// with <paramref name="multiprocessors"/> of <paramref name="residentThreads"/> resident threads each (cuDeviceGetAttribute),
    /// until disposed; otherwise it answers only the
    /// shared-memory limit, so an in-process compile keeps its declared target.
    /// </summary>
    public static unsafe IDisposable DescribeDevice(int major, int minor, int multiprocessors, int residentThreads = CudaTarget.DefaultResidentThreadsPerMultiprocessor)
    {
        var describe = (delegate* unmanaged<int, int, int, int, void>)Export("gcemu_describe_device");
        describe(major, minor, multiprocessors, residentThreads);
        return new Undescribe(describe);
    }

    private sealed unsafe class Undescribe(delegate* unmanaged<int, int, int, int, void> describe) : IDisposable
    {
        public void Dispose() => describe(0, 0, 0, 0);
    }

    /// <summary>
    /// Until disposed, the emulated driver's JIT rejects every module as the driver does when its PTX assembler fails:
    /// CUDA_ERROR_INVALID_PTX, with <paramref name="log"/> in the caller's error-log buffer.
    /// </summary>
    public static unsafe IDisposable RejectPtx(string log)
    {
        var reject = (delegate* unmanaged<byte*, void>)Export("gcemu_reject_ptx");
        var bytes = System.Text.Encoding.UTF8.GetBytes(log + "\0");
        fixed (byte* p = bytes) reject(p);
        return new Accept(reject);
    }

    private sealed unsafe class Accept(delegate* unmanaged<byte*, void> reject) : IDisposable
    {
        public void Dispose() => reject(null);
    }

    private static nint Export(string name) => NativeLibrary.GetExport(NativeLibrary.Load(Library), name);

    private static readonly HashSet<string> RegisteredPtx = [];

    /// <summary>Compiles <paramref name="program"/>'s kernels for this CPU and registers them under its PTX (once per PTX text).</summary>
    private static unsafe void Register(CudaProgram program)
    {
        lock (RegisteredPtx)
            if (!RegisteredPtx.Add(program.Ptx)) return;
        var dir = Path.GetDirectoryName(Library)!;
        int n = Interlocked.Increment(ref _registered);
        var obj = LlvmCompiler.Emit(HostFlavoured(program.DeviceIr), CpuTarget.Host(), assembly: false, name: $"kernels{n}", constants: program.DeviceConstants);
        Assert.True(obj.Ok, string.Join("\n", obj.Diagnostics));
        var objPath = Path.Combine(dir, $"kernels{n}.o");
        var soPath = Path.Combine(dir, $"kernels{n}.so");
        File.WriteAllBytes(objPath, obj.Value!);
        // lld directly: a third of the time of cc's driver, which matters over the whole suite.
        var linker = GraphCompiler.Backends.Llvm.Aot.SharedLibraryLinker.FindLinker() ?? "cc";
        var (status, output) = linker == "cc" ? Exec("cc", "-shared", "-o", soPath, objPath, Library) : Exec(linker, "-shared", "-o", soPath, objPath, Library);
        Assert.True(status == 0, $"linking the emulated kernels failed: {output}");
        var register = (delegate* unmanaged<nint, nint, int>)Export("gcemu_register");
        var ptx = Marshal.StringToCoTaskMemUTF8(program.Ptx);
        var path = Marshal.StringToCoTaskMemUTF8(soPath);
        try { Assert.Equal(0, register(ptx, path)); }
        finally
        {
            Marshal.FreeCoTaskMem(ptx);
            Marshal.FreeCoTaskMem(path);
        }
    }

    /// <summary>
    /// Launches a hand-written kernel <c>k</c> (C, calling the emulator's <c>gcemu.*</c> symbols; it must define
    /// <c>k.emu(void **params)</c> and <c>k.emu.sync</c>) as one block of <paramref name="threads"/> threads, without
    /// parameters; returns cuLaunchKernel's status. For the emulator's own behaviour, which generated kernels never provoke.
    /// </summary>
    public static unsafe int LaunchHandWritten(string cSource, int threads)
    {
        var dir = Path.GetDirectoryName(Library)!;
        int n = Interlocked.Increment(ref _registered);
        var source = Path.Combine(dir, $"handwritten{n}.c");
        var so = Path.Combine(dir, $"handwritten{n}.so");
        File.WriteAllText(source, cSource);
        var (status, output) = Exec("cc", "-O1", "-shared", "-fPIC", "-o", so, source, Library);
        Assert.True(status == 0, $"compiling the hand-written kernel failed: {output}");
        var ptx = Marshal.StringToCoTaskMemUTF8($"// hand-written kernel {n}");
        var path = Marshal.StringToCoTaskMemUTF8(so);
        var name = Marshal.StringToCoTaskMemUTF8("k");
        try
        {
            Assert.Equal(0, ((delegate* unmanaged<nint, nint, int>)Export("gcemu_register"))(ptx, path));
            nint module, function;
            Assert.Equal(0, ((delegate* unmanaged<nint*, nint, int>)Export("cuModuleLoadData"))(&module, ptx));
            Assert.Equal(0, ((delegate* unmanaged<nint*, nint, nint, int>)Export("cuModuleGetFunction"))(&function, module, name));
            var launch = (delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, nint, nint, int>)Export("cuLaunchKernel");
            return launch(function, 1, 1, 1, (uint)threads, 1, 1, 0, 0, 0, 0);
        }
        finally
        {
            Marshal.FreeCoTaskMem(ptx);
            Marshal.FreeCoTaskMem(path);
            Marshal.FreeCoTaskMem(name);
        }
    }

    /// <summary>The host build's dynamic shared memory per kernel: the emulated device's opt-in limit, as the emulator reports it.</summary>
    private static unsafe int DynamicSharedBytes => ((delegate* unmanaged<int>)Export("gcemu_max_shared_optin"))();

    /// <summary>
    /// The device module for the host: NVPTX intrinsics renamed to the emulator's symbols, shared memory
    /// (address space 3) as ordinary globals, and per kernel a <c>NAME.emu(void **params)</c> entry that unpacks
    /// cuLaunchKernel's parameter array, <c>NAME.emu.sync</c>, whether the kernel synchronises its threads, and <c>NAME.emu.params</c>, how many parameters it takes.
    /// </summary>

    public static string HostFlavoured(string deviceIr)
    {
        var ir = CheckedSharedStores(deviceIr)
            .Replace("@llvm.nvvm.read.ptx.sreg.", "@gcemu.sreg.")
            .Replace("@llvm.nvvm.barrier0", "@gcemu.barrier0")
            .Replace("@llvm.nvvm.shfl.sync.bfly.f32", "@gcemu.shfl.sync.bfly.f32")
            .Replace("@llvm.nvvm.shfl.sync.bfly.i32", "@gcemu.shfl.sync.bfly.i32")
            .Replace("@llvm.nvvm.cp.async.cg.shared.global.16.s", "@gcemu.cp.async.16")
            .Replace("@llvm.nvvm.cp.async.ca.shared.global.8.s", "@gcemu.cp.async.8")
            .Replace("@llvm.nvvm.cp.async.ca.shared.global.4.s", "@gcemu.cp.async.4")
            .Replace("@llvm.nvvm.cp.async.commit.group", "@gcemu.cp.async.commit")
            .Replace("@llvm.nvvm.cp.async.wait.group", "@gcemu.cp.async.wait")
            .Replace("@llvm.nvvm.cp.async.wait.all", "@gcemu.cp.async.wait.all")
            .Replace(" immarg", "")
            // Shared and global memory are the host's: the address spaces go, and casts between them become no-ops.
            // Dynamic shared memory (an extern array): as large as any launch may ask (the emulator's opt-in limit).
            .Replace("= external addrspace(3) global [0 x i8]", $"= internal addrspace(3) global [{DynamicSharedBytes} x i8] zeroinitializer")
            .Replace(" addrspace(3)", "")
            .Replace(" addrspace(1)", "")
            .Replace("addrspacecast ", "bitcast ");
        ir = CheckedAlignment(ir);
        ir = TargetLine().Replace(ir, "");
        ir = WrappedDeclaration().Replace(ir, "");
        ir = WgmmaHelper().Replace(ir, m => WgmmaStandIn(m.Groups[1].Value, m.Groups[2].Value, m.Groups[3].Value));
        if (ir.Contains("@gcemu_wgmma"))
            ir += "declare i64 @gcemu_wgmma_address(ptr, ptr)\ndeclare void @gcemu_wgmma(i32, i32, i32, i32, i64, i64, i32, ptr, ptr)\n" +
                "declare void @gcemu_wgmma_commit()\ndeclare void @gcemu_wgmma_wait(i32)\ndeclare void @gcemu_shared_store(ptr, i64)\n";
        if (Mma.Any(x => ir.Contains($"@{x.Intrinsic}("))) ir += "declare void @gcemu_mma(i32, ptr, ptr, ptr, ptr)\n";
        foreach (var (intrinsic, kind, fragment) in Mma)
            if (ir.Contains($"@{intrinsic}("))
                ir = ir.Replace($"@{intrinsic}(", $"@\"gcemu.{intrinsic}\"(") + MmaWrapper(intrinsic, kind, fragment);
        if (Ldmatrix.Any(x => ir.Contains($"@{x.Intrinsic}("))) ir += "declare void @gcemu_ldmatrix(i32, ptr, ptr)\n";
        foreach (var (intrinsic, transposed) in Ldmatrix)
            if (ir.Contains($"@{intrinsic}("))
                ir = ir.Replace($"@{intrinsic}(", $"@\"gcemu.{intrinsic}\"(") + LdmatrixWrapper(intrinsic, transposed);
        var wrappers = new System.Text.StringBuilder();
        foreach (Match m in KernelDefinition().Matches(ir))
        {
            var name = m.Groups[1].Value;
            // Each parameter's type (a buffer's ptr or a scalar's i64): its first word.
            var types = m.Groups[2].Value.Length == 0 ? [] : m.Groups[2].Value.Split(',').Select(p => p.Trim().Split(' ')[0]).ToArray();
            int count = types.Length;
            wrappers.Append($"define void @\"{name}.emu\"(ptr %params) {{\nentry:\n");
            for (int i = 0; i < count; i++)
            {
                wrappers.Append($"  %s{i} = getelementptr inbounds ptr, ptr %params, i64 {i}\n  %q{i} = load ptr, ptr %s{i}\n  %a{i} = load {types[i]}, ptr %q{i}\n");
                // A buffer parameter is declared 16-byte aligned (DeviceModule.AddKernel): LLVM may load it in vectors.
                if (types[i] == "ptr") wrappers.Append($"  call void @gcemu_check_align(ptr %a{i}, i64 {ParameterAlignment})\n");
            }
            wrappers.Append($"  call void @{name}({string.Join(", ", Enumerable.Range(0, count).Select(i => $"{types[i]} %a{i}"))})\n  ret void\n}}\n");
            // Whether the kernel's body (up to its closing brace) waits at a barrier or shuffles.
            var body = ir[m.Index..ir.IndexOf("\n}\n", m.Index, StringComparison.Ordinal)];
            bool synchronises = body.Contains("@gcemu.barrier0") || body.Contains("@gcemu.shfl.") || body.Contains("@\"gcemu.llvm.nvvm.mma.")
                || body.Contains("@\"gcemu.llvm.nvvm.ldmatrix.");
            wrappers.Append($"@\"{name}.emu.sync\" = constant i32 {(synchronises ? 1 : 0)}\n");
            wrappers.Append($"@\"{name}.emu.params\" = constant i32 {count}\n");
        }
        return ir + wrappers;
    }

    /// <summary>The tensor-core intrinsics the CUDA target emits, the emulator's kind for each (gcemu_mma), and their fragment register type.</summary>
    private static readonly (string Intrinsic, int Kind, string Fragment)[] Mma =
    [
        ("llvm.nvvm.mma.m16n8k16.row.col.bf16", 0, "i32"),
        ("llvm.nvvm.mma.m16n8k16.row.col.f32.f32", 1, "<2 x half>"),
        ("llvm.nvvm.mma.m16n8k8.row.col.tf32", 2, "i32"),
    ];

    /// <summary>
    /// An mma intrinsic's host stand-in: its registers spilled to arrays for the emulator's warp-collective
    /// <c>gcemu_mma</c> (C has no ABI for LLVM's four-float struct return), D read back into the struct.
    /// </summary>
    private static string MmaWrapper(string intrinsic, int kind, string fragment)
    {
        var w = new System.Text.StringBuilder();
        var ps = Enumerable.Range(0, 6).Select(i => $"{fragment} %r{i}").Concat(Enumerable.Range(0, 4).Select(i => $"float %c{i}"));
        w.Append($"define internal {{float, float, float, float}} @\"gcemu.{intrinsic}\"({string.Join(", ", ps)}) {{\nentry:\n");
        w.Append("  %a = alloca [4 x i32]\n  %b = alloca [2 x i32]\n  %c = alloca [4 x float]\n  %d = alloca [4 x float]\n");
        for (int i = 0; i < 6; i++)
        {
            var (array, at) = i < 4 ? ("a", i) : ("b", i - 4);
            w.Append($"  %x{i} = bitcast {fragment} %r{i} to i32\n  %s{i} = getelementptr inbounds i32, ptr %{array}, i64 {at}\n  store i32 %x{i}, ptr %s{i}\n");
        }
        for (int i = 0; i < 4; i++) w.Append($"  %sc{i} = getelementptr inbounds float, ptr %c, i64 {i}\n  store float %c{i}, ptr %sc{i}\n");
        w.Append($"  call void @gcemu_mma(i32 {kind}, ptr %a, ptr %b, ptr %c, ptr %d)\n");
        var v = "undef";
        for (int i = 0; i < 4; i++)
        {
            w.Append($"  %sd{i} = getelementptr inbounds float, ptr %d, i64 {i}\n  %d{i} = load float, ptr %sd{i}\n");
            w.Append($"  %v{i} = insertvalue {{float, float, float, float}} {v}, float %d{i}, {i}\n");
            v = $"%v{i}";
        }
        w.Append($"  ret {{float, float, float, float}} {v}\n}}\n");
        return w.ToString();
    }

    /// <summary>
    /// The host stand-in for one of the CUDA target's wgmma helpers (src/Backends/Cuda/Codegen/Wgmma.cs: inline PTX the
    /// host cannot run), by its name: the shared address counts from the ring (the emulator's descriptors resolve against
    /// it), the fences do nothing (the emulator's memory is coherent), commit and wait keep the emulator's account of the
    /// shared memory wgmmas in flight read, hold passes its values through, and an m64nNk16 wgmma spills its accumulators
    /// for <c>gcemu_wgmma</c>.
    /// </summary>
    private static string WgmmaStandIn(string result, string name, string parameters)
    {
        var header = $"define internal {result} @{name}({parameters}) {{\nentry:\n";
        var what = name[Wgmma.Length..];
        if (what == "address") return header + "  %a = call i64 @gcemu_wgmma_address(ptr %p, ptr %ring)\n  ret i64 %a\n}\n";
        if (what is "proxy" or "fence") return header + "  ret void\n}\n";
        if (what == "commit") return header + "  call void @gcemu_wgmma_commit()\n  ret void\n}\n";
        if (what.StartsWith("wait.", StringComparison.Ordinal)) return header + $"  call void @gcemu_wgmma_wait(i32 {what[5..]})\n  ret void\n}}\n";
        var w = new System.Text.StringBuilder(header);
        int count = parameters.Split(',').Count(p => p.TrimStart().StartsWith("float", StringComparison.Ordinal));
        if (!what.StartsWith("hold.", StringComparison.Ordinal))
        {
            var shape = WgmmaShape().Match(what);
            if (!shape.Success) throw new InvalidOperationException($"the emulator has no stand-in for '{name}'");
            w.Append($"  %c = alloca [{count} x float]\n  %d = alloca [{count} x float]\n");
            for (int i = 0; i < count; i++) w.Append($"  %sc{i} = getelementptr inbounds float, ptr %c, i64 {i}\n  store float %c{i}, ptr %sc{i}\n");
            int kind = shape.Groups[3].Value switch { "bf16" => 0, "f16" => 1, _ => 2 };
            w.Append($"  call void @gcemu_wgmma(i32 {kind}, i32 {shape.Groups[1].Value}, i32 {shape.Groups[4].Value}, i32 {shape.Groups[5].Value}, i64 %a, i64 %b, i32 1, ptr %c, ptr %d)\n");
        }
        var v = "undef";
        for (int i = 0; i < count; i++)
        {
            var x = $"%c{i}";
            if (!what.StartsWith("hold.", StringComparison.Ordinal))
            {
                w.Append($"  %sd{i} = getelementptr inbounds float, ptr %d, i64 {i}\n  %d{i} = load float, ptr %sd{i}\n");
                x = $"%d{i}";
            }
            w.Append($"  %v{i} = insertvalue {result} {v}, float {x}, {i}\n");
            v = $"%v{i}";
        }
        return w.Append($"  ret {result} {v}\n}}\n").ToString();
    }

    private const string Wgmma = "gc.wgmma.";

    /// <summary>The alignment every kernel's buffer parameters are declared with (<c>ptr noalias align 16</c>).</summary>
    private const int ParameterAlignment = 16;

    /// <summary>
    /// Before each load and store of 8 bytes or more (vectors, f64, i64), or declared more aligned than that, the host
    /// build asks the emulator whether the address has that alignment (<c>gcemu_check_align</c>): a GPU faults on a
    /// misaligned vector access (CUDA_ERROR_MISALIGNED_ADDRESS) where the host reads it anyway. Narrower accesses follow
    /// from their buffers' alignment, checked once per launch at the parameters.
    /// </summary>
    private static string CheckedAlignment(string ir)
    {
        // The access itself is then declared byte-aligned: the check is the emulator's fault, and x86's aligned vector
        // moves (what LLVM emits for the declared alignment) would crash the test process instead.
        string Checked(Match m)
        {
            var (indent, type, pointer, align) = (m.Groups[1].Value, m.Groups[2].Value, m.Groups[3].Value, m.Groups[4].Value);
            long bytes = align.Length > 0 ? long.Parse(align, System.Globalization.CultureInfo.InvariantCulture) : AccessBytes(type);
            if (bytes < 8) return m.Value;
            var access = align.Length > 0 ? m.Value[..(m.Groups[4].Index - m.Index - ", align ".Length)] : m.Value;
            return $"{indent}call void @gcemu_check_align(ptr {pointer}, i64 {bytes})\n{access}, align 1";
        }
        ir = AlignedLoad().Replace(ir, Checked);
        ir = AlignedStore().Replace(ir, Checked);
        return ir + "declare void @gcemu_check_align(ptr, i64)\n";
    }

    /// <summary>The bytes an access of LLVM type <paramref name="type"/> (a scalar or a vector of them) moves: its natural alignment on NVPTX.</summary>
    private static long AccessBytes(string type)
    {
        var vector = System.Text.RegularExpressions.Regex.Match(type, @"^<(\d+) x (\w+)>$");
        if (vector.Success) return long.Parse(vector.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) * AccessBytes(vector.Groups[2].Value);
        return type switch
        {
            "i1" or "i8" => 1, "i16" or "half" or "bfloat" => 2, "i32" or "float" => 4, "i64" or "double" or "ptr" => 8,
            _ => throw new InvalidOperationException($"the emulator cannot size an access of {type}"),
        };
    }

    /// <summary>A load from a register's address: indent, type, pointer, declared alignment (if any).</summary>
    [GeneratedRegex(@"^([ \t]*)%[\w.]+ = load (<\d+ x \w+>|\w+), ptr (%[\w.]+)(?:, align (\d+))?$", RegexOptions.Multiline)]
    private static partial Regex AlignedLoad();

    /// <summary>A store to a register's address: indent, type, pointer, declared alignment (if any).</summary>
    [GeneratedRegex(@"^([ \t]*)store (<\d+ x \w+>|\w+) [^,]+, ptr (%[\w.]+)(?:, align (\d+))?$", RegexOptions.Multiline)]
    private static partial Regex AlignedStore();

    /// <summary>
    /// In kernels that use wgmma, each plain store to shared memory first asks the emulator whether a wgmma in flight
    /// reads there (<c>gcemu_shared_store</c>), as cp.async copies do: a kernel that stages an operand through registers
    /// must not store into a stage before the wgmmas reading it have been waited for.
    /// </summary>
    private static string CheckedSharedStores(string ir)
    {
        var kernels = KernelDefinition().Matches(ir).Select(m => (Start: m.Index, End: ir.IndexOf("\n}\n", m.Index, StringComparison.Ordinal)))
            .Where(k => ir.AsSpan(k.Start, k.End - k.Start).Contains("@gc.wgmma.", StringComparison.Ordinal)).ToList();
        for (int i = kernels.Count - 1; i >= 0; i--)
        {
            var (start, end) = kernels[i];
            var body = SharedStore().Replace(ir[start..end], m =>
                $"{m.Groups[1].Value}call void @gcemu_shared_store(ptr addrspace(3) {m.Groups[4].Value}, i64 {AccessBytes(m.Groups[2].Value)})\n{m.Value}");
            ir = string.Concat(ir.AsSpan(0, start), body, ir.AsSpan(end));
        }
        return ir;
    }

    [GeneratedRegex(@"^(\s*)store (\w+) ([^,]+), ptr addrspace\(3\) ([^,]+), align \d+$", RegexOptions.Multiline)]
    private static partial Regex SharedStore();

    /// <summary>A wgmma helper's definition (its result type, name and parameters), up to its closing brace.</summary>
    [GeneratedRegex(@"^define internal (.+?) @(gc\.wgmma\.[\w.]+)\((.*?)\)[^{\n]*\{\n(?:.*\n)*?\}$", RegexOptions.Multiline)]
    private static partial Regex WgmmaHelper();

    [GeneratedRegex(@"^m64n(\d+)k(16|8)\.(bf16|f16|tf32)\.t([01])([01])$")]
    private static partial Regex WgmmaShape();

    /// <summary>The ldmatrix intrinsics the CUDA target emits, and whether each transposes (gcemu_ldmatrix).</summary>
    private static readonly (string Intrinsic, bool Transposed)[] Ldmatrix =
    [
        ("llvm.nvvm.ldmatrix.sync.aligned.m8n8.x4.b16", false),
        ("llvm.nvvm.ldmatrix.sync.aligned.m8n8.x4.trans.b16", true),
    ];

    /// <summary>An ldmatrix intrinsic's host stand-in: the warp-collective <c>gcemu_ldmatrix</c> fills four registers, returned as LLVM's struct.</summary>
    private static string LdmatrixWrapper(string intrinsic, bool transposed)
    {
        var w = new System.Text.StringBuilder();
        w.Append($"define internal {{i32, i32, i32, i32}} @\"gcemu.{intrinsic}\"(ptr %p) {{\nentry:\n  %out = alloca [4 x i32]\n");
        w.Append($"  call void @gcemu_ldmatrix(i32 {(transposed ? 1 : 0)}, ptr %p, ptr %out)\n");
        var v = "undef";
        for (int i = 0; i < 4; i++)
        {
            w.Append($"  %s{i} = getelementptr inbounds i32, ptr %out, i64 {i}\n  %x{i} = load i32, ptr %s{i}\n");
            w.Append($"  %v{i} = insertvalue {{i32, i32, i32, i32}} {v}, i32 %x{i}, {i}\n");
            v = $"%v{i}";
        }
        w.Append($"  ret {{i32, i32, i32, i32}} {v}\n}}\n");
        return w.ToString();
    }

    /// <summary>Declarations of the intrinsics replaced by wrappers (defined in their place).</summary>
    [GeneratedRegex(@"^declare .*@llvm\.nvvm\.(mma|ldmatrix)\..*$", RegexOptions.Multiline)]
    private static partial Regex WrappedDeclaration();

    [GeneratedRegex(@"^target (triple|datalayout) = .*$", RegexOptions.Multiline)]
    private static partial Regex TargetLine();

    [GeneratedRegex(@"^define void @(gc_[A-Za-z0-9_]+)\(([^)]*)\)", RegexOptions.Multiline)]
    private static partial Regex KernelDefinition();

    /// <summary>
    /// Until disposed, the emulator is the driver: GC_CUDA_DRIVER names it (set in the native environment, which the
    /// runtime's getenv reads: .NET's Environment.SetEnvironmentVariable does not reach it on Linux), and every
    /// program generated meanwhile (<see cref="CudaCompiler.Generated"/>) gets its kernels built for the host.
    /// </summary>
    public static IDisposable AsDriver()
    {
        Assert.Equal(0, setenv(DriverVariable, Library, 1));
        CudaCompiler.Generated += Register;
        return new Unset();
    }

    private const string DriverVariable = "GC_CUDA_DRIVER";

    [DllImport("libc.so.6", CharSet = CharSet.Ansi)]
    private static extern int setenv(string name, string value, int overwrite);

    [DllImport("libc.so.6", CharSet = CharSet.Ansi)]
    private static extern int unsetenv(string name);

    private sealed class Unset : IDisposable
    {
        public void Dispose()
        {
            CudaCompiler.Generated -= Register;
            unsetenv(DriverVariable);
        }
    }
}

/// <summary>
/// Tests that set GC_CUDA_DRIVER (process-wide, inherited by child processes) and tests that expect no driver run
/// one at a time: xunit runs the classes of one collection sequentially.
/// </summary>
[CollectionDefinition(Name)]
public sealed class CudaDriverCollection
{
    public const string Name = "CUDA driver";
}

/// <summary>Runs where the emulator can be built (a C compiler); says why not otherwise.</summary>
public sealed class CudaEmulatorFactAttribute : FactAttribute
{
    public CudaEmulatorFactAttribute()
    {
        if (CudaEmulator.Problem is { } p) Skip = p;
    }
}

public sealed class CudaEmulatorTheoryAttribute : TheoryAttribute
{
    public CudaEmulatorTheoryAttribute()
    {
        if (CudaEmulator.Problem is { } p) Skip = p;
    }
}
