using System.Collections.Immutable;
using System.Text.Json;
using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Functions.Webhooks;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>
/// Webhook test classes share one Azurite of their own (for the delivery log), so their outage tests, which wait on real
/// timers, run beside the other storage tests instead of after them.
/// </summary>
[CollectionDefinition(Name)]
public sealed class WebhookCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "webhooks";
}

/// <summary>The real dispatcher orchestration and its activities on the in-process Durable engine, with the production HTTP client setup.</summary>
public sealed class WebhookTestHost : IAsyncDisposable
{
    public const string Secret = "whsec_test_0123456789abcdef";

    /// <summary>200 ms, 400 ms, then every 800 ms, for a minute: the production shape, fast.</summary>
    public static readonly WebhookRetrySchedule FastSchedule = Schedule(60, 0.2, 0.4, 0.8);

    private readonly DurableTaskTestHost host;

    private WebhookTestHost(DurableTaskTestHost host, WebhookComponents components)
    {
        this.host = host;
        Components = components;
    }

    public DurableTaskClient Client => host.Client;

    public WebhookComponents Components { get; }

    public WebhookOptions Options => Components.Options;

    /// <summary>A fast schedule and private networks allowed, so a loopback receiver can be used.</summary>
    public static WebhookOptions FastOptions(
        TimeSpan? deliveryTimeout = null, bool allowPrivateNetworks = true, WebhookRetrySchedule? schedule = null, int? operationsPerGeneration = null,
        TimeSpan? deleteWait = null) => new()
    {
        SigningSecret = Secret,
        AllowPrivateNetworks = allowPrivateNetworks,
        DeliveryTimeout = deliveryTimeout ?? TimeSpan.FromSeconds(10),
        Schedule = schedule ?? FastSchedule,
        OperationsPerGeneration = operationsPerGeneration ?? WebhookDispatcherOrchestration.DefaultOperationsPerGeneration,
        DeleteWait = deleteWait ?? TimeSpan.FromSeconds(10),
    };

    /// <summary>A schedule of <paramref name="delaysSeconds"/> (the last repeats) within <paramref name="windowSeconds"/>.</summary>
    public static WebhookRetrySchedule Schedule(double windowSeconds, params double[] delaysSeconds) =>
        new([.. delaysSeconds.Select(TimeSpan.FromSeconds)], TimeSpan.FromSeconds(windowSeconds));

    public static async Task<WebhookTestHost> StartAsync(AzuriteFixture azurite, WebhookOptions options)
    {
        var components = WebhookComponents.Create(azurite, options);
        var host = await DurableTestHosts.StartAsync(components.Register);
        return new WebhookTestHost(host, components);
    }

    /// <summary>Starts a dispatcher as the session side does, for a new session of "alice". Returns (session id, dispatcher instance id).</summary>
    public async Task<(string SessionId, string InstanceId)> StartDispatcherAsync(Uri url)
    {
        var sessionId = Guid.NewGuid().ToString();
        var instanceId = await WebhookDispatch.StartAsync(Client, "alice:" + sessionId, url.ToString(), Options, CancellationToken.None);
        Assert.Equal("wh|alice:" + sessionId, instanceId);
        return (sessionId, instanceId);
    }

    public Task RaiseAsync(string instanceId, WebhookEvent webhookEvent) =>
        Client.RaiseEventAsync(instanceId, WebhookDispatch.EventName, webhookEvent);

    public async Task<OrchestrationMetadata> WaitForCompletionAsync(string instanceId, TimeSpan? within = null)
    {
        using var deadline = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(60));
        return await Client.WaitForInstanceCompletionAsync(instanceId, getInputsAndOutputs: true, deadline.Token);
    }

    /// <summary>The session's delivery log, newest first.</summary>
    public Task<IReadOnlyList<WebhookLogRecord>> LogAsync(string instanceId) =>
        Components.Log.ListAsync(WebhookDispatch.SessionKeyOf(instanceId), 1000);

    public static WebhookEvent Event(string name, string sessionId, object data, DateTimeOffset? at = null, string? key = null) =>
        new(name, at ?? DateTimeOffset.UtcNow, sessionId, JsonSerializer.SerializeToElement(data), key);

    public ValueTask DisposeAsync() => host.DisposeAsync();
}
