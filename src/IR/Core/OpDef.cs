using System.Collections.Immutable;

namespace GraphCompiler.IR;

/// <summary>
/// The single definition of an op kind: its name, operand and attribute signature, regions, result
/// type inference (which is also its verifier) and its reference semantics. Adding an op means adding
/// one subclass (or one row in a family table) and registering it in <see cref="OpRegistry"/>.
/// </summary>
public abstract class OpDef
{
    protected OpDef(string name) => Name = name;

    public string Name { get; }

    /// <summary>Fewest operands.</summary>
    public virtual int MinOperands => 0;

    /// <summary>Most operands; -1 for any number.</summary>
    public virtual int MaxOperands => MinOperands;

    public virtual ImmutableArray<AttrSpec> Attributes => [];

    /// <summary>Names of the regions, printed before each region's body.</summary>
    public virtual ImmutableArray<string> RegionNames => [];

    /// <summary>When true the op takes any number of regions, all named by the single entry of <see cref="RegionNames"/>.</summary>
    public virtual bool VariadicRegions => false;

    public virtual bool IsTerminator => false;

    /// <summary>
    /// For host control flow (<see cref="OpTraits.HostControlFlow"/>): the attribute listing the values the op keeps in GPU
    /// memory when it runs on the host CPU (a loop's carried values, branches' results; <see cref="Placement.ValueDevice"/>), or null.
    /// </summary>
    public virtual string? GpuValuesAttr => null;

    /// <summary>
    /// What passes may assume about the op (see <see cref="OpTraits"/>): declared here, next to the
    /// verifier and the semantics, and read by every consumer instead of lists of op names. Pure ops that
    /// the constant folder may evaluate, the default, are <see cref="OpTraits.Foldable"/>.
    /// </summary>
    public virtual OpTraits Traits => OpTraits.Foldable;

    /// <summary>Whether the op has every trait in <paramref name="traits"/>.</summary>
    public bool Has(OpTraits traits) => (Traits & traits) == traits;

    /// <summary>Whether the op has at least one trait in <paramref name="traits"/>.</summary>
    public bool HasAny(OpTraits traits) => (Traits & traits) != 0;

    /// <summary>
    /// Estimated cost of <paramref name="op"/> (an operation of this definition), the one estimate both the
    /// fusion and the device-placement cost models read. Bytes are what it reads and writes: its operands
    /// and results. By default (elementwise ops and data movement) one flop per result element, weighted
    /// by <see cref="ElementWeight"/>; contractions, reductions, constants and fusions override it.
    /// </summary>
    public virtual OpCost Cost(Operation op)
    {
        double elements = op.Results.Sum(r => (double)r.Type.ElementCount);
        return new(elements, OpCost.OperandAndResultBytes(op), ElementWeight * elements);
    }

    /// <summary>
    /// What one result element of the default <see cref="Cost"/> is worth in simple flops
    /// (<see cref="OpCost.WeightedFlops"/>): 1 for simple arithmetic and index remapping, 8 for divisions
    /// and square roots, 32 for transcendentals.
    /// </summary>
    public virtual double ElementWeight => 1;

    /// <summary>
    /// A rough count of the reference interpreter's inner-loop steps for <paramref name="op"/>: the constant
    /// folder leaves ops above its budget (a big matmul of constants) to run at run time.
    /// </summary>
    public virtual double EvaluationWork(Operation op) =>
        op.Results.Sum(r => (double)r.Type.ElementCount) + op.Operands.Sum(v => (double)v.Type.ElementCount);

    /// <summary>An <see cref="EvaluationWork"/> for ops that visit a window of operand elements per result element: result × max(1, operand elements).</summary>
    protected static double ResultTimesOperands(Operation op) =>
        op.Results.Sum(r => (double)r.Type.ElementCount) * Math.Max(1, op.Operands.Sum(v => (double)v.Type.ElementCount));

    /// <summary>
    /// When true the result types are part of the op's input (constant, iota, convert, reshape, ...):
    /// <see cref="InferResultTypes"/> receives them in <see cref="OpSignature.Declared"/> and validates them.
    /// </summary>
    public virtual bool TakesResultTypes => false;

    /// <summary>
    /// Computes the result types from operand types, attributes, regions (and declared types where
    /// <see cref="TakesResultTypes"/>), throwing <see cref="IrException"/> with a precise message when the
    /// combination is invalid. Attribute kinds and operand counts have been checked already.
    /// </summary>
    public abstract ImmutableArray<TensorType> InferResultTypes(OpSignature sig);

    /// <summary>Reference semantics: computes the results from the operand values. Exact, simple, slow.</summary>
    public abstract ImmutableArray<Tensor> Evaluate(EvalContext ctx);

