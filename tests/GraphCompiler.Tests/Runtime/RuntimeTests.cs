using GraphCompiler.Backends.Cpu;
using GraphCompiler.Backends.Llvm;
using GraphCompiler.Runtime;
using RuntimeThreads = GraphCompiler.Runtime.Threads;

namespace GraphCompiler.Tests.Runtime;

public sealed class RuntimeTests
{
    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(100L)]
    [InlineData(1L << 20)]
    public void ArenaIs64ByteAlignedAndWritable(long bytes)
    {
        using var arena = new Arena(bytes);
        Assert.Equal(bytes, arena.Size);
        Assert.Equal(0, arena.Pointer % Arena.Alignment);
        unsafe
        {
            var span = new Span<byte>((void*)arena.Pointer, (int)Math.Max(bytes, 1));
            span.Fill(0xAB);
            Assert.Equal(0xAB, span[^1]);
        }
    }

    [Fact]
    public void DisposedArenaHasNoPointerAndDisposeTwiceIsFine()
    {
        var arena = new Arena(64);
        arena.Dispose();
        arena.Dispose();
        Assert.True(arena.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => arena.Pointer);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Arena(-1));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("4", 4)]
    [InlineData(" 3 ", 3)]
    [InlineData("0", null)]
    [InlineData("-2", null)]
    [InlineData("many", null)]
    public void GcNumThreadsIsReadAsAPositiveInteger(string? value, int? expected) =>
        Assert.Equal(expected, RuntimeThreads.FromEnvironment(value));

    [Fact]
    public void AnExplicitThreadCountWinsAndTheDefaultIsPositive()
    {
        Assert.Equal(3, RuntimeThreads.Resolve(3));
        var fallback = RuntimeThreads.FromEnvironment(Environment.GetEnvironmentVariable(RuntimeThreads.EnvironmentVariable)) ?? Environment.ProcessorCount;
        Assert.Equal(fallback, RuntimeThreads.Resolve(0));
        Assert.Equal(fallback, RuntimeThreads.Resolve(-1));
    }

    [Fact]
    public void DTypesMatchTheIrElementTypes()
    {
        foreach (var e in Enum.GetValues<ElementType>())
        {
            var d = e.ToDType();
            Assert.Equal(e.Name(), d.Name());
            Assert.Equal(e.ByteSize(), d.Size());
            Assert.Equal(d, DTypes.Parse(d.Name()));
        }
        Assert.Null(DTypes.Parse("f128"));
    }

    [Fact]
    public void DescriptorsCompareShapesByValueAndKnowTheirSize()
    {
        var a = new TensorDescriptor("x", DType.F32, [2, 4]);
        var b = new TensorDescriptor("x", DType.F32, [.. new long[] { 2, 4 }]);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, b with { Shape = [4, 2] });
        Assert.NotEqual(a, b with { UpdatedInPlace = true });
        Assert.Equal(8, a.ElementCount);
        Assert.Equal(32, a.ByteSize);
        Assert.Equal(1, new TensorDescriptor("s", DType.Bool, []).ByteSize);
        Assert.Equal("x: f32[2,4]", a.ToString());
    }

    [Fact]
    public void StatusZeroIsOkAndEveryOtherCodeIsAnError()
    {
        Assert.True(RuntimeStatuses.IsOk(0));
        Assert.False(RuntimeStatuses.IsOk(1));
        Assert.False(RuntimeStatuses.IsOk(-7));
        Assert.Equal("compiled code returned error 42", new RuntimeException(42).Message);
        Assert.Contains("out of memory", RuntimeStatuses.Describe((int)RuntimeStatus.OutOfMemory));
    }
}
