using GraphCompiler.IR;
using static GraphCompiler.Backends.Llvm.LlvmNative;

namespace GraphCompiler.Backends.Llvm;

/// <summary>
/// The bytes of a constant global that the IR text declares with a placeholder initializer
/// (<c>@SYMBOL = private unnamed_addr constant [N x i8] zeroinitializer</c>). Weights go to LLVM
/// through the C API after parsing instead of as text: written as <c>\XX</c> escapes, 100 MB of
/// weights were 300 MB of text that took longer to print and parse than the rest of the compilation.
/// </summary>
/// <remarks>
/// An <see cref="External"/> constant is only declared in the text (<c>@SYMBOL = external constant [N x i8]</c>): its
/// bytes stay outside the object file and the JIT supplies their address (<see cref="JitConstants"/>).
/// </remarks>
public sealed record ConstantGlobal(string Symbol, Tensor Value, bool External = false)
{
    /// <summary>Sets each global's initializer to its bytes (an <c>[N x i8]</c> array, as the <c>c"..."</c> text was).</summary>
    internal static unsafe void Apply(nint module, IReadOnlyList<ConstantGlobal> constants)
    {
        if (constants.Count == 0) return;
        var context = LLVMGetModuleContext(module);
        foreach (var c in constants)
        {
            if (c.External) continue;
            var global = LLVMGetNamedGlobal(module, c.Symbol);
            var bytes = c.Value.Bytes;
            // A mismatch is a code generator bug: the placeholder and the data come from the same tensor.
            if (global == 0 || LLVMGetArrayLength2(LLVMGlobalGetValueType(global)) != (ulong)bytes.Length)
                throw new InvalidOperationException($"generated IR has no placeholder [{bytes.Length} x i8] for @{c.Symbol}");
            fixed (byte* p = bytes)
                LLVMSetInitializer(global, LLVMConstStringInContext2(context, p, (nuint)bytes.Length, dontNullTerminate: 1));
        }
    }
}
