using System.Collections.Frozen;
using System.Collections.Immutable;

namespace GraphCompiler.Passes;

/// <summary>Every pass by name, and the named pipelines.</summary>
public static class PassRegistry
{
    private static readonly FrozenDictionary<string, Pass> ByName = new Pass[]
    {
        new Differentiate(),
        new DeadCodeElimination(),
        new AlgebraicSimplification(),
        new ConstantFolding(),
        new HoistConstants(),
        new CommonSubexpressionElimination(),
        new BatchNormFolding(),
        new Canonicalize(),
        new Fusion(),
        new LayoutAssignment(),
        new MemoryScheduling(),
        new Rematerialization(),
        new TransposeSinking(),
        new DevicePlacement(),
        new TransferInsertion(),
        new CollectiveOverlap(),
        new MixedPrecision(),
        new FeaturePadding(),
        new MicroBatching(),
        new TaskScheduling(),
    }.ToFrozenDictionary(p => p.Name);

    public static Pass? Find(string name) => ByName.GetValueOrDefault(name);

    public static IEnumerable<string> Names => ByName.Keys.Order(StringComparer.Ordinal);

    public static IEnumerable<Pass> All => Names.Select(n => ByName[n]);

    /// <summary>
    /// The pipeline <c>compile</c> uses. <c>differentiate</c> first turns requests for gradients into ordinary
    /// functions, so that everything after it optimises the backward ops like any other. <c>hoist-constants</c> computes the constant subgraphs that
    /// <c>constant-fold</c>'s size limits left (weights an exporter computes in the graph) once, after the first
    /// canonicalisation has folded and deduplicated the small ones. The first canonicalisation exposes conv → mul patterns for
    /// <c>fold-batchnorm</c>, which matches in the graph's own layout, so it runs before <c>layout</c>;
    /// <c>sink-transposes</c> moves the transposes back from each convolution's NHWC result below the bias,
    /// activation and pooling that follow it; canonicalisation folds the transposes <c>layout</c>
    /// puts on constant weights and cancels those that now meet between chained convolutions; the two run to a fixed
    /// point, each round sinking what the last freed (a transpose whose other readers were convolutions' input
    /// transposes, now folded, has a single use: Inception's pooling branch then runs in NHWC, and ShuffleNet's
    /// residual stream, one unit further per round, in 4 rounds where 2 left it in NCHW); <c>fuse</c> runs on the
    /// cleaned-up graph; <c>remat</c> (only with <see cref="PassOptions.MemoryBudget"/>) then recomputes kernels whose
    /// results the backward ops read late — on the kernels, so its arena figures are the compiled ones, and after the
    /// last cse, which would merge each recomputation back into its original; <c>schedule</c> orders the kernels for
    /// the least live memory; <c>overlap-collectives</c> then issues asynchronous collectives early and waits for
    /// them late (only a program with such pairs changes).
    /// </summary>
    public static readonly Pipeline Default = new("default", ["differentiate", "canonicalize", "hoist-constants", "fold-batchnorm", "layout", "sink-transposes+canonicalize*", "fuse", "remat", "schedule", "overlap-collectives"]);

    /// <summary>
    /// The default pipeline for a host with a CUDA GPU: <c>pad-features</c> after <c>layout</c> (it pads NHWC input
    /// features, and the pad it puts on an NCHW model's input then fuses with that input's transpose); after fusion, <c>place-devices</c> puts each kernel on
    /// the CPU or the GPU, <c>schedule</c> orders them, and <c>insert-transfers</c> adds the send/recv pairs
    /// last, so that each send follows its producer and each recv sits right before its first reader in the
    /// final order. Placement needs <see cref="PassOptions.Placement"/> to name the GPU's capabilities;
    /// without them everything stays on the CPU and no transfer is inserted.
    /// </summary>
    public static readonly Pipeline Cuda = new("cuda",
        ["differentiate", "canonicalize", "fold-batchnorm", "layout", "pad-features", "sink-transposes+canonicalize*", "fuse", "remat", "place-devices", "schedule", "overlap-collectives", "insert-transfers"]);

    /// <summary>
    /// The CPU pipeline of a function split over several processes (<see cref="PlacementOptions.Tasks"/>; model
    /// parallelism, docs/distributed.md): the default pipeline, then as in <see cref="Cuda"/> <c>place-devices</c>
    /// on the fused kernels (fusion knows nothing of devices, so it must come first), <c>schedule</c>, then
    /// <c>schedule-tasks</c> (for a function that spans tasks: the order of a simulated pipeline, so micro-batches
    /// overlap), and <c>insert-transfers</c> last, so each recv sits right before its first reader in the final order.
    /// With <see cref="PassOptions.MicroBatches"/> &gt; 1 the driver puts <c>micro-batch</c> in front.
    /// </summary>
    public static readonly Pipeline Tasks = new("tasks",
        ["differentiate", "canonicalize", "hoist-constants", "fold-batchnorm", "layout", "sink-transposes+canonicalize*", "fuse", "remat", "place-devices", "schedule", "schedule-tasks", "overlap-collectives", "insert-transfers"]);

    public static readonly ImmutableArray<Pipeline> Pipelines = [Default, Cuda, Tasks];
}
