using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// The cost model of <c>place-devices</c> (docs/passes.md): each op is bound by compute or by memory
/// traffic, whichever is slower, and a GPU kernel also pays its launch; a transfer pays the link's
/// latency and bandwidth. The defaults are round numbers for a server CPU core complex and a
/// PCIe 4.0 x16 discrete GPU: only their ratios matter, and they are ratios of orders of magnitude.
/// Between tasks (processes, possibly machines) a transfer crosses the network instead: 25 Gb/s
/// Ethernet and 5 µs of MPI latency by default, so a split over tasks pays only for heavy ops.
/// </summary>
public sealed record DeviceCostModel
{
    /// <summary>Sustained CPU compute, flop/s (a few cores of AVX2 FMA).</summary>
    public double CpuFlopsPerSecond { get; init; } = 100e9;

    /// <summary>CPU DRAM bandwidth, bytes/s.</summary>
    public double CpuBytesPerSecond { get; init; } = 20e9;

    /// <summary>GPU f32 compute, flop/s.</summary>
    public double GpuFlopsPerSecond { get; init; } = 20e12;

    /// <summary>GPU memory (HBM) bandwidth, bytes/s.</summary>
    public double GpuBytesPerSecond { get; init; } = 2e12;

    /// <summary>Fixed cost of one GPU kernel launch, seconds: what keeps tiny ops on the CPU.</summary>
    public double GpuLaunchSeconds { get; init; } = 5e-6;

    /// <summary>Host-device link bandwidth, bytes/s (PCIe 4.0 x16 in practice).</summary>
    public double LinkBytesPerSecond { get; init; } = 25e9;

    /// <summary>Fixed cost of one transfer, seconds (DMA set-up and synchronisation).</summary>
    public double LinkLatencySeconds { get; init; } = 10e-6;

    /// <summary>Network bandwidth between tasks, bytes/s: 25 Gb/s Ethernet.</summary>
    public double NetworkBytesPerSecond { get; init; } = 25e9 / BitsPerByte;

    /// <summary>Fixed cost of one message between tasks, seconds (MPI point-to-point latency over a datacentre network).</summary>
    public double NetworkLatencySeconds { get; init; } = 5e-6;

    private const double BitsPerByte = 8;

    public static readonly DeviceCostModel Default = new();

    /// <summary>Estimated seconds <paramref name="op"/> takes on <paramref name="device"/> (gpu, or any task's CPU).</summary>
    public double Seconds(Operation op, string device)
    {
        var cost = op.Def.Cost(op);
        double flops = cost.Flops, bytes = cost.Bytes;
        return device == Placement.Gpu
            ? Math.Max(flops / GpuFlopsPerSecond, bytes / GpuBytesPerSecond) + GpuLaunchSeconds
            : Math.Max(flops / CpuFlopsPerSecond, bytes / CpuBytesPerSecond);
    }

    /// <summary>Seconds to move a tensor of <paramref name="type"/> across the host-device link; compression halves an f32 payload.</summary>
    public double TransferSeconds(TensorType type, TransferCompression compression = TransferCompression.None) =>
        LinkLatencySeconds + WireBytes(type, compression) / LinkBytesPerSecond;

    /// <summary>Seconds to move a tensor of <paramref name="type"/> from device <paramref name="from"/> to <paramref name="to"/>: the network between tasks, else the host-device link.</summary>
    public double TransferSeconds(TensorType type, string from, string to, TransferCompression compression = TransferCompression.None) =>
        Placement.CrossesProcesses(from, to)
            ? NetworkLatencySeconds + WireBytes(type, compression) / NetworkBytesPerSecond
            : TransferSeconds(type, compression);

    private static double WireBytes(TensorType type, TransferCompression compression)
    {
        double bytes = type.ByteSize;
        if (compression != TransferCompression.None && type.Element == ElementType.F32) bytes /= 2;
        return bytes;
    }

    /// <summary>Bytes an op reads and writes: its operands and results (the op's <see cref="OpDef.Cost"/>).</summary>
    public static double Bytes(Operation op) => op.Def.Cost(op).Bytes;

    /// <summary>
    /// Estimated floating-point (or integer) operations: the <see cref="OpCost.Flops"/> of the op's
    /// <see cref="OpDef.Cost"/>, the estimate <see cref="FusionCostModel"/> reads too —
    /// 2·(result elements)·(contracted size) for dot_general, 2·(result elements)·(window · input features
    /// per group) for convolution, the input elements for reduce, result elements × window for
    /// reduce_window, 0 for constants, the sum over the body for a fusion, and the result elements for
    /// everything else (elementwise and data movement; unweighted: <c>exp</c> counts 1 here, where the
    /// <c>fuse</c> pass's <see cref="OpCost.WeightedFlops"/> counts 32).
    /// </summary>
    public static double Flops(Operation op) => op.Def.Cost(op).Flops;
}
