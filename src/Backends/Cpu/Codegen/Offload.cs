using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>What an offloading hook sees of the host program being emitted.</summary>
/// <param name="HostPointer">The host buffer of a value the CPU side placed (argument, arena slot, constant, result).</param>
/// <param name="ReturnIf">Returns the second argument (an i32 status) from the program when the first (an i1) holds.</param>
internal sealed record OffloadSite(LlvmBuilder B, ModuleContext Module, Func<Value, string> HostPointer, Action<string, string> ReturnIf);

/// <summary>
/// Lets another device take part in the host program <see cref="ProgramEmitter"/> emits: it claims
/// the ops placed on it and the transfers, and keeps its values in its own memory.
/// </summary>
internal interface IOffload
{
    /// <summary>Whether <paramref name="v"/> has no host buffer (it lives on the device, or nowhere).</summary>
    bool Elsewhere(Value v);

    /// <summary>Emits <paramref name="op"/> when it is the device's (a kernel or a transfer); false leaves it to the CPU.</summary>
    bool TryEmit(Operation op, OffloadSite site);

    /// <summary>Before the first op: bring the device up.</summary>
    void Prologue(OffloadSite site);

    /// <summary>After the last op, before results are copied out: wait for the device.</summary>
    void Epilogue(OffloadSite site);
}
