using System.Collections.Frozen;

namespace GraphCompiler.Frontend.Onnx;

/// <summary>Lowers one ONNX node: reads its inputs and attributes, emits core ops, sets its outputs.</summary>
public delegate void OnnxLowering(OnnxNode node);

/// <summary>Every ONNX op type the importer takes, gathered from the lowering families in <c>Onnx/Ops/</c>.</summary>
public static class OnnxOpTable
{
    private static readonly FrozenDictionary<string, OnnxLowering> Table = Build();

    private static FrozenDictionary<string, OnnxLowering> Build()
    {
        IEnumerable<(string, OnnxLowering)> all =
        [
            .. Ops.OnnxElementwiseOps.All,
            .. Ops.OnnxShapeOps.All,
            .. Ops.OnnxIndexingOps.All,
            .. Ops.OnnxGeneratorOps.All,
            .. Ops.OnnxResizeOps.All,
            .. Ops.OnnxReductionOps.All,
            .. Ops.OnnxMatMulOps.All,
            .. Ops.OnnxConvOps.All,
            .. Ops.OnnxLossOps.All,
            .. Ops.OnnxNormalizationOps.All,
            .. Ops.OnnxPoolingOps.All,
            .. Ops.OnnxRecurrentOps.All,
            .. Ops.OnnxQuantizationOps.All,
            .. Ops.OnnxControlFlowOps.All,
            .. Ops.OnnxTrainingOps.All,
            .. Ops.OnnxSignalOps.All,
            .. Ops.OnnxImageOps.All,
            .. Ops.OnnxTextOps.All,
            .. Ops.OnnxSequenceOps.All,
        ];
        var d = new Dictionary<string, OnnxLowering>(StringComparer.Ordinal);
        foreach (var (name, lowering) in all)
            if (!d.TryAdd(name, lowering)) throw new InvalidOperationException($"ONNX op {name} is lowered twice");
        return d.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public static OnnxLowering? Find(string opType) => Table.GetValueOrDefault(opType);

    public static IEnumerable<string> OpTypes => Table.Keys.Order(StringComparer.Ordinal);
}
