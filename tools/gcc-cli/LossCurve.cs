using System.Globalization;
using System.Text;

namespace GraphCompiler.Cli;

/// <summary>An SVG line chart of the loss per step, with the per-epoch mean on top and labelled axes.</summary>
internal static class LossCurve
{
    private const int Width = 640, Height = 400, Left = 60, Right = 20, Top = 30, Bottom = 45;

    public static string Svg(IReadOnlyList<double> losses, IReadOnlyList<double> epochMeans, string title)
    {
        var finite = losses.Where(double.IsFinite).ToList();
        double max = finite.Count > 0 ? finite.Max() : 1, min = Math.Min(0, finite.Count > 0 ? finite.Min() : 0);
        if (max <= min) max = min + 1;
        int n = Math.Max(losses.Count - 1, 1);
        double X(double step) => Left + (Width - Left - Right) * step / n;
        double Y(double loss) => Top + (Height - Top - Bottom) * (1 - (loss - min) / (max - min));
        static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

        var s = new StringBuilder();
        s.AppendLine($"""<svg xmlns="http://www.w3.org/2000/svg" width="{Width}" height="{Height}" font-family="sans-serif" font-size="12">""");
        s.AppendLine($"""<rect width="{Width}" height="{Height}" fill="white"/>""");
        s.AppendLine($"""<text x="{Width / 2}" y="18" text-anchor="middle" font-size="14">{Escape(title)}</text>""");
        s.AppendLine($"""<line x1="{Left}" y1="{Height - Bottom}" x2="{Width - Right}" y2="{Height - Bottom}" stroke="black"/>""");
        s.AppendLine($"""<line x1="{Left}" y1="{Top}" x2="{Left}" y2="{Height - Bottom}" stroke="black"/>""");
        for (int t = 0; t <= 4; t++)
        {
            double v = min + (max - min) * t / 4;
            s.AppendLine($"""<text x="{Left - 6}" y="{F(Y(v) + 4)}" text-anchor="end">{v.ToString("0.###", CultureInfo.InvariantCulture)}</text>""");
            double step = n * t / 4.0;
            s.AppendLine($"""<text x="{F(X(step))}" y="{Height - Bottom + 16}" text-anchor="middle">{Math.Round(step)}</text>""");
        }
        s.AppendLine($"""<text x="{Width / 2}" y="{Height - 8}" text-anchor="middle">step</text>""");
        s.AppendLine($"""<text x="14" y="{Height / 2}" text-anchor="middle" transform="rotate(-90 14 {Height / 2})">loss</text>""");
        s.AppendLine($"""<polyline fill="none" stroke="#9bb7d4" stroke-width="1" points="{Points(losses.Select((l, i) => (X(i), Y(l))))}"/>""");
        if (epochMeans.Count > 0)
        {
            double perEpoch = (double)losses.Count / epochMeans.Count;
            s.AppendLine($"""<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{Points(epochMeans.Select((l, e) => (X((e + 1) * perEpoch - 1), Y(l))))}"/>""");
            s.AppendLine($"""<text x="{Width - Right}" y="{Top + 12}" text-anchor="end" fill="#c0392b">epoch mean</text>""");
        }
        s.AppendLine("</svg>");
        return s.ToString();
    }

    private static string Points(IEnumerable<(double X, double Y)> points) =>
        string.Join(" ", points.Where(p => double.IsFinite(p.Y)).Select(p => $"{p.X.ToString("0.#", CultureInfo.InvariantCulture)},{p.Y.ToString("0.#", CultureInfo.InvariantCulture)}"));

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
