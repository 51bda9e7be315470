using GraphCompiler.Frontend.Proto.TensorFlow;
using GraphCompiler.IR;
using static GraphCompiler.Tests.Frontend.TfGraph;
using TfOpDef = GraphCompiler.Frontend.Proto.TensorFlow.OpDef;

namespace GraphCompiler.Tests.Frontend;

/// <summary>
/// TensorLists (resolved at import), SymbolicGradient (a GradientDef's function, or the IR autodiff against
/// finite differences of the imported forward function), BatchFunction (a call), a one-replica TPU cluster
/// and QuantizeAndDequantize (against TF's formula written out here in float arithmetic), all run on the
/// reference interpreter.
/// </summary>
public sealed class TfTensorListAndGradientTests
{
    private static AttrValue Types(params ElementType[] e) => new() { List = new AttrValue.Types.ListValue { Type = { e.Select(DType) } } };

    private static TfGraph Scalar(TfGraph g, string name, long v) => g.Const(name, T.I32([], v));

    private static TfGraph Vector(TfGraph g, string name, params long[] v) => g.Const(name, T.I32([v.Length], v));

    private static readonly (string, AttrValue) F32Items = ("element_dtype", Ty(ElementType.F32));

    /// <summary>A float32 list "l" of <paramref name="count"/> unset items of shape <paramref name="shape"/>, and the scalar "any_s" (-1: any shape).</summary>
    private static TfGraph Reserved(TfGraph g, long[] shape, long count)
    {
        Vector(g, "shape", shape);
        Scalar(g, "n_s", count);
        Scalar(g, "any_s", -1);
        return g.Node("l", "TensorListReserve", ["shape", "n_s"], F32Items, ("shape_type", Ty(ElementType.I32)));
    }

    private static string Problems(TfGraph g, params string[] fetches)
    {
        var r = g.Import(fetches);
        Assert.False(r.Ok);
        return string.Join("\n", r.Diagnostics.Select(d => d.Message));
    }

    // ---- TensorLists -------------------------------------------------------------------------------

    [Fact]
    public void ReserveSetItemStackFillsUnsetItemsWithZeros()
    {
        var x = T.F32([2], 1.5, -2);
        var g = new TfGraph().Placeholder("x", x).Const("c", T.F32([2], 7, 8));
        Scalar(g, "i0_s", 0);
        Scalar(g, "i2_s", 2);
        Scalar(g, "i1_s", 1);
        var f32 = F32Items;
        Reserved(g, [2], 3)
            .Node("l1", "TensorListSetItem", ["l", "i0_s", "x"], f32)
            .Node("l2", "TensorListSetItem", ["l1", "i2_s", "c"], f32)
            .Node("stack", "TensorListStack", ["l2", "any_s"], f32, ("num_elements", I(3)))
            .Node("len", "TensorListLength", ["l2"])
            .Node("get1", "TensorListGetItem", ["l2", "i1_s", "any_s"], f32)
            .Node("get0", "TensorListGetItem", ["l2", "i0_s", "any_s"], f32)
            .Node("eshape", "TensorListElementShape", ["l2"], ("shape_type", Ty(ElementType.I64)));
        var r = g.Run("stack", "len", "get1", "get0", "eshape");
        Close(T.F32([3, 2], 1.5, -2, 0, 0, 7, 8), r[0]);
        Assert.Equal(T.I32([], 3), r[1]);
        Close(T.F32([2], 0, 0), r[2]);
        Close(x, r[3]);
        Assert.Equal(T.I64([1], 2), r[4]);
    }

