using System.Buffers;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.Backends.Llvm.Caching;
using GraphCompiler.Caching;
using GraphCompiler.Frontend;

namespace GraphCompiler.Tests.Caching;

/// <summary>
/// A JIT program's weights live outside its object files (<see cref="JitConstants"/>); a cache hit uses them where
/// they lie in the mapped entry, for as long as the executable lives. Checked against the reference interpreter.
/// </summary>
public sealed class MappedWeightsTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", name);

    /// <summary>A deterministic, non-trivial image for examples/cnn.ir (1×32×32×3).</summary>
    private static Tensor Image()
    {
        var v = new double[32 * 32 * 3];
        for (int i = 0; i < v.Length; i++) v[i] = Math.Sin(0.37 * i) * 0.8;
        return T.F32([1, 32, 32, 3], v);
    }

    private static double[] Reference()
    {
        var module = ModelLoader.Load(Example("cnn.ir"), new()).Unwrap();
        return T.Doubles(new Interpreter(module).Run(null, [Image()]).Unwrap().Results[0]);
    }

    private static void AssertNear(double[] expected, Tensor actual)
    {
        var got = T.Doubles(actual);
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(expected[i] - got[i]) <= 1e-5 + 1e-4 * Math.Abs(expected[i]), $"element {i}: {got[i]} vs {expected[i]}");
    }

    [Fact]
    public void WeightsStayOutOfTheObjectCodeAndAHitReadsThemFromTheMappedEntryEvenAfterItIsDeleted()
    {
        var dir = _temp.Directory("gc-cache");
        var options = new CompileOptions { Cache = true, CacheDirectory = dir, Threads = 1 };
        var expected = Reference();
        var path = Example("cnn.ir");

        var driver = Compiler.Create(options).Unwrap();
        var miss = driver.LoadAndJit(path).Unwrap();
        Assert.False(miss.Timings.CacheHit);
        using (var exe = miss.Executable)
        {
            var native = Assert.IsType<NativeExecutable>(exe);
            // The model's weights above the threshold are in the JIT's block, not in any object.
            Assert.NotNull(native.Constants);
            Assert.All(native.Constants!.Entries, e => Assert.True(e.Length >= JitConstants.MinExternalBytes));
            Assert.All(native.Constants.Entries, e => Assert.Equal(0, e.Offset % JitConstants.Alignment));
            AssertNear(expected, exe.Run([Image()]).Unwrap()[0]);
        }
        var entry = Assert.Single(Directory.GetFiles(dir, "*.gcc"));

        var hit = Compiler.Create(options).Unwrap().LoadAndJit(path).Unwrap();
        Assert.True(hit.Timings.CacheHit);
        using var restored = hit.Executable;
        // The mapping outlives the file: deleting (or evicting) the entry does not pull the weights away.
        File.Delete(entry);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        AssertNear(expected, restored.Run([Image()]).Unwrap()[0]);
        AssertNear(expected, restored.Run([Image()]).Unwrap()[0]);
    }

    /// <summary>examples/cnn.ir JIT-compiled and saved as the cache would save it.</summary>
    private static byte[] SavedImage()
    {
        var driver = Compiler.Create(new CompileOptions { Threads = 1 }).Unwrap();
        var module = driver.Optimize(driver.Load(Example("cnn.ir")).Unwrap()).Unwrap();
        var backend = new GraphCompiler.Backends.Cpu.CpuBackend();
        using var exe = backend.Jit(module, null, 1, new GraphCompiler.IR.Targets.JitOptions { KeepImage = true }).Unwrap();
        return backend.Save(exe)!;
    }

    [Fact]
    public void AnImageLoadsFromUnalignedMemoryByCopyingItsWeights()
    {
        var image = SavedImage();
        // One byte in: every object and the weights block are off their alignment.
        var shifted = new byte[image.Length + 1];
        image.CopyTo(shifted, 1);
        using var restored = ExecutableImage.Load(new ReadOnlyMemory<byte>(shifted, 1, image.Length), CpuTarget.Host(), 1).Unwrap().Executable;
        Array.Clear(shifted); // read only while loading: the weights were copied
        AssertNear(Reference(), restored.Run([Image()]).Unwrap()[0]);
    }

    [Fact]
    public void ADamagedConstantTableIsAClearFailure()
    {
        var image = SavedImage();
        var truncated = image[..^1];
        var failed = ExecutableImage.Load(truncated, CpuTarget.Host(), 1);
        Assert.False(failed.Ok);
        Assert.Contains("truncated executable image", failed.Diagnostics[0].Message);
    }

    [Fact]
    public void CacheFilesPutTheirPayloadAtAnAlignedOffsetAndRefuseAnotherKind()
    {
        var path = Path.Combine(_temp.Directory("cache-file"), "entry.bin");
        var payload = Enumerable.Range(0, 10_000).Select(i => (byte)(i * 7)).ToArray();
        Assert.True(CacheFile.Write(path, "TESTKND1"u8, payload));
        Assert.Equal(CacheFile.HeaderBytes + payload.Length, new FileInfo(path).Length);
        Assert.Equal(0, CacheFile.HeaderBytes % JitConstants.Alignment);
        using (var mapped = CacheFile.Map(path, "TESTKND1"u8))
        {
            Assert.NotNull(mapped);
            Assert.Equal(payload, mapped!.Memory.ToArray());
            using var pin = mapped.Memory.Pin();
            unsafe { Assert.Equal(0, (nint)pin.Pointer % JitConstants.Alignment); }
        }
        // Another kind's magic: refused, and the file is treated as damaged (deleted).
        Assert.Null(CacheFile.Map(path, "OTHERKND"u8));
        Assert.False(File.Exists(path));
        Assert.Null(CacheFile.Read(path, "TESTKND1"u8));
    }
}
