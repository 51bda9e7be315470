using GraphCompiler.Backends.Cpu.Codegen;
using GraphCompiler.Backends.Cuda;
using GraphCompiler.IR;
using GraphCompiler.Passes;
using Xunit;

namespace GraphCompiler.Tests.Backends.Cuda;

/// <summary>
/// Whole CUDA programs on the emulated driver (<see cref="CudaEmulator"/>) against the interpreter: the
/// kernels' logic (indexing, the four-per-thread vector path and its edge, shuffles and barriers, GEMM tiles
/// and their edges, epilogues), the host program's transfers and launches, and the runtime's driver calls,
/// here on a machine without a GPU. Inputs are random in [−2, 2) (positive where the snapshot's ops need it).
/// </summary>
[Collection(CudaDriverCollection.Name)]
public sealed class CudaEmulatorTests
{
    internal static readonly CudaCompileOptions Options = new() { HostKernels = CpuKernels.Instance };

    public static IEnumerable<object[]> Snapshots() => CudaBackendTests.PtxCases();

    /// <summary>An f32 tensor rounded to TF32 (to nearest, in the 13 bits TF32 drops): products of such values are exact in f32.</summary>
    internal static Tensor ToTf32(Tensor t) => Tensor.FromDoubles(t.Type, [.. Enumerable.Range(0, (int)t.ElementCount)
        .Select(i => (double)BitConverter.Int32BitsToSingle((BitConverter.SingleToInt32Bits((float)t.GetDouble(i)) + 0x1000) & ~0x1fff))]);

    internal static Tensor[] RandomInputs(Function f, int seed)
    {
        var rng = new Random(seed);
        return [.. f.Arguments.Select(a => Tensor.FromDoubles(a.Type,
            [.. Enumerable.Range(0, (int)a.Type.ElementCount).Select(_ => a.Type.Element.IsFloat() ? rng.NextDouble() * 4 - 2 : rng.Next(-5, 6))]))];
    }

    /// <summary>How long one emulated run may take before the test fails rather than hangs (a host loop that never ends).</summary>
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Compiles a placed module, runs it on the emulated GPU, and compares with the interpreter; returns the program (its PTX).
    /// Every kernel must have run, unless <paramref name="branches"/> (host control flow runs one branch's kernels, or a
    /// loop's none).
    /// </summary>
    internal static CudaProgram RunAndCompare(Module placed, double rtol, double atol, int seed = 1, CudaCompileOptions? options = null, Tensor[]? inputs = null,
        bool branches = false)
    {
        options ??= Options;
        inputs ??= RandomInputs(placed.Entry, seed);
        var expected = new Interpreter(placed).Run(null, inputs).Unwrap().Results;
        long before = CudaEmulator.Launches;
        CudaProgram program;
        using (CudaEmulator.AsDriver())
        {
            var generated = CudaCompiler.Generate(placed, options);
            Assert.True(generated.Ok, string.Join("\n", generated.Diagnostics));
            program = generated.Value!;
            Assert.True(program.Kernels > 0, "nothing was placed on the GPU");
            using var exe = CudaCompiler.Jit(placed, options).Unwrap();
            var run = Task.Run(() => exe.Run(inputs));
            Assert.True(run.Wait(RunLimit), $"the emulated run did not finish within {RunLimit.TotalMinutes} minutes");
            var actual = run.Result.Unwrap();
            Assert.Equal(expected.Length, actual.Count);
            for (int i = 0; i < expected.Length; i++) IrTest.AssertTensor(expected[i], actual[i], rtol, atol);
        }
        Assert.True(branches || CudaEmulator.Launches - before >= program.Kernels, "the kernels did not all run on the (emulated) GPU");
        return program;
    }

    [CudaEmulatorTheory]
    [MemberData(nameof(Snapshots))]
    public void EveryPtxSnapshotRunsAndMatchesTheInterpreter(string name)
    {
        var text = File.ReadAllText(Path.Combine(GoldenFile.RepoRoot(), "tests", "ptx", name + ".ir"));
        var module = IrTest.Parse(text);
        var gpu = CudaBackendTests.SnapshotTarget(text);
        // On TF32 tensor cores, f32 inputs already in TF32 keep the products exact (the interpreter's, up to summation order).
        var inputs = RandomInputs(module.Entry, 1).Select(t => gpu.AllowTf32 && t.Type.Element == ElementType.F32 ? ToTf32(t) : t).ToArray();
        RunAndCompare(module, rtol: 1e-4, atol: 1e-5, options: Options with { Gpu = gpu }, inputs: inputs);
    }

    internal static Module PlaceOnGpu(string text) => CudaBackendTests.PlaceOnGpu(IrTest.Parse(text));

    /// <summary>A convolution of <paramref name="element"/> operands with an f32 result, a bias along <paramref name="featureDim"/> and relu.</summary>
    internal static string ConvBiasRelu(string element, string input, string kernel, string layout, string attrs, string output, int featureDim)
    {
        var cout = output.Split('x')[featureDim];
        var sep = attrs.Length == 0 ? "" : ", ";
        return $$"""
            func @main(%x: tensor<{{input}}x{{element}}>, %k: tensor<{{kernel}}x{{element}}>, %b: tensor<{{cout}}xf32>) -> (tensor<{{output}}xf32>) {
              %c = convolution %x, %k {dims = "{{layout}}"{{sep}}{{attrs}}} : tensor<{{output}}xf32>
              %bb = broadcast_in_dim %b {dims = [{{featureDim}}]} : tensor<{{output}}xf32>
              %s = add %c, %bb : tensor<{{output}}xf32>
              %z = constant {value = dense<0.0>} : tensor<f32>
              %zb = broadcast_in_dim %z {dims = []} : tensor<{{output}}xf32>
              %r = max %s, %zb : tensor<{{output}}xf32>
              return %r
            }
            """;
    }

    /// <summary>The GEMM kernel's tile edges: sizes that are no multiple of any tile, the short-C (gemv) path, a batch dimension, and a fused epilogue.</summary>
    [CudaEmulatorTheory]
    [InlineData(1, 37, 53)]
    [InlineData(5, 130, 70)]
    [InlineData(17, 33, 9)]
    [InlineData(67, 45, 131)]
    [InlineData(130, 129, 200)]
    public void GemmMatchesTheInterpreterAtOddSizes(int m, int k, int n) =>
        RunAndCompare(PlaceOnGpu($$"""
            func @main(%a: tensor<{{m}}x{{k}}xf32>, %b: tensor<{{k}}x{{n}}xf32>, %bias: tensor<{{n}}xf32>) -> (tensor<{{m}}x{{n}}xf32>) {
              %c = dot_general %a, %b {lhs_contract = [1], rhs_contract = [0]} : tensor<{{m}}x{{n}}xf32>
              %bb = broadcast_in_dim %bias {dims = [1]} : tensor<{{m}}x{{n}}xf32>
              %s = add %c, %bb : tensor<{{m}}x{{n}}xf32>
              %z = constant {value = dense<0.0>} : tensor<f32>
              %zb = broadcast_in_dim %z {dims = []} : tensor<{{m}}x{{n}}xf32>
              %r = max %s, %zb : tensor<{{m}}x{{n}}xf32>
              return %r
            }
            """), rtol: 1e-4, atol: 1e-4, seed: m + k + n);

