using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GraphCompiler.Frontend.Onnx;
using GraphCompiler.IR;

namespace GraphCompiler.Benchmarks;

/// <summary>
/// How close each side comes to what one core of this machine can do at all. Two figures are measured here, in the
/// same run: the core's f32 multiply-add peak (independent vector FMA chains, no loads) and the rate at which it
/// streams a buffer the size of the model's constants, read again and again as a model's weights are call after
/// call. A call can take no less than the larger of (multiply-adds ÷ peak) and (constant bytes ÷ stream rate): that
/// is the bound. Both sides are then timed at one thread as in <see cref="Compare"/>, and the row says how far each
/// is above the bound and whether 0.9 of ONNX Runtime's time is below it, i.e. out of reach on this machine.
/// </summary>
public static class Roofline
{
    /// <summary>Independent accumulators: enough to cover the FMA latency on two pipes (4 cycles × 2) with room.</summary>
    private const int Chains = 12;

    /// <summary>The software prefetch distance of our one-row GEMM kernels (4 KiB), so the stream is read as they read it.</summary>
    private const int PrefetchBytes = 4096;

    private const int Repeats = 7;

    public static void Run(IEnumerable<string> models)
    {
        double peak = MultiplyAddPeak();
        Console.WriteLine($"// one core: f32 multiply-add peak {peak / 1e9:F1} G/s ({(Vector512.IsHardwareAccelerated ? "AVX-512" : "256-bit")} FMA, {Chains} chains)");
        Console.WriteLine("| model | multiply-adds (M) | constants (MB) | stream GB/s | bound ms | GraphCompiler ms | ONNX Runtime ms | ours / bound | ORT / bound | 0.9 × ORT / bound |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var model in models)
        {
            var bench = new OnnxBenchmarks { Model = model, Threads = 1 };
            try
            {
                bench.Setup();
                var (macs, constantBytes) = Work(OnnxBenchmarks.Files[model]());
                // Before and after the timings, the faster: a bound must not rise because the machine was busy a moment.
                double bandwidth = StreamRate(constantBytes);
                var (ours, theirs) = Compare.Measure(bench);
                bandwidth = Math.Max(bandwidth, StreamRate(constantBytes));
                double bound = Math.Max(macs / peak, constantBytes / bandwidth) * 1e3;
                Console.WriteLine(FormattableString.Invariant(
                    $"| {model} | {macs / 1e6:F1} | {constantBytes / 1e6:F2} | {bandwidth / 1e9:F0} | {Compare.Ms(bound)} | {Compare.Ms(ours)} | {Compare.Ms(theirs)} | {ours / bound:F2} | {theirs / bound:F2} | {0.9 * theirs / bound:F2} |"));
            }
            finally { bench.Cleanup(); }
        }
    }

    /// <summary>Multiply-adds of the contractions (half their flops) and the bytes of the constants, from the imported IR.</summary>
    private static (double MultiplyAdds, long ConstantBytes) Work(string path)
    {
        var module = OnnxImporter.Import(path).Unwrap();
        double macs = 0;
        long bytes = 0;
        void Walk(Region region)
        {
            foreach (var op in region.Operations)
            {
                if (op.Def.Has(OpTraits.Contraction)) macs += op.Def.Cost(op).Flops / 2;
                if (op.Name == "constant") bytes += op.Results.Sum(r => r.Type.ByteSize);
                foreach (var inner in op.Regions) Walk(inner);
            }
        }
        foreach (var f in module.Functions) Walk(f.Body);
        return (macs, bytes);
    }

    /// <summary>Best of <see cref="Repeats"/>: a peak is what the core reaches when nothing else gets in the way.</summary>
    private static double MultiplyAddPeak()
    {
        const long steps = 4_000_000;
        double best = double.MaxValue;
        float sink = 0;
        for (int r = 0; r < Repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            sink += Vector512.IsHardwareAccelerated ? Chains512(steps) : Chains256(steps);
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        GC.KeepAlive(sink);
        int lanes = Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256<float>.Count;
        return steps * Chains * lanes / best;
    }

    // Chains512 and Chains256 differ only in the vector type: .NET has no public interface over Vector512 and Vector256
    // (ISimdVector is internal), and a delegate or boxed vector would leave the twelve chains out of registers.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(long steps)
    {
        var (x, y) = (Vector512.Create(1.0000001f), Vector512.Create(0.9999999f));
        Vector512<float> a0 = Vector512.Create(0f), a1 = Vector512.Create(1f), a2 = Vector512.Create(2f), a3 = Vector512.Create(3f),
            a4 = Vector512.Create(4f), a5 = Vector512.Create(5f), a6 = Vector512.Create(6f), a7 = Vector512.Create(7f),
            a8 = Vector512.Create(8f), a9 = Vector512.Create(9f), a10 = Vector512.Create(10f), a11 = Vector512.Create(11f);
        for (long i = 0; i < steps; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, x, y); a1 = Vector512.FusedMultiplyAdd(a1, x, y);
            a2 = Vector512.FusedMultiplyAdd(a2, x, y); a3 = Vector512.FusedMultiplyAdd(a3, x, y);
            a4 = Vector512.FusedMultiplyAdd(a4, x, y); a5 = Vector512.FusedMultiplyAdd(a5, x, y);
            a6 = Vector512.FusedMultiplyAdd(a6, x, y); a7 = Vector512.FusedMultiplyAdd(a7, x, y);
            a8 = Vector512.FusedMultiplyAdd(a8, x, y); a9 = Vector512.FusedMultiplyAdd(a9, x, y);
            a10 = Vector512.FusedMultiplyAdd(a10, x, y); a11 = Vector512.FusedMultiplyAdd(a11, x, y);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(long steps)
    {
        var (x, y) = (Vector256.Create(1.0000001f), Vector256.Create(0.9999999f));
        Vector256<float> a0 = Vector256.Create(0f), a1 = Vector256.Create(1f), a2 = Vector256.Create(2f), a3 = Vector256.Create(3f),
            a4 = Vector256.Create(4f), a5 = Vector256.Create(5f), a6 = Vector256.Create(6f), a7 = Vector256.Create(7f),
            a8 = Vector256.Create(8f), a9 = Vector256.Create(9f), a10 = Vector256.Create(10f), a11 = Vector256.Create(11f);
        for (long i = 0; i < steps; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, x, y); a1 = Vector256.FusedMultiplyAdd(a1, x, y);
            a2 = Vector256.FusedMultiplyAdd(a2, x, y); a3 = Vector256.FusedMultiplyAdd(a3, x, y);
            a4 = Vector256.FusedMultiplyAdd(a4, x, y); a5 = Vector256.FusedMultiplyAdd(a5, x, y);
            a6 = Vector256.FusedMultiplyAdd(a6, x, y); a7 = Vector256.FusedMultiplyAdd(a7, x, y);
            a8 = Vector256.FusedMultiplyAdd(a8, x, y); a9 = Vector256.FusedMultiplyAdd(a9, x, y);
            a10 = Vector256.FusedMultiplyAdd(a10, x, y); a11 = Vector256.FusedMultiplyAdd(a11, x, y);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    /// <summary>
    /// Bytes per second reading a buffer of <paramref name="bytes"/> front to back, over and over, with the prefetch our
    /// kernels use, as a call's weights are read once per call: the pass at the 10th percentile, near the best the
    /// machine does but not one lucky pass. Large models stream from memory, the batch-1 MLP's 2.7 MB from the
    /// last-level cache.
    /// </summary>
    private static unsafe double StreamRate(long bytes)
    {
        const int vector = 64;
        long length = Math.Max(vector * 4, bytes / (vector * 4) * (vector * 4));
        var buffer = (byte*)NativeMemory.AlignedAlloc((nuint)(length + PrefetchBytes), vector);
        try
        {
            new Span<byte>(buffer, (int)Math.Min(length + PrefetchBytes, int.MaxValue)).Fill(1);
            int passes = (int)Math.Clamp(2e9 / length, 20, 2000);
            var times = new List<double>(passes);
            float sink = 0;
            for (int p = 0; p < passes; p++)
            {
                var sw = Stopwatch.StartNew();
                sink += Read(buffer, length);
                times.Add(sw.Elapsed.TotalSeconds);
            }
            GC.KeepAlive(sink);
            times.Sort();
            return length / times[times.Count / 10];
        }
        finally { NativeMemory.AlignedFree(buffer); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float Read(byte* p, long length)
    {
        if (!Vector512.IsHardwareAccelerated) return Read256(p, length);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (long i = 0; i < length; i += 256)
        {
            Prefetch(p + i + PrefetchBytes);
            a0 += Vector512.Load((float*)(p + i));
            a1 += Vector512.Load((float*)(p + i + 64));
            a2 += Vector512.Load((float*)(p + i + 128));
            a3 += Vector512.Load((float*)(p + i + 192));
        }
        return Vector512.Sum(a0 + a1 + a2 + a3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float Read256(byte* p, long length)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (long i = 0; i < length; i += 256)
        {
            Prefetch(p + i + PrefetchBytes);
            for (int l = 0; l < 256; l += 128)
            {
                a0 += Vector256.Load((float*)(p + i + l));
                a1 += Vector256.Load((float*)(p + i + l + 32));
                a2 += Vector256.Load((float*)(p + i + l + 64));
                a3 += Vector256.Load((float*)(p + i + l + 96));
            }
        }
        return Vector256.Sum(a0 + a1 + a2 + a3);
    }

    /// <summary>Four cache lines, 256 bytes ahead by <see cref="PrefetchBytes"/>, into L1.</summary>
    private static unsafe void Prefetch(byte* at)
    {
        if (!Sse.IsSupported) return;
        for (int l = 0; l < 256; l += 64) Sse.Prefetch0(at + l);
    }
}
