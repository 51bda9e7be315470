namespace GraphCompiler.Frontend.Onnx.Ops;

public static class OnnxResizeOps
{
    public static readonly IReadOnlyList<(string, OnnxLowering)> All = [];
}
