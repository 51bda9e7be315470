using GraphCompiler.IR;
using GraphCompiler.IR.Ops;

namespace GraphCompiler.Passes;

/// <summary>
/// The cost model of <c>place-devices</c> (docs/passes.md): each op is bound by compute or by memory
/// traffic, whichever is slower, and a GPU kernel also pays its launch; a transfer pays the link's
/// latency and bandwidth. The defaults are round numbers for a server CPU core complex and a
/// PCIe 4.0 x16 discrete GPU: only their ratios matter, and they are ratios of orders of magnitude.
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

    public static readonly DeviceCostModel Default = new();

    /// <summary>Estimated seconds <paramref name="op"/> takes on <paramref name="device"/> (cpu or gpu).</summary>
    public double Seconds(Operation op, string device)
    {
        double flops = Flops(op), bytes = Bytes(op);
        return device == Placement.Gpu
            ? Math.Max(flops / GpuFlopsPerSecond, bytes / GpuBytesPerSecond) + GpuLaunchSeconds
            : Math.Max(flops / CpuFlopsPerSecond, bytes / CpuBytesPerSecond);
    }

    /// <summary>Seconds to move a tensor of <paramref name="type"/> across the link; compression halves an f32 payload.</summary>
    public double TransferSeconds(TensorType type, TransferCompression compression = TransferCompression.None)
    {
        double bytes = type.ByteSize;
        if (compression != TransferCompression.None && type.Element == ElementType.F32) bytes /= 2;
        return LinkLatencySeconds + bytes / LinkBytesPerSecond;
    }

    /// <summary>Bytes an op reads and writes: its operands and results.</summary>
    public static double Bytes(Operation op) =>
        op.Operands.Sum(v => (double)v.Type.ByteSize) + op.Results.Sum(v => (double)v.Type.ByteSize);

    /// <summary>
    /// Estimated floating-point (or integer) operations: 2·(result elements)·(contracted size) for
    /// dot_general, 2·(result elements)·(window · input features per group) for convolution, the input
    /// elements for reduce, result elements × window for reduce_window, 0 for constants, the sum over the
    /// body for a fusion, and the result elements for everything else (elementwise and data movement).
    /// </summary>
    public static double Flops(Operation op)
    {
        double resultElements = op.Results.Sum(r => (double)r.Type.ElementCount);
        switch (op.Def)
        {
            case ConstantOp:
                return 0;
            case FusionOp:
                return op.Regions[0].Operations.Where(o => !o.Def.IsTerminator).Sum(Flops);
            case DotGeneralOp:
            {
                var lhs = op.Operands[0].Type;
                double k = op.Attr.Ints("lhs_contract").Aggregate(1.0, (p, d) => p * lhs.Shape[(int)d]);
                return 2 * resultElements * k;
            }
            case ConvolutionOp:
            {
                var kernel = op.Operands[1].Type;
                var layout = ConvLayout.Parse(op.Attr.String("dims"), m => new IrException(m));
                // Every kernel element but the output-feature dimension is one multiply-add per output element.
                double perOutput = kernel.Shape[layout.KernelOut] == 0 ? 0 : (double)kernel.ElementCount / kernel.Shape[layout.KernelOut];
                return 2 * resultElements * perOutput;
            }
            case ReduceOp:
                return op.Operands[0].Type.ElementCount;
            case ReduceWindowOp:
                return resultElements * op.Attr.Ints("window").Aggregate(1.0, (p, w) => p * w);
            default:
                return resultElements;
        }
    }
}
