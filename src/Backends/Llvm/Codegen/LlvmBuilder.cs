using System.Globalization;
using System.Text;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>LLVM spellings of IR element types: in memory (bool is a byte) and in registers (bool is i1).</summary>
public static class LlvmTypes
{
    public static string Memory(ElementType e) => e switch
    {
        ElementType.F16 => "half",
        ElementType.BF16 => "bfloat",
        ElementType.F32 => "float",
        ElementType.F64 => "double",
        ElementType.I8 or ElementType.U8 or ElementType.Bool => "i8",
        ElementType.I16 or ElementType.U16 => "i16",
        ElementType.I32 or ElementType.U32 => "i32",
        _ => "i64",
    };

    public static string Register(ElementType e) => e == ElementType.Bool ? "i1" : Memory(e);

    /// <summary>The type arithmetic happens in: f16/bf16 compute in float and round once per op.</summary>
    public static string Compute(ElementType e) => e is ElementType.F16 or ElementType.BF16 ? "float" : Register(e);

    public static string FloatLiteral(string type, double v)
    {
        // LLVM takes doubles as hexadecimal bit patterns for exactness; half/bfloat/float constants
        // are written as the double whose value they hold, which is exact after rounding below.
        if (type == "float") v = (float)v;
        if (type == "half") v = (double)(Half)v;
        return "0x" + BitConverter.DoubleToInt64Bits(v).ToString("X16", CultureInfo.InvariantCulture);
    }

    public static string Literal(ElementType e, double v) =>
        e.IsFloat() ? FloatLiteral(Compute(e), v) : e == ElementType.Bool ? (v != 0 ? "true" : "false") : ((long)v).ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Writes the body of one LLVM function as text: fresh SSA names, basic blocks, and structured loops.
/// Generated code reads like what a person would write, so a failing kernel can be debugged from
/// <c>--emit llvm</c> output.
/// </summary>
public sealed class LlvmBuilder
{
    private readonly StringBuilder _body = new();
    private readonly StringBuilder _prologue = new();
    private int _next;

    /// <param name="firstName">Where SSA numbering starts: a function split out of another keeps clear of the names it copies.</param>
    public LlvmBuilder(int firstName = 0) => _next = firstName;

    /// <summary>The number the next fresh name gets.</summary>
    public int NextName => _next;

    /// <summary>
    /// A stack slot allocated in the entry block (where mem2reg promotes it to SSA form): the simple
    /// way to carry accumulators through loops.
    /// </summary>
    public string Alloca(string type)
    {
        var name = Fresh("slot");
        _prologue.Append("  ").Append($"{name} = alloca {type}").Append('\n');
        return name;
    }

    /// <summary>
    /// The function body: the entry block's allocas, then the instructions; <paramref name="entryCode"/> (whole
    /// lines) comes first, for what is known only once the rest is emitted.
    /// </summary>
    public string Body(string entryLabel = "entry", string entryCode = "") => $"{entryLabel}:\n{entryCode}{_prologue}  br label %start\nstart:\n{_body}";

    /// <summary>The block instructions are currently appended to (needed for phi nodes).</summary>
    public string CurrentBlock { get; private set; } = "start";

    /// <summary>A new local name: the hint, then the counter, with a '.' between when the hint ends in a digit (else "t2" + 1 and "t" + 21 collide).</summary>
    public string Fresh(string hint = "t") => $"%{FreshLabel(hint)}";

    public string FreshLabel(string hint) => char.IsAsciiDigit(hint[^1]) ? $"{hint}.{_next++}" : $"{hint}{_next++}";

    public void Line(string instruction) => _body.Append("  ").Append(instruction).Append('\n');

    /// <summary>Appends <c>%x = expr</c> and returns <c>%x</c>.</summary>
    public string Let(string expr, string hint = "t")
    {
        var name = Fresh(hint);
        Line($"{name} = {expr}");
        return name;
    }

    public void Block(string label)
    {
        _body.Append(label).Append(":\n");
        CurrentBlock = label;
    }

    public void Br(string label) => Line($"br label %{label}");

    public void CondBr(string cond, string ifTrue, string ifFalse) => Line($"br i1 {cond}, label %{ifTrue}, label %{ifFalse}");

