using System.Text;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// One launch of a GPU kernel: its symbol, its grid (computed at compile time from the static shapes),
/// and the values whose device pointers are its parameters, in order (outputs first, then inputs).
/// </summary>
/// <param name="ScratchBytes">Device scratch the kernel needs (a split reduction's partials), passed after
/// <paramref name="Parameters"/>: one region serves every kernel of a function, since they run in order on one stream.</param>
/// <param name="Scalars">i64 arguments passed last (the step of a sort network one kernel runs at several launches).</param>
/// <param name="DynamicSharedBytes">Dynamic shared memory per block (the launch's sharedMemBytes; the kernel's opt-in at init
/// when above the 48 KB every kernel may have): a tensor-core kernel's deeper ring.</param>
public sealed record GpuKernel(string Name, long GridX, long GridY, long GridZ, int Block, IReadOnlyList<Value> Parameters, long ScratchBytes = 0,
    IReadOnlyList<long>? Scalars = null, int DynamicSharedBytes = 0);

/// <summary>
/// The NVPTX module of one compilation: every kernel's LLVM IR, marked as kernels for the NVPTX
/// backend (<c>!nvvm.annotations</c>), ready for <see cref="PtxCompiler"/>.
/// </summary>
internal sealed class DeviceModule(CudaTarget target)
{
    public ModuleContext Context { get; } = new(4) { Gpu = true };

    /// <summary>The GPU the kernels are for (kernel shapes read its multiprocessor count).</summary>
    public CudaTarget Target { get; } = target;

    private readonly List<string> _kernelNames = [];


    public int Count => _kernelNames.Count;

    /// <summary>A fresh kernel symbol (PTX identifiers take no dots).</summary>
    public string NextName(string what) => $"gc_{what}{_kernelNames.Count}";

    /// <summary>Adds a kernel's definition: <c>void @name(ptr %p0..., i64 %s0...)</c>, buffers then <paramref name="scalars"/> i64 values.</summary>
    public void AddKernel(string name, int parameters, string body, int scalars = 0)
    {
        var ps = string.Join(", ", Enumerable.Range(0, parameters).Select(i => $"ptr noalias align 16 %p{i}").Concat(Enumerable.Range(0, scalars).Select(i => $"i64 %s{i}")));
        Context.AddFunction($"define void @{name}({ps}) nounwind {{\n{body}}}");
        _kernelNames.Add(name);
    }

    /// <summary>The module text; kernels are marked by metadata (LLVM 19 has no ptx_kernel calling convention yet).</summary>
    public string Build(string sourceName)
    {
        var sb = new StringBuilder(Context.Build(sourceName));
        // Metadata ids above any ModuleContext numbers.
        const int first = 100000;
        sb.Append("!nvvm.annotations = !{").Append(string.Join(", ", Enumerable.Range(0, _kernelNames.Count).Select(i => $"!{first + i}"))).Append("}\n");
        for (int i = 0; i < _kernelNames.Count; i++)
            sb.Append($"!{first + i} = !{{ptr @{_kernelNames[i]}, !\"kernel\", i32 1}}\n");
        return sb.ToString();
    }
}

/// <summary>The thread and block registers of the NVPTX target.</summary>
internal static class Sreg
{
    public static string Read(ModuleContext m, LlvmBuilder b, string reg)
    {
        m.Declare($"declare i32 @llvm.nvvm.read.ptx.sreg.{reg}() nounwind readnone");
        return b.Let($"zext i32 {b.Let($"call i32 @llvm.nvvm.read.ptx.sreg.{reg}()")} to i64", reg.Replace(".", ""));
    }

    /// <summary>The thread's index over the grid's x: ctaid.x · <paramref name="block"/> + tid.x (1-D launches of <paramref name="block"/> threads).</summary>
    public static string GlobalThread(ModuleContext m, LlvmBuilder b, long block, string hint) =>
        b.Let($"add nuw nsw i64 {b.Let($"mul nuw nsw i64 {Read(m, b, "ctaid.x")}, {block}")}, {Read(m, b, "tid.x")}", hint);

    /// <summary>
    /// <see cref="GlobalThread"/>, and the code after it runs only for threads below <paramref name="count"/> (a launch
    /// rounds up to whole blocks): returns the index and the label the caller closes with (br, then its block, ret).
    /// </summary>
    public static (string Index, string Done) GuardedThread(ModuleContext m, LlvmBuilder b, long block, long count, string hint, string bodyLabel = "element")
    {
        var g = GlobalThread(m, b, block, hint);
        var body = b.FreshLabel(bodyLabel);
        var done = b.FreshLabel("done");
        b.CondBr(b.Let($"icmp slt i64 {g}, {count}"), body, done);
        b.Block(body);
        return (g, done);
    }

    public static void Barrier(ModuleContext m, LlvmBuilder b)
    {
        m.Declare("declare void @llvm.nvvm.barrier0() nounwind convergent");
        b.Line("call void @llvm.nvvm.barrier0()");
    }
}

