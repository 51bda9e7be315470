using System.Collections.Immutable;
using GraphCompiler.Frontend.Lowering;
using GraphCompiler.Frontend.TensorFlow.Import;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>Structure (Const, Identity, Placeholder, NoOp), shape queries, linear algebra, TopKV2, Where.</summary>
public static class TfMiscOps
{
    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("Const", Const),
        ("Identity", PassThrough), ("StopGradient", PassThrough), ("CheckNumerics", PassThrough), ("Snapshot", PassThrough),
        ("PreventGradient", PassThrough), ("EnsureShape", PassThrough),
        ("IdentityN", n => { for (int i = 0; i < n.InputCount; i++) n.Output(i, n.Raw(i) is TfResource r && n.Attr("T")?.List?.Type.ElementAtOrDefault(i) != Proto.TensorFlow.DataType.DtResource ? n.Input(i) : n.Raw(i)); }),
        ("NoOp", _ => { }),
        ("Placeholder", Placeholder), ("PlaceholderV2", Placeholder),
        ("PlaceholderWithDefault", n => n.Output(0, n.Input(0))),
        ("Shape", n => n.Output(0, ShapeOf(n, n.Input(0)))),
        ("ShapeN", n => { for (int i = 0; i < n.InputCount; i++) n.Output(i, ShapeOf(n, n.Input(i))); }),
        ("Rank", n => n.Output(0, n.L.Reshape(n.L.Ints(ElementType.I32, n.Input(0).Type.Rank)))),
        ("Size", n => n.Output(0, n.L.Reshape(n.L.Ints(OutType(n), n.Input(0).Type.ElementCount)))),
        ("MatrixInverse", MatrixInverse), ("MatrixDeterminant", n => n.Output(0, n.L.Emit("determinant", n.Input(0)))),
        ("TopKV2", TopK), ("Where", Where),
    ];

    /// <summary>
    /// Const. A quantized constant (DT_QUINT8, DT_QINT8, ...) is its stored integers (TF keeps the scale in
    /// separate min/max tensors), so it imports as the plain integer type of the same width.
    /// </summary>
    private static void Const(TfNode n)
    {
        var proto = n.Attr("value")?.Tensor;
        Proto.TensorFlow.DataType? plain = proto?.Dtype switch
        {
            Proto.TensorFlow.DataType.DtQuint8 => Proto.TensorFlow.DataType.DtUint8,
            Proto.TensorFlow.DataType.DtQint8 => Proto.TensorFlow.DataType.DtInt8,
            Proto.TensorFlow.DataType.DtQuint16 => Proto.TensorFlow.DataType.DtUint16,
            Proto.TensorFlow.DataType.DtQint16 => Proto.TensorFlow.DataType.DtInt16,
            Proto.TensorFlow.DataType.DtQint32 => Proto.TensorFlow.DataType.DtInt32,
            _ => null,
        };
        if (plain is null && proto is not null && TooBigSplat(proto) is { } shape)
        {
            // One value (or none: zeros) for a shape too big to materialise: a broadcast of that value.
            var scalar = proto.Clone();
            scalar.TensorShape = new Proto.TensorFlow.TensorShapeProto();
            var v = Tensors.TensorProtoConverter.FromTensorFlow(scalar, n.Name);
            n.Output(0, n.L.Broadcast(n.L.Constant(v.Value ?? throw n.Error(v.Diagnostics[0].Message)), shape));
            return;
        }
        if (plain is not { } d) { n.Output(0, n.L.Constant(n.TensorAttr("value"))); return; }
        var copy = proto!.Clone();
        copy.Dtype = d;
        var t = Tensors.TensorProtoConverter.FromTensorFlow(copy, n.Name);
        n.Output(0, n.L.Constant(t.Value ?? throw n.Error(t.Diagnostics[0].Message)));
    }

    /// <summary>The shape of a TensorProto that gives at most one value (TF's splat form) for more bytes than a constant may hold.</summary>
    private static ImmutableArray<long>? TooBigSplat(Proto.TensorFlow.TensorProto p)
    {
        if (!p.TensorContent.IsEmpty || p.FloatVal.Count + p.DoubleVal.Count + p.IntVal.Count + p.Int64Val.Count + p.HalfVal.Count
            + p.BoolVal.Count + p.Uint32Val.Count + p.Uint64Val.Count > 1) return null;
        if (!Tensors.FrameworkElementTypes.TryFromTensorFlow(p.Dtype, out var e, out _)) return null;
        if (Tensors.TensorProtoConverter.TensorFlowShape(p.TensorShape, "").Value is not { } dims || dims.Length > TensorType.MaxRank) return null;
        var type = new TensorType(e, ImmutableArray.Create(dims));
        return type.Problem is null && type.ByteSize > Tensors.TensorProtoConverter.MaxTensorBytes ? type.Shape : null;
    }

    /// <summary>Reached only for an output of a placeholder other than the fed output 0.</summary>
    private static void Placeholder(TfNode n) => throw n.Error("a placeholder has only output 0 (invalid output index)");

    // An Identity of a handle (DT_RESOURCE) or a TensorList (DT_VARIANT) passes it on; of a ref variable, reads it.
    private static void PassThrough(TfNode n) =>
        n.Output(0, n.Op == "Identity" && n.Attr("T")?.Type is Proto.TensorFlow.DataType.DtResource or Proto.TensorFlow.DataType.DtVariant ? n.Raw(0) : n.Input(0));

    private static ElementType OutType(TfNode n) => n.HasAttr("out_type") ? n.Type("out_type") : ElementType.I32;

    private static Value ShapeOf(TfNode n, Value x) => n.L.Ints(OutType(n), [.. x.Type.Shape]);

    private static void MatrixInverse(TfNode n)
    {
        if (n.Bool("adjoint", false)) throw n.Unsupported("adjoint=true");
        n.Output(0, n.L.Emit("matrix_inverse", n.Input(0)));
    }

    /// <summary>TopKV2: the k largest along the last axis, sorted (values, int32 indices); k must be known.</summary>
    private static void TopK(TfNode n)
    {
        var x = n.Input(0);
        var k = n.KnownInts(1, "k");
        if (k.Length != 1) throw n.Error("k must be a scalar");
        var r = n.L.EmitMulti("top_k", [x], AttrMap.Of(("k", A.Int(k[0]))));
        var idx = n.HasAttr("index_type") ? n.Type("index_type") : ElementType.I32;
        n.Output(0, r[0]);
        n.Output(1, n.L.Convert(r[1], idx));
    }

    /// <summary>Where (one input): the int64 coordinates of true elements; its shape depends on the values, so they must be known.</summary>
    private static void Where(TfNode n)
    {
        var x = n.Input(0);
        var t = n.L.Known(x) ?? throw n.Unsupported("input not known at import time (the output shape depends on input values)");
        var coords = new List<long>();
        var strides = t.Type.Strides();
        long count = 0;
        for (long i = 0; i < t.ElementCount; i++)
        {
            if (!t.GetBool(i)) continue;
            count++;
            long rem = i;
            foreach (var s in strides)
            {
                coords.Add(rem / s);
                rem %= s;
            }
        }
        n.Output(0, n.L.Constant(Tensor.FromInt64s(new TensorType(ElementType.I64, count, t.Type.Rank), coords)));
    }
}
