using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Http;
using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Functions.Webhooks;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary><c>GET /v1/sessions/{id}/webhooks</c> and <c>POST …/webhooks/{event_id}/redeliver</c> over a real session and dispatcher.</summary>
[Collection(WebhookCollection.Name)]
public sealed class WebhookLogHttpTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private WebhookReceiver receiver = null!;
    private SessionTestHost host = null!;
    private WebhookHttp alice = null!;

    public async Task InitializeAsync()
    {
        receiver = await WebhookReceiver.StartAsync();
        host = await SessionTestHost.StartAsync(azurite, webhooks: WebhookTestHost.FastOptions());
        alice = WebhookHttp.Alice(host);
    }

    public async Task DisposeAsync()
    {
        await host.DisposeAsync();
        await receiver.DisposeAsync();
    }

    [Fact]
    public async Task Log_ShowsEachAttempt_AndRedeliverSendsTheSameEventAgain()
    {
        receiver.Respond = (request, _) => Task.FromResult(request.Number <= 2 ? 500 : 200);
        var id = await WebhookHttp.CreateSessionAsync(host, receiver.Url);

        var log = await alice.WaitForLogAsync(id, l => WebhookHttp.Events(l).Any(e => e.GetProperty("state").GetString() == "delivered"),
            "session.created delivered");
        Assert.Equal(id, log.GetProperty("session_id").GetString());
        Assert.Equal(receiver.Url.ToString(), log.GetProperty("webhook_url").GetString());
        Assert.False(log.GetProperty("deliveries_stopped").GetBoolean());
        var created = Assert.Single(WebhookHttp.Events(log));
        Assert.Equal($"{id}-1", created.GetProperty("event_id").GetString());
        Assert.Equal("session.created", created.GetProperty("event").GetString());
        Assert.Matches(SessionsApi.WireTime(), created.GetProperty("timestamp").GetString());
        Assert.Equal(3, created.GetProperty("attempt_count").GetInt32());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, created.GetProperty("next_attempt_at").ValueKind);
        var attempts = created.GetProperty("attempts").EnumerateArray().ToList();
        Assert.Equal([1, 2, 3], attempts.Select(a => a.GetProperty("attempt").GetInt32()));
        Assert.Equal([500, 500, 200], attempts.Select(a => a.GetProperty("status_code").GetInt32()));
        Assert.Equal("500 Internal Server Error", attempts[0].GetProperty("error").GetString());
        Assert.All(attempts, a =>
        {
            Assert.Matches(SessionsApi.WireTime(), a.GetProperty("at").GetString());
            Assert.True(a.GetProperty("duration_ms").GetInt64() >= 0);
            Assert.False(a.GetProperty("redelivery").GetBoolean());
        });

        var answer = (await alice.RedeliverAsync(id, $"{id}-1")).Expect(202);
        Assert.Equal($$"""{"success":true,"message":"Redelivery requested","event_id":"{{id}}-1"}""", answer.Raw);

        var again = await alice.WaitForLogAsync(id, l => WebhookHttp.Events(l).Single().GetProperty("attempt_count").GetInt32() == 4, "the redelivery");
        var redelivered = WebhookHttp.Events(again).Single().GetProperty("attempts").EnumerateArray().Last();
        Assert.Equal((4, 200, true), (redelivered.GetProperty("attempt").GetInt32(), redelivered.GetProperty("status_code").GetInt32(),
            redelivered.GetProperty("redelivery").GetBoolean()));
        var sent = receiver.Delivered;
        Assert.Equal(2, sent.Count);
        Assert.Equal(sent[0].BodyText, sent[1].BodyText);
        Assert.Equal([$"{id}-1", $"{id}-1"], sent.Select(r => r.EventId));
    }

    [Fact]
    public async Task Log_NewestFirst_WithLimit()
    {
        var id = await WebhookHttp.CreateSessionAsync(host, receiver.Url, SessionsApi.ShortGoal);
        await SessionsApi.Alice(host).WaitForStatusAsync(id, "finished");
        var log = await alice.WaitForLogAsync(id, l => WebhookHttp.Events(l).Count() >= 5 && WebhookHttp.Events(l).All(e => e.GetProperty("state").GetString() == "delivered"),
            "the task's events delivered");

        var numbers = WebhookHttp.Events(log).Select(e => long.Parse(e.GetProperty("event_id").GetString()![(id.Length + 1)..])).ToList();
        Assert.Equal(numbers.OrderDescending(), numbers);
        Assert.Equal(Enumerable.Range(1, numbers.Count).Select(n => (long)n).OrderDescending(), numbers);
        Assert.Equal("session.created", WebhookHttp.Events(log).Last().GetProperty("event").GetString());

        var two = (await alice.LogAsync(id, limit: "2")).Expect(200).Json;
        Assert.Equal(numbers.Take(2), WebhookHttp.Events(two).Select(e => long.Parse(e.GetProperty("event_id").GetString()![(id.Length + 1)..])));
        (await alice.LogAsync(id, limit: "0")).ExpectError(422);
        (await alice.LogAsync(id, limit: "many")).ExpectError(422);
    }

    [Fact]
    public async Task SessionWithoutWebhook_HasAnEmptyLog()
    {
        var id = await SessionsApi.Alice(host).CreateIdAsync();
        Assert.Equal($$"""{"session_id":"{{id}}","webhook_url":null,"deliveries_stopped":false,"queued":0,"events":[]}""",
            (await alice.LogAsync(id)).Expect(200).Raw);
        (await alice.RedeliverAsync(id, $"{id}-1")).ExpectError(404);
    }

    [Fact]
    public async Task LogAndRedeliver_AreOwnerScoped_AndNeedAKey()
    {
        var id = await WebhookHttp.CreateSessionAsync(host, receiver.Url);
        await alice.WaitForLogAsync(id, l => WebhookHttp.Events(l).Any(), "session.created in the log");

        var bob = WebhookHttp.Bob(host);
        Assert.Equal("not_found", (await bob.LogAsync(id)).ExpectError(404).String("error"));
        (await bob.RedeliverAsync(id, $"{id}-1")).ExpectError(404);
        (await WebhookHttp.Anonymous(host).LogAsync(id)).ExpectError(401);
        (await WebhookHttp.Anonymous(host).RedeliverAsync(id, $"{id}-1")).ExpectError(401);
        (await alice.LogAsync(Guid.NewGuid().ToString())).ExpectError(404);
        (await alice.LogAsync("not-a-uuid")).ExpectError(404);
        Assert.Single(receiver.Requests);
    }

    [Theory]
    [InlineData("{0}-99")]
    [InlineData("{0}-0")]
    [InlineData("{0}-x")]
    [InlineData("{0}")]
    [InlineData("00000000-0000-0000-0000-000000000000-1")]
    [InlineData("1")]
    public async Task Redeliver_AnEventNotInTheLog_Is404(string eventId)
    {
        var id = await WebhookHttp.CreateSessionAsync(host, receiver.Url);
        await alice.WaitForLogAsync(id, l => WebhookHttp.Events(l).Any(), "session.created in the log");
        var answer = (await alice.RedeliverAsync(id, string.Format(System.Globalization.CultureInfo.InvariantCulture, eventId, id))).ExpectError(404);
        Assert.Contains("Webhook event not found", answer.String("message"));
    }

    [Fact]
    public async Task Redeliver_AfterTheDispatcherEnded_Is409()
    {
        var id = await WebhookHttp.CreateSessionAsync(host, receiver.Url);
        await alice.WaitForLogAsync(id, l => WebhookHttp.Events(l).Any(e => e.GetProperty("state").GetString() == "delivered"), "delivered");
        // The dispatcher ends only with its session; here it is ended by hand, the session left standing.
        var dispatcher = WebhookDispatch.InstanceId(SessionIds.InstanceId("alice", id));
        await host.Client.TerminateInstanceAsync(dispatcher, "test");
        await Eventually.ValueAsync(() => host.Client.GetInstanceAsync(dispatcher), m => m!.IsCompleted, null, "terminated");

        Assert.Equal("webhooks_ended", (await alice.RedeliverAsync(id, $"{id}-1")).ExpectError(409).String("error"));
    }
}
