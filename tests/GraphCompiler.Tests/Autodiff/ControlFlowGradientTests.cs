using GraphCompiler.Backends.Cpu;
using GraphCompiler.IR.Autodiff;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Autodiff;

/// <summary>
/// The control-flow rules (if, case, while with a static trip count) against central finite differences
/// (<see cref="GradientCheck"/>), the error for a loop without a static trip count, and one loop gradient
/// compiled by the CPU backend against the interpreter.
/// </summary>
public sealed class ControlFlowGradientTests
{
    private static Tensor F64(int seed, params long[] shape) =>
        GradientCheck.RandomTensor(new TensorType(ElementType.F64, shape), new Random(seed), -1, 1);

    /// <summary>Both outcomes; the then branch reads the captured %w, the else branch only %x, and %x is also read after the if.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IfWithCapturedValues(bool p) =>
        GradientCheck.Check("""
            func @main(%p: tensor<bool>, %x: tensor<3xf64>, %w: tensor<3xf64>) -> (tensor<3xf64>) {
              %r = if %p : tensor<3xf64>
                then() {
                  %t = mul %x, %w : tensor<3xf64>
                  %s = sin %t : tensor<3xf64>
                  yield %s
                }
                else() {
                  %e = exp %x : tensor<3xf64>
                  yield %e
                }
              %o = mul %r, %x : tensor<3xf64>
              return %o
            }
            """, wrt: [1, 2], inputs: [T.Bool([], p), F64(1, 3), F64(2, 3)]);

    /// <summary>Each branch, and an out-of-range index running the last one; one branch yields a capture unchanged.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void Case(int index) =>
        GradientCheck.Check("""
            func @main(%i: tensor<i32>, %x: tensor<3xf64>, %w: tensor<3xf64>) -> (tensor<3xf64>) {
              %r = case %i : tensor<3xf64>
                branch() {
                  %t = mul %x, %w : tensor<3xf64>
                  yield %t
                }
                branch() {
                  yield %w
                }
                branch() {
                  %t = tanh %x : tensor<3xf64>
                  yield %t
                }
              return %r
            }
            """, wrt: [1, 2], inputs: [T.I32(index), F64(1, 3), F64(2, 3)]);

    /// <summary>x ← tanh(W·x), 3 times (W·x as broadcast, multiply and row sums); W is captured by the body.</summary>
    private const string TanhLoop = """
        func @main(%w: tensor<3x3xT>, %x: tensor<3xT>) -> (tensor<3xT>) {
          %zero = constant {value = dense<0>} : tensor<i64>
          %n = constant {value = dense<3>} : tensor<i64>
          %i, %y = while %zero, %x : tensor<i64>, tensor<3xT>
            cond(%ci: tensor<i64>, %cy: tensor<3xT>) {
              %p = compare %ci, %n {direction = lt} : tensor<bool>
              yield %p
            }
            body(%bi: tensor<i64>, %by: tensor<3xT>) {
              %one = constant {value = dense<1>} : tensor<i64>
              %next = add %bi, %one : tensor<i64>
              %xb = broadcast_in_dim %by {dims = [1]} : tensor<3x3xT>
              %m = mul %w, %xb : tensor<3x3xT>
              %s = reduce %m {kind = sum, dims = [1]} : tensor<3xT>
              %t = tanh %s : tensor<3xT>
              yield %next, %t
            }
          return %y
        }
        """;

    [Fact]
    public void WhileTanhOfMatrixTimesVector() => GradientCheck.Check(TanhLoop.Replace("xT>", "xf64>").Replace("<T>", "<f64>"));

    /// <summary>
    /// A body that reads its counter (row i of W by dynamic_slice), a loop-invariant carried value, and a
    /// counter that starts at 1 and steps by 2 up to 6 (3 trips), compared as N > counter.
    /// </summary>
    [Fact]
    public void WhileReadingTheCounter() =>
        GradientCheck.Check("""
            func @main(%w: tensor<6x2xf64>, %x: tensor<2xf64>, %c: tensor<2xf64>) -> (tensor<2xf64>) {
              %start = constant {value = dense<1>} : tensor<i32>
              %n = constant {value = dense<6>} : tensor<i32>
              %two = constant {value = dense<2>} : tensor<i32>
              %i, %y, %k = while %start, %x, %c : tensor<i32>, tensor<2xf64>, tensor<2xf64>
                cond(%ci: tensor<i32>, %cy: tensor<2xf64>, %ck: tensor<2xf64>) {
                  %p = compare %n, %ci {direction = gt} : tensor<bool>
                  yield %p
                }
                body(%bi: tensor<i32>, %by: tensor<2xf64>, %bk: tensor<2xf64>) {
                  %z = constant {value = dense<0>} : tensor<i32>
                  %next = add %two, %bi : tensor<i32>
                  %row = dynamic_slice %w, %bi, %z {sizes = [1, 2]} : tensor<1x2xf64>
                  %r = reshape %row : tensor<2xf64>
                  %a = mul %by, %r : tensor<2xf64>
                  %s = sin %by : tensor<2xf64>
                  %b = add %a, %s : tensor<2xf64>
                  %d = mul %b, %bk : tensor<2xf64>
                  yield %next, %d, %bk
                }
              return %y
            }
            """);

