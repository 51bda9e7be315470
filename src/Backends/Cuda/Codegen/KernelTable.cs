using System.Globalization;
using System.Text;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Backends.Cuda.Codegen;

/// <summary>
/// Which op each GPU kernel computes, as a tab-separated table (<c>NAME.kernels.tsv</c> beside an AOT library): a GPU
/// profile (nsys, ncu, torch.profiler) names kernels <c>gc_mma_tf32_12</c>; the table reads them back as the model's
/// ops — the kernel, the op's source name (its ONNX or TensorFlow node, a fusion's contraction's or reduction's where it
/// has one; else its result in the printed IR), what it computes (a fusion's kind and the ops it fuses), the launch
/// (grid, block, dynamic shared memory, scratch). One row per kernel and op: a kernel launched for several ops (a sort
/// network's step) has a row each.
/// </summary>
internal static class KernelTable
{
    public const string Header = "kernel\top\tcomputes\tgrid\tblock\tshared_bytes\tscratch_bytes";

    public static string Tsv(CudaPlan plan)
    {
        var names = new ValueNames(plan.Function);
        var s = new StringBuilder(Header).Append('\n');
        string Name(Operation op) => Hero(op)?.SourceName ?? op.SourceName ?? (op.Results.Length > 0 ? names[op.Results[0]] : op.Def.Name);
        foreach (var (op, kernels) in plan.Kernels)
            foreach (var k in kernels)
                Row(s, k.Name, Name(op), Computes(op), $"{k.GridX},{k.GridY},{k.GridZ}", k.Block, k.DynamicSharedBytes, k.ScratchBytes);
        foreach (var (send, (name, _, grid)) in plan.WireKernels)
            Row(s, name, Name(send), $"send {send.Attr.Enum("from")}→{send.Attr.Enum("to")} compressed to {send.Attr.Enum("compress")}", $"{grid},1,1",
                WireKernel.Block, 0, 0);
        return s.ToString();
    }

    /// <summary>
    /// A fusion's contraction or reduction, whose node the kernel is named after: the fusion's own source name is its last
    /// op's, which may be a convert for the next layer (<c>--precision bf16</c>) named after that layer.
    /// </summary>
    private static Operation? Hero(Operation op) =>
        op.Def is FusionOp ? op.Regions[0].Operations.FirstOrDefault(o => o.Def.HasAny(OpTraits.Contraction | OpTraits.Reduction)) : null;

    /// <summary>
    /// An op, or a fusion's kind and its ops in order, each kind once: those that compute, leaving out constants and the
    /// index remaps around them (broadcasts, reshapes), unless the fusion only moves elements.
    /// </summary>
    private static string Computes(Operation op)
    {
        if (op.Def is not FusionOp) return op.Def.Name;
        var ops = op.Regions[0].Operations.Where(o => o.Def is not ConstantOp && !o.Def.IsTerminator).ToList();
        var computing = ops.Where(o => !o.Def.Has(OpTraits.IndexRemap)).ToList();
        return $"{op.Attr.Enum("kind")}: {string.Join(' ', (computing.Count > 0 ? computing : ops).Select(o => o.Def.Name).Distinct())}";
    }

    private static void Row(StringBuilder s, string kernel, string op, string computes, string grid, int block, int shared, long scratch) =>
        s.Append(kernel).Append('\t').Append(Clean(op)).Append('\t').Append(Clean(computes)).Append('\t').Append(grid).Append('\t')
            .Append(block.ToString(CultureInfo.InvariantCulture)).Append('\t').Append(shared.ToString(CultureInfo.InvariantCulture)).Append('\t')
            .Append(scratch.ToString(CultureInfo.InvariantCulture)).Append('\n');

    /// <summary>A source name may hold anything: tabs and line breaks would break the table.</summary>
    private static string Clean(string text) => text.Replace('\t', ' ').Replace('\n', ' ').Replace('\r', ' ');
}
