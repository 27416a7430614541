using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentSessions.Bench;

/// <summary>A plain-text table for stdout.</summary>
public sealed class Table(params string[] headers)
{
    private readonly List<string[]> rows = [];

    public void Add(params string[] cells) => rows.Add(cells);

    public void Write(TextWriter writer, string? title = null)
    {
        if (title is not null)
        {
            writer.WriteLine();
            writer.WriteLine(title);
        }

        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Select(r => i < r.Length ? r[i].Length : 0).DefaultIfEmpty(0).Max())).ToArray();
        writer.WriteLine(Line(headers, widths));
        writer.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var row in rows)
        {
            writer.WriteLine(Line(row, widths));
        }
    }

    private static string Line(string[] cells, int[] widths)
    {
        var line = new StringBuilder();
        for (var i = 0; i < widths.Length; i++)
        {
            var cell = i < cells.Length ? cells[i] : string.Empty;
            // First column left-aligned (names), the rest right-aligned (figures).
            line.Append(i == 0 ? cell.PadRight(widths[i]) : cell.PadLeft(widths[i]));
            if (i < widths.Length - 1)
            {
                line.Append("  ");
            }
        }

        return line.ToString().TrimEnd();
    }
}

public static class Format
{
    public static string Ms(double value) => double.IsNaN(value) ? "-" : value.ToString(value >= 100 ? "0" : "0.0", CultureInfo.InvariantCulture);

    public static string Rate(double value) => double.IsNaN(value) ? "-" : value.ToString(value >= 100 ? "0" : "0.0", CultureInfo.InvariantCulture);

    public static string Ratio(double value) => double.IsNaN(value) || double.IsInfinity(value) ? "-" : value.ToString("0.00", CultureInfo.InvariantCulture);

    public static string Mb(double bytes) => (bytes / (1024 * 1024)).ToString("0.0", CultureInfo.InvariantCulture);

    public static string Kb(double bytes) => (bytes / 1024).ToString("0.0", CultureInfo.InvariantCulture);

    public static string[] LatencyCells(string name, LatencySummary s) =>
        [name, s.Count.ToString(CultureInfo.InvariantCulture), Ms(s.P50), Ms(s.P95), Ms(s.P99), Ms(s.Mean), Ms(s.Max)];

    public static readonly string[] LatencyHeaders = ["latency (ms)", "n", "p50", "p95", "p99", "mean", "max"];

    /// <summary>"met" / "missed" for a target; a figure that could not be measured is "n/a".</summary>
    public static string Verdict(double value, bool met) => double.IsNaN(value) || double.IsInfinity(value) ? "n/a" : met ? "met" : "missed";
}

public static class Json
{
    public static JsonNode? Number(double value, int digits = 1) =>
        double.IsNaN(value) || double.IsInfinity(value) ? null : JsonValue.Create(Math.Round(value, digits));

    public static JsonObject Latency(LatencySummary s) => new()
    {
        ["n"] = s.Count,
        ["p50_ms"] = Number(s.P50),
        ["p95_ms"] = Number(s.P95),
        ["p99_ms"] = Number(s.P99),
        ["mean_ms"] = Number(s.Mean),
        ["max_ms"] = Number(s.Max),
    };

    public static JsonObject Errors(ErrorCounts errors)
    {
        var node = new JsonObject();
        foreach (var (key, value) in errors.Snapshot())
        {
            node[key] = value;
        }

        return node;
    }

    public static JsonObject Machine() => new()
    {
        ["cores"] = Environment.ProcessorCount,
        ["load_avg_1m_start"] = Number(MachineLoad.AtStart, 2),
        ["load_avg_1m_end"] = Number(MachineLoad.Now(), 2),
        ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        ["runtime"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
        ["server_gc"] = System.Runtime.GCSettings.IsServerGC,
    };

    /// <summary>The one JSON line, always last on stdout and always starting with <c>{"bench":"agent-sessions"</c>.</summary>
    public static void WriteLine(string mode, JsonObject body)
    {
        var line = new JsonObject { ["bench"] = "agent-sessions", ["mode"] = mode, ["at"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture) };
        foreach (var (key, value) in body.ToList())
        {
            body.Remove(key);
            line[key] = value;
        }

        Console.Out.WriteLine();
        Console.Out.WriteLine(line.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        Console.Out.Flush();
    }
}

/// <summary>The 1-minute load average (Linux), so a run on a busy machine says so.</summary>
public static class MachineLoad
{
    public static double AtStart { get; } = Now();

    public static double Now()
    {
        try
        {
            var text = File.ReadAllText("/proc/loadavg");
            return double.Parse(text.Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException)
        {
            return double.NaN;
        }
    }

    public static string Describe() => double.IsNaN(AtStart)
        ? string.Empty
        : $" Load average (1 min): {AtStart:0.0} at start, {Now():0.0} at the end (other work on the machine shows here).";
}
