using System.Collections.Immutable;

namespace GraphCompiler.IR.Ops;

/// <summary>
/// Shared rules of the contractions: operand and result element types, and the accumulator. Floats
/// accumulate in double, integers in 64 bits (wrapping; signed and unsigned agree modulo 2^64), and the
/// sum is rounded (floats) or wrapped (integers) to the result type once.
/// </summary>
internal static class Contraction
{
    /// <summary>
    /// The result type of a contraction given its inferred shape: the declared type, after checking that
    /// its shape is <paramref name="shape"/> and its element type is the operands' or a wider one of the
    /// same class (a wider signed type also takes unsigned operands).
    /// </summary>
    public static TensorType ResultType(OpSignature sig, ElementType operand, ImmutableArray<long> shape)
    {
        var declared = sig.DeclaredType();
        if (!declared.Shape.SequenceEqual(shape))
            throw sig.Error($"result shape {declared.ShapeString} differs from the inferred [{string.Join(", ", shape)}]");
        var r = declared.Element;
        bool ok = operand.IsFloat() ? r.IsFloat() && (r == operand || r.BitWidth() > operand.BitWidth())
            : operand.IsSignedInteger() ? r.IsSignedInteger() && r.BitWidth() >= operand.BitWidth()
            : r.IsUnsignedInteger() ? r.BitWidth() >= operand.BitWidth()
            : r.IsSignedInteger() && r.BitWidth() > operand.BitWidth();
        if (!ok)
            throw sig.Error($"result element type {r.Name()} must be {operand.Name()} or a wider {(operand.IsFloat() ? "float" : "integer")} type");
        return declared;
    }

    /// <summary>Checks that both operands have one numeric element type.</summary>
    public static ElementType OperandElement(OpSignature sig, string lhsName, string rhsName)
    {
        var (l, r) = (sig.Operand(0), sig.Operand(1));
        if (l.Element != r.Element)
            throw sig.Error($"{lhsName} and {rhsName} must have the same element type, got {l} and {r}");
        if (!TypeClass.Numeric.Accepts(l.Element)) throw sig.Error($"operands are {l} and {r}, expected a numeric (not bool) type");
        return l.Element;
    }
}

/// <summary>Runs one sum of products, in double (float result) or in 64-bit wrapping integers.</summary>
internal struct Accumulator(bool isFloat)
{
    private double _f;
    private long _i;

    public void Add(Tensor a, long i, Tensor b, long j)
    {
        if (isFloat) _f += a.GetDouble(i) * b.GetDouble(j);
        else _i = unchecked(_i + a.GetInt64(i) * b.GetInt64(j));
    }

    public readonly void Store(TensorBuffer o, long k)
    {
        if (isFloat) o.SetDouble(k, _f);
        else o.SetInt64(k, _i);
    }
}