    [CudaEmulatorFact]
    public void BatchedGemmMatchesTheInterpreter() =>
        RunAndCompare(PlaceOnGpu("""
            func @main(%a: tensor<3x19x24xf32>, %b: tensor<3x24x21xf32>) -> (tensor<3x19x21xf32>) {
              %c = dot_general %a, %b {lhs_batch = [0], rhs_batch = [0], lhs_contract = [2], rhs_contract = [1]} : tensor<3x19x21xf32>
              return %c
            }
            """), rtol: 1e-4, atol: 1e-4);

    /// <summary>Row kernels at row lengths below, at and above a warp and a block, with a layer norm's two reduces.</summary>
    [CudaEmulatorTheory]
    [InlineData(3, 7)]
    [InlineData(4, 32)]
    [InlineData(2, 100)]
    [InlineData(3, 1000)]
    public void LayerNormRowsMatchTheInterpreter(int rows, int width) =>
        RunAndCompare(PlaceOnGpu($$"""
            func @main(%x: tensor<{{rows}}x{{width}}xf32>) -> (tensor<{{rows}}x{{width}}xf32>) {
              %s = reduce %x {dims = [1], kind = sum} : tensor<{{rows}}xf32>
              %n = constant {value = dense<{{width}}.0>} : tensor<f32>
              %nb = broadcast_in_dim %n {dims = []} : tensor<{{rows}}xf32>
              %mean = div %s, %nb : tensor<{{rows}}xf32>
              %mb = broadcast_in_dim %mean {dims = [0]} : tensor<{{rows}}x{{width}}xf32>
              %d = sub %x, %mb : tensor<{{rows}}x{{width}}xf32>
              %d2 = mul %d, %d : tensor<{{rows}}x{{width}}xf32>
              %v = reduce %d2 {dims = [1], kind = sum} : tensor<{{rows}}xf32>
              %var = div %v, %nb : tensor<{{rows}}xf32>
              %eps = constant {value = dense<0.00001>} : tensor<f32>
              %eb = broadcast_in_dim %eps {dims = []} : tensor<{{rows}}xf32>
              %ve = add %var, %eb : tensor<{{rows}}xf32>
              %r = rsqrt %ve : tensor<{{rows}}xf32>
              %rb = broadcast_in_dim %r {dims = [0]} : tensor<{{rows}}x{{width}}xf32>
              %y = mul %d, %rb : tensor<{{rows}}x{{width}}xf32>
              return %y
            }
            """), rtol: 1e-4, atol: 1e-4, seed: rows * width);

    /// <summary>
    /// Reductions over leading, middle, interleaved and all dimensions (a block per output element): column sums,
    /// a full sum, a max over the middle, batch-norm statistics with the normalised tensor fused after them.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("37x300", "0", "sum")]
    [InlineData("3x50x7", "0, 1, 2", "sum")]
    [InlineData("6x40x5", "1", "max")]
    [InlineData("5x6x7", "0, 2", "min")]
    [InlineData("2x3x1000", "0, 1", "sum")]
    public void ReductionsOverAnyDimensionsMatchTheInterpreter(string shape, string dims, string kind)
    {
        var full = shape.Split('x').Select(long.Parse).ToArray();
        var folded = dims.Split(',').Select(d => int.Parse(d.Trim())).ToHashSet();
        var kept = string.Join("x", full.Where((_, i) => !folded.Contains(i)));
        var keptType = kept.Length == 0 ? "tensor<f32>" : $"tensor<{kept}xf32>";
        var placed = PlaceOnGpu($$"""
            func @main(%x: tensor<{{shape}}xf32>) -> ({{keptType}}) {
              %e = exp %x : tensor<{{shape}}xf32>
              %r = reduce %e {dims = [{{dims}}], kind = {{kind}}} : {{keptType}}
              return %r
            }
            """);
        Assert.Matches(@"= (fusion|reduce) [^\n]*device = gpu", GraphCompiler.IR.Text.Printer.Print(placed));
        RunAndCompare(placed, rtol: 1e-5, atol: 1e-5, seed: full.Length + folded.Count);
    }

    [CudaEmulatorFact]
    public void BatchNormStatisticsAndTheNormalisedTensorMatchTheInterpreter() =>
        RunAndCompare(PlaceOnGpu("""
            func @main(%x: tensor<4x5x6x8xf32>) -> (tensor<4x5x6x8xf32>, tensor<8xf32>) {
              %s = reduce %x {dims = [0, 1, 2], kind = sum} : tensor<8xf32>
              %n = constant {value = dense<120.0>} : tensor<f32>
              %nb = broadcast_in_dim %n {dims = []} : tensor<8xf32>
              %mean = div %s, %nb : tensor<8xf32>
              %mb = broadcast_in_dim %mean {dims = [3]} : tensor<4x5x6x8xf32>
              %d = sub %x, %mb : tensor<4x5x6x8xf32>
              %d2 = mul %d, %d : tensor<4x5x6x8xf32>
              %v = reduce %d2 {dims = [0, 1, 2], kind = sum} : tensor<8xf32>
              %var = div %v, %nb : tensor<8xf32>
              %eps = constant {value = dense<0.001>} : tensor<f32>
              %eb = broadcast_in_dim %eps {dims = []} : tensor<8xf32>
              %ve = add %var, %eb : tensor<8xf32>
              %r = rsqrt %ve : tensor<8xf32>
              %rb = broadcast_in_dim %r {dims = [3]} : tensor<4x5x6x8xf32>
              %y = mul %d, %rb : tensor<4x5x6x8xf32>
              return %y, %var
            }
            """), rtol: 1e-4, atol: 1e-5);

