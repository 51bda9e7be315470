using System.Collections.Immutable;
using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Backends.Cpu.Codegen;

/// <summary>
/// Reductions whose kept innermost dimension is the one contiguous in memory (a global average pool over an NHWC tensor
/// seen as NCHW through a transpose, a sum over rows): the output loop nest would sum each output element over elements
/// a whole row apart, one scalar at a time. Instead the reduced index runs outside and the output index inside, each
/// step combining a contiguous run of elements into the output, which LLVM vectorises. Each output element still
/// combines its elements in the same order from the same start, so the results are the same bits.
/// ResNet-50's pool with its residual add and ReLU (7 × 7 × 2048): 0.45 ms at one thread and two before.
/// </summary>
internal sealed partial class KernelEmitter
{
    /// <summary>Most source elements reduced this way: it runs on one thread, where the output loop nest splits over threads.</summary>
    private const long ColumnReduceMostElements = 1 << 22;

    /// <summary>Fewest elements of the output's last dimension worth a vector loop.</summary>
    private const long ColumnReduceLeastRun = 8;

    /// <summary>
    /// Whether <paramref name="output"/>, computed by this kernel, is a reduction to emit with <see cref="ColumnReduce"/>:
    /// sum, product, max or min in f32 or f64 (the output holds the running value in its own type), over at most
    /// <see cref="ColumnReduceMostElements"/> elements, whose source (through a transpose, when the reduced operand is one)
    /// keeps its innermost dimension as the output's last.
    /// </summary>
    private bool IsColumnReduction(Value output, out Operation reduce)
    {
        reduce = null!;
        if (_ev.DefinitionOf(output) is not { Def: ReduceOp } op) return false;
        reduce = op;
        var x = op.Operands[0];
        if (output.Type.Element is not (ElementType.F32 or ElementType.F64) || x.Type.Element != output.Type.Element) return false;
        if (op.Attr.Enum("kind") is not ("sum" or "prod" or "max" or "min")) return false;
        if (x.Type.ElementCount > ColumnReduceMostElements || output.Type.Rank == 0 || output.Type.Shape[^1] < ColumnReduceLeastRun) return false;
        var dims = op.Attr.Ints("dims").Select(d => (int)d).ToHashSet();
        if (dims.Count == 0 || output.Type.ElementCount == x.Type.ElementCount) return false;
        int lastKept = Enumerable.Range(0, x.Type.Rank).Last(d => !dims.Contains(d));
        // The dimension of memory that the output's last one walks: through a transpose computed here, its operand's.
        int physical = lastKept, rank = x.Type.Rank;
        if (_ev.DefinitionOf(x) is { Def: TransposeOp } t)
            physical = (int)t.Attr.Ints("perm")[lastKept];
        return physical == rank - 1;
    }

    /// <summary>
    /// Per row of the output (its dimensions but the last): <c>out = identity</c>; then for each reduced index (in the
    /// order the element loop visits them), for each element of the row: <c>out[o] = combine(out[o], x[o, r])</c>.
    /// </summary>
    private void ColumnReduce(KernelBuffer dest, Operation reduce)
    {
        var x = reduce.Operands[0];
        var e = dest.Type.Element;
        var kind = reduce.Attr.Enum("kind");
        var dims = reduce.Attr.Ints("dims").Select(d => (int)d).ToHashSet();
        var outShape = dest.Type.Shape;
        var rowShape = outShape[..^1];
        var run = ImmutableArray.Create(outShape[^1]);
        var reducedShape = ImmutableArray.CreateRange(Enumerable.Range(0, x.Type.Rank).Where(dims.Contains).Select(d => x.Type.Shape[d]));
        var identity = ElementEvaluator.IdentityOf(kind, e);
        _ev.NextElement();
        ForEachIndex(rowShape, row =>
        {
            string[] Output(string[] j) => [.. row, j[0]];
            ForEachIndex(run, j => Store(dest, Ravel(Output(j), outShape), identity));
            ForEachIndex(reducedShape, r => ForEachIndex(run, j =>
            {
                var o = Output(j);
                var src = new string[x.Type.Rank];
                int ri = 0, ki = 0;
                for (int d = 0; d < src.Length; d++) src[d] = dims.Contains(d) ? r[ri++] : o[ki++];
                var at = Ravel(o, outShape);
                Store(dest, at, _ev.Combine(kind, e, Load(dest.Pointer, e, at), At(x, src)));
            }));
        });
    }
}
