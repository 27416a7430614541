using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Auth;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Sessions;
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
        services.AddSingleton(ApiKeyAuthenticator.Parse(configuration[ApiKeyAuthenticator.SettingName]));
        services.AddSingleton(SessionsOptions.FromConfiguration(configuration));
        services.AddSingleton(AgentCatalog.FromConfiguration(configuration));
        services.AddAgentHttpClient();
        services.AddSingleton<AgentResolver>();
        services.AddSingleton<SessionGatewayFactory>();
        services.AddSingleton(Events.EventStreamOptions.FromConfiguration(configuration));
        var storage = configuration["AzureWebJobsStorage"];
        if (string.IsNullOrWhiteSpace(storage))
        {
            throw new InvalidOperationException("Setting AzureWebJobsStorage is empty; set it to a storage connection string (UseDevelopmentStorage=true for Azurite).");
        }

        services.AddTableMessageStore(storage);
        services.AddSingleton<ISessionClaims>(new TableSessionClaims(new Azure.Data.Tables.TableClient(storage, TableSessionClaims.DefaultTableName)));
        return services;
    }
}
