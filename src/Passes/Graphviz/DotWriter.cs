using System.Text;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Passes.Graphviz;

/// <summary>
/// Writes a module as a Graphviz DOT graph: one box per op (its name, result types and
/// <c>loc</c> source name), one edge per operand labelled with the value's type (and its name when
/// the producer has several results), function
/// arguments and results as distinct ellipses, and each op with regions as a cluster that holds its
/// region(s) — so fused groups and loop bodies read as boxes within boxes. Each function is a
/// cluster of its own. Node ids follow the printed order, so the output is deterministic.
/// After <c>place-devices</c> an op is filled by its device (CPU blue, GPU green); <c>send</c>/<c>recv</c>
/// are orange <c>cds</c> arrows, joined by a dashed edge labelled with the bytes on the wire; a legend
/// appears when anything is placed.
/// </summary>
public static class DotWriter
{
    public static string Write(Module module)
    {
        var sb = new StringBuilder();
        sb.Append("digraph module {\n");
        sb.Append("  rankdir=TB;\n");
        sb.Append("  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n");
        sb.Append("  edge [fontname=\"Helvetica\", fontsize=8];\n");
        int fi = 0;
        foreach (var f in module.Functions) new FunctionWriter(sb, f, fi++).Write();
        if (module.Functions.Any(f => IsPlaced(f.Body))) WriteLegend(sb);
        sb.Append("}\n");
        return sb.ToString();
    }

    private const string CpuFill = "#cfe0fa", GpuFill = "#c6ebbd", TransferFill = "#ffd9a8";

    private static bool IsPlaced(Region r) => r.Operations.Any(o => o.Attributes[Placement.AttrName] is not null || o.Def is SendOp or RecvOp);

    private static void WriteLegend(StringBuilder sb)
    {
        sb.Append("  subgraph cluster_legend {\n");
        sb.Append("    label=\"devices\"; style=rounded; fontname=\"Helvetica\"; fontsize=10;\n");
        sb.Append($"    legend_cpu [label=\"cpu\", style=\"rounded,filled\", fillcolor=\"{CpuFill}\"];\n");
        sb.Append($"    legend_gpu [label=\"gpu\", style=\"rounded,filled\", fillcolor=\"{GpuFill}\"];\n");
        sb.Append($"    legend_transfer [label=\"send / recv\", shape=cds, style=filled, fillcolor=\"{TransferFill}\"];\n");
        sb.Append("    legend_cpu -> legend_gpu -> legend_transfer [style=invis];\n");
        sb.Append("  }\n");
    }

    /// <summary>The fill attributes of a placed op (empty when it carries no device).</summary>
    private static string DeviceStyle(Operation op, string baseStyle) => op.Attributes[Placement.AttrName] is EnumAttr d
        ? $", style=\"{baseStyle},filled\", fillcolor=\"{(d.Value == Placement.Gpu ? GpuFill : CpuFill)}\""
        : baseStyle == "rounded" ? "" : $", style=\"{baseStyle}\"";

    /// <summary>Bytes as a short human number (B, KiB, MiB, GiB).</summary>
    public static string FormatBytes(double bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB"];
        int u = 0;
        while (bytes >= 1024 && u < units.Length - 1)
        {
            bytes /= 1024;
            u++;
        }
        return u == 0 ? $"{bytes:0} B" : $"{bytes.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)} {units[u]}";
    }

    /// <summary>Bytes a send puts on the wire: half for an f32 tensor sent compressed.</summary>
    private static double WireBytes(Operation send) =>
        send.Result.Type.ByteSize / (send.Attr.Enum("compress") == "none" ? 1.0 : 2.0);

    private sealed class FunctionWriter(StringBuilder sb, Function f, int index)
    {
        private readonly ValueNames _names = new(f);
        private readonly Dictionary<Value, string> _source = new(ReferenceEqualityComparer.Instance);
        private readonly HashSet<Value> _multi = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<Value, Operation> _sends = new(ReferenceEqualityComparer.Instance);
        private readonly List<string> _edges = [];
        private int _nodes, _clusters;
        private string Prefix => $"f{index}_";

