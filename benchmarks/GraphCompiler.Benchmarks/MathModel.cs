using Google.Protobuf;
using GraphCompiler.Frontend.Proto.Onnx;
using static GraphCompiler.Tests.OnnxBuilder;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// The transcendental workload (<c>benchmarks/models/math_chain_4M.onnx</c>): over 4 M floats,
/// <c>gelu(x) + log(|x| + 1)·sin(x) + atan(x)·cos(x)</c>, with GELU in its exact form
/// (<c>x/2·(1 + erf(x/√2))</c>), so that erf, log, sin, cos and atan each run once per element: the
/// functions GraphCompiler writes as inline code (docs/cpu-backend.md) against ORT's vectorised ones.
/// </summary>
public static class MathModel
{
    public const string FileName = "math_chain_4M.onnx";
    private const long Elements = 4L << 20;

    public static byte[] Build()
    {
        var g = new GraphProto { Name = "math_chain_4M" };
        g.Input.Add(ValueInfo("x", Elements));
        g.Output.Add(ValueInfo("y", Elements));
        g.Initializer.Add(Floats("half", [], [0.5f]));
        g.Initializer.Add(Floats("one", [], [1f]));
        g.Initializer.Add(Floats("sqrt2", [], [MathF.Sqrt(2)]));
        void N(string op, string output, params string[] inputs) => g.Node.Add(Node(op, output, inputs, [output]));
        N("Div", "scaled", "x", "sqrt2");
        N("Erf", "erf", "scaled");
        N("Add", "erf1", "erf", "one");
        N("Mul", "xh", "x", "half");
        N("Mul", "gelu", "xh", "erf1");
        N("Abs", "ax", "x");
        N("Add", "ax1", "ax", "one");
        N("Log", "log", "ax1");
        N("Sin", "sin", "x");
        N("Mul", "ls", "log", "sin");
        N("Atan", "atan", "x");
        N("Cos", "cos", "x");
        N("Mul", "ac", "atan", "cos");
        N("Add", "s1", "gelu", "ls");
        N("Add", "y", "s1", "ac");
        var m = new ModelProto { IrVersion = 8, ProducerName = "GraphCompiler benchmarks", Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return m.ToByteArray();
    }

    /// <summary>Writes the model under benchmarks/models; returns its path.</summary>
    public static string Write() => Repo.WriteBenchmarkModel(FileName, Build());
}
