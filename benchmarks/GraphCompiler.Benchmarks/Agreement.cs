namespace GraphCompiler.Benchmarks;

/// <summary>Checks that GraphCompiler and the baseline computed the same thing before either is timed.</summary>
public static class Agreement
{
    /// <summary>
    /// Relative to the output's largest magnitude: both sides sum in different orders (blocked GEMMs, fused
    /// epilogues), so f32 results agree to about 1e-5 of the scale, and 1e-3 leaves room for deep networks.
    /// </summary>
    public const double Tolerance = 1e-3;

    public static void Check(string what, float[] ours, float[] baseline)
    {
        double scale = 0, worst = 0;
        int at = -1;
        for (int i = 0; i < baseline.Length; i++) scale = Math.Max(scale, Math.Abs(baseline[i]));
        for (int i = 0; i < ours.Length; i++)
        {
            double e = Math.Abs(ours[i] - baseline[i]);
            if (!(e <= worst)) (worst, at) = (double.IsNaN(e) ? double.PositiveInfinity : e, i);
        }
        if (!(worst <= Tolerance * Math.Max(scale, 1e-30)))
            throw new InvalidOperationException($"{what}: GraphCompiler and the baseline disagree: element {at} is {ours[at]} vs {baseline[at]} (output scale {scale:G3})");
        Console.WriteLine($"// {what}: agrees with the baseline (max |difference| {worst:G3}, output scale {scale:G3})");
    }
}
