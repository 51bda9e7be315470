namespace GraphCompiler.Tests.Api;

/// <summary>
/// One <see cref="CompiledModel"/> run from several threads at once, as an ONNX Runtime session may be: every
/// result equals the single-threaded one, and Dispose during runs waits for them instead of freeing memory in use.
/// </summary>
public sealed class ConcurrencyTests
{
    private static string Example(string name) => Path.Combine(GoldenFile.RepoRoot(), "examples", name);

    [Fact]
    public void FourThreadsHammerOneModelAndGetNoWrongResult()
    {
        using var model = CompiledModel.Compile(Example("small_cnn.onnx"), new CompileOptions { Threads = 1 });
        var random = new Random(7);
        var inputs = Enumerable.Range(0, 6).Select(_ => model.Inputs.Select(d => RandomTensor(d, random)).ToArray()).ToArray();
        var expected = inputs.Select(i => model.Run(i)).ToArray();

        int wrong = 0, runs = 0;
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            for (int k = 0; k < 100; k++)
            {
                int which = (t * 31 + k * 7) % inputs.Length;
                var got = model.Run(inputs[which]);
                Interlocked.Increment(ref runs);
                if (!got.SequenceEqual(expected[which])) Interlocked.Increment(ref wrong);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Equal(400, runs);
        Assert.Equal(0, wrong);
    }

    [Fact]
    public void DisposeDuringRunsWaitsForThemAndLaterRunsThrow()
    {
        var model = CompiledModel.Compile(Example("small_cnn.onnx"), new CompileOptions { Threads = 1 });
        var input = model.Inputs.Select(d => RandomTensor(d, new Random(3))).ToArray();
        var expected = model.Run(input);
        int wrong = 0, completed = 0, refused = 0;
        using var started = new CountdownEvent(4);
        var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            started.Signal();
            while (true)
            {
                try
                {
                    if (!model.Run(input).SequenceEqual(expected)) Interlocked.Increment(ref wrong);
                    Interlocked.Increment(ref completed);
                }
                catch (ObjectDisposedException)
                {
                    Interlocked.Increment(ref refused);
                    return;
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        started.Wait();
        Thread.Sleep(100);
        model.Dispose();
        threads.ForEach(t => t.Join());
        Assert.Equal(0, wrong);
        Assert.True(completed > 0);
        Assert.Equal(4, refused);
        Assert.Throws<ObjectDisposedException>(() => model.Run(input));
    }

    private static Tensor RandomTensor(GraphCompiler.Runtime.TensorDescriptor d, Random random)
    {
        var type = new TensorType(ElementType.F32, d.Shape);
        var buffer = new TensorBuffer(type);
        for (long i = 0; i < type.ElementCount; i++) buffer.SetDouble(i, random.NextDouble() * 2 - 1);
        return buffer.ToTensor();
    }
}
