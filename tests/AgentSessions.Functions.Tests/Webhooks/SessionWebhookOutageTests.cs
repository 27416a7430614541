using System.Text.Json;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Http;
using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Functions.Webhooks;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>A real session whose receiver is away: nothing is lost, and the session never waits for it.</summary>
[Collection(WebhookCollection.Name)]
public sealed class SessionWebhookOutageTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private WebhookReceiver receiver = null!;

    public async Task InitializeAsync() => receiver = await WebhookReceiver.StartAsync();

    public async Task DisposeAsync() => await receiver.DisposeAsync();

    [Fact]
    public async Task ReceiverAnswering503For20Seconds_GetsEveryEventInOrder_AfterwardsExactlyOnce()
    {
        // A deploy or restart on the receiver's side. The old policy (3 retries, 2 s, 4 s, 8 s apart) spent them all
        // inside such an outage and dropped the events. Here: attempts 1 s, then every 2 s apart, for a minute.
        var outage = TimeSpan.FromSeconds(20);
        DateTimeOffset? firstRequest = null;
        receiver.Respond = (request, _) =>
        {
            firstRequest ??= request.At;
            return Task.FromResult(request.At - firstRequest < outage ? 503 : 200);
        };
        var webhooks = WebhookTestHost.FastOptions(schedule: WebhookTestHost.Schedule(60, 1, 2));
        await using var host = await SessionTestHost.StartAsync(azurite, webhooks: webhooks);
        var sessions = SessionsApi.Alice(host);
        var http = WebhookHttp.Alice(host);

        var id = await WebhookHttp.CreateSessionAsync(host, receiver.Url, SessionsApi.ShortGoal);
        await sessions.WaitForStatusAsync(id, "finished");
        (await sessions.SendTextAsync(id, "[steps=1] once more")).Expect(200);
        await sessions.WaitForStatusAsync(id, "finished");

        // The session did all that inside the outage; the log shows what waits for the receiver.
        var during = await http.WaitForLogAsync(id, l => WebhookHttp.Events(l).Count() >= 9, "the session's events in the log");
        Assert.Empty(receiver.Delivered);
        Assert.True(during.GetProperty("queued").GetInt32() >= 9);
        Assert.All(WebhookHttp.Events(during), e => Assert.Equal("pending", e.GetProperty("state").GetString()));
        Assert.NotEqual(JsonValueKind.Null, WebhookHttp.Events(during).Last().GetProperty("next_attempt_at").ValueKind);

        var delivered = await Eventually.ValueAsync(() => Task.FromResult(receiver.Delivered), d => d.Count >= 9, TimeSpan.FromSeconds(60),
            "every event after the outage");
        string[] firstTask = ["session.created", "task.started", "session.status_changed", "task.done", "session.status_changed"];
        Assert.Equal([.. firstTask, .. firstTask[1..]], delivered.Select(d => d.EventName));
        Assert.Equal(Enumerable.Range(1, 9).Select(n => $"{id}-{n}"), delivered.Select(d => d.EventId));
        Assert.All(delivered, d => Assert.True(WebhookSignature.Verify(WebhookTestHost.Secret, long.Parse(d.Header(DeliverWebhookActivity.TimestampHeader)!),
            d.Body, d.Header(DeliverWebhookActivity.SignatureHeader))));
        Assert.True(delivered[0].At - firstRequest >= outage);

        var created = WebhookHttp.Events(await http.WaitForLogAsync(id,
            l => WebhookHttp.Events(l).All(e => e.GetProperty("state").GetString() == "delivered"), "all delivered in the log")).Last();
        var statuses = created.GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("status_code").GetInt32()).ToList();
        Assert.True(statuses.Count > 4, $"more attempts than the old 1 + 3: {string.Join(",", statuses)}");
        Assert.Equal(200, statuses[^1]);
        Assert.All(statuses[..^1], s => Assert.Equal(503, s));
    }

    [Fact]
    public async Task SessionEvents_CarryAReplaySafeKey_ThatTheDispatcherRemembersAcrossGenerations()
    {
        // Durable delivers events at least once; the key is what lets a second copy be dropped instead of sent as new.
        await using var host = await SessionTestHost.StartAsync(azurite, webhooks: WebhookTestHost.FastOptions(operationsPerGeneration: 8));
        var id = await WebhookHttp.CreateSessionAsync(host, receiver.Url, SessionsApi.ShortGoal);
        await Eventually.ValueAsync(() => Task.FromResult(receiver.Delivered.Count), n => n == 5, null, "the task's five events");

        var dispatcher = WebhookDispatch.InstanceId(SessionIds.InstanceId("alice", id));
        var input = (await host.Client.GetInstanceAsync(dispatcher, getInputsAndOutputs: true))!.ReadInputAs<WebhookDispatcherInput>()!;
        Assert.True(input.Generation >= 1);
        Assert.NotNull(input.RecentKeys);
        Assert.NotEmpty(input.RecentKeys);
        Assert.All(input.RecentKeys, key => Assert.Matches("^[0-9a-f]{32}$", key));
        Assert.Equal(input.RecentKeys.Count, input.RecentKeys.Distinct().Count());
    }

    public static TheoryData<string> Receivers => new() { "hangs", "fails" };

    [Theory]
    [MemberData(nameof(Receivers))]
    public async Task ReceiverThatHangsOrFails_CommandsAreStillAcknowledgedInTheirBound(string behaviour)
    {
        // Each delivery attempt may take 10 s; the session acknowledges within 3 s or answers 202 pending.
        receiver.Respond = (_, aborted) => behaviour == "hangs" ? WebhookReceiver.NeverAnswer(aborted) : Task.FromResult(503);
        var options = new SessionsOptions { AckTimeout = TimeSpan.FromSeconds(3) };
        await using var host = await SessionTestHost.StartAsync(azurite, options, webhooks: WebhookTestHost.FastOptions());
        var sessions = SessionsApi.Alice(host);
        var id = await WebhookHttp.CreateSessionAsync(host, receiver.Url, SessionsApi.LongGoal);
        await Eventually.ValueAsync(() => Task.FromResult(receiver.Requests.Count), n => n >= 1, null, "the receiver busy with session.created");

        Assert.Equal("paused", (await sessions.PauseAsync(id)).Expect(200).String("status"));
        Assert.Equal("running", (await sessions.ResumeAsync(id)).Expect(200).String("status"));
        (await sessions.SendTextAsync(id, "and another thing")).Expect(200);
        Assert.Equal("finished", (await sessions.CancelAsync(id)).Expect(200).String("status"));
        Assert.Empty(receiver.Delivered);
    }
}
