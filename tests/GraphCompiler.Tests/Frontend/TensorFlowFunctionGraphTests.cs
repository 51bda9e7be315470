using GraphCompiler.Frontend;
using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.Frontend.TensorFlow;
using GraphCompiler.IR;
using GraphCompiler.Passes;
using static GraphCompiler.Tests.Frontend.TfGraph;
using TfOpDef = GraphCompiler.Frontend.Proto.TensorFlow.OpDef;

namespace GraphCompiler.Tests.Frontend;

/// <summary>Function graphs (_Arg/_Retval), default-fetch pruning of the saver, FakeQuant and random ops.</summary>
public sealed class TensorFlowFunctionGraphTests
{
    private static AttrValue Shapes(params long[] dims) => new() { List = new AttrValue.Types.ListValue { Shape = { Shape(dims) } } };

    private static Result<Module> ImportDefault(TfGraph g) => TensorFlowImporter.Import(g.Def, new ImportOptions(), "<test>");

    [Fact]
    public void ArgsAndRetvalsAreArgumentsAndResultsInIndexOrder()
    {
        // Graph order differs from index order on purpose.
        var g = new TfGraph()
            .Node("b", "_Arg", [], ("T", Ty(ElementType.F32)), ("index", I(1)), ("_output_shapes", Shapes(2)))
            .Node("a", "_Arg", [], ("T", Ty(ElementType.F32)), ("index", I(0)), ("_output_shapes", Shapes(2)))
            .Node("d", "Sub", ["a", "b"]).Node("s", "Add", ["a", "b"])
            .Node("ret_d", "_Retval", ["d"], ("T", Ty(ElementType.F32)), ("index", I(1)))
            .Node("ret_s", "_Retval", ["s"], ("T", Ty(ElementType.F32)), ("index", I(0)));
        var r = ImportDefault(g);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        var f = r.Value!.Functions[0];
        Assert.Equal(["a", "b"], f.ArgumentInfos.Select(i => i.Name));
        Assert.Equal(["ret_s", "ret_d"], f.ResultInfos.Select(i => i.Name));
        var o = new Interpreter(r.Value!).Run(null, [T.F32([2], 1, 2), T.F32([2], 10, 20)]).Unwrap();
        Close(T.F32([2], 11, 22), o.Results[0]);
        Close(T.F32([2], -9, -18), o.Results[1]);
    }

    [Fact]
    public void ResourceArgIsAVariableOfItsHandleTypeAndUnknownOnesAreRejectedClearly()
    {
        var g = new TfGraph()
            .Node("v", "_Arg", [], ("T", Ty(DataType.DtResource)), ("index", I(0)),
                ("_handle_dtypes", new AttrValue { List = new AttrValue.Types.ListValue { Type = { DataType.DtFloat } } }), ("_handle_shapes", Shapes(2)))
            .Node("read", "ReadVariableOp", ["v"], ("dtype", Ty(ElementType.F32)))
            .Node("ret", "_Retval", ["read"], ("T", Ty(ElementType.F32)), ("index", I(0)));
        var r = ImportDefault(g);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        Assert.True(r.Value!.Functions[0].ArgumentInfos[0].IsVariable);
        Close(T.F32([2], 3, 4), new Interpreter(r.Value!).Run(null, [T.F32([2], 3, 4)]).Unwrap().Results[0]);

        var bad = new TfGraph().Node("v", "_Arg", [], ("T", Ty(DataType.DtResource)), ("index", I(0)))
            .Node("read", "ReadVariableOp", ["v"], ("dtype", Ty(ElementType.F32)))
            .Node("ret", "_Retval", ["read"], ("T", Ty(ElementType.F32)), ("index", I(0)));
        var e = ImportDefault(bad);
        Assert.False(e.Ok);
        Assert.Contains("resource argument 'v' is a variable of unknown dtype and shape", e.Diagnostics[0].Message);
    }

