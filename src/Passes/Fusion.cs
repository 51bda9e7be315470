using System.Collections.Immutable;
using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// <c>fuse</c>: groups ops into kernels, each becoming one <c>fusion</c> op (see <see cref="FusionOp"/>):
/// elementwise/shape chains and DAGs (<c>loop</c>), producers into row reductions (<c>reduction</c>),
/// elementwise epilogues into <c>dot_general</c>/<c>convolution</c> (<c>output</c>), and siblings that
/// read the same input into multi-output kernels. Decisions come from <see cref="FusionCostModel"/>
/// (memory traffic saved versus compute duplicated); the group formation is <see cref="FusionPlanner"/>.
/// Ops in nested regions (loop bodies, branches) are fused within their region. A fusion's semantics
/// are its body's, so results are bit-for-bit unchanged.
/// </summary>
public sealed class Fusion : FunctionPass
{
    private readonly FusionCostModel _model;

    public Fusion() : this(FusionCostModel.Default) { }

    public Fusion(FusionCostModel model) => _model = model;

    public override string Name => "fuse";
    public override string Description => "fuse ops into kernels (loop, reduction, output and multi-output fusions) by a cost model";

    protected override Function RunOnFunction(Function f, Module module, PassOptions options) =>
        f.WithBody(FuseRegion(f.Body, _model with
        {
            ComputedConvolutionInputs = _model.ComputedConvolutionInputs && options.ComputedConvolutionInputs,
            ReshapingEpilogues = _model.ReshapingEpilogues || options.ReshapingEpilogues,
        }));

    private static readonly OpDef FusionDef = OpRegistry.Get("fusion");

    private Region FuseRegion(Region region, FusionCostModel model)
    {
        var planner = new FusionPlanner(region, model);
        planner.Run();
        var nodes = planner.Nodes.Where(n => !planner.IsFullyDuplicated(n)).ToList();
        var ops = ImmutableArray.CreateBuilder<Operation>();
        foreach (var n in TopologicalOrder(planner, nodes))
        {
            if (n.Members.Count == 1)
            {
                var op = planner.Op(n.Root);
                ops.Add(op.Regions.IsEmpty || op.Def is FusionOp ? op : op.With(regions: [.. op.Regions.Select(r => FuseRegion(r, model))]));
            }
            else ops.Add(BuildFusion(planner, n));
        }
        if (region.Terminator is { } t) ops.Add(t);
        return region.WithOperations(ops.ToImmutable());
    }

    /// <summary>Kahn's algorithm, preferring the original position, so unfused code keeps its order.</summary>
    private static List<FusionPlanner.Node> TopologicalOrder(FusionPlanner planner, List<FusionPlanner.Node> nodes)
    {
        var set = nodes.ToHashSet();
        var waiting = new Dictionary<FusionPlanner.Node, int>();
        var dependents = new Dictionary<FusionPlanner.Node, List<FusionPlanner.Node>>();
        foreach (var n in nodes)
        {
            var deps = n.Inputs.Select(planner.ProviderOf).OfType<FusionPlanner.Node>().Where(p => p != n && set.Contains(p)).Distinct().ToList();
            waiting[n] = deps.Count;
            foreach (var d in deps)
            {
                if (!dependents.TryGetValue(d, out var l)) dependents[d] = l = [];
                l.Add(n);
            }
        }
        var ready = new PriorityQueue<FusionPlanner.Node, int>();
        foreach (var n in nodes)
            if (waiting[n] == 0) ready.Enqueue(n, n.Root);
        var order = new List<FusionPlanner.Node>();
        while (ready.TryDequeue(out var n, out _))
        {
            order.Add(n);
            foreach (var d in dependents.GetValueOrDefault(n) ?? [])
                if (--waiting[d] == 0) ready.Enqueue(d, d.Root);
        }
        if (order.Count != nodes.Count) throw new InvalidOperationException("fuse: the fusion groups form a cycle (a planner bug)");
        return order;
    }

    /// <summary>
    /// One node as a fusion op. Its results are the original values the node provides to the rest of
    /// the region, so no outer use needs rewriting; the body gets fresh values for everything.
    /// </summary>
    private static Operation BuildFusion(FusionPlanner planner, FusionPlanner.Node n)
    {
        var map = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
        var inputs = new List<Value>();
        var body = ImmutableArray.CreateBuilder<Operation>();
        var outputs = new List<Value>();
        var bodyOps = n.Members.Select(planner.Op).ToList();
        var definedInside = new HashSet<Value>(bodyOps.SelectMany(o => o.Results), ReferenceEqualityComparer.Instance);
        var args = new List<Value>();
        // Arguments in order of first use.
        foreach (var op in bodyOps)
            foreach (var v in op.Operands)
                if (!definedInside.Contains(v) && !map.ContainsKey(v))
                {
                    var a = new Value(v.Type);
                    map[v] = a;
                    inputs.Add(v);
                    args.Add(a);
                }
        foreach (var op in bodyOps)
        {
            var results = ImmutableArray.CreateRange(op.Results, r => new Value(r.Type));
            body.Add(new Operation(op.Def, [.. op.Operands.Select(v => map[v])], op.Attributes, results, [], op.Location, op.SourceName));
            for (int i = 0; i < results.Length; i++)
            {
                map[op.Results[i]] = results[i];
                if (planner.IsProvider(n, op.Results[i]) && planner.UsedOutside(n, op.Results[i])) outputs.Add(op.Results[i]);
            }
        }
        body.Add(new Operation(OpRegistry.Get("yield"), [.. outputs.Select(v => map[v])], AttrMap.Empty, []));
        string kind = bodyOps.Any(FusionKinds.IsContraction) ? "output" : bodyOps.Any(o => o.Def is ReduceOp) ? "reduction" : "loop";
        var root = planner.Op(n.Root);
        return new Operation(FusionDef, [.. inputs], AttrMap.Of(("kind", A.Enum(kind))), [.. outputs],
            [new Region([.. args], body.ToImmutable())], root.Location, root.SourceName);
    }
}
