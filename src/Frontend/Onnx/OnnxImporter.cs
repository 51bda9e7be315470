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
            if (!g.Input.Any(i => i.Name == f || (i.Name == OnnxTypes.BaseName(f) && OnnxTypes.IsSequence(i.Type)))) problems.Error($"feed '{f}' is not an input of the graph (inputs: {string.Join(", ", g.Input.Where(i => !initializers.Contains(i.Name)).Select(i => i.Name))})");

        var fb = new FunctionBuilder(options.FunctionName, ctx.FindFunction);
        var scope = new OnnxScope(new Lowerer(fb.Body), ctx);
        // Inputs that are also initializers are defaults (old IR versions): fed only when the caller asks.
        var fedInitializers = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in g.Input)
        {
            if (initializers.Contains(input.Name) && !feeds.ContainsKey(input.Name)) continue;
            if (initializers.Contains(input.Name)) fedInitializers.Add(input.Name);
            if (input.Type?.ValueCase is not (null or TypeProto.ValueOneofCase.TensorType))
            {
                DefineStructuredInput(input, feeds, options, fb, scope, problems);
                continue;
            }
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
        var resultNames = new List<string>();
        foreach (var name in fetches)
        {
            try
            {
                // A sequence gives one result per element (name[k]); an absent optional gives none.
                var value = scope.LookupAny(name);
                results.AddRange(value.Flatten());
                resultNames.AddRange(value.FlatNames(name));
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
        var function = fb.Return(results, [.. resultNames.Select(n => new ResultInfo(n))]);
        // The entry first; then what Gradient nodes differentiate.
        return Result<Module>.Success(new Module([function, .. ctx.Functions]));
    }

    /// <summary>
    /// A sequence or optional input, decided by the feeds: sequence element k is the argument fed as <c>name[k]</c>
    /// (the feeds give the length); an optional is present when fed (<c>name</c>, or <c>name[k]</c> when it holds
    /// a sequence) and absent when not.
    /// </summary>
    private static void DefineStructuredInput(ValueInfoProto input, Dictionary<string, FeedSpec> feeds, ImportOptions options,
        FunctionBuilder fb, OnnxScope scope, ImportProblems problems)
    {
        var name = input.Name;
        if (!OnnxTypes.IsTaken(input.Type))
        {
            problems.Unsupported($"input type {Kind(input.Type)}", name);
            return;
        }
        if (options.ConstantInputs.ContainsKey(name))
        {
            problems.Error($"input '{name}' is a {Kind(input.Type)}; only tensor inputs can be bound to constants");
            return;
        }
        var inner = OnnxTypes.InnerTensor(input.Type)!;
        bool optional = OnnxTypes.IsOptional(input.Type);
        Value? Arg(string argName, FeedSpec? feed)
        {
            var t = InputType(argName, inner, feed?.Type, problems);
            if (t is null) return null;
            var arg = fb.Arg(t, argName);
            scope.NameGraphInput(argName, arg);
            return arg;
        }
        OnnxValue? value = null;
        if (OnnxTypes.IsSequence(input.Type))
        {
            var elements = new List<Value>();
            for (int k = 0; feeds.TryGetValue(OnnxValue.ElementName(name, k), out var feed); k++)
            {
                if (Arg(OnnxValue.ElementName(name, k), feed) is not { } arg) return;
                elements.Add(arg);
            }
            if (elements.Count == 0 && !optional)
            {
                problems.Error($"input '{name}' is a sequence: feed its elements as '{name}[0]', '{name}[1]', ... (its length must be known at compile time)");
                return;
            }
            if (elements.Count > 0) value = new OnnxValue.OfSequence([.. elements]);
        }
        else if (feeds.TryGetValue(name, out var feed))
        {
            if (Arg(name, feed) is not { } arg) return;
            value = new OnnxValue.OfTensor(arg);
        }
        scope.DefineAny(name, optional ? new OnnxValue.OfOptional(value) : value!);
    }

    private static string Kind(TypeProto? t) => t?.ValueCase.ToString().Replace("Type", "").ToLowerInvariant() ?? "untyped";

    /// <summary>The input's type from the model, with unknown dimensions taken from the feed's type.</summary>
    private static TensorType? InputType(ValueInfoProto input, TensorType? fed, ImportProblems problems)
    {
        if (input.Type?.TensorType is { } tt) return InputType(input.Name, tt, fed, problems);
        problems.Unsupported($"input type {Kind(input.Type)}", input.Name);
        return null;
    }

    /// <summary>A tensor input's (or sequence element's) type from the model, unknown dimensions taken from the feed's type.</summary>
    private static TensorType? InputType(string name, TypeProto.Types.Tensor tt, TensorType? fed, ImportProblems problems)
    {
        if (!FrameworkElementTypes.TryFromOnnx(tt.ElemType, out var element, out _))
        {
            problems.Unsupported($"element type {FrameworkElementTypes.OnnxName(tt.ElemType)}", name);
            return null;
        }
        if (fed is not null)
        {
            if (fed.Element != element) problems.Error($"input '{name}' is {element.Name()}, the feed says {fed.Element.Name()}");
            else if (tt.Shape is not null && (tt.Shape.Dim.Count != fed.Rank ||
                     tt.Shape.Dim.Select((d, i) => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue != fed.Shape[i]).Any(b => b)))
                problems.Error($"input '{name}' has shape {Describe(tt.Shape)}, the feed says {fed.ShapeString}");
            return fed;
        }
        if (tt.Shape is null)
        {
            problems.Error($"input '{name}' has no shape; give it with a feed (e.g. {name}:f32[1,3,224,224])");
            return null;
        }
        var dims = new List<long>();
        foreach (var d in tt.Shape.Dim)
        {
            if (d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || d.DimValue < 0)
            {
                problems.Error($"input '{name}' has an unknown dimension{(d.DimParam.Length > 0 ? $" '{d.DimParam}'" : "")} in {Describe(tt.Shape)}; give its shape with a feed");
                return null;
            }
            dims.Add(d.DimValue);
        }
        var type = TensorProtoConverter.CheckedType(element, [.. dims], $"input '{name}'");
        if (type.Value is null) problems.Error(type.Diagnostics[0].Message);
        return type.Value;
    }

    private static string Describe(TensorShapeProto s) =>
        "[" + string.Join(", ", s.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue.ToString() : d.DimParam.Length > 0 ? d.DimParam : "?")) + "]";
}