    /// <summary>Emits <c>if (cond) then()</c> and continues after it; <paramref name="then"/> may emit blocks.</summary>
    public void If(string cond, Action then, string hint = "if")
    {
        var (thenL, doneL) = (FreshLabel($"{hint}.then"), FreshLabel($"{hint}.done"));
        CondBr(cond, thenL, doneL);
        Block(thenL);
        then();
        Br(doneL);
        Block(doneL);
    }

    /// <summary>Emits <c>if (cond) then() else otherwise()</c> and continues after both; either side may emit blocks.</summary>
    public void IfElse(string cond, Action then, Action otherwise, string hint = "if")
    {
        var (thenL, elseL, doneL) = (FreshLabel($"{hint}.then"), FreshLabel($"{hint}.else"), FreshLabel($"{hint}.done"));
        CondBr(cond, thenL, elseL);
        Block(thenL);
        then();
        Br(doneL);
        Block(elseL);
        otherwise();
        Br(doneL);
        Block(doneL);
    }

    /// <summary>
    /// Emits <c>for (i = lo; i &lt; hi; i++) body(i)</c> over i64 and returns after it. The body may
    /// itself emit blocks; the loop closes from whatever block the body ends in.
    /// </summary>
    /// <param name="loopMetadata">Metadata for the loop's back edge (e.g. <c>!7</c>), or null.</param>
    public void For(string lo, string hi, Action<string> body, string hint = "i", string? loopMetadata = null, string step = "1")
    {
        var head = FreshLabel($"{hint}.head");
        var bodyLabel = FreshLabel($"{hint}.body");
        var exit = FreshLabel($"{hint}.exit");
        var pre = CurrentBlock;
        var i = Fresh(hint);
        var next = Fresh($"{hint}.next");
        Br(head);
        Block(head);
        var latch = FreshLabel($"{hint}.latch");
        Line($"{i} = phi i64 [ {lo}, %{pre} ], [ {next}, %{latch} ]");
        var cond = Let($"icmp slt i64 {i}, {hi}", "c");
        CondBr(cond, bodyLabel, exit);
        Block(bodyLabel);
        body(i);
        Br(latch);
        Block(latch);
        Line($"{next} = add nsw i64 {i}, {step}");
        Line(loopMetadata is null ? $"br label %{head}" : $"br label %{head}, !llvm.loop {loopMetadata}");
        Block(exit);
    }

    /// <summary>
    /// A loop carrying one accumulator: <c>acc = init; for i: acc = step(acc, i)</c>; returns the final value.
    /// </summary>
    public string Reduce(string lo, string hi, string type, string init, Func<string, string, string> step, string hint = "r", string stride = "1") =>
        ReduceWhile(lo, type, init, i => Let($"icmp slt i64 {i}, {hi}", "c"), step, hint, stride);

    /// <summary>
    /// A loop carrying one accumulator while a condition holds: <c>acc = init; for (i = lo; cond(i); i++) acc = step(acc, i)</c>;
    /// returns the final value. <paramref name="cond"/> must not emit blocks; <paramref name="step"/> may.
    /// </summary>
    public string ReduceWhile(string lo, string type, string init, Func<string, string> cond, Func<string, string, string> step, string hint = "r", string stride = "1")
    {
        var head = FreshLabel($"{hint}.head");
        var bodyLabel = FreshLabel($"{hint}.body");
        var exit = FreshLabel($"{hint}.exit");
        var latch = FreshLabel($"{hint}.latch");
        var pre = CurrentBlock;
        var i = Fresh(hint);
        var acc = Fresh($"{hint}.acc");
        var next = Fresh($"{hint}.next");
        var nextAcc = Fresh($"{hint}.accnext");
        Br(head);
        Block(head);
        Line($"{i} = phi i64 [ {lo}, %{pre} ], [ {next}, %{latch} ]");
        Line($"{acc} = phi {type} [ {init}, %{pre} ], [ {nextAcc}, %{latch} ]");
        CondBr(cond(i), bodyLabel, exit);
        Block(bodyLabel);
        var updated = step(acc, i);
        Br(latch);
        Block(latch);
        Line($"{nextAcc} = select i1 true, {type} {updated}, {type} {updated}");
        Line($"{next} = add nsw i64 {i}, {stride}");
        Br(head);
        Block(exit);
        return acc;
    }

    public override string ToString() => _body.ToString();
}
