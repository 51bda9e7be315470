using System.Collections.Frozen;
using GraphCompiler.Frontend.TensorFlow.Import;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>Lowers one TF node: reads its inputs and attributes, emits core ops, sets its outputs.</summary>
public delegate void TfLowering(TfNode node);

/// <summary>Every TensorFlow op type the importer takes, gathered from the lowering families in <c>TensorFlow/Ops/</c>.</summary>
public static class TfOpTable
{
    private static readonly FrozenDictionary<string, TfLowering> Table = Build();

    private static FrozenDictionary<string, TfLowering> Build()
    {
        IEnumerable<(string, TfLowering)> all =
        [
            .. TfElementwiseOps.All, .. TfArrayOps.All, .. TfSliceOps.All, .. TfReductionOps.All, .. TfNnOps.All,
            .. TfMiscOps.All, .. TfVariableOps.All, .. TfFunctionalOps.All, .. TfControlFlowV1.All, .. TfTrainingOps.All,
            .. TfQuantOps.All, .. TfRandomOps.All, .. TfTensorListOps.All, .. TfTpuOps.All,
        ];
        var d = new Dictionary<string, TfLowering>(StringComparer.Ordinal);
        foreach (var (name, lowering) in all)
            if (!d.TryAdd(name, lowering)) throw new InvalidOperationException($"TensorFlow op {name} is lowered twice");
        return d.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public static TfLowering? Find(string opType) => Table.GetValueOrDefault(opType);

    public static IEnumerable<string> OpTypes => Table.Keys.Order(StringComparer.Ordinal);
}
