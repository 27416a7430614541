using System.Collections.Immutable;
using System.Globalization;

namespace AgentSessions.Functions.Webhooks;

/// <summary>
/// When a failed delivery is tried again, and when it is given up. After attempt <c>n</c> fails the next one waits
/// <c>Delays[n-1]</c>; the last delay repeats ("then hourly"). An event is retried until <see cref="Window"/> after the
/// dispatcher received it (the last attempt falls on the window's end); a receiver's <c>Retry-After</c> on 429 or 503
/// replaces the scheduled delay. Pure: the delivery activity decides with it, and the dispatcher only follows the result
/// recorded in its history, so replays never decide differently. Fixed into each dispatcher's input when it starts.
/// </summary>
/// <param name="Delays">Waits between attempts, in order; at least one, each positive.</param>
/// <param name="Window">How long after its arrival an event is still retried.</param>
public sealed record WebhookRetrySchedule(ImmutableList<TimeSpan> Delays, TimeSpan Window)
{
    /// <summary>5 s, 30 s, 2 min, 10 min, 1 h, then hourly, for 24 h.</summary>
    public static WebhookRetrySchedule Default { get; } = new(
        [TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(10), TimeSpan.FromHours(1)],
        TimeSpan.FromHours(24));

    /// <summary>The wait after attempt <paramref name="attempt"/> (1-based) failed.</summary>
    public TimeSpan DelayAfter(int attempt) => Delays[Math.Clamp(attempt - 1, 0, Delays.Count - 1)];

    /// <summary>
    /// What attempt <paramref name="attempt"/> of an event received at <paramref name="receivedAt"/> comes to, answered
    /// <paramref name="status"/> (null: no answer) at <paramref name="now"/>. 2xx delivers; 410 stops the session's
    /// deliveries; other 4xx (but 408 and 429) are not retried; anything else (3xx, 408, 429, 5xx, timeouts, connection
    /// errors) is retried on the schedule until the window is over.
    /// </summary>
    public WebhookAttemptResult Decide(int attempt, DateTimeOffset receivedAt, DateTimeOffset now, int? status, string? error, TimeSpan? retryAfter)
    {
        switch (status)
        {
            case >= 200 and < 300:
                return new WebhookAttemptResult(WebhookOutcomes.Delivered, status, null, null);
            case 410:
                return new WebhookAttemptResult(WebhookOutcomes.Gone, status, error, null);
            case >= 400 and < 500 and not 408 and not 429:
                return new WebhookAttemptResult(WebhookOutcomes.Failed, status, error, null);
        }

        var windowEnd = receivedAt + Window;
        if (now >= windowEnd)
        {
            var given = $"gave up after {attempt} attempt{(attempt == 1 ? "" : "s")}: the retry window of {Describe(Window)} is over";
            return new WebhookAttemptResult(WebhookOutcomes.Failed, status, error is null ? given : $"{error}; {given}", null);
        }

        var delay = DelayAfter(attempt);
        if (retryAfter is { } asked && status is 429 or 503)
        {
            // The receiver knows when it will be back; never sooner than the schedule's first step, so "Retry-After: 0" cannot spin.
            delay = asked < Delays[0] ? Delays[0] : asked;
        }

        var next = now + delay;
        return new WebhookAttemptResult(WebhookOutcomes.Retry, status, error, next > windowEnd ? windowEnd : next);
    }

    public bool Equals(WebhookRetrySchedule? other) =>
        other is not null && Window == other.Window && Delays.SequenceEqual(other.Delays);

    public override int GetHashCode() => HashCode.Combine(Window, Delays.Count, Delays.Count > 0 ? Delays[0] : TimeSpan.Zero);

    public override string ToString() => $"{string.Join(", ", Delays.Select(Describe))} (last repeats), for {Describe(Window)}";

    /// <summary>"5 s", "2 min", "1 h", "1.5 h", "250 ms".</summary>
    public static string Describe(TimeSpan span) => span switch
    {
        { TotalHours: >= 1 } => span.TotalHours.ToString("0.###", CultureInfo.InvariantCulture) + " h",
        { TotalMinutes: >= 1 } => span.TotalMinutes.ToString("0.###", CultureInfo.InvariantCulture) + " min",
        { TotalSeconds: >= 1 } => span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s",
        _ => span.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture) + " ms",
    };
}
