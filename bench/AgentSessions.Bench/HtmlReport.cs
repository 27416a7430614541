using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace AgentSessions.Bench;

/// <summary>One named latency sample (milliseconds) or rate series, with the colour it is drawn in.</summary>
public sealed record ChartSeries(string Name, string Color, double[] Values);

/// <summary>Points (x, y) of one line on a time chart; a gap in x (a phase of the other kind) breaks the line.</summary>
public sealed record TimeSeries(string Name, string Color, IReadOnlyList<(double X, double Y)> Points);

/// <summary>
/// <c>--report FILE.html</c>: one self-contained page (inline CSS and SVG drawn here, no script, nothing fetched),
/// with the latency distributions side by side, their CDFs on one chart, acknowledged commands per second over the
/// run, and the run's text results.
/// </summary>
public sealed class HtmlReport(string title)
{
    public const string OursColor = "#1f6fd1";
    public const string BareColor = "#e07b00";
    public static readonly string[] Palette = ["#1f6fd1", "#e07b00", "#2a9d3f", "#c0392b", "#8e44ad", "#7f8c8d", "#16a085", "#d35400", "#2c3e50", "#b7950b"];

    private readonly StringBuilder body = new();

    /// <summary>Time zero of the report's time axis: the start of the run.</summary>
    public static long RunStart { get; } = Stopwatch.GetTimestamp();

    public static double SecondsSinceRunStart(long timestamp) => (double)(timestamp - RunStart) / Stopwatch.Frequency;

    public void Heading(string text) => body.Append("<h2>").Append(E(text)).Append("</h2>\n");

    public void Paragraph(string text) => body.Append("<p>").Append(E(text)).Append("</p>\n");

