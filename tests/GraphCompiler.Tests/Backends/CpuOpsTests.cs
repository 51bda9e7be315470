using GraphCompiler.Backends.Cpu;
using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Backends;

/// <summary>
/// Whole-tensor ops (scatter, sort, top_k, determinant, matrix_inverse, rng) and control flow (while,
/// if, case, call) compiled by the CPU backend against the reference interpreter.
/// </summary>
public sealed class CpuOpsTests
{
    private static void Check(string text, Tensor[] inputs, double rtol = 0, double atol = 0)
    {
        var m = IrTest.Parse(text);
        var expected = new Interpreter(m).Run(null, inputs).Unwrap().Results;
        var optimised = PassManager.Run(m, PassRegistry.Default).Unwrap();
        using var exe = CpuCompiler.Jit(optimised).Unwrap();
        var actual = exe.Run(inputs).Unwrap();
        Assert.Equal(expected.Length, actual.Count);
        for (int i = 0; i < expected.Length; i++) IrTest.AssertTensor(expected[i], actual[i], rtol, atol);
    }

    /// <summary>
    /// A convert down to f16/bf16 rounds inside a kernel too (the kernel computes them in float), so a value converted
    /// down and back up in one fused loop loses what the narrow type cannot hold, exactly as the interpreter rounds.
    /// </summary>
    [Theory]
    [InlineData("f32", "f16")]
    [InlineData("f32", "bf16")]
    [InlineData("f64", "f16")]
    [InlineData("f64", "bf16")]
    [InlineData("f16", "bf16")]
    [InlineData("bf16", "f16")]
    public void ConvertingDownAndUpInOneKernelRounds(string wide, string narrow)
    {
        var text = $$"""
            func @main(%x: tensor<64x{{wide}}>) -> (tensor<64x{{wide}}>) {
              %a = convert %x : tensor<64x{{narrow}}>
              %b = convert %a : tensor<64x{{wide}}>
              return %b
            }
            """;
        var rng = new Random(5);
        var values = Enumerable.Range(0, 64).Select(i => (rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-20, 12))).ToArray();
        Assert.True(ElementTypes.TryParse(wide, out var type));
        var x = T.Of(type, [64], values);
        Check(text, [x]);
        Assert.Contains("fusion", GraphCompiler.IR.Text.Printer.Print(PassManager.Run(IrTest.Parse(text), PassRegistry.Default).Unwrap())); // one kernel
    }

    /// <summary>Random values with many ties (few distinct values), and NaN/±inf in floats when asked.</summary>
    private static Tensor Random(ElementType e, long[] shape, int seed, bool specials = false)
    {
        var rng = new Random(seed);
        long n = shape.Aggregate(1L, (p, d) => p * d);
        if (e.IsFloat())
        {
            var v = Enumerable.Range(0, (int)n).Select(_ => rng.Next(-4, 5) * 0.5).ToArray();
            if (specials)
                for (int i = 0; i < v.Length; i++)
                    v[i] = rng.Next(8) switch { 0 => double.NaN, 1 => double.PositiveInfinity, 2 => double.NegativeInfinity, 3 => -0.0, _ => v[i] };
            return T.Of(e, shape, v);
        }
        if (e == ElementType.Bool) return T.Bool(shape, [.. Enumerable.Range(0, (int)n).Select(_ => rng.Next(2) == 1)]);
        long lo = e.IsUnsignedInteger() ? 0 : -5;
        return T.Ints(e, shape, [.. Enumerable.Range(0, (int)n).Select(_ => rng.NextInt64(lo, 6))]);
    }

    [Theory]
    [InlineData("f32", new long[] { 7 }, 0, false)]
    [InlineData("f32", new long[] { 3, 9 }, 1, false)]
    [InlineData("f32", new long[] { 4, 5, 3 }, 1, true)]
    [InlineData("f64", new long[] { 33 }, 0, true)]
    [InlineData("f16", new long[] { 2, 17 }, 1, false)]
    [InlineData("i32", new long[] { 5, 6 }, 0, true)]
    [InlineData("u8", new long[] { 11 }, 0, true)]
    [InlineData("i64", new long[] { 0, 4 }, 1, false)]
    [InlineData("bool", new long[] { 9 }, 0, false)]
    public void SortMatchesTheInterpreter(string type, long[] shape, int dim, bool descending)
    {
        var e = Parse(type);
        var t = $"tensor<{string.Join("x", shape)}x{type}>";
        var it = $"tensor<{string.Join("x", shape)}xi64>";
        var text = $"func @main(%x: {t}) -> ({t}, {it}) {{\n  %v, %i = sort %x {{dimension = {dim}, descending = {(descending ? "true" : "false")}}} : {t}, {it}\n  return %v, %i\n}}\n";
        Check(text, [Random(e, shape, shape.Length + dim, specials: true)]);
    }

    [Theory]
    [InlineData("f32", new long[] { 10 }, 3, true)]
    [InlineData("f32", new long[] { 3, 8 }, 8, false)]
    [InlineData("f64", new long[] { 2, 3, 5 }, 2, true)]
    [InlineData("i32", new long[] { 4, 7 }, 0, true)]
    [InlineData("i16", new long[] { 13 }, 5, false)]
    public void TopKMatchesTheInterpreter(string type, long[] shape, int k, bool largest)
    {
        var e = Parse(type);
        var t = $"tensor<{string.Join("x", shape)}x{type}>";
        var outShape = string.Join("x", shape[..^1].Append(k));
        var (vt, it) = ($"tensor<{outShape}x{type}>", $"tensor<{outShape}xi64>");
        var text = $"func @main(%x: {t}) -> ({vt}, {it}) {{\n  %v, %i = top_k %x {{k = {k}, largest = {(largest ? "true" : "false")}}} : {vt}, {it}\n  return %v, %i\n}}\n";
        Check(text, [Random(e, shape, k, specials: true)]);
    }

    private static ElementType Parse(string type) => type switch
    {
        "f16" => ElementType.F16, "f32" => ElementType.F32, "f64" => ElementType.F64, "i16" => ElementType.I16,
        "i32" => ElementType.I32, "i64" => ElementType.I64, "u8" => ElementType.U8, _ => ElementType.Bool,
    };

    [Theory]
    [InlineData("replace")]
    [InlineData("add")]
    [InlineData("mul")]
    [InlineData("max")]
    [InlineData("min")]
    public void ScatterRowsWithDuplicatesAndOutOfBounds(string kind)
    {
        // Rows 1 and 1 again (duplicates accumulate in order), -1 and 4 (skipped whole).
        var text = $$"""
            func @main(%x: tensor<4x3xf32>, %i: tensor<5x1xi32>, %u: tensor<5x3xf32>) -> (tensor<4x3xf32>) {
              %r = scatter %x, %i, %u {index_vector_dim = 1, inserted_window_dims = [0], kind = {{kind}}, scatter_dims_to_operand_dims = [0], update_window_dims = [1]} : tensor<4x3xf32>
              return %r
            }
            """;
        Check(text, [Random(ElementType.F32, [4, 3], 1), T.I32([5, 1], 1, 1, -1, 4, 3), Random(ElementType.F32, [5, 3], 2, specials: kind == "max")]);
    }

    [Fact]
    public void ScatterWindowsIntegersAndBatching()
    {
        // 2-element windows at column starts; start 2 of a width-3 row with window 2 is out of bounds.
        var windows = """
            func @main(%x: tensor<3x4xi32>, %i: tensor<3x2xi64>, %u: tensor<3x2xi32>) -> (tensor<3x4xi32>) {
              %r = scatter %x, %i, %u {index_vector_dim = 1, inserted_window_dims = [0], kind = add, scatter_dims_to_operand_dims = [0, 1], update_window_dims = [1]} : tensor<3x4xi32>
              return %r
            }
            """;
        Check(windows, [Random(ElementType.I32, [3, 4], 3), T.I64([3, 2], 0, 1, 2, 2, 1, 3), Random(ElementType.I32, [3, 2], 4)]);
        var batched = """
            func @main(%x: tensor<2x5xf64>, %i: tensor<2x3xi32>, %u: tensor<2x3xf64>) -> (tensor<2x5xf64>) {
              %r = scatter %x, %i, %u {index_vector_dim = 2, input_batching_dims = [0], inserted_window_dims = [1], kind = add, scatter_dims_to_operand_dims = [1], scatter_indices_batching_dims = [0], update_window_dims = []} : tensor<2x5xf64>
              return %r
            }
            """;
        Check(batched, [Random(ElementType.F64, [2, 5], 5), T.I32([2, 3], 0, 4, 0, 2, 2, 7), Random(ElementType.F64, [2, 3], 6)]);
    }

    [Theory]
    [InlineData("f32", new long[] { 3, 3 })]
    [InlineData("f64", new long[] { 2, 5, 5 })]
    [InlineData("f32", new long[] { 1, 1 })]
    [InlineData("f64", new long[] { 0, 0 })]
    [InlineData("f64", new long[] { 2, 4, 4 })]
    public void DeterminantAndInverseMatchTheInterpreter(string type, long[] shape)
    {
        var t = $"tensor<{string.Join("x", shape)}x{type}>";
        var dt = shape.Length == 2 ? $"tensor<{type}>" : $"tensor<{string.Join("x", shape[..^2])}x{type}>";
        var text = $"func @main(%x: {t}) -> ({dt}, {t}) {{\n  %d = determinant %x : {dt}\n  %v = matrix_inverse %x : {t}\n  return %d, %v\n}}\n";
        var rng = new Random(shape.Length);
        var x = T.Of(Parse(type), shape, [.. Enumerable.Range(0, (int)shape.Aggregate(1L, (p, d) => p * d)).Select(_ => rng.NextDouble() * 4 - 2)]);
        Check(text, [x], rtol: 1e-6, atol: 1e-9);
    }

    [Fact]
    public void SingularMatrixGivesTheInterpretersZeroAndInf()
    {
        const string text = "func @main(%x: tensor<2x2xf64>) -> (tensor<f64>, tensor<2x2xf64>) {\n  %d = determinant %x : tensor<f64>\n  %v = matrix_inverse %x : tensor<2x2xf64>\n  return %d, %v\n}\n";
        Check(text, [T.F64([2, 2], 0, 1, 0, 2)]);
    }

    [Theory]
    [InlineData("uniform", "f32", "a = -2.0, b = 3.0")]
    [InlineData("uniform", "f64", "a = 0.0, b = 1.0")]
    [InlineData("uniform", "f16", "a = 0.0, b = 1.0")]
    [InlineData("uniform", "bf16", "a = -1.0, b = 1.0")]
    [InlineData("normal", "f32", "a = 1.0, b = 2.0")]
    [InlineData("normal", "f64", "a = 0.0, b = 1.0")]
    public void RngMatchesTheInterpreter(string distribution, string type, string ab)
    {
        var t = $"tensor<5x37x{type}>";
        var text = $"func @main() -> ({t}) {{\n  %r = rng {{distribution = {distribution}, seed = -12345678901, {ab}}} : {t}\n  return %r\n}}\n";
        // uniform is bit-exact; normal goes through libm log/cos.
        Check(text, [], rtol: distribution == "uniform" ? 0 : 1e-12);
    }

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

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(20)]
    public void WhileComputesFactorial(long n) => Check(Factorial, [T.I64(n)]);

    [Fact]
    public void WhileSwappingCarriedValuesAndNestedLoops()
    {
        // The body yields its arguments swapped (aliasing), and an inner loop sums a tensor row-wise.
        const string text = """
            func @main(%x: tensor<3xf32>, %y: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<i32>) {
              %zero = constant {value = dense<0>} : tensor<i32>
              %one = constant {value = dense<1>} : tensor<i32>
              %three = constant {value = dense<3>} : tensor<i32>
              %a, %b, %k = while %x, %y, %zero : tensor<3xf32>, tensor<3xf32>, tensor<i32>
                cond(%ca: tensor<3xf32>, %cb: tensor<3xf32>, %ck: tensor<i32>) {
                  %p = compare %ck, %three {direction = lt} : tensor<bool>
                  yield %p
                }
                body(%ba: tensor<3xf32>, %bb: tensor<3xf32>, %bk: tensor<i32>) {
                  %k1 = add %bk, %one : tensor<i32>
                  %s, %j = while %bb, %zero : tensor<3xf32>, tensor<i32>
                    cond(%cs: tensor<3xf32>, %cj: tensor<i32>) {
                      %q = compare %cj, %k1 {direction = lt} : tensor<bool>
                      yield %q
                    }
                    body(%bs: tensor<3xf32>, %bj: tensor<i32>) {
                      %d = add %bs, %ba : tensor<3xf32>
                      %e = exp %d : tensor<3xf32>
                      %l = log %e : tensor<3xf32>
                      %j1 = add %bj, %one : tensor<i32>
                      yield %l, %j1
                    }
                  yield %s, %ba, %k1
                }
              return %a, %b, %k
            }
            """;
        Check(text, [T.F32([3], 0.5, -1, 2), T.F32([3], 1, 2, 3)], rtol: 1e-5, atol: 1e-5);
    }

    [Fact]
    public void IfCaseAndCall()
    {
        const string text = """
            func @square(%x: tensor<3xf32>) -> (tensor<3xf32>) {
              %y = mul %x, %x : tensor<3xf32>
              return %y
            }
            func @main(%p: tensor<bool>, %i: tensor<i32>, %x: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
              %r = if %p : tensor<3xf32>
                then() {
                  %n = neg %x : tensor<3xf32>
                  yield %n
                }
                else() {
                  %s = call %x {callee = @square} : tensor<3xf32>
                  %t = call %s {callee = @square} : tensor<3xf32>
                  yield %t
                }
              %c = case %i : tensor<3xf32>
                branch() {
                  yield %x
                }
                branch() {
                  %d = add %x, %r : tensor<3xf32>
                  yield %d
                }
                branch() {
                  %z = constant {value = dense<7.0>} : tensor<3xf32>
                  yield %z
                }
              return %r, %c
            }
            """;
        foreach (var p in new[] { true, false })
            foreach (var i in new long[] { -1, 0, 1, 2, 9 })
                Check(text, [T.Bool([], p), T.I32(i), T.F32([3], 1.5, -2, 0.25)]);
    }
}