    /// <summary>
    /// f32 convolutions on the GPU with bias and relu fused after, at odd sizes: those of one group, and grouped ones whose
    /// groups have at least 8 input and output features (ShuffleNet's grouped 1×1s; a GEMM per group along the grid's z), as
    /// implicit GEMMs on the FMA tiles (<c>gc_gemm</c>: NHWC and NCHW, padding, strides, dilations, 1×1, K over several steps
    /// of 8 and 32), narrower groups as direct kernels (<c>gc_loop</c>, a thread per output element over its window), and
    /// depthwise ones on their own kernel (<c>gc_depthwise</c>, CudaDepthwiseTests).
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("2x12x12x16", "3x3x16x24", "b01f_01io->b01f", "window_strides = [1, 2], rhs_dilation = [1, 2], padding_low = [1, 2], padding_high = [1, 1]", "2x12x6x24", 3, "gc_gemm")]
    [InlineData("2x9x9x5", "3x3x5x7", "b01f_01io->b01f", "padding_low = [1, 1], padding_high = [1, 1]", "2x9x9x7", 3, "gc_gemm")]
    [InlineData("1x6x11x10", "7x6x3x3", "bf01_oi01->bf01", "window_strides = [2, 2], rhs_dilation = [2, 2], padding_low = [2, 1], padding_high = [2, 2]", "1x7x6x5", 1, "gc_gemm")]
    [InlineData("2x8x8x6", "3x3x2x9", "b01f_01io->b01f", "feature_group_count = 3, padding_low = [1, 1], padding_high = [1, 1]", "2x8x8x9", 3, "gc_loop")]
    [InlineData("1x7x7x8", "3x3x1x8", "b01f_01io->b01f", "feature_group_count = 8, window_strides = [2, 2], padding_low = [1, 1], padding_high = [1, 1]", "1x4x4x8", 3, "gc_depthwise")]
    [InlineData("3x5x5x4", "1x1x4x6", "b01f_01io->b01f", "", "3x5x5x6", 3, "gc_gemm")]
    [InlineData("2x7x7x48", "3x3x16x36", "b01f_01io->b01f", "feature_group_count = 3, padding_low = [1, 1], padding_high = [1, 1]", "2x7x7x36", 3, "gc_gemm")]
    [InlineData("2x6x6x60", "1x1x20x27", "b01f_01io->b01f", "feature_group_count = 3", "2x6x6x27", 3, "gc_gemm")]
    [InlineData("1x24x9x9", "24x8x3x3", "bf01_oi01->bf01", "feature_group_count = 3, window_strides = [2, 2], padding_low = [1, 1], padding_high = [0, 0]", "1x24x4x4", 1, "gc_gemm")]
    public void ConvolutionsMatchTheInterpreter(string input, string kernel, string layout, string attrs, string output, int featureDim, string entry)
    {
        var placed = PlaceOnGpu(ConvBiasRelu("f32", input, kernel, layout, attrs, output, featureDim));
        Assert.Matches(@"device = gpu[^\n]*\n[^\n]*body|= convolution [^\n]*device = gpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, seed: input.Length + kernel.Length);
        Assert.Contains($".entry {entry}", program.Ptx);
    }

    /// <summary>
    /// Compressed transfers (<c>--compress-transfers f16|bf16</c>): f32 values cross to the GPU and back as 16-bit floats,
    /// narrowed on one side and widened on the other (host loops, GPU kernels), so the results are the interpreter's for
    /// the placed module, whose sends round every element to the wire type; half the bytes cross. A value pinned to the
    /// CPU between two GPU parts makes transfers in both directions.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData("f16")]
    [InlineData("bf16")]
    public void CompressedTransfersRoundTripThroughTheWireType(string wire)
    {
        var module = IrTest.Parse("""
            func @main(%x: tensor<1000xf32>, %y: tensor<1000xf32>) -> (tensor<1000xf32>) {
              %a = mul %x, %y : tensor<1000xf32> loc("gpu_mul")
              %e = exp %a : tensor<1000xf32> loc("gpu_exp")
              %c = sqrt %e : tensor<1000xf32> loc("cpu_sqrt")
              %d = add %c, %x : tensor<1000xf32> loc("gpu_add")
              return %d
            }
            """);
        var placement = new PlacementOptions
        {
            GpuSupports = CudaCapabilities.Supports, CompressTransfers = PlacementOptions.ParseCompression(wire)!.Value,
            Constraints = [PlacementConstraint.Parse("^gpu_=gpu").Unwrap(), PlacementConstraint.Parse("^cpu_=cpu").Unwrap()],
        };
        var placed = PassManager.Run(module, PassRegistry.Cuda, PassOptions.Default with { Placement = placement }).Unwrap();
        var text = GraphCompiler.IR.Text.Printer.Print(placed);
        Assert.Contains($"compress = {wire}, from = cpu, to = gpu", text);
        Assert.Contains($"compress = {wire}, from = gpu, to = cpu", text);
        var program = RunAndCompare(placed, rtol: 1e-6, atol: 0);
        Assert.Contains($".entry gc_narrow_{wire}_", program.Ptx);
        Assert.Contains($".entry gc_widen_{wire}_", program.Ptx);
        // The kernel table names each wire kernel's transfer.
        Assert.Matches($@"(?m)^gc_widen_{wire}_\w+\t[^\t]+\tsend cpu→gpu compressed to {wire}\t", program.KernelMap);
        Assert.Matches($@"(?m)^gc_narrow_{wire}_\w+\t[^\t]+\tsend gpu→cpu compressed to {wire}\t", program.KernelMap);
    }

    /// <summary>Max pooling with padding and average pooling (a sum window over a count), NHWC, on the GPU.</summary>
    [CudaEmulatorFact]
    public void PoolingMatchesTheInterpreter() =>
        RunAndCompare(PlaceOnGpu("""
            func @main(%x: tensor<2x9x9x3xf32>) -> (tensor<2x5x5x3xf32>, tensor<2x4x4x3xf32>) {
              %m = reduce_window %x {kind = max, window = [1, 3, 3, 1], strides = [1, 2, 2, 1], padding_low = [0, 1, 1, 0], padding_high = [0, 1, 1, 0]} : tensor<2x5x5x3xf32>
              %s = reduce_window %x {kind = sum, window = [1, 2, 2, 1], strides = [1, 2, 2, 1]} : tensor<2x4x4x3xf32>
              %q = constant {value = dense<0.25>} : tensor<f32>
              %qb = broadcast_in_dim %q {dims = []} : tensor<2x4x4x3xf32>
              %a = mul %s, %qb : tensor<2x4x4x3xf32>
              return %m, %a
            }
            """), rtol: 1e-5, atol: 1e-6);

    /// <summary>Gathers on the GPU: an embedding lookup (indices past the table clamp, as XLA's gather) and a batched take along an axis.</summary>
    [CudaEmulatorFact]
    public void GathersMatchTheInterpreter()
    {
        var placed = PlaceOnGpu("""
            func @main(%table: tensor<50x16xf32>, %ids: tensor<7x1xi32>, %x: tensor<3x9xf32>, %cols: tensor<3x4x1xi64>) -> (tensor<7x16xf32>, tensor<3x4xf32>) {
              %e = gather %table, %ids {offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1, slice_sizes = [1, 16]} : tensor<7x16xf32>
              %t = gather %x, %cols {offset_dims = [], collapsed_slice_dims = [1], start_index_map = [1], index_vector_dim = 2, slice_sizes = [1, 1], operand_batching_dims = [0], start_indices_batching_dims = [0]} : tensor<3x4xf32>
              return %e, %t
            }
            """);
        Assert.Matches(@"= gather [^\n]*device = gpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var rng = new Random(3);
        Tensor[] inputs =
        [
            Tensor.FromDoubles(new TensorType(ElementType.F32, 50L, 16L), [.. Enumerable.Range(0, 800).Select(_ => rng.NextDouble())]),
            Tensor.FromInt64s(new TensorType(ElementType.I32, 7L, 1L), [0, 49, 3, 60, -2, 17, 17]), // 60 and -2 clamp to 49 and 0
            Tensor.FromDoubles(new TensorType(ElementType.F32, 3L, 9L), [.. Enumerable.Range(0, 27).Select(_ => rng.NextDouble())]),
            Tensor.FromInt64s(new TensorType(ElementType.I64, 3L, 4L, 1L), [0, 8, 4, 4, 1, 2, 3, 9, 7, 0, 8, 5]),
        ];
        RunAndCompare(placed, rtol: 0, atol: 0, inputs: inputs);
    }

    /// <summary>
    /// Scatters on the GPU, bit for bit the interpreter's sequential semantics: an embedding gradient (rows added, with
    /// repeated ids and one out of range, skipped), ScatterND-style replace with a repeated index (the last update wins),
    /// single elements added (every dimension indexed: one window element), and a batched scatter.
    /// </summary>
    [CudaEmulatorFact]
    public void ScattersMatchTheInterpreterBitForBit()
    {
        var placed = PlaceOnGpu("""
            func @main(%table: tensor<10x6xf32>, %ids: tensor<7x1xi32>, %grad: tensor<7x6xf32>, %x: tensor<4x5xf32>, %at: tensor<3x2xi64>, %v: tensor<3xf32>, %rows: tensor<3x1xi64>, %r: tensor<3x5xf32>, %y: tensor<2x4xf32>, %bi: tensor<2x3x1xi32>, %bu: tensor<2x3xf32>) -> (tensor<10x6xf32>, tensor<4x5xf32>, tensor<4x5xf32>, tensor<2x4xf32>) {
              %e = scatter %table, %ids, %grad {update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1, kind = add} : tensor<10x6xf32>
              %n = scatter %x, %rows, %r {update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1} : tensor<4x5xf32>
              %s = scatter %x, %at, %v {update_window_dims = [], inserted_window_dims = [0, 1], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 1, kind = add} : tensor<4x5xf32>
              %b = scatter %y, %bi, %bu {update_window_dims = [], inserted_window_dims = [1], scatter_dims_to_operand_dims = [1], index_vector_dim = 2, input_batching_dims = [0], scatter_indices_batching_dims = [0], kind = max} : tensor<2x4xf32>
              return %e, %n, %s, %b
            }
            """);
        Assert.Equal(4, System.Text.RegularExpressions.Regex.Matches(GraphCompiler.IR.Text.Printer.Print(placed), @"= scatter [^\n]*device = gpu").Count);
        var rng = new Random(5);
        Tensor F(params long[] shape) { var t = new TensorType(ElementType.F32, shape); return Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => rng.NextDouble() * 4 - 2)]); }
        Tensor[] inputs =
        [
            F(10, 6), Tensor.FromInt64s(new TensorType(ElementType.I32, 7L, 1L), [3, 1, 3, 12, 0, 3, 9]), F(7, 6), // id 3 three times, 12 out of range
            F(4, 5), Tensor.FromInt64s(new TensorType(ElementType.I64, 3L, 2L), [1, 2, 3, 4, 1, 2]), F(3),         // (1, 2) twice
            Tensor.FromInt64s(new TensorType(ElementType.I64, 3L, 1L), [2, 0, 2]), F(3, 5),                         // row 2 twice: the last wins
            F(2, 4), Tensor.FromInt64s(new TensorType(ElementType.I32, 2L, 3L, 1L), [0, 3, 3, 1, 1, 2]), F(2, 3),
        ];
        RunAndCompare(placed, rtol: 0, atol: 0, inputs: inputs);
    }

    /// <summary>
    /// Scatters whose indices move windows along their own dimensions, so that windows of two positions overlap partly: one
    /// block applies the positions in order (a barrier between them), bit for bit the interpreter's: 4×5 patches added and
    /// replaced (the later position wins where they overlap; one start past the edge and one negative, both skipped), and
    /// windows of 2×20×64 elements (more than the block's 1024 threads) sliding along one dimension.
    /// </summary>
    [CudaEmulatorFact]
    public void OverlappingWindowScattersApplyPositionsInOrder()
    {
        var placed = PlaceOnGpu("""
            func @main(%x: tensor<10x12xf32>, %at: tensor<5x2xi64>, %u: tensor<5x4x5xf32>, %y: tensor<2x40x64xf32>, %rows: tensor<5x1xi32>, %v: tensor<5x2x20x64xf32>) -> (tensor<10x12xf32>, tensor<10x12xf32>, tensor<2x40x64xf32>) {
              %a = scatter %x, %at, %u {update_window_dims = [1, 2], inserted_window_dims = [], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 1, kind = add} : tensor<10x12xf32>
              %r = scatter %x, %at, %u {update_window_dims = [1, 2], inserted_window_dims = [], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 1} : tensor<10x12xf32>
              %s = scatter %y, %rows, %v {update_window_dims = [1, 2, 3], inserted_window_dims = [], scatter_dims_to_operand_dims = [1], index_vector_dim = 1, kind = add} : tensor<2x40x64xf32>
              return %a, %r, %s
            }
            """);
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Matches(GraphCompiler.IR.Text.Printer.Print(placed), @"= scatter [^\n]*device = gpu").Count);
        var rng = new Random(9);
        Tensor F(params long[] shape) { var t = new TensorType(ElementType.F32, shape); return Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => rng.NextDouble() * 4 - 2)]); }
        Tensor[] inputs =
        [
            F(10, 12), Tensor.FromInt64s(new TensorType(ElementType.I64, 5L, 2L), [1, 2, 3, 4, 2, 3, 8, 9, -1, 0]), F(5, 4, 5), // (8, 9) past the edge, (-1, 0) before it
            F(2, 40, 64), Tensor.FromInt64s(new TensorType(ElementType.I32, 5L, 1L), [0, 10, 15, 30, 5]), F(5, 2, 20, 64),     // 30 + 20 > 40: skipped
        ];
        var program = RunAndCompare(placed, rtol: 0, atol: 0, inputs: inputs);
        Assert.Contains("bar.sync", program.Ptx);
    }

    /// <summary>
    /// Replacing scatters run in parallel by claims (the latest position claims each element, then only the winners write),
    /// bit for bit the interpreter's sequential last-wins: 3000 single elements into 40×50 (many repeats, some indices
    /// negative or past the edge), rows with repeats, partly overlapping patches (where the later one wins), and bools.
    /// </summary>
    [CudaEmulatorFact]
    public void ReplacingScattersClaimTheirElementsInParallel()
    {
        var placed = PlaceOnGpu("""
            func @main(%x: tensor<40x50xf32>, %at: tensor<3000x2xi32>, %v: tensor<3000xf32>, %rows: tensor<9x1xi64>, %r: tensor<9x50xf32>, %p: tensor<5x2xi64>, %u: tensor<5x7x9xf32>, %m: tensor<40x50xbool>, %mv: tensor<3000xbool>) -> (tensor<40x50xf32>, tensor<40x50xf32>, tensor<40x50xf32>, tensor<40x50xbool>) {
              %s = scatter %x, %at, %v {update_window_dims = [], inserted_window_dims = [0, 1], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 1} : tensor<40x50xf32>
              %n = scatter %x, %rows, %r {update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1} : tensor<40x50xf32>
              %o = scatter %x, %p, %u {update_window_dims = [1, 2], inserted_window_dims = [], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 1} : tensor<40x50xf32>
              %b = scatter %m, %at, %mv {update_window_dims = [], inserted_window_dims = [0, 1], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 1} : tensor<40x50xbool>
              return %s, %n, %o, %b
            }
            """);
        var rng = new Random(13);
        Tensor F(params long[] shape) { var t = new TensorType(ElementType.F32, shape); return Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => rng.NextDouble() * 4 - 2)]); }
        Tensor B(params long[] shape) { var t = new TensorType(ElementType.Bool, shape); return Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => (double)rng.Next(2))]); }
        // Indices from -2 to 52: most elements of the 40x50 are hit again and again, and about one position in nine is out.
        var at = Tensor.FromInt64s(new TensorType(ElementType.I32, 3000L, 2L), [.. Enumerable.Range(0, 6000).Select(_ => (long)rng.Next(-2, 53))]);
        Tensor[] inputs =
        [
            F(40, 50), at, F(3000),
            Tensor.FromInt64s(new TensorType(ElementType.I64, 9L, 1L), [4, 0, 4, 39, 40, 7, 0, -1, 4]), F(9, 50), // row 4 three times, 0 twice
            Tensor.FromInt64s(new TensorType(ElementType.I64, 5L, 2L), [3, 4, 6, 8, 30, 40, 34, 44, 5, 5]), F(5, 7, 9), // (34, 44) past the edge
            B(40, 50), B(3000),
        ];
        var program = RunAndCompare(placed, rtol: 0, atol: 0, inputs: inputs);
        Assert.Contains("scatter_claim", program.Ptx);
        Assert.DoesNotContain("bar.sync", program.Ptx); // the overlapping patches no longer take the one-block kernel
    }

    /// <summary>
    /// Floating-point scatters of many positions sort them by window, then combine each window's updates in their order:
    /// bit for bit the interpreter's sequential sums, products and maxima, f16 and bf16 rounded after every update as a
    /// store would. Single elements added into 40×50 (3000 positions, many repeats, some out of range), f16 rows added
    /// (an embedding gradient of 700 tokens over 37 ids: 3 key-sort blocks and a global step), bf16 products, f32 maxima
    /// over a batch dimension.
    /// </summary>
    [CudaEmulatorFact]
    public void FloatScattersSortTheirPositionsAndKeepTheOrder()
    {
        var placed = PlaceOnGpu("""
            func @main(%x: tensor<40x50xf32>, %at: tensor<3000x2xi32>, %v: tensor<3000xf32>, %table: tensor<37x24xf16>, %ids: tensor<700x1xi64>, %g: tensor<700x24xf16>, %h: tensor<40x50xbf16>, %hv: tensor<3000xbf16>, %y: tensor<3x64xf32>, %bi: tensor<3x200x1xi32>, %bu: tensor<3x200xf32>) -> (tensor<40x50xf32>, tensor<37x24xf16>, tensor<40x50xbf16>, tensor<3x64xf32>) {
              %s = scatter %x, %at, %v {update_window_dims = [], inserted_window_dims = [0, 1], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 1, kind = add} : tensor<40x50xf32>
              %e = scatter %table, %ids, %g {update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1, kind = add} : tensor<37x24xf16>
              %p = scatter %h, %at, %hv {update_window_dims = [], inserted_window_dims = [0, 1], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 1, kind = mul} : tensor<40x50xbf16>
              %b = scatter %y, %bi, %bu {update_window_dims = [], inserted_window_dims = [1], scatter_dims_to_operand_dims = [1], index_vector_dim = 2, input_batching_dims = [0], scatter_indices_batching_dims = [0], kind = max} : tensor<3x64xf32>
              return %s, %e, %p, %b
            }
            """);
        var rng = new Random(19);
        Tensor R(ElementType e, double lo, double hi, params long[] shape)
        {
            var t = new TensorType(e, shape);
            return Tensor.FromDoubles(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => lo + rng.NextDouble() * (hi - lo))]);
        }
        Tensor Ints(ElementType e, int lo, int hi, params long[] shape)
        {
            var t = new TensorType(e, shape);
            return Tensor.FromInt64s(t, [.. Enumerable.Range(0, (int)t.ElementCount).Select(_ => (long)rng.Next(lo, hi))]);
        }
        Tensor[] inputs =
        [
            R(ElementType.F32, -2, 2, 40, 50), Ints(ElementType.I32, -2, 53, 3000, 2), R(ElementType.F32, -1, 1, 3000),
            R(ElementType.F16, -1, 1, 37, 24), Ints(ElementType.I64, -1, 38, 700, 1), R(ElementType.F16, -0.1, 0.1, 700, 24),
            R(ElementType.BF16, 0.5, 1.5, 40, 50), R(ElementType.BF16, 0.9, 1.1, 3000),
            R(ElementType.F32, -1, 1, 3, 64), Ints(ElementType.I32, 0, 66, 3, 200, 1), R(ElementType.F32, -2, 2, 3, 200),
        ];
        var program = RunAndCompare(placed, rtol: 0, atol: 0, inputs: inputs);
        Assert.Contains("scatter_groups", program.Ptx);
        Assert.Contains("keysort_step", program.Ptx); // 3000 positions pad to 4096 keys: more than one block sorts
    }

    /// <summary>
    /// 32- and 64-bit integer scatters combine their updates atomically in parallel: add, mul (a compare-and-swap loop), max
    /// and min, signed and unsigned, with repeated indices, exactly the interpreter's sequential results (wrapping included).
    /// </summary>
    [CudaEmulatorFact]
    public void IntegerScattersCombineAtomically()
    {
        var placed = PlaceOnGpu("""
            func @main(%x: tensor<64xi32>, %y: tensor<64xi64>, %z: tensor<64xu32>, %at: tensor<2000x1xi32>, %v: tensor<2000xi32>, %w: tensor<2000xi64>, %q: tensor<2000xu32>, %rows: tensor<300x1xi64>, %r: tensor<300x8xi32>, %t: tensor<16x8xi32>) -> (tensor<64xi32>, tensor<64xi64>, tensor<64xu32>, tensor<64xi32>, tensor<16x8xi32>) {
              %a = scatter %x, %at, %v {update_window_dims = [], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1, kind = add} : tensor<64xi32>
              %m = scatter %y, %at, %w {update_window_dims = [], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1, kind = mul} : tensor<64xi64>
              %u = scatter %z, %at, %q {update_window_dims = [], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1, kind = max} : tensor<64xu32>
              %n = scatter %x, %at, %v {update_window_dims = [], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1, kind = min} : tensor<64xi32>
              %g = scatter %t, %rows, %r {update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1, kind = add} : tensor<16x8xi32>
              return %a, %m, %u, %n, %g
            }
            """);
        var rng = new Random(17);
        Tensor I(ElementType e, long n, Func<long> next) => Tensor.FromInt64s(new TensorType(e, n), [.. Enumerable.Range(0, (int)n).Select(_ => next())]);
        Tensor[] inputs =
        [
            I(ElementType.I32, 64, () => rng.Next(-1000, 1000)), I(ElementType.I64, 64, () => rng.Next(-3, 4)), I(ElementType.U32, 64, () => rng.Next(0, 1 << 30)),
            Tensor.FromInt64s(new TensorType(ElementType.I32, 2000L, 1L), [.. Enumerable.Range(0, 2000).Select(_ => (long)rng.Next(-1, 66))]),
            I(ElementType.I32, 2000, () => rng.Next(int.MinValue, int.MaxValue)), // sums wrap
            I(ElementType.I64, 2000, () => rng.Next(-3, 4)),                       // products overflow and wrap, or hit zero
            I(ElementType.U32, 2000, () => (long)(uint)rng.Next(int.MinValue, int.MaxValue)),
            Tensor.FromInt64s(new TensorType(ElementType.I64, 300L, 1L), [.. Enumerable.Range(0, 300).Select(_ => (long)rng.Next(0, 17))]),
            Tensor.FromInt64s(new TensorType(ElementType.I32, 300L, 8L), [.. Enumerable.Range(0, 2400).Select(_ => (long)rng.Next(-50, 50))]),
            Tensor.FromInt64s(new TensorType(ElementType.I32, 16L, 8L), [.. Enumerable.Range(0, 128).Select(_ => (long)rng.Next(-50, 50))]),
        ];
        var program = RunAndCompare(placed, rtol: 0, atol: 0, inputs: inputs);
        Assert.Contains("scatter_atomic", program.Ptx);
        Assert.Contains("cas.b64", program.Ptx); // the product's compare-and-swap loop
    }

    /// <summary>Every math function in one pointwise kernel, at a length that leaves a ragged edge (1001 = 4·250 + 1).</summary>
    [CudaEmulatorFact]
    public void MathFunctionsMatchTheInterpreterOnTheGpu()
    {
        var unary = new[] { "exp", "log1p", "expm1", "sin", "cos", "tan", "atan", "sinh", "cosh", "asinh", "tanh", "logistic", "erf", "cbrt" };
        var lines = new List<string>();
        var names = new List<string>();
        foreach (var op in unary)
        {
            lines.Add($"  %{op} = {op} %x : tensor<1001xf32>");
            names.Add($"%{op}");
        }
        lines.Add("  %ax = abs %x : tensor<1001xf32>");
        lines.Add("  %log = log %ax : tensor<1001xf32>");
        lines.Add("  %pow = pow %ax, %y : tensor<1001xf32>");
        lines.Add("  %atan2 = atan2 %x, %y : tensor<1001xf32>");
        lines.Add("  %half = constant {value = dense<0.5>} : tensor<f32>");
        lines.Add("  %hb = broadcast_in_dim %half {dims = []} : tensor<1001xf32>");
        lines.Add("  %small = mul %x, %hb : tensor<1001xf32>");
        lines.Add("  %asin = asin %small : tensor<1001xf32>");
        lines.Add("  %acos = acos %small : tensor<1001xf32>");
        lines.Add("  %atanh = atanh %small : tensor<1001xf32>");
        names.AddRange(["%log", "%pow", "%atan2", "%asin", "%acos", "%atanh"]);
        var types = string.Join(", ", names.Select(_ => "tensor<1001xf32>"));
        var text = $"func @main(%x: tensor<1001xf32>, %y: tensor<1001xf32>) -> ({types}) {{\n{string.Join("\n", lines)}\n  return {string.Join(", ", names)}\n}}\n";
        RunAndCompare(PlaceOnGpu(text), rtol: 2e-6, atol: 1e-6);
    }

    [CudaEmulatorFact]
    public void F64PointwiseMatchesTheInterpreter() =>
        RunAndCompare(PlaceOnGpu("""
            func @main(%x: tensor<777xf64>, %y: tensor<777xf64>) -> (tensor<777xf64>) {
              %a = add %x, %y : tensor<777xf64>
              %d = div %a, %y : tensor<777xf64>
              %m = max %d, %x : tensor<777xf64>
              %r = round %m : tensor<777xf64>
              return %r
            }
            """), rtol: 0, atol: 0);

    /// <summary>
    /// A whole CNN (benchmarks/models/cnn_8x3x32x32.onnx: two convolutions with relu and max pooling, then a dense
    /// layer) through the public driver with <c>--place '.*=gpu'</c>: every op on the GPU, none left on the CPU,
    /// and the result the interpreter's.
    /// </summary>
    [CudaEmulatorFact]
    public void ACnnRunsEntirelyOnTheEmulatedGpu()
    {
        var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions { Target = "cuda", Place = [".*=gpu"] }).Unwrap();
        var model = driver.Load(Path.Combine(GoldenFile.RepoRoot(), "benchmarks", "models", "cnn_8x3x32x32.onnx")).Unwrap();
        var optimised = driver.Optimize(model).Unwrap();
        var placed = optimised.Entry.Body.Operations.Where(o => !o.Def.IsTerminator && o.Def is not (GraphCompiler.IR.Ops.ConstantOp or GraphCompiler.IR.Ops.SendOp or GraphCompiler.IR.Ops.RecvOp)).ToList();
        Assert.All(placed, o => Assert.Equal("gpu", o.Attr.Enum("device")));
        Assert.Contains(placed, o => o.Regions.Length > 0 && o.Regions[0].Operations.Any(b => b.Def is GraphCompiler.IR.Ops.ConvolutionOp));
        var inputs = RandomInputs(optimised.Entry, 8);
        var expected = new Interpreter(model).Run(null, inputs).Unwrap().Results;
        using (CudaEmulator.AsDriver())
        {
            using var exe = driver.Jit(optimised).Unwrap();
            var actual = exe.Run(inputs).Unwrap();
            IrTest.AssertTensor(expected[0], actual[0], 1e-4, 1e-4);
        }
    }

    /// <summary>
    /// A small bottleneck ResNet (<see cref="ResNetIr"/>: the 7×7/2 stem, padded 3×3/2 max pooling, strided 3×3 and
    /// projection convolutions, residual adds, global average pooling, a dense layer) with every op on the emulated GPU,
    /// against the interpreter: the architecture of tools/gpu-check's ResNet-50 at a size the emulator runs in seconds.
    /// </summary>
    [CudaEmulatorFact]
    public void ABottleneckResNetRunsEntirelyOnTheEmulatedGpu()
    {
        var placed = PlaceOnGpu(ResNetIr.Ir(batch: 2, image: 32, width: 4, blocks: [1, 2], classes: 10));
        Assert.DoesNotContain("device = cpu", GraphCompiler.IR.Text.Printer.Print(placed));
        var program = RunAndCompare(placed, rtol: 1e-4, atol: 1e-4, inputs: ResNetIr.Inputs(placed.Entry, 3));
        // ReLU (NaN-propagating, as the IR's max) and the row kernel's shuffles of global average pooling.
        Assert.Contains("max.NaN.f32", program.Ptx);
        Assert.Contains("shfl.sync.bfly", program.Ptx);
    }

    /// <summary>
    /// Reductions that keep the innermost dimension, with enough output elements to fill the GPU (here a 1- or 2-multiprocessor
    /// target, so that small shapes qualify): a thread per output element (<c>gc_column</c>), coalesced across the warp —
    /// a column sum, global average pooling after a relu, and per-channel mean and variance (two reduces, one fusion).
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(2, """
        func @main(%x: tensor<300x600xf32>) -> (tensor<600xf32>) {
          %s = reduce %x {dims = [0], kind = sum} : tensor<600xf32>
          return %s
        }
        """)]
    [InlineData(2, """
        func @main(%x: tensor<2x7x7x300xf32>) -> (tensor<2x300xf32>) {
          %z = constant {value = dense<0.0>} : tensor<f32>
          %zb = broadcast_in_dim %z {dims = []} : tensor<2x7x7x300xf32>
          %r = max %x, %zb : tensor<2x7x7x300xf32>
          %s = reduce %r {dims = [1, 2], kind = sum} : tensor<2x300xf32>
          %n = constant {value = dense<0.02040816326530612>} : tensor<f32>
          %nb = broadcast_in_dim %n {dims = []} : tensor<2x300xf32>
          %m = mul %s, %nb : tensor<2x300xf32>
          return %m
        }
        """)]
    [InlineData(1, """
        func @main(%x: tensor<6x5x4x256xf32>) -> (tensor<256xf32>, tensor<256xf32>) {
          %s = reduce %x {dims = [0, 1, 2], kind = sum} : tensor<256xf32>
          %x2 = mul %x, %x : tensor<6x5x4x256xf32>
          %s2 = reduce %x2 {dims = [0, 1, 2], kind = sum} : tensor<256xf32>
          %n = constant {value = dense<0.008333333333333333>} : tensor<f32>
          %nb = broadcast_in_dim %n {dims = []} : tensor<256xf32>
          %mean = mul %s, %nb : tensor<256xf32>
          %ex2 = mul %s2, %nb : tensor<256xf32>
          %m2 = mul %mean, %mean : tensor<256xf32>
          %var = sub %ex2, %m2 : tensor<256xf32>
          return %mean, %var
        }
        """)]
    public void ColumnReductionsRunAThreadPerOutput(int multiprocessors, string text)
    {
        var options = Options with { Gpu = CudaTarget.Default with { Multiprocessors = multiprocessors } };
        var program = RunAndCompare(PlaceOnGpu(text), rtol: 1e-5, atol: 1e-5, options: options);
        Assert.Contains(".entry gc_column", program.Ptx);
        Assert.DoesNotContain(".entry gc_row", program.Ptx);
    }

    /// <summary>
    /// The emulator runs a block's threads as fibers, each until it waits: a block whose threads can never all meet (here
    /// thread 0 skips the barrier the others wait at) fails its launch (CUDA_ERROR_LAUNCH_FAILED) instead of hanging the
    /// test run; the same kernel with every thread at the barrier, twice, runs.
    /// </summary>
    [CudaEmulatorFact]
    public void ABlockWhoseThreadsNeverAllMeetFailsItsLaunch()
    {
        const string kernel = """
            void barrier(void) __asm__("gcemu.barrier0");
            unsigned tid(void) __asm__("gcemu.sreg.tid.x");
            void k(void **params) __asm__("k.emu");
            const int sync __asm__("k.emu.sync") = 1;
            static volatile int met;
            void k(void **params) { (void)params; if (SKIP) return; barrier(); met++; barrier(); }
            """;
        Assert.Equal(719, CudaEmulator.LaunchHandWritten(kernel.Replace("SKIP", "tid() == 0"), 64));
        Assert.Equal(0, CudaEmulator.LaunchHandWritten(kernel.Replace("SKIP", "0"), 64));
    }

    /// <summary>
    /// Few outputs of many elements (a full sum, a mean and a max per row of a few long rows, statistics over the leading
    /// dimension of a narrow tensor) split into chunks: a block per (output, chunk) writes partials to the device scratch,
    /// then a block per output combines them and computes the outputs. Sizes are odd, so the last chunk is short. Where the
    /// kept dimensions trail (per-channel statistics of an NHWC tensor: batch norm's sums), a block per chunk takes every
    /// channel, its warps reading consecutive memory.
    /// </summary>
    [CudaEmulatorTheory]
    [InlineData(4, """
        func @main(%x: tensor<300007xf32>) -> (tensor<f32>) {
          %s = reduce %x {dims = [0], kind = sum} : tensor<f32>
          return %s
        }
        """)]
    [InlineData(4, """
        func @main(%x: tensor<3x100003xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
          %sq = mul %x, %x : tensor<3x100003xf32>
          %s = reduce %sq {dims = [1], kind = sum} : tensor<3xf32>
          %n = constant {value = dense<0.00001>} : tensor<3xf32>
          %ms = mul %s, %n : tensor<3xf32>
          %r = sqrt %ms : tensor<3xf32>
          %m = reduce %x {dims = [1], kind = max} : tensor<3xf32>
          return %r, %m
        }
        """)]
    [InlineData(8, """
        func @main(%x: tensor<70001x5xf32>) -> (tensor<5xf32>) {
          %a = abs %x : tensor<70001x5xf32>
          %m = reduce %a {dims = [0], kind = min} : tensor<5xf32>
          return %m
        }
        """)]
    [InlineData(132, """
        func @main(%x: tensor<8x96x96x16xf32>) -> (tensor<16xf32>, tensor<16xf32>) {
          %s = reduce %x {dims = [0, 1, 2], kind = sum} : tensor<16xf32>
          %sq = mul %x, %x : tensor<8x96x96x16xf32>
          %q = reduce %sq {dims = [0, 1, 2], kind = sum} : tensor<16xf32>
          %n = constant {value = dense<0.0000135633680555>} : tensor<16xf32>
          %mean = mul %s, %n : tensor<16xf32>
          %ms = mul %q, %n : tensor<16xf32>
          %m2 = mul %mean, %mean : tensor<16xf32>
          %var = sub %ms, %m2 : tensor<16xf32>
          return %mean, %var
        }
        """)]
    [InlineData(4, """
        func @main(%x: tensor<65601x3xf64>) -> (tensor<3xf64>) {
          %s = reduce %x {dims = [0], kind = sum} : tensor<3xf64>
          return %s
        }
        """)]
    public void FewOutputsOfManyElementsSplitIntoChunks(int multiprocessors, string text)
    {
        var options = Options with { Gpu = CudaTarget.Default with { Multiprocessors = multiprocessors } };
        var program = RunAndCompare(PlaceOnGpu(text), rtol: 1e-5, atol: 1e-5, options: options);
        // Kept dimensions trailing (per-channel statistics): every row per block, consecutive threads on consecutive rows.
        bool trailing = text.Contains("x16xf32>") || text.Contains("x3xf64") || text.Contains("x5xf32");
        Assert.Contains(trailing ? ".entry gc_split_columns" : ".entry gc_split", program.Ptx);
        if (!trailing) Assert.DoesNotContain(".entry gc_split_columns", program.Ptx);
        Assert.Contains(".entry gc_combine", program.Ptx);
        Assert.DoesNotContain(".entry gc_row", program.Ptx);
    }

    /// <summary>
    /// A softmax over a batch of one: the reduces' results have a dimension of extent 1, which the broadcasts after them
    /// index as 0; the reduction kernel's registers must still stand for them (once they were recomputed, and failed).
    /// </summary>
    [CudaEmulatorFact]
    public void SoftmaxOverABatchOfOneRunsOnTheGpu()
    {
        var program = RunAndCompare(PlaceOnGpu("""
            func @main(%x: tensor<1x10xf32>) -> (tensor<1x10xf32>) {
              %m = reduce %x {dims = [1], kind = max} : tensor<1xf32>
              %mb = broadcast_in_dim %m {dims = [0]} : tensor<1x10xf32>
              %s = sub %x, %mb : tensor<1x10xf32>
              %e = exp %s : tensor<1x10xf32>
              %t = reduce %e {dims = [1], kind = sum} : tensor<1xf32>
              %tb = broadcast_in_dim %t {dims = [0]} : tensor<1x10xf32>
              %d = div %e, %tb : tensor<1x10xf32>
              return %d
            }
            """), rtol: 1e-6, atol: 1e-7);
        Assert.Contains("shfl.sync.bfly", program.Ptx);
    }

    /// <summary>
    /// The shared ONNX suite through the cuda target as <c>check --backend cuda --place '.*=gpu'</c> runs it (the
    /// conformance runner, the driver, the JIT, the generated runtime), the driver being the emulator. Every case of
    /// the CUDA floor (<c>tests/conformance/onnx.cuda.txt</c>, which tools/gpu-check enforces on a GPU) passes and nothing
    /// fails; and the floor holds every case of the CPU backend's, but those listed as failing on cuda with their reason
    /// (expected-failures.txt). <c>UPDATE_FLOOR=1</c> adds newly passing cases and never removes one.
    /// </summary>
    [CudaEmulatorFact]
    public void OnnxSuitePassesTheCudaFloorOnTheEmulatedGpu()
    {
        var shared = GraphCompiler.Tests.Conformance.ConformanceFloorTests.SharedRoot;
        var floors = Path.Combine(GoldenFile.RepoRoot(), "tests", "conformance");
        static HashSet<string> Read(string path) =>
            File.ReadAllLines(path).Where(l => l.Length > 0 && !l.StartsWith('#')).ToHashSet(StringComparer.Ordinal);
        var cpuFloor = Read(Path.Combine(floors, "onnx.cpu.txt"));
        var floorFile = Path.Combine(floors, "onnx.cuda.txt");
        var floor = File.Exists(floorFile) ? Read(floorFile) : [];
        var driver = GraphCompiler.Compiler.Create(new GraphCompiler.CompileOptions { Target = "cuda", Place = [".*=gpu"] }).Unwrap();
        var runner = new GraphCompiler.Conformance.ConformanceRunner(driver);
        long before = CudaEmulator.Launches;
        GraphCompiler.Conformance.CheckSummary summary;
        using (CudaEmulator.AsDriver())
            summary = runner.Run([Path.Combine(shared, "conformance", "onnx", "node"), Path.Combine(shared, "conformance", "onnx", "simple")]);
        var passed = summary.Cases.Where(c => c.Status == GraphCompiler.Conformance.CaseStatus.Pass).Select(c => c.Name).ToHashSet();
        if (Environment.GetEnvironmentVariable("UPDATE_FLOOR") == "1")
        {
            floor.UnionWith(passed);
            File.WriteAllLines(floorFile, [
                "# onnx conformance cases that pass on the cuda backend with every op the GPU has a kernel for placed there (check --backend cuda --place '.*=gpu');",
                "# a case listed here must keep passing: on the emulated driver in every test run (CudaEmulatorTests), on a GPU in tools/gpu-check.",
                .. floor.Order(StringComparer.Ordinal)]);
        }
        var failed = summary.Cases.Where(c => c.Status == GraphCompiler.Conformance.CaseStatus.Fail).Select(c => c.Line).ToList();
        Assert.True(failed.Count == 0, $"{summary.Totals}:\n{string.Join("\n", failed)}");
        var regressed = floor.Where(c => !passed.Contains(c)).Order(StringComparer.Ordinal).ToList();
        Assert.True(regressed.Count == 0, $"in onnx.cuda.txt but not passing on the emulated GPU: {string.Join(", ", regressed)}");
        var cpuOnly = cpuFloor.Where(c => !floor.Contains(c) && GraphCompiler.Conformance.ExpectedFailures.Shipped.Reason("cuda", c) is null)
            .Order(StringComparer.Ordinal).ToList();
        Assert.True(cpuOnly.Count == 0, $"pass on the CPU but are neither in onnx.cuda.txt nor listed as cuda failures with a reason: {string.Join(", ", cpuOnly)}");
        Assert.True(CudaEmulator.Launches - before >= floor.Count, "the cases' kernels did not run on the (emulated) GPU");
    }
}
