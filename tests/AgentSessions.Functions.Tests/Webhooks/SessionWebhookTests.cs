using System.Text.Json;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Functions.Webhooks;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>Webhooks as a session produces them: the real session orchestration feeding the real dispatcher.</summary>
public abstract class SessionWebhookTests(AzuriteFixture azurite)
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite) : SessionWebhookTests(azurite)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite) : SessionWebhookTests(azurite)
    {
    }

    private const string Owner = "alice";

    [Fact]
    public async Task SessionLifecycle_DeliversEveryEventInOrder_Signed()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await SessionTestHost.StartAsync(azurite, webhooks: WebhookTestHost.FastOptions());
        var gateway = host.Gateway;

        var (view, _) = await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[ask] [steps=2] plan a trip", null, receiver.Url), null, default);
        await host.WaitForStatusAsync(Owner, view.SessionId, "waiting_for_input");
        await gateway.SendAsync(Owner, view.SessionId, CommandEnvelope.Message, "by train", null, default);
        await host.WaitForStatusAsync(Owner, view.SessionId, "finished");
        await gateway.DeleteAsync(Owner, view.SessionId, default);

        var delivered = await Eventually.ValueAsync(() => Task.FromResult(receiver.Delivered), d => d.Any(r => Event(r) == "session.deleted"),
            null, "session.deleted to arrive");
        Assert.Equal(
            [
                "session.created",
                "task.started", "session.status_changed",
                "task.question", "session.status_changed",
                "session.status_changed",
                "task.done", "session.status_changed",
                "session.deleted",
            ],
            delivered.Select(Event));

        var statusChanges = delivered.Where(r => Event(r) == "session.status_changed")
            .Select(r => (Data(r).GetProperty("old_status").GetString(), Data(r).GetProperty("new_status").GetString()));
        Assert.Equal(
            [("ready", "running"), ("running", "waiting_for_input"), ("waiting_for_input", "running"), ("running", "finished")],
            statusChanges);

        var done = delivered.Single(r => Event(r) == "task.done");
        Assert.Equal("by train", Data(done).GetProperty("result").GetProperty("answer").GetString());
        Assert.All(delivered, r =>
        {
            using var body = JsonDocument.Parse(r.Body);
            Assert.Equal(view.SessionId, body.RootElement.GetProperty("session_id").GetString());
            Assert.True(WebhookSignature.Verify(WebhookTestHost.Secret, long.Parse(r.Header(DeliverWebhookActivity.TimestampHeader)!),
                r.Body, r.Header(DeliverWebhookActivity.SignatureHeader)!));
        });
    }

    [Fact]
    public async Task ReceiverThatNeverAnswers_DoesNotStallTheSession()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (_, aborted) => WebhookReceiver.NeverAnswer(aborted);
        var options = WebhookTestHost.FastOptions(deliveryTimeout: TimeSpan.FromSeconds(30));
        await using var host = await SessionTestHost.StartAsync(azurite, webhooks: options);

        var (view, _) = await host.Gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[steps=3] quick", null, receiver.Url), null, default);

        await host.WaitForStatusAsync(Owner, view.SessionId, "finished", TimeSpan.FromSeconds(20));
        var pause = await host.Gateway.SendAsync(Owner, view.SessionId, CommandEnvelope.Message, "[steps=1] again", null, default);
        Assert.False(pause.Pending);
        Assert.Empty(receiver.Delivered);
    }

    [Fact]
    public async Task PrivateWebhookUrl_IsRefusedAtCreate_ByDefault()
    {
        var options = WebhookTestHost.FastOptions(allowPrivateNetworks: false);
        await using var host = await SessionTestHost.StartAsync(azurite, webhooks: options);

        var error = await Assert.ThrowsAsync<AgentSessions.Functions.Http.ApiException>(() => host.Gateway.CreateAsync(
            Owner, new NewSession("agi-0", 100, null, null, new Uri("http://127.0.0.1:9/hook")), null, default));

        Assert.Equal(422, error.StatusCode);
        Assert.Empty(await host.Gateway.ListAsync(Owner, default));
    }

    private static string Event(ReceivedWebhook request)
    {
        using var body = JsonDocument.Parse(request.Body);
        return body.RootElement.GetProperty("event").GetString()!;
    }

    private static JsonElement Data(ReceivedWebhook request)
    {
        using var body = JsonDocument.Parse(request.Body);
        return body.RootElement.GetProperty("data").Clone();
    }
}