    [Fact]
    public void FromTensorPushPopGatherAndConcatFollowTheItems()
    {
        var x = T.F32([3, 2], 1, 2, 3, 4, 5, 6);
        var y = T.F32([2], -1, -2);
        var g = new TfGraph().Placeholder("x", x).Placeholder("y", y);
        Vector(g, "shape", -1);
        Scalar(g, "any_s", -1);
        Scalar(g, "i1_s", 1);
        Vector(g, "idx", 3, 0);
        g.Const("lead", T.I64([0]));
        var f32 = F32Items;
        var st = ("shape_type", Ty(ElementType.I32));
        g.Node("l", "TensorListFromTensor", ["x", "shape"], f32, st)
            .Node("pushed", "TensorListPushBack", ["l", "y"], f32)
            .Node("gathered", "TensorListGather", ["pushed", "idx", "any_s"], f32)
            .Node("popped", "TensorListPopBack", ["pushed", "any_s"], f32)
            .Node("rest", "TensorListStack", ["popped", "any_s"], f32)
            .Node("item1", "TensorListGetItem", ["popped", "i1_s", "any_s"], f32)
            .Node("cat", "TensorListConcatV2", ["pushed", "shape", "lead"], f32, st)
            .Node("len", "TensorListLength", ["popped"]);
        var r = g.Run("gathered", "popped:1", "rest", "item1", "cat", "cat:1", "len");
        Close(T.F32([2, 2], -1, -2, 1, 2), r[0]);
        Close(y, r[1]);
        Close(x, r[2]);
        Close(T.F32([2], 3, 4), r[3]);
        Close(T.F32([8], 1, 2, 3, 4, 5, 6, -1, -2), r[4]);
        Assert.Equal(T.I64([4], 2, 2, 2, 2), r[5]);
        Assert.Equal(T.I32([], 3), r[6]);
    }

    [Fact]
    public void EmptyListGrowsByPushBackAndAListIsNeverADefaultFetch()
    {
        var g = new TfGraph().Placeholder("a", T.F32([], 4)).Placeholder("b", T.F32([], 5));
        Scalar(g, "shape_s", -1);
        Scalar(g, "max_s", -1);
        var f32 = F32Items;
        g.Node("e", "EmptyTensorList", ["shape_s", "max_s"], f32, ("shape_type", Ty(ElementType.I32)))
            .Node("p1", "TensorListPushBack", ["e", "a"], f32)
            .Node("p2", "TensorListPushBack", ["p1", "b"], f32)
            .Node("unused", "TensorListPushBack", ["p1", "a"], f32)
            .Node("stack", "TensorListStack", ["p2", "shape_s"], f32);
        var m = TfImportDefault(g);
        Assert.Equal(["stack"], m.Functions[0].ResultInfos.Select(i => i.Name));
        Close(T.F32([2], 4, 5), new Interpreter(m).Run(null, [T.F32([], 4), T.F32([], 5)]).Unwrap().Results[0]);
        Assert.Contains("is a TensorList of 2", Problems(g, "p2"));
    }

    [Fact]
    public void ARuntimePositionIsOneClearErrorNamingTheNode()
    {
        var g = new TfGraph().Placeholder("x", T.F32([2], 1, 2)).Placeholder("i", T.I32([], 0));
        var f32 = F32Items;
        Reserved(g, [2], 3)
            .Node("set", "TensorListSetItem", ["l", "i", "x"], f32)
            .Node("stack", "TensorListStack", ["set", "any_s"], f32);
        var msg = Problems(g, "stack");
        Assert.Contains("node 'set' (TensorListSetItem): index (input #1) depends on runtime values", msg);
        Assert.DoesNotContain("'stack'", msg); // reported once, at the cause
    }

    [Fact]
    public void AnItemOfAnotherShapeOrAnOutOfRangeIndexIsAnError()
    {
        var g = new TfGraph().Const("x", T.F32([3], 1, 2, 3));
        Scalar(g, "i5_s", 5);
        var f32 = F32Items;
        Reserved(g, [2], 1)
            .Node("bad_shape", "TensorListPushBack", ["l", "x"], f32)
            .Node("bad_index", "TensorListGetItem", ["l", "i5_s", "shape"], f32);
        Assert.Contains("node 'bad_shape' (TensorListPushBack): element shapes [2] and [3] do not agree", Problems(g, "bad_shape"));
        Assert.Contains("node 'bad_index' (TensorListGetItem): index 5 is out of range for a list of 1", Problems(g, "bad_index"));
    }