    [Fact]
    public void SaverSubgraphIsNotADefaultFetchAndInitialisationChecksAreTrue()
    {
        var str = new AttrValue { Tensor = new TensorProto { Dtype = DataType.DtString, TensorShape = new TensorShapeProto() } };
        var g = new TfGraph().Const("w", T.F32([2], 1, 2)).Node("y", "Identity", ["w"])
            .Node("v", "VarHandleOp", [], ("dtype", Ty(ElementType.F32)), ("shape", new AttrValue { Shape = Shape([1]) }))
            .Node("init", "VarIsInitializedOp", ["v"])
            .Node("save/Const", "Const", [], ("dtype", Ty(DataType.DtString)), ("value", str))
            .Node("save/names", "Const", [], ("dtype", Ty(DataType.DtString)), ("value", str))
            .Node("save/SaveV2", "SaveV2", ["save/Const", "save/names", "save/names", "w"])
            .Node("save/control_dependency", "Identity", ["save/Const", "^save/SaveV2"], ("T", Ty(DataType.DtString)));
        var r = ImportDefault(g);
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        Assert.Equal(["y", "init"], r.Value!.Functions[0].ResultInfos.Select(i => i.Name));
        var o = new Interpreter(r.Value!).Run(null, [T.F32([1], 0)]).Unwrap();
        Assert.Equal(T.Bool([], true), o.Results[1]);
    }

    private static Tensor FakeQuant(Tensor x, Tensor min, Tensor max, long bits = 8, bool narrow = false) =>
        new TfGraph().Placeholder("x", x).Const("min", min).Const("max", max)
            .Node("q", min.Type.Rank == 0 ? "FakeQuantWithMinMaxVars" : "FakeQuantWithMinMaxVarsPerChannel", ["x", "min", "max"],
                ("num_bits", I(bits)), ("narrow_range", B(narrow))).Run1("q");

    [Fact]
    public void FakeQuantMatchesTensorFlowsNudgedFormula()
    {
        // [-1, 1], 8 bits, in float as TF computes: scale = 2/255 rounds up, so the zero point from min,
        // 1/scale = 127.49999237 (not 127.5), rounds to 127: the nudged range is [-127, 128]·2/255, 0 exact.
        // 0.5 → (0.5 + 254/255)·127.5 + 0.5 = 191.25 → 191 levels → (191 − 127)·2/255.
        Close(T.F32([6], -254.0 / 255, 0, 128.0 / 255, 256.0 / 255, 0, -76.0 / 255),
            FakeQuant(T.F32([6], -2, 0, 0.5, 1, 0.003, -0.3), T.F32(-1), T.F32(1)), 1e-6);
        // [0, 3], 4 bits, narrow range: levels 1..15, scale 3/14; 1.0 → 14/3 + 0.5 → 5 levels → 15/14.
        Close(T.F32([3], 0, 15.0 / 14, 3), FakeQuant(T.F32([3], -1, 1, 4), T.F32(0), T.F32(3), bits: 4, narrow: true));
        // Per channel (last dim): channel 0 in [-1, 1], channel 1 in [0, 3] (scale 3/255).
        Close(T.F32([2, 2], 128.0 / 255, 1, -254.0 / 255, 2.8),
            FakeQuant(T.F32([2, 2], 0.5, 1.0, -2, 2.8), T.F32([2], -1, 0), T.F32([2], 1, 3)), 1e-5);
    }

    private static Tensor Random(string op, long n, long seed, long seed2) =>
        new TfGraph().Const("shape", T.I32([1], n))
            .Node("r", op, ["shape"], ("dtype", Ty(ElementType.F32)), ("seed", I(seed)), ("seed2", I(seed2))).Run1("r");

    private static (double Mean, double Var) Moments(Tensor t)
    {
        var v = Enumerable.Range(0, (int)t.ElementCount).Select(i => t.GetDouble(i)).ToArray();
        double m = v.Average();
        return (m, v.Select(x => (x - m) * (x - m)).Average());
    }

