using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// The conversions of a compressed transfer (<c>send {compress = f16|bf16}</c>, <c>--compress-transfers</c>): the wire
/// carries 16-bit floats, so a host→device copy is narrowed on the host and widened by a GPU kernel, and a device→host
/// copy narrowed by a GPU kernel and widened on the host; half the bytes cross the bus. Both sides convert through
/// <see cref="MemoryAccess"/>, round to nearest even, as the interpreter's <c>send</c> rounds.
/// </summary>
internal static class WireKernel
{
    public const int Block = 256;

    /// <summary>The 16-bit type of a send's <c>compress</c> attribute, or null for an uncompressed one.</summary>
    public static ElementType? Wire(Operation send) => send.Attr.Enum("compress") switch
    {
        "f16" => ElementType.F16,
        "bf16" => ElementType.BF16,
        _ => null,
    };

    /// <summary>A GPU kernel <c>(ptr dst, ptr src)</c> converting <paramref name="n"/> elements: f32 → wire (<paramref name="narrow"/>) or wire → f32.</summary>
    public static (string Name, long Grid) Emit(DeviceModule m, bool narrow, ElementType wire, long n)
    {
        var name = m.NextName(narrow ? $"narrow_{wire.Name()}_" : $"widen_{wire.Name()}_");
        var b = new LlvmBuilder();
        var i = Sreg.GlobalThread(m.Context, b, Block, "i");
        var body = b.FreshLabel("convert");
        var done = b.FreshLabel("done");
        b.CondBr(b.Let($"icmp slt i64 {i}, {n}"), body, done);
        b.Block(body);
        Convert(b, m.Context, narrow, wire, "%p0", "%p1", i);
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddKernel(name, 2, b.Body());
        return (name, (n + Block - 1) / Block);
    }

    /// <summary>
    /// The host's half: <c>void @NAME(ptr dst, ptr src, i64 n)</c>, a loop LLVM vectorises, defined once per module and
    /// direction and wire type; returns its name.
    /// </summary>
    public static string Host(ModuleContext m, bool narrow, ElementType wire, HashSet<string> defined)
    {
        var name = $"gc.cuda.{(narrow ? "narrow" : "widen")}.{wire.Name()}";
        if (!defined.Add(name)) return name;
        var b = new LlvmBuilder();
        b.For("0", "%n", i => Convert(b, m, narrow, wire, "%dst", "%src", i));
        b.Line("ret void");
        m.AddFunction($"define internal void @\"{name}\"(ptr noalias %dst, ptr noalias %src, i64 %n) nounwind {{\n{b.Body()}}}");
        return name;
    }

    /// <summary>Element <paramref name="i"/> of <paramref name="src"/> converted into <paramref name="dst"/> (a store reads only the buffer's element type).</summary>
    private static void Convert(LlvmBuilder b, ModuleContext m, bool narrow, ElementType wire, string dst, string src, string i)
    {
        var mem = new MemoryAccess(b, m);
        var (from, to) = narrow ? (ElementType.F32, wire) : (wire, ElementType.F32);
        mem.Store(new KernelBuffer(dst, TensorType.Scalar(to)), i, mem.Load(src, from, i));
    }
}
