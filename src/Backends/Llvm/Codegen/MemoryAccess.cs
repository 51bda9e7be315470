using System.Collections.Immutable;
using GraphCompiler.IR;

namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>A tensor in memory inside a kernel: an LLVM pointer and its type.</summary>
public sealed record KernelBuffer(string Pointer, TensorType Type);

/// <summary>
/// Element loads and stores in one function being built: linear indices (ravel/unravel), the memory
/// type of each element type (bool as i8, f16 as half, bf16 as bfloat) and the conversions between
/// narrow floats and the f32/f64 they are computed in.
/// </summary>
public sealed class MemoryAccess(LlvmBuilder b, ModuleContext module)
{
    /// <summary>Linear indices that <see cref="Unravel"/> split, by the parts and shape: raveling them again is free.</summary>
    private readonly Dictionary<string, string> _unravelled = [];

    private static string IndexKey(IReadOnlyList<string> idx, ImmutableArray<long> shape) => $"{string.Join(",", idx)}|{string.Join("x", shape)}";

    /// <summary>Linear indices <see cref="Ravel"/> computed, by the linear index and shape: their parts, which unravelling returns.</summary>
    private readonly Dictionary<string, string[]> _raveled = [];

    public string Ravel(IReadOnlyList<string> idx, ImmutableArray<long> shape)
    {
        if (shape.Length == 0) return "0";
        if (_unravelled.TryGetValue(IndexKey(idx, shape), out var linear)) return linear;
        string acc = idx[0];
        for (int d = 1; d < shape.Length; d++)
            acc = b.Let($"add nsw i64 {b.Let($"mul nsw i64 {acc}, {shape[d]}")}, {idx[d]}", "lin");
        _raveled.TryAdd(IndexKey([acc], shape), [.. idx]);
        return acc;
    }

    public string[] Unravel(string linear, ImmutableArray<long> shape)
    {
        if (_raveled.TryGetValue(IndexKey([linear], shape), out var parts)) return parts;
        var r = new string[shape.Length];
        var rest = linear;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (d == 0)
            {
                r[d] = rest;
                break;
            }
            r[d] = b.Let($"urem i64 {rest}, {shape[d]}", "ix");
            rest = b.Let($"udiv i64 {rest}, {shape[d]}", "ix");
        }
        _unravelled[IndexKey(r, shape)] = linear;
        return r;
    }

    /// <summary>Element <paramref name="linear"/> of the <paramref name="e"/> elements at <paramref name="pointer"/>, in its compute type.</summary>
    public string Load(string pointer, ElementType e, string linear)
    {
        var mt = LlvmTypes.Memory(e);
        var p = b.Let($"getelementptr inbounds {mt}, ptr {pointer}, i64 {linear}", "p");
        var x = b.Let($"load {mt}, ptr {p}", "v");
        return e switch
        {
            ElementType.Bool => b.Let($"icmp ne i8 {x}, 0"),
            ElementType.F16 => b.Let($"fpext half {x} to float"),
            ElementType.BF16 => BFloatToFloat(x),
            _ => x,
        };
    }

    /// <summary>Stores <paramref name="x"/> (in its compute type) as element <paramref name="linear"/> of <paramref name="dest"/>.</summary>
    public void Store(KernelBuffer dest, string linear, string x)
    {
        var e = dest.Type.Element;
        var mt = LlvmTypes.Memory(e);
        var v = e switch
        {
            ElementType.Bool => b.Let($"zext i1 {x} to i8"),
            ElementType.F16 => b.Let($"fptrunc float {x} to half"),
            ElementType.BF16 => FloatToBFloat(x),
            _ => x,
        };
        var p = b.Let($"getelementptr inbounds {mt}, ptr {dest.Pointer}, i64 {linear}", "p");
        b.Line($"store {mt} {v}, ptr {p}");
    }

    public string BFloatToFloat(string x)
    {
        var bits = b.Let($"bitcast bfloat {x} to i16");
        var wide = b.Let($"shl i32 {b.Let($"zext i16 {bits} to i32")}, 16");
        return b.Let($"bitcast i32 {wide} to float");
    }

    /// <summary>float → bfloat, rounding to nearest even (NaN stays a quiet NaN).</summary>
    public string FloatToBFloat(string x)
    {
        var bits = b.Let($"bitcast float {x} to i32");
        var lsb = b.Let($"and i32 {b.Let($"lshr i32 {bits}, 16")}, 1");
        var rounded = b.Let($"add i32 {bits}, {b.Let($"add i32 {lsb}, 32767")}");
        var nan = b.Let($"fcmp uno float {x}, 0.0");
        var quiet = b.Let($"or i32 {bits}, 4194304");
        var chosen = b.Let($"select i1 {nan}, i32 {quiet}, i32 {rounded}");
        var top = b.Let($"trunc i32 {b.Let($"lshr i32 {chosen}, 16")} to i16");
        return b.Let($"bitcast i16 {top} to bfloat");
    }

    /// <summary>
    /// A double rounded once to float type <paramref name="e"/> (to nearest even, as FloatRounding.RoundTo),
    /// returned in the compute type: bf16 goes through a round-to-odd float so that nothing is rounded twice.
    /// </summary>
    public string RoundFromDouble(ElementType e, string d)
    {
        switch (e)
        {
            case ElementType.F64: return d;
            case ElementType.F32: return b.Let($"fptrunc double {d} to float");
            case ElementType.F16: return b.Let($"fpext half {b.Let($"fptrunc double {d} to half")} to float");
            default:
            {
                var f = b.Let($"fptrunc double {d} to float");
                var back = b.Let($"fpext float {f} to double");
                var exact = b.Let($"fcmp ueq double {back}, {d}");
                var inf = b.Let($"fcmp oeq float {b.Let($"call float @llvm.fabs.f32(float {f})")}, 0x7FF0000000000000");
                module.Declare("declare float @llvm.fabs.f32(float)");
                module.Declare("declare double @llvm.fabs.f64(double)");
                var bits = b.Let($"bitcast float {f} to i32");
                var away = b.Let($"fcmp ogt double {b.Let($"call double @llvm.fabs.f64(double {back})")}, {b.Let($"call double @llvm.fabs.f64(double {d})")}");
                var toward = b.Let($"select i1 {away}, i32 {b.Let($"sub i32 {bits}, 1")}, i32 {bits}");
                var odd = b.Let($"or i32 {toward}, 1");
                var keepAsIs = b.Let($"or i1 {exact}, {inf}");
                var chosen = b.Let($"bitcast i32 {b.Let($"select i1 {keepAsIs}, i32 {bits}, i32 {odd}")} to float");
                return BFloatToFloat(FloatToBFloat(chosen));
            }
        }
    }
}
