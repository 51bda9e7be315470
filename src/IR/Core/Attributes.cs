using System.Collections.Immutable;

namespace GraphCompiler.IR;

/// <summary>An attribute value. Records give structural equality, which CSE and the printer rely on.</summary>
public abstract record Attr;

public sealed record IntAttr(long Value) : Attr;

public sealed record FloatAttr(double Value) : Attr
{
    public bool Equals(FloatAttr? other) => other is not null && BitConverter.DoubleToInt64Bits(other.Value) == BitConverter.DoubleToInt64Bits(Value);
    public override int GetHashCode() => Value.GetHashCode();
}

public sealed record BoolAttr(bool Value) : Attr;

/// <summary>A quoted string.</summary>
public sealed record StringAttr(string Value) : Attr;

/// <summary>A bare identifier from a fixed set (comparison direction, reduction kind, ...).</summary>
public sealed record EnumAttr(string Value) : Attr;

/// <summary>A reference to a function by name: <c>@f</c>.</summary>
public sealed record SymbolAttr(string Name) : Attr;

public sealed record IntArrayAttr(ImmutableArray<long> Values) : Attr
{
    public bool Equals(IntArrayAttr? other) => other is not null && other.Values.AsSpan().SequenceEqual(Values.AsSpan());

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var v in Values) h.Add(v);
        return h.ToHashCode();
    }
}

/// <summary>Tensor contents (the value of a constant).</summary>
public sealed record TensorAttr(Tensor Value) : Attr;

/// <summary>
/// A constant whose contents were left out of printed IR: only its content hash survives. It can be
/// printed, parsed and verified, but not evaluated.
/// </summary>
public sealed record ElidedTensorAttr(string Hash) : Attr;

public enum AttrKind { Int, Float, Bool, String, Enum, Symbol, IntArray, Tensor }

/// <summary>One attribute an op accepts: its kind, and either a default or required-ness.</summary>
public sealed record AttrSpec(string Name, AttrKind Kind, Attr? Default = null, ImmutableArray<string> EnumValues = default)
{
    /// <summary>For an enum whose values are not a fixed list (devices: taskK for any K): which words it accepts.</summary>
    public Func<string, bool>? EnumAccepts { get; init; }

    /// <summary>How errors describe the words <see cref="EnumAccepts"/> takes.</summary>
    public string? EnumDescription { get; init; }

    public bool Required => Default is null;

    public static AttrSpec Int(string name, long? dflt = null) => new(name, AttrKind.Int, dflt is { } d ? new IntAttr(d) : null);
    public static AttrSpec Float(string name, double? dflt = null) => new(name, AttrKind.Float, dflt is { } d ? new FloatAttr(d) : null);
    public static AttrSpec Bool(string name, bool? dflt = null) => new(name, AttrKind.Bool, dflt is { } d ? new BoolAttr(d) : null);
    public static AttrSpec Ints(string name) => new(name, AttrKind.IntArray);
    public static AttrSpec IntsOrEmpty(string name) => new(name, AttrKind.IntArray, new IntArrayAttr(ImmutableArray<long>.Empty));
    public static AttrSpec String(string name, string? dflt = null) => new(name, AttrKind.String, dflt is null ? null : new StringAttr(dflt));
    public static AttrSpec Symbol(string name) => new(name, AttrKind.Symbol);
    public static AttrSpec Tensor(string name) => new(name, AttrKind.Tensor);

    public static AttrSpec Enum(string name, string? dflt, params string[] values) =>
        new(name, AttrKind.Enum, dflt is null ? null : new EnumAttr(dflt), [.. values]);

    /// <summary>A required enum whose values are the words <paramref name="accepts"/> takes, described as <paramref name="description"/>.</summary>
    public static AttrSpec EnumWhere(string name, string description, Func<string, bool> accepts) =>
        new(name, AttrKind.Enum) { EnumAccepts = accepts, EnumDescription = description };

    public bool Accepts(Attr a) => (Kind, a) switch
    {
        (AttrKind.Int, IntAttr) => true,
        (AttrKind.Float, FloatAttr) => true,
        (AttrKind.Float, IntAttr) => true,
        (AttrKind.Bool, BoolAttr) => true,
        (AttrKind.String, StringAttr) => true,
        (AttrKind.Enum, EnumAttr e) => EnumAccepts is { } accepts ? accepts(e.Value) : EnumValues.IsDefaultOrEmpty || EnumValues.Contains(e.Value),
        (AttrKind.Symbol, SymbolAttr) => true,
        (AttrKind.IntArray, IntArrayAttr) => true,
        (AttrKind.Tensor, TensorAttr or ElidedTensorAttr) => true,
        _ => false,
    };

    public string Describe() => Kind switch
    {
        AttrKind.Enum when EnumDescription is { } d => d,
        AttrKind.Enum when !EnumValues.IsDefaultOrEmpty => "one of " + string.Join("|", EnumValues),
        AttrKind.IntArray => "an integer list",
        AttrKind.Int => "an integer",
        AttrKind.Float => "a number",
        AttrKind.Bool => "true or false",
        AttrKind.Symbol => "a function name (@f)",
        AttrKind.String => "a quoted string",
        AttrKind.Tensor => "a dense<...> literal",
        _ => Kind.ToString().ToLowerInvariant(),
    };
}

/// <summary>The attributes of one operation, sorted by name (the printer's order).</summary>
public sealed class AttrMap : IEquatable<AttrMap>
{
    public static readonly AttrMap Empty = new(ImmutableSortedDictionary<string, Attr>.Empty);

    public ImmutableSortedDictionary<string, Attr> Items { get; }

    public AttrMap(ImmutableSortedDictionary<string, Attr> items) => Items = items;

    public static AttrMap Of(params (string Name, Attr Value)[] items) =>
        new(items.ToImmutableSortedDictionary(p => p.Name, p => p.Value, StringComparer.Ordinal));

    public Attr? this[string name] => Items.TryGetValue(name, out var a) ? a : null;
    public int Count => Items.Count;
    public AttrMap With(string name, Attr value) => new(Items.SetItem(name, value));
    public AttrMap Without(string name) => Items.ContainsKey(name) ? new(Items.Remove(name)) : this;

    public bool Equals(AttrMap? other)
    {
        if (other is null || other.Items.Count != Items.Count) return false;
        foreach (var (k, v) in Items)
            if (!other.Items.TryGetValue(k, out var o) || !o.Equals(v)) return false;
        return true;
    }

    public override bool Equals(object? obj) => Equals(obj as AttrMap);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var (k, v) in Items)
        {
            h.Add(k);
            h.Add(v);
        }
        return h.ToHashCode();
    }
}
