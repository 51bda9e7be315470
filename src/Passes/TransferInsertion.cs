using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>insert-transfers</c>: after <c>place-devices</c> (and <c>schedule</c>), makes every edge between
/// devices explicit, as TensorFlow does after placement: a value read on the other device gets a
/// <c>send</c> right after its producer (at the top of the body for an argument) and a <c>recv</c>
/// just before its first reader on that device, so the copy overlaps everything in between and the
/// receive waits as late as possible. All readers on that device share the one pair. Values returned
/// from the GPU get a gpu→cpu pair before <c>return</c> (arguments and results are host memory).
/// Constants never move (the GPU backend uploads them at load time). Ops nested in regions stay as
/// they are, but an outer value they read from the other device is received before their op and read
/// through the <c>recv</c>. With <see cref="PlacementOptions.CompressTransfers"/> every f32 send carries
/// <c>compress</c>. An op without <c>device</c> runs on the CPU.
/// <para>
/// Devices of other tasks (taskK) are handled alike: an edge between tasks gets a pair whose send runs in
/// the producer's process right after the producer and whose recv runs in the reader's process right
/// before the first reader there (a compiled program makes it MPI point-to-point). Arguments live on the
/// host (task 0) and results are returned from it, so a result computed on task K gets a taskK→cpu pair.
/// </para>
/// </summary>
public sealed class TransferInsertion : FunctionPass
{
    public override string Name => "insert-transfers";
    public override string Description => "insert send/recv pairs on every edge between devices (after place-devices)";

    private static readonly OpDef SendDef = OpRegistry.Get("send");
    private static readonly OpDef RecvDef = OpRegistry.Get("recv");

    protected override Function RunOnFunction(Function f, Module module, PassOptions options)
    {
        var ops = f.Body.Operations;
        var home = new Dictionary<Value, string?>(ReferenceEqualityComparer.Instance);
        foreach (var a in f.Arguments) home[a] = Placement.Cpu;
        // Pass 1: which (value, device) pairs need a copy, and the index of the first reader there.
        var firstReader = new Dictionary<(Value, string), int>();
        var order = new List<(Value, string)>();
        for (int i = 0; i < ops.Length; i++)
        {
            var op = ops[i];
            foreach (var r in op.Results)
                home[r] = op.Def switch
                {
                    ConstantOp => null,
                    RecvOp => op.Attr.Enum("to"),
                    SendOp => null, // read only by its recv
                    _ => Placement.DeviceOf(op),
                };
            if (op.Def is SendOp or RecvOp or ConstantOp) continue;
            var device = op.Def.IsTerminator ? Placement.Cpu : Placement.DeviceOf(op);
            foreach (var v in DevicePlacement.Inputs(op))
            {
                if (home.GetValueOrDefault(v) is not { } from || from == device) continue;
                if (firstReader.TryAdd((v, device), i)) order.Add((v, device));
            }
        }
        if (order.Count == 0) return f;

        // Pass 2: rebuild the body with the pairs in place.
        var compress = PlacementOptions.AttributeValue(options.Placement.CompressTransfers);
        var sends = new Dictionary<(Value, string), Operation>();
        var byValue = order.ToLookup(p => p.Item1, p => p.Item2, ReferenceEqualityComparer.Instance);
        Operation Send(Value v, string to, Operation? producer)
        {
            var attrs = AttrMap.Of(("from", new EnumAttr(home[v]!)), ("to", new EnumAttr(to)));
            if (compress != "none" && v.Type.Element == ElementType.F32) attrs = attrs.With("compress", new EnumAttr(compress));
            return sends[(v, to)] = new Operation(SendDef, [v], attrs, [new Value(v.Type)], [], producer?.Location, producer?.SourceName);
        }
        var output = ImmutableArray.CreateBuilder<Operation>(ops.Length + 2 * order.Count);
        foreach (var a in f.Arguments)
            foreach (var to in byValue[a]) output.Add(Send(a, to, null));
        var received = new Dictionary<(Value, string), Value>();
        var recvAt = order.ToLookup(p => firstReader[p]);
        for (int i = 0; i < ops.Length; i++)
        {
            var op = ops[i];
            foreach (var (v, to) in recvAt[i])
            {
                var s = sends[(v, to)];
                var recv = new Operation(RecvDef, [s.Result], AttrMap.Of(("from", new EnumAttr(home[v]!)), ("to", new EnumAttr(to))),
                    [new Value(v.Type)], [], s.Location, s.SourceName);
                output.Add(recv);
                received[(v, to)] = recv.Result;
            }
            if (op.Def is not (SendOp or RecvOp or ConstantOp))
            {
                var device = op.Def.IsTerminator ? Placement.Cpu : Placement.DeviceOf(op);
                var map = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
                foreach (var v in DevicePlacement.Inputs(op))
                    if (received.TryGetValue((v, device), out var r)) map[v] = r;
                if (map.Count > 0) op = Substitute(op, map);
            }
            output.Add(op);
            foreach (var r in ops[i].Results)
                foreach (var to in byValue[r]) output.Add(Send(r, to, ops[i]));
        }
        return f.WithBody(f.Body.WithOperations(output.MoveToImmutable()));
    }

    /// <summary><paramref name="op"/> reading through <paramref name="map"/>, in its operands and in its nested regions.</summary>
    private static Operation Substitute(Operation op, Dictionary<Value, Value> map)
    {
        ImmutableArray<Value> operands = [.. op.Operands.Select(v => map.GetValueOrDefault(v, v))];
        ImmutableArray<Region>? regions = op.Regions.IsEmpty ? null
            : [.. op.Regions.Select(r => r.WithOperations([.. r.Operations.Select(o => Substitute(o, map))]))];
        return op.With(operands: operands, regions: regions);
    }
}