    [Fact]
    public void RandomOpsAreDeterministicAndHaveTheirDistributions()
    {
        var u = Random("RandomUniform", 4000, 7, 3);
        Assert.Equal(u, Random("RandomUniform", 4000, 7, 3));
        Assert.NotEqual(u, Random("RandomUniform", 4000, 7, 4));
        Assert.All(Enumerable.Range(0, 4000), i => Assert.InRange(u.GetDouble(i), 0.0, 0.99999999));
        // TF's grid, k·2^-23: 1 + u stays below 2 in f32, so dropout's floor(1 + u) is 1 (the IR's 2^-24 grid could give 2).
        Assert.All(Enumerable.Range(0, 4000), i => Assert.Equal(Math.Floor(u.GetDouble(i) * (1 << 23)), u.GetDouble(i) * (1 << 23)));
        Assert.All(Enumerable.Range(0, 4000), i => Assert.Equal(1f, MathF.Floor(1f + (float)u.GetDouble(i))));
        var (um, uv) = Moments(u);
        Assert.InRange(um, 0.47, 0.53); // 1/2, standard error 0.0046
        Assert.InRange(uv, 1 / 12.0 - 0.01, 1 / 12.0 + 0.01);

        var (nm, nv) = Moments(Random("RandomStandardNormal", 4000, 1, 2));
        Assert.InRange(nm, -0.07, 0.07);
        Assert.InRange(nv, 0.9, 1.1);

        // Normal truncated at ±2: variance 1 − 4φ(2)/(Φ(2) − Φ(−2)) = 1 − 4·0.05399/0.9545 ≈ 0.774.
        var t = Random("TruncatedNormal", 4000, 5, 0);
        Assert.All(Enumerable.Range(0, 4000), i => Assert.InRange(t.GetDouble(i), -2.0, 2.0));
        var (tm, tv) = Moments(t);
        Assert.InRange(tm, -0.06, 0.06);
        Assert.InRange(tv, 0.70, 0.85);
    }

    [Fact]
    public void SwitchNWithAKnownIndexTakesThatBranchAndClampsLikeTf()
    {
        Tensor Run(int index) => new TfGraph().Const("i", T.I32([], index)).Placeholder("x", T.F32([2], 1, 2))
            .Const("two", T.F32([], 2)).Const("ten", T.F32([], 10)).Const("hundred", T.F32([], 100))
            .Node("sw", "_SwitchN", ["x", "i"], ("num_outs", I(3)))
            .Node("b0", "Mul", ["sw", "two"]).Node("b1", "Mul", ["sw:1", "ten"]).Node("b2", "Mul", ["sw:2", "hundred"])
            .Node("m", "Merge", ["b0", "b1", "b2"], ("N", I(3))).Run1("m");
        Close(T.F32([2], 10, 20), Run(1));
        Close(T.F32([2], 2, 4), Run(0));
        Close(T.F32([2], 100, 200), Run(7)); // out of range: the last output, as TF's kernel does
    }

    [Fact]
    public void QuantizedConstIsItsStoredIntegersAndBatchNormWithGlobalNormalizationNormalizes()
    {
        var q = new TensorProto { Dtype = DataType.DtQuint8, TensorShape = Shape([2]) };
        q.IntVal.Add(7);
        q.IntVal.Add(250);
        var g = new TfGraph().Node("c", "Const", [], ("dtype", Ty(DataType.DtQuint8)), ("value", new AttrValue { Tensor = q }));
        Assert.Equal(T.U8([2], 7, 250), g.Run1("c"));

        // (t − m)/sqrt(v + ε)·γ + β with t = 5, m = 1, v = 3.999, ε = 0.001, γ = 2, β = 0.5 → 4/2·2 + 0.5 = 4.5.
        var bn = new TfGraph().Placeholder("t", T.F32([1, 1], 5)).Const("m", T.F32([1], 1)).Const("v", T.F32([1], 3.999))
            .Const("beta", T.F32([1], 0.5)).Const("gamma", T.F32([1], 2))
            .Node("y", "BatchNormWithGlobalNormalization", ["t", "m", "v", "beta", "gamma"],
                ("variance_epsilon", F(0.001f)), ("scale_after_normalization", B(true))).Run1("y");
        Close(T.F32([1, 1], 4.5), bn, 1e-5);
    }

