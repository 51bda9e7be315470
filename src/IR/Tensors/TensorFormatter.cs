using System.Globalization;
using System.Text;

namespace GraphCompiler.IR;

/// <summary>Formats tensor contents as nested bracketed lists, with the shortest text that reads back to the same value.</summary>
public static class TensorFormatter
{
    public static string Format(Tensor t, long maxElements = long.MaxValue)
    {
        var sb = new StringBuilder();
        long count = 0;
        Write(sb, t, 0, 0, ref count, maxElements);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, Tensor t, int dim, long offset, ref long count, long max)
    {
        if (dim == t.Type.Rank)
        {
            sb.Append(FormatElement(t, offset));
            count++;
            return;
        }
        long stride = 1;
        for (int d = dim + 1; d < t.Type.Rank; d++) stride *= t.Type.Shape[d];
        sb.Append('[');
        for (long i = 0; i < t.Type.Shape[dim]; i++)
        {
            if (i > 0) sb.Append(", ");
            if (count >= max)
            {
                sb.Append("...");
                break;
            }
            Write(sb, t, dim + 1, offset + i * stride, ref count, max);
        }
        sb.Append(']');
    }

    public static string FormatElement(Tensor t, long i)
    {
        var e = t.Element;
        if (e.IsFloat()) return FormatFloat(e, t.GetDouble(i));
        if (e == ElementType.Bool) return t.GetBool(i) ? "true" : "false";
        if (e == ElementType.U64) return t.GetUInt64(i).ToString(CultureInfo.InvariantCulture);
        return t.GetInt64(i).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Shortest decimal that rounds back to the same value of type <paramref name="e"/>; always has a '.' or exponent.</summary>
    public static string FormatFloat(ElementType e, double v)
    {
        if (double.IsNaN(v)) return "nan";
        if (double.IsPositiveInfinity(v)) return "inf";
        if (double.IsNegativeInfinity(v)) return "-inf";
        string s = v.ToString("R", CultureInfo.InvariantCulture);
        if (e != ElementType.F64)
        {
            for (int p = 1; p <= 17; p++)
            {
                string c = v.ToString("G" + p, CultureInfo.InvariantCulture);
                double back = double.Parse(c, CultureInfo.InvariantCulture);
                if (FloatRounding.RoundTo(e, back) == v && (v != 0 || double.IsNegative(back) == double.IsNegative(v)))
                {
                    s = c;
                    break;
                }
            }
        }
        if (s.Contains('E')) s = s.Replace("E+", "e").Replace("E", "e");
        if (!s.Contains('.') && !s.Contains('e')) s += ".0";
        return s;
    }
}
