namespace GraphCompiler.IR.Ops;

/// <summary>
/// Double-precision functions that .NET's Math lacks or computes by cancelling formulas, accurate to about half an ulp:
/// the interpreter is every backend's reference, so where a direct formula would lose bits in f64 (erf's alternating
/// series, exp(x) − 1 and log(1 + x) near 0) the sum runs in double-double arithmetic and is rounded once.
/// </summary>
public static class SpecialFunctions
{
    /// <summary>2/√π as a double-double (mpmath).</summary>
    private static readonly DoubleDouble TwoOverSqrtPi = new(1.1283791670955126, 1.533545961316588e-17);

    /// <summary>A double-double sum stops once a term is below this fraction of it: 2^-110, past the 106 bits it carries.</summary>
    private const double SeriesTolerance = 7.7e-34;

    /// <summary>Past this, erf's Maclaurin series' largest term (about e^{x²}) would cost more than 13 of the sum's 106 bits.</summary>
    private const double ErfSeriesLimit = 3.0;

    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax < ErfSeriesLimit)
        {
            // Maclaurin series Σ (−1)^n x^(2n+1)/(n!(2n+1)) in double-double: the terms alternate and grow to about e^{x²}
            // before they shrink, which a double sum pays in bits near 2; 106 bits leave more than enough.
            var x2 = DoubleDouble.Square(ax);
            DoubleDouble power = new(ax, 0), sum = power; // power = x^(2n+1)/n!
            for (int n = 1; n < 200; n++)
            {
                power = power * x2 / -n;
                var term = power / (2 * n + 1);
                sum += term;
                if (Math.Abs(term.Hi) < SeriesTolerance * Math.Abs(sum.Hi)) break;
            }
            return Math.CopySign((TwoOverSqrtPi * sum).Value, x);
        }
        // erfc(3) = 2.2e-5: the continued fraction needs only 2^-38 of relative accuracy for an f64 result from here.
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

    /// <summary>Below this |x|, expm1 sums its Taylor series: beyond, exp(x) and exp(x) − 1 lie in the same binade or 1 is small beside exp(x), so the subtraction adds half an ulp at most.</summary>
    private const double Expm1SeriesLimit = 2.0;

    /// <summary>
    /// e^x − 1: the Taylor series Σ x^k/k! in double-double for |x| &lt; 2 (exp(x) − 1 loses up to 17 bits in f64 between
    /// 1e-5 and 1), exp(x) − 1 beyond. expm1(±0) = ±0 as in C and NumPy.
    /// </summary>
    public static double Expm1(double x)
    {
        if (double.IsNaN(x) || x == 0) return x;
        if (Math.Abs(x) >= Expm1SeriesLimit) return Math.Exp(x) - 1;
        DoubleDouble term = new(x, 0), sum = term;
        for (int k = 2; k < 200; k++)
        {
            term = term * x / k;
            sum += term;
            if (Math.Abs(term.Hi) < SeriesTolerance * Math.Abs(sum.Hi)) break;
        }
        return sum.Value;
    }

    /// <summary>Below this |x|, log1p sums 2·atanh(x/(2 + x)): |x/(2 + x)| ≤ 1/3, so the series converges by 3 bits a term.</summary>
    private const double Log1pSeriesLimit = 0.5;

    /// <summary>2^-60: below it log1p(x) = x − x²/2 rounds to x, and x/(2 + x) would underflow for subnormal x.</summary>
    private const double Log1pIdentityLimit = 8.673617379884035e-19;

    /// <summary>
    /// log(1 + x): 2·atanh(s) with s = x/(2 + x) as a series in double-double for |x| &lt; ½; beyond, log of 1 + x rounded plus
    /// the rounding error over 1 + x (first order: the error is below 2^-53). log1p(±0) = ±0, −1 gives −inf, below it NaN.
    /// </summary>
    public static double Log1p(double x)
    {
        if (double.IsNaN(x) || x == 0) return x;
        if (x < -1) return double.NaN;
        if (x == -1) return double.NegativeInfinity;
        if (double.IsPositiveInfinity(x)) return x;
        if (Math.Abs(x) < Log1pIdentityLimit) return x;
        if (Math.Abs(x) >= Log1pSeriesLimit)
        {
            var u = DoubleDouble.Sum(1, x);
            return Math.Log(u.Hi) + u.Lo / u.Hi;
        }
        var s = new DoubleDouble(x, 0) / DoubleDouble.Sum(2, x);
        var s2 = s * s;
        DoubleDouble power = s, sum = s; // power = s^(2k+1)
        for (int k = 1; k < 200; k++)
        {
            power *= s2;
            var term = power / (2 * k + 1);
            sum += term;
            if (Math.Abs(term.Hi) < SeriesTolerance * Math.Abs(sum.Hi)) break;
        }
        return (sum * 2).Value;
    }
}

/// <summary>
/// An unevaluated sum hi + lo of two doubles with |lo| ≤ ½ ulp(hi): about 106 bits (Dekker; Knuth's TwoSum, the product's
/// error by FMA). Enough for the reference's series; no special values beyond what the callers exclude.
/// </summary>
internal readonly record struct DoubleDouble(double Hi, double Lo)
{
    /// <summary>The double nearest the sum (hi is it, as the pair is kept normalized).</summary>
    public double Value => Hi + Lo;

    /// <summary>a + b exactly, as a double-double (TwoSum).</summary>
    public static DoubleDouble Sum(double a, double b)
    {
        double s = a + b, bb = s - a;
        return new(s, (a - (s - bb)) + (b - bb));
    }

    private static DoubleDouble Normalize(double hi, double lo)
    {
        double s = hi + lo;
        return new(s, lo - (s - hi));
    }

    /// <summary>x² exactly, as a double-double.</summary>
    public static DoubleDouble Square(double x)
    {
        double p = x * x;
        return new(p, Math.FusedMultiplyAdd(x, x, -p));
    }

    public static DoubleDouble operator +(DoubleDouble a, DoubleDouble b)
    {
        var s = Sum(a.Hi, b.Hi);
        return Normalize(s.Hi, s.Lo + a.Lo + b.Lo);
    }

    public static DoubleDouble operator *(DoubleDouble a, DoubleDouble b)
    {
        double p = a.Hi * b.Hi;
        double e = Math.FusedMultiplyAdd(a.Hi, b.Hi, -p) + (a.Hi * b.Lo + a.Lo * b.Hi);
        return Normalize(p, e);
    }

    public static DoubleDouble operator *(DoubleDouble a, double b) => a * new DoubleDouble(b, 0);

    public static DoubleDouble operator /(DoubleDouble a, DoubleDouble b)
    {
        double q = a.Hi / b.Hi;
        // The remainder a − q·b, its leading product exact by FMA; one correction step gives the quotient's low part.
        double r = Math.FusedMultiplyAdd(-q, b.Hi, a.Hi) + a.Lo - q * b.Lo;
        return Normalize(q, r / b.Hi);
    }

    public static DoubleDouble operator /(DoubleDouble a, double b) => a / new DoubleDouble(b, 0);
}
