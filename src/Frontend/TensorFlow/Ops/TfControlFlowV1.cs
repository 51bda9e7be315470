using GraphCompiler.Frontend.TensorFlow.Import;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>TF1 control flow (Switch/Merge conditionals; loop frames are lowered by the scope).</summary>
public static class TfControlFlowV1
{
    public static IEnumerable<(string, TfLowering)> All => [];
}