    /// <summary>One histogram per series, side by side on the same logarithmic millisecond bins and the same y scale.</summary>
    public void Histograms(string caption, IReadOnlyList<ChartSeries> series)
    {
        var present = series.Where(s => s.Values.Length > 0).ToList();
        if (present.Count == 0)
        {
            return;
        }

        var (low, high) = LogRange(present.SelectMany(s => s.Values));
        const int Bins = 36;
        var edges = Enumerable.Range(0, Bins + 1).Select(i => low * Math.Pow(high / low, (double)i / Bins)).ToArray();
        var counts = present.Select(s =>
        {
            var c = new double[Bins];
            foreach (var v in s.Values)
            {
                var i = (int)Math.Floor(Math.Log(Math.Max(v, low) / low) / Math.Log(high / low) * Bins);
                c[Math.Clamp(i, 0, Bins - 1)]++;
            }

            return c.Select(n => n / s.Values.Length).ToArray(); // share of the series, so unequal counts compare
        }).ToList();
        var yMax = Nice(Math.Max(1e-9, counts.SelectMany(c => c).Max()));

        body.Append("<figure><div class=\"row\">\n");
        for (var k = 0; k < present.Count; k++)
        {
            var s = present[k];
            var svg = new Svg(440, 240, 48, 26, 18, 36);
            svg.YAxis(0, yMax, v => (v * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%");
            svg.XLogAxis(low, high, "ms");
            for (var i = 0; i < Bins; i++)
            {
                if (counts[k][i] <= 0)
                {
                    continue;
                }

                var x0 = svg.LogX(edges[i], low, high);
                var x1 = svg.LogX(edges[i + 1], low, high);
                var y = svg.Y(counts[k][i], 0, yMax);
                svg.Rect(x0, y, Math.Max(1, x1 - x0 - 1), svg.Bottom - y, s.Color);
            }

            var summary = Summary(s.Values);
            svg.Text(svg.Left + 6, svg.Top + 12, $"{s.Name}: n={s.Values.Length}, {summary}", s.Color, "start");
            body.Append("<div>").Append(svg).Append("</div>\n");
        }

        body.Append("</div><figcaption>").Append(E(caption)).Append("</figcaption></figure>\n");
    }

    /// <summary>The cumulative distributions of all series on one chart (log x), with p50/p95/p99 guides.</summary>
    public void Cdf(string caption, IReadOnlyList<ChartSeries> series)
    {
        var present = series.Where(s => s.Values.Length > 0).ToList();
        if (present.Count == 0)
        {
            return;
        }

        var (low, high) = LogRange(present.SelectMany(s => s.Values));
        var svg = new Svg(860, 300, 48, 150, 18, 36);
        svg.YAxis(0, 1, v => (v * 100).ToString("0", CultureInfo.InvariantCulture) + "%");
        svg.XLogAxis(low, high, "ms");
        foreach (var q in new[] { 0.5, 0.95, 0.99 })
        {
            var y = svg.Y(q, 0, 1);
            svg.Line(svg.Left, y, svg.Right, y, "#bbb", dashed: true);
            svg.Text(svg.Right + 4, y + 4, "p" + (q * 100).ToString("0", CultureInfo.InvariantCulture), "#888", "start");
        }

        var legendY = svg.Top + 30;
        foreach (var s in present)
        {
            var sorted = s.Values.OrderBy(v => v).ToArray();
            var step = Math.Max(1, sorted.Length / 400); // at most ~400 points per line keeps the page small
            var points = new List<(double, double)>();
            for (var i = 0; i < sorted.Length; i += step)
            {
                points.Add((svg.LogX(Math.Max(sorted[i], low), low, high), svg.Y((i + 1.0) / sorted.Length, 0, 1)));
            }

            points.Add((svg.LogX(Math.Max(sorted[^1], low), low, high), svg.Y(1, 0, 1)));
            svg.Polyline(points, s.Color);
            svg.Rect(svg.Right + 34, legendY - 9, 10, 10, s.Color);
            svg.Text(svg.Right + 48, legendY, s.Name, s.Color, "start");
            legendY += 16;
        }

        body.Append("<figure>").Append(svg).Append("<figcaption>").Append(E(caption)).Append("</figcaption></figure>\n");
    }

    /// <summary>Lines over time (x in seconds); points more than 1.5 s apart are not joined.</summary>
    public void Timeline(string caption, string yLabel, IReadOnlyList<TimeSeries> series, string xLabel = "s since start", double gap = 1.5)
    {
        var present = series.Where(s => s.Points.Count > 0).ToList();
        if (present.Count == 0)
        {
            return;
        }

        var xMin = present.SelectMany(s => s.Points).Min(p => p.X);
        var xMax = Math.Max(xMin + 1, present.SelectMany(s => s.Points).Max(p => p.X));
        var yMax = Nice(Math.Max(1, present.SelectMany(s => s.Points).Max(p => p.Y)) * 1.05);
        var svg = new Svg(860, 280, 56, 150, 18, 36);
        svg.YAxis(0, yMax, v => v.ToString(v >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture));
        svg.XLinearAxis(xMin, xMax, xLabel);
        svg.Text(svg.Left - 50, svg.Top - 6, yLabel, "#444", "start");
        var legendY = svg.Top + 12;
        var named = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in present)
        {
            var run = new List<(double, double)>();
            var previousX = double.NaN;
            foreach (var (x, y) in s.Points.OrderBy(p => p.X))
            {
                if (run.Count > 0 && x - previousX > gap)
                {
                    svg.Polyline(run, s.Color, markers: true);
                    run = [];
                }

                run.Add((svg.LinX(x, xMin, xMax), svg.Y(y, 0, yMax)));
                previousX = x;
            }

            svg.Polyline(run, s.Color, markers: true);
            if (named.Add(s.Name))
            {
                svg.Rect(svg.Right + 14, legendY - 9, 10, 10, s.Color);
                svg.Text(svg.Right + 28, legendY, s.Name, s.Color, "start");
                legendY += 16;
            }
        }

        body.Append("<figure>").Append(svg).Append("<figcaption>").Append(E(caption)).Append("</figcaption></figure>\n");
    }

    public void Preformatted(string heading, string text)
    {
        Heading(heading);
        body.Append("<pre>").Append(E(text)).Append("</pre>\n");
    }

    public void Save(string path)
    {
        var page = new StringBuilder();
        page.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>").Append(E(title)).Append("</title>\n");
        page.Append("<style>body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}")
            .Append("h1{font-size:22px}h2{font-size:17px;margin-top:28px}figure{margin:12px 0}figcaption{color:#555;font-size:12px}")
            .Append(".row{display:flex;flex-wrap:wrap;gap:12px}pre{background:#f6f6f6;padding:10px;overflow-x:auto;font-size:12px}")
            .Append("svg text{font:11px system-ui,sans-serif}</style>\n</head><body>\n");
        page.Append("<h1>").Append(E(title)).Append("</h1>\n");
        page.Append("<p>Generated by bench/AgentSessions.Bench at ")
            .Append(E(DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)))
            .Append($" on {Environment.ProcessorCount} cores; 1-minute load average {MachineLoad.AtStart:0.0} at start, {MachineLoad.Now():0.0} at the end.</p>\n");
        page.Append(body);
        page.Append("</body></html>\n");
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        File.WriteAllText(path, page.ToString(), new UTF8Encoding(false));
        Progress.Log($"report: wrote {Path.GetFullPath(path)} ({new FileInfo(path).Length / 1024.0:0.0} KB)");
    }

