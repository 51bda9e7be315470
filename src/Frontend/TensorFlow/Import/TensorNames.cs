namespace GraphCompiler.Frontend.TensorFlow.Import;

/// <summary>A graph tensor: output <see cref="Port"/> of node <see cref="Node"/> (TF's <c>node:port</c>).</summary>
public readonly record struct TensorName(string Node, int Port)
{
    public override string ToString() => $"{Node}:{Port}";

    /// <summary>Parses <c>node</c>, <c>node:port</c> (a leading <c>^</c> is not a tensor and is rejected).</summary>
    public static bool TryParse(string s, out TensorName name)
    {
        name = default;
        if (s.Length == 0 || s[0] == '^') return false;
        int colon = s.LastIndexOf(':');
        if (colon > 0 && int.TryParse(s.AsSpan(colon + 1), System.Globalization.NumberStyles.None, null, out int port))
        {
            name = new TensorName(s[..colon], port);
            return true;
        }
        name = new TensorName(s, 0);
        return true;
    }

    public static TensorName Parse(string s) =>
        TryParse(s, out var n) ? n : throw new FormatException($"'{s}' is not a tensor name (node or node:port)");

    public static bool IsControl(string input) => input.StartsWith('^');
}

/// <summary>
/// FunctionDef bodies name tensors <c>node:output_arg:index</c>; GraphDefs use a flat port. This maps
/// between them through each op's output argument list, for the ops whose outputs are more than one
/// argument (every other op has one output argument, possibly a list, so the index is the port).
/// </summary>
public static class OutputArgs
{
    private static readonly Dictionary<string, string[]> MultiArg = new(StringComparer.Ordinal)
    {
        ["TopKV2"] = ["values", "indices"],
        ["TopK"] = ["values", "indices"],
        ["FusedBatchNorm"] = ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"],
        ["FusedBatchNormV2"] = ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"],
        ["FusedBatchNormV3"] = ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3"],
        ["SoftmaxCrossEntropyWithLogits"] = ["loss", "backprop"],
        ["SparseSoftmaxCrossEntropyWithLogits"] = ["loss", "backprop"],
        ["BroadcastGradientArgs"] = ["r0", "r1"],
        ["Switch"] = ["output_false", "output_true"],
        ["RefSwitch"] = ["output_false", "output_true"],
        ["Merge"] = ["output", "value_index"],
        ["RefMerge"] = ["output", "value_index"],
        ["Unique"] = ["y", "idx"],
        ["MaxPoolWithArgmax"] = ["output", "argmax"],
        ["TensorListPopBack"] = ["output_handle", "tensor"],
        ["TensorListConcatV2"] = ["tensor", "lengths"],
    };

    /// <summary>
    /// The flat port of <c>output_arg:index</c> of an op, or null when the op's outputs are not known
    /// here. <paramref name="functionOutputs"/> gives a library function's output arg names.
    /// </summary>
    public static int? FlatPort(string op, string arg, int index, IReadOnlyList<string>? functionOutputs)
    {
        var args = functionOutputs ?? (MultiArg.TryGetValue(op, out var a) ? a : null);
        if (args is null) return index;
        int i = Array.IndexOf([.. args], arg);
        return i < 0 ? null : i + index;
    }
}
