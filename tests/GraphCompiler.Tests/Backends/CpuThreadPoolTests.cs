using System.Runtime.InteropServices;
using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Cpu.Aot;
using GraphCompiler.Backends.Llvm.Aot;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// The worker pool that generated code keeps between calls (<c>@gc.parallel</c>): many back-to-back
/// regions with changing thread counts, concurrent callers of one library (one takes the pool, the
/// other runs its parts itself), and <c>NAME_release</c> between calls. Every result is checked against
/// the reference interpreter.
/// </summary>
public sealed class CpuThreadPoolTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    // Two parallel regions a call: 48 × 128 × 96 and 48 × 96 × 64 multiply-adds (0.6 M and 0.3 M) are split
    // over threads; the bias and tanh between them is a kernel of its own.
    private const string Model = """
        func @main(%a: tensor<48x128xf32>, %b: tensor<128x96xf32>, %c: tensor<48x96xf32>, %w: tensor<96x64xf32>) -> (tensor<48x64xf32>) {
          %d = dot_general %a, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<48x96xf32>
          %e = add %d, %c : tensor<48x96xf32>
          %f = tanh %e : tensor<48x96xf32>
          %g = dot_general %f, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<48x64xf32>
          return %g
        }
        """;


    private static (Module Optimised, Tensor[] Inputs, Tensor Expected) Prepare()
    {
        var m = IrTest.Parse(Model);
        var rng = new Random(7);
        var inputs = m.Entry.Arguments.Select(a =>
            Tensor.FromDoubles(a.Type, [.. Enumerable.Range(0, (int)a.Type.ElementCount).Select(_ => rng.NextDouble() - 0.5)])).ToArray();
        var expected = new Interpreter(m).Run(null, inputs).Unwrap().Results[0];
        return (PassManager.Run(m, PassRegistry.Default).Unwrap(), inputs, expected);
    }

    [Fact]
    public void BackToBackCallsWithChangingThreadCountsMatchTheInterpreter()
    {
        var (optimised, inputs, expected) = Prepare();
        var llvm = CpuCompiler.Generate(optimised).Unwrap().LlvmIr;
        Assert.Equal(2, llvm.Split("call void @gc.parallel(ptr @gc.sgemm.").Length - 1);
        using var exe = CpuCompiler.Jit(optimised).Unwrap();
        int[] counts = [2, 1, 4, 3, 2, 8, 2];
        for (int i = 0; i < 140; i++)
        {
            exe.Threads = counts[i % counts.Length];
            IrTest.AssertTensor(expected, exe.Run(inputs).Unwrap()[0], rtol: 1e-4, atol: 1e-5);
        }
    }

    /// <summary>
    /// Regions are cut into parts by the thread count, and parts are claimed by whichever thread is free: where the
    /// cuts fall and which thread computes a part change with the count and from call to call, but every element is
    /// computed by one part in one order, so the results are the same bits at every thread count.
    /// </summary>
    /// <summary>The test model JIT-compiled, its inputs, and its result's bits from one thread (no pool started yet).</summary>
    private static (GraphCompiler.Backends.Llvm.NativeExecutable Exe, Tensor[] Inputs, byte[] Bits) OneThreadRun()
    {
        var (optimised, inputs, _) = Prepare();
        var exe = CpuCompiler.Jit(optimised).Unwrap();
        exe.Threads = 1;
        return (exe, inputs, exe.Run(inputs).Unwrap()[0].Bytes.ToArray());
    }

    [Fact]
    public void ResultsAreTheSameBitsAtEveryThreadCount()
    {
        var (exe, inputs, one) = OneThreadRun();
        using var _ = exe;
        foreach (var threads in new[] { 2, 3, 4, 7, 2, 5 })
        {
            exe.Threads = threads;
            Assert.True(one.AsSpan().SequenceEqual(exe.Run(inputs).Unwrap()[0].Bytes), $"{threads} threads changed the result's bits");
        }
    }

    /// <summary>
    /// A worker that finds itself on the caller's CPU when it takes a job confines itself to the other CPUs its starting
    /// mask allows (see <c>Parallel.EmitLeave</c>). Made by a caller allowed one CPU, the pool's workers all share it
    /// with the caller and every job finds them crowded, with nowhere to go: asking for more threads than CPUs must
    /// still compute the same bits, and leave the caller's own mask as it was.
    /// </summary>
    [Fact]
    public void APoolConfinedToOneCpuStillComputesTheSameBits()
    {
        var (exe, inputs, one) = OneThreadRun();
        using var _ = exe;
        byte[]? many = null;
        var (before, after) = (new ulong[MaskWords], new ulong[MaskWords]);
        Exception? failure = null;
        var caller = new Thread(() =>
        {
            try
            {
                Assert.Equal(0, SchedGetAffinity(0, MaskWords * sizeof(ulong), before));
                int word = Array.FindIndex(before, w => w != 0);
                ulong lowest = before[word] & (ulong)-(long)before[word];
                Array.Clear(before);
                before[word] = lowest;
                Assert.Equal(0, SchedSetAffinity(0, MaskWords * sizeof(ulong), before));
                // No pool yet: one thread ran serially, so the workers start here, with the caller's one CPU.
                exe.Threads = 3;
                for (int i = 0; i < 50; i++) many = exe.Run(inputs).Unwrap()[0].Bytes.ToArray();
                Assert.Equal(0, SchedGetAffinity(0, MaskWords * sizeof(ulong), after));
            }
            catch (Exception e) { failure = e; }
        });
        caller.Start();
        caller.Join();
        Assert.Null(failure);
        Assert.NotNull(many);
        Assert.True(one.AsSpan().SequenceEqual(many), "3 threads on one CPU changed the result's bits");
        Assert.Equal(before, after);
    }

    /// <summary>Words of a <c>cpu_set_t</c> (1024 CPUs), what the generated code reads too.</summary>
    private const int MaskWords = 16;

    [DllImport("libc", EntryPoint = "sched_getaffinity")]
    private static extern int SchedGetAffinity(int pid, nint size, [Out] ulong[] mask);

    [DllImport("libc", EntryPoint = "sched_setaffinity")]
    private static extern int SchedSetAffinity(int pid, nint size, ulong[] mask);

    [Fact]
    public unsafe void ConcurrentCallersAndReleaseBetweenCallsMatchTheInterpreter()
    {
        var (optimised, inputs, expected) = Prepare();
        var artifacts = AotCompiler.Compile(optimised, new AotOptions { Name = "pooled" }).Unwrap();
        var dir = _temp.Directory("gc-pool");
        var so = Path.Combine(dir, "libpooled.so");
        File.WriteAllBytes(so, artifacts.Files.Single(f => f.FileName == "libpooled.so").Data);
        var handle = NativeLibrary.Load(so);
        try
        {
            var run = (delegate* unmanaged<nint*, nint*, void*, int, int>)NativeLibrary.GetExport(handle, "pooled_run");
            var release = (delegate* unmanaged<void>)NativeLibrary.GetExport(handle, "pooled_release");
            long arenaBytes = ((delegate* unmanaged<long>)NativeLibrary.GetExport(handle, "pooled_arena_size"))();
            var args = inputs.Select(t => MemoryMarshal.Cast<byte, float>(t.Bytes).ToArray()).ToArray();

            // Each caller has its own arena and result; both ask for 2 threads at the same time.
            void Caller(int calls, bool releaseHalfway)
            {
                var arena = NativeMemory.AlignedAlloc((nuint)Math.Max(arenaBytes, 64), 64);
                var result = new float[expected.ElementCount];
                try
                {
                    fixed (float* a = args[0], b = args[1], c = args[2], w = args[3], r = result)
                    {
                        nint* argv = stackalloc nint[] { (nint)a, (nint)b, (nint)c, (nint)w };
                        nint* resv = stackalloc nint[] { (nint)r };
                        for (int i = 0; i < calls; i++)
                        {
                            if (releaseHalfway && i == calls / 2) release();
                            Array.Clear(result);
                            Assert.Equal(0, run(argv, resv, arena, 2));
                            IrTest.AssertTensor(expected, Tensor.FromBytes(expected.Type, MemoryMarshal.AsBytes(result.AsSpan())), rtol: 1e-4, atol: 1e-5);
                        }
                    }
                }
                finally
                {
                    NativeMemory.AlignedFree(arena);
                }
            }

            var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
            var threads = new[] { true, false }.Select(releaseHalfway => new Thread(() =>
            {
                try { Caller(60, releaseHalfway); }
                catch (Exception e) { failures.Enqueue(e); }
            })).ToArray();
            foreach (var t in threads) t.Start();
            foreach (var t in threads) t.Join();
            Assert.Empty(failures);
            release();
            // The pool starts again after a release.
            Caller(3, releaseHalfway: false);
            release();
        }
        finally
        {
            NativeLibrary.Free(handle);
        }
    }
}
