using GraphCompiler.Frontend.TensorFlow.Import;

namespace GraphCompiler.Frontend.TensorFlow.Ops;

/// <summary>
/// A TPU-replicated cluster (what TPUStrategy and tpu.replicate leave in a graph) run as one replica: the
/// cluster's ops are an ordinary computation between TPUReplicatedInput and TPUReplicatedOutput, which
/// with one replica pass their one value on. The compile and configuration ops around it give no tensors
/// (a topology, a compilation status) and are never default fetches. Several replicas are unsupported.
/// </summary>
public static class TfTpuOps
{
    public static IEnumerable<(string, TfLowering)> All =>
    [
        ("TPUReplicatedInput", n => PassOn(n, n.InputCount)),
        ("TPUReplicatedOutput", n => PassOn(n, n.Int("num_replicas", 1))),
        ("TPUReplicateMetadata", n => OneReplica(n, n.Int("num_replicas", 1))),
    ];

    /// <summary>Ops of a TPU cluster that compute no tensor the model returns: left out of the default fetches.</summary>
    public static bool GivesNoTensor(string op) => op is "TPUReplicateMetadata" or "TPUCompilationResult" or "ConfigureDistributedTPU";

    private static void PassOn(TfNode n, long replicas)
    {
        OneReplica(n, replicas);
        n.Output(0, n.Raw(0));
    }

    private static void OneReplica(TfNode n, long replicas)
    {
        if (replicas != 1) throw n.Unsupported($"{replicas} replicas (a TPU cluster is imported as one replica)");
    }
}