    [Fact]
    public void GraphOfOnlyALibraryIsItsOneTensorComputingFunction()
    {
        // f(x) = x·2 (+ a dataset function with variant outputs, which computes no tensor); function-style tensor names.
        var f = new FunctionDef { Signature = new TfOpDef { Name = "times_two" }, Ret = { ["y"] = "mul:z:0" } };
        f.Signature.InputArg.Add(new TfOpDef.Types.ArgDef { Name = "x", Type = DataType.DtFloat });
        f.Signature.OutputArg.Add(new TfOpDef.Types.ArgDef { Name = "y", Type = DataType.DtFloat });
        f.ArgAttr[0] = new FunctionDef.Types.ArgAttrs { Attr = { ["_output_shapes"] = Shapes(2) } };
        f.NodeDef.Add(MakeNode("two", "Const", [], ("dtype", Ty(ElementType.F32)), ("value", new AttrValue { Tensor = Proto(T.F32([], 2)) })));
        f.NodeDef.Add(MakeNode("mul", "Mul", ["x", "two:output:0"], ("T", Ty(ElementType.F32))));
        var dataset = new FunctionDef { Signature = new TfOpDef { Name = "ds" }, Ret = { ["z"] = "v" } };
        dataset.Signature.InputArg.Add(new TfOpDef.Types.ArgDef { Name = "v", Type = DataType.DtVariant });
        dataset.Signature.OutputArg.Add(new TfOpDef.Types.ArgDef { Name = "z", Type = DataType.DtVariant });
        var g = new GraphDef { Library = new FunctionDefLibrary { Function = { dataset, f } } };
        var r = TensorFlowImporter.Import(g, new ImportOptions(), "<test>");
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        var fn = r.Value!.Functions[0];
        Assert.Equal(["x"], fn.ArgumentInfos.Select(i => i.Name));
        Assert.Equal(["y"], fn.ResultInfos.Select(i => i.Name));
        Close(T.F32([2], 6, -2), new Interpreter(r.Value!).Run(null, [T.F32([2], 3, -1)]).Unwrap().Results[0]);

        // Two tensor-computing functions: which one is meant is not known, so nothing is fetched (the usual error).
        var two = new GraphDef { Library = new FunctionDefLibrary { Function = { f, f.Clone() } } };
        two.Library.Function[1].Signature.Name = "other";
        var e = TensorFlowImporter.Import(two, new ImportOptions(), "<test>");
        Assert.False(e.Ok);
        Assert.Contains("only a function library (times_two, other)", e.Diagnostics[0].Message);
    }

    [Fact]
    public void SplatConstantTooBigToHoldIsABroadcastThatASliceNeedsNoneOf()
    {
        // 2⁴⁰ bytes given by one value (none: zeros); a slice of it compiles to a small broadcast.
        foreach (var values in new[] { 0, 1 })
        {
            var c = new TensorProto { Dtype = DataType.DtUint8, TensorShape = Shape([1024, 1024, 1024, 1024]) };
            if (values == 1) c.IntVal.Add(7);
            var g = new TfGraph().Node("c", "Const", [], ("dtype", Ty(DataType.DtUint8)), ("value", new AttrValue { Tensor = c }))
                .Const("begin", T.I32([4], 0, 5, 0, 0)).Const("size", T.I32([4], 1, 1, 1, 2)).Node("s", "Slice", ["c", "begin", "size"]);
            var m = g.Import("s").Unwrap();
            var optimized = PassManager.Run(m, PassRegistry.Default).Unwrap();
            Assert.Equal(T.U8([1, 1, 1, 2], values * 7, values * 7), new Interpreter(optimized).Run(null, []).Unwrap().Results[0]);
        }
    }
}