    [Fact]
    public void AListFlowsThroughIdentityAndCallsButNotIntoTensorOpsOrWhileLoops()
    {
        var lib = new FunctionDefLibrary();
        var shapeConst = MakeNode("sh", "Const", [], ("dtype", Ty(ElementType.I32)), ("value", new AttrValue { Tensor = Proto(T.I32([], -1)) }));
        Fn(lib, "stack", ["list"], ["y"], [shapeConst, MakeNode("s", "TensorListStack", ["list", "sh:output:0"], ("element_dtype", Ty(ElementType.F64)))], ("y", "s:tensor:0"));
        Fn(lib, "cond", ["list"], ["c"], [MakeNode("t", "Const", [], ("dtype", Ty(ElementType.Bool)), ("value", new AttrValue { Tensor = Proto(T.Bool([], false)) }))], ("c", "t:output:0"));
        var x = T.F64([2, 2], 1, 2, 3, 4);
        var g = new TfGraph().Placeholder("x", x);
        g.Def.Library = lib;
        Vector(g, "shape", 2);
        g.Node("l", "TensorListFromTensor", ["x", "shape"], ("element_dtype", Ty(ElementType.F64)), ("shape_type", Ty(ElementType.I32)))
            .Node("id", "Identity", ["l"], ("T", Ty(DataType.DtVariant)))
            .Node("call", "PartitionedCall", ["id"], ("f", Func("stack")))
            .Node("neg", "Neg", ["id"])
            .Node("loop", "While", ["id"], ("cond", Func("cond")), ("body", Func("cond")));
        Close(x, g.Run1("call"));
        Assert.Contains("node 'neg' (Neg): input #0 is a TensorList of 2 (element_dtype DT_DOUBLE), not a tensor", Problems(g, "neg"));
        Assert.Contains("node 'loop' (While): a TensorList is carried through the loop", Problems(g, "loop"));
    }

    // ---- SymbolicGradient and BatchFunction -------------------------------------------------------------

    private static FunctionDef Fn(FunctionDefLibrary lib, string name, string[] ins, string[] outs, NodeDef[] nodes, params (string, string)[] rets)
    {
        var f = new FunctionDef { Signature = new TfOpDef { Name = name } };
        foreach (var i in ins) f.Signature.InputArg.Add(new TfOpDef.Types.ArgDef { Name = i, Type = DataType.DtDouble });
        foreach (var o in outs) f.Signature.OutputArg.Add(new TfOpDef.Types.ArgDef { Name = o, Type = DataType.DtDouble });
        f.NodeDef.AddRange(nodes);
        foreach (var (k, v) in rets) f.Ret[k] = v;
        lib.Function.Add(f);
        return f;
    }

    private static Module TfImportDefault(TfGraph g)
    {
        var r = g.Import();
        Assert.True(r.Ok, string.Join("\n", r.Diagnostics));
        return r.Value!;
    }

    [Fact]
    public void SymbolicGradientOfExpNegIsMinusExpNegTimesTheCotangent()
    {
        var lib = new FunctionDefLibrary();
        Fn(lib, "f", ["x"], ["y"], [MakeNode("n", "Neg", ["x"]), MakeNode("e", "Exp", ["n:y:0"])], ("y", "e:y:0"));
        var x = T.F64([3], -1, 0.5, 2);
        var dy = T.F64([3], 1, 2, -3);
        var g = new TfGraph().Placeholder("x", x).Placeholder("dy", dy);
        g.Def.Library = lib;
        g.Node("grad", "SymbolicGradient", ["x", "dy"], ("f", Func("f")), ("Tin", Types(ElementType.F64, ElementType.F64)), ("Tout", Types(ElementType.F64)));
        var expected = Enumerable.Range(0, 3).Select(i => -Math.Exp(-x.GetDouble(i)) * dy.GetDouble(i)).ToArray();
        Close(T.F64([3], expected), g.Run1("grad"), 1e-12);
    }

