using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Http;
using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Functions.Webhooks;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>Deleting a session with a webhook: session.deleted is still attempted, then the dispatcher and its log go.</summary>
[Collection(WebhookCollection.Name)]
public sealed class WebhookDeleteTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private WebhookReceiver receiver = null!;

    public async Task InitializeAsync() => receiver = await WebhookReceiver.StartAsync();

    public async Task DisposeAsync() => await receiver.DisposeAsync();

    private static string DispatcherOf(string sessionId) => WebhookDispatch.InstanceId(SessionIds.InstanceId("alice", sessionId));

    [Fact]
    public async Task Delete_DeliversSessionDeletedLast_ThenPurgesTheDispatcherAndItsLog()
    {
        await using var host = await SessionTestHost.StartAsync(azurite, webhooks: WebhookTestHost.FastOptions());
        var id = await WebhookHttp.CreateSessionAsync(host, receiver.Url, SessionsApi.ShortGoal);
        await SessionsApi.Alice(host).WaitForStatusAsync(id, "finished");

        (await SessionsApi.Alice(host).DeleteAsync(id)).Expect(200);

        Assert.Equal(WebhookEventNames.SessionDeleted, receiver.Delivered[^1].EventName);
        Assert.Single(receiver.Delivered, r => r.EventName == WebhookEventNames.SessionDeleted);
        Assert.Null(await host.Client.GetInstanceAsync(DispatcherOf(id)));
        Assert.Empty(await host.Webhooks.Log.ListAsync(SessionIds.InstanceId("alice", id), 1000));
    }

    [Fact]
    public async Task Delete_ThatHadToTerminateTheSession_StillSendsSessionDeleted()
    {
        var options = new SessionsOptions { AckTimeout = TimeSpan.FromSeconds(1) };
        await using var host = await SessionTestHost.StartAsync(azurite, options, webhooks: WebhookTestHost.FastOptions());
        var id = await WebhookHttp.CreateSessionAsync(host, receiver.Url, SessionsApi.LongGoal);
        await Eventually.ValueAsync(() => Task.FromResult(receiver.Delivered.Count), n => n >= 1, null, "session.created");

        // Held, the session cannot apply the delete (nor send session.deleted itself): delete terminates it.
        await host.Client.SuspendInstanceAsync(SessionIds.InstanceId("alice", id), "test: hold the orchestration");
        (await SessionsApi.Alice(host).DeleteAsync(id)).Expect(200);

        Assert.Null(await host.Client.GetInstanceAsync(SessionIds.InstanceId("alice", id)));
        Assert.Equal(WebhookEventNames.SessionDeleted, receiver.Delivered[^1].EventName);
        Assert.Null(await host.Client.GetInstanceAsync(DispatcherOf(id)));
    }

    [Fact]
    public async Task Delete_DuringAnOutage_LeavesTheDispatcherToFinish_ThenTheJanitorPurgesIt()
    {
        var down = true;
        receiver.Respond = (_, _) => Task.FromResult(Volatile.Read(ref down) ? 503 : 200);
        var webhooks = WebhookTestHost.FastOptions(deleteWait: TimeSpan.FromMilliseconds(300));
        await using var host = await SessionTestHost.StartAsync(azurite, webhooks: webhooks);
        var id = await WebhookHttp.CreateSessionAsync(host, receiver.Url);
        await Eventually.ValueAsync(() => Task.FromResult(receiver.Requests.Count), n => n >= 2, null, "session.created retried");

        (await SessionsApi.Alice(host).DeleteAsync(id)).Expect(200);
        (await SessionsApi.Alice(host).GetAsync(id)).ExpectError(404);
        var dispatcher = DispatcherOf(id);
        Assert.False((await host.Client.GetInstanceAsync(dispatcher))!.IsCompleted);
        Assert.Equal(new WebhookSweep(0, 0), await host.Webhooks.Janitor.SweepAsync(host.Client, default)); // still delivering

        Volatile.Write(ref down, false);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await host.Client.WaitForInstanceCompletionAsync(dispatcher, deadline.Token)).RuntimeStatus);
        Assert.Equal([WebhookEventNames.SessionCreated, WebhookEventNames.SessionDeleted], receiver.Delivered.Select(r => r.EventName));

        Assert.Equal(new WebhookSweep(1, 0), await host.Webhooks.Janitor.SweepAsync(host.Client, default));
        Assert.Null(await host.Client.GetInstanceAsync(dispatcher));
        Assert.Empty(await host.Webhooks.Log.ListAsync(SessionIds.InstanceId("alice", id), 1000));
        Assert.Equal(new WebhookSweep(0, 0), await host.Webhooks.Janitor.SweepAsync(host.Client, default));
    }

    [Fact]
    public async Task Janitor_EndsOldDispatchersWithoutASession_LeavesLiveSessionsAndYoungOnesAlone()
    {
        await using var host = await SessionTestHost.StartAsync(azurite, webhooks: WebhookTestHost.FastOptions());
        var live = await WebhookHttp.CreateSessionAsync(host, receiver.Url);
        var orphan = Guid.NewGuid().ToString();
        await WebhookDispatch.StartAsync(host.Client, SessionIds.InstanceId("alice", orphan), receiver.Url.ToString(), host.Webhooks.Options, default);
        await Eventually.ValueAsync(() => host.Client.GetInstanceAsync(DispatcherOf(orphan)), m => m?.RuntimeStatus == OrchestrationRuntimeStatus.Running,
            null, "the orphan running");

        // Just started, the orphan could be a create in progress.
        Assert.Equal(new WebhookSweep(0, 0), await host.Webhooks.Janitor.SweepAsync(host.Client, default));

        var later = new WebhookJanitor(host.Webhooks.Log, new ShiftedTime(WebhookJanitor.OrphanAfter + TimeSpan.FromMinutes(1)), NullLogger<WebhookJanitor>.Instance);
        Assert.Equal(new WebhookSweep(0, 1), await later.SweepAsync(host.Client, default));
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await host.Client.WaitForInstanceCompletionAsync(DispatcherOf(orphan), deadline.Token);
        Assert.Equal(new WebhookSweep(1, 0), await later.SweepAsync(host.Client, default));

        Assert.Null(await host.Client.GetInstanceAsync(DispatcherOf(orphan)));
        Assert.Equal(OrchestrationRuntimeStatus.Running, (await host.Client.GetInstanceAsync(DispatcherOf(live)))!.RuntimeStatus);
        Assert.DoesNotContain(receiver.Requests, r => r.EventId == $"{live}-2");
        Assert.Equal(WebhookEventNames.SessionDeleted, receiver.Requests.Single(r => r.EventId == $"{orphan}-1").EventName);
    }

    private sealed class ShiftedTime(TimeSpan shift) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + shift;
    }
}
