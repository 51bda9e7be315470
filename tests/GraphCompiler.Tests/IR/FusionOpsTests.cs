namespace GraphCompiler.Tests.IR;

/// <summary>fusion: result types from the body, self-containment, kind rules, interpreter semantics.</summary>
public sealed class FusionOpsTests
{
    private const string TwoOutputs = """
        func @main(%x: tensor<2x3xf32>, %b: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<2xf32>) {
          %r0, %r1 = fusion %x, %b {kind = reduction} : tensor<2x3xf32>, tensor<2xf32>
            body(%a0: tensor<2x3xf32>, %a1: tensor<3xf32>) {
              %bb = broadcast_in_dim %a1 {dims = [1]} : tensor<2x3xf32>
              %s = add %a0, %bb : tensor<2x3xf32>
              %r = reduce %s {kind = sum, dims = [1]} : tensor<2xf32>
              yield %s, %r
            }
          return %r0, %r1
        }
        """;

    [Fact]
    public void RunsTheBodyAndYieldsSeveralResults()
    {
        var r = IrTest.Run(TwoOutputs, T.F32([2, 3], 1, 2, 3, 4, 5, 6), T.F32([3], 10, 20, 30));
        IrTest.AssertTensor(T.F32([2, 3], 11, 22, 33, 14, 25, 36), r[0]);
        IrTest.AssertTensor(T.F32([2], 66, 75), r[1]);
    }

    [Fact]
    public void ResultTypesAreTheYieldedTypes()
    {
        var m = IrTest.Parse(TwoOutputs);
        var fusion = m.Entry.Body.Operations[0];
        Assert.Equal("fusion", fusion.Name);
        Assert.True(fusion.ResultTypes.SequenceEqual([new TensorType(ElementType.F32, 2, 3), new TensorType(ElementType.F32, 2)]));
    }

    [Fact]
    public void OutputFusionRunsTheContractionAndEpilogue()
    {
        const string text = """
            func @main(%x: tensor<2x2xf32>, %w: tensor<2x2xf32>) -> (tensor<2x2xf32>) {
              %r = fusion %x, %w {kind = output} : tensor<2x2xf32>
                body(%a: tensor<2x2xf32>, %b: tensor<2x2xf32>) {
                  %d = dot_general %a, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<2x2xf32>
                  %z = constant {value = dense<0.0>} : tensor<2x2xf32>
                  %m = max %d, %z : tensor<2x2xf32>
                  yield %m
                }
              return %r
            }
            """;
        var r = IrTest.Run(text, T.F32([2, 2], 1, -2, 3, 4), T.F32([2, 2], 1, 0, 0, 1));
        IrTest.AssertTensor(T.F32([2, 2], 1, 0, 3, 4), r[0]);
    }

    [Fact]
    public void RejectsACapturedOuterValue()
    {
        const string text = """
            func @main(%x: tensor<2xf32>, %y: tensor<2xf32>) -> (tensor<2xf32>) {
              %r = fusion %x {kind = loop} : tensor<2xf32>
                body(%a: tensor<2xf32>) {
                  %s = add %a, %y : tensor<2xf32>
                  yield %s
                }
              return %r
            }
            """;
        IrTest.Rejects(text, "body op #0 ('add') reads operand #1 from outside the fusion; a fused kernel is self-contained");
    }

    [Fact]
    public void RejectsArgumentTypesThatDifferFromTheOperands()
    {
        const string text = """
            func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {
              %r = fusion %x {kind = loop} : tensor<2xf32>
                body(%a: tensor<3xf32>) {
                  %s = neg %a : tensor<3xf32>
                  yield %s
                }
              return %r
            }
            """;
        IrTest.Rejects(text, "region 'body' takes (tensor<3xf32>), expected (tensor<2xf32>)");
    }

    [Fact]
    public void RejectsOpsWithRegions()
    {
        const string text = """
            func @main(%p: tensor<bool>, %x: tensor<2xf32>) -> (tensor<2xf32>) {
              %r = fusion %p, %x {kind = loop} : tensor<2xf32>
                body(%ap: tensor<bool>, %ax: tensor<2xf32>) {
                  %i = if %ap : tensor<2xf32>
                    then() {
                      yield %ax
                    }
                    else() {
                      yield %ax
                    }
                  yield %i
                }
              return %r
            }
            """;
        IrTest.Rejects(text, "body op #0 ('if') has regions");
    }

