using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// <c>%s = send %x {from = cpu, to = gpu[, compress = f16|bf16]} : T</c>: starts copying x to another
/// device; its result is the copy, not yet safe to read. Only its <c>recv</c> reads it. Same type as x.
/// With <c>compress</c> (f32 only) the wire carries 16-bit floats, as in TensorFlow's send/recv
/// compression: every element is rounded to that type, and the receiver widens it back. Between devices
/// of different tasks (<c>from = cpu, to = task1</c>) the pair is an MPI point-to-point message in a
/// compiled program; the interpreter runs every task in one process, where either kind is a copy.
/// </summary>
public sealed class SendOp() : OpDef("send")
{
    public override int MinOperands => 1;

    // Never folded: a recv reads only a send.
    public override OpTraits Traits => OpTraits.AsyncStart;

    public override ImmutableArray<AttrSpec> Attributes =>
        [TransferOps.From, TransferOps.To, AttrSpec.Enum("compress", "none", "none", "f16", "bf16")];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var x = sig.Operand(0);
        TransferOps.CheckDevices(sig);
        if (sig.Attr.Enum("compress") != "none" && x.Element != ElementType.F32)
            throw sig.Error($"compress applies to f32 tensors, got {x.Element.Name()}");
        return [x];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var x = ctx.Operand(0);
        var wire = ctx.Attr.Enum("compress") switch { "f16" => ElementType.F16, "bf16" => ElementType.BF16, _ => (ElementType?)null };
        if (wire is not { } w) return [x];
        var o = new TensorBuffer(x.Type);
        for (long k = 0; k < x.ElementCount; k++) o.SetDouble(k, FloatRounding.RoundTo(w, x.GetDouble(k)));
        return [o.ToTensor()];
    }
}

/// <summary>
/// <c>%r = recv %s {from = cpu, to = gpu} : T</c>: waits until the copy that <c>send</c> started has
/// arrived; its result is that copy, on device <c>to</c>. Its operand must be a <c>send</c> with the
/// same devices (checked by the verifier's <see cref="TransferOps.CheckPairs"/>).
/// </summary>
public sealed class RecvOp() : OpDef("recv")
{
    public override int MinOperands => 1;

    public override OpTraits Traits => OpTraits.AsyncDone;

    public override string? PairProblem(Operation done, Operation? start) => TransferOps.CheckPair(done, start);
    public override ImmutableArray<AttrSpec> Attributes => [TransferOps.From, TransferOps.To];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        TransferOps.CheckDevices(sig);
        return [sig.Operand(0)];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx) => ctx.Operands;
}

public static class TransferOps
{
    internal static readonly AttrSpec From = Placement.DeviceSpec("from");
    internal static readonly AttrSpec To = Placement.DeviceSpec("to");

    internal static void CheckDevices(OpSignature sig)
    {
        if (sig.Attr.Enum("from") == sig.Attr.Enum("to"))
            throw sig.Error($"from and to are the same device ({sig.Attr.Enum("to")}); a transfer moves between devices");
    }

    /// <summary>A problem with a recv's operand, or null: it must be a send between the same two devices.</summary>
    public static string? CheckPair(Operation recv, Operation? producer)
    {
        if (producer is null || producer.Def is not SendOp) return "recv's operand must be the result of a send";
        if (producer.Attr.Enum("from") != recv.Attr.Enum("from") || producer.Attr.Enum("to") != recv.Attr.Enum("to"))
            return $"recv ({recv.Attr.Enum("from")} -> {recv.Attr.Enum("to")}) does not match its send ({producer.Attr.Enum("from")} -> {producer.Attr.Enum("to")})";
        return null;
    }

    public static readonly ImmutableArray<OpDef> All = [new SendOp(), new RecvOp()];
}
