using AgentSessions.Functions.Webhooks;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>What an attempt's answer means, and when the next one is due, cell by cell.</summary>
public sealed class WebhookRetryScheduleTests
{
    private static readonly DateTimeOffset Received = new(2025, 10, 5, 18, 0, 0, TimeSpan.Zero);
    private static readonly WebhookRetrySchedule Schedule = WebhookRetrySchedule.Default;

    [Fact]
    public void Default_Is5s30s2min10min1hThenHourly_For24Hours()
    {
        Assert.Equal([5, 30, 120, 600, 3600, 3600, 3600], Enumerable.Range(1, 7).Select(n => Schedule.DelayAfter(n).TotalSeconds));
        Assert.Equal(TimeSpan.FromHours(24), Schedule.Window);
    }

    [Fact]
    public void AFailingReceiver_IsTriedOnTheSchedule_UntilTheWindowEnds_WithTheLastAttemptOnItsEnd()
    {
        var now = Received;
        var attempts = new List<DateTimeOffset>();
        for (var attempt = 1; ; attempt++)
        {
            attempts.Add(now);
            var result = Schedule.Decide(attempt, Received, now, 503, "503 Service Unavailable", null);
            if (result.Outcome != WebhookOutcomes.Retry)
            {
                Assert.Equal(WebhookOutcomes.Failed, result.Outcome);
                Assert.Contains("gave up after", result.Error);
                Assert.Contains("24 h", result.Error);
                break;
            }

            now = result.NextAttemptAt!.Value;
        }

        Assert.Equal([0, 5, 35, 155, 755, 4355, 7955], attempts.Take(7).Select(a => (a - Received).TotalSeconds));
        Assert.Equal(Received + TimeSpan.FromHours(24), attempts[^1]);
        Assert.Equal(29, attempts.Count);
    }

    [Theory]
    [InlineData(200, WebhookOutcomes.Delivered)]
    [InlineData(204, WebhookOutcomes.Delivered)]
    [InlineData(299, WebhookOutcomes.Delivered)]
    [InlineData(410, WebhookOutcomes.Gone)]
    [InlineData(400, WebhookOutcomes.Failed)]
    [InlineData(401, WebhookOutcomes.Failed)]
    [InlineData(404, WebhookOutcomes.Failed)]
    [InlineData(422, WebhookOutcomes.Failed)]
    [InlineData(408, WebhookOutcomes.Retry)]
    [InlineData(429, WebhookOutcomes.Retry)]
    [InlineData(301, WebhookOutcomes.Retry)]
    [InlineData(500, WebhookOutcomes.Retry)]
    [InlineData(502, WebhookOutcomes.Retry)]
    [InlineData(503, WebhookOutcomes.Retry)]
    [InlineData(null, WebhookOutcomes.Retry)]
    public void Answer_DecidesTheOutcome(int? status, string outcome)
    {
        var result = Schedule.Decide(1, Received, Received, status, status is null ? "no answer within 10 s" : "x", null);
        Assert.Equal(outcome, result.Outcome);
        Assert.Equal(status, result.StatusCode);
        Assert.Equal(outcome == WebhookOutcomes.Retry, result.NextAttemptAt is not null);
    }

    [Theory]
    [InlineData(503, 20, 20)]
    [InlineData(429, 90, 90)]
    [InlineData(503, 0, 5)]
    [InlineData(500, 90, 5)]
    public void RetryAfter_On429Or503_ReplacesTheScheduledDelay_NeverBelowTheFirstStep(int status, int retryAfterSeconds, int expectedSeconds)
    {
        var result = Schedule.Decide(1, Received, Received, status, "x", TimeSpan.FromSeconds(retryAfterSeconds));
        Assert.Equal(Received.AddSeconds(expectedSeconds), result.NextAttemptAt);
    }

    [Fact]
    public void RetryAfter_BeyondTheWindow_IsCutToTheWindowsEnd()
    {
        var result = Schedule.Decide(1, Received, Received.AddHours(23), 503, "x", TimeSpan.FromDays(2));
        Assert.Equal(Received.AddHours(24), result.NextAttemptAt);
    }

    [Fact]
    public void AnEventWhoseWindowIsOver_StillGetsOneAttempt_ThenIsGivenUp()
    {
        // Queued behind an event that used up a whole outage: its first attempt is its last if it fails.
        var late = Received.AddHours(25);
        Assert.Equal(WebhookOutcomes.Delivered, Schedule.Decide(1, Received, late, 200, null, null).Outcome);
        Assert.Equal(WebhookOutcomes.Failed, Schedule.Decide(1, Received, late, null, "connection failed", null).Outcome);
    }

    [Fact]
    public void Equality_ComparesTheDelays()
    {
        Assert.Equal(WebhookTestHost.Schedule(60, 1, 2), WebhookTestHost.Schedule(60, 1, 2));
        Assert.NotEqual(WebhookTestHost.Schedule(60, 1, 2), WebhookTestHost.Schedule(60, 1, 3));
        Assert.NotEqual(WebhookTestHost.Schedule(60, 1, 2), WebhookTestHost.Schedule(61, 1, 2));
    }
}
