using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>schedule-tasks</c>: after <c>place-devices</c> and <c>schedule</c>, orders the top-level ops of a function
/// that spans several tasks (processes) by their start in a simulated run, so that the tasks overlap. A split
/// program runs its ops in one order on every rank, each rank skipping the others' ops, and sends never block
/// (docs/distributed.md): the order decides how much the ranks overlap. <c>schedule</c> orders for memory,
/// which for micro-batches (<c>micro-batch</c>) is one micro-batch after another: rank 1 would wait for all of
/// rank 0's work. Ordered by simulated start, micro-batch m's stage s lands in time slot m + s — GPipe.
/// <para>
/// The simulation is a list scheduler: each task is one sequential machine (its CPU; a GPU is a machine of its
/// own); an op starts when its machine is free and its inputs have arrived, taking
/// <see cref="DeviceCostModel.Seconds"/>; a value crossing between tasks arrives after the cost model's network
/// time (<see cref="DeviceCostModel.TransferSeconds(TensorType, string, string, TransferCompression)"/>);
/// arguments are on the host at time 0 and constants everywhere. Repeatedly the ready op that can start first
/// is started (ties: the earlier op in the incoming order), and the final order is by start, ties by incoming
/// order — a topological order, since an op starts no earlier than its inputs' producers.
/// </para>
/// A function on one task (no <c>taskK</c> device), or one that updates variables (their in-place order is
/// <c>schedule</c>'s), is left exactly as it is. Ops with side effects keep their relative order. Nested regions
/// are untouched.
/// </summary>
public sealed class TaskScheduling : FunctionPass
{
    public override string Name => "schedule-tasks";
    public override string Description => "order the ops of a function split over tasks by simulated start time (list scheduling; pipelines micro-batches)";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options)
    {
        var ops = f.Body.Operations;
        bool spansTasks = ops.Any(op => Placement.TaskOf(op) > 0);
        bool updatesVariables = f.ResultInfos.Any(r => r.Updates is not null);
        if (!spansTasks || updatesVariables || ops.IsEmpty) return f;
        var order = Simulate(f, options.Placement);
        var reordered = ImmutableArray.CreateRange(order.Select(i => ops[i])).Add(ops[^1]);
        return reordered.SequenceEqual(ops) ? f : f.WithBody(f.Body.WithOperations(reordered));
    }

    /// <summary>The indices of the body's ops (terminator excluded) by simulated start.</summary>
    private static List<int> Simulate(Function f, PlacementOptions placement)
    {
        var ops = f.Body.Operations;
        int n = ops.Length - (ops[^1].Def.IsTerminator ? 1 : 0);
        var producer = new Dictionary<Value, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < n; i++)
            foreach (var r in ops[i].Results) producer[r] = i;

        // Dependencies: the producers of what an op reads, and the previous op with side effects.
        var inputs = new List<Value>[n];
        var after = new List<int>[n];
        var waiting = new int[n];
        var readers = new List<int>[n];
        int lastEffect = -1;
        for (int i = 0; i < n; i++)
        {
            readers[i] = [];
            inputs[i] = [.. DevicePlacement.Inputs(ops[i])];
            after[i] = [.. inputs[i].Where(producer.ContainsKey).Select(v => producer[v]).Distinct()];
            if (ops[i].HasSideEffects)
            {
                if (lastEffect >= 0 && !after[i].Contains(lastEffect)) after[i].Add(lastEffect);
                lastEffect = i;
            }
        }
        for (int i = 0; i < n; i++)
        {
            waiting[i] = after[i].Count;
            foreach (var p in after[i]) readers[p].Add(i);
        }

        var finish = new double[n];
        var start = new double[n];
        var free = new Dictionary<string, double>();
        var ready = new SortedSet<int>(Enumerable.Range(0, n).Where(i => waiting[i] == 0));
        var cost = placement.CostModel;

        // Constants are everywhere; transfers already in the IR take no machine's time here (their recv delivers at once).
        string? Machine(Operation op) => op.Def is ConstantOp or SendOp or RecvOp ? null : Placement.DeviceOf(op);

        double Arrival(Value v, string? device)
        {
            if (device is null) return producer.TryGetValue(v, out var p0) ? finish[p0] : 0;
            var (from, at) = producer.TryGetValue(v, out var p) ? (Machine(ops[p]), finish[p]) : (Placement.Cpu, 0.0);
            if (from is null || !Placement.CrossesProcesses(from, device)) return at;
            return at + cost.TransferSeconds(v.Type, from, device, placement.CompressTransfers);
        }

        double EarliestStart(int i)
        {
            var device = Machine(ops[i]);
            double t = device is null ? 0 : free.GetValueOrDefault(device);
            foreach (var v in inputs[i]) t = Math.Max(t, Arrival(v, device));
            foreach (var p in after[i]) t = Math.Max(t, start[p]);
            return t;
        }

        var scheduled = new List<int>(n);
        while (ready.Count > 0)
        {
            int best = -1;
            double bestStart = double.PositiveInfinity;
            foreach (var i in ready) // ascending, so a tie keeps the earlier op
            {
                var s = EarliestStart(i);
                if (s < bestStart) (best, bestStart) = (i, s);
            }
            ready.Remove(best);
            var device = Machine(ops[best]);
            start[best] = bestStart;
            finish[best] = bestStart + (device is null ? 0 : cost.Seconds(ops[best], device));
            if (device is not null) free[device] = finish[best];
            scheduled.Add(best);
            foreach (var r in readers[best])
                if (--waiting[r] == 0) ready.Add(r);
        }
        return [.. scheduled.OrderBy(i => start[i]).ThenBy(i => i)];
    }
}
