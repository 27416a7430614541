using System.Text;
using System.Text.Json;
using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Functions.Webhooks;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>One delivery attempt on its own, against a real loopback listener, with the delivery log on Azurite.</summary>
[Collection(WebhookCollection.Name)]
public sealed class DeliverWebhookActivityTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const string SessionKey = "alice:s1";
    private static readonly DateTimeOffset T0 = new(2025, 10, 5, 18, 4, 34, 281, TimeSpan.Zero);

    private WebhookReceiver receiver = null!;
    private WebhookComponents components = null!;

    public async Task InitializeAsync()
    {
        receiver = await WebhookReceiver.StartAsync();
        components = WebhookComponents.Create(azurite, WebhookTestHost.FastOptions());
    }

    public async Task DisposeAsync() => await receiver.DisposeAsync();

    private DeliverWebhookActivity Activity(WebhookOptions? options = null) =>
        options is null ? components.Deliver : WebhookComponents.Create(azurite, options).Deliver;

    private static WebhookEvent Event => new(WebhookEventNames.TaskDone, T0, "s1", JsonSerializer.SerializeToElement(new { result = "ok" }));

    private WebhookAttemptRequest Attempt(int number = 1, string? url = null, DateTimeOffset? receivedAt = null) => new(
        SessionKey, url ?? receiver.Url.ToString(), 7, "s1-7", WebhookEventNames.TaskDone, Event, null, number,
        receivedAt ?? DateTimeOffset.UtcNow, WebhookTestHost.Schedule(60, 2, 4));

    private async Task<WebhookLogRecord> LoggedAsync() => (await components.Log.GetAsync(SessionKey, 7))!;

    [Fact]
    public async Task Success_IsDelivered_SendsTheIdInHeaderAndSignedBody_AndIsLogged()
    {
        receiver.Respond = (_, _) => Task.FromResult(204);
        var result = await components.Deliver.RunAsync(Attempt(), default);

        Assert.Equal(new WebhookAttemptResult(WebhookOutcomes.Delivered, 204, null, null), result);
        var request = Assert.Single(receiver.Requests);
        Assert.Equal("task.done", request.Header("X-Webhook-Event"));
        Assert.Equal("s1-7", request.Header("X-Webhook-Id"));
        Assert.Equal(DeliverWebhookActivity.UserAgent, request.Header("User-Agent"));
        const string body = "{\"event_id\":\"s1-7\",\"event\":\"task.done\",\"timestamp\":\"2025-10-05T18:04:34.281Z\",\"session_id\":\"s1\",\"data\":{\"result\":\"ok\"}}";
        Assert.Equal(body, Encoding.UTF8.GetString(request.Body));
        Assert.True(WebhookSignature.Verify(WebhookTestHost.Secret, long.Parse(request.Header("X-Webhook-Timestamp")!), request.Body,
            request.Header("X-Webhook-Signature")));

        var logged = await LoggedAsync();
        Assert.Equal((WebhookStates.Delivered, "s1-7", "task.done", T0, body), (logged.State, logged.EventId, logged.Event, logged.Timestamp, logged.Body));
        var attempt = Assert.Single(logged.Attempts);
        Assert.Equal((1, 204, (string?)null), (attempt.Number, attempt.StatusCode, attempt.Error));
    }

    [Theory]
    [InlineData(500, WebhookOutcomes.Retry, WebhookStates.Pending)]
    [InlineData(302, WebhookOutcomes.Retry, WebhookStates.Pending)]
    [InlineData(429, WebhookOutcomes.Retry, WebhookStates.Pending)]
    [InlineData(404, WebhookOutcomes.Failed, WebhookStates.Failed)]
    [InlineData(410, WebhookOutcomes.Gone, WebhookStates.Failed)]
    public async Task NonSuccessAnswer_IsAnOutcome_NotAnException_AndIsLogged(int status, string outcome, string state)
    {
        receiver.Respond = (_, _) => Task.FromResult(status);
        var before = DateTimeOffset.UtcNow;
        var result = await components.Deliver.RunAsync(Attempt(), default);

        Assert.Equal(outcome, result.Outcome);
        Assert.Equal(status, result.StatusCode);
        Assert.StartsWith(status.ToString(System.Globalization.CultureInfo.InvariantCulture), result.Error);
        if (outcome == WebhookOutcomes.Retry)
        {
            Assert.InRange(result.NextAttemptAt!.Value, before.AddSeconds(2), DateTimeOffset.UtcNow.AddSeconds(2));
        }

        var logged = await LoggedAsync();
        Assert.Equal(state, logged.State);
        Assert.Equal(result.NextAttemptAt?.ToUnixTimeMilliseconds(), logged.NextAttemptAt?.ToUnixTimeMilliseconds());
        Assert.Equal(status, Assert.Single(logged.Attempts).StatusCode);
    }

    [Theory]
    [InlineData("7")]
    [InlineData("date")]
    public async Task RetryAfter_On503_SetsTheNextAttempt(string form)
    {
        var at = DateTimeOffset.UtcNow.AddSeconds(7);
        receiver.Respond = (request, _) =>
        {
            request.ResponseHeaders["Retry-After"] = form == "date" ? at.ToString("R") : form;
            return Task.FromResult(503);
        };
        var result = await components.Deliver.RunAsync(Attempt(), default);

        Assert.Equal(WebhookOutcomes.Retry, result.Outcome);
        Assert.InRange(result.NextAttemptAt!.Value, at.AddSeconds(-2), at.AddSeconds(2));
    }

    [Fact]
    public async Task NoAnswerWithinTheTimeout_IsRetried_WithTheReasonLogged()
    {
        receiver.Respond = (_, aborted) => WebhookReceiver.NeverAnswer(aborted);
        var result = await Activity(WebhookTestHost.FastOptions(deliveryTimeout: TimeSpan.FromMilliseconds(500))).RunAsync(Attempt(), default);
        Assert.Equal(WebhookOutcomes.Retry, result.Outcome);
        Assert.Null(result.StatusCode);
        Assert.Equal("no answer within 0.5 s", result.Error);
    }

    [Fact]
    public async Task NothingListening_IsRetried_AsAConnectionFailure()
    {
        var result = await components.Deliver.RunAsync(Attempt(url: $"http://127.0.0.1:{LoopbackPorts.Free()}/hook"), default);
        Assert.Equal(WebhookOutcomes.Retry, result.Outcome);
        Assert.StartsWith("connection failed", result.Error);
        Assert.StartsWith("connection failed", Assert.Single((await LoggedAsync()).Attempts).Error);
    }

    [Fact]
    public async Task FailureAfterTheWindow_IsGivenUp()
    {
        receiver.Respond = (_, _) => Task.FromResult(503);
        var result = await components.Deliver.RunAsync(Attempt(number: 9, receivedAt: DateTimeOffset.UtcNow.AddMinutes(-2)), default);
        Assert.Equal(WebhookOutcomes.Failed, result.Outcome);
        Assert.Contains("gave up after 9 attempts", result.Error);
        Assert.Equal(WebhookStates.Failed, (await LoggedAsync()).State);
    }

    [Fact]
    public async Task ForbiddenAddress_IsRefusedWithoutSending_AndNotRetried()
    {
        var result = await Activity(WebhookTestHost.FastOptions(allowPrivateNetworks: false)).RunAsync(Attempt(), default);
        Assert.Equal(WebhookOutcomes.Failed, result.Outcome);
        Assert.Contains("public addresses", result.Error);
        Assert.Empty(receiver.Requests);
    }

    [Fact]
    public async Task Redelivery_SendsTheStoredBodyAsIs_AndIsNumberedAfterTheLastAttempt_OncePerRedelivery()
    {
        receiver.Respond = (_, _) => Task.FromResult(500);
        await components.Deliver.RunAsync(Attempt(), default);
        receiver.Respond = (_, _) => Task.FromResult(200);
        var stored = (await LoggedAsync()).Body!;
        var redelivery = new WebhookAttemptRequest(SessionKey, receiver.Url.ToString(), 7, "s1-7", "task.done", null, stored, 0,
            DateTimeOffset.UtcNow, null, "r1");

        Assert.Equal(WebhookOutcomes.Delivered, (await components.Deliver.RunAsync(redelivery, default)).Outcome);
        Assert.Equal(WebhookOutcomes.Delivered, (await components.Deliver.RunAsync(redelivery, default)).Outcome); // the activity run twice

        Assert.Equal(3, receiver.Requests.Count);
        Assert.Single(receiver.Requests.Select(r => r.BodyText).Distinct());
        Assert.All(receiver.Requests, r => Assert.Equal("s1-7", r.EventId));
        var logged = await LoggedAsync();
        Assert.Equal(WebhookStates.Delivered, logged.State);
        Assert.Equal([(1, 500, (string?)null), (2, 200, "r1")], logged.Attempts.Select(a => (a.Number, a.StatusCode!.Value, a.RedeliveryId)));
    }
}
