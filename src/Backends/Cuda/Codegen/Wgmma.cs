using System.Globalization;
using GraphCompiler.Backends.Llvm.Codegen;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// The sm_90a instructions <see cref="WgmmaKernel"/> uses, as LLVM inline assembly (LLVM 19's NVPTX has no wgmma
/// intrinsics), each wrapped in a small always-inlined helper named <c>gc.wgmma.*</c>: the kernel calls the helper, LLVM
/// inlines it into the PTX, and the test emulator swaps the helpers for its own (tests/cuda-emulator), as it swaps the
/// NVPTX intrinsics. All are warpgroup-wide (<c>.sync.aligned</c>): every thread of the warpgroup runs each one.
/// </summary>
internal static class Wgmma
{
    /// <summary>The helpers' common prefix, which the emulator recognises.</summary>
    public const string Prefix = "gc.wgmma.";

    /// <summary>
    /// The shared-memory address of <paramref name="pointer"/>, as a descriptor holds it (<c>ptrtoint</c> of an
    /// address-space-3 pointer is its offset in the shared window). The helper also takes the pointer as the ring: the
    /// emulator, whose shared memory is an ordinary array, answers with the offset from it.
    /// </summary>
    public static string SharedAddress(ModuleContext mc, LlvmBuilder b, string pointer)
    {
        var name = Prefix + "address";
        if (mc.FirstHelper(name))
            mc.AddFunction($"define internal i64 @{name}(ptr addrspace(3) %p, ptr addrspace(3) %ring) alwaysinline {{\nentry:\n  %a = ptrtoint ptr addrspace(3) %p to i64\n  ret i64 %a\n}}");
        return b.Let($"call i64 @{name}(ptr addrspace(3) {pointer}, ptr addrspace(3) {pointer})", "smem");
    }

    /// <summary>Orders this thread's generic-proxy writes to shared memory (cp.async's) before the async proxy's reads (wgmma's operands).</summary>
    public static void FenceProxyAsync(ModuleContext mc, LlvmBuilder b) => Statement(mc, b, "proxy", "fence.proxy.async.shared::cta;");

    /// <summary>Orders the warpgroup's register accesses before the wgmmas that follow (required before the first of a group).</summary>
    public static void Fence(ModuleContext mc, LlvmBuilder b) => Statement(mc, b, "fence", "wgmma.fence.sync.aligned;");

    /// <summary>Closes the wgmmas issued since the last commit into one group.</summary>
    public static void Commit(ModuleContext mc, LlvmBuilder b) => Statement(mc, b, "commit", "wgmma.commit_group.sync.aligned;");

    /// <summary>Waits until at most <paramref name="pending"/> of this warpgroup's groups are still in flight.</summary>
    public static void Wait(ModuleContext mc, LlvmBuilder b, int pending) =>
        Statement(mc, b, $"wait.{pending}", $"wgmma.wait_group.sync.aligned {pending};");

    private static void Statement(ModuleContext mc, LlvmBuilder b, string what, string ptx)
    {
        var name = Prefix + what;
        if (mc.FirstHelper(name))
            mc.AddFunction($"define internal void @{name}() alwaysinline convergent {{\nentry:\n  call void asm sideeffect \"{ptx}\", \"~{{memory}}\"() convergent\n  ret void\n}}");
        b.Line($"call void @{name}() convergent");
    }

    /// <summary>
    /// The accumulators passed through an empty asm statement after a wait: LLVM may not move their uses above it, so no
    /// epilogue instruction reads a register a wgmma in flight still writes (what CUTLASS's <c>warpgroup_fence_operand</c> does).
    /// </summary>
    public static string[] Hold(ModuleContext mc, LlvmBuilder b, string[] values)
    {
        int n = values.Length;
        var name = Prefix + $"hold.{n}";
        var type = Struct(n);
        if (mc.FirstHelper(name))
        {
            var ps = string.Join(", ", Enumerable.Range(0, n).Select(i => $"float %c{i}"));
            var constraints = string.Join(",", Enumerable.Repeat("=f", n).Concat(Enumerable.Range(0, n).Select(i => i.ToString(CultureInfo.InvariantCulture))));
            mc.AddFunction($"define internal {type} @{name}({ps}) alwaysinline {{\nentry:\n  %d = call {type} asm sideeffect \"\", \"{constraints}\"({ps})\n  ret {type} %d\n}}");
        }
        var held = b.Let($"call {type} @{name}({string.Join(", ", values.Select(v => $"float {v}"))})", "held");
        return [.. Enumerable.Range(0, n).Select(i => b.Let($"extractvalue {type} {held}, {i}", "acc"))];
    }

    /// <summary>
    /// The helper for <c>wgmma.mma_async.sync.aligned.m64n{n}k{16|8}.f32.{type}.{type}</c> (k16 for bf16/f16, k8 for tf32)
    /// with both operands in shared memory: (A's descriptor, B's descriptor, the n/2 accumulators) → the new
    /// accumulators. A transposed operand is MN-major; only 16-bit types have the transpose bits. scale-d is 1: D = A·B + D.
    /// </summary>
    public static string Instruction(ModuleContext mc, string type, int n, bool transposeA, bool transposeB)
    {
        int count = n / 2, k = type == "tf32" ? 8 : 16;
        if (k == 8 && (transposeA || transposeB)) throw new CodegenException("wgmma on TF32 reads both operands K-major");
        var name = Prefix + $"m64n{n}k{k}.{type}.t{(transposeA ? 1 : 0)}{(transposeB ? 1 : 0)}";
        if (mc.FirstHelper(name))
        {
            var ps = string.Join(", ", Enumerable.Range(0, count).Select(i => $"float %c{i}"));
            var registers = string.Join(", ", Enumerable.Range(0, count).Select(i => $"${i}"));
            var transposes = k == 8 ? "" : $", {(transposeA ? 1 : 0)}, {(transposeB ? 1 : 0)}";
            var asm = $"{{\\0A.reg .pred p;\\0Asetp.ne.b32 p, ${2 * count + 2}, 0;\\0Awgmma.mma_async.sync.aligned.m64n{n}k{k}.f32.{type}.{type} " +
                $"{{{registers}}}, ${count}, ${count + 1}, p, 1, 1{transposes};\\0A}}";
            var constraints = string.Join(",", Enumerable.Repeat("=f", count).Concat(["l", "l"])
                .Concat(Enumerable.Range(0, count).Select(i => i.ToString(CultureInfo.InvariantCulture))).Append("r").Append("~{memory}"));
            mc.AddFunction($"define internal {Struct(count)} @{name}(i64 %a, i64 %b, {ps}) alwaysinline convergent {{\nentry:\n" +
                $"  %d = call {Struct(count)} asm sideeffect \"{asm}\", \"{constraints}\"(i64 %a, i64 %b, {ps}, i32 1) convergent\n  ret {Struct(count)} %d\n}}");
        }
        return name;
    }

    /// <summary>One wgmma (<see cref="Instruction"/>): the accumulators after it.</summary>
    public static string[] Multiply(LlvmBuilder b, string instruction, string descriptorA, string descriptorB, string[] accumulators)
    {
        var type = Struct(accumulators.Length);
        var d = b.Let($"call {type} @{instruction}(i64 {descriptorA}, i64 {descriptorB}, {string.Join(", ", accumulators.Select(a => $"float {a}"))}) convergent", "wgmma");
        return [.. Enumerable.Range(0, accumulators.Length).Select(i => b.Let($"extractvalue {type} {d}, {i}", "d"))];
    }

    private static string Struct(int n) => "{" + string.Join(", ", Enumerable.Repeat("float", n)) + "}";
}
