namespace GraphCompiler.IR.Ops;

/// <summary>Double-precision special functions that .NET's Math lacks, accurate far beyond f32 needs.</summary>
public static class SpecialFunctions
{
    private const double TwoOverSqrtPi = 1.1283791670955126;

    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax < 2.0)
        {
            // Maclaurin series; terms shrink fast enough below 2 for a few ulps of error.
            double sum = 0, term = ax, x2 = ax * ax;
            for (int n = 0; n < 200; n++)
            {
                double t = term / (2 * n + 1);
                sum += t;
                if (Math.Abs(t) < 1e-17 * Math.Abs(sum)) break;
                term *= -x2 / (n + 1);
            }
            return Math.CopySign(TwoOverSqrtPi * sum, x);
        }
        return Math.CopySign(1.0 - Erfc(ax), x);
    }

    /// <summary>erfc for x ≥ 2 through its continued fraction (modified Lentz).</summary>
    private static double Erfc(double x)
    {
        if (x > 27) return 0;
        // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
        const double tiny = 1e-300;
        double f = x, c = x, d = 0;
        for (int n = 1; n < 500; n++)
        {
            double a = n * 0.5;
            d = x + a * d;
            if (Math.Abs(d) < tiny) d = tiny;
            c = x + a / c;
            if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / f;
    }
}