/// <summary>
/// <c>dot_general %lhs, %rhs {lhs_batch = [...], rhs_batch = [...], lhs_contract = [...], rhs_contract = [...]} : T</c>:
/// XLA DotGeneral. The result dimensions are the batch dimensions (in the order listed), then lhs's free
/// dimensions, then rhs's, each in operand order; each element is the sum over the contracting dimensions
/// of lhs × rhs. Empty contracting lists give an outer product; an empty contraction sums to 0. The result
/// element type is given (the operands' or wider, e.g. i8 × i8 → i32).
/// </summary>
public sealed class DotGeneralOp() : OpDef("dot_general")
{
    /// <summary>
    /// A batched free dimension of one side (the rows of a matmul's lhs) becomes the result dimension it
    /// lands on (result: dot batch dimensions, lhs free, rhs free); both sides may be batched only along the
    /// same dot batch dimension (batched matmuls). A contracted batch dimension sums over the batch: refused.
    /// </summary>
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands)
    {
        var a = op.Attr;
        var (lb, rb, lc, rc) = (a.Ints32("lhs_batch"), a.Ints32("rhs_batch"), a.Ints32("lhs_contract"), a.Ints32("rhs_contract"));
        var (l, r) = (operands[0].Dim, operands[1].Dim);
        if (l is { } ld && lc.Contains(ld) || r is { } rd && rc.Contains(rd))
            return BatchSplit.Refuse(BatchRules.Across((l is { } x && lc.Contains(x) ? l : r)!.Value, "contracts"));
        if (l is not null && r is not null)
        {
            int i = Array.IndexOf(lb, l.Value);
            return i >= 0 && rb[i] == r ? BatchSplit.Batched(i) : BatchSplit.Refuse($"both operands are batched (lhs along {l}, rhs along {r}), not along one dot batch dimension");
        }
        int[] Free(int rank, int[] batch, int[] contract) => [.. Enumerable.Range(0, rank).Where(d => !batch.Contains(d) && !contract.Contains(d))];
        if (l is { } lhsDim)
        {
            if (lb.Contains(lhsDim)) return BatchSplit.Refuse($"the lhs is batched along its dot batch dimension {lhsDim} but the rhs is shared");
            return BatchSplit.Batched(lb.Length + Array.IndexOf(Free(op.Operands[0].Type.Rank, lb, lc), lhsDim));
        }
        if (r is { } rhsDim)
        {
            if (rb.Contains(rhsDim)) return BatchSplit.Refuse($"the rhs is batched along its dot batch dimension {rhsDim} but the lhs is shared");
            int lhsFree = op.Operands[0].Type.Rank - lb.Length - lc.Length;
            return BatchSplit.Batched(lb.Length + lhsFree + Array.IndexOf(Free(op.Operands[1].Type.Rank, rb, rc), rhsDim));
        }
        return BatchSplit.Shared;
    }

    public override Autodiff.VjpRule? Gradient => ContractionGradients.DotGeneral;
    public override OpTraits Traits => OpTraits.Contraction | OpTraits.Foldable;

    /// <summary>The product of the contracted dimensions' sizes: multiply-adds per result element.</summary>
    public static double ContractedSize(Operation op)
    {
        var lhs = op.Operands[0].Type;
        return op.Attr.Ints("lhs_contract").Aggregate(1.0, (p, d) => p * lhs.Shape[(int)d]);
    }

    /// <summary>2 · (result elements) · (contracted size): one multiply and one add per term (2·M·N·K for a matmul).</summary>
    public override OpCost Cost(Operation op) =>
        new(2 * op.Result.Type.ElementCount * ContractedSize(op), OpCost.OperandAndResultBytes(op));

    public override double EvaluationWork(Operation op) => op.Result.Type.ElementCount * ContractedSize(op);

    public override int MinOperands => 2;
    public override bool TakesResultTypes => true;

    public override ImmutableArray<AttrSpec> Attributes =>
    [
        AttrSpec.IntsOrEmpty("lhs_batch"), AttrSpec.IntsOrEmpty("rhs_batch"),
        AttrSpec.Ints("lhs_contract"), AttrSpec.Ints("rhs_contract"),
    ];

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var e = Contraction.OperandElement(sig, "lhs", "rhs");
        var (l, r) = (sig.Operand(0), sig.Operand(1));
        var a = sig.Attr;
        var (lb, rb, lc, rc) = (a.Ints("lhs_batch"), a.Ints("rhs_batch"), a.Ints("lhs_contract"), a.Ints("rhs_contract"));
        if (lb.Length != rb.Length) throw sig.Error($"'lhs_batch' has {lb.Length} entries but 'rhs_batch' has {rb.Length}");
        if (lc.Length != rc.Length) throw sig.Error($"'lhs_contract' has {lc.Length} entries but 'rhs_contract' has {rc.Length}");
        CheckDims(sig, "lhs", lb, lc, l.Rank);
        CheckDims(sig, "rhs", rb, rc, r.Rank);
        for (int i = 0; i < lb.Length; i++)
        {
            if (l.Shape[(int)lb[i]] != r.Shape[(int)rb[i]])
                throw sig.Error($"batch dimension #{i}: lhs dimension {lb[i]} has size {l.Shape[(int)lb[i]]} but rhs dimension {rb[i]} has size {r.Shape[(int)rb[i]]}");
        }
        for (int i = 0; i < lc.Length; i++)
        {
            if (l.Shape[(int)lc[i]] != r.Shape[(int)rc[i]])
                throw sig.Error($"contracting dimension #{i}: lhs dimension {lc[i]} has size {l.Shape[(int)lc[i]]} but rhs dimension {rc[i]} has size {r.Shape[(int)rc[i]]}");
        }
        ImmutableArray<long> shape =
        [
            .. lb.Select(d => l.Shape[(int)d]),
            .. Free(l.Rank, lb, lc).Select(d => l.Shape[d]),
            .. Free(r.Rank, rb, rc).Select(d => r.Shape[d]),
        ];
        return [Contraction.ResultType(sig, e, shape)];
    }

    private static void CheckDims(OpSignature sig, string side, ImmutableArray<long> batch, ImmutableArray<long> contract, int rank)
    {
        Shapes.CheckDims(sig, side + "_batch", batch, rank);
        Shapes.CheckDims(sig, side + "_contract", contract, rank);
        foreach (var d in contract)
            if (batch.Contains(d)) throw sig.Error($"{side} dimension {d} is in both '{side}_batch' and '{side}_contract'");
    }

    /// <summary>The dimensions that are neither batch nor contracting, in order.</summary>
    private static int[] Free(int rank, ImmutableArray<long> batch, ImmutableArray<long> contract) =>
        [.. Enumerable.Range(0, rank).Where(d => !batch.Contains(d) && !contract.Contains(d))];

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var (l, r) = (ctx.Operand(0), ctx.Operand(1));
        var a = ctx.Attr;
        var (lb, rb, lc, rc) = (a.Ints32("lhs_batch"), a.Ints32("rhs_batch"), a.Ints32("lhs_contract"), a.Ints32("rhs_contract"));
        var lf = Free(l.Type.Rank, [.. lb.Select(d => (long)d)], [.. lc.Select(d => (long)d)]);
        var rf = Free(r.Type.Rank, [.. rb.Select(d => (long)d)], [.. rc.Select(d => (long)d)]);
        var t = ctx.ResultType();
        var (ls, rs) = (l.Type.Strides(), r.Type.Strides());
        ImmutableArray<long> contractShape = [.. lc.Select(d => l.Type.Shape[d])];
        long contractCount = contractShape.Aggregate(1L, (p, n) => p * n);

        var o = new TensorBuffer(t);
        var idx = new long[t.Rank];
        var cidx = new long[lc.Length];
        var (li, ri) = (new long[l.Type.Rank], new long[r.Type.Rank]);
        for (long k = 0; k < t.ElementCount; k++)
        {
            Shapes.Unravel(k, t.Shape, idx);
            for (int i = 0; i < lb.Length; i++) (li[lb[i]], ri[rb[i]]) = (idx[i], idx[i]);
            for (int i = 0; i < lf.Length; i++) li[lf[i]] = idx[lb.Length + i];
            for (int i = 0; i < rf.Length; i++) ri[rf[i]] = idx[lb.Length + lf.Length + i];
            var acc = new Accumulator(t.Element.IsFloat());
            for (long c = 0; c < contractCount; c++)
            {
                Shapes.Unravel(c, contractShape, cidx);
                for (int i = 0; i < lc.Length; i++) (li[lc[i]], ri[rc[i]]) = (cidx[i], cidx[i]);
                acc.Add(l, Shapes.Ravel(li, ls), r, Shapes.Ravel(ri, rs));
            }
            acc.Store(o, k);
        }
        return [o.ToTensor()];
    }
}

