using System.Globalization;
using System.Text;

namespace GraphCompiler.IR.Text;

public sealed record PrintOptions
{
    /// <summary>Constants with more elements than this print as <c>dense_elided&lt;"hash"&gt;</c>; negative prints all.</summary>
    public long ElideConstantsAbove { get; init; } = 64;

    public bool PrintSourceNames { get; init; } = true;

    public static readonly PrintOptions Default = new();
    public static readonly PrintOptions Full = new() { ElideConstantsAbove = -1 };
}

/// <summary>
/// Numbers the values of one function in textual order: arguments <c>%argN</c>, everything else
/// <c>%N</c> (op results first, then the arguments of the op's regions). Stable by construction.
/// </summary>
public sealed class ValueNames
{
    private readonly Dictionary<Value, string> _names = new(ReferenceEqualityComparer.Instance);
    private int _next;

    public ValueNames(Function f)
    {
        for (int i = 0; i < f.Arguments.Length; i++) _names[f.Arguments[i]] = $"%arg{i}";
        NameRegion(f.Body);
    }

    private void NameRegion(Region r)
    {
        foreach (var op in r.Operations)
        {
            foreach (var v in op.Results) _names.TryAdd(v, $"%{_next++}");
            foreach (var inner in op.Regions)
            {
                foreach (var a in inner.Arguments) _names.TryAdd(a, $"%{_next++}");
                NameRegion(inner);
            }
        }
    }

    public string this[Value v] => _names.TryGetValue(v, out var n) ? n : "%<undefined>";
}

/// <summary>The deterministic text form of IR: one op per line, attributes sorted, regions indented.</summary>
public static class Printer
{
    public static string Print(Module m, PrintOptions? options = null)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < m.Functions.Length; i++)
        {
            if (i > 0) sb.Append('\n');
            PrintFunction(sb, m.Functions[i], options ?? PrintOptions.Default);
        }
        return sb.ToString();
    }

    public static string Print(Function f, PrintOptions? options = null)
    {
        var sb = new StringBuilder();
        PrintFunction(sb, f, options ?? PrintOptions.Default);
        return sb.ToString();
    }

    /// <summary>One op on its own, with values numbered locally (for messages and debugging).</summary>
    public static string PrintOperation(Operation op)
    {
        var f = new Function("op", new Region([], [op]), []);
        var sb = new StringBuilder();
        PrintOp(sb, op, new ValueNames(f), PrintOptions.Default, 0);
        return sb.ToString().TrimEnd();
    }

    private static void PrintFunction(StringBuilder sb, Function f, PrintOptions o)
    {
        var names = new ValueNames(f);
        sb.Append("func @").Append(f.Name).Append('(');
        for (int i = 0; i < f.Arguments.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(names[f.Arguments[i]]).Append(": ").Append(f.Arguments[i].Type);
            var info = f.ArgumentInfos[i];
            var parts = new List<string>();
            if (info.Name is not null) parts.Add($"name = {Quote(info.Name)}");
            if (info.IsVariable) parts.Add("variable");
            if (parts.Count > 0) sb.Append(" {").Append(string.Join(", ", parts)).Append('}');
        }
        sb.Append(") -> (");
        for (int i = 0; i < f.ResultTypes.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(f.ResultTypes[i]);
            var info = f.ResultInfos[i];
            var parts = new List<string>();
            if (info.Name is not null) parts.Add($"name = {Quote(info.Name)}");
            if (info.Updates is { } u) parts.Add($"updates = %arg{u}");
            if (parts.Count > 0) sb.Append(" {").Append(string.Join(", ", parts)).Append('}');
        }
        sb.Append(") {\n");
        foreach (var op in f.Body.Operations) PrintOp(sb, op, names, o, 1);
        sb.Append("}\n");
    }

    private static void Indent(StringBuilder sb, int level) => sb.Append(' ', level * 2);

    private static void PrintOp(StringBuilder sb, Operation op, ValueNames names, PrintOptions o, int level)
    {
        Indent(sb, level);
        if (op.Results.Length > 0) sb.Append(string.Join(", ", op.Results.Select(r => names[r]))).Append(" = ");
        sb.Append(op.Name);
        if (op.Operands.Length > 0) sb.Append(' ').Append(string.Join(", ", op.Operands.Select(v => names[v])));
        if (op.Attributes.Count > 0)
        {
            sb.Append(" {");
            bool first = true;
            foreach (var (k, v) in op.Attributes.Items)
            {
                if (!first) sb.Append(", ");
                first = false;
                sb.Append(k).Append(" = ").Append(FormatAttr(v, o));
            }
            sb.Append('}');
        }
        if (op.Results.Length > 0) sb.Append(" : ").Append(string.Join(", ", op.Results.Select(r => r.Type)));
        if (o.PrintSourceNames && op.SourceName is not null) sb.Append(" loc(").Append(Quote(op.SourceName)).Append(')');
        sb.Append('\n');
        for (int i = 0; i < op.Regions.Length; i++)
        {
            var r = op.Regions[i];
            var regionName = op.Def.VariadicRegions ? op.Def.RegionNames[0] : op.Def.RegionNames[i];
            Indent(sb, level + 1);
            sb.Append(regionName).Append('(');
            sb.Append(string.Join(", ", r.Arguments.Select(a => $"{names[a]}: {a.Type}")));
            sb.Append(") {\n");
            foreach (var inner in r.Operations) PrintOp(sb, inner, names, o, level + 2);
            Indent(sb, level + 1);
            sb.Append("}\n");
        }
    }

    public static string FormatAttr(Attr a, PrintOptions? o = null) => a switch
    {
        IntAttr i => i.Value.ToString(CultureInfo.InvariantCulture),
        FloatAttr f => TensorFormatter.FormatFloat(ElementType.F64, f.Value),
        BoolAttr b => b.Value ? "true" : "false",
        StringAttr s => Quote(s.Value),
        EnumAttr e => e.Value,
        SymbolAttr s => "@" + s.Name,
        IntArrayAttr arr => "[" + string.Join(", ", arr.Values) + "]",
        TensorAttr t => FormatTensor(t.Value, o ?? PrintOptions.Default),
        ElidedTensorAttr e => $"dense_elided<{Quote(e.Hash)}>",
        _ => throw new ArgumentException($"unknown attribute {a}"),
    };

    private static string FormatTensor(Tensor t, PrintOptions o)
    {
        if (o.ElideConstantsAbove >= 0 && t.ElementCount > o.ElideConstantsAbove && !IsSplat(t))
            return $"dense_elided<{Quote(t.ContentHash())}>";
        if (t.Type.Rank > 0 && IsSplat(t)) return $"dense<{TensorFormatter.FormatElement(t, 0)}>";
        return $"dense<{TensorFormatter.Format(t)}>";
    }

    /// <summary>More than one element, all equal: printed as the one value (O(1) for a splat constant, never materialising it).</summary>
    private static bool IsSplat(Tensor t) => t.ElementCount > 1 && t.IsSplat;

    public static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20) sb.Append($"\\x{(int)c:x2}");
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
