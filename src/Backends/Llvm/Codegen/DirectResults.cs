using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>
/// The results a host program computes straight into the caller's result buffers instead of copying
/// them there at the end: a value computed by a top-level op of the function (not a constant, not an
/// argument, not inside a region) and returned once. Variable updates are <see cref="ProgramEmitter"/>'s own
/// case: written into the variable when buffer assignment says it is dead by then, else copied to both.
/// </summary>
public static class DirectResults
{
    /// <summary>Each such value of <paramref name="f"/>, with the index of the result it is.</summary>
    public static IReadOnlyDictionary<Value, int> Of(Function f)
    {
        var returned = f.Body.Yielded;
        var topLevel = new HashSet<Value>(f.Body.Operations.Where(o => o.Def is not ConstantOp).SelectMany(o => o.Results), ReferenceEqualityComparer.Instance);
        var direct = new Dictionary<Value, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < returned.Length; i++)
        {
            var v = returned[i];
            if (topLevel.Contains(v) && returned.Count(r => ReferenceEquals(r, v)) == 1)
                direct[v] = i;
        }
        return direct;
    }
}
