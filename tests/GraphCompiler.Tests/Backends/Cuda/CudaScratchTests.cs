using GraphCompiler.Backends.Cuda;

using Xunit;

namespace GraphCompiler.Tests.Backends.Cuda;

public sealed class CudaScratchTests
{
    [Fact]
    public void Dump()
    {
        var dir = Environment.GetEnvironmentVariable("GC_CUDA_SCRATCH");
        if (dir is null) return;
        foreach (var file in Directory.GetFiles(dir, "*.ir"))
        {
            var m = IrTest.Parse(File.ReadAllText(file));
            var p = CudaCompiler.Generate(m);
            if (!p.Ok) { File.WriteAllText(file + ".err", string.Join("\n", p.Diagnostics)); continue; }
            File.WriteAllText(file + ".ptx", p.Value!.Ptx);
            File.WriteAllText(file + ".dev.ll", p.Value!.DeviceIr);
            File.WriteAllText(file + ".host.ll", p.Value!.HostIr.Length > 200000 ? p.Value!.HostIr[..200000] : p.Value!.HostIr);
        }
    }
}