    [Fact]
    public void RejectsAnUnfusibleOp()
    {
        const string text = """
            func @main(%x: tensor<4xf32>) -> (tensor<4xf32>) {
              %r = fusion %x {kind = loop} : tensor<4xf32>
                body(%a: tensor<4xf32>) {
                  %v, %i = sort %a {dimension = 0} : tensor<4xf32>, tensor<4xi64>
                  yield %v
                }
              return %r
            }
            """;
        IrTest.Rejects(text, "body op #0 ('sort') cannot be fused");
    }

    [Fact]
    public void KindIsVerified()
    {
        IrTest.Rejects(TwoOutputs.Replace("kind = reduction", "kind = loop"), "kind loop allows only loop ops, the body has 1 reduce(s)");
        IrTest.Rejects(TwoOutputs.Replace("kind = reduction", "kind = output"), "kind output needs exactly one dot_general or convolution");
        const string noReduce = """
            func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {
              %r = fusion %x {kind = reduction} : tensor<2xf32>
                body(%a: tensor<2xf32>) {
                  %s = neg %a : tensor<2xf32>
                  yield %s
                }
              return %r
            }
            """;
        IrTest.Rejects(noReduce, "kind reduction needs at least one reduce");
    }

    [Fact]
    public void RejectsAContractionOperandComputedInTheBody()
    {
        const string text = """
            func @main(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>) {
              %r = fusion %x {kind = output} : tensor<2x2xf32>
                body(%a: tensor<2x2xf32>) {
                  %n = neg %a : tensor<2x2xf32>
                  %d = dot_general %n, %a {lhs_contract = [1], rhs_contract = [0]} : tensor<2x2xf32>
                  yield %d
                }
              return %r
            }
            """;
        IrTest.Rejects(text, "the operands of an output fusion's contraction must be body arguments");
    }

    [Fact]
    public void AcceptsAConvolutionInputComputedInTheBodyButNotItsKernel()
    {
        // A pointwise convolution's input computed by the loop ops before it (fuse's ComputedConvolutionInputs); its kernel must come in whole.
        const string body = """
            func @main(%x: tensor<1x4x2x3xf32>, %k: tensor<1x1x4x5xf32>) -> (tensor<1x2x3x5xf32>) {
              %r = fusion %x, %k {kind = output} : tensor<1x2x3x5xf32>
                body(%a: tensor<1x4x2x3xf32>, %w: tensor<1x1x4x5xf32>) {
                  %n = neg %a : tensor<1x4x2x3xf32>
                  %t = transpose %n {perm = [0, 2, 3, 1]} : tensor<1x2x3x4xf32>
                  %KERNEL
                  %c = convolution %t, KW {dims = "b01f_01io->b01f"} : tensor<1x2x3x5xf32>
                  yield %c
                }
              return %r
            }
            """;
        const string unfused = """
            func @main(%x: tensor<1x4x2x3xf32>, %k: tensor<1x1x4x5xf32>) -> (tensor<1x2x3x5xf32>) {
              %n = neg %x : tensor<1x4x2x3xf32>
              %t = transpose %n {perm = [0, 2, 3, 1]} : tensor<1x2x3x4xf32>
              %c = convolution %t, %k {dims = "b01f_01io->b01f"} : tensor<1x2x3x5xf32>
              return %c
            }
            """;
        var x = Tensor.FromDoubles(new TensorType(ElementType.F32, 1, 4, 2, 3), [.. Enumerable.Range(0, 24).Select(i => i * 0.25 - 3)]);
        var k = Tensor.FromDoubles(new TensorType(ElementType.F32, 1, 1, 4, 5), [.. Enumerable.Range(0, 20).Select(i => (i % 7) * 0.5 - 1)]);
        IrTest.AssertTensor(IrTest.Run(unfused, x, k)[0], IrTest.Run(body.Replace("%KERNEL", "").Replace("KW", "%w"), x, k)[0], rtol: 0, atol: 0);
        IrTest.Rejects(body.Replace("%KERNEL", "%v = neg %w : tensor<1x1x4x5xf32>").Replace("KW", "%v"),
            "the operands of an output fusion's contraction must be body arguments");
    }
}