    [Fact]
    public void SymbolicGradientOfTwoOutputsMatchesFiniteDifferencesOfTheImportedFunction()
    {
        var lib = new FunctionDefLibrary();
        // f(a, b) = (a·b, tanh(a) + b·b)
        Fn(lib, "f", ["a", "b"], ["p", "q"],
            [MakeNode("m", "Mul", ["a", "b"]), MakeNode("t", "Tanh", ["a"]), MakeNode("bb", "Mul", ["b", "b"]), MakeNode("s", "AddV2", ["t:y:0", "bb:z:0"])],
            ("p", "m:z:0"), ("q", "s:z:0"));
        Tensor a = T.F64([2], 0.3, -1.2), b = T.F64([2], 2, 0.7), dp = T.F64([2], 1, -2), dq = T.F64([2], 0.5, 3);
        var g = new TfGraph().Placeholder("a", a).Placeholder("b", b).Placeholder("dp", dp).Placeholder("dq", dq);
        g.Def.Library = lib;
        g.Node("grad", "SymbolicGradient", ["a", "b", "dp", "dq"], ("f", Func("f")),
            ("Tin", Types(ElementType.F64, ElementType.F64, ElementType.F64, ElementType.F64)), ("Tout", Types(ElementType.F64, ElementType.F64)));
        var r = g.Run("grad:0", "grad:1");

        // L(a, b) = Σ p·dp + Σ q·dq, with f evaluated by calling the imported function; central differences.
        var fwd = new TfGraph().Placeholder("a", a).Placeholder("b", b);
        fwd.Def.Library = lib;
        fwd.Node("call", "PartitionedCall", ["a", "b"], ("f", Func("f")));
        var m = fwd.Import("call:0", "call:1").Unwrap();
        double Loss(Tensor av, Tensor bv)
        {
            var o = new Interpreter(m).Run(null, [av, bv]).Unwrap().Results;
            return Enumerable.Range(0, 2).Sum(i => o[0].GetDouble(i) * dp.GetDouble(i) + o[1].GetDouble(i) * dq.GetDouble(i));
        }
        const double h = 1e-6;
        Tensor Bump(Tensor t, int i, double d)
        {
            var v = Enumerable.Range(0, 2).Select(k => t.GetDouble(k) + (k == i ? d : 0)).ToArray();
            return T.F64([2], v);
        }
        for (int i = 0; i < 2; i++)
        {
            double da = (Loss(Bump(a, i, h), b) - Loss(Bump(a, i, -h), b)) / (2 * h);
            double db = (Loss(a, Bump(b, i, h)) - Loss(a, Bump(b, i, -h))) / (2 * h);
            Assert.True(Math.Abs(da - r[0].GetDouble(i)) < 1e-6, $"d/da[{i}]: finite differences {da}, SymbolicGradient {r[0].GetDouble(i)}");
            Assert.True(Math.Abs(db - r[1].GetDouble(i)) < 1e-6, $"d/db[{i}]: finite differences {db}, SymbolicGradient {r[1].GetDouble(i)}");
        }
    }

    [Fact]
    public void SymbolicGradientCallsTheGradientFunctionALibraryRegisters()
    {
        var lib = new FunctionDefLibrary();
        Fn(lib, "f", ["x"], ["y"], [MakeNode("e", "Exp", ["x"])], ("y", "e:y:0"));
        // A custom gradient (deliberately not the true one): TF calls it, so the import must too.
        Fn(lib, "f_grad", ["x", "dy"], ["dx"], [MakeNode("m", "Mul", ["x", "dy"])], ("dx", "m:z:0"));
        lib.Gradient.Add(new GradientDef { FunctionName = "f", GradientFunc = "f_grad" });
        var g = new TfGraph().Placeholder("x", T.F64([2], 3, 4)).Placeholder("dy", T.F64([2], 2, 0.5));
        g.Def.Library = lib;
        g.Node("grad", "SymbolicGradient", ["x", "dy"], ("f", Func("f")), ("Tin", Types(ElementType.F64, ElementType.F64)), ("Tout", Types(ElementType.F64)));
        Close(T.F64([2], 6, 2), g.Run1("grad"));
    }

