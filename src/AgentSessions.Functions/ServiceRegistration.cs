using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Auth;
using AgentSessions.Functions.Health;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AgentSessions.Functions;

public static class ServiceRegistration
{
    /// <summary>
    /// Everything the app needs, read and validated here so a bad setting stops start-up with a
    /// message naming it instead of failing the first request.
    /// </summary>
    public static IServiceCollection AddAgentSessions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(TimeProvider.System);
        // Durable payloads (inputs, custom status, events, activity data) in the app's one JSON configuration.
        services.Configure<Microsoft.Azure.Functions.Worker.WorkerOptions>(Durable.DurableJson.Configure);
        services.AddSingleton(ApiKeyAuthenticator.Parse(configuration[ApiKeyAuthenticator.SettingName]));
        services.AddSingleton(SessionsOptions.FromConfiguration(configuration));
        services.AddSingleton(AgentCatalog.FromConfiguration(configuration));
        services.AddAgentHttpClient();
        Webhooks.WebhookServiceCollectionExtensions.AddWebhooks(services, configuration);
        services.AddSingleton<AgentResolver>();
        services.AddSingleton<SessionGatewayFactory>();
        services.AddSingleton(Events.EventStreamOptions.FromConfiguration(configuration));
        // The same account the Functions host uses, by connection string locally or by managed
        // identity on Azure (AzureWebJobsStorage__accountName / __credential / __clientId).
        var tables = StorageConnection.CreateTableServiceClient(configuration);
        services.AddTableMessageStore(tables);
        services.AddSingleton<ISessionClaims>(new TableSessionClaims(tables.GetTableClient(TableSessionClaims.DefaultTableName)));
        services.AddSessionHealth(configuration);
        return services;
    }
}