    /// <summary>Acknowledged commands in each whole second of a phase's window, placed on the run's time axis.</summary>
    public static IReadOnlyList<(double X, double Y)> PerSecond(RateWindow window)
    {
        var start = SecondsSinceRunStart(window.StartTimestamp);
        var buckets = window.PerSecondBuckets();
        var whole = Math.Max(1, (int)Math.Floor(window.Length.TotalSeconds));
        return [.. buckets.Take(Math.Min(whole, buckets.Length)).Select((n, i) => (start + i + 0.5, (double)n))];
    }

    private static string Summary(double[] values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        double Rank(double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
        return $"p50 {Format.Ms(Rank(0.5))}, p95 {Format.Ms(Rank(0.95))}, p99 {Format.Ms(Rank(0.99))} ms";
    }

    /// <summary>The next of 1, 2, 4, 5, 8 × 10^k at or above the value, so that quarter ticks read well.</summary>
    private static double Nice(double value)
    {
        var power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        return new[] { 1, 2, 4, 5, 8, 10 }.Select(m => m * power).First(v => v >= value * 0.9999);
    }

    private static (double Low, double High) LogRange(IEnumerable<double> values)
    {
        var list = values.Where(v => v > 0 && double.IsFinite(v)).ToList();
        if (list.Count == 0)
        {
            return (1, 10);
        }

        var low = Math.Pow(10, Math.Floor(Math.Log10(list.Min())));
        var high = Math.Pow(10, Math.Ceiling(Math.Log10(list.Max())));
        return high <= low ? (low, low * 10) : (low, high);
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    /// <summary>A small SVG canvas with a plot area inside margins.</summary>
    private sealed class Svg(double width, double height, double left, double right, double top, double bottom)
    {
        private readonly StringBuilder content = new();

        public double Left => left;
        public double Right => width - right;
        public double Top => top;
        public double Bottom => height - bottom;

        public double Y(double value, double min, double max) => Bottom - (value - min) / (max - min) * (Bottom - Top);

        public double LogX(double value, double low, double high) => Left + Math.Log(value / low) / Math.Log(high / low) * (Right - Left);

        public double LinX(double value, double min, double max) => Left + (value - min) / (max - min) * (Right - Left);

        public void YAxis(double min, double max, Func<double, string> label)
        {
            Line(Left, Top, Left, Bottom, "#444");
            for (var i = 0; i <= 4; i++)
            {
                var v = min + (max - min) * i / 4;
                var y = Y(v, min, max);
                Line(Left, y, Right, y, "#eee");
                Text(Left - 4, y + 4, label(v), "#444", "end");
            }
        }

        public void XLogAxis(double low, double high, string unit)
        {
            Line(Left, Bottom, Right, Bottom, "#444");
            for (var decade = low; decade <= high * 1.0001; decade *= 10)
            {
                foreach (var m in new[] { 1, 2, 5 })
                {
                    var v = decade * m;
                    if (v > high * 1.0001)
                    {
                        break;
                    }

                    var x = LogX(v, low, high);
                    Line(x, Bottom, x, Bottom + (m == 1 ? 5 : 3), "#444");
                    if (m == 1 || high / low <= 100)
                    {
                        Text(x, Bottom + 16, v.ToString(v >= 1 ? "0" : "0.###", CultureInfo.InvariantCulture), "#444", "middle");
                    }
                }
            }

            Text((Left + Right) / 2, Bottom + 31, unit + " (log scale)", "#444", "middle");
        }

        public void XLinearAxis(double min, double max, string unit)
        {
            Line(Left, Bottom, Right, Bottom, "#444");
            var span = max - min;
            var step = new[] { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1000, 2000, 5000, 10000 }.FirstOrDefault(s => span / s <= 12, 100_000);
            for (var v = Math.Ceiling(min / step) * step; v <= max; v += step)
            {
                var x = LinX(v, min, max);
                Line(x, Bottom, x, Bottom + 4, "#444");
                Text(x, Bottom + 16, v.ToString("0", CultureInfo.InvariantCulture), "#444", "middle");
            }

            Text((Left + Right) / 2, Bottom + 31, unit, "#444", "middle");
        }

        public void Line(double x1, double y1, double x2, double y2, string color, bool dashed = false) =>
            content.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x1:0.#}\" y1=\"{y1:0.#}\" x2=\"{x2:0.#}\" y2=\"{y2:0.#}\" stroke=\"{color}\"")
                .Append(dashed ? " stroke-dasharray=\"4 3\"" : string.Empty).Append("/>");

        public void Rect(double x, double y, double w, double h, string color) =>
            content.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x:0.#}\" y=\"{y:0.#}\" width=\"{w:0.#}\" height=\"{Math.Max(0, h):0.#}\" fill=\"{color}\" fill-opacity=\"0.8\"/>");

        public void Text(double x, double y, string text, string color, string anchor) =>
            content.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:0.#}\" y=\"{y:0.#}\" fill=\"{color}\" text-anchor=\"{anchor}\">{E(text)}</text>");

        public void Polyline(IReadOnlyList<(double X, double Y)> points, string color, bool markers = false)
        {
            if (points.Count == 0)
            {
                return;
            }

            content.Append("<polyline fill=\"none\" stroke-width=\"1.8\" stroke=\"").Append(color).Append("\" points=\"");
            foreach (var (x, y) in points)
            {
                content.Append(CultureInfo.InvariantCulture, $"{x:0.#},{y:0.#} ");
            }

            content.Append("\"/>");
            if (markers && points.Count <= 120)
            {
                foreach (var (x, y) in points)
                {
                    content.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{x:0.#}\" cy=\"{y:0.#}\" r=\"2\" fill=\"{color}\"/>");
                }
            }
        }

        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\">") +
            content + "</svg>";
    }
}

/// <summary>Copies everything written to stdout into a buffer too, so the report can carry the text results.</summary>
public sealed class TeeWriter(TextWriter inner) : TextWriter
{
    private readonly StringBuilder copy = new();

    /// <summary>Set when --report is given (Console.Out then wraps it in a synchronized writer, so it is kept here).</summary>
    public static TeeWriter? Current { get; set; }

    public override Encoding Encoding => inner.Encoding;

    public string Captured
    {
        get
        {
            lock (copy)
            {
                return copy.ToString();
            }
        }
    }

    public override void Write(char value)
    {
        lock (copy)
        {
            copy.Append(value);
        }

        inner.Write(value);
    }

    public override void Write(string? value)
    {
        lock (copy)
        {
            copy.Append(value);
        }

        inner.Write(value);
    }

    public override void WriteLine(string? value)
    {
        lock (copy)
        {
            copy.Append(value).Append(Environment.NewLine);
        }

        inner.WriteLine(value);
    }

    public override void Flush() => inner.Flush();
}
