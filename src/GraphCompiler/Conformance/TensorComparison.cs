using GraphCompiler.IR;

namespace GraphCompiler.Conformance;

/// <summary>
/// Compares an output with its expected value the way the conformance suites ask: same dtype and
/// shape; floats within <c>|a - e| ≤ atol + rtol·|e|</c> with NaN equal to NaN and infinities equal
/// only to themselves; integers and bools exactly.
/// </summary>
public static class TensorComparison
{
    /// <summary>Null when equal enough, else one line saying where and how they differ.</summary>
    public static string? Compare(Tensor expected, Tensor actual, double rtol, double atol)
    {
        // Conformance data stores bfloat16 as its uint16 bit pattern (see OnnxCase).
        if (expected.Element == ElementType.U16 && actual.Element == ElementType.BF16)
            actual = Tensor.FromBytes(actual.Type.WithElement(ElementType.U16), actual.Bytes);
        if (expected.Element != actual.Element) return $"dtype {actual.Element.Name()}, expected {expected.Element.Name()}";
        if (!expected.Type.Shape.SequenceEqual(actual.Type.Shape)) return $"shape {actual.Type.ShapeString}, expected {expected.Type.ShapeString}";
        int bad = 0;
        string? first = null;
        double worst = 0;
        for (long i = 0; i < expected.ElementCount; i++)
        {
            bool ok;
            if (expected.Element.IsFloat())
            {
                double e = expected.GetDouble(i), a = actual.GetDouble(i);
                ok = (double.IsNaN(e) && double.IsNaN(a)) || e == a ||
                     (double.IsFinite(e) && double.IsFinite(a) && Math.Abs(a - e) <= atol + rtol * Math.Abs(e));
                if (!ok && double.IsFinite(e) && double.IsFinite(a)) worst = Math.Max(worst, Math.Abs(a - e));
            }
            else ok = expected.ElementBytes(i).SequenceEqual(actual.ElementBytes(i));
            if (ok) continue;
            if (bad++ == 0)
                first = $"element {i}: {TensorFormatter.FormatElement(actual, i)}, expected {TensorFormatter.FormatElement(expected, i)}";
        }
        if (bad == 0) return null;
        return $"{bad} of {expected.ElementCount} elements differ; first {first}" + (worst > 0 ? $"; max abs error {worst:G4}" : "");
    }

    /// <summary>
    /// The largest absolute difference of two float tensors' finite elements, and the largest relative one (to
    /// max(|expected|, 1e-6), so that near-zero elements do not dominate); zeros for other types.
    /// </summary>
    public static (double Abs, double Rel) MaxError(Tensor expected, Tensor actual)
    {
        if (!expected.Element.IsFloat() || !actual.Element.IsFloat() || expected.ElementCount != actual.ElementCount) return (0, 0);
        double abs = 0, rel = 0;
        for (long i = 0; i < expected.ElementCount; i++)
        {
            double e = expected.GetDouble(i), a = actual.GetDouble(i);
            if (!double.IsFinite(e) || !double.IsFinite(a)) continue;
            abs = Math.Max(abs, Math.Abs(a - e));
            rel = Math.Max(rel, Math.Abs(a - e) / Math.Max(Math.Abs(e), 1e-6));
        }
        return (abs, rel);
    }
}
