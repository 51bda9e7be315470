using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Proto.TensorFlow;

namespace GraphCompiler.Frontend.TensorFlow.Import;

/// <summary>
/// A FunctionDef rewritten into GraphDef naming: inputs <c>node:output_arg:index</c> become
/// <c>node:port</c>, an argument is the tensor <c>arg:0</c>, and the results are tensor names in the
/// order of the signature's output args.
/// </summary>
internal sealed class TfFunctionBody
{
    public required string Name { get; init; }
    public required IReadOnlyList<string> ArgNames { get; init; }
    public required IReadOnlyList<DataType> ArgTypes { get; init; }
    public required IReadOnlyList<string> OutputNames { get; init; }
    public required IReadOnlyList<NodeDef> Nodes { get; init; }
    public required IReadOnlyList<TensorName> Results { get; init; }

    public static TfFunctionBody From(FunctionDef f, TfImportContext ctx)
    {
        var sig = f.Signature ?? throw new LoweringException("function has no signature");
        var byName = f.NodeDef.ToDictionary(n => n.Name, StringComparer.Ordinal);
        string Rename(string input)
        {
            if (TensorName.IsControl(input)) return input;
            var parts = input.Split(':');
            if (parts.Length == 1) return input; // a function argument, or output 0 of a node
            if (parts.Length == 2 && int.TryParse(parts[1], out _)) return input;
            int idx = 0;
            if (parts.Length > 2 && !int.TryParse(parts[2], out idx)) throw new LoweringException($"function '{sig.Name}': bad input '{input}'");
            if (!byName.TryGetValue(parts[0], out var producer)) throw new LoweringException($"function '{sig.Name}': input '{input}' names no node");
            var callee = ctx.Function(producer.Op)?.Signature;
            var port = OutputArgs.FlatPort(producer.Op, parts[1], idx, callee?.OutputArg.Select(a => a.Name).ToList())
                ?? throw new LoweringException($"function '{sig.Name}': op {producer.Op} has no output arg '{parts[1]}' known here");
            return $"{parts[0]}:{port}";
        }
        var nodes = new List<NodeDef>();
        foreach (var n in f.NodeDef)
        {
            var copy = n.Clone();
            copy.Input.Clear();
            copy.Input.AddRange(n.Input.Select(Rename));
            nodes.Add(copy);
        }
        var results = new List<TensorName>();
        foreach (var o in sig.OutputArg)
        {
            if (!f.Ret.TryGetValue(o.Name, out var r)) throw new LoweringException($"function '{sig.Name}' does not return its output '{o.Name}'");
            results.Add(TensorName.Parse(Rename(r)));
        }
        return new TfFunctionBody
        {
            Name = sig.Name,
            ArgNames = [.. sig.InputArg.Select(a => a.Name)],
            ArgTypes = [.. sig.InputArg.Select(a => a.Type)],
            OutputNames = [.. sig.OutputArg.Select(a => a.Name)],
            Nodes = nodes,
            Results = results,
        };
    }

    /// <summary>
    /// The function a GraphDef with no nodes stands for: the only one in its library that computes tensors
    /// (outputs, all of tensor types: not variants, resources or strings); null when there is none or more than one.
    /// </summary>
    public static FunctionDef? TheFunction(GraphDef graph)
    {
        if (graph.Node.Count > 0 || graph.Library is not { } lib) return null;
        static bool Tensor(DataType t) => Tensors.FrameworkElementTypes.TryFromTensorFlow(t, out _, out _);
        var computing = lib.Function.Where(f => f.Signature is { OutputArg.Count: > 0 } sig
            && sig.OutputArg.All(a => Tensor(a.Type)) && sig.InputArg.All(a => a.Type != DataType.DtInvalid)).ToList();
        return computing.Count == 1 ? computing[0] : null;
    }

    /// <summary>
    /// The graph-as-function form of <paramref name="f"/> (what TF places it as): its nodes, an <c>_Arg</c> per
    /// input (with the input's attrs, e.g. <c>_output_shapes</c>) and a <c>_Retval</c> per output, named after it.
    /// </summary>
    public static GraphDef AsGraph(GraphDef graph, FunctionDef f, ImportProblems problems)
    {
        var body = From(f, new TfImportContext(problems, graph.Library));
        var g = new GraphDef { Library = graph.Library, Versions = graph.Versions };
        for (int i = 0; i < body.ArgNames.Count; i++)
        {
            var arg = new NodeDef { Name = body.ArgNames[i], Op = "_Arg" };
            if (f.ArgAttr.TryGetValue((uint)i, out var attrs)) arg.Attr.Add(attrs.Attr);
            arg.Attr["T"] = new AttrValue { Type = body.ArgTypes[i] };
            arg.Attr["index"] = new AttrValue { I = i };
            g.Node.Add(arg);
        }
        g.Node.AddRange(body.Nodes);
        var names = g.Node.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        for (int i = 0; i < body.Results.Count; i++)
        {
            var name = body.OutputNames[i];
            while (!names.Add(name)) name += "_retval";
            var ret = new NodeDef { Name = name, Op = "_Retval", Input = { body.Results[i].ToString() } };
            ret.Attr["T"] = new AttrValue { Type = f.Signature.OutputArg[i].Type };
            ret.Attr["index"] = new AttrValue { I = i };
            g.Node.Add(ret);
        }
        return g;
    }
}
