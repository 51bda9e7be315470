namespace GraphCompiler.Tests.IR;

public sealed class ControlFlowTests
{
    private const string Factorial = """
        func @main(%n: tensor<i64>) -> (tensor<i64>) {
          %one = constant {value = dense<1>} : tensor<i64>
          %i, %acc = while %one, %one : tensor<i64>, tensor<i64>
            cond(%ci: tensor<i64>, %ca: tensor<i64>) {
              %p = compare %ci, %n {direction = le} : tensor<bool>
              yield %p
            }
            body(%bi: tensor<i64>, %ba: tensor<i64>) {
              %next = add %bi, %one : tensor<i64>
              %prod = mul %ba, %bi : tensor<i64>
              yield %next, %prod
            }
          return %acc
        }
        """;

    [Fact]
    public void WhileComputesFactorialReadingOuterValues()
    {
        IrTest.AssertTensor(T.I64(120), IrTest.Run(Factorial, T.I64(5))[0]);
        IrTest.AssertTensor(T.I64(1), IrTest.Run(Factorial, T.I64(0))[0]);
    }

    [Fact]
    public void IfRunsOneBranch()
    {
        const string text = """
            func @main(%p: tensor<bool>, %x: tensor<2xf32>) -> (tensor<2xf32>) {
              %r = if %p : tensor<2xf32>
                then() {
                  %n = neg %x : tensor<2xf32>
                  yield %n
                }
                else() {
                  %d = add %x, %x : tensor<2xf32>
                  yield %d
                }
              return %r
            }
            """;
        IrTest.AssertTensor(T.F32([2], -1, -2), IrTest.Run(text, T.Bool([], true), T.F32([2], 1, 2))[0]);
        IrTest.AssertTensor(T.F32([2], 2, 4), IrTest.Run(text, T.Bool([], false), T.F32([2], 1, 2))[0]);
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(1, 20)]
    [InlineData(2, 30)]
    [InlineData(7, 30)]
    [InlineData(-1, 30)]
    public void CaseOutOfRangeRunsTheLastBranch(int index, int expected)
    {
        const string text = """
            func @main(%i: tensor<i32>) -> (tensor<i32>) {
              %r = case %i : tensor<i32>
                branch() {
                  %a = constant {value = dense<10>} : tensor<i32>
                  yield %a
                }
                branch() {
                  %b = constant {value = dense<20>} : tensor<i32>
                  yield %b
                }
                branch() {
                  %c = constant {value = dense<30>} : tensor<i32>
                  yield %c
                }
              return %r
            }
            """;
        IrTest.AssertTensor(T.I32(expected), IrTest.Run(text, T.I32(index))[0]);
    }

    [Fact]
    public void CallRunsAnotherFunction()
    {
        const string text = """
            func @square(%a: tensor<3xf32>) -> (tensor<3xf32>) {
              %0 = mul %a, %a : tensor<3xf32>
              return %0
            }

            func @main(%x: tensor<3xf32>) -> (tensor<3xf32>) {
              %0 = call %x {callee = @square} : tensor<3xf32>
              %1 = call %0 {callee = @square} : tensor<3xf32>
              return %1
            }
            """;
        IrTest.AssertTensor(T.F32([3], 1, 16, 81), IrTest.Run(text, T.F32([3], 1, 2, 3))[0]);
    }

    [Fact]
    public void VariableUpdatesAreReported()
    {
        const string text = """
            func @main(%w: tensor<2xf32> {name = "w", variable}, %g: tensor<2xf32> {name = "g"}) -> (tensor<2xf32> {updates = %w}) {
              %0 = sub %w, %g : tensor<2xf32>
              return %0
            }
            """;
        var m = IrTest.Parse(text);
        var r = new Interpreter(m).Run(null, [T.F32([2], 5, 5), T.F32([2], 1, 2)]);
        Assert.True(r.Ok);
        IrTest.AssertTensor(T.F32([2], 4, 3), r.Value!.VariableUpdates[0]);
    }