    [Fact]
    public void BatchFunctionAndTensorRtEngineAreCallsOfTheirFunctions()
    {
        var lib = new FunctionDefLibrary();
        Fn(lib, "f", ["x", "cap"], ["y"], [MakeNode("m", "Mul", ["x", "x"]), MakeNode("s", "Sub", ["m:z:0", "cap"])], ("y", "s:z:0"));
        var g = new TfGraph().Placeholder("x", T.F64([3], 1, -2, 3)).Placeholder("c", T.F64([3], 0.5, 0.5, 1));
        g.Def.Library = lib;
        g.Node("b", "BatchFunction", ["x", "c"], ("f", Func("f")), ("Tin", Types(ElementType.F64)), ("Tcaptured", Types(ElementType.F64)),
            ("Tout", Types(ElementType.F64)), ("num_batch_threads", I(1)), ("max_batch_size", I(8)), ("batch_timeout_micros", I(10)));
        Close(T.F64([3], 0.5, 3.5, 8), g.Run1("b"));

        // A TensorRT engine is its native segment (what TF runs when the engine cannot).
        g.Node("trt", "TRTEngineOp", ["x", "c"], ("segment_func", Func("f")), ("precision_mode", S("FP32")));
        Close(T.F64([3], 0.5, 3.5, 8), g.Run1("trt"));

        // f's outputs are the node's: one that f does not return is a clear error where it is read.
        Assert.Contains("node 'b' (BatchFunction) has no output 1", Problems(g, "b:1"));
    }

    [Fact]
    public void AOneReplicaTpuClusterIsItsComputationAndSeveralReplicasAreRejected()
    {
        var g = new TfGraph().Placeholder("a", T.F32([2], 1, 2)).Placeholder("b", T.F32([2], 10, 20))
            .Node("in_a", "TPUReplicatedInput", ["a"], ("N", I(1)))
            .Node("in_b", "TPUReplicatedInput", ["b"], ("N", I(1)))
            .Node("meta", "TPUReplicateMetadata", [], ("num_replicas", I(1)))
            .Node("sum", "AddV2", ["in_a", "in_b", "^meta"])
            .Node("out", "TPUReplicatedOutput", ["sum"], ("num_replicas", I(1)))
            .Node("result", "Identity", ["out"])
            .Node("status", "TPUCompilationResult", ["^meta"])
            .Node("config", "ConfigureDistributedTPU", []);
        var m = TfImportDefault(g);
        Assert.Equal(["result"], m.Functions[0].ResultInfos.Select(i => i.Name));
        Close(T.F32([2], 11, 22), new Interpreter(m).Run(null, [T.F32([2], 1, 2), T.F32([2], 10, 20)]).Unwrap().Results[0]);

        g.Node("in_two", "TPUReplicatedInput", ["a", "b"], ("N", I(2)));
        Assert.Contains("TPUReplicatedInput (2 replicas", Problems(g, "in_two"));
    }

    // ---- QuantizeAndDequantize ---------------------------------------------------------------------

    /// <summary>TF's QuantizeAndDequantizeOneScale, written out in float as the kernel computes it.</summary>
    private static float[] Reference(float[] x, float min, float max, bool signed, int bits, bool narrow, bool rangeGiven, bool halfUp)
    {
        if (!rangeGiven) (min, max) = (x.Min(), x.Max());
        long qmin = signed ? (narrow ? -(1L << (bits - 1)) + 1 : -(1L << (bits - 1))) : 0;
        long qmax = signed ? (1L << (bits - 1)) - 1 : (1L << bits) - 1;
        float fromMin = qmin * min > 0 ? qmin / min : float.MaxValue;
        float fromMax = qmax * max > 0 ? qmax / max : float.MaxValue;
        float scale, inverse;
        if (fromMin < fromMax)
        {
            scale = fromMin;
            inverse = min / qmin;
            max = qmax * inverse;
        }
        else
        {
            scale = fromMax;
            inverse = max / qmax;
            min = qmin * inverse;
        }
        return [.. x.Select(v =>
        {
            if (rangeGiven) v = Math.Max(Math.Min(v, max), min);
            float s = v * scale;
            return (halfUp ? MathF.Floor(s + 0.5f) : MathF.Round(s, MidpointRounding.ToEven)) * inverse;
        })];
    }

    private static Tensor Qdq(string op, float[] x, float min, float max, params (string, AttrValue)[] attrs)
    {
        var g = new TfGraph().Placeholder("x", T.F32([x.Length], [.. x.Select(v => (double)v)])).Const("min", T.F32([], min)).Const("max", T.F32([], max));
        return g.Node("q", op, ["x", "min", "max"], attrs).Run1("q");
    }

