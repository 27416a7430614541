using AgentSessions.Functions.Tests.Infrastructure;
using System.Text.Json;
using AgentSessions.Functions.Webhooks;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>The real dispatcher orchestration and delivery activity on the in-process Durable engine, with the production HTTP client setup.</summary>
public sealed class WebhookTestHost : IAsyncDisposable
{
    public const string Secret = "whsec_test_0123456789abcdef";

    private readonly DurableTaskTestHost host;
    private readonly ServiceProvider services;

    private WebhookTestHost(DurableTaskTestHost host, ServiceProvider services, WebhookOptions options)
    {
        this.host = host;
        this.services = services;
        Options = options;
    }

    public DurableTaskClient Client => host.Client;

    public WebhookOptions Options { get; }

    /// <summary>Fast retries (200 ms, 400 ms, 800 ms) and private networks allowed, so a loopback receiver can be used.</summary>
    public static WebhookOptions FastOptions(TimeSpan? deliveryTimeout = null, TimeSpan? firstRetry = null, bool allowPrivateNetworks = true) => new()
    {
        SigningSecret = Secret,
        AllowPrivateNetworks = allowPrivateNetworks,
        DeliveryTimeout = deliveryTimeout ?? TimeSpan.FromSeconds(10),
        Retry = WebhookRetrySettings.Default with { FirstRetryInterval = firstRetry ?? TimeSpan.FromMilliseconds(200) },
    };

    public static async Task<WebhookTestHost> StartAsync(WebhookOptions options)
    {
        var services = new ServiceCollection().AddWebhooks(options).BuildServiceProvider();
        var activity = new DeliverWebhookActivity(services.GetRequiredService<IHttpClientFactory>(), options, TimeProvider.System,
            NullLogger<DeliverWebhookActivity>.Instance);
        var host = await DurableTestHosts.StartAsync(registry =>
        {
            registry.AddOrchestratorFunc<WebhookDispatcherInput>(WebhookDispatcherOrchestration.Name,
                (context, input) => WebhookDispatcherOrchestration.RunAsync(context, input!));
            registry.AddActivityFunc<WebhookDelivery, WebhookDeliveryResult>(DeliverWebhookActivity.Name,
                (context, delivery) => activity.RunAsync(delivery, CancellationToken.None));
        });
        return new WebhookTestHost(host, services, options);
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

    public static WebhookEvent Event(string name, string sessionId, object data, DateTimeOffset? at = null) =>
        new(name, at ?? DateTimeOffset.UtcNow, sessionId, JsonSerializer.SerializeToElement(data));

    public async ValueTask DisposeAsync()
    {
        await host.DisposeAsync();
        await services.DisposeAsync();
    }
}
