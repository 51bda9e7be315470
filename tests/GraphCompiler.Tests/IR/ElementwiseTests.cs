namespace GraphCompiler.Tests.IR;

public sealed class ElementwiseTests
{
    [Fact]
    public void AddTwoVectors()
    {
        var r = IrTest.Run("""
            func @main(%x: tensor<3xf32>, %y: tensor<3xf32>) -> (tensor<3xf32>) {
              %0 = add %x, %y : tensor<3xf32>
              return %0
            }
            """, T.F32([3], 1, 2, 3), T.F32([3], 10, 20, 30));
        IrTest.AssertTensor(T.F32([3], 11, 22, 33), r[0]);
    }
}
