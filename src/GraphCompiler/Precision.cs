using GraphCompiler.IR;

namespace GraphCompiler;

/// <summary>
/// How contractions compute (<see cref="CompileOptions.Precision"/>, <c>--precision</c>; docs/precision.md), decided once
/// here: the 16-bit type <c>mixed-precision</c> gives f32 contractions' operands, whether the GPU may use TF32, and the
/// operand format's significand bits, from which <c>check</c>'s tolerance follows.
/// </summary>
public sealed record Precision(string Name, ElementType? ContractionOperands, bool Tf32, int SignificandBits)
{
    public static readonly Precision F32 = new("f32", null, false, 24);

    public static IReadOnlyList<Precision> All { get; } =
        [F32, new("tf32", null, true, 11), new("bf16", ElementType.BF16, false, 8), new("f16", ElementType.F16, false, 11)];

    public static IReadOnlyList<string> Names => [.. All.Select(p => p.Name)];

    /// <summary>The precision named <paramref name="name"/> (null: f32), or null when there is none.</summary>
    public static Precision? Find(string? name) => name is null ? F32 : All.FirstOrDefault(p => p.Name == name);

    public bool Reduced => this != F32;

    /// <summary>
    /// What a conformance case may differ by (relative and absolute) on top of its own tolerance: 4 units of the operand
    /// format's rounding (2^-8 for bf16, PyTorch's own bf16 test tolerance 1.6e-2; 2^-11 for f16 and TF32), since the
    /// contractions read rounded operands and their error is that rounding times the sum of |products|. 0 for f32.
    /// </summary>
    public double Tolerance => Reduced ? 4 * Math.Pow(2, -SignificandBits) : 0;
}