    /// <summary>
    /// Nesting: an if on the counter's parity inside the loop body, and the loop inside an if branch, whose
    /// bound is defined in that branch; the rules run again on the recomputed copies.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WhileAndIfNested(bool p) =>
        GradientCheck.Check("""
            func @main(%p: tensor<bool>, %x: tensor<2xf64>, %w: tensor<2xf64>) -> (tensor<2xf64>) {
              %r = if %p : tensor<2xf64>
                then() {
                  %zero = constant {value = dense<0>} : tensor<i64>
                  %n = constant {value = dense<4>} : tensor<i64>
                  %i, %y = while %zero, %x : tensor<i64>, tensor<2xf64>
                    cond(%ci: tensor<i64>, %cy: tensor<2xf64>) {
                      %c = compare %ci, %n {direction = lt} : tensor<bool>
                      yield %c
                    }
                    body(%bi: tensor<i64>, %by: tensor<2xf64>) {
                      %one = constant {value = dense<1>} : tensor<i64>
                      %two = constant {value = dense<2>} : tensor<i64>
                      %next = add %bi, %one : tensor<i64>
                      %m = rem %bi, %two : tensor<i64>
                      %odd = compare %m, %one {direction = eq} : tensor<bool>
                      %t = if %odd : tensor<2xf64>
                        then() {
                          %a = mul %by, %w : tensor<2xf64>
                          %s = sin %a : tensor<2xf64>
                          yield %s
                        }
                        else() {
                          %s = tanh %by : tensor<2xf64>
                          %a = add %s, %w : tensor<2xf64>
                          yield %a
                        }
                      yield %next, %t
                    }
                  yield %y
                }
                else() {
                  %e = mul %x, %w : tensor<2xf64>
                  yield %e
                }
              return %r
            }
            """, wrt: [1, 2], inputs: [T.Bool([], p), F64(1, 2), F64(2, 2)]);

    /// <summary>A loop that runs no iteration (counter 5, bound le 2) passes the cotangent straight through.</summary>
    [Fact]
    public void WhileWithNoTrips() =>
        GradientCheck.Check("""
            func @main(%x: tensor<3xf64>) -> (tensor<3xf64>) {
              %start = constant {value = dense<5>} : tensor<i64>
              %n = constant {value = dense<2>} : tensor<i64>
              %i, %y = while %start, %x : tensor<i64>, tensor<3xf64>
                cond(%ci: tensor<i64>, %cy: tensor<3xf64>) {
                  %p = compare %ci, %n {direction = le} : tensor<bool>
                  yield %p
                }
                body(%bi: tensor<i64>, %by: tensor<3xf64>) {
                  %one = constant {value = dense<1>} : tensor<i64>
                  %next = add %bi, %one : tensor<i64>
                  %t = tanh %by : tensor<3xf64>
                  yield %next, %t
                }
              %o = mul %y, %y : tensor<3xf64>
              return %o
            }
            """);

    [Fact]
    public void WhileWithoutStaticTripCountIsAClearError()
    {
        const string ir = """
            func @main(%x: tensor<3xf64>, %n: tensor<i64>) -> (tensor<3xf64>) {
              %zero = constant {value = dense<0>} : tensor<i64>
              %i, %y = while %zero, %x : tensor<i64>, tensor<3xf64>
                cond(%ci: tensor<i64>, %cy: tensor<3xf64>) {
                  %p = compare %ci, %n {direction = lt} : tensor<bool>
                  yield %p
                }
                body(%bi: tensor<i64>, %by: tensor<3xf64>) {
                  %one = constant {value = dense<1>} : tensor<i64>
                  %next = add %bi, %one : tensor<i64>
                  %t = tanh %by : tensor<3xf64>
                  yield %next, %t
                }
              return %y
            }
            """;
        var e = Assert.Throws<IrException>(() => Gradients.Differentiate(IrTest.Parse(ir).Entry, 0, [0]));
        Assert.Contains("while loop needs a static trip count to differentiate", e.Message);
    }

    /// <summary>The loop gradient (f32) through the default pipeline and the CPU backend gives the interpreter's numbers.</summary>
    [Fact]
    public void WhileGradientCompilesOnCpu()
    {
        var f = IrTest.Parse(TanhLoop.Replace("xT>", "xf32>").Replace("<T>", "<f32>")).Entry;
        var m = new Module([Gradients.Differentiate(f, 0, [0, 1], "main")]);
        var rng = new Random(5);
        Tensor[] inputs = [.. f.ArgumentTypes.Select(t => GradientCheck.RandomTensor(t, rng, -1, 1))];
        Assert.Equal(3, Backends.CpuDifferentialTests.AssertSame(m, inputs).Count);
    }
}