/// <summary>
/// Which dimension of the input, kernel and output plays which role, parsed from an XLA-style label
/// string such as <c>"b01f_01io->b01f"</c> (NHWC/HWIO/NHWC) or <c>"bf01_oi01->bf01"</c> (NCHW/OIHW/NCHW):
/// b/f are the input and output batch and feature dimensions, i/o the kernel's input and output
/// features, and digit s the s-th spatial dimension in each.
/// </summary>
public sealed record ConvLayout(
    int InBatch, int InFeature, int[] InSpatial,
    int KernelIn, int KernelOut, int[] KernelSpatial,
    int OutBatch, int OutFeature, int[] OutSpatial)
{
    public int SpatialCount => InSpatial.Length;

    public static ConvLayout Parse(string labels, Func<string, IrException> error)
    {
        var arrow = labels.Split("->");
        var operands = arrow[0].Split('_');
        if (arrow.Length != 2 || operands.Length != 2)
            throw error($"'dims' \"{labels}\" must have the form input_kernel->output, e.g. \"b01f_01io->b01f\"");
        var (ib, iff, isp) = Part(operands[0], "input", 'b', 'f', error);
        var (ki, ko, ksp) = Part(operands[1], "kernel", 'i', 'o', error);
        var (ob, of, osp) = Part(arrow[1], "output", 'b', 'f', error);
        if (ksp.Length != isp.Length || osp.Length != isp.Length)
            throw error($"'dims' \"{labels}\" gives {isp.Length}, {ksp.Length} and {osp.Length} spatial dimensions to the input, kernel and output; they must agree");
        return new(ib, iff, isp, ki, ko, ksp, ob, of, osp);
    }

    /// <summary>Parses one operand's labels: the two named roles once each plus the digits 0..n-1 once each.</summary>
    private static (int, int, int[]) Part(string s, string what, char first, char second, Func<string, IrException> error)
    {
        int a = -1, b = -1;
        var spatial = new int[s.Length];
        Array.Fill(spatial, -1);
        int n = s.Length - 2;
        for (int pos = 0; pos < s.Length; pos++)
        {
            char c = s[pos];
            if (c == first && a < 0) a = pos;
            else if (c == second && b < 0) b = pos;
            else if (c >= '0' && c <= '9' && c - '0' < n && spatial[c - '0'] < 0) spatial[c - '0'] = pos;
            else
                throw error($"'dims' {what} labels \"{s}\": unexpected '{c}' at position {pos} (expected '{first}' and '{second}' once each and the spatial digits 0..{n - 1} once each)");
        }
        if (a < 0 || b < 0) throw error($"'dims' {what} labels \"{s}\" must contain '{first}' and '{second}'");
        return (a, b, spatial[..n]);
    }
}