    /// <summary>
    /// The op's vector-Jacobian product for reverse-mode differentiation (<see cref="Autodiff.Gradients"/>),
    /// or null when the op has none: differentiating through it is then an error naming the op. Ops
    /// whose results are never float (comparisons, integer arithmetic) or that read no float value
    /// (constants, iota, rng) are never on a gradient path and need none.
    /// </summary>
    public virtual Autodiff.VjpRule? Gradient => null;

    /// <summary>
    /// How <paramref name="op"/> (an operation of this definition) treats the batch when the <c>micro-batch</c>
    /// pass splits it into micro-batches (<see cref="BatchSplit"/>): given how each operand relates to the batch,
    /// whether its result is batched and along which dimension, or why one micro-batch at a time would compute
    /// something else (a reduction over the batch). The pass asks only ops that read a batched value, and shared
    /// ops for the broadcasts they make. The default refuses, so an op nobody taught the rule stops the pass with
    /// a line naming it instead of splitting it wrongly.
    /// </summary>
    public virtual BatchSplit SplitBatch(Operation op, ReadOnlySpan<BatchDim> operands) => BatchSplit.Unknown;

    public Attr? DefaultOf(string name) => Spec(name)?.Default;

    /// <summary>
    /// Canonical attributes: integers given for float attributes become floats, and attributes equal to
    /// their defaults are dropped, so that equal ops have equal attribute maps.
    /// </summary>
    public AttrMap Normalize(AttrMap attrs)
    {
        var result = attrs;
        foreach (var (name, value) in attrs.Items)
        {
            var spec = Spec(name);
            var v = spec is { Kind: AttrKind.Float } && value is IntAttr i ? new FloatAttr(i.Value) : value;
            if (spec?.Default is { } d && d.Equals(v)) result = result.Without(name);
            else if (!ReferenceEquals(v, value)) result = result.With(name, v);
        }
        return result;
    }

    /// <summary>
    /// For an <see cref="OpTraits.AsyncDone"/> op: the problem with <paramref name="start"/>, the producer of its
    /// operand (null when the operand is no op's result), or null when it is the start this op finishes.
    /// </summary>
    public virtual string? PairProblem(Operation done, Operation? start) => null;

    public AttrSpec? Spec(string name)
    {
        foreach (var a in Attributes)
            if (a.Name == name) return a;
        // Placement is an annotation every op may carry, not part of any op's signature.
        return name == Placement.AttrName ? Placement.Spec : null;
    }

    public override string ToString() => Name;
}

/// <summary>
/// Properties of an op kind that passes rely on, declared by its <see cref="OpDef.Traits"/>. They describe
/// the op, not a pass's policy: a pass combines them with its own rules (which kinds it fuses, which the
/// GPU has kernels for).
/// </summary>
[Flags]
public enum OpTraits
{
    None = 0,

    /// <summary>
    /// Pointwise: one result, of the operands' shape, whose element k is computed from element k of each
    /// operand alone (<c>select</c>'s predicate and <c>clamp</c>'s bounds may also be rank 0, read at every k).
    /// Such an op may run in place, commutes with any permutation of elements, and fuses into loops.
    /// </summary>
    Elementwise = 1 << 0,

    /// <summary>
    /// Pure index remapping: every result element is a copy of one operand element (or of a padding-value
    /// operand) at an index computed from the result index, the attributes and scalar operands alone — no
    /// arithmetic on elements, no index read from a tensor's contents (reshape, transpose,
    /// broadcast_in_dim, slice, dynamic_slice, concatenate, pad, reverse). <c>gather</c> (indices from a
    /// tensor) and <c>dynamic_update_slice</c> (an in-place window update of its operand) are not.
    /// </summary>
    IndexRemap = 1 << 1,

    /// <summary>A contraction: sums of products over contracted dimensions (dot_general, convolution).</summary>
    Contraction = 1 << 2,

    /// <summary>Combines many operand elements into each result element (reduce, reduce_window, arg_reduce).</summary>
    Reduction = 1 << 3,

    /// <summary>
    /// Observable beyond its results: <c>cse</c> never merges it, <c>dce</c> never removes it, the folder
    /// never evaluates it. The collectives (<c>all_reduce</c>, <c>all_gather</c>, <c>reduce_scatter</c>,
    /// <c>collective_broadcast</c>) have it: their value depends on the other replicas, and every replica
    /// must reach the same collectives (<c>rng</c> is a pure function of its seed, and send/recv are values
    /// read only by their pair).
    /// </summary>
    HasSideEffects = 1 << 4,

