using GraphCompiler.Backends.Cuda;
using Xunit;
using static GraphCompiler.Tests.Backends.Cuda.CudaEmulatorTests;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>How the generated runtime reports what the driver refuses, on the emulated driver.</summary>
[Collection(CudaDriverCollection.Name)]
public sealed class CudaDriverErrorTests
{
    /// <summary>
    /// A module the driver's PTX assembler rejects fails the run with CUDA_ERROR_INVALID_PTX and the assembler's log after
    /// it, its line breaks as spaces and the trailing one dropped: the line and the reason a first run on a new GPU needs,
    /// where cuModuleLoadData gave only the error's name.
    /// </summary>
    [CudaEmulatorFact]
    public void PtxTheAssemblerRejectsFailsWithItsLog()
    {
        var placed = PlaceOnGpu("""
            func @main(%x: tensor<64xf32>) -> (tensor<64xf32>) {
              %y = exp %x : tensor<64xf32>
              return %y
            }
            """);
        const string log = "ptxas application ptx input, line 563; error   : Arguments mismatch for instruction 'wgmma'\nptxas fatal   : Ptx assembly aborted due to errors\n";
        using (CudaEmulator.AsDriver())
        using (CudaEmulator.RejectPtx(log))
        {
            using var exe = CudaCompiler.Jit(placed, Options).Unwrap();
            var run = exe.Run(RandomInputs(placed.Entry, 1));
            Assert.False(run.Ok);
            var message = string.Join("\n", run.Diagnostics);
            Assert.Contains("loading the PTX (cuModuleLoadDataEx) failed: CUDA_ERROR_INVALID_PTX (CUresult 218): ptxas application ptx input, line 563; " +
                "error   : Arguments mismatch for instruction 'wgmma' ptxas fatal   : Ptx assembly aborted due to errors", message);
            Assert.DoesNotContain("errors ", message[message.IndexOf("aborted", StringComparison.Ordinal)..]);
        }
    }
}