/// <summary>
/// <c>convolution %input, %kernel {dims = "b01f_01io->b01f", window_strides = [...], padding_low = [...],
/// padding_high = [...], lhs_dilation = [...], rhs_dilation = [...], feature_group_count = 1, batch_group_count = 1} : T</c>:
/// XLA ConvGeneralDilated. Per spatial dimension the input is dilated by lhs_dilation (holes of zeros;
/// transposed convolution), padded by padding_low/high (negative crops), and the kernel, dilated by
/// rhs_dilation, slides over it window_strides apart: out = floor((padded - dilated kernel) / stride) + 1.
/// Each output is the sum over the kernel window and the kernel's input features of input × kernel (no
/// kernel flip). With feature_group_count G the input features and kernel output features split into G
/// groups convolved pairwise (kernel input-feature size = input features / G; depthwise when G = input
/// features); with batch_group_count B the input batch and kernel output features split into B groups
/// (output batch = input batch / B). The window lists have one entry per spatial dimension, in digit
/// order, or are empty for the defaults (stride and dilations 1, padding 0). Result element type as for
/// dot_general.
/// </summary>
public sealed class ConvolutionOp() : OpDef("convolution")
{
    /// <summary>Batched when the input is batched along its batch (N) dimension, one group per batch, and the kernel is shared.</summary>
    public override BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands)
    {
        if (operands[0].Dim is not { } d) return operands[1].IsBatched ? BatchSplit.Refuse("its kernel is batched") : BatchSplit.Shared;
        var layout = Layout(op.Attr, m => new IrException(m, op.Location));
        if (d != layout.InBatch) return BatchSplit.Refuse(BatchRules.Across(d, "convolves"));
        if (operands[1].IsBatched) return BatchSplit.Refuse("its kernel is batched");
        if (op.Attr.Int("batch_group_count") != 1) return BatchSplit.Refuse("batch_group_count is not 1: it mixes the batch into the features");
        return BatchSplit.Batched(layout.OutBatch);
    }

    public override Autodiff.VjpRule? Gradient => ContractionGradients.Convolution;
    public override OpTraits Traits => OpTraits.Contraction | OpTraits.Foldable;

    /// <summary>2 · (result elements) · (window · input features per group): every kernel element but the output-feature dimension is one multiply-add per output element.</summary>
    public override OpCost Cost(Operation op)
    {
        var kernel = op.Operands[1].Type;
        var layout = ConvLayout.Parse(op.Attr.String("dims"), m => new IrException(m));
        double perOutput = kernel.Shape[layout.KernelOut] == 0 ? 0 : (double)kernel.ElementCount / kernel.Shape[layout.KernelOut];
        return new(2 * op.Results.Sum(r => (double)r.Type.ElementCount) * perOutput, OpCost.OperandAndResultBytes(op));
    }

    public override double EvaluationWork(Operation op) => ResultTimesOperands(op);

    /// <summary>
    /// Whether <paramref name="op"/> (a convolution) is pointwise: a 1 × 1 window, unit strides and input dilation, no
    /// padding, no batch groups: each output position is its input position's features (per feature group) times the
    /// kernel matrix, a plain GEMM per group.
    /// </summary>
    public static bool IsPointwise(Operation op)
    {
        if (op.Def is not ConvolutionOp) return false;
        var a = op.Attr;
        var layout = Layout(a, m => new IrException(m, op.Location));
        static bool All(ImmutableArray<long> v, long x) => v.IsDefaultOrEmpty || v.All(e => e == x);
        return layout.KernelSpatial.All(d => op.Operands[1].Type.Shape[d] == 1)
            && All(a.Ints("window_strides"), 1) && All(a.Ints("lhs_dilation"), 1) && All(a.Ints("padding_low"), 0) && All(a.Ints("padding_high"), 0)
            && a.Int("batch_group_count") == 1;
    }

    public override int MinOperands => 2;
    public override bool TakesResultTypes => true;

    public override ImmutableArray<AttrSpec> Attributes =>
    [
        AttrSpec.String("dims"),
        AttrSpec.IntsOrEmpty("window_strides"), AttrSpec.IntsOrEmpty("padding_low"), AttrSpec.IntsOrEmpty("padding_high"),
        AttrSpec.IntsOrEmpty("lhs_dilation"), AttrSpec.IntsOrEmpty("rhs_dilation"),
        AttrSpec.Int("feature_group_count", 1), AttrSpec.Int("batch_group_count", 1),
    ];

    /// <summary>The window parameters with defaults filled in, one entry per spatial dimension.</summary>
    public sealed record Window(long[] Strides, long[] PadLow, long[] PadHigh, long[] LhsDilation, long[] RhsDilation);

    /// <summary>A verified convolution's dimension roles and window, defaults filled in: what code generators read.</summary>
    public static (ConvLayout Layout, Window Window) Geometry(Operation conv)
    {
        var L = Layout(conv.Attr, m => new IrException(m));
        return (L, ReadWindow(conv.Attr, L.SpatialCount, m => new IrException(m)));
    }

    private static Window ReadWindow(AttrReader a, int n, Func<string, IrException> error)
    {
        long[] Get(string name, long dflt, bool positive)
        {
            var v = a.Ints(name);
            if (v.IsEmpty) return Enumerable.Repeat(dflt, n).ToArray();
            if (v.Length != n) throw error($"'{name}' has {v.Length} entries, expected {n} (one per spatial dimension) or none");
            for (int i = 0; i < n; i++)
                if (positive && v[i] < 1) throw error($"'{name}' entry {i} is {v[i]}, must be at least 1");
            return [.. v];
        }
        return new(Get("window_strides", 1, true), Get("padding_low", 0, false), Get("padding_high", 0, false),
            Get("lhs_dilation", 1, true), Get("rhs_dilation", 1, true));
    }

    private static ConvLayout Layout(AttrReader attrs, Func<string, IrException> error) =>
        ConvLayout.Parse(attrs.String("dims"), error);

    public override ImmutableArray<TensorType> InferResultTypes(OpSignature sig)
    {
        var e = Contraction.OperandElement(sig, "input", "kernel");
        var (x, k) = (sig.Operand(0), sig.Operand(1));
        var a = sig.Attr;
        var layout = Layout(sig.Attr, sig.Error);
        int n = layout.SpatialCount;
        if (x.Rank != n + 2) throw sig.Error($"input {x} must have rank {n + 2} ({n} spatial dimensions per 'dims')");
        if (k.Rank != n + 2) throw sig.Error($"kernel {k} must have rank {n + 2} ({n} spatial dimensions per 'dims')");
        var w = ReadWindow(a, n, sig.Error);
        long g = a.Int("feature_group_count"), bg = a.Int("batch_group_count");
        if (g < 1) throw sig.Error($"'feature_group_count' is {g}, must be at least 1");
        if (bg < 1) throw sig.Error($"'batch_group_count' is {bg}, must be at least 1");
        if (g > 1 && bg > 1) throw sig.Error($"'feature_group_count' ({g}) and 'batch_group_count' ({bg}) cannot both exceed 1");

        long batch = x.Shape[layout.InBatch], inFeatures = x.Shape[layout.InFeature];
        long kIn = k.Shape[layout.KernelIn], kOut = k.Shape[layout.KernelOut];
        if (inFeatures % g != 0) throw sig.Error($"input features ({inFeatures}) must be a multiple of 'feature_group_count' ({g})");
        if (kIn * g != inFeatures)
            throw sig.Error($"kernel input features ({kIn}) times 'feature_group_count' ({g}) must equal the input features ({inFeatures})");
        if (kOut % g != 0) throw sig.Error($"kernel output features ({kOut}) must be a multiple of 'feature_group_count' ({g})");
        if (batch % bg != 0) throw sig.Error($"input batch ({batch}) must be a multiple of 'batch_group_count' ({bg})");
        if (kOut % bg != 0) throw sig.Error($"kernel output features ({kOut}) must be a multiple of 'batch_group_count' ({bg})");

        var shape = new long[n + 2];
        shape[layout.OutBatch] = batch / bg;
        shape[layout.OutFeature] = kOut;
        try
        {
            for (int s = 0; s < n; s++)
            {
                long padded = checked(Shapes.DilatedSize(x.Shape[layout.InSpatial[s]], w.LhsDilation[s]) + w.PadLow[s] + w.PadHigh[s]);
                long window = Shapes.DilatedSize(k.Shape[layout.KernelSpatial[s]], w.RhsDilation[s]);
                shape[layout.OutSpatial[s]] = Shapes.WindowCount(padded, window, w.Strides[s]);
            }
        }
        catch (OverflowException)
        {
            throw sig.Error("the window attributes overflow 64-bit sizes");
        }
        return [Contraction.ResultType(sig, e, [.. shape])];
    }

    public override ImmutableArray<Tensor> Evaluate(EvalContext ctx)
    {
        var (x, k) = (ctx.Operand(0), ctx.Operand(1));
        var a = ctx.Attr;
        var L = Layout(ctx.Attr, ctx.Error);
        int n = L.SpatialCount;
        var w = ReadWindow(a, n, ctx.Error);
        long g = a.Int("feature_group_count"), bg = a.Int("batch_group_count");
        var t = ctx.ResultType();
        long kIn = k.Type.Shape[L.KernelIn], kOut = k.Type.Shape[L.KernelOut];
        long outPerFeatureGroup = kOut / g, outPerBatchGroup = kOut / bg, batchPerGroup = x.Type.Shape[L.InBatch] / bg;
        ImmutableArray<long> kernelWindow = [.. L.KernelSpatial.Select(d => k.Type.Shape[d])];
        long windowCount = kernelWindow.Aggregate(1L, (p, m) => p * m);
        var (xs, ks) = (x.Type.Strides(), k.Type.Strides());

        var o = new TensorBuffer(t);
        var oi = new long[t.Rank];
        var wi = new long[n];
        var (xi, ki) = (new long[n + 2], new long[n + 2]);
        for (long q = 0; q < t.ElementCount; q++)
        {
            Shapes.Unravel(q, t.Shape, oi);
            long of = oi[L.OutFeature];
            xi[L.InBatch] = of / outPerBatchGroup * batchPerGroup + oi[L.OutBatch];
            ki[L.KernelOut] = of;
            long firstFeature = of / outPerFeatureGroup * kIn;
            var acc = new Accumulator(t.Element.IsFloat());
            for (long c = 0; c < kIn; c++)
            {
                xi[L.InFeature] = firstFeature + c;
                ki[L.KernelIn] = c;
                for (long p = 0; p < windowCount; p++)
                {
                    Shapes.Unravel(p, kernelWindow, wi);
                    if (!InputPosition(x.Type, L, w, oi, wi, xi)) continue; // padding or a dilation hole
                    for (int s = 0; s < n; s++) ki[L.KernelSpatial[s]] = wi[s];
                    acc.Add(x, Shapes.Ravel(xi, xs), k, Shapes.Ravel(ki, ks));
                }
            }
            acc.Store(o, q);
        }
        return [o.ToTensor()];
    }

    /// <summary>Sets the input's spatial indices under kernel tap <paramref name="wi"/> of output <paramref name="oi"/>; false when it falls on padding or a hole.</summary>
    private static bool InputPosition(TensorType x, ConvLayout L, Window w, long[] oi, long[] wi, long[] xi)
    {
        for (int s = 0; s < L.SpatialCount; s++)
        {
            long pos = oi[L.OutSpatial[s]] * w.Strides[s] + wi[s] * w.RhsDilation[s] - w.PadLow[s];
            if (pos < 0 || pos % w.LhsDilation[s] != 0) return false;
            long i = pos / w.LhsDilation[s];
            if (i >= x.Shape[L.InSpatial[s]]) return false;
            xi[L.InSpatial[s]] = i;
        }
        return true;
    }
}

public static class ContractionOps
{
    public static readonly DotGeneralOp DotGeneral = new();
    public static readonly ConvolutionOp Convolution = new();

    public static readonly ImmutableArray<OpDef> All = [DotGeneral, Convolution];
}
