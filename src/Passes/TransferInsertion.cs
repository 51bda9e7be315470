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
/// Constants never move (the GPU backend uploads them at load time). A region of host control flow
/// (<see cref="OpTraits.HostControlFlow"/>) is a body of its own: its pairs are inserted in it, its arguments
/// live on the host and its yields are brought there — except a loop's carried values kept in GPU memory
/// (<c>gpu_carried</c>), which are GPU values as operands, arguments, yields and results; a value from outside that a
/// nested op reads on the other device is received before the control-flow op (once, not per iteration) and read
/// through that <c>recv</c>. Other ops with regions read as a whole on their device. With
/// <see cref="PlacementOptions.CompressTransfers"/> every f32 send carries <c>compress</c>. An op without
/// <c>device</c> runs on the CPU.
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
        var home = new Dictionary<Value, string?>(ReferenceEqualityComparer.Instance);
        return f.WithBody(InsertInBody(f.Body, f.Arguments, home, options, _ => Placement.Cpu, _ => Placement.Cpu));
    }

    /// <summary>
    /// The pairs of one body (the function's, or a region's of host control flow): argument i lives on
    /// <paramref name="argumentDevice"/>(i) and yield i is read on <paramref name="yieldDevice"/>(i); values from outside it
    /// are where <paramref name="home"/> says (already received for this body's readers by the enclosing one).
    /// </summary>
    private static Region InsertInBody(Region body, ImmutableArray<Value> arguments, Dictionary<Value, string?> home, PassOptions options,
        Func<int, string> argumentDevice, Func<int, string> yieldDevice)
    {
        var ops = body.Operations;
        for (int k = 0; k < arguments.Length; k++) home[arguments[k]] = argumentDevice(k);
        // Pass 1: which (value, device) pairs need a copy, and the index of the first reader there.
        var firstReader = new Dictionary<(Value, string), int>();
        var order = new List<(Value, string)>();
        for (int i = 0; i < ops.Length; i++)
        {
            var op = ops[i];
            for (int k = 0; k < op.Results.Length; k++)
                home[op.Results[k]] = op.Def switch
                {
                    ConstantOp => null,
                    RecvOp => op.Attr.Enum("to"),
                    SendOp => null, // read only by its recv
                    _ => Placement.ResultDevice(op, k),
                };
            if (op.Def is SendOp or RecvOp or ConstantOp) continue;
            foreach (var (v, device) in Reads(op, ReadsOn(op, yieldDevice)))
            {
                if (home.GetValueOrDefault(v) is not { } from || from == device) continue;
                if (firstReader.TryAdd((v, device), i)) order.Add((v, device));
            }
        }

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
        foreach (var a in arguments)
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
                if (received.Count > 0) op = Substitute(op, ReadsOn(op, yieldDevice), received);
                if (Placement.HostsRegions(op))
                {
                    var owner = op;
                    op = op.With(regions: [.. op.Regions.Select((r, ri) => InsertInBody(r, r.Arguments, home, options,
                        k => Placement.RegionArgumentDevice(owner, ri, k), k => Placement.YieldDevice(owner, ri, k)))]);
                }
            }
            output.Add(op);
            foreach (var r in ops[i].Results)
                foreach (var to in byValue[r]) output.Add(Send(r, to, ops[i]));
        }
        return body.WithOperations(output.MoveToImmutable());
    }

    /// <summary>
    /// Where <paramref name="op"/> reads operand k: a terminator where its body's yield k goes (<paramref name="yieldDevice"/>),
    /// anything else on its device (a loop's carried values where they live).
    /// </summary>
    private static Func<int, string> ReadsOn(Operation op, Func<int, string> yieldDevice) =>
        op.Def.IsTerminator ? yieldDevice : k => Placement.OperandDevice(op, k);

    /// <summary>
    /// The values <paramref name="op"/> reads and where (operand k on <paramref name="device"/>(k)); inside host control
    /// flow, each nested op's reads where that op reads them (a region's yields where the region's owner wants them; values
    /// of the regions themselves included: they have no home yet and are skipped); inside any other region (a fusion's),
    /// on the op's device.
    /// </summary>
    private static IEnumerable<(Value, string)> Reads(Operation op, Func<int, string> device)
    {
        for (int k = 0; k < op.Operands.Length; k++) yield return (op.Operands[k], device(k));
        for (int ri = 0; ri < op.Regions.Length; ri++)
            foreach (var inner in op.Regions[ri].Operations)
                foreach (var read in Reads(inner, Within(op, ri, inner, device)))
                    yield return read;
    }

    /// <summary>Where <paramref name="inner"/>, an op of region <paramref name="region"/> of <paramref name="owner"/> (which reads on <paramref name="device"/>), reads its operands.</summary>
    private static Func<int, string> Within(Operation owner, int region, Operation inner, Func<int, string> device)
    {
        if (!Placement.HostsRegions(owner)) return _ => device(0); // a fusion's ops read where the fusion runs
        return ReadsOn(inner, k => Placement.YieldDevice(owner, region, k));
    }

    /// <summary><paramref name="op"/> reading through <paramref name="received"/>, each read where its reader reads it (as <see cref="Reads"/>).</summary>
    private static Operation Substitute(Operation op, Func<int, string> device, Dictionary<(Value, string), Value> received)
    {
        ImmutableArray<Value> operands = [.. op.Operands.Select((v, k) => received.GetValueOrDefault((v, device(k)), v))];
        if (op.Regions.IsEmpty) return op.With(operands: operands);
        ImmutableArray<Region> regions = [.. op.Regions.Select((r, ri) =>
            r.WithOperations([.. r.Operations.Select(inner => Substitute(inner, Within(op, ri, inner, device), received))]))];
        return op.With(operands: operands, regions: regions);
    }
}