    /// <summary>
    /// Starts work that a later op of its pair finishes (<c>send</c>, <c>all_reduce_start</c>): its result is
    /// in flight, read only by that op (<see cref="AsyncDone"/>). Issued as early as its operands allow
    /// (<c>overlap-collectives</c>), so the work overlaps the ops between the two.
    /// </summary>
    AsyncStart = 1 << 6,

    /// <summary>
    /// Finishes what its operand's producer (an <see cref="AsyncStart"/> op) started (<c>recv</c>,
    /// <c>all_reduce_done</c>); <see cref="OpDef.PairProblem"/> says which starts it accepts. Issued as late
    /// as its readers allow.
    /// </summary>
    AsyncDone = 1 << 7,

    /// <summary>
    /// The constant folder may evaluate it when its operands are constants. Every pure op with results
    /// except <c>constant</c> itself (already folded); never an op with side effects.
    /// </summary>
    Foldable = 1 << 5,

    /// <summary>
    /// Control flow the host runs (<c>while</c>, <c>if</c>, <c>case</c>): the host decides which region runs and how often,
    /// so the op itself stays on the CPU, while <c>place-devices</c> and <c>insert-transfers</c> treat each of its regions
    /// as a body of its own (its ops may run on the GPU, its arguments and yields are host values).
    /// </summary>
    HostControlFlow = 1 << 8,
}

/// <summary>
/// An op's estimated work. <see cref="Flops"/> counts floating-point (or integer) operations, one per
/// elementwise result element and two per multiply-add; <see cref="WeightedFlops"/> counts the same work
/// with each division or square root worth 8 and each transcendental worth 32 simple flops (what
/// recomputing the op costs, for the <c>fuse</c> pass); <see cref="Bytes"/> is what it reads and writes.
/// </summary>
public readonly record struct OpCost(double Flops, double Bytes, double WeightedFlops)
{
    /// <summary>A cost whose flops are all simple (weighted = counted).</summary>
    public OpCost(double flops, double bytes) : this(flops, bytes, flops) { }

    /// <summary>The bytes of <paramref name="op"/>'s operands and results.</summary>
    public static double OperandAndResultBytes(Operation op) =>
        op.Operands.Sum(v => (double)v.Type.ByteSize) + op.Results.Sum(v => (double)v.Type.ByteSize);
}

/// <summary>What type inference sees of an operation.</summary>
public sealed class OpSignature(
    OpDef def,
    ImmutableArray<TensorType> operands,
    AttrMap attributes,
    ImmutableArray<TensorType> declared,
    ImmutableArray<Region> regions,
    Func<string, Function?>? resolveFunction = null,
    SourceLocation? location = null)
{
    public OpDef Def { get; } = def;
    public ImmutableArray<TensorType> Operands { get; } = operands;
    public AttrMap AttributeMap { get; } = attributes;
    public ImmutableArray<TensorType> Declared { get; } = declared.IsDefault ? [] : declared;
    public ImmutableArray<Region> Regions { get; } = regions.IsDefault ? [] : regions;
    public SourceLocation? Location { get; } = location;

    public AttrReader Attr => new(Def, AttributeMap, Location);
    public TensorType Operand(int i) => Operands[i];

    /// <summary>The declared result type <paramref name="i"/>; an error when the op was given none.</summary>
    public TensorType DeclaredType(int i = 0) =>
        i < Declared.Length ? Declared[i] : throw Error($"needs its result type{(i > 0 ? $" #{i}" : "")} to be given");

    /// <summary>A function of the enclosing module, or null when it is not known (or not yet built).</summary>
    public Function? ResolveFunction(string name) => resolveFunction?.Invoke(name);

    /// <summary>An error about this op; the verifier prefixes the op's name and position.</summary>
    public IrException Error(string message) => new(message, Location);
}

/// <summary>What the interpreter hands an op's <see cref="OpDef.Evaluate"/>.</summary>
public sealed class EvalContext(Operation op, ImmutableArray<Tensor> operands, Interpreter interpreter)
{
    public Operation Op { get; } = op;
    public ImmutableArray<Tensor> Operands { get; } = operands;
    public Interpreter Interpreter { get; } = interpreter;
    public AttrReader Attr => Op.Attr;
    public Tensor Operand(int i) => Operands[i];
    public TensorType ResultType(int i = 0) => Op.Results[i].Type;

    /// <summary>Runs region <paramref name="index"/> of this op with the given arguments; returns what it yields.</summary>
    public ImmutableArray<Tensor> RunRegion(int index, IReadOnlyList<Tensor> args) => Interpreter.RunRegion(Op.Regions[index], args);

    public IrException Error(string message) => new($"'{Op.Name}': {message}", Op.Location);
}