/// <summary>
/// shfl.sync.bfly (lane i reads lane i ^ mask) for a value of any compute type. The hardware moves 32 bits: f32 and i32
/// go as they are, narrower integers (and i1) widened, 64-bit values (f64, i64) as two halves.
/// </summary>
internal static class WarpShuffle
{
    public static string Butterfly(ModuleContext m, LlvmBuilder b, string type, string value, int laneMask)
    {
        switch (type)
        {
            case "float":
                m.Declare("declare float @llvm.nvvm.shfl.sync.bfly.f32(i32, float, i32, i32) nounwind convergent");
                return b.Let($"call float @llvm.nvvm.shfl.sync.bfly.f32(i32 -1, float {value}, i32 {laneMask}, i32 31)", "sh");
            case "i32":
                return Word(m, b, value, laneMask);
            case "double" or "i64":
            {
                var bits = type == "double" ? b.Let($"bitcast double {value} to i64") : value;
                var lo = Word(m, b, b.Let($"trunc i64 {bits} to i32"), laneMask);
                var hi = Word(m, b, b.Let($"trunc i64 {b.Let($"lshr i64 {bits}, 32")} to i32"), laneMask);
                var joined = b.Let($"or i64 {b.Let($"shl i64 {b.Let($"zext i32 {hi} to i64")}, 32")}, {b.Let($"zext i32 {lo} to i64")}");
                return type == "double" ? b.Let($"bitcast i64 {joined} to double", "sh") : joined;
            }
            case "i1" or "i8" or "i16":
                return b.Let($"trunc i32 {Word(m, b, b.Let($"zext {type} {value} to i32"), laneMask)} to {type}", "sh");
            default:
                throw new CodegenException($"no warp shuffle for {type}");
        }
    }

    private static string Word(ModuleContext m, LlvmBuilder b, string value, int laneMask)
    {
        m.Declare("declare i32 @llvm.nvvm.shfl.sync.bfly.i32(i32, i32, i32, i32) nounwind convergent");
        return b.Let($"call i32 @llvm.nvvm.shfl.sync.bfly.i32(i32 -1, i32 {value}, i32 {laneMask}, i32 31)", "sh");
    }
}

/// <summary>
/// cp.async (sm_80): global → shared copies that bypass registers, grouped by commit and awaited by group. The
/// <c>.s</c> forms take the bytes to read: fewer than the copy's size (0 here) fill the rest with zeros.
/// </summary>
internal static class AsyncCopy
{
    /// <summary>The copy sizes cp.async has (4 and 8 bytes through L1, 16 bytes bypassing it).</summary>
    public static bool Supports(int bytes) => bytes is 4 or 8 or 16;

    public static void Copy(ModuleContext m, LlvmBuilder b, string sharedDst, string src, int bytes, string srcBytes)
    {
        var intrinsic = bytes == 16 ? "llvm.nvvm.cp.async.cg.shared.global.16.s" : $"llvm.nvvm.cp.async.ca.shared.global.{bytes}.s";
        m.Declare($"declare void @{intrinsic}(ptr addrspace(3), ptr addrspace(1), i32) nounwind");
        var global = b.Let($"addrspacecast ptr {src} to ptr addrspace(1)", "gsrc");
        b.Line($"call void @{intrinsic}(ptr addrspace(3) {sharedDst}, ptr addrspace(1) {global}, i32 {srcBytes})");
    }

    /// <summary>
    /// Stages one element or vector of <paramref name="type"/> (<paramref name="bytes"/> bytes) from global <paramref name="src"/>
    /// to shared <paramref name="sharedDst"/>, zeros where <paramref name="inside"/> is false: cp.async where it has the size
    /// (zero-filled through its source size), else a plain load and store (a 2-byte element).
    /// </summary>
    public static void Stage(ModuleContext m, LlvmBuilder b, string sharedDst, string src, string type, int bytes, string inside)
    {
        if (Supports(bytes))
        {
            Copy(m, b, sharedDst, src, bytes, b.Let($"select i1 {inside}, i32 {bytes}, i32 0"));
            return;
        }
        var raw = b.Let($"load {type}, ptr {src}, align {bytes}", "raw");
        b.Line($"store {type} {b.Let($"select i1 {inside}, {type} {raw}, {type} zeroinitializer")}, ptr addrspace(3) {sharedDst}, align {bytes}");
    }

    public static void Commit(ModuleContext m, LlvmBuilder b)
    {
        m.Declare("declare void @llvm.nvvm.cp.async.commit.group() nounwind");
        b.Line("call void @llvm.nvvm.cp.async.commit.group()");
    }

    /// <summary>Waits until at most <paramref name="pending"/> of this thread's committed groups are still in flight.</summary>
    public static void Wait(ModuleContext m, LlvmBuilder b, int pending)
    {
        m.Declare("declare void @llvm.nvvm.cp.async.wait.group(i32 immarg) nounwind");
        b.Line($"call void @llvm.nvvm.cp.async.wait.group(i32 {pending})");
    }

    public static void WaitAll(ModuleContext m, LlvmBuilder b)
    {
        m.Declare("declare void @llvm.nvvm.cp.async.wait.all() nounwind");
        b.Line("call void @llvm.nvvm.cp.async.wait.all()");
    }
}