    [Fact]
    public void InfiniteLoopIsReportedNotHung()
    {
        const string text = """
            func @main(%x: tensor<i32>) -> (tensor<i32>) {
              %t = constant {value = dense<true>} : tensor<bool>
              %r = while %x : tensor<i32>
                cond(%c: tensor<i32>) {
                  yield %t
                }
                body(%b: tensor<i32>) {
                  yield %b
                }
              return %r
            }
            """;
        var r = new Interpreter(IrTest.Parse(text), new InterpreterOptions { MaxLoopIterations = 1000 }).Run(null, [T.I32(0)]);
        Assert.False(r.Ok);
        Assert.Contains("loop ran more than 1000 iterations", r.Diagnostics[0].Message);
    }

    [Fact]
    public void RejectsBodyYieldingWrongTypes() =>
        IrTest.Rejects("""
            func @main(%x: tensor<i32>) -> (tensor<i32>) {
              %r = while %x : tensor<i32>
                cond(%c: tensor<i32>) {
                  %p = compare %c, %c {direction = eq} : tensor<bool>
                  yield %p
                }
                body(%b: tensor<i32>) {
                  %f = convert %b : tensor<f32>
                  yield %f
                }
              return %r
            }
            """, "body yields (tensor<f32>) but the loop carries (tensor<i32>)");

    [Fact]
    public void RejectsBranchesYieldingDifferentTypes() =>
        IrTest.Rejects("""
            func @main(%p: tensor<bool>, %x: tensor<f32>, %y: tensor<i32>) -> (tensor<f32>) {
              %r = if %p : tensor<f32>
                then() {
                  yield %x
                }
                else() {
                  yield %y
                }
              return %r
            }
            """, "else yields (tensor<i32>), then yields (tensor<f32>)");

    [Fact]
    public void RejectsCallWithWrongArguments() =>
        IrTest.Rejects("""
            func @f(%a: tensor<2xf32>) -> (tensor<2xf32>) {
              return %a
            }

            func @main(%x: tensor<3xf32>) -> (tensor<2xf32>) {
              %0 = call %x {callee = @f} : tensor<2xf32>
              return %0
            }
            """, "@f takes (tensor<2xf32>), got (tensor<3xf32>)");

    [Fact]
    public void RejectsCallToUnknownFunctionAtRunTime()
    {
        var err = IrTest.RunError("""
            func @main(%x: tensor<f32>) -> (tensor<f32>) {
              %0 = call %x {callee = @nowhere} : tensor<f32>
              return %0
            }
            """, T.F32(1));
        Assert.Contains("unknown function @nowhere", err);
    }

    [Fact]
    public void RejectsUpdateOfNonVariable() =>
        IrTest.Rejects("""
            func @main(%w: tensor<2xf32>) -> (tensor<2xf32> {updates = %w}) {
              return %w
            }
            """, "result #0 updates argument #0, which is not a variable argument");

    [Fact]
    public void RejectsTerminatorInTheMiddle() =>
        IrTest.Rejects("""
            func @main(%x: tensor<f32>) -> (tensor<f32>) {
              return %x
              %0 = neg %x : tensor<f32>
              return %0
            }
            """, "a terminator must be the last op of its region");

    [Fact]
    public void RejectsRegionWithoutTerminator() =>
        IrTest.Rejects("""
            func @main(%p: tensor<bool>, %x: tensor<f32>) -> (tensor<f32>) {
              %r = if %p : tensor<f32>
                then() {
                  %a = neg %x : tensor<f32>
                }
                else() {
                  yield %x
                }
              return %r
            }
            """, "region does not end with 'yield'");

    [Fact]
    public void RejectsYieldInFunctionBody() =>
        IrTest.Rejects("func @main(%x: tensor<f32>) -> (tensor<f32>) {\n  yield %x\n}\n", "this region must end with 'return'");
}
