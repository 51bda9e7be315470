using GraphCompiler.Backends.Cuda;
using GraphCompiler.IR;
using Xunit;
using static GraphCompiler.Tests.Backends.Cuda.CudaEmulatorTests;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// The GPU kernels over every element type, on the emulated driver against the interpreter: reductions of every kind
/// accumulating in f64, 64-bit and narrow integers and bool (row, column and split kernels; 64-bit values cross the warp
/// as two 32-bit shuffles), argmax/argmin with ties and NaNs (a block per output, or a thread per output), integer
/// arithmetic of 8 to 64 bits with its edge cases (division and remainder by zero, shifts past the width), and f64 and
/// integer products (f64 on the FMA tiles in f64, integers a loop per output element). Integer and f64 results are
/// compared exactly where the order of operations cannot differ, f64 sums to a few ulp.
/// </summary>
[Collection(CudaDriverCollection.Name)]
public sealed class CudaEmulatorTypeTests
{
    /// <summary>Inputs per element type: floats in [−2, 2) (with NaNs where asked), signed integers in [−9, 9], unsigned in [0, 19], bools.</summary>
    private static Tensor[] Inputs(Function f, int seed, double nanFraction = 0, int distinct = 0)
    {
        var rng = new Random(seed);
        return [.. f.Arguments.Select(a =>
        {
            var e = a.Type.Element;
            var values = Enumerable.Range(0, (int)a.Type.ElementCount).Select(_ =>
                e.IsFloat() ? (rng.NextDouble() < nanFraction ? double.NaN : distinct > 0 ? rng.Next(distinct) - distinct / 2 : rng.NextDouble() * 4 - 2)
                : e == ElementType.Bool ? rng.Next(8) > 0 ? 1 : 0
                : e.IsUnsignedInteger() ? rng.Next(20) : rng.Next(-9, 10));
            return Tensor.FromDoubles(a.Type, [.. values]);
        })];
    }

        private static CudaCompileOptions On(int multiprocessors) => Options with { Gpu = CudaTarget.Default with { Multiprocessors = multiprocessors } };

