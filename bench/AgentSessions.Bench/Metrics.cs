using System.Collections.Concurrent;
using System.Diagnostics;

namespace AgentSessions.Bench;

/// <summary>The result of one call, named the way the HTTP API would answer it ("200", "409 not_running", …).</summary>
public readonly record struct CallOutcome(bool Ok, string Code)
{
    public static CallOutcome Success(string code = "200") => new(true, code);

    public static CallOutcome Failure(string code) => new(false, code);

    public static CallOutcome FromException(Exception exception) => Failure("exception " + exception.GetType().Name);
}

public sealed record LatencySummary(int Count, double P50, double P95, double P99, double Mean, double Max)
{
    public static readonly LatencySummary Empty = new(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
}

/// <summary>Latencies in milliseconds; percentiles by nearest rank.</summary>
public sealed class LatencySeries
{
    private readonly List<double> values = [];

    public void Add(double milliseconds)
    {
        lock (values)
        {
            values.Add(milliseconds);
        }
    }

    public void AddRange(LatencySeries other)
    {
        double[] copy;
        lock (other.values)
        {
            copy = [.. other.values];
        }

        lock (values)
        {
            values.AddRange(copy);
        }
    }

    public int Count
    {
        get
        {
            lock (values)
            {
                return values.Count;
            }
        }
    }

    /// <summary>A copy of the values, for the HTML report's distributions.</summary>
    public double[] Snapshot()
    {
        lock (values)
        {
            return [.. values];
        }
    }

    public LatencySummary Summarize()
    {
        double[] sorted;
        lock (values)
        {
            sorted = [.. values];
        }

        if (sorted.Length == 0)
        {
            return LatencySummary.Empty;
        }

        Array.Sort(sorted);
        return new LatencySummary(sorted.Length, Rank(sorted, 0.50), Rank(sorted, 0.95), Rank(sorted, 0.99), sorted.Average(), sorted[^1]);
    }

    private static double Rank(double[] sorted, double quantile) =>
        sorted[Math.Clamp((int)Math.Ceiling(quantile * sorted.Length) - 1, 0, sorted.Length - 1)];
}

/// <summary>Counts of unsuccessful outcomes by code.</summary>
public sealed class ErrorCounts
{
    private readonly ConcurrentDictionary<string, long> counts = new(StringComparer.Ordinal);

    public void Add(string operation, string code) => counts.AddOrUpdate($"{operation}: {code}", 1, (_, n) => n + 1);

    public long Total => counts.Values.Sum();

    public IReadOnlyList<KeyValuePair<string, long>> Snapshot() =>
        [.. counts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)];

    public void AddRange(ErrorCounts other)
    {
        foreach (var (key, value) in other.counts)
        {
            counts.AddOrUpdate(key, value, (_, n) => n + value);
        }
    }
}

/// <summary>Events per second over a fixed window, with one-second buckets for the slowest second.</summary>
public sealed class RateWindow
{
    private readonly long[] buckets;
    private long startTimestamp;
    private long endTimestamp;
    private long total;

    public RateWindow(TimeSpan length)
    {
        Length = length;
        buckets = new long[Math.Max(1, (int)Math.Ceiling(length.TotalSeconds))];
    }

    public TimeSpan Length { get; }

    /// <summary>When the window opened, as a <see cref="Stopwatch"/> timestamp (for the report's time axis).</summary>
    public long StartTimestamp => startTimestamp;

    /// <summary>Events in each whole second of the window (the last bucket may be a partial second).</summary>
    public long[] PerSecondBuckets() => [.. buckets];

    public long Total => Interlocked.Read(ref total);

    public void Start()
    {
        startTimestamp = Stopwatch.GetTimestamp();
        endTimestamp = startTimestamp + (long)(Length.TotalSeconds * Stopwatch.Frequency);
    }

    public bool IsOpen(long timestamp) => timestamp < endTimestamp;

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(startTimestamp);

    /// <summary>Counts an event that completed at <paramref name="timestamp"/> if it fell inside the window.</summary>
    public void Count(long timestamp, long amount = 1)
    {
        if (timestamp < startTimestamp || timestamp >= endTimestamp)
        {
            return;
        }

        var second = (int)((timestamp - startTimestamp) / Stopwatch.Frequency);
        Interlocked.Add(ref buckets[Math.Min(second, buckets.Length - 1)], amount);
        Interlocked.Add(ref total, amount);
    }

    public double PerSecond => Total / Length.TotalSeconds;

    /// <summary>The slowest whole second (the last, partial bucket is left out unless it is the only one).</summary>
    public double SlowestSecond
    {
        get
        {
            var whole = (int)Math.Floor(Length.TotalSeconds);
            return whole == 0 ? PerSecond : buckets.Take(whole).Min();
        }
    }
}
