using GraphCompiler.IR;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// The element evaluator for kernels another code generator drives: the CUDA backend computes one
/// element (or one row) per GPU thread and asks this class for the LLVM value of an element of any
/// value of a fusion body, exactly as the CPU loops do, so both targets share one lowering of every
/// elementwise and index-remapping op.
/// </summary>
internal sealed partial class KernelEmitter
{
    private Dictionary<string, string> _seeds = [];

    /// <summary>An evaluator that appends to <paramref name="b"/>; <paramref name="buffers"/> are the values read from memory.</summary>
    public static KernelEmitter ForDevice(ModuleContext module, string name, LlvmBuilder b, IEnumerable<(Value Value, string Pointer)> buffers,
        IEnumerable<Operation> ops, IReadOnlyDictionary<Value, Tensor>? constants = null)
    {
        var k = new KernelEmitter(module, name, constants) { _b = b };
        k._s = new ScalarEmitter(b, module);
        foreach (var (v, p) in buffers) k._buffers[v] = new Buffer(p, v.Type);
        foreach (var op in ops)
            foreach (var r in op.Results) k._defs[r] = op;
        return k;
    }

    /// <summary>The value of element <paramref name="idx"/> of <paramref name="v"/>, in its compute type.</summary>
    public string Element(Value v, IReadOnlyList<string> idx) => At(v, idx);

    /// <summary>Element <paramref name="idx"/> of <paramref name="v"/> is already in <paramref name="register"/> (a reduction's or a GEMM's result).</summary>
    public void Seed(Value v, IReadOnlyList<string> idx, string register)
    {
        var key = $"{System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(v)}:{string.Join(",", idx)}";
        _seeds[key] = register;
        _memo[key] = register;
    }

    /// <summary>Forgets computed elements (a new basic block or element follows), keeping the seeds.</summary>
    public void NextElement() => _memo = new(_seeds);

    /// <summary>Forgets the seeds too.</summary>
    public void ClearSeeds()
    {
        _seeds = [];
        _memo = [];
    }

    public void StoreElement(string pointer, TensorType type, string linear, string x) => Store(new Buffer(pointer, type), linear, x);

    public string LoadElement(string pointer, ElementType e, string linear) => Load(pointer, e, linear);

    public string[] UnravelIndex(string linear, System.Collections.Immutable.ImmutableArray<long> shape) => Unravel(linear, shape);

    public string RavelIndex(IReadOnlyList<string> idx, System.Collections.Immutable.ImmutableArray<long> shape) => Ravel(idx, shape);

    public string Combine(string kind, ElementType e, string acc, string x) => Accumulate(kind, e, acc, x);

    public static string IdentityOf(string kind, ElementType e) => Identity(kind, e);

    public ScalarEmitter Scalars => _s;
}
