using System.Collections.Immutable;
using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.Proto.Onnx;
using GraphCompiler.Frontend.Tensors;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Onnx;

/// <summary>
/// Imports an ONNX ModelProto into one IR function: graph inputs (not initializers) become arguments,
/// initializers become constants, nodes are lowered to core ops by <see cref="OnnxOpTable"/>, graph
/// outputs become results. Everything it cannot take is reported together, and then nothing is returned.
/// </summary>
public static class OnnxImporter
{
    /// <summary>The highest default-domain opset whose semantics the lowerings follow.</summary>
    public const long MaxOpset = 18;

    public static Result<Module> Import(string path, ImportOptions? options = null)
    {
        var model = OnnxFiles.ReadModel(path);
        if (model.Value is null) return Result<Module>.Failure(model.Diagnostics);
        return Import(model.Value, Path.GetDirectoryName(Path.GetFullPath(path)), options ?? new ImportOptions(), path);
    }

    public static Result<Module> Import(ModelProto model, string? modelDirectory, ImportOptions options, string source = "<model>")
    {
        var problems = new ImportProblems(source);
        var opsets = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var o in model.OpsetImport) opsets[o.Domain is "ai.onnx" ? "" : o.Domain] = o.Version;
        if (opsets.GetValueOrDefault("", 0) > MaxOpset)
            problems.Error($"opset {opsets[""]} is newer than the supported {MaxOpset}");
        if (model.Graph is null) return Result<Module>.Failure(new Diagnostic($"{source}: the model has no graph"));
        var g = model.Graph;
        var ctx = new OnnxImportContext(problems, modelDirectory, opsets, options.FunctionName);

        var initializers = g.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var feeds = options.Feeds.ToDictionary(f => f.Name, StringComparer.Ordinal);
        foreach (var f in feeds.Keys.Concat(options.ConstantInputs.Keys))
            if (!g.Input.Any(i => i.Name == f)) problems.Error($"feed '{f}' is not an input of the graph (inputs: {string.Join(", ", g.Input.Where(i => !initializers.Contains(i.Name)).Select(i => i.Name))})");

        var fb = new FunctionBuilder(options.FunctionName, ctx.FindFunction);
        var scope = new OnnxScope(new Lowerer(fb.Body), ctx);
        // Inputs that are also initializers are defaults (old IR versions): fed only when the caller asks.
        var fedInitializers = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in g.Input)
        {
            if (initializers.Contains(input.Name) && !feeds.ContainsKey(input.Name)) continue;
            if (initializers.Contains(input.Name)) fedInitializers.Add(input.Name);
            if (options.ConstantInputs.TryGetValue(input.Name, out var bound))
            {
                // Checked against the declared type like a feed, then a constant.
                if (InputType(input, bound.Type, problems) is not null) scope.Define(input.Name, scope.Lowerer.Constant(bound));
                continue;
            }
            var type = InputType(input, feeds.GetValueOrDefault(input.Name)?.Type, problems);
            if (type is null) continue;
            scope.DefineGraphInput(input.Name, fb.Arg(type, input.Name));
        }
        if (problems.Any) return Result<Module>.Failure(problems.ToDiagnostics());

        scope.BindInitializers(g, fedInitializers);
        scope.LowerNodes(g);

        var fetches = options.Fetches.Count > 0 ? options.Fetches : [.. g.Output.Select(o => o.Name)];
        var results = new List<Value>();
        foreach (var name in fetches)
        {
            try
            {
                results.Add(scope.Lookup(name));
            }
            catch (PoisonedInputException)
            {
            }
            catch (LoweringException e)
            {
                problems.Error($"output '{name}': {e.Message}");
            }
        }
        if (problems.Any) return Result<Module>.Failure(problems.ToDiagnostics());
        var function = fb.Return(results, [.. fetches.Select(n => new ResultInfo(n))]);
        // The entry first; then what Gradient nodes differentiate.
        return Result<Module>.Success(new Module([function, .. ctx.Functions]));
    }

    /// <summary>The input's type from the model, with unknown dimensions taken from the feed's type.</summary>
    private static TensorType? InputType(ValueInfoProto input, TensorType? fed, ImportProblems problems)
    {
        var tt = input.Type?.TensorType;
        if (tt is null)
        {
            var kind = input.Type?.ValueCase.ToString().Replace("Type", "").ToLowerInvariant() ?? "untyped";
            problems.Unsupported($"input type {kind}", input.Name);
            return null;
        }
        if (!FrameworkElementTypes.TryFromOnnx(tt.ElemType, out var element, out _))
        {
            problems.Unsupported($"element type {FrameworkElementTypes.OnnxName(tt.ElemType)}", input.Name);
            return null;
        }
        if (fed is not null)
        {
            if (fed.Element != element) problems.Error($"input '{input.Name}' is {element.Name()}, the feed says {fed.Element.Name()}");
            else if (tt.Shape is not null && (tt.Shape.Dim.Count != fed.Rank ||
                     tt.Shape.Dim.Select((d, i) => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue != fed.Shape[i]).Any(b => b)))
                problems.Error($"input '{input.Name}' has shape {Describe(tt.Shape)}, the feed says {fed.ShapeString}");
            return fed;
        }
        if (tt.Shape is null)
        {
            problems.Error($"input '{input.Name}' has no shape; give it with a feed (e.g. {input.Name}:f32[1,3,224,224])");
            return null;
        }
        var dims = new List<long>();
        foreach (var d in tt.Shape.Dim)
        {
            if (d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || d.DimValue < 0)
            {
                problems.Error($"input '{input.Name}' has an unknown dimension{(d.DimParam.Length > 0 ? $" '{d.DimParam}'" : "")} in {Describe(tt.Shape)}; give its shape with a feed");
                return null;
            }
            dims.Add(d.DimValue);
        }
        var type = TensorProtoConverter.CheckedType(element, [.. dims], $"input '{input.Name}'");
        if (type.Value is null) problems.Error(type.Diagnostics[0].Message);
        return type.Value;
    }

    private static string Describe(TensorShapeProto s) =>
        "[" + string.Join(", ", s.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue.ToString() : d.DimParam.Length > 0 ? d.DimParam : "?")) + "]";
}
