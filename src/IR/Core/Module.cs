using System.Collections.Immutable;

namespace GraphCompiler.IR;

/// <summary>A function argument's interface: an optional external name and whether it is a variable.</summary>
public sealed record ArgumentInfo(string? Name = null, bool IsVariable = false);

/// <summary>
/// A function result's interface: an optional external name, and for a variable update the index of the
/// variable argument whose buffer receives this result after the call (written in place).
/// </summary>
public sealed record ResultInfo(string? Name = null, int? Updates = null);

/// <summary>A function: typed arguments (the body's region arguments), one body region, and results.</summary>
public sealed class Function
{
    public string Name { get; }
    public Region Body { get; }
    public ImmutableArray<ArgumentInfo> ArgumentInfos { get; }
    public ImmutableArray<ResultInfo> ResultInfos { get; }
    public ImmutableArray<TensorType> ResultTypes { get; }
    public SourceLocation? Location { get; }

    public Function(string name, Region body, ImmutableArray<TensorType> resultTypes,
        ImmutableArray<ArgumentInfo> argumentInfos = default, ImmutableArray<ResultInfo> resultInfos = default,
        SourceLocation? location = null)
    {
        Name = name;
        Body = body;
        ResultTypes = resultTypes;
        ArgumentInfos = argumentInfos.IsDefault ? [.. body.Arguments.Select(_ => new ArgumentInfo())] : argumentInfos;
        ResultInfos = resultInfos.IsDefault ? [.. resultTypes.Select(_ => new ResultInfo())] : resultInfos;
        Location = location;
    }

    public ImmutableArray<Value> Arguments => Body.Arguments;
    public ImmutableArray<TensorType> ArgumentTypes => [.. Body.Arguments.Select(a => a.Type)];

    /// <summary>The external name of argument <paramref name="i"/>: its name, or <c>arg{i}</c>.</summary>
    public string ArgumentName(int i) => ArgumentInfos[i].Name ?? $"arg{i}";
    public string ResultName(int i) => ResultInfos[i].Name ?? $"result{i}";

    public Function WithBody(Region body) => ReferenceEquals(body, Body) ? this :
        new Function(Name, body, ResultTypes, ArgumentInfos, ResultInfos, Location);

    public override string ToString() => Text.Printer.Print(this);
}

/// <summary>A module: an ordered list of functions with unique names. The entry is <c>main</c>, else the first.</summary>
public sealed class Module(ImmutableArray<Function> functions)
{
    public ImmutableArray<Function> Functions { get; } = functions.IsDefault ? [] : functions;

    public Function? Find(string name) => Functions.FirstOrDefault(f => f.Name == name);

    public Function Entry => Find("main") ?? (Functions.Length > 0 ? Functions[0] : throw new InvalidOperationException("empty module"));

    public Module WithFunction(Function f)
    {
        var i = Functions.IndexOf(Functions.First(x => x.Name == f.Name));
        return ReferenceEquals(Functions[i], f) ? this : new Module(Functions.SetItem(i, f));
    }

    public override string ToString() => Text.Printer.Print(this);
}