        public void Write()
        {
            sb.Append($"  subgraph cluster_{Prefix}func {{\n");
            sb.Append($"    label={Quote("@" + f.Name)};\n");
            for (int i = 0; i < f.Arguments.Length; i++)
            {
                var id = $"{Prefix}arg{i}";
                var info = f.ArgumentInfos[i];
                var label = $"{_names[f.Arguments[i]]}{(info.Name is null ? "" : $" \"{info.Name}\"")}{(info.IsVariable ? " (variable)" : "")}\n{f.Arguments[i].Type}";
                sb.Append($"    {id} [shape=ellipse, style=filled, fillcolor=\"#dde8f7\", label={Quote(label)}];\n");
                _source[f.Arguments[i]] = id;
            }
            WriteOps(f.Body, "    ", isFunctionBody: true);
            var returned = f.Body.Yielded;
            for (int i = 0; i < returned.Length; i++)
            {
                var id = $"{Prefix}result{i}";
                var info = f.ResultInfos[i];
                var label = $"{f.ResultName(i)}{(info.Updates is { } k ? $" (updates {_names[f.Arguments[k]]})" : "")}\n{f.ResultTypes[i]}";
                sb.Append($"    {id} [shape=ellipse, style=filled, fillcolor=\"#e3f2dc\", label={Quote(label)}];\n");
                Edge(returned[i], id);
            }
            foreach (var e in _edges) sb.Append("    ").Append(e).Append('\n');
            sb.Append("  }\n");
        }

        private void WriteOps(Region region, string indent, bool isFunctionBody)
        {
            foreach (var op in region.Operations)
            {
                if (op.Def.IsTerminator && isFunctionBody) continue; // results are drawn as their own nodes
                var id = $"{Prefix}n{_nodes++}";
                var types = op.Results.Length == 0 ? "" : "\n" + string.Join(", ", op.Results.Select(r => r.Type.ToString()));
                var results = op.Results.Length == 0 ? "" : string.Join(", ", op.Results.Select(r => _names[r])) + " = ";
                var label = results + op.Name + types + (op.SourceName is null ? "" : $"\n{op.SourceName}");
                if (op.Def is SendOp or RecvOp)
                {
                    var compress = op.Def is SendOp && op.Attr.Enum("compress") is var c && c != "none" ? $" as {c}" : "";
                    label = $"{results}{op.Name} {op.Attr.Enum("from")}\u2192{op.Attr.Enum("to")}{compress}\n{op.Result.Type}";
                    sb.Append($"{indent}{id} [label={Quote(label)}, shape=cds, style=filled, fillcolor=\"{TransferFill}\"];\n");
                }
                else if (op.Regions.IsEmpty)
                {
                    var style = op.Def.IsTerminator ? ", shape=plaintext" : DeviceStyle(op, "rounded");
                    sb.Append($"{indent}{id} [label={Quote(label)}{style}];\n");
                }
                else
                {
                    sb.Append($"{indent}subgraph cluster_{Prefix}c{_clusters++} {{\n");
                    sb.Append($"{indent}  label={Quote(op.Name)}; style=\"rounded,dashed\";\n");
                    sb.Append($"{indent}  {id} [label={Quote(label)}{DeviceStyle(op, "rounded,bold")}];\n");
                    for (int r = 0; r < op.Regions.Length; r++)
                    {
                        var region2 = op.Regions[r];
                        var name = op.Def.VariadicRegions ? $"{op.Def.RegionNames[0]}{r}" : op.Def.RegionNames[r];
                        sb.Append($"{indent}  subgraph cluster_{Prefix}c{_clusters++} {{\n");
                        sb.Append($"{indent}    label={Quote(name)}; style=rounded;\n");
                        foreach (var a in region2.Arguments)
                        {
                            var aid = $"{Prefix}n{_nodes++}";
                            sb.Append($"{indent}    {aid} [shape=ellipse, label={Quote($"{_names[a]}\n{a.Type}")}];\n");
                            _source[a] = aid;
                        }
                        WriteOps(region2, indent + "    ", isFunctionBody: false);
                        sb.Append($"{indent}  }}\n");
                    }
                    sb.Append($"{indent}}}\n");
                }
                if (op.Def is RecvOp && _sends.TryGetValue(op.Operands[0], out var send))
                    _edges.Add($"{_source[op.Operands[0]]} -> {id} [style=dashed, label={Quote(FormatBytes(WireBytes(send)))}];");
                else foreach (var v in op.Operands) Edge(v, id);
                if (op.Def is SendOp) _sends[op.Result] = op;
                foreach (var r in op.Results) _source[r] = id;
                if (op.Results.Length > 1) _multi.UnionWith(op.Results);
            }
        }

        private void Edge(Value v, string to)
        {
            var from = _source.TryGetValue(v, out var s) ? s : $"{Prefix}undefined";
            // Which result travels is ambiguous only for multi-result ops: name it there.
            var label = _multi.Contains(v) ? $"{_names[v]}: {v.Type}" : v.Type.ToString();
            _edges.Add($"{from} -> {to} [label={Quote(label)}];");
        }
    }

    /// <summary>A DOT string literal: quotes and backslashes escaped, newlines as <c>\n</c> (centred lines).</summary>
    public static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in s)
        {
            if (c == '\n') sb.Append("\\n");
            else if (c is '"' or '\\') sb.Append('\\').Append(c);
            else if (c < ' ') sb.Append(' ');
            else sb.Append(c);
        }
        return sb.Append('"').ToString();
    }
}
