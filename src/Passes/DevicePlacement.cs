using System.Collections.Immutable;
using System.Text.RegularExpressions;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>place-devices</c>: sets <c>device = cpu|gpu|taskK</c> on every top-level op of each function body,
/// TensorFlow's placer (whitepaper §3.2.1) with its cost model (<see cref="DeviceCostModel"/>). With
/// <see cref="PlacementOptions.Tasks"/> = N &gt; 1 the CPUs of tasks 1..N-1 (other processes, MPI ranks:
/// model parallelism) are candidates too, reached over the network (the cost model's network link).
/// <list type="bullet">
/// <item>Constants get no device (the GPU backend uploads the constants its kernels read at load time,
/// so they never need a transfer); the terminator gets none. Arguments and results live on the host.</item>
/// <item>Ops with regions other than <c>fusion</c> (while, if, case, call) run on the CPU; a fusion is placed as
/// one unit. The host's control flow (<see cref="OpTraits.HostControlFlow"/>: while, if, case) on the host CPU, when
/// there is a GPU, has each region placed as a body of its own: its arguments and yields live on the host — except the
/// values it keeps on the GPU (a loop's carried values, branches' results computed there: <see cref="PlaceRegions"/>) —
/// and a value it reads from outside is where the enclosing body put it, from the start (insert-transfers copies it
/// before the op, once, not per iteration; the simulation charges the copy per iteration, an overestimate). The
/// regions are placed when the simulation reaches the op, and its results are then where the regions leave them.</item>
/// <item>Colocation: a <c>reshape</c> or <c>broadcast_in_dim</c> is a view, pointless to move alone, so
/// it joins its operand's producer's group (union-find), unless that is host control flow (its results may be on either device). A group goes to one device; if the GPU cannot
/// run one member, the whole group stays on the CPU (the CPU fallback).</item>
/// <item>User constraints (<see cref="PlacementConstraint"/>) apply to the whole group; two that
/// disagree inside one group are an error naming both ops. They are soft: never onto a GPU that cannot
/// run the op.</item>
/// <item>Greedy simulation in body (topological) order: a group is placed when its first member is
/// reached, on the allowed device where its last member finishes first — ready when the device is free
/// and every input has arrived there (producer's finish, plus one transfer per value and device) — plus
/// the transfer back to the host (task 0's CPU) of any function result it computes elsewhere. Ties go to
/// the host CPU, then to lower tasks: a split happens only when it pays, or when a constraint asks for it.</item>
/// </list>
/// Without <see cref="PlacementOptions.GpuSupports"/> and with one task every op is placed on the CPU.
/// </summary>
public sealed class DevicePlacement : FunctionPass
{
    public override string Name => "place-devices";
    public override string Description => "put each op on the CPU or the GPU (greedy earliest finish under a cost model; colocation, constraints)";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options) =>
        f.WithBody(PlaceBody(f, f.Body, f.Arguments, options.Placement, outside: null));

    /// <summary>
    /// Places <paramref name="body"/>'s ops, and those of the regions of its host control flow on the host CPU;
    /// <paramref name="outside"/> says where the values of enclosing bodies live.
    /// </summary>
    private static Region PlaceBody(Function f, Region body, ImmutableArray<Value> arguments, PlacementOptions options, Func<Value, string?>? outside,
        Func<int, string>? argumentDevice = null, Func<int, string>? yieldDevice = null)
    {
        var planner = new Planner(f, body, arguments, options, outside, argumentDevice ?? Host, yieldDevice ?? Host);
        return body.WithOperations(planner.Plan());
    }

    private static string Host(int _) => Placement.Cpu;

    /// <summary>
    /// Places the regions of host control flow <paramref name="op"/>, each as a body of its own. Placed first with every
    /// region argument, yield and result on the host, a value that is on the GPU where it is yielded crosses to the host
    /// there — every iteration, for a loop, and back at the start of the next one if a GPU op reads it. So the op keeps in
    /// GPU memory (<see cref="OpDef.GpuValuesAttr"/>) a loop's carried value whose next value is on the GPU
    /// (<c>gpu_carried</c>), and a branch op's result that every branch yields on the GPU or as a constant
    /// (<c>gpu_results</c>); such a value crosses only where a CPU op reads it (a loop condition's one byte, say). The regions
    /// are then placed again with those values on the GPU.
    /// </summary>
    private static Operation PlaceRegions(Function f, Operation op, PlacementOptions options, Func<Value, string?> outside)
    {
        Operation Place(Operation o) => o.With(regions: [.. o.Regions.Select((r, ri) => PlaceBody(f, r, r.Arguments, options, outside,
            k => Placement.RegionArgumentDevice(o, ri, k), k => Placement.YieldDevice(o, ri, k)))]);
        var placed = Place(op);
        if (op.Def.GpuValuesAttr is not { } attr) return placed;
        var onGpu = op.Def is WhileOp ? CarriedOnGpu(op, placed.Regions[1], outside) : ResultsOnGpu(placed, outside);
        if (onGpu.Count == 0) return placed;
        return Place(op.With(attributes: op.Attributes.With(attr, new IntArrayAttr([.. onGpu.Select(k => (long)k)]))));
    }

    /// <summary>Where each value a placed region yields lives: gpu, cpu, or null for a constant (on every device); one pass over the region.</summary>
    private static string?[] YieldedOn(Region region, Func<Value, string?> outside)
    {
        var yielded = region.Yielded;
        var at = new Dictionary<Value, (Operation Op, int Result)>(ReferenceEqualityComparer.Instance);
        foreach (var o in region.Operations)
            for (int k = 0; k < o.Results.Length; k++) at[o.Results[k]] = (o, k);
        return [.. yielded.Select(v => at.TryGetValue(v, out var p)
            ? p.Op.Def is ConstantOp ? null : Placement.ResultDevice(p.Op, p.Result)
            : outside(v))];
    }

    /// <summary>
    /// A loop's carried value k stays on the GPU when its body yields a value computed there, a value from outside that lives
    /// there (or value k unchanged, starting there), or another carried value that stays there (a rotation): to a fixed point.
    /// </summary>
    private static SortedSet<int> CarriedOnGpu(Operation loop, Region body, Func<Value, string?> outside)
    {
        var yielded = body.Yielded;
        var where = YieldedOn(body, outside);
        var onGpu = new SortedSet<int>();
        for (bool grew = true; grew;)
        {
            grew = false;
            for (int k = 0; k < yielded.Length; k++)
            {
                var v = yielded[k];
                int j = body.Arguments.IndexOf(v);
                bool gpu = j < 0 ? where[k] == Placement.Gpu
                    : j == k ? outside(loop.Operands[k]) == Placement.Gpu
                    : onGpu.Contains(j);
                if (gpu && onGpu.Add(k)) grew = true;
            }
        }
        return onGpu;
    }

    /// <summary>A branch op's result k stays on the GPU when every branch yields it there or as a constant, and one there.</summary>
    private static SortedSet<int> ResultsOnGpu(Operation placed, Func<Value, string?> outside)
    {
        var onGpu = new SortedSet<int>();
        var branches = placed.Regions.Select(r => YieldedOn(r, outside)).ToList();
        for (int k = 0; k < placed.Results.Length; k++)
        {
            var where = branches.Select(b => b[k]).ToList();
            if (where.Contains(Placement.Gpu) && where.All(d => d is null or Placement.Gpu)) onGpu.Add(k);
        }
        return onGpu;
    }

    /// <summary>
    /// A region's options: the host's CPU and GPU only. Only the entry's top-level ops run under a task's condition (the
    /// program is one per process), so a region's ops stay in the host's process; constraints naming tasks do not apply.
    /// </summary>
    private static PlacementOptions InRegion(PlacementOptions options) =>
        options with { Tasks = 1, Constraints = [.. options.Constraints.Where(c => Placement.TaskOf(c.Device) == 0)] };

    /// <summary>Whether <paramref name="op"/> is host control flow on the host CPU whose regions' ops get devices of their own (there is a GPU).</summary>
    internal static bool PlacesInside(Operation op, PlacementOptions options) =>
        options.GpuSupports is not null && Placement.HostsRegions(op);

    /// <summary>Whether the pass places <paramref name="op"/>: not constants, terminators or transfers.</summary>
    internal static bool IsPlaceable(Operation op) => !op.Def.IsTerminator && op.Def is not (ConstantOp or SendOp or RecvOp);

    /// <summary>The values an op reads: its operands, and for ops with regions the outer values the regions read.</summary>
    internal static IEnumerable<Value> Inputs(Operation op)
    {
        if (op.Regions.IsEmpty) return op.Operands;
        var defined = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        var read = new List<Value>(op.Operands);
        void Walk(Region r)
        {
            defined.UnionWith(r.Arguments);
            foreach (var o in r.Operations)
            {
                foreach (var v in o.Operands)
                    if (!defined.Contains(v)) read.Add(v);
                foreach (var inner in o.Regions) Walk(inner);
                defined.UnionWith(o.Results);
            }
        }
        foreach (var r in op.Regions) Walk(r);
        return read.Distinct(ReferenceEqualityComparer.Instance).Cast<Value>();
    }

    /// <summary>One body's placement (the function's, or a region's of its host control flow): the device of each op (null: left alone).</summary>
    private sealed class Planner(Function f, Region body, ImmutableArray<Value> arguments, PlacementOptions options, Func<Value, string?>? outside,
        Func<int, string> argumentDevice, Func<int, string> yieldDevice)
    {
        private readonly ImmutableArray<Operation> _ops = body.Operations;
        private readonly Dictionary<Value, int> _producer = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<Value, (string Device, double Time)> _home = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<(Value, string), double> _copies = new();
        private readonly Dictionary<string, double> _busy = new() { [Placement.Gpu] = 0 };
        private string[] _cpus = [Placement.Cpu];
        private readonly ILookup<Value, string> _returnedTo = body.Yielded.Select((v, k) => (v, k))
            .ToLookup(p => p.v, p => yieldDevice(p.k), (IEqualityComparer<Value>)ReferenceEqualityComparer.Instance);
        private int[] _parent = [];
        private ValueNames? _names;

        /// <summary>
        /// The body's ops placed, in order. Host control flow has its regions placed when it is reached (values from before
        /// it are where they will be), and its results are then where the regions leave them (<see cref="PlaceRegions"/>).
        /// </summary>
        public ImmutableArray<Operation> Plan()
        {
            var plan = _ops.ToArray();
            for (int i = 0; i < _ops.Length; i++)
                foreach (var r in _ops[i].Results) _producer[r] = i;
            var groups = Colocate();
            var required = Constraints(groups);
            int tasks = Math.Max(options.Tasks, 1 + required.Values.Select(Placement.TaskOf).DefaultIfEmpty(0).Max());
            _cpus = [.. Enumerable.Range(0, tasks).Select(Placement.TaskCpu)];
            foreach (var c in _cpus) _busy[c] = 0;
            for (int k = 0; k < arguments.Length; k++) _home[arguments[k]] = (argumentDevice(k), 0);
            var done = new bool[_ops.Length];
            for (int i = 0; i < _ops.Length; i++)
            {
                var op = _ops[i];
                if (!IsPlaceable(op))
                {
                    // A transfer already in the IR delivers its value on its destination.
                    if (op.Def is RecvOp) _home[op.Result] = (op.Attr.Enum("to"), 0);
                    else if (op.Def is SendOp) _home[op.Result] = (op.Attr.Enum("from"), 0);
                    continue;
                }
                if (done[i]) continue;
                var members = groups[Find(i)];
                string? best = null;
                double bestScore = double.PositiveInfinity;
                foreach (var d in Candidates(members, required.GetValueOrDefault(Find(i))))
                {
                    var score = Simulate(members, d, commit: false);
                    if (score < bestScore) (best, bestScore) = (d, score);
                }
                Simulate(members, best!, commit: true);
                foreach (var m in members)
                {
                    plan[m] = Placement.On(_ops[m], best!);
                    done[m] = true;
                    if (!PlacesInside(plan[m], options)) continue;
                    plan[m] = PlaceRegions(f, plan[m], InRegion(options), Home);
                    for (int k = 0; k < plan[m].Results.Length; k++)
                    {
                        var r = plan[m].Results[k];
                        _home[r] = (Placement.ResultDevice(plan[m], k), _home[r].Time);
                    }
                }
            }
            return [.. plan];
        }

        /// <summary>The device of a value of this body (or of an enclosing one), once planned; null for constants.</summary>
        public string? Home(Value v) => _home.TryGetValue(v, out var h) ? h.Device : outside?.Invoke(v);

        // ---- colocation: union-find, the root is the group's first op ----

        private int Find(int i)
        {
            while (_parent[i] != i) i = _parent[i] = _parent[_parent[i]];
            return i;
        }

        private Dictionary<int, List<int>> Colocate()
        {
            _parent = [.. Enumerable.Range(0, _ops.Length)];
            for (int i = 0; i < _ops.Length; i++)
            {
                var op = _ops[i];
                if (op.Def is not (ReshapeOp or BroadcastInDimOp) || !IsPlaceable(op)) continue;
                // Host control flow runs on the host whatever device its results are on: a view of one goes where it is cheapest.
                if (!_producer.TryGetValue(op.Operands[0], out var p) || !IsPlaceable(_ops[p]) || _ops[p].Def.Has(OpTraits.HostControlFlow)) continue;
                int a = Find(p), b = Find(i);
                if (a != b) _parent[Math.Max(a, b)] = Math.Min(a, b);
            }
            var groups = new Dictionary<int, List<int>>();
            for (int i = 0; i < _ops.Length; i++)
            {
                if (!IsPlaceable(_ops[i])) continue;
                var root = Find(i);
                if (!groups.TryGetValue(root, out var list)) groups[root] = list = [];
                list.Add(i);
            }
            return groups;
        }

        // ---- user constraints ----

        private string NameOf(Operation op)
        {
            if (op.SourceName is not null) return op.SourceName;
            if (op.Results.IsEmpty) return op.Name;
            _names ??= new ValueNames(f);
            return _names[op.Results[0]];
        }

        private string Describe(Operation op)
        {
            _names ??= new ValueNames(f);
            var result = op.Results.IsEmpty ? op.Name : $"{_names[op.Results[0]]} = {op.Name}";
            return op.SourceName is null ? $"'{result}'" : $"'{op.SourceName}' ({result})";
        }

        /// <summary>The device each constrained group must use, by root; conflicts are errors.</summary>
        private Dictionary<int, string> Constraints(Dictionary<int, List<int>> groups)
        {
            var required = new Dictionary<int, string>();
            if (options.Constraints.IsEmpty) return required;
            foreach (var (root, members) in groups)
            {
                (int Op, PlacementConstraint C)? first = null;
                foreach (var m in members)
                {
                    foreach (var c in Matching(_ops[m]))
                    {
                        if (first is null) first = (m, c);
                        else if (first.Value.C.Device != c.Device)
                        {
                            var (a, ca) = first.Value;
                            var where = a == m
                                ? $"{Describe(_ops[m])} is matched by both '{ca}' and '{c}'"
                                : $"{Describe(_ops[a])} must be on {ca.Device} ('{ca}') but {Describe(_ops[m])}, which stays with it, must be on {c.Device} ('{c}')";
                            throw new PassException(new Diagnostic($"@{f.Name}: conflicting placement constraints: {where}", _ops[m].Location ?? _ops[a].Location));
                        }
                    }
                }
                if (first is { } fc) required[root] = fc.C.Device;
            }
            return required;
        }

        private IEnumerable<PlacementConstraint> Matching(Operation op)
        {
            var name = NameOf(op);
            foreach (var c in options.Constraints)
            {
                bool match;
                try
                {
                    match = c.Pattern.IsMatch(name);
                }
                catch (RegexMatchTimeoutException)
                {
                    throw new PassException(new Diagnostic($"placement constraint '{c}' took too long to match '{name}'; simplify the regex"));
                }
                if (match) yield return c;
            }
        }

        // ---- the simulation ----

        private IEnumerable<string> Candidates(List<int> members, string? required)
        {
            bool gpuPossible = options.GpuSupports is { } supports
                && members.All(m => (_ops[m].Regions.IsEmpty || _ops[m].Def is FusionOp) && supports(_ops[m]));
            // A constraint holds unless it asks for a GPU that cannot run the group (then the host CPU runs it).
            if (required is not null) return required == Placement.Gpu && !gpuPossible ? [Placement.Cpu] : [required];
            return gpuPossible ? [.. _cpus, Placement.Gpu] : _cpus;
        }

        private double Transfer(Value v, string from, string to) => options.CostModel.TransferSeconds(v.Type, from, to, options.CompressTransfers);

        /// <summary>When <paramref name="v"/> is readable on <paramref name="device"/>; <paramref name="commit"/> records the copy.</summary>
        private double Available(Value v, string device, bool commit)
        {
            if (_copies.TryGetValue((v, device), out var t)) return t;
            // A value from outside a region is where the enclosing body put it, from the start (a copy elsewhere is made
            // before the op, once; charging it here, per iteration, overstates it). A constant is on every device.
            if (!_home.TryGetValue(v, out var home))
            {
                if (outside?.Invoke(v) is not { } there) return 0;
                home = (there, 0);
            }
            if (home.Device == device) return home.Time;
            t = home.Time + Transfer(v, home.Device, device);
            if (commit) _copies[(v, device)] = t;
            return t;
        }

        /// <summary>Runs the group's members in order on <paramref name="device"/>; returns the score: last finish, plus copying results computed off the host back to it.</summary>
        private double Simulate(List<int> members, string device, bool commit)
        {
            var local = new Dictionary<Value, double>(ReferenceEqualityComparer.Instance);
            double clock = _busy[device], returnBack = 0;
            foreach (var m in members)
            {
                var op = _ops[m];
                double ready = clock;
                foreach (var v in Inputs(op))
                    ready = Math.Max(ready, local.TryGetValue(v, out var lt) ? lt : Available(v, device, commit));
                clock = ready + options.CostModel.Seconds(op, device);
                foreach (var r in op.Results)
                {
                    local[r] = clock;
                    foreach (var to in _returnedTo[r].Where(to => to != device).Distinct())
                        returnBack = Math.Max(returnBack, clock + Transfer(r, device, to));
                }
            }
            if (commit)
            {
                _busy[device] = clock;
                foreach (var (v, t) in local) _home[v] = (device, t);
            }
            return Math.Max(clock, returnBack);
        }
    }
}
