using System.Runtime.InteropServices;
using GraphCompiler.Runtime;

namespace GraphCompiler.Backends.Llvm;

/// <summary>
/// Caller arrays bound to a <see cref="NativeExecutable"/>'s inputs and outputs, pinned once, so that
/// <see cref="Run"/> does no managed allocation: bind every input and output (by position or name), then
/// call <see cref="Run"/> as often as needed, changing the arrays' contents in between. Variables that
/// the function updates (<see cref="TensorDescriptor.UpdatedInPlace"/>) are written into their bound
/// array. Rebinding replaces (and unpins) the previous array. Dispose to unpin. Not thread-safe.
/// </summary>
public sealed class IoBinding : IDisposable
{
    private readonly NativeExecutable _executable;
    private readonly nint[] _inputs, _outputs;          // pinned: their addresses go to native code
    private readonly GCHandle[] _inputHandles, _outputHandles;

    internal IoBinding(NativeExecutable executable)
    {
        _executable = executable;
        _inputs = GC.AllocateArray<nint>(executable.Inputs.Count, pinned: true);
        _outputs = GC.AllocateArray<nint>(executable.Outputs.Count, pinned: true);
        _inputHandles = new GCHandle[_inputs.Length];
        _outputHandles = new GCHandle[_outputs.Length];
    }

    /// <summary>Binds input <paramref name="index"/> to <paramref name="array"/> (length and element size checked; pinned until rebound or disposed).</summary>
    public IoBinding BindInput<T>(int index, T[] array) where T : unmanaged =>
        Bind(_executable.Inputs, _inputs, _inputHandles, index, array, "input");

    public IoBinding BindInput<T>(string name, T[] array) where T : unmanaged =>
        BindInput(IndexOf(_executable.Inputs, name, "input"), array);

    /// <summary>Binds output <paramref name="index"/> to <paramref name="array"/>: each <see cref="Run"/> overwrites it.</summary>
    public IoBinding BindOutput<T>(int index, T[] array) where T : unmanaged =>
        Bind(_executable.Outputs, _outputs, _outputHandles, index, array, "output");

    public IoBinding BindOutput<T>(string name, T[] array) where T : unmanaged =>
        BindOutput(IndexOf(_executable.Outputs, name, "output"), array);

    /// <summary>True when every input and output with a nonzero size is bound.</summary>
    public bool IsComplete => Complete(_executable.Inputs, _inputs) && Complete(_executable.Outputs, _outputs);

    /// <summary>Runs on the bound arrays. No managed allocation; throws <see cref="RuntimeException"/> when the compiled code fails.</summary>
    public void Run()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!IsComplete) throw new InvalidOperationException($"bind every input and output before Run (unbound: {string.Join(", ", Unbound())})");
        _executable.Run(_inputs, _outputs);
    }

    internal static void CheckLength<T>(TensorDescriptor d, string what, int length) where T : unmanaged
    {
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (size != d.DType.Size() || length != d.ElementCount)
            throw new ArgumentException($"{what} '{d.Name}' is {d.DType.Name()}{ShapeText(d)} ({d.ElementCount} elements of {d.DType.Size()} bytes), got {length} elements of {typeof(T).Name} ({size} bytes)");
    }

    private static string ShapeText(TensorDescriptor d) => "[" + string.Join(",", d.Shape) + "]";

    private IoBinding Bind<T>(IReadOnlyList<TensorDescriptor> descriptors, nint[] pointers, GCHandle[] handles, int index, T[] array, string what) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(array);
        if ((uint)index >= (uint)descriptors.Count)
            throw new ArgumentOutOfRangeException(nameof(index), $"there are {descriptors.Count} {what}s, no {what} {index}");
        CheckLength<T>(descriptors[index], what, array.Length);
        if (handles[index].IsAllocated) handles[index].Free();
        handles[index] = GCHandle.Alloc(array, GCHandleType.Pinned);
        pointers[index] = handles[index].AddrOfPinnedObject();
        return this;
    }

    private static int IndexOf(IReadOnlyList<TensorDescriptor> descriptors, string name, string what)
    {
        for (int i = 0; i < descriptors.Count; i++)
            if (descriptors[i].Name == name) return i;
        throw new ArgumentException($"no {what} named '{name}' (there are: {string.Join(", ", descriptors.Select(d => d.Name))})");
    }

    private static bool Complete(IReadOnlyList<TensorDescriptor> descriptors, nint[] pointers)
    {
        for (int i = 0; i < pointers.Length; i++)
            if (pointers[i] == 0 && descriptors[i].ByteSize > 0) return false;
        return true;
    }

    private IEnumerable<string> Unbound() =>
        _executable.Inputs.Where((d, i) => _inputs[i] == 0 && d.ByteSize > 0).Select(d => "input " + d.Name)
            .Concat(_executable.Outputs.Where((d, i) => _outputs[i] == 0 && d.ByteSize > 0).Select(d => "output " + d.Name));

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var h in _inputHandles.Concat(_outputHandles))
            if (h.IsAllocated) h.Free();
        Array.Clear(_inputs);
        Array.Clear(_outputs);
    }
}
