using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Functions.Webhooks;
using Azure.Data.Tables;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>The delivery log on Azurite: idempotent writes, bounds, newest first, delete.</summary>
[Collection(WebhookCollection.Name)]
public sealed class TableWebhookDeliveryLogTests(AzuriteFixture azurite)
{
    private const string Session = "alice:3f2a";
    private static readonly DateTimeOffset T0 = new(2025, 10, 5, 18, 4, 34, 281, TimeSpan.Zero);

    private TableWebhookDeliveryLog NewLog(int eventsPerSession = 100) =>
        new(new TableClient(azurite.ConnectionString, "whlog" + Guid.NewGuid().ToString("N")[..20]), eventsPerSession);

    private static WebhookLogEntry Entry(long n, string? body = null) =>
        new(n, $"3f2a-{n}", "task.started", T0.AddSeconds(n), T0.AddSeconds(n), body ?? $"{{\"event_id\":\"3f2a-{n}\"}}");

    private static WebhookLogAttempt Attempt(int number, int? status, string? redeliveryId = null) =>
        new(number, T0.AddMinutes(number), status, status is >= 200 and < 300 ? null : "boom", 12, redeliveryId);

    [Fact]
    public async Task Attempts_AreKeptInOrder_ARerunReplacesItsAttempt_AndTheLatestStateWins()
    {
        var log = NewLog();
        await log.RecordAttemptAsync(Session, Entry(1), Attempt(1, 503), WebhookStates.Pending, T0.AddMinutes(5));
        await log.RecordAttemptAsync(Session, Entry(1), Attempt(1, 503), WebhookStates.Pending, T0.AddMinutes(5)); // the activity ran twice
        await log.RecordAttemptAsync(Session, Entry(1), Attempt(2, null), WebhookStates.Pending, T0.AddMinutes(9));

        var pending = (await log.GetAsync(Session, 1))!;
        Assert.Equal((WebhookStates.Pending, T0.AddMinutes(9), 2), (pending.State, pending.NextAttemptAt, pending.AttemptCount));
        Assert.Equal([1, 2], pending.Attempts.Select(a => a.Number));
        Assert.Equal([503, (int?)null], pending.Attempts.Select(a => a.StatusCode));

        await log.RecordAttemptAsync(Session, Entry(1), Attempt(3, 200), WebhookStates.Delivered, null);
        var delivered = (await log.GetAsync(Session, 1))!;
        Assert.Equal((WebhookStates.Delivered, (DateTimeOffset?)null, 3), (delivered.State, delivered.NextAttemptAt, delivered.AttemptCount));
        Assert.Equal(T0.AddSeconds(1), delivered.Timestamp);
        Assert.Equal("{\"event_id\":\"3f2a-1\"}", delivered.Body);
    }

    [Fact]
    public async Task Redelivery_IsNumberedAfterTheLast_OncePerId_AndOnlyASuccessChangesTheState()
    {
        var log = NewLog();
        await log.RecordAttemptAsync(Session, Entry(1), Attempt(1, 404), WebhookStates.Failed, null);
        await log.RecordAttemptAsync(Session, Entry(1), Attempt(0, 500, "r1"), null, null);
        await log.RecordAttemptAsync(Session, Entry(1), Attempt(0, 500, "r1"), null, null);
        Assert.Equal(WebhookStates.Failed, (await log.GetAsync(Session, 1))!.State);

        await log.RecordAttemptAsync(Session, Entry(1), Attempt(0, 200, "r2"), null, null);
        var record = (await log.GetAsync(Session, 1))!;
        Assert.Equal(WebhookStates.Delivered, record.State);
        Assert.Equal([(1, (string?)null), (2, "r1"), (3, "r2")], record.Attempts.Select(a => (a.Number, a.RedeliveryId)));
        Assert.Equal(3, record.AttemptCount);
    }

    [Fact]
    public async Task ListsNewestFirst_AndKeepsOnlyTheLatestEventsPerSession()
    {
        var log = NewLog(eventsPerSession: 3);
        await log.RecordEventsAsync("bob:other", [Entry(1)], WebhookStates.Pending);
        for (var n = 1; n <= 4; n++)
        {
            await log.RecordAttemptAsync(Session, Entry(n), Attempt(1, 200), WebhookStates.Delivered, null);
        }

        await log.RecordEventsAsync(Session, [Entry(5), Entry(6)], WebhookStates.Pending);

        Assert.Equal([6L, 5, 4], (await log.ListAsync(Session, 100)).Select(r => r.Sequence));
        Assert.Equal([6L, 5], (await log.ListAsync(Session, 2)).Select(r => r.Sequence));
        Assert.Null(await log.GetAsync(Session, 1));
        Assert.Single(await log.ListAsync("bob:other", 100));
    }

    [Fact]
    public async Task AttemptsPerEvent_AreBounded_WhileTheCountGoesOn()
    {
        var log = NewLog();
        for (var n = 1; n <= TableWebhookDeliveryLog.MaxAttemptsKept + 10; n++)
        {
            await log.RecordAttemptAsync(Session, Entry(1), Attempt(n, 503), WebhookStates.Pending, null);
        }

        var record = (await log.GetAsync(Session, 1))!;
        Assert.Equal(TableWebhookDeliveryLog.MaxAttemptsKept + 10, record.AttemptCount);
        Assert.Equal(Enumerable.Range(11, TableWebhookDeliveryLog.MaxAttemptsKept), record.Attempts.Select(a => a.Number));
    }

    [Fact]
    public async Task Abandoning_KeepsTheAttemptsAlreadyMade()
    {
        var log = NewLog();
        await log.RecordAttemptAsync(Session, Entry(1), Attempt(1, 503), WebhookStates.Pending, T0);
        await log.RecordEventsAsync(Session, [Entry(1), Entry(2)], WebhookStates.Abandoned);

        var first = (await log.GetAsync(Session, 1))!;
        Assert.Equal((WebhookStates.Abandoned, (DateTimeOffset?)null, 1), (first.State, first.NextAttemptAt, first.Attempts.Count));
        var second = (await log.GetAsync(Session, 2))!;
        Assert.Equal((WebhookStates.Abandoned, 0), (second.State, second.AttemptCount));
        Assert.Empty(second.Attempts);
    }

    [Fact]
    public async Task Bodies_ComeBackExactly_AcrossChunks_AndOneTooLargeIsNotKept()
    {
        var log = NewLog();
        // A surrogate pair straddling the chunk boundary must not be split.
        var body = new string('a', TableWebhookDeliveryLog.ChunkChars - 1) + "😀" + new string('b', 40_000) + "\"\\é";
        await log.RecordEventsAsync(Session, [Entry(1, body), Entry(2, new string('x', TableWebhookDeliveryLog.MaxStoredBodyChars + 1))],
            WebhookStates.Pending);

        Assert.Equal(body, (await log.GetAsync(Session, 1))!.Body);
        Assert.Null((await log.GetAsync(Session, 2))!.Body);
    }

    [Fact]
    public async Task DeleteSession_RemovesItsRowsOnly_AndAnUnknownSessionIsNoError()
    {
        var log = NewLog(eventsPerSession: 1000);
        await log.RecordEventsAsync(Session, [.. Enumerable.Range(1, 120).Select(n => Entry(n))], WebhookStates.Pending);
        await log.RecordEventsAsync("bob:other", [Entry(1)], WebhookStates.Pending);

        await log.DeleteSessionAsync(Session);
        await log.DeleteSessionAsync("carol:nothing");

        Assert.Empty(await log.ListAsync(Session, 1000));
        Assert.Single(await log.ListAsync("bob:other", 1000));
    }
}
