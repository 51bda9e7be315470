using System.Globalization;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Llvm.Aot;

/// <summary>One argument or result of the compiled entry point, as the C header and C# binding name it.</summary>
public sealed record AbiTensor(int Index, string Name, string CName, string CsName, TensorType Type, bool UpdatedInPlace, int? Updates)
{
    public long Elements => Type.ElementCount;
    public long Bytes => Type.ByteSize;

    /// <summary>e.g. <c>f32[2,4]</c>.</summary>
    public string TypeText => $"{Type.Element.Name()}[{string.Join(",", Type.Shape)}]";
}

/// <summary>
/// The ABI of an ahead-of-time compiled function, computed once so that the header and the binding
/// agree: names made into identifiers (unique, stable), C and C# element types, byte sizes.
/// </summary>
public sealed class AotAbi
{
    /// <summary>The ABI version the runtime defines (<see cref="GraphCompiler.Runtime.Abi.Version"/>).</summary>
    public const int Version = GraphCompiler.Runtime.Abi.Version;

    /// <summary>The arena alignment the runtime defines (<see cref="GraphCompiler.Runtime.Abi.ArenaAlignment"/>).</summary>
    public const int ArenaAlignment = GraphCompiler.Runtime.Abi.ArenaAlignment;

    public string Name { get; }
    public string ClassName { get; }
    public string SourceFunction { get; }
    public long ArenaBytes { get; }
    public IReadOnlyList<AbiTensor> Arguments { get; }
    public IReadOnlyList<AbiTensor> Results { get; }

    public AotAbi(string name, Function f, long arenaBytes)
    {
        if (!IsIdentifier(name)) throw new ArgumentException($"'{name}' is not a C identifier", nameof(name));
        Name = name;
        ClassName = PascalCase(name);
        SourceFunction = f.Name;
        ArenaBytes = arenaBytes;
        var updated = f.ResultInfos.Select(r => r.Updates).OfType<int>().ToHashSet();
        var cNames = new HashSet<string>(StringComparer.Ordinal);
        var csNames = new HashSet<string>(StringComparer.Ordinal);
        Arguments = [.. Enumerable.Range(0, f.Arguments.Length).Select(i => new AbiTensor(i, f.ArgumentName(i),
            Unique(CIdentifier(f.ArgumentName(i)), cNames), Unique(CsIdentifier(f.ArgumentName(i)), csNames),
            f.Arguments[i].Type, updated.Contains(i), null))];
        cNames.Clear();
        Results = [.. Enumerable.Range(0, f.ResultTypes.Length).Select(i => new AbiTensor(i, f.ResultName(i),
            Unique(CIdentifier(f.ResultName(i)), cNames), Unique(CsIdentifier(f.ResultName(i)), csNames),
            f.ResultTypes[i], false, f.ResultInfos[i].Updates))];
    }

    public static bool IsIdentifier(string s) =>
        s.Length > 0 && (char.IsAsciiLetter(s[0]) || s[0] == '_') && s.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary><c>softmax_regression</c> → <c>SoftmaxRegression</c>.</summary>
    public static string PascalCase(string name)
    {
        var parts = name.Split('_', StringSplitOptions.RemoveEmptyEntries);
        var s = string.Concat(parts.Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
        return s.Length == 0 || char.IsAsciiDigit(s[0]) ? "Model" + s : s;
    }

    /// <summary>An upper-case identifier fragment for macro names: <c>input:0</c> → <c>INPUT_0</c>.</summary>
    private static string CIdentifier(string name)
    {
        var s = new string([.. name.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToUpperInvariant(c) : '_')]).Trim('_');
        return s.Length == 0 ? "T" : s;
    }

    /// <summary>A camelCase C# parameter name, escaped with '@' where it is a keyword.</summary>
    private static string CsIdentifier(string name)
    {
        var words = new string([.. name.Select(c => char.IsAsciiLetterOrDigit(c) ? c : ' ')]).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var s = string.Concat(words.Select((w, i) => i == 0 ? char.ToLowerInvariant(w[0]) + w[1..] : char.ToUpperInvariant(w[0]) + w[1..]));
        if (s.Length == 0 || char.IsAsciiDigit(s[0])) s = "t" + s;
        return CSharpKeywords.Contains(s) ? "@" + s : s;
    }

    private static string Unique(string s, HashSet<string> used)
    {
        var candidate = s;
        for (int k = 2; !used.Add(candidate); k++) candidate = s + "_" + k.ToString(CultureInfo.InvariantCulture);
        return candidate;
    }

    /// <summary>The C type of one element (f16/bf16 as their raw bits, bool as one byte 0/1).</summary>
    public static string CType(ElementType t) => t switch
    {
        ElementType.F32 => "float",
        ElementType.F64 => "double",
        ElementType.F16 or ElementType.BF16 or ElementType.U16 => "uint16_t",
        ElementType.I8 => "int8_t",
        ElementType.I16 => "int16_t",
        ElementType.I32 => "int32_t",
        ElementType.I64 => "int64_t",
        ElementType.U8 or ElementType.Bool => "uint8_t",
        ElementType.U32 => "uint32_t",
        ElementType.U64 => "uint64_t",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>The C# element type of the binding's spans (bf16 as raw bits).</summary>
    public static string CsType(ElementType t) => t switch
    {
        ElementType.F32 => "float",
        ElementType.F64 => "double",
        ElementType.F16 => "System.Half",
        ElementType.BF16 or ElementType.U16 => "ushort",
        ElementType.I8 => "sbyte",
        ElementType.I16 => "short",
        ElementType.I32 => "int",
        ElementType.I64 => "long",
        ElementType.U8 => "byte",
        ElementType.Bool => "bool",
        ElementType.U32 => "uint",
        ElementType.U64 => "ulong",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    private static readonly HashSet<string> CSharpKeywords =
    [
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const",
        "continue", "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern",
        "false", "finally", "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface",
        "internal", "is", "lock", "long", "namespace", "new", "null", "object", "operator", "out", "override",
        "params", "private", "protected", "public", "readonly", "ref", "return", "sbyte", "sealed", "short",
        "sizeof", "stackalloc", "static", "string", "struct", "switch", "this", "throw", "true", "try", "typeof",
        "uint", "ulong", "unchecked", "unsafe", "ushort", "using", "virtual", "void", "volatile", "while",
    ];
}