    /// <summary>
    /// Reductions of each kind and element type, each through the kernel its shape picks (on a GPU of
    /// <paramref name="multiprocessors"/>): a block per output (row), a thread per output (column), or chunks then their
    /// partials (split).
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("f64", "sum", "5x1000", "1", 132, "row")]
    [InlineData("f64", "max", "3x70x9", "0, 2", 132, "row")]
    [InlineData("f64", "sum", "300x600", "0", 2, "column")]
    [InlineData("f64", "sum", "300007", "0", 4, "split")]
    [InlineData("i64", "sum", "3x100003", "1", 8, "split")]
    [InlineData("i32", "sum", "37x300", "0", 132, "row")]
    [InlineData("i64", "prod", "6x9", "1", 132, "row")]
    [InlineData("i8", "max", "33x70", "0", 132, "row")]
    [InlineData("u8", "min", "7x5x300", "0, 1", 1, "column")]
    [InlineData("i16", "min", "4x500", "1", 132, "row")]
    [InlineData("u64", "max", "9x77", "1", 132, "row")]
    [InlineData("bool", "and", "6x100", "1", 132, "row")]
    [InlineData("bool", "or", "6x100", "0", 132, "row")]
    [InlineData("f32", "prod", "8x40", "1", 132, "row")]
    public void ReductionsOfEveryTypeAndKindMatchTheInterpreter(string element, string kind, string shape, string dims, int multiprocessors, string kernel)
    {
        var full = shape.Split('x').Select(long.Parse).ToArray();
        var folded = dims.Split(',').Select(d => int.Parse(d.Trim())).ToHashSet();
        var kept = string.Join("x", full.Where((_, i) => !folded.Contains(i)));
        var keptType = kept.Length == 0 ? $"tensor<{element}>" : $"tensor<{kept}x{element}>";
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<{{shape}}x{{element}}>) -> ({{keptType}}) {
              %r = reduce %x {dims = [{{dims}}], kind = {{kind}}} : {{keptType}}
              return %r
            }
            """);
        double tolerance = element switch { "f64" => 1e-12, "f32" => 1e-5, _ => 0 };
        var program = RunAndCompare(placed, rtol: tolerance, atol: tolerance, options: On(multiprocessors),
            inputs: Inputs(placed.Entry, seed: full.Length * 7 + folded.Count));
        Assert.Contains($".entry gc_{kernel}", program.Ptx);
    }

    /// <summary>A reduction fusion in f64 (a log-sum-exp's max, then the sum of exponentials after it) stays one GPU kernel.</summary>
    [CudaEmulatorFact]
    public void AnF64ReductionFusionRunsOnTheGpu()
    {
        var placed = PlaceOnGpu("""
            func @main(%x: tensor<4x300xf64>) -> (tensor<4xf64>) {
              %m = reduce %x {dims = [1], kind = max} : tensor<4xf64>
              %mb = broadcast_in_dim %m {dims = [0]} : tensor<4x300xf64>
              %d = sub %x, %mb : tensor<4x300xf64>
              %q = mul %d, %d : tensor<4x300xf64>
              %s = reduce %q {dims = [1], kind = sum} : tensor<4xf64>
              %r = add %s, %m : tensor<4xf64>
              return %r
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        RunAndCompare(placed, rtol: 1e-12, atol: 1e-12, inputs: Inputs(placed.Entry, seed: 3));
    }

    /// <summary>
    /// argmax/argmin over rows with many ties (small integers as floats; continuous values where a split row's winner must
    /// come from any chunk) and NaNs (which beat every number), for both tie
    /// rules: a block per output element (<c>gc_argreduce</c>: strided scans, then pairs across the warp and the warps, 64-bit
    /// values and indices as two shuffles each), few outputs over long rows split into chunks whose pairs a second launch
    /// combines (<c>gc_argreduce_chunks</c>, <c>gc_argreduce_combine</c>: a vocabulary's argmax at batch 1), or, for many
    /// outputs over a short leading dimension, a thread per output element (<c>gc_loop</c>). The index must be the
    /// interpreter's exactly.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("f32", "7x1000", 1, "max", "first", 0.01, 132, "argreduce")]
    [InlineData("f32", "7x1000", 1, "max", "last", 0.01, 132, "argreduce")]
    [InlineData("f32", "5x333", 1, "min", "first", 0.0, 132, "argreduce")]
    [InlineData("f64", "3x50", 1, "min", "last", 0.05, 132, "argreduce")]
    [InlineData("f64", "2x40x3", 1, "max", "first", 0.0, 132, "argreduce")]
    [InlineData("f16", "4x129", 1, "max", "last", 0.02, 132, "argreduce")]
    [InlineData("i32", "5x3x40", 1, "max", "first", 0.0, 132, "argreduce")]
    [InlineData("i64", "2x20000", 1, "min", "last", 0.0, 132, "argreduce")]
    [InlineData("u8", "6x300", 1, "max", "first", 0.0, 132, "argreduce")]
    [InlineData("f32", "40x300x2", 0, "max", "last", 0.01, 2, "loop")]
    [InlineData("f32", "1x300000", 1, "max", "first", 0.0, 132, "argreduce_chunks", 0)]
    [InlineData("f32", "1x300000", 1, "max", "first", 0.0005, 132, "argreduce_chunks")]
    [InlineData("f32", "2x100000", 1, "min", "last", 0.0, 132, "argreduce_combine", 0)]
    [InlineData("f16", "1x70000", 1, "max", "last", 0.0, 132, "argreduce_chunks", 0)]
    [InlineData("f64", "3x40000", 1, "max", "first", 0.0, 132, "argreduce_chunks", 0)]
    [InlineData("f64", "3x40000", 1, "min", "last", 0.0002, 132, "argreduce_chunks")]
    [InlineData("u8", "1x50000", 1, "min", "first", 0.0, 132, "argreduce_chunks")]
    public void ArgReduceMatchesTheInterpreterWithTiesAndNans(string element, string shape, int dimension, string kind, string tie, double nans,
        int multiprocessors, string kernel, int distinct = 7)
    {
        var full = shape.Split('x');
        var result = string.Join("x", full.Where((_, i) => i != dimension));
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<{{shape}}x{{element}}>) -> (tensor<{{result}}xi64>) {
              %r = arg_reduce %x {dimension = {{dimension}}, kind = {{kind}}, tie = {{tie}}} : tensor<{{result}}xi64>
              return %r
            }
            """);
        var program = RunAndCompare(placed, rtol: 0, atol: 0, options: On(multiprocessors),
            inputs: Inputs(placed.Entry, seed: full.Length + dimension, nanFraction: nans, distinct: distinct));
        Assert.Contains($".entry gc_{kernel}", program.Ptx);
    }

    /// <summary>
    /// Integer arithmetic of every width on the GPU, with the IR's definitions where LLVM leaves things undefined: x / 0 = −1,
    /// x % 0 = x, shifts by the width or more (0, or the sign for an arithmetic right shift), wrapping products; and
    /// conversions between the widths and to floats.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("u8")]
    [InlineData("i8")]
    [InlineData("u16")]
    [InlineData("i16")]
    [InlineData("u32")]
    [InlineData("u64")]
    [InlineData("i64")]
    public void IntegerArithmeticOfEveryWidthMatchesTheInterpreter(string element)
    {
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<1003x{{element}}>, %y: tensor<1003x{{element}}>) -> (tensor<1003x{{element}}>, tensor<1003x{{element}}>, tensor<1003xf32>, tensor<1003xbool>) {
              %m = mul %x, %y : tensor<1003x{{element}}>
              %d = div %m, %y : tensor<1003x{{element}}>
              %q = rem %x, %y : tensor<1003x{{element}}>
              %a = add %d, %q : tensor<1003x{{element}}>
              %l = shift_left %a, %y : tensor<1003x{{element}}>
              %s = shift_right_arithmetic %l, %x : tensor<1003x{{element}}>
              %u = shift_right_logical %m, %y : tensor<1003x{{element}}>
              %p = pow %x, %y : tensor<1003x{{element}}>
              %n = max %p, %u : tensor<1003x{{element}}>
              %f = convert %n : tensor<1003xf32>
              %c = compare %s, %q {direction = lt} : tensor<1003xbool>
              return %s, %n, %f, %c
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        RunAndCompare(placed, rtol: 0, atol: 0, inputs: Inputs(placed.Entry, seed: element.Length));
    }

    /// <summary>The float remainder (fmod, exact: the module's own helper, no libm) on the GPU, bit for bit with the interpreter, for quotients up to 2^15.</summary>
    [CudaEmulatorTheory]
    [InlineData("f32")]
    [InlineData("f64")]
    [InlineData("f16")]
    public void FloatRemainderRunsOnTheGpuBitForBit(string element)
    {
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<999x{{element}}>, %y: tensor<999x{{element}}>) -> (tensor<999x{{element}}>) {
              %r = rem %x, %y : tensor<999x{{element}}>
              return %r
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var rng = new Random(11);
        var type = placed.Entry.Arguments[0].Type;
        Tensor[] inputs = [
            Tensor.FromDoubles(type, [.. Enumerable.Range(0, 999).Select(_ => (rng.NextDouble() - 0.5) * 65000)]),
            Tensor.FromDoubles(type, [.. Enumerable.Range(0, 999).Select(i => i % 50 == 0 ? 0 : (rng.NextDouble() - 0.5) * 4)])];
        RunAndCompare(placed, rtol: 0, atol: 0, inputs: inputs);
    }

    /// <summary>
    /// rng on the GPU: each element a Philox-4x32-10 draw of its index, RngOp's recipe. Uniform draws are exact (no
    /// transcendental); normal draws go through the GPU's own f64 log and cos (within an ulp of .NET's), so in f32 and
    /// narrower they round to the interpreter's numbers, and in f64 they stay within a few ulps. (Placement puts rng on the
    /// GPU: <c>CudaCapabilities</c> takes it.)
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("f32", "uniform", ", a = -2.0, b = 3.0", 0)]
    [InlineData("bf16", "uniform", "", 0)]
    [InlineData("f64", "uniform", ", a = 1.0, b = 1.5", 0)]
    [InlineData("f32", "normal", ", a = 0.5, b = 2.0", 0)]
    [InlineData("f16", "normal", "", 0)]
    [InlineData("f64", "normal", "", 1e-15)]
    public void RngDrawsTheInterpretersNumbersOnTheGpu(string element, string distribution, string attrs, double tolerance)
    {
        // Placed by hand: the pipeline folds an rng of constant attributes into a constant.
        var placed = IrTest.Parse($$"""
            func @main(%x: tensor<3x4001x{{element}}>) -> (tensor<3x4001x{{element}}>) {
              %sx = send %x {from = cpu, to = gpu} : tensor<3x4001x{{element}}>
              %rx = recv %sx {from = cpu, to = gpu} : tensor<3x4001x{{element}}>
              %r = rng {distribution = {{distribution}}, seed = -1234567{{attrs}}, device = gpu} : tensor<3x4001x{{element}}>
              %y = add %r, %rx {device = gpu} : tensor<3x4001x{{element}}>
              %sy = send %y {from = gpu, to = cpu} : tensor<3x4001x{{element}}>
              %ry = recv %sy {from = gpu, to = cpu} : tensor<3x4001x{{element}}>
              return %ry
            }
            """);
        Assert.True(CudaCapabilities.Supports(placed.Entry.Body.Operations.Single(o => o.Def is GraphCompiler.IR.Ops.RngOp)));
        var zeros = Tensor.FromDoubles(placed.Entry.Arguments[0].Type, new double[3 * 4001]);
        RunAndCompare(placed, rtol: tolerance, atol: tolerance, inputs: [zeros]);
    }

    /// <summary>
    /// dynamic_slice and dynamic_update_slice on the GPU (a KV cache's read and write at a position known at run time): the
    /// start indices are read from device memory and clamped into range as the interpreter clamps them, here with starts
    /// inside, past the end and negative.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(3, 1)]
    [InlineData(7, 5)]
    [InlineData(-2, 9)]
    public void DynamicSlicesReadTheirStartsOnTheDevice(int row, int column)
    {
        var placed = PlaceOnGpu("""
            func @main(%cache: tensor<8x12x16xf32>, %update: tensor<2x3x16xf32>, %r: tensor<i64>, %c: tensor<i32>) -> (tensor<8x12x16xf32>, tensor<3x4x16xf32>) {
              %z = constant {value = dense<0>} : tensor<i32>
              %ci = convert %c : tensor<i64>
              %zi = convert %z : tensor<i64>
              %w = dynamic_update_slice %cache, %update, %r, %ci, %zi : tensor<8x12x16xf32>
              %s = dynamic_slice %w, %r, %ci, %zi {sizes = [3, 4, 16]} : tensor<3x4x16xf32>
              return %w, %s
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var inputs = Inputs(placed.Entry, seed: row + 10 * column);
        inputs[2] = Tensor.FromDoubles(inputs[2].Type, [row]);
        inputs[3] = Tensor.FromDoubles(inputs[3].Type, [column]);
        RunAndCompare(placed, rtol: 0, atol: 0, inputs: inputs);
    }

    /// <summary>
    /// sort and top_k on the GPU against the interpreter, exactly: values and positions, with many ties (a stable order,
    /// also descending), NaNs (last ascending, first descending), −0 and +0 (equal), along the last and a leading dimension.
    /// Lanes up to 8192 take the rank kernel (<c>gc_sort</c>); longer ones (a vocabulary's top_k) a bitonic network over lanes
    /// padded to a power of two (a local launch, global steps and local merges, the last writing the results).
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("f32", "5x300", "sort %x {dimension = 1}", "5x300", "gc_sort")]
    [InlineData("f32", "5x300", "sort %x {dimension = 1, descending = true}", "5x300", "gc_sort")]
    [InlineData("f64", "70x3x4", "sort %x {dimension = 0, descending = true}", "70x3x4", "gc_sort")]
    [InlineData("i32", "6x257", "sort %x {dimension = 1}", "6x257", "gc_sort")]
    [InlineData("f16", "4x1000", "top_k %x {k = 5}", "4x5", "gc_sort")]
    [InlineData("f32", "3x77", "top_k %x {k = 10, largest = false}", "3x10", "gc_sort")]
    [InlineData("u8", "8x40", "top_k %x {k = 40}", "8x40", "gc_sort")]
    [InlineData("f32", "2x9000", "sort %x {dimension = 1}", "2x9000", "gc_bitonic_step")]
    [InlineData("f32", "9000x2", "sort %x {dimension = 0, descending = true}", "9000x2", "gc_bitonic_step")]
    [InlineData("i32", "1x16385", "sort %x {dimension = 1, descending = true}", "1x16385", "gc_bitonic_step")]
    [InlineData("f16", "2x20000", "top_k %x {k = 7}", "2x7", "gc_bitonic_step")]
    [InlineData("bf16", "1x40000", "top_k %x {k = 3, largest = false}", "1x3", "gc_bitonic_step")]
    public void SortAndTopKMatchTheInterpreter(string element, string shape, string op, string result, string kernel)
    {
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<{{shape}}x{{element}}>) -> (tensor<{{result}}x{{element}}>, tensor<{{result}}xi64>) {
              %v, %i = {{op}} : tensor<{{result}}x{{element}}>, tensor<{{result}}xi64>
              return %v, %i
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        bool bitonic = kernel == "gc_bitonic_step";
        // Long lanes: more distinct values (500), so that ties come in runs of tens rather than thousands.
        var inputs = Inputs(placed.Entry, seed: shape.Length, nanFraction: bitonic ? 0.01 : 0.03, distinct: bitonic ? 500 : 9);
        if (element == "f32")
        {
            var values = inputs[0].AsSpan<float>().ToArray();
            for (int i = 0; i < values.Length; i += bitonic ? 13 : 11) values[i] = i % 2 == 0 ? 0f : -0f;
            inputs[0] = Tensor.FromArray(values, [.. inputs[0].Type.Shape]);
        }
        var program = RunAndCompare(placed, rtol: 0, atol: 0, inputs: inputs);
        Assert.Contains($".entry {kernel}", program.Ptx);
        if (bitonic) Assert.DoesNotContain(".entry gc_sort", program.Ptx);
    }

    /// <summary>
    /// Ops with no elements to compute (an empty batch) launch nothing: a block per output element would otherwise run
    /// one block and write past an empty buffer into its neighbour's. The other results are still the interpreter's.
    /// </summary>
    [CudaEmulatorFact]
    public void EmptyResultsLaunchNothing()
    {
        var placed = PlaceOnGpu("""
            func @main(%x: tensor<0x5xf32>, %y: tensor<300xf32>) -> (tensor<0xi64>, tensor<0xf32>, tensor<0x5xf32>, tensor<300xf32>, tensor<f32>) {
              %a = arg_reduce %x {dimension = 1, kind = max, tie = first} : tensor<0xi64>
              %r = reduce %x {dims = [1], kind = sum} : tensor<0xf32>
              %v, %i = sort %x {dimension = 1} : tensor<0x5xf32>, tensor<0x5xi64>
              %e = exp %y : tensor<300xf32>
              %s = reduce %e {dims = [0], kind = sum} : tensor<f32>
              return %a, %r, %v, %e, %s
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var program = RunAndCompare(placed, rtol: 1e-6, atol: 1e-6, inputs: Inputs(placed.Entry, seed: 4));
        Assert.DoesNotContain(".entry gc_argreduce", program.Ptx);
        Assert.DoesNotContain(".entry gc_sort", program.Ptx);
    }

    /// <summary>
    /// determinant and matrix_inverse on the GPU (a thread per matrix, the interpreter's LU and Gauss–Jordan through the
    /// helpers the CPU calls): batched, in f32 and f64, with a singular matrix (determinant 0) and a 0×0 one (1) among them.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("f64", "determinant", "7x5x5", "7")]
    [InlineData("f32", "determinant", "3x2x4x4", "3x2")]
    [InlineData("f32", "determinant", "4x0x0", "4")]
    [InlineData("f64", "matrix_inverse", "6x4x4", "6x4x4")]
    [InlineData("f32", "matrix_inverse", "3x3x3", "3x3x3")]
    public void DeterminantsAndInversesMatchTheInterpreter(string element, string op, string shape, string result)
    {
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<{{shape}}x{{element}}>) -> (tensor<{{result}}x{{element}}>) {
              %r = {{op}} %x : tensor<{{result}}x{{element}}>
              return %r
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var inputs = Inputs(placed.Entry, seed: shape.Length);
        var n = (int)inputs[0].Type.Shape[^1];
        if (op == "determinant" && n > 1)
        {
            // The first matrix singular: its second row a copy of its first.
            var values = Enumerable.Range(0, (int)inputs[0].Type.ElementCount).Select(i => inputs[0].GetDouble(i)).ToArray();
            for (int j = 0; j < n; j++) values[n + j] = values[j];
            inputs[0] = Tensor.FromDoubles(inputs[0].Type, values);
        }
        var program = RunAndCompare(placed, rtol: element == "f64" ? 1e-13 : 1e-6, atol: element == "f64" ? 1e-13 : 1e-6, inputs: inputs);
        Assert.Contains(op == "determinant" ? ".entry gc_det" : ".entry gc_inverse", program.Ptx);
    }

    /// <summary>
    /// f64 products on the FMA tiles, staged and accumulated in f64 (<c>fma.rn.f64</c>), with an epilogue fused after them:
    /// square-ish, ragged against the 16-wide tiles, transposed operands, a batch, and a short C that the f32 kernels would
    /// give the skinny kernel. Against the interpreter's f64 sums, to the rounding of a different summation order.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("70x130", "130x90", "lhs_contract = [1], rhs_contract = [0]", "70x90")]
    [InlineData("5x7", "7x9", "lhs_contract = [1], rhs_contract = [0]", "5x9")]
    [InlineData("130x70", "90x130", "lhs_contract = [0], rhs_contract = [1]", "70x90")]
    [InlineData("3x40x33", "3x33x50", "lhs_batch = [0], rhs_batch = [0], lhs_contract = [2], rhs_contract = [1]", "3x40x50")]
    public void F64ProductsRunOnTheFmaTilesInF64(string lhs, string rhs, string dims, string result)
    {
        var placed = PlaceOnGpu($$"""
            func @main(%a: tensor<{{lhs}}xf64>, %b: tensor<{{rhs}}xf64>) -> (tensor<{{result}}xf64>) {
              %d = dot_general %a, %b {{{dims}}} : tensor<{{result}}xf64>
              %r = add %d, %d : tensor<{{result}}xf64>
              return %r
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var program = RunAndCompare(placed, rtol: 1e-13, atol: 1e-13, inputs: Inputs(placed.Entry, seed: lhs.Length));
        Assert.Contains(".entry gc_gemm", program.Ptx);
        Assert.Contains("fma.rn.f64", program.Ptx);
        Assert.DoesNotContain(".entry gc_loop", program.Ptx);
    }

    /// <summary>
    /// A product the GEMM kernels do not take (two contracting dimensions): each output element a loop on its own thread,
    /// with an epilogue fused after it.
    /// </summary>
    [CudaEmulatorFact]
    public void ProductsBeyondTheGemmKernelsRunAsLoops()
    {
        var placed = PlaceOnGpu("""
            func @main(%a: tensor<6x4x5xf32>, %b: tensor<4x5x7xf32>) -> (tensor<6x7xf32>) {
              %d = dot_general %a, %b {lhs_contract = [1, 2], rhs_contract = [0, 1]} : tensor<6x7xf32>
              %r = add %d, %d : tensor<6x7xf32>
              return %r
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var program = RunAndCompare(placed, rtol: 1e-6, atol: 1e-6, inputs: Inputs(placed.Entry, seed: 5));
        Assert.Contains(".entry gc_loop", program.Ptx);
        Assert.DoesNotContain(".entry gc_gemm", program.Ptx);
    }

    /// <summary>
    /// Integer products on the GEMM tiles (a quantised model's MatMulInteger, QLinearMatMul), staged widened by their
    /// signedness and accumulated in i32 (i64 for 64-bit), wrapping: exactly the interpreter's results. u8 and i8 operands
    /// into i32, i16, i32 and i64 ones, ragged against the tiles, a batch, transposed operands, a short C, and a
    /// dequantising epilogue (convert to f32, scale).
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("u8", "70x130", "130x90", "lhs_contract = [1], rhs_contract = [0]", "70x90", "i32")]
    [InlineData("i8", "130x70", "90x130", "lhs_contract = [0], rhs_contract = [1]", "70x90", "i32")]
    [InlineData("i16", "5x300", "300x9", "lhs_contract = [1], rhs_contract = [0]", "5x9", "i32")]
    [InlineData("i32", "3x40x33", "3x33x50", "lhs_batch = [0], rhs_batch = [0], lhs_contract = [2], rhs_contract = [1]", "3x40x50", "i32")]
    [InlineData("i64", "33x20", "20x17", "lhs_contract = [1], rhs_contract = [0]", "33x17", "i64")]
    public void IntegerProductsRunOnTheTiles(string element, string lhs, string rhs, string dims, string result, string accumulated)
    {
        var placed = PlaceOnGpu($$"""
            func @main(%a: tensor<{{lhs}}x{{element}}>, %b: tensor<{{rhs}}x{{element}}>) -> (tensor<{{result}}x{{accumulated}}>, tensor<{{result}}xf32>) {
              %d = dot_general %a, %b {{{dims}}} : tensor<{{result}}x{{accumulated}}>
              %f = convert %d : tensor<{{result}}xf32>
              %s = constant {value = dense<0.0125>} : tensor<f32>
              %sb = broadcast_in_dim %s {dims = []} : tensor<{{result}}xf32>
              %q = mul %f, %sb : tensor<{{result}}xf32>
              return %d, %q
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var program = RunAndCompare(placed, rtol: 0, atol: 0, inputs: IntegerInputs(placed.Entry, seed: lhs.Length));
        Assert.Contains(".entry gc_gemm", program.Ptx); // (the dequantising epilogue, a second output, runs as a loop after it)
        if (accumulated == "i32") Assert.Contains("mad.lo.s32", program.Ptx); // the tiles' multiply-adds in i32
    }

    /// <summary>
    /// Integer convolutions (a quantised model's ConvInteger, QLinearConv) as implicit GEMMs on the tiles: u8 images with i32
    /// accumulation, padded and strided, and i8 with a bias added after, exactly the interpreter's.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("u8", "2x15x15x8", "3x3x8x24", "padding_low = [1, 1], padding_high = [1, 1], window_strides = [2, 2]", "2x8x8x24")]
    [InlineData("i8", "1x9x9x16", "1x1x16x40", "", "1x9x9x40")]
    public void IntegerConvolutionsRunAsImplicitGemms(string element, string input, string kernel, string attrs, string output)
    {
        var sep = attrs.Length == 0 ? "" : ", ";
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<{{input}}x{{element}}>, %k: tensor<{{kernel}}x{{element}}>, %b: tensor<{{output}}xi32>) -> (tensor<{{output}}xi32>) {
              %c = convolution %x, %k {dims = "b01f_01io->b01f"{{sep}}{{attrs}}} : tensor<{{output}}xi32>
              %r = add %c, %b : tensor<{{output}}xi32>
              return %r
            }
            """);
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var program = RunAndCompare(placed, rtol: 0, atol: 0, inputs: IntegerInputs(placed.Entry, seed: input.Length));
        Assert.Contains(".entry gc_gemm", program.Ptx);
    }

    /// <summary>Integer inputs over each type's whole range where it is narrow (8 and 16 bits), else over ±10⁵ (so 64-bit products stay meaningful).</summary>
    private static Tensor[] IntegerInputs(Function f, int seed)
    {
        var rng = new Random(seed);
        return [.. f.Arguments.Select(a =>
        {
            var e = a.Type.Element;
            long lo = e.ByteSize() > 2 ? -100_000 : e.IsUnsignedInteger() ? 0 : -(1L << (8 * e.ByteSize() - 1));
            long hi = e.ByteSize() > 2 ? 100_000 : e.IsUnsignedInteger() ? (1L << (8 * e.ByteSize())) - 1 : (1L << (8 * e.ByteSize() - 1)) - 1;
            return Tensor.FromInt64s(a.Type, [.. Enumerable.Range(0, (int)a.Type.ElementCount).Select(_ => lo + (long)(rng.NextDouble() * (hi - lo + 1)))]);
        })];
    }
}