    [Theory]
    [InlineData(true, 8, false, true, false, -128f, 127f)]  // scale 1: ties show the rounding; clamping
    [InlineData(true, 8, false, true, true, -128f, 127f)]   // HALF_UP
    [InlineData(true, 8, true, true, false, -1f, 1f)]       // narrow range
    [InlineData(true, 4, false, true, false, -0.3f, 2.5f)]  // the max side sets the scale, min moves
    [InlineData(true, 8, false, true, false, -3f, 0.2f)]    // the min side sets the scale, max moves
    [InlineData(false, 8, false, false, false, 0f, 0f)]     // range from the input, unsigned: negatives are not clamped
    [InlineData(true, 8, false, false, true, 0f, 0f)]       // range from the input, signed, HALF_UP
    public void QuantizeAndDequantizeV2FollowsTfsFormula(bool signed, int bits, bool narrow, bool rangeGiven, bool halfUp, float min, float max)
    {
        float[] x = [0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 200f, -300f, 0.1f, -0.7f, 1f / 3, 0f];
        var expected = Reference(x, min, max, signed, bits, narrow, rangeGiven, halfUp);
        var actual = Qdq("QuantizeAndDequantizeV2", x, min, max, ("signed_input", B(signed)), ("num_bits", I(bits)), ("narrow_range", B(narrow)),
            ("range_given", B(rangeGiven)), ("round_mode", S(halfUp ? "HALF_UP" : "HALF_TO_EVEN")), ("axis", I(-1)));
        Close(T.F32([x.Length], [.. expected.Select(v => (double)v)]), actual, 0);
    }

    [Fact]
    public void QuantizeAndDequantizeTiesAndPerChannelRanges()
    {
        // Scale 1 on [-128, 127]: half to even gives 0, 2, 2, -0, -2, -2; half up 1, 2, 3, 0, -1, -2; out of range clamps.
        float[] x = [0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 200f, -300f];
        Close(T.F32([8], 0, 2, 2, 0, -2, -2, 127, -128),
            Qdq("QuantizeAndDequantizeV2", x, -128, 127, ("range_given", B(true))), 0);
        Close(T.F32([8], 1, 2, 3, 0, -1, -2, 127, -128),
            Qdq("QuantizeAndDequantizeV4", x, -128, 127, ("range_given", B(true)), ("round_mode", S("HALF_UP"))), 0);

        // Per channel (axis 1): each column has its own range.
        var xs = T.F32([2, 2], 0.26, -0.9, -0.5, 3);
        var g = new TfGraph().Placeholder("x", xs).Const("min", T.F32([2], -1, -2)).Const("max", T.F32([2], 1, 2))
            .Const("bits", T.I32([], 3))
            .Node("q", "QuantizeAndDequantizeV3", ["x", "min", "max", "bits"], ("axis", I(1)), ("narrow_range", B(true)));
        float[] col0 = Reference([0.26f, -0.5f], -1, 1, true, 3, true, true, false), col1 = Reference([-0.9f, 3f], -2, 2, true, 3, true, true, false);
        Close(T.F32([2, 2], col0[0], col1[0], col0[1], col1[1]), g.Run1("q"), 0);
    }

    [Fact]
    public void QuantizeAndDequantizeRejectsAnInvertedRangeAndABadRoundMode()
    {
        var g = new TfGraph().Placeholder("x", T.F32([1], 0)).Const("min", T.F32([], 1)).Const("max", T.F32([], -1))
            .Node("q", "QuantizeAndDequantizeV2", ["x", "min", "max"], ("range_given", B(true)))
            .Node("r", "QuantizeAndDequantizeV2", ["x", "max", "min"], ("round_mode", S("UP")));
        Assert.Contains("node 'q' (QuantizeAndDequantizeV2): input_min 1 is greater than input_max -1", Problems(g, "q"));
        Assert.Contains("node 'r' (QuantizeAndDequantizeV2): round_mode 'UP'", Problems(g, "r"));
    }
}
