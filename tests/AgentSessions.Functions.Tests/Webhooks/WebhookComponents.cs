using AgentSessions.Functions.Auth;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Functions.Webhooks;
using Azure.Data.Tables;
using Microsoft.DurableTask;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>
/// The webhook side of a Durable test host, built as the app builds it: the dispatcher and its activities, the production
/// delivery client, and the delivery log on the tests' Azurite in a table of its own. <see cref="Register"/> adds them to a
/// host's registry, so a host that runs sessions gets every webhook part from this one place.
/// </summary>
public sealed class WebhookComponents
{
    private readonly ServiceProvider services;

    private WebhookComponents(WebhookOptions options, TableWebhookDeliveryLog log, ServiceProvider services)
    {
        Options = options;
        Log = log;
        this.services = services;
        Deliver = new DeliverWebhookActivity(services.GetRequiredService<IHttpClientFactory>(), options, log, TimeProvider.System,
            NullLogger<DeliverWebhookActivity>.Instance);
        LogActivities = new WebhookLogActivities(log);
        Janitor = new WebhookJanitor(log, TimeProvider.System, NullLogger<WebhookJanitor>.Instance);
    }

    public WebhookOptions Options { get; }

    public TableWebhookDeliveryLog Log { get; }

    public DeliverWebhookActivity Deliver { get; }

    public WebhookLogActivities LogActivities { get; }

    public WebhookJanitor Janitor { get; }

    public static WebhookComponents Create(AzuriteFixture azurite, WebhookOptions options)
    {
        var services = new ServiceCollection().AddWebhooks(options).BuildServiceProvider();
        var table = new TableClient(azurite.ConnectionString, "webhooks" + Guid.NewGuid().ToString("N")[..20]);
        return new WebhookComponents(options, new TableWebhookDeliveryLog(table, options.LogEventsPerSession), services);
    }

    public void Register(DurableTaskRegistry registry) => AgentSessions.Testing.AppTasks.RegisterWebhooks(registry, Deliver, LogActivities);

    public WebhookFunctions Functions(ApiKeyAuthenticator auth, SessionGatewayFactory gateways) => new(auth, gateways, Log, Options);
}
